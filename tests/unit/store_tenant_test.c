/* store_tenant_test.c - tenant rules of storage/: names, subnets, net ids,
 * uniqueness, label limits, update masks (paths, none, "*") and resource
 * versions, delete preconditions, paging and label selectors. Each refusal
 * is checked to change nothing. */
#include "check.h"
#include "store_testlib.c"

static void test_create_get(store *st) {
    mvm_error err;
    Mvm__V1__Tenant in = MVM__V1__TENANT__INIT;
    Mvm__V1__Tenant__LabelsEntry l = MVM__V1__TENANT__LABELS_ENTRY__INIT, *lp = &l;
    l.key = "env";
    l.value = "prod";
    in.name = "acme";
    in.net_id = 7;
    in.subnet = "10.240.7.0/24";
    in.n_labels = 1;
    in.labels = &lp;
    in.resource_version = 999; /* output only: ignored */
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_create(st, &test_who, &in, NULL, &t, &err), MVM_OK);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_EQ_STR(t->name, "acme");
    CHECK_EQ_INT(t->net_id, 7);
    CHECK_EQ_STR(t->subnet, "10.240.7.0/24");
    CHECK(t->resource_version > 0 && t->resource_version != 999);
    CHECK(t->create_time && t->create_time->seconds > 0);
    CHECK(t->update_time && t->update_time->seconds == t->create_time->seconds);
    CHECK(t->usage && t->usage->instances == 0 && t->usage->pools == 0);
    CHECK(t->quota != NULL);
    CHECK_EQ_INT(t->n_labels, 1);
    CHECK_EQ_INT(test_rev(st), t->resource_version);

    Mvm__V1__Tenant *g = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &g, &err), MVM_OK);
    CHECK(g && g->resource_version == t->resource_version);
    CHECK(g && g->usage != NULL);
    if (g)
        mvm__v1__tenant__free_unpacked(g, NULL);
    mvm__v1__tenant__free_unpacked(t, NULL);

    CHECK_EQ_INT(store_tenant_get(st, "nope", NULL, &g, &err), MVM_NOT_FOUND);
    CHECK(g == NULL);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK_EQ_INT(store_tenant_get(st, "Bad_Name", NULL, &g, &err), MVM_INVALID_ARGUMENT);
}

static void test_names(store *st) {
    static const char *bad[] = {"", "A", "acme!", "-a", "a-", "a_b", "a.b", "ab c", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_tenant(st, bad[i], 100, "10.241.0.0/24", err_));
    char n64[65], n63[64];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n63, 'b', 63);
    n63[63] = '\0';
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_tenant(st, n64, 100, "10.241.0.0/24", err_));
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, n63, 100, "10.241.0.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "a-1-b", 101, "10.241.1.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "9", 102, "10.241.2.0/24", &err), MVM_OK);
    CHECK(store_name_valid("a-b"));
    CHECK(!store_name_valid("a--"));
    CHECK(!store_name_valid(NULL));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, NULL, NULL, NULL, err_));
}

static void test_subnets_netids(store *st) {
    static const char *bad[] = {
        "",               "garbage",       "10.240.1.0",      "10.240.1.5/24",
        "10.239.0.0/24",  "10.240.1.0/23", "10.240.1.0/25",   "10.240.01.0/24",
        "11.240.1.0/24",  "10.256.1.0/24", "10.240.1.0/24x",  " 10.240.1.0/24",
        "10.240.1.0/024", "10.240.1.0/",   "10.240.1.0.0/24", "192.168.0.0/24",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_tenant(st, "snet", 200, bad[i], err_));
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "hi", 4095, "10.255.255.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "lo", 0, "10.240.0.0/24", &err), MVM_OK);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_tenant(st, "big", 4096, "10.250.0.0/24", err_));
    /* taken net_id, subnet, name */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_tenant(st, "dupnet", 4095, "10.250.0.0/24", err_));
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_tenant(st, "dupsub", 300, "10.255.255.0/24", err_));
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_tenant(st, "hi", 301, "10.250.1.0/24", err_));
    CHECK_EQ_INT(mk_tenant(st, "dupsub", 300, "10.255.255.0/24", &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "hi") != NULL); /* names the tenant in the way */
}

