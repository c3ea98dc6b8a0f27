/* store_instance_test.c - instance rules of storage/: ids, addresses (the
 * lowest free offset, reuse, a full /24), MAC and TAP names, machine size
 * from the pool, tenant quotas, usage, state records, delete rules, listing
 * by tenant/pool/selector, snapshot walks and the watch hook's events. */
#include "check.h"
#include "store_testlib.c"

#define ST(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define ALL_STATES 0xffffu

static int is_hex16(const char *s) {
    if (strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void test_create(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "acme", 42, "10.250.7.0/24", &err), MVM_OK);
    Mvm__V1__Pool p;
    pool_init(&p, "acme", "web");
    p.vcpus = 3;
    p.mem_mib = 1024;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_OK);

    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    Mvm__V1__CreateInstanceRequest__LabelsEntry l = MVM__V1__CREATE_INSTANCE_REQUEST__LABELS_ENTRY__INIT;
    Mvm__V1__CreateInstanceRequest__LabelsEntry *lp = &l;
    l.key = "role";
    l.value = "front";
    r.tenant = "acme";
    r.pool = "web";
    r.labels = &lp;
    r.n_labels = 1;
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_create(st, &test_who, &r, NULL, &i, &err), MVM_OK);
    if (!i)
        return;
    CHECK(strncmp(i->id, "i-", 2) == 0 && is_hex16(i->id + 2));
    CHECK_EQ_STR(i->tenant, "acme");
    CHECK_EQ_STR(i->pool, "web");
    CHECK_EQ_STR(i->ip, "10.250.7.2");
    CHECK_EQ_STR(i->mac, "06:00:0a:fa:07:02");
    CHECK_EQ_STR(i->tap, "tap0"); /* in its own netns, mvm-<id> */
    CHECK_EQ_INT(i->vcpus, 3);
    CHECK_EQ_INT(i->mem_mib, 1024);
    CHECK_EQ_INT(i->state, ST(CREATED));
    CHECK_EQ_INT(i->pid, 0);
    CHECK(i->create_time && i->state_time && i->update_time);
    CHECK(i->n_labels == 1 && strcmp(i->labels[0]->key, "role") == 0);
    CHECK(i->resource_version > 0);

    Mvm__V1__Instance *g = NULL;
    CHECK_EQ_INT(store_instance_get(st, "acme", i->id, NULL, &g, &err), MVM_OK);
    CHECK(g && strcmp(g->ip, i->ip) == 0 && g->resource_version == i->resource_version);
    if (g)
        mvm__v1__instance__free_unpacked(g, NULL);
    CHECK_EQ_INT(store_instance_get(st, "other", i->id, NULL, &g, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(store_instance_get(st, "acme", "i-0000000000000000", NULL, &g, &err),
                 MVM_NOT_FOUND);
    CHECK_EQ_INT(store_instance_get(st, "acme", "i-XYZ", NULL, &g, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_instance_get(st, "acme", "", NULL, &g, &err), MVM_INVALID_ARGUMENT);

    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage->instances == 1 && t->usage->vcpus == 3 && t->usage->mem_mib == 1024);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    mvm__v1__instance__free_unpacked(i, NULL);

    /* refusals */
    r.pool = "ghost";
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_instance_create(st, &test_who, &r, NULL, NULL, err_));
    r.tenant = "ghost";
    r.pool = "web";
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_instance_create(st, &test_who, &r, NULL, NULL, err_));
    r.tenant = "Acme";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_instance_create(st, &test_who, &r, NULL, NULL, err_));
    r.tenant = "acme";
    l.key = "bad key";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_instance_create(st, &test_who, &r, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_instance_create(st, &test_who, NULL, NULL, NULL, err_));
    /* at most STORE_LABELS_MAX labels, checked before anything is looked up */
    test_labels many = test_labels_make(&mvm__v1__create_instance_request__labels_entry__descriptor,
                                        STORE_LABELS_MAX + 1, "v");
    r.labels = (Mvm__V1__CreateInstanceRequest__LabelsEntry **)many.p;
    r.n_labels = STORE_LABELS_MAX + 1;
    r.pool = "ghost"; /* a label refusal, not NOT_FOUND */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_instance_create(st, &test_who, &r, NULL, NULL, err_));
    CHECK_EQ_INT(store_instance_create(st, &test_who, &r, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "at most 64") != NULL);
    test_labels_free(many);
}

