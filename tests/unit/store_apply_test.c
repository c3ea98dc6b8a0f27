/* store_apply_test.c - NodeService.Apply in storage/ (store_apply): creating
 * from an empty store, idempotent replay (nothing written, not even a
 * revision), a newer generation with no change, an older one and the same
 * one with another content refused, updates reporting the changed fields
 * (dotted sub-fields, labels as a set), an image change retiring the READY
 * base snapshot and starting a rebuild, prune marking tenants and pools
 * deleting and re-listing un-deleting them, dry runs writing nothing, every
 * validation error (and a failure half-way) leaving the store as it was,
 * output-only fields ignored, creation refused in a deleting tenant or
 * pool, Instance.managed from the actor and kept across later writes, the
 * applied generation kept across a reopen, the audit records, and 1000
 * pools in one Apply. */
#include "check.h"
#include "store_testlib.c"

#define ACT(x) MVM__V1__APPLY_ACTION__APPLY_ACTION_##x
#define BASE_STATE(x) MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_##x
#define INST_STATE(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x

/* ---- building requests ---- */

#define RB_MAX 16

typedef struct {
    Mvm__V1__ApplyRequest req;
    Mvm__V1__Tenant t[RB_MAX];
    Mvm__V1__Tenant *tp[RB_MAX];
    Mvm__V1__Pool p[RB_MAX];
    Mvm__V1__Pool *pp[RB_MAX];
} req_buf;

static void rb_init(req_buf *b, uint64_t gen) {
    memset(b, 0, sizeof *b);
    mvm__v1__apply_request__init(&b->req);
    b->req.generation = gen;
    b->req.tenants = b->tp;
    b->req.pools = b->pp;
}

static Mvm__V1__Tenant *rb_tenant(req_buf *b, const char *name, uint32_t net_id,
                                  const char *subnet) {
    Mvm__V1__Tenant *t = &b->t[b->req.n_tenants];
    mvm__v1__tenant__init(t);
    t->name = (char *)name;
    t->net_id = net_id;
    t->subnet = (char *)subnet;
    b->tp[b->req.n_tenants++] = t;
    return t;
}

static Mvm__V1__Pool *rb_pool(req_buf *b, const char *tenant, const char *name) {
    Mvm__V1__Pool *p = &b->p[b->req.n_pools];
    pool_init(p, tenant, name);
    b->pp[b->req.n_pools++] = p;
    return p;
}

/* The base desired state most tests start from: tenants acme and beta,
 * pools acme/web, acme/api and beta/db. */
static void rb_base(req_buf *b, uint64_t gen) {
    rb_init(b, gen);
    rb_tenant(b, "acme", 1, "10.240.1.0/24");
    rb_tenant(b, "beta", 2, "10.240.2.0/24");
    Mvm__V1__Pool *web = rb_pool(b, "acme", "web");
    web->desired_instances = 3;
    web->desired_warm = 1;
    rb_pool(b, "acme", "api");
    rb_pool(b, "beta", "db");
}

static mvm_code apply(store *st, const req_buf *b, Mvm__V1__ApplyResponse **out,
                      mvm_error *err) {
    return store_apply(st, &test_who, &b->req, NULL, out, err);
}

/* Applies b, which must succeed; returns the response (free it). */
static Mvm__V1__ApplyResponse *apply_ok(store *st, const req_buf *b) {
    Mvm__V1__ApplyResponse *r = NULL;
    mvm_error err;
    mvm_error_clear(&err);
    CHECK_EQ_INT(apply(st, b, &r, &err), MVM_OK);
    if (err.code)
        fprintf(stderr, "apply: %s\n", err.msg);
    return r;
}

static void resp_free(Mvm__V1__ApplyResponse *r) {
    if (r)
        mvm__v1__apply_response__free_unpacked(r, NULL);
}

static const Mvm__V1__ApplyChange *change_of(const Mvm__V1__ApplyResponse *r, const char *kind,
                                             const char *tenant, const char *name) {
    for (size_t i = 0; r && i < r->n_changes; i++) {
        const Mvm__V1__ApplyChange *c = r->changes[i];
        if (!strcmp(c->kind, kind) && !strcmp(c->tenant, tenant) &&
            !strcmp(c->name, name ? name : ""))
            return c;
    }
    return NULL;
}

static int action_of(const Mvm__V1__ApplyResponse *r, const char *kind, const char *tenant,
                     const char *name) {
    const Mvm__V1__ApplyChange *c = change_of(r, kind, tenant, name);
    return c ? (int)c->action : -1;
}

/* The change's fields joined with ",", in order ("" when none or absent). */
static const char *fields_of(const Mvm__V1__ApplyResponse *r, const char *kind,
                             const char *tenant, const char *name) {
    static char buf[512];
    buf[0] = '\0';
    const Mvm__V1__ApplyChange *c = change_of(r, kind, tenant, name);
    for (size_t i = 0; c && i < c->n_fields; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? "," : "",
                 c->fields[i]);
    return buf;
}