static void test_labels_validated(store *st) {
    Mvm__V1__Tenant in = MVM__V1__TENANT__INIT;
    Mvm__V1__Tenant__LabelsEntry a = MVM__V1__TENANT__LABELS_ENTRY__INIT, b = a;
    Mvm__V1__Tenant__LabelsEntry *l[2] = {&a, &b};
    in.name = "lbl";
    in.net_id = 400;
    in.subnet = "10.242.0.0/24";
    in.labels = l;
    in.n_labels = 1;
    a.key = "";
    a.value = "x";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
    a.key = "ok";
    a.value = "a,b";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
    a.value = "\xff\xfe"; /* not UTF-8 */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
    a.value = "caf\xc3\xa9"; /* UTF-8 "café" is fine... */
    mvm_error err;
    CHECK_EQ_INT(store_tenant_create(st, &test_who, &in, NULL, NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "lbl", &err), MVM_OK);
    static const char *bad_utf8[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xc3",
                                     "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        a.value = (char *)bad_utf8[i]; /* overlong, surrogate, > U+10FFFF, truncated */
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
    }
    a.value = "v";
    b.key = "ok";
    b.value = "w";
    in.n_labels = 2;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
}

static test_labels labels_make(size_t n) {
    return test_labels_make(&mvm__v1__tenant__labels_entry__descriptor, n, "v");
}

static void test_label_limits(store *st) {
    mvm_error err;
    Mvm__V1__Tenant in = MVM__V1__TENANT__INIT;
    in.name = "lim";
    in.net_id = 450;
    in.subnet = "10.242.50.0/24";
    /* 120,000 labels (the request that held every writer for 32 s) and 65:
     * refused, naming the limit */
    static const size_t too_many[] = {120000, STORE_LABELS_MAX + 1};
    for (size_t t = 0; t < 2; t++) {
        test_labels big = labels_make(too_many[t]);
        in.labels = (Mvm__V1__Tenant__LabelsEntry **)big.p;
        in.n_labels = too_many[t];
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
        CHECK_EQ_INT(store_tenant_create(st, &test_who, &in, NULL, NULL, &err),
                     MVM_INVALID_ARGUMENT);
        CHECK(strstr(err.msg, "at most 64") != NULL);
        test_labels_free(big);
    }
    /* 64 is fine; a duplicate among them (first and last) is found */
    test_labels ok = labels_make(STORE_LABELS_MAX);
    in.labels = (Mvm__V1__Tenant__LabelsEntry **)ok.p;
    in.n_labels = STORE_LABELS_MAX;
    ok.e[STORE_LABELS_MAX - 1].key = "k0";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_create(st, &test_who, &in, NULL, NULL, err_));
    CHECK_EQ_INT(store_tenant_create(st, &test_who, &in, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "\"k0\" appears twice") != NULL);
    ok.e[STORE_LABELS_MAX - 1].key = ok.keys[STORE_LABELS_MAX - 1];
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_create(st, &test_who, &in, NULL, &t, &err), MVM_OK);
    CHECK(t && t->n_labels == STORE_LABELS_MAX);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    /* key and value sizes: 253 bytes fine, 254 refused naming the limit */
    static char k253[254], k254[255];
    memset(k253, 'a', 253);
    memset(k254, 'a', 254);
    Mvm__V1__Tenant upd = MVM__V1__TENANT__INIT;
    upd.name = "lim";
    upd.labels = (Mvm__V1__Tenant__LabelsEntry **)ok.p;
    upd.n_labels = 1;
    ok.e[0].key = k253;
    ok.e[0].value = k253;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, &err), MVM_OK);
    ok.e[0].key = k254;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, err_));
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "253") != NULL);
    ok.e[0].key = "k";
    ok.e[0].value = k254;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, err_));
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "253") != NULL);
    /* the limit holds on update too */
    test_labels more = labels_make(STORE_LABELS_MAX + 1);
    upd.labels = (Mvm__V1__Tenant__LabelsEntry **)more.p;
    upd.n_labels = STORE_LABELS_MAX + 1;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_update(st, &test_who, &upd, NULL, NULL, NULL, err_));
    test_labels_free(more);
    test_labels_free(ok);
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "lim", &err), MVM_OK);
}

static Mvm__V1__Tenant *get(store *st, const char *name) {
    Mvm__V1__Tenant *t = NULL;
    mvm_error err;
    if (store_tenant_get(st, name, NULL, &t, &err) != MVM_OK)
        fprintf(stderr, "get %s: %s\n", name, err.msg);
    return t;
}