static void test_addresses(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "net", 7, "10.241.3.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "net", "p", &err), MVM_OK);
    char ids[256][19];
    int n = 0;
    for (; n < 253; n++)
        if (mk_inst(st, "net", "p", ids[n], &err) != MVM_OK)
            break;
    CHECK_EQ_INT(n, 253);
    /* full: .2 through .254 are taken */
    CHECK_REFUSED(st, MVM_RESOURCE_EXHAUSTED, mk_inst(st, "net", "p", NULL, err_));
    CHECK_EQ_INT(mk_inst(st, "net", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "10.241.3.0/24") != NULL);
    /* ids are unique */
    int dup = 0;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            dup += strcmp(ids[a], ids[b]) == 0;
    CHECK_EQ_INT(dup, 0);
    /* the last one got .254 (and tap0, as every instance) */
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_get(st, "net", ids[252], NULL, &i, &err), MVM_OK);
    CHECK(i && strcmp(i->ip, "10.241.3.254") == 0 && strcmp(i->tap, "tap0") == 0 &&
          strcmp(i->mac, "06:00:0a:f1:03:fe") == 0);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    /* free .5 and .3: the next two get .3 then .5 */
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "net", ids[3], ALL_STATES, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "net", ids[1], ALL_STATES, &err), MVM_OK);
    const char *want[] = {"10.241.3.3", "10.241.3.5"};
    for (int k = 0; k < 2; k++) {
        Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
        r.tenant = "net";
        r.pool = "p";
        CHECK_EQ_INT(store_instance_create(st, &test_who, &r, NULL, &i, &err), MVM_OK);
        CHECK(i && strcmp(i->ip, want[k]) == 0);
        if (i)
            mvm__v1__instance__free_unpacked(i, NULL);
    }
    CHECK_EQ_INT(mk_inst(st, "net", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED);
    /* another tenant's subnet is independent */
    CHECK_EQ_INT(mk_tenant(st, "net2", 8, "10.241.4.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "net2", "p", &err), MVM_OK);
    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    r.tenant = "net2";
    r.pool = "p";
    CHECK_EQ_INT(store_instance_create(st, &test_who, &r, NULL, &i, &err), MVM_OK);
    CHECK(i && strcmp(i->ip, "10.241.4.2") == 0);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
}

static void test_quotas(store *st) {
    mvm_error err;
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_instances = 3;
    q.max_vcpus = 5;   /* pools below take 2 vcpus each */
    q.max_mem_mib = 0; /* unlimited */
    CHECK_EQ_INT(mk_tenant_q(st, "quo", 9, "10.241.9.0/24", &q, &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "quo", "p", &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_OK);
    CHECK_REFUSED(st, MVM_RESOURCE_EXHAUSTED, mk_inst(st, "quo", "p", NULL, err_));
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "max_vcpus is 5") && strstr(err.msg, "4 are in use"));

    /* raise vcpus: now max_instances (3) bites after one more */
    Mvm__V1__Tenant in = MVM__V1__TENANT__INIT;
    q.max_vcpus = 0;
    q.max_mem_mib = 1536; /* 3 x 512 */
    in.name = "quo";
    in.quota = &q;
    char *paths[] = {"quota"};
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    m.paths = paths;
    m.n_paths = 1;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, NULL, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_OK);
    CHECK_REFUSED(st, MVM_RESOURCE_EXHAUSTED, mk_inst(st, "quo", "p", NULL, err_));
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "max_instances is 3") && strstr(err.msg, "3 are in use"));
    /* memory */
    q.max_instances = 0;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, NULL, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "max_mem_mib is 1536") && strstr(err.msg, "1536 are in use"));
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "quo", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage->instances == 3 && t->usage->vcpus == 6 && t->usage->mem_mib == 1536);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
}