static uint64_t applied_gen(store *st) {
    uint64_t gen = 99;
    int64_t us = -1;
    mvm_error err;
    CHECK_EQ_INT(store_apply_state(st, &gen, &us, &err), MVM_OK);
    return gen;
}

static Mvm__V1__Tenant *tenant_of(store *st, const char *name) {
    Mvm__V1__Tenant *t = NULL;
    mvm_error err;
    CHECK_EQ_INT(store_tenant_get(st, name, NULL, &t, &err), MVM_OK);
    return t;
}

static bool pool_deleting(store *st, const char *tenant, const char *name) {
    Mvm__V1__Pool *p = pool_of(st, tenant, name);
    bool d = p && p->deleting;
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    return d;
}

static bool tenant_deleting(store *st, const char *name) {
    Mvm__V1__Tenant *t = tenant_of(st, name);
    bool d = t && t->deleting;
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    return d;
}

/* Audit records whose object is object (and, if msg is not NULL, whose
 * message contains msg). */
typedef struct {
    const char *object, *msg;
    int n;
} audit_count;

static bool audit_one(void *arg, const Mvm__V1__AuditRecord *rec) {
    audit_count *a = arg;
    if (!strcmp(rec->object, a->object) && !strcmp(rec->code, "OK") &&
        (!a->msg || strstr(rec->message, a->msg)))
        a->n++;
    return true;
}

static int audits(store *st, const char *object, const char *msg) {
    audit_count a = {object, msg, 0};
    mvm_error err;
    CHECK_EQ_INT(store_audit_foreach(st, 0, audit_one, &a, &err), MVM_OK);
    return a.n;
}

/* ---- the tests ---- */

static void test_create_from_empty(store *st) {
    uint64_t gen = 1;
    int64_t us = 1;
    mvm_error err;
    CHECK_EQ_INT(store_apply_state(st, &gen, &us, &err), MVM_OK);
    CHECK_EQ_INT(gen, 0); /* never applied */
    CHECK_EQ_INT(us, 0);

    req_buf b;
    rb_base(&b, 1);
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK(r && r->changed);
    CHECK(r && r->generation == 1);
    CHECK(r && r->n_changes == 5);
    if (r && r->n_changes == 5) { /* request order: tenants, then pools */
        CHECK_EQ_STR(r->changes[0]->kind, "tenant");
        CHECK_EQ_STR(r->changes[0]->tenant, "acme");
        CHECK_EQ_STR(r->changes[0]->name, "");
        CHECK_EQ_STR(r->changes[1]->tenant, "beta");
        CHECK_EQ_STR(r->changes[2]->kind, "pool");
        CHECK_EQ_STR(r->changes[2]->tenant, "acme");
        CHECK_EQ_STR(r->changes[2]->name, "web");
        CHECK_EQ_STR(r->changes[3]->name, "api");
        CHECK_EQ_STR(r->changes[4]->name, "db");
        for (size_t i = 0; i < 5; i++) {
            CHECK_EQ_INT(r->changes[i]->action, ACT(CREATED));
            CHECK_EQ_INT(r->changes[i]->n_fields, 0);
        }
    }
    resp_free(r);
    CHECK_EQ_INT(store_apply_state(st, &gen, &us, &err), MVM_OK);
    CHECK_EQ_INT(gen, 1);
    CHECK(us > 1600000000LL * 1000000);

    Mvm__V1__Tenant *t = tenant_of(st, "acme");
    CHECK(t && t->net_id == 1 && !strcmp(t->subnet, "10.240.1.0/24"));
    CHECK(t && t->usage && t->usage->pools == 2);
    CHECK(t && !t->deleting);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    Mvm__V1__Pool *p = pool_of(st, "acme", "web");
    CHECK(p && p->desired_instances == 3 && p->desired_warm == 1);
    CHECK(p && p->base_snapshot && p->base_snapshot->state == BASE_STATE(NONE));
    CHECK(p && p->resource_version == test_rev(st)); /* one write, one revision */
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    /* one audit record per object, one for the apply */
    CHECK_EQ_INT(audits(st, "tenant/acme", "generation 1: created"), 1);
    CHECK_EQ_INT(audits(st, "pool/acme/web", "generation 1: created"), 1);
    CHECK_EQ_INT(audits(st, "pool/beta/db", "generation 1: created"), 1);
    CHECK_EQ_INT(audits(st, "apply/generation 1", "5 created, 0 updated"), 1);
}