static void test_update(store *st) {
    mvm_error err;
    Mvm__V1__TenantQuota q0 = MVM__V1__TENANT_QUOTA__INIT;
    q0.max_instances = 5;
    q0.max_pools = 3;
    CHECK_EQ_INT(mk_tenant_q(st, "upd", 500, "10.243.0.0/24", &q0, &err), MVM_OK);
    Mvm__V1__Tenant *before = get(st, "upd");
    if (!before)
        return;

    /* mask "quota.max_instances" changes just that sub-field */
    Mvm__V1__Tenant in = MVM__V1__TENANT__INIT;
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_instances = 9;
    q.max_pools = 77;
    in.name = "upd";
    in.quota = &q;
    in.net_id = 999;             /* immutable and not in the mask: ignored */
    in.subnet = "10.250.9.0/24"; /* likewise */
    char *p1[] = {"quota.max_instances"};
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    m.n_paths = 1;
    m.paths = p1;
    Mvm__V1__Tenant *u = NULL;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, &u, &err), MVM_OK);
    if (u) {
        CHECK_EQ_INT(u->quota->max_instances, 9);
        CHECK_EQ_INT(u->quota->max_pools, 3);
        CHECK_EQ_INT(u->net_id, 500);
        CHECK_EQ_STR(u->subnet, "10.243.0.0/24");
        CHECK(u->resource_version > before->resource_version);
        CHECK_EQ_INT(u->create_time->seconds, before->create_time->seconds);
        CHECK_EQ_INT(u->create_time->nanos, before->create_time->nanos);
        CHECK(u->usage != NULL);
    }

    /* stale resource_version -> ABORTED; current one -> OK */
    in.resource_version = before->resource_version;
    CHECK_REFUSED(st, MVM_ABORTED, store_tenant_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.resource_version = u ? u->resource_version : 0;
    q.max_instances = 10;
    Mvm__V1__Tenant *u2 = NULL;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, &u2, &err), MVM_OK);
    CHECK(u2 && u && u2->resource_version > u->resource_version);
    in.resource_version = 0;

    /* bad paths */
    static char *badpaths[] = {"name", "net_id", "subnet", "usage", "create_time",
                               "resource_version", "bogus", "quota.bogus", "labels.x",
                               "", "quota..max_pools", "quota.max_pools.x"};
    for (size_t i = 0; i < sizeof badpaths / sizeof badpaths[0]; i++) {
        char *one[] = {badpaths[i]};
        m.paths = one;
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_tenant_update(st, &test_who, &in, &m, NULL, NULL, err_));
    }
    /* a bad path anywhere in the mask refuses the whole update */
    char *mixed[] = {"labels", "subnet"};
    m.paths = mixed;
    m.n_paths = 2;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_tenant_update(st, &test_who, &in, &m, NULL, NULL, err_));

    /* no mask (AIP-134): the mutable fields set in the request. Immutable
     * fields set to other values are refused, naming the field. */
    Mvm__V1__Tenant__LabelsEntry l = MVM__V1__TENANT__LABELS_ENTRY__INIT, *lp = &l;
    l.key = "team";
    l.value = "core";
    in.labels = &lp;
    in.n_labels = 1;
    in.quota = NULL;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_tenant_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, NULL, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "net_id") && strstr(err.msg, "immutable"));
    in.net_id = 500; /* equal to the stored values: fine */
    in.subnet = "10.243.0.0/24";
    Mvm__V1__Tenant *u3 = NULL;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, NULL, NULL, &u3, &err), MVM_OK);
    if (u3) {
        CHECK_EQ_INT(u3->quota->max_instances, 10); /* not set in the request: kept */
        CHECK_EQ_INT(u3->quota->max_pools, 3);
        CHECK_EQ_INT(u3->n_labels, 1);
        CHECK_EQ_STR(u3->labels[0]->key, "team");
        CHECK_EQ_STR(u3->subnet, "10.243.0.0/24");
    }
    /* an empty mask (no paths) is the same as none; only the set quota
     * field changes, labels are kept */
    in.net_id = 0;
    in.subnet = NULL;
    in.labels = NULL;
    in.n_labels = 0;
    Mvm__V1__TenantQuota q2 = MVM__V1__TENANT_QUOTA__INIT;
    q2.max_pools = 7;
    in.quota = &q2;
    Google__Protobuf__FieldMask empty = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    Mvm__V1__Tenant *u4 = NULL;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &empty, NULL, &u4, &err), MVM_OK);
    if (u4) {
        CHECK_EQ_INT(u4->quota->max_pools, 7);
        CHECK_EQ_INT(u4->quota->max_instances, 10);
        CHECK_EQ_INT(u4->n_labels, 1);
        mvm__v1__tenant__free_unpacked(u4, NULL);
    }
    /* a request with nothing set changes nothing but the version */
    in.quota = NULL;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, NULL, NULL, &u4, &err), MVM_OK);
    if (u4) {
        CHECK_EQ_INT(u4->quota->max_pools, 7);
        CHECK_EQ_INT(u4->n_labels, 1);
        mvm__v1__tenant__free_unpacked(u4, NULL);
    }
    /* "*": every mutable field replaced (quota and labels cleared) */
    char *star[] = {"*"};
    m.paths = star;
    m.n_paths = 1;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, &u4, &err), MVM_OK);
    if (u4) {
        CHECK(u4->quota == NULL || (u4->quota->max_pools == 0 && u4->quota->max_instances == 0));
        CHECK_EQ_INT(u4->n_labels, 0);
        CHECK_EQ_INT(u4->net_id, 500);
        mvm__v1__tenant__free_unpacked(u4, NULL);
    }
    /* "*" with an immutable field changed, or with other paths: refused */
    in.subnet = "10.250.9.0/24";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_tenant_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.subnet = NULL;
    char *star_and[] = {"*", "labels"};
    m.paths = star_and;
    m.n_paths = 2;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_tenant_update(st, &test_who, &in, &m, NULL, NULL, err_));
    /* an explicit path clears a field: labels */
    in.labels = &lp;
    in.n_labels = 1;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, NULL, NULL, NULL, &err), MVM_OK);
    char *lab[] = {"labels"};
    m.paths = lab;
    m.n_paths = 1;
    in.labels = NULL;
    in.n_labels = 0;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &in, &m, NULL, &u4, &err), MVM_OK);
    CHECK(u4 && u4->n_labels == 0);
    if (u4)
        mvm__v1__tenant__free_unpacked(u4, NULL);
    /* invalid label through update */
    in.labels = &lp;
    in.n_labels = 1;
    l.key = "-bad";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_tenant_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    in.name = "ghost";
    l.key = "team";
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_tenant_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_update(st, &test_who, NULL, NULL, NULL, NULL, err_));

    mvm__v1__tenant__free_unpacked(before, NULL);
    if (u)
        mvm__v1__tenant__free_unpacked(u, NULL);
    if (u2)
        mvm__v1__tenant__free_unpacked(u2, NULL);
    if (u3)
        mvm__v1__tenant__free_unpacked(u3, NULL);
}