static void test_states_and_delete(store *st) {
    mvm_error err;
    char id[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "web", id, &err), MVM_OK);
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", id, ST(CREATED), ST(RUNNING), 1234,
                                          NULL, NULL, &i, &err),
                 MVM_OK);
    if (i) {
        CHECK_EQ_INT(i->state, ST(RUNNING));
        CHECK_EQ_INT(i->pid, 1234);
        CHECK_EQ_STR(i->ip, "10.250.7.3");
        mvm__v1__instance__free_unpacked(i, NULL);
    }
    /* expected state mismatch */
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_instance_set_state(st, &test_who, "acme", id, ST(CREATED), ST(STOPPED), 0,
                                           NULL, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_instance_set_state(st, &test_who, "acme", "i-00000000000000ff", 0,
                                           ST(STOPPED), 0, NULL, NULL, NULL, err_));
    /* a running instance cannot be deleted */
    uint32_t deletable = 1u << ST(CREATED) | 1u << ST(STOPPED) | 1u << ST(FAILED);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_instance_delete(st, &test_who, "acme", id, deletable, err_));
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", id, deletable, &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "RUNNING") != NULL);
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", id, 0, ST(FAILED), 0, "boom",
                                          NULL, &i, &err),
                 MVM_OK);
    CHECK(i && strcmp(i->last_error, "boom") == 0);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_instance_delete(st, &test_who, "acme", "i-00000000000000ff", deletable, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_instance_delete(st, &test_who, "acme", "bogus", deletable, err_));
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", id, deletable, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_get(st, "acme", id, NULL, &i, &err), MVM_NOT_FOUND);
    /* DESTROYED instances leave the usage (once), keeping their address until deleted */
    CHECK_EQ_INT(mk_inst(st, "acme", "web", id, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", id, 0, ST(DESTROYED), 0, NULL,
                                          NULL, NULL, &err),
                 MVM_OK);
    Mvm__V1__Tenant *t0 = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &t0, &err), MVM_OK);
    CHECK(t0 && t0->usage->instances == 1 && t0->usage->vcpus == 3);
    if (t0)
        mvm__v1__tenant__free_unpacked(t0, NULL);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", id, ALL_STATES, &err), MVM_OK);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage->instances == 1 && t->usage->vcpus == 3);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
}

static size_t list_count(store *st, const char *tenant, const char *pool, const char *sel,
                         mvm_code *code) {
    store_list_opts o = {.tenant = tenant, .pool = pool, .label_selector = sel,
                         .page_size = 1000};
    Mvm__V1__ListInstancesResponse *r = NULL;
    mvm_error err;
    *code = store_instance_list(st, &o, NULL, &r, &err);
    size_t n = r ? r->n_instances : 0;
    if (r)
        mvm__v1__list_instances_response__free_unpacked(r, NULL);
    return n;
}

static bool count_cb(void *arg, const Mvm__V1__Instance *i) {
    (void)i;
    (*(int *)arg)++;
    return true;
}