static void test_replay_and_generations(store *st) {
    /* the same generation and content again: a replay, nothing written */
    req_buf b;
    rb_base(&b, 1);
    uint64_t rev = test_rev(st);
    test_snap s = snap_take(st);
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK(r && !r->changed && r->generation == 1 && r->n_changes == 5);
    for (size_t i = 0; r && i < r->n_changes; i++)
        CHECK_EQ_INT(r->changes[i]->action, ACT(UNCHANGED));
    resp_free(r);
    CHECK(snap_same(st, s));
    CHECK_EQ_INT(test_rev(st), rev);
    CHECK_EQ_INT(audits(st, "apply/generation 1", NULL), 1); /* not audited again */

    /* a newer generation with the same content: recorded, nothing changed */
    rb_base(&b, 2);
    r = apply_ok(st, &b);
    CHECK(r && !r->changed && r->generation == 2);
    resp_free(r);
    CHECK_EQ_INT(applied_gen(st), 2);
    CHECK_EQ_INT(test_rev(st), rev + 1);
    Mvm__V1__Pool *p = pool_of(st, "acme", "web");
    CHECK(p && p->resource_version < rev + 1); /* the pool was not rewritten */
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);

    /* older: refused, whatever the content */
    rb_base(&b, 1);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, apply(st, &b, NULL, err_));
    mvm_error err;
    CHECK_EQ_INT(apply(st, &b, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "generation 1 is older than the applied generation 2"));
    /* the same generation with another content: refused */
    rb_base(&b, 2);
    b.p[0].vcpus = 4;
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, apply(st, &b, NULL, err_));
    CHECK_EQ_INT(apply(st, &b, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "generation 2 was already applied with a different content"));
    CHECK_EQ_INT(applied_gen(st), 2);
    p = pool_of(st, "acme", "web");
    CHECK(p && p->vcpus == 2);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    /* generation 0 and no request */
    rb_base(&b, 0);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, apply(st, &b, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_apply(st, &test_who, NULL, NULL, NULL, err_));
}

static void test_updates(store *st) {
    req_buf b;
    rb_base(&b, 3);
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_instances = 10;
    b.t[0].quota = &q;
    Mvm__V1__Tenant__LabelsEntry l1 = MVM__V1__TENANT__LABELS_ENTRY__INIT, *lp[2];
    Mvm__V1__Tenant__LabelsEntry l2 = MVM__V1__TENANT__LABELS_ENTRY__INIT;
    l1.key = "team";
    l1.value = "red";
    l2.key = "env";
    l2.value = "prod";
    lp[0] = &l1;
    lp[1] = &l2;
    b.t[0].labels = lp;
    b.t[0].n_labels = 2;
    Mvm__V1__SleepPolicy sp = MVM__V1__SLEEP_POLICY__INIT;
    sp.warm_after_idle_seconds = 30;
    b.p[0].sleep_policy = &sp;
    b.p[0].desired_instances = 5;
    b.p[2].ready_pattern = "login:";
    uint64_t rev = test_rev(st);
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK(r && r->changed && r->generation == 3);
    CHECK_EQ_INT(action_of(r, "tenant", "acme", NULL), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "tenant", "acme", NULL), "quota.max_instances,labels");
    CHECK_EQ_INT(action_of(r, "tenant", "beta", NULL), ACT(UNCHANGED));
    CHECK_EQ_STR(fields_of(r, "tenant", "beta", NULL), "");
    CHECK_EQ_INT(action_of(r, "pool", "acme", "web"), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "pool", "acme", "web"),
                 "desired_instances,sleep_policy.warm_after_idle_seconds");
    CHECK_EQ_INT(action_of(r, "pool", "acme", "api"), ACT(UNCHANGED));
    CHECK_EQ_INT(action_of(r, "pool", "beta", "db"), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "pool", "beta", "db"), "ready_pattern");
    resp_free(r);
    CHECK_EQ_INT(test_rev(st), rev + 1);
    Mvm__V1__Tenant *t = tenant_of(st, "acme");
    CHECK(t && t->quota && t->quota->max_instances == 10 && t->n_labels == 2);
    CHECK(t && t->resource_version == rev + 1);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    t = tenant_of(st, "beta");
    CHECK(t && t->resource_version < rev + 1); /* unchanged: not rewritten */
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    Mvm__V1__Pool *p = pool_of(st, "acme", "web");
    CHECK(p && p->desired_instances == 5 && p->sleep_policy &&
          p->sleep_policy->warm_after_idle_seconds == 30);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK_EQ_INT(audits(st, "tenant/acme",
                        "generation 3: updated quota.max_instances, labels"), 1);
    CHECK_EQ_INT(audits(st, "pool/acme/api", "generation 3"), 0);

    /* the same, labels in another order: a replay */
    lp[0] = &l2;
    lp[1] = &l1;
    r = apply_ok(st, &b);
    CHECK(r && !r->changed);
    resp_free(r);
    CHECK_EQ_INT(test_rev(st), rev + 1);

    /* replace semantics: what the request leaves out is cleared */
    rb_base(&b, 4);
    b.p[0].desired_instances = 5;
    b.p[2].ready_pattern = "login:";
    r = apply_ok(st, &b);
    CHECK_EQ_STR(fields_of(r, "tenant", "acme", NULL), "quota.max_instances,labels");
    CHECK_EQ_STR(fields_of(r, "pool", "acme", "web"), "sleep_policy.warm_after_idle_seconds");
    CHECK_EQ_INT(action_of(r, "pool", "beta", "db"), ACT(UNCHANGED));
    resp_free(r);
    t = tenant_of(st, "acme");
    CHECK(t && t->quota && t->quota->max_instances == 0 && t->n_labels == 0);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);

    /* output-only fields of the request are ignored */
    rb_base(&b, 5);
    b.p[0].desired_instances = 5;
    b.p[2].ready_pattern = "login:";
    b.t[1].deleting = true;
    b.t[1].resource_version = 12345;
    b.p[1].deleting = true;
    Mvm__V1__PoolStatus ps = MVM__V1__POOL_STATUS__INIT;
    ps.instances = 7;
    b.p[1].status = &ps;
    Mvm__V1__BaseSnapshot bs = MVM__V1__BASE_SNAPSHOT__INIT;
    bs.state = BASE_STATE(READY);
    bs.snapshot_id = "s-00000000000000ff";
    b.p[1].base_snapshot = &bs;
    r = apply_ok(st, &b);
    CHECK(r && !r->changed);
    resp_free(r);
    p = pool_of(st, "acme", "api");
    CHECK(p && !p->deleting && !p->status && p->base_snapshot &&
          p->base_snapshot->state == BASE_STATE(NONE));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK(!tenant_deleting(st, "beta"));
}