static void test_delete(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "del", 600, "10.244.0.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "del", "web", &err), MVM_OK);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, store_tenant_delete(st, &test_who, "del", err_));
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "del", &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "web") != NULL);
    CHECK(strstr(err.msg, "1 pool") != NULL);
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_tenant_delete(st, &test_who, "ghost", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_tenant_delete(st, &test_who, "Ghost", err_));
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "del", "web", &err), MVM_OK);
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "del", &err), MVM_OK);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "del", NULL, &t, &err), MVM_NOT_FOUND);
    /* net_id and subnet are free again */
    CHECK_EQ_INT(mk_tenant(st, "del2", 600, "10.244.0.0/24", &err), MVM_OK);
    /* a tenant with the same name starts with fresh usage */
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "del2", &err), MVM_OK);
}

static int names_sorted_unique(char **names, int n) {
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) >= 0)
            return 0;
    return 1;
}

static void test_list(store *st) {
    mvm_error err;
    for (int i = 0; i < 25; i++) {
        char name[16], subnet[32];
        snprintf(name, sizeof name, "pg%02d", i);
        snprintf(subnet, sizeof subnet, "10.245.%d.0/24", i);
        Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
        Mvm__V1__Tenant__LabelsEntry l1 = MVM__V1__TENANT__LABELS_ENTRY__INIT, l2 = l1;
        Mvm__V1__Tenant__LabelsEntry *ls[2] = {&l1, &l2};
        l1.key = "env";
        l1.value = i % 2 ? "prod" : "dev";
        l2.key = "tier";
        l2.value = "gold";
        t.name = name;
        t.net_id = 700 + (uint32_t)i;
        t.subnet = subnet;
        t.labels = ls;
        t.n_labels = i % 5 == 0 ? 2 : 1; /* tier on 0,5,10,15,20 */
        CHECK_EQ_INT(store_tenant_create(st, &test_who, &t, NULL, NULL, &err), MVM_OK);
    }
    /* walk all pages of 10 with selector env (all 25 of them) */
    char *seen[64];
    int nseen = 0, pages = 0;
    char token[600] = "";
    for (;;) {
        store_list_opts o = {.page_size = 10, .page_token = token, .label_selector = "env"};
        Mvm__V1__ListTenantsResponse *r = NULL;
        CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &r, &err), MVM_OK);
        if (!r)
            break;
        pages++;
        CHECK(r->n_tenants <= 10);
        for (size_t i = 0; i < r->n_tenants && nseen < 64; i++) {
            if (strncmp(r->tenants[i]->name, "pg", 2) == 0)
                seen[nseen++] = strdup(r->tenants[i]->name);
            CHECK(r->tenants[i]->usage != NULL);
        }
        int more = r->next_page_token && *r->next_page_token;
        if (more)
            snprintf(token, sizeof token, "%s", r->next_page_token);
        mvm__v1__list_tenants_response__free_unpacked(r, NULL);
        if (!more || pages > 10)
            break;
    }
    CHECK_EQ_INT(pages, 3);
    CHECK_EQ_INT(nseen, 25);
    CHECK(names_sorted_unique(seen, nseen));
    for (int i = 0; i < nseen; i++)
        free(seen[i]);

    struct {
        const char *sel;
        size_t want;
    } sels[] = {
        {"env=prod", 12},       {"env!=prod", 13 + 0}, {"tier", 5},
        {"!tier", 20},          {"env=prod,tier", 2},  {"env=dev, tier=gold", 3},
        {"env=staging", 0},     {"!env", 0},           {"tier!=silver,env=dev", 13},
    };
    for (size_t s = 0; s < sizeof sels / sizeof sels[0]; s++) {
        store_list_opts o = {.page_size = 1000, .label_selector = sels[s].sel};
        Mvm__V1__ListTenantsResponse *r = NULL;
        CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &r, &err), MVM_OK);
        size_t got = 0;
        /* tenants made by other tests have no labels: count only pg* */
        for (size_t i = 0; r && i < r->n_tenants; i++)
            got += strncmp(r->tenants[i]->name, "pg", 2) == 0;
        if (got != sels[s].want)
            fprintf(stderr, "selector \"%s\": %zu, want %zu\n", sels[s].sel, got, sels[s].want);
        CHECK_EQ_INT(got, sels[s].want);
        if (r)
            mvm__v1__list_tenants_response__free_unpacked(r, NULL);
    }
    static const char *badsel[] = {"=x", "a,,b", ",", "a=b=c", "!", "a b", "k=v,",
                                   "!a=b", "a=!b"};
    for (size_t s = 0; s < sizeof badsel / sizeof badsel[0]; s++) {
        store_list_opts o = {.label_selector = badsel[s]};
        Mvm__V1__ListTenantsResponse *r = (void *)1;
        CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &r, &err), MVM_INVALID_ARGUMENT);
        CHECK(r == NULL);
    }
    static const char *badtok[] = {"x", "zz", "k0", "kzz", "k6", "k6161"};
    for (size_t s = 0; s < sizeof badtok / sizeof badtok[0]; s++) {
        store_list_opts o = {.page_token = badtok[s]};
        Mvm__V1__ListTenantsResponse *r = NULL;
        mvm_code c = store_tenant_list(st, &o, NULL, &r, &err);
        /* "k6" is odd-length, "k6161" decodes to "aa": a valid key position */
        if (strcmp(badtok[s], "k6161") == 0) {
            CHECK_EQ_INT(c, MVM_OK);
        } else {
            CHECK_EQ_INT(c, MVM_INVALID_ARGUMENT);
        }
        if (r)
            mvm__v1__list_tenants_response__free_unpacked(r, NULL);
    }
    /* page_size 0 -> 100, and above 1000 is clamped (not an error) */
    store_list_opts o = {.page_size = 0};
    Mvm__V1__ListTenantsResponse *r = NULL;
    CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_tenants > 25 && r->n_tenants <= 100);
    if (r)
        mvm__v1__list_tenants_response__free_unpacked(r, NULL);
    o.page_size = 5000;
    CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &r, &err), MVM_OK);
    CHECK(r && (r->next_page_token == NULL || *r->next_page_token == '\0'));
    if (r)
        mvm__v1__list_tenants_response__free_unpacked(r, NULL);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    test_create_get(st);
    test_names(st);
    test_subnets_netids(st);
    test_labels_validated(st);
    test_label_limits(st);
    test_update(st);
    test_delete(st);
    test_list(st);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