static void test_list(store *st) {
    mvm_error err;
    mvm_code c;
    CHECK_EQ_INT(mk_pool(st, "acme", "batch", &err), MVM_OK);
    for (int k = 0; k < 4; k++)
        CHECK_EQ_INT(mk_inst(st, "acme", "batch", NULL, &err), MVM_OK);
    CHECK_EQ_INT(list_count(st, "acme", NULL, NULL, &c), 5);
    CHECK_EQ_INT(list_count(st, "acme", "batch", NULL, &c), 4);
    CHECK_EQ_INT(list_count(st, "acme", "web", NULL, &c), 1);
    CHECK_EQ_INT(list_count(st, "acme", "web", "role=front", &c), 1);
    CHECK_EQ_INT(list_count(st, "acme", NULL, "role", &c), 1);
    CHECK_EQ_INT(list_count(st, "acme", NULL, "!role", &c), 4);
    CHECK_EQ_INT(list_count(st, "net", NULL, NULL, &c), 253);
    CHECK_EQ_INT(list_count(st, NULL, NULL, NULL, &c), 5 + 253 + 1 + 3);
    CHECK_EQ_INT(list_count(st, "acme", NULL, "role=", &c), 0);
    CHECK_EQ_INT(list_count(st, "acme", NULL, "=", &c), 0);
    CHECK_EQ_INT(c, MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(list_count(st, "ACME", NULL, NULL, &c), 0);
    CHECK_EQ_INT(c, MVM_INVALID_ARGUMENT);
    /* pages of 100 over 253 instances: 100, 100, 53, in id order, none twice */
    store_list_opts o = {.tenant = "net", .page_size = 100};
    char tok[600] = "", last[19] = "";
    size_t sizes[8] = {0};
    int pages = 0, order_ok = 1;
    do {
        o.page_token = tok;
        Mvm__V1__ListInstancesResponse *r = NULL;
        CHECK_EQ_INT(store_instance_list(st, &o, NULL, &r, &err), MVM_OK);
        if (!r)
            break;
        sizes[pages++] = r->n_instances;
        for (size_t k = 0; k < r->n_instances; k++) {
            order_ok &= strcmp(last, r->instances[k]->id) < 0;
            snprintf(last, sizeof last, "%s", r->instances[k]->id);
        }
        snprintf(tok, sizeof tok, "%s", r->next_page_token ? r->next_page_token : "");
        mvm__v1__list_instances_response__free_unpacked(r, NULL);
    } while (tok[0] && pages < 8);
    CHECK_EQ_INT(pages, 3);
    CHECK(sizes[0] == 100 && sizes[1] == 100 && sizes[2] == 53);
    CHECK(order_ok);

    int n = 0;
    uint64_t rev = 0;
    CHECK_EQ_INT(store_instance_foreach(st, "acme", "batch", count_cb, &n, &rev, &err), MVM_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(rev, test_rev(st));

    store_counts cnt;
    CHECK_EQ_INT(store_count(st, &cnt, &err), MVM_OK);
    CHECK_EQ_INT(cnt.instances, 262);
    CHECK_EQ_INT(cnt.by_state[ST(CREATED)], 262);
    CHECK(cnt.tenants >= 4 && cnt.pools >= 5);
}

typedef struct {
    int n;
    Mvm__V1__InstanceEvent__Type types[8];
    uint64_t revs[8];
    char ids[8][19];
} ev_log;

static void hook(void *arg, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *inst,
                 uint64_t rev) {
    ev_log *l = arg;
    if (l->n < 8) {
        l->types[l->n] = type;
        l->revs[l->n] = rev;
        snprintf(l->ids[l->n], 19, "%s", inst->id);
        l->n++;
    }
}

static void test_hook(store *st) {
    mvm_error err;
    ev_log l = {0};
    store_set_instance_hook(st, hook, &l);
    char id[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "web", id, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "quo", "p", NULL, &err), MVM_RESOURCE_EXHAUSTED); /* no event */
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", id, 0, ST(STOPPED), 0, NULL,
                                          NULL, NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", id, ALL_STATES, &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "nothing", &err), MVM_OK); /* pools make no events */
    store_set_instance_hook(st, NULL, NULL);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(l.types[0], MVM__V1__INSTANCE_EVENT__TYPE__ADDED);
    CHECK_EQ_INT(l.types[1], MVM__V1__INSTANCE_EVENT__TYPE__MODIFIED);
    CHECK_EQ_INT(l.types[2], MVM__V1__INSTANCE_EVENT__TYPE__DELETED);
    CHECK(l.revs[0] < l.revs[1] && l.revs[1] < l.revs[2]);
    CHECK_EQ_STR(l.ids[2], id);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    test_create(st);
    test_addresses(st);
    test_quotas(st);
    test_states_and_delete(st);
    test_list(st);
    test_hook(st);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