static void test_image_change_retires_base(store *st) {
    mvm_error err;
    const char *build = "s-00000000000000b1";
    bool started = false;
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "api", build, &started, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK(started);
    Mvm__V1__Snapshot s = MVM__V1__SNAPSHOT__INIT;
    s.tenant = "acme";
    s.pool = "api";
    s.id = (char *)build;
    s.kind = MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_BASE;
    s.vcpus = 2;
    s.mem_mib = 512;
    s.kernel_image = TEST_KERNEL;
    s.rootfs_image = TEST_ROOTFS;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, build, NULL, NULL, &err), MVM_OK);
    Mvm__V1__Pool *p = pool_of(st, "acme", "api");
    CHECK(p && p->base_snapshot && p->base_snapshot->state == BASE_STATE(READY) &&
          !strcmp(p->base_snapshot->snapshot_id, build));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);

    req_buf b;
    rb_base(&b, 6);
    b.p[0].desired_instances = 5;
    b.p[2].ready_pattern = "login:";
    b.p[1].kernel_image = "/var/lib/mvm/images/vmlinux-6.1";
    b.p[1].base_snapshot_ttl_seconds = 3600;
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK_EQ_INT(action_of(r, "pool", "acme", "api"), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "pool", "acme", "api"), "kernel_image,base_snapshot_ttl_seconds");
    CHECK_EQ_INT(action_of(r, "pool", "acme", "web"), ACT(UNCHANGED));
    resp_free(r);
    p = pool_of(st, "acme", "api");
    CHECK(p && p->base_snapshot && p->base_snapshot->state == BASE_STATE(BUILDING));
    CHECK(p && p->base_snapshot && p->base_snapshot->snapshot_id &&
          !*p->base_snapshot->snapshot_id);
    CHECK(p && p->base_snapshot && p->base_snapshot->build_id &&
          strlen(p->base_snapshot->build_id) == 18 &&
          strcmp(p->base_snapshot->build_id, build) != 0);
    CHECK(p && !strcmp(p->kernel_image, "/var/lib/mvm/images/vmlinux-6.1"));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    Mvm__V1__Snapshot *old = NULL;
    CHECK_EQ_INT(store_snapshot_get(st, "acme", build, NULL, &old, &err), MVM_OK);
    CHECK(old && old->state == MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_RETIRED &&
          !strcmp(old->retire_reason, "the pool's images changed"));
    if (old)
        mvm__v1__snapshot__free_unpacked(old, NULL);
}

/* The desired state after test_image_change_retires_base. */
static void rb_current(req_buf *b, uint64_t gen) {
    rb_base(b, gen);
    b->p[0].desired_instances = 5;
    b->p[2].ready_pattern = "login:";
    b->p[1].kernel_image = "/var/lib/mvm/images/vmlinux-6.1";
    b->p[1].base_snapshot_ttl_seconds = 3600;
}

static void test_prune(store *st) {
    mvm_error err;
    char inst_web[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "web", inst_web, &err), MVM_OK);
    /* only acme and acme/web listed: beta, beta/db and acme/api are pruned */
    req_buf b;
    rb_init(&b, 7);
    rb_tenant(&b, "acme", 1, "10.240.1.0/24");
    Mvm__V1__Pool *web = rb_pool(&b, "acme", "web");
    web->desired_instances = 5;
    web->desired_warm = 1;
    b.req.prune = true;
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK(r && r->changed && r->n_changes == 5);
    if (r && r->n_changes == 5) { /* listed, then pruned tenants, then pruned pools */
        CHECK_EQ_INT(r->changes[0]->action, ACT(UNCHANGED));
        CHECK_EQ_INT(r->changes[1]->action, ACT(UNCHANGED));
        CHECK_EQ_STR(r->changes[2]->kind, "tenant");
        CHECK_EQ_STR(r->changes[2]->tenant, "beta");
        CHECK_EQ_INT(r->changes[2]->action, ACT(DELETING));
        CHECK_EQ_STR(r->changes[3]->kind, "pool");
        CHECK_EQ_STR(r->changes[3]->name, "api");
        CHECK_EQ_INT(r->changes[3]->action, ACT(DELETING));
        CHECK_EQ_STR(r->changes[4]->tenant, "beta");
        CHECK_EQ_STR(r->changes[4]->name, "db");
        CHECK_EQ_INT(r->changes[4]->action, ACT(DELETING));
    }
    resp_free(r);
    CHECK(tenant_deleting(st, "beta"));
    CHECK(pool_deleting(st, "acme", "api"));
    CHECK(pool_deleting(st, "beta", "db"));
    CHECK(!tenant_deleting(st, "acme"));
    CHECK(!pool_deleting(st, "acme", "web"));
    CHECK_EQ_INT(audits(st, "pool/acme/api", "generation 7: marked deleting"), 1);
    CHECK_EQ_INT(audits(st, "tenant/beta", "generation 7: marked deleting"), 1);

    /* nothing new is made in them */
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, mk_inst(st, "acme", "api", NULL, err_));
    CHECK_EQ_INT(mk_inst(st, "acme", "api", NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "pool acme/api is being deleted") &&
          strstr(err.msg, "Apply generation 7"));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, mk_inst(st, "beta", "db", NULL, err_));
    CHECK_EQ_INT(mk_inst(st, "beta", "db", NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "tenant beta is being deleted"));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, mk_pool(st, "beta", "new", err_));
    /* a clone neither */
    Mvm__V1__Snapshot s = MVM__V1__SNAPSHOT__INIT;
    s.tenant = "acme";
    s.pool = "api";
    s.id = "s-00000000000000c1";
    s.kind = MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_FORK;
    s.source_instance = "i-00000000000000aa";
    s.vcpus = 2;
    s.mem_mib = 512;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, &err), MVM_OK);
    Mvm__V1__CreateInstanceRequest cr = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    cr.tenant = "acme";
    cr.pool = "api";
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_instance_create_clone(st, &test_who, &cr, "s-00000000000000c1", NULL,
                                              NULL, err_));
    /* an instance already there goes on being written */
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", inst_web, INST_STATE(CREATED),
                                          INST_STATE(RUNNING), 42, NULL, NULL, NULL, &err),
                 MVM_OK);

    /* UpdatePool / UpdateTenant can neither clear nor set deleting */
    Mvm__V1__Pool up;
    pool_init(&up, "acme", "api");
    up.kernel_image = "/var/lib/mvm/images/vmlinux-6.1";
    up.base_snapshot_ttl_seconds = 3600;
    up.deleting = false;
    Google__Protobuf__FieldMask star = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *all[] = {"*"};
    star.paths = all;
    star.n_paths = 1;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &up, &star, NULL, NULL, &err), MVM_OK);
    CHECK(pool_deleting(st, "acme", "api"));
    Mvm__V1__Tenant ut = MVM__V1__TENANT__INIT;
    ut.name = "acme";
    ut.deleting = true;
    CHECK_EQ_INT(store_tenant_update(st, &test_who, &ut, &star, NULL, NULL, &err), MVM_OK);
    CHECK(!tenant_deleting(st, "acme"));
    /* nor does CreateTenant / CreatePool take it */
    Mvm__V1__Tenant nt = MVM__V1__TENANT__INIT;
    nt.name = "gamma";
    nt.net_id = 3;
    nt.subnet = "10.240.3.0/24";
    nt.deleting = true;
    CHECK_EQ_INT(store_tenant_create(st, &test_who, &nt, NULL, NULL, &err), MVM_OK);
    CHECK(!tenant_deleting(st, "gamma"));
    Mvm__V1__Pool np;
    pool_init(&np, "gamma", "g1");
    np.deleting = true;
    Mvm__V1__PoolStatus ps = MVM__V1__POOL_STATUS__INIT;
    ps.instances = 3;
    np.status = &ps;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &np, NULL, NULL, &err), MVM_OK);
    Mvm__V1__Pool *p = pool_of(st, "gamma", "g1");
    CHECK(p && !p->deleting && !p->status);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "gamma", "g1", &err), MVM_OK);
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "gamma", &err), MVM_OK);

    /* the same prune again (newer): reported DELETING, but no change */
    uint64_t rev = test_rev(st);
    b.req.generation = 8;
    r = apply_ok(st, &b);
    CHECK(r && !r->changed && r->n_changes == 5);
    CHECK_EQ_INT(action_of(r, "tenant", "beta", NULL), ACT(DELETING));
    CHECK_EQ_INT(action_of(r, "pool", "beta", "db"), ACT(DELETING));
    resp_free(r);
    CHECK_EQ_INT(test_rev(st), rev + 1); /* the generation only */
    CHECK_EQ_INT(audits(st, "tenant/beta", "generation 8"), 0);

    /* without prune, the unlisted ones are neither touched nor reported */
    b.req.generation = 9;
    b.req.prune = false;
    r = apply_ok(st, &b);
    CHECK(r && !r->changed && r->n_changes == 2);
    resp_free(r);
    CHECK(pool_deleting(st, "acme", "api"));

    /* listed again: un-deleted */
    rb_current(&b, 10);
    b.req.prune = true;
    r = apply_ok(st, &b);
    CHECK(r && r->changed && r->n_changes == 5);
    CHECK_EQ_INT(action_of(r, "tenant", "beta", NULL), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "tenant", "beta", NULL), "deleting");
    CHECK_EQ_INT(action_of(r, "pool", "acme", "api"), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "pool", "acme", "api"), "deleting");
    CHECK_EQ_STR(fields_of(r, "pool", "beta", "db"), "deleting");
    CHECK_EQ_INT(action_of(r, "pool", "acme", "web"), ACT(UNCHANGED));
    resp_free(r);
    CHECK(!tenant_deleting(st, "beta"));
    CHECK(!pool_deleting(st, "acme", "api"));
    CHECK(!pool_deleting(st, "beta", "db"));
    CHECK_EQ_INT(mk_inst(st, "beta", "db", NULL, &err), MVM_OK);
}

static void test_dry_run(store *st) {
    uint64_t gen0 = applied_gen(st);
    int64_t us0 = 0, us1 = 0;
    uint64_t g;
    mvm_error err;
    CHECK_EQ_INT(store_apply_state(st, &g, &us0, &err), MVM_OK);
    req_buf b;
    rb_current(&b, gen0 + 1);
    rb_tenant(&b, "delta", 4, "10.240.4.0/24");
    rb_pool(&b, "delta", "d1");
    b.p[0].vcpus = 8; /* also an image change: a base rebuild is not started either */
    b.req.prune = true;
    b.req.dry_run = true;
    b.req.n_pools--; /* leave beta/db out of the list but d1 in */
    b.pp[2] = &b.p[3];
    test_snap s = snap_take(st);
    Mvm__V1__ApplyResponse *r = apply_ok(st, &b);
    CHECK(r && r->changed && r->generation == gen0);
    CHECK_EQ_INT(action_of(r, "tenant", "delta", NULL), ACT(CREATED));
    CHECK_EQ_INT(action_of(r, "pool", "delta", "d1"), ACT(CREATED));
    CHECK_EQ_INT(action_of(r, "pool", "acme", "web"), ACT(UPDATED));
    CHECK_EQ_STR(fields_of(r, "pool", "acme", "web"), "vcpus");
    CHECK_EQ_INT(action_of(r, "pool", "beta", "db"), ACT(DELETING));
    resp_free(r);
    CHECK(snap_same(st, s));
    CHECK_EQ_INT(store_apply_state(st, &g, &us1, &err), MVM_OK);
    CHECK_EQ_INT(g, gen0);
    CHECK_EQ_INT(us1, us0);
    /* a dry run of an older generation is refused like the real one */
    b.req.generation = gen0 - 1;
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, apply(st, &b, NULL, err_));
}

/* Every refusal leaves the store as it was; the message names the object. */
static void test_validation(store *st) {
    uint64_t gen = applied_gen(st) + 1;
    req_buf b;
    mvm_error err;
#define REFUSED(code, text)                                                   \
    do {                                                                      \
        CHECK_REFUSED(st, code, apply(st, &b, NULL, err_));                   \
        CHECK_EQ_INT(apply(st, &b, NULL, &err), code);                        \
        if (!strstr(err.msg, text)) {                                         \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n", __FILE__,         \
                    __LINE__, err.msg, text);                                 \
        }                                                                     \
    } while (0)
    /* duplicates */
    rb_current(&b, gen);
    rb_tenant(&b, "acme", 1, "10.240.1.0/24");
    REFUSED(MVM_INVALID_ARGUMENT, "tenants[2] (acme) is listed twice (also tenants[0])");
    rb_current(&b, gen);
    rb_pool(&b, "acme", "api");
    REFUSED(MVM_INVALID_ARGUMENT, "pools[3] (acme/api) is listed twice (also pools[1])");
    /* a pool of a tenant neither listed nor stored */
    rb_current(&b, gen);
    rb_pool(&b, "ghost", "web");
    REFUSED(MVM_INVALID_ARGUMENT, "pools[3] (ghost/web): tenant ghost is neither listed nor");
    /* with prune, of a stored tenant that is not listed */
    rb_init(&b, gen);
    rb_tenant(&b, "acme", 1, "10.240.1.0/24");
    rb_pool(&b, "beta", "db");
    b.req.prune = true;
    REFUSED(MVM_INVALID_ARGUMENT, "pools[0] (beta/db): tenant beta is not listed");
    /* immutable fields */
    rb_current(&b, gen);
    b.t[1].net_id = 9;
    REFUSED(MVM_INVALID_ARGUMENT, "tenants[1] (beta): net_id 9 differs from the stored 2");
    rb_current(&b, gen);
    b.t[0].subnet = "10.240.9.0/24";
    REFUSED(MVM_INVALID_ARGUMENT, "tenants[0] (acme): subnet 10.240.9.0/24 differs");
    /* CreatePool's and CreateTenant's rules */
    rb_current(&b, gen);
    b.p[2].desired_warm = 5;
    b.p[2].desired_instances = 3;
    REFUSED(MVM_INVALID_ARGUMENT,
            "pools[2] (beta/db): pool desired_warm 5 is more than desired_instances 3");
    rb_current(&b, gen);
    Mvm__V1__Pool__LabelsEntry pl = MVM__V1__POOL__LABELS_ENTRY__INIT, *plp = &pl;
    pl.key = "-bad";
    pl.value = "x";
    b.p[1].labels = &plp;
    b.p[1].n_labels = 1;
    REFUSED(MVM_INVALID_ARGUMENT, "pools[1] (acme/api): ");
    rb_current(&b, gen);
    Mvm__V1__Tenant__LabelsEntry tl = MVM__V1__TENANT__LABELS_ENTRY__INIT, *tlp = &tl;
    tl.key = "ok";
    tl.value = "a,b";
    b.t[0].labels = &tlp;
    b.t[0].n_labels = 1;
    REFUSED(MVM_INVALID_ARGUMENT, "tenants[0] (acme): ");
    rb_current(&b, gen);
    b.t[1].net_id = 5000;
    REFUSED(MVM_INVALID_ARGUMENT, "tenants[1] (beta): net_id 5000 is out of range");
    rb_current(&b, gen);
    b.p[0].vcpus = 0;
    REFUSED(MVM_INVALID_ARGUMENT, "pools[0] (acme/web): ");
    rb_current(&b, gen);
    b.p[0].name = "Web";
    REFUSED(MVM_INVALID_ARGUMENT, "pools[0]: ");
    rb_current(&b, gen);
    b.pp[1] = NULL;
    REFUSED(MVM_INVALID_ARGUMENT, "pools[1]: the pool is empty");
    /* refusals under the lock, after earlier objects were written in the
     * transaction: a new tenant, then a taken net_id */
    rb_current(&b, gen);
    rb_tenant(&b, "delta", 4, "10.240.4.0/24");
    rb_tenant(&b, "eps", 2, "10.240.5.0/24");
    REFUSED(MVM_ALREADY_EXISTS, "tenants[3] (eps): net_id 2 is taken by tenant beta");
    rb_current(&b, gen);
    rb_tenant(&b, "delta", 4, "10.240.2.0/24");
    REFUSED(MVM_ALREADY_EXISTS, "tenants[2] (delta): subnet 10.240.2.0/24 overlaps");
    /* max_pools reached by the pools the request creates */
    rb_current(&b, gen);
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_pools = 3;
    b.t[0].quota = &q;
    rb_pool(&b, "acme", "x1");
    rb_pool(&b, "acme", "x2");
    REFUSED(MVM_RESOURCE_EXHAUSTED, "pools[4] (acme/x2): tenant acme quota max_pools is 3");
#undef REFUSED
    CHECK_EQ_INT(applied_gen(st), gen - 1);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "delta", NULL, &t, &err), MVM_NOT_FOUND);
}

static void test_managed(store *st) {
    mvm_error err;
    store_actor node = {.identity = "mvmd", .method = "mvmd/reconcile", .node_managed = true};
    Mvm__V1__CreateInstanceRequest cr = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    cr.tenant = "acme";
    cr.pool = "web";
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_create(st, &node, &cr, NULL, &i, &err), MVM_OK);
    CHECK(i && i->managed);
    char id[19] = "";
    if (i) {
        snprintf(id, sizeof id, "%s", i->id);
        mvm__v1__instance__free_unpacked(i, NULL);
    }
    /* kept by later writes, whoever makes them */
    CHECK_EQ_INT(store_instance_set_state(st, &test_who, "acme", id, INST_STATE(CREATED),
                                          INST_STATE(RUNNING), 7, NULL, NULL, &i, &err),
                 MVM_OK);
    CHECK(i && i->managed && i->state == INST_STATE(RUNNING));
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    store_instance_change ch = {.set_state = true, .state = INST_STATE(WARM)};
    CHECK_EQ_INT(store_instance_change_apply(st, &test_who, "acme", id, &ch, NULL, NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(store_instance_get(st, "acme", id, NULL, &i, &err), MVM_OK);
    CHECK(i && i->managed && i->state == INST_STATE(WARM) && !i->last_activity_time);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    /* a caller's instance is not managed, even if the node writes it later */
    char mine[19] = "";
    CHECK_EQ_INT(mk_inst(st, "acme", "web", mine, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_set_state(st, &node, "acme", mine, INST_STATE(CREATED),
                                          INST_STATE(RUNNING), 8, NULL, NULL, &i, &err),
                 MVM_OK);
    CHECK(i && !i->managed);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    /* a clone made by the node is managed */
    Mvm__V1__Snapshot s = MVM__V1__SNAPSHOT__INIT;
    s.tenant = "acme";
    s.pool = "web";
    s.id = "s-00000000000000c2";
    s.kind = MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_FORK;
    s.source_instance = (char *)mine;
    s.vcpus = 2;
    s.mem_mib = 512;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_create_clone(st, &node, &cr, "s-00000000000000c2", NULL, &i,
                                             &err),
                 MVM_OK);
    CHECK(i && i->managed);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &cr, "s-00000000000000c2", NULL,
                                             &i, &err),
                 MVM_OK);
    CHECK(i && !i->managed);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
}

/* 1000 pools over 10 tenants in one Apply, a replay, then half pruned. */
static void test_many(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    enum { TENANTS = 10, PER = 100 };
    static char tname[TENANTS][16], subnet[TENANTS][24], pname[TENANTS * PER][16];
    Mvm__V1__ApplyRequest req = MVM__V1__APPLY_REQUEST__INIT;
    static Mvm__V1__Tenant t[TENANTS];
    static Mvm__V1__Tenant *tp[TENANTS];
    static Mvm__V1__Pool p[TENANTS * PER];
    static Mvm__V1__Pool *pp[TENANTS * PER];
    for (int i = 0; i < TENANTS; i++) {
        snprintf(tname[i], sizeof tname[i], "t%d", i);
        snprintf(subnet[i], sizeof subnet[i], "10.240.%d.0/24", 10 + i);
        mvm__v1__tenant__init(&t[i]);
        t[i].name = tname[i];
        t[i].net_id = (uint32_t)(10 + i);
        t[i].subnet = subnet[i];
        tp[i] = &t[i];
    }
    for (int i = 0; i < TENANTS * PER; i++) {
        snprintf(pname[i], sizeof pname[i], "p%d", i);
        pool_init(&p[i], tname[i % TENANTS], pname[i]);
        p[i].desired_instances = (uint32_t)(i % 4);
        pp[i] = &p[i];
    }
    req.generation = 1;
    req.tenants = tp;
    req.n_tenants = TENANTS;
    req.pools = pp;
    req.n_pools = TENANTS * PER;
    req.prune = true;
    Mvm__V1__ApplyResponse *r = NULL;
    mvm_error err;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->changed && r->n_changes == TENANTS + TENANTS * PER);
    resp_free(r);
    store_counts n;
    CHECK_EQ_INT(store_count(st, &n, &err), MVM_OK);
    CHECK_EQ_INT(n.pools, TENANTS * PER);
    CHECK_EQ_INT(n.tenants, TENANTS);
    uint64_t rev = test_rev(st);
    r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && !r->changed);
    resp_free(r);
    CHECK_EQ_INT(test_rev(st), rev);
    req.generation = 2;
    req.n_pools = TENANTS * PER / 2;
    r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->changed && r->n_changes == TENANTS + TENANTS * PER);
    size_t deleting = 0;
    for (size_t i = 0; r && i < r->n_changes; i++)
        deleting += r->changes[i]->action == ACT(DELETING);
    CHECK_EQ_INT(deleting, TENANTS * PER / 2);
    resp_free(r);
    CHECK(pool_deleting(st, "t9", "p999"));
    CHECK(!pool_deleting(st, "t0", "p0"));
    store_close(st);
    test_rmdir(dir);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    test_create_from_empty(st);
    test_replay_and_generations(st);
    test_updates(st);
    test_image_change_retires_base(st);
    test_prune(st);
    test_dry_run(st);
    test_validation(st);
    test_managed(st);
    /* the applied generation survives a reopen */
    uint64_t gen = applied_gen(st);
    int64_t us = 0, us2 = 0;
    uint64_t g2 = 0;
    mvm_error err;
    CHECK_EQ_INT(store_apply_state(st, &gen, &us, &err), MVM_OK);
    store_close(st);
    st = test_open(dir);
    CHECK_EQ_INT(store_apply_state(st, &g2, &us2, &err), MVM_OK);
    CHECK(gen >= 10);
    CHECK_EQ_INT(g2, gen);
    CHECK_EQ_INT(us2, us);
    store_close(st);
    store_report rep;
    CHECK_EQ_INT(store_check(dir, &rep, &err), MVM_OK);
    test_rmdir(dir);
    test_many();
    return check_done();
}
