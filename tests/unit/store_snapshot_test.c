/* store_snapshot_test.c - snapshots and pools' base snapshots in storage/:
 * recording a snapshot (every refusal, node-unique ids, output fields set
 * by the store), get / list (tenant and pool filters, paging) / foreach,
 * retire (idempotent, first reason kept, a pool's base cleared with it) and
 * delete (retired only); a base snapshot's life (begin, begin again, fail,
 * stale build ids, the build's snapshot replacing and retiring the previous
 * one, TTL, clear with and without the janitor's guard); UpdatePool
 * retiring the base and starting a build when the machine or its images
 * change (each such field), leaving it alone otherwise; DeletePool
 * retiring its snapshots; clones (the snapshot's size against the quotas,
 * refused for a retired snapshot or another pool's); an older store without
 * the snapshots db opened, checked and used; store_check counting and
 * unpacking snapshot records; every write audited. Each refusal must
 * change nothing (the fingerprint includes the snapshots). */
#include <lmdb.h>

#include "check.h"
#include "store_testlib.c"

#define BASE_STATE(x) MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_##x
#define SNAP_STATE(x) MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_##x
#define KIND(x) MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_##x
#define SRC_INST "i-00000000000000aa"
#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void snap_init(Mvm__V1__Snapshot *s, const char *tenant, const char *pool,
                      const char *id, Mvm__V1__SnapshotKind kind) {
    mvm__v1__snapshot__init(s);
    s->tenant = (char *)tenant;
    s->pool = (char *)pool;
    s->id = (char *)id;
    s->kind = kind;
    s->vcpus = 2;
    s->mem_mib = 512;
    s->kernel_image = TEST_KERNEL;
    s->rootfs_image = TEST_ROOTFS;
    s->firecracker_version = "1.7.0";
    s->snapshot_version = "4.0.0";
    s->mem_bytes = 512u << 20;
    s->state_bytes = 12345;
    s->disk_bytes = 1u << 30;
    s->state_sha256 = SHA;
    if (kind == KIND(FORK))
        s->source_instance = SRC_INST;
}

static mvm_code mk_snap(store *st, const char *tenant, const char *pool, const char *id,
                        Mvm__V1__SnapshotKind kind, const char *base_of_build, mvm_error *err) {
    Mvm__V1__Snapshot s;
    snap_init(&s, tenant, pool, id, kind);
    return store_snapshot_create(st, &test_who, &s, base_of_build, NULL, NULL, err);
}

/* The stored snapshot (NULL, and a failed check, if absent). */
static Mvm__V1__Snapshot *snap_of(store *st, const char *tenant, const char *id) {
    Mvm__V1__Snapshot *s = NULL;
    mvm_error err;
    CHECK_EQ_INT(store_snapshot_get(st, tenant, id, NULL, &s, &err), MVM_OK);
    return s;
}

static bool empty(const char *s) {
    return !s || !*s;
}

/* The pool's base: state, snapshot_id, build_id (0 if the pool is gone). */
static int base_is(store *st, const char *tenant, const char *name,
                   Mvm__V1__BaseSnapshotState state, const char *snapshot_id,
                   const char *build_id) {
    Mvm__V1__Pool *p = pool_of(st, tenant, name);
    if (!p)
        return 0;
    const Mvm__V1__BaseSnapshot *b = p->base_snapshot;
    int ok = b && b->state == state &&
             strcmp(empty(b->snapshot_id) ? "" : b->snapshot_id, snapshot_id) == 0 &&
             strcmp(empty(b->build_id) ? "" : b->build_id, build_id) == 0;
    if (!ok)
        fprintf(stderr, "  base of %s/%s: state %d snapshot \"%s\" build \"%s\"\n", tenant, name,
                b ? (int)b->state : -1, b && b->snapshot_id ? b->snapshot_id : "",
                b && b->build_id ? b->build_id : "");
    mvm__v1__pool__free_unpacked(p, NULL);
    return ok;
}

/* The snapshot's state and retire reason ("" for none). */
static int snap_is(store *st, const char *tenant, const char *id,
                   Mvm__V1__SnapshotState state, const char *reason) {
    Mvm__V1__Snapshot *s = snap_of(st, tenant, id);
    if (!s)
        return 0;
    int ok = s->state == state &&
             strcmp(empty(s->retire_reason) ? "" : s->retire_reason, reason) == 0 &&
             (state == SNAP_STATE(RETIRED)) == (s->retire_time != NULL);
    if (!ok)
        fprintf(stderr, "  snapshot %s: state %d reason \"%s\"\n", id, (int)s->state,
                s->retire_reason ? s->retire_reason : "");
    mvm__v1__snapshot__free_unpacked(s, NULL);
    return ok;
}

static void update_one(store *st, const char *tenant, const char *name, const char *field,
                       const Mvm__V1__Pool *in, Mvm__V1__Pool **out, mvm_error *err) {
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *path[] = {(char *)field};
    m.paths = path;
    m.n_paths = 1;
    Mvm__V1__Pool p = *in;
    p.tenant = (char *)tenant;
    p.name = (char *)name;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &p, &m, NULL, out, err), MVM_OK);
}

/* ---- recording, reading, listing ---- */

static void test_create_refusals(store *st) {
    mvm_error err;
    Mvm__V1__Snapshot s;
#define BAD(code, field, value)                                               \
    do {                                                                      \
        snap_init(&s, "acme", "web", "s-0000000000000bad", KIND(FORK));       \
        s.field = value;                                                      \
        CHECK_REFUSED(st, code,                                               \
                      store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, err_)); \
    } while (0)
    BAD(MVM_INVALID_ARGUMENT, tenant, "");
    BAD(MVM_INVALID_ARGUMENT, tenant, "Acme");
    BAD(MVM_INVALID_ARGUMENT, pool, NULL);
    BAD(MVM_INVALID_ARGUMENT, pool, "web_1");
    BAD(MVM_INVALID_ARGUMENT, id, "");
    BAD(MVM_INVALID_ARGUMENT, id, "s-0000000000000BAD"); /* uppercase */
    BAD(MVM_INVALID_ARGUMENT, id, "i-0000000000000bad"); /* an instance id */
    BAD(MVM_INVALID_ARGUMENT, id, "s-0000000000000ba");  /* 15 digits */
    BAD(MVM_INVALID_ARGUMENT, id, "s-0000000000000badd");
    BAD(MVM_INVALID_ARGUMENT, kind, KIND(UNSPECIFIED));
    BAD(MVM_INVALID_ARGUMENT, kind, (Mvm__V1__SnapshotKind)9);
    BAD(MVM_INVALID_ARGUMENT, source_instance, "");      /* a fork needs its source */
    BAD(MVM_INVALID_ARGUMENT, source_instance, "i-xyz");
    BAD(MVM_INVALID_ARGUMENT, parent_id, "s-1");
    BAD(MVM_INVALID_ARGUMENT, vcpus, 0);
    BAD(MVM_INVALID_ARGUMENT, vcpus, 33);
    BAD(MVM_INVALID_ARGUMENT, mem_mib, 64);
    BAD(MVM_INVALID_ARGUMENT, kernel_image, "/k\xc0\xaf");
    BAD(MVM_INVALID_ARGUMENT, firecracker_version, "1.7\xff");
    BAD(MVM_NOT_FOUND, pool, "ghost");
    BAD(MVM_NOT_FOUND, tenant, "ghost");
#undef BAD
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_create(st, &test_who, NULL, NULL, NULL, NULL, err_));
    /* the messages say what to fix */
    snap_init(&s, "acme", "web", "s-0000000000000BAD", KIND(FORK));
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "s-0000000000000BAD") && strstr(err.msg, "lowercase hex"));
    snap_init(&s, "acme", "ghost", "s-0000000000000bad", KIND(FORK));
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, &err), MVM_NOT_FOUND);
    CHECK(strstr(err.msg, "pool acme/ghost not found") != NULL);
    snap_init(&s, "acme", "web", "s-0000000000000bad", KIND(FORK));
    s.source_instance = NULL;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "source_instance is required") != NULL);
    /* base_of_build: well formed, of a BASE snapshot, of a build under way */
    snap_init(&s, "acme", "web", "s-0000000000000bad", KIND(BASE));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_create(st, &test_who, &s, "s-nope", NULL, NULL, err_));
    snap_init(&s, "acme", "web", "s-0000000000000bad", KIND(FORK));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_create(st, &test_who, &s, "s-0000000000000bad", NULL, NULL,
                                        err_));
    snap_init(&s, "acme", "web", "s-0000000000000bad", KIND(BASE));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_snapshot_create(st, &test_who, &s, "s-0000000000000bad", NULL, NULL,
                                        err_));
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, "s-0000000000000bad", NULL, NULL,
                                       &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "not building") && strstr(err.msg, "NONE"));
}

static void test_create_get(store *st) {
    mvm_error err;
    Mvm__V1__Snapshot s, *out = NULL;
    snap_init(&s, "acme", "web", "s-00000000000000f1", KIND(FORK));
    /* output fields in the request are the store's to set */
    Google__Protobuf__Timestamp past = GOOGLE__PROTOBUF__TIMESTAMP__INIT, exp = past;
    past.seconds = 1000;
    exp.seconds = 4000000000;
    s.state = SNAP_STATE(RETIRED);
    s.create_time = &past;
    s.retire_time = &past;
    s.retire_reason = "made up";
    s.clones = 7;
    s.allocated_bytes = 99;
    s.expire_time = &exp; /* a fork's own TTL is the caller's */
    s.parent_id = "s-00000000000000e0";
    uint64_t rev = test_rev(st);
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, NULL, NULL, &out, &err), MVM_OK);
    CHECK_EQ_INT(test_rev(st), rev + 1);
    if (out) {
        CHECK_EQ_INT(out->state, SNAP_STATE(READY));
        CHECK(out->create_time && out->create_time->seconds > 1000);
        CHECK(out->retire_time == NULL && empty(out->retire_reason));
        CHECK_EQ_INT(out->clones, 0);
        CHECK_EQ_INT(out->allocated_bytes, 0);
        CHECK(out->expire_time && out->expire_time->seconds == 4000000000);
        CHECK_EQ_STR(out->source_instance, SRC_INST);
        CHECK_EQ_STR(out->parent_id, "s-00000000000000e0");
        CHECK_EQ_STR(out->state_sha256, SHA);
        CHECK_EQ_INT(out->kind, KIND(FORK));
        Mvm__V1__Snapshot *got = snap_of(st, "acme", "s-00000000000000f1");
        CHECK(got && protobuf_c_message_get_packed_size(&got->base) ==
                         protobuf_c_message_get_packed_size(&out->base));
        if (got)
            mvm__v1__snapshot__free_unpacked(got, NULL);
        mvm__v1__snapshot__free_unpacked(out, NULL);
    }
    /* the pool's base is not touched by a fork */
    CHECK(base_is(st, "acme", "web", BASE_STATE(NONE), "", ""));
    /* ids are unique on the node: in this tenant and in another */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS,
                  mk_snap(st, "acme", "web", "s-00000000000000f1", KIND(FORK), NULL, err_));
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS,
                  mk_snap(st, "other", "web", "s-00000000000000f1", KIND(FORK), NULL, err_));
    CHECK_EQ_INT(mk_snap(st, "other", "web", "s-00000000000000f1", KIND(FORK), NULL, &err),
                 MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "s-00000000000000f1") && strstr(err.msg, "taken"));
    /* get: refusals */
    Mvm__V1__Snapshot *g = NULL;
    CHECK_EQ_INT(store_snapshot_get(st, "other", "s-00000000000000f1", NULL, &g, &err),
                 MVM_NOT_FOUND); /* another tenant's */
    CHECK(g == NULL && strstr(err.msg, "other/s-00000000000000f1 not found"));
    CHECK_EQ_INT(store_snapshot_get(st, "acme", "s-00000000000000f9", NULL, &g, &err),
                 MVM_NOT_FOUND);
    CHECK_EQ_INT(store_snapshot_get(st, "acme", "S-00000000000000f1", NULL, &g, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_snapshot_get(st, "acme", NULL, NULL, &g, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_snapshot_get(st, "", "s-00000000000000f1", NULL, &g, &err),
                 MVM_INVALID_ARGUMENT);
}

static size_t list_count(store *st, const char *tenant, const char *pool, uint32_t page,
                         int *pages, mvm_code *code) {
    store_list_opts o = {.tenant = tenant, .pool = pool, .page_size = page,
                         .label_selector = "no-such-label=x"}; /* not used */
    size_t total = 0;
    char tok[600] = "";
    *pages = 0;
    *code = MVM_OK;
    mvm_error err;
    do {
        Mvm__V1__ListSnapshotsResponse *r = NULL;
        o.page_token = tok;
        if ((*code = store_snapshot_list(st, &o, NULL, &r, &err)) != MVM_OK)
            return total;
        (*pages)++;
        total += r->n_snapshots;
        for (size_t i = 1; i < r->n_snapshots; i++) /* (tenant, id) order */
            CHECK(strcmp(r->snapshots[i - 1]->tenant, r->snapshots[i]->tenant) < 0 ||
                  strcmp(r->snapshots[i - 1]->id, r->snapshots[i]->id) < 0);
        for (size_t i = 0; i < r->n_snapshots; i++) {
            CHECK(empty(tenant) || strcmp(r->snapshots[i]->tenant, tenant) == 0);
            CHECK(empty(pool) || strcmp(r->snapshots[i]->pool, pool) == 0);
        }
        snprintf(tok, sizeof tok, "%s", r->next_page_token ? r->next_page_token : "");
        mvm__v1__list_snapshots_response__free_unpacked(r, NULL);
    } while (tok[0] && *pages < 20);
    return total;
}

static void test_list_foreach(store *st) {
    mvm_error err;
    /* acme/web: f1 (made above), f2, f3; acme/api: f4; other/web: f5 */
    CHECK_EQ_INT(mk_snap(st, "acme", "web", "s-00000000000000f2", KIND(FORK), NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "acme", "web", "s-00000000000000f3", KIND(FORK), NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "acme", "api", "s-00000000000000f4", KIND(FORK), NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "other", "web", "s-00000000000000f5", KIND(FORK), NULL, &err),
                 MVM_OK);
    int pages;
    mvm_code c;
    CHECK_EQ_INT(list_count(st, NULL, NULL, 0, &pages, &c), 5);
    CHECK_EQ_INT(pages, 1);
    CHECK_EQ_INT(list_count(st, "acme", NULL, 0, &pages, &c), 4);
    CHECK_EQ_INT(list_count(st, "acme", "web", 0, &pages, &c), 3);
    CHECK_EQ_INT(list_count(st, "acme", "api", 0, &pages, &c), 1);
    CHECK_EQ_INT(list_count(st, NULL, "web", 0, &pages, &c), 4); /* pool web of every tenant */
    CHECK_EQ_INT(list_count(st, "other", NULL, 0, &pages, &c), 1);
    CHECK_EQ_INT(list_count(st, "ghost", NULL, 0, &pages, &c), 0);
    CHECK_EQ_INT(c, MVM_OK);
    /* paging: 5 snapshots, 2 a page */
    CHECK_EQ_INT(list_count(st, NULL, NULL, 2, &pages, &c), 5);
    CHECK_EQ_INT(pages, 3);
    CHECK_EQ_INT(list_count(st, "acme", "web", 1, &pages, &c), 3);
    CHECK(pages >= 3);
    list_count(st, "Acme", NULL, 0, &pages, &c);
    CHECK_EQ_INT(c, MVM_INVALID_ARGUMENT);
    list_count(st, "acme", "Web", 0, &pages, &c);
    CHECK_EQ_INT(c, MVM_INVALID_ARGUMENT);
    store_list_opts bad = {.tenant = "acme", .page_token = "k00zz"};
    Mvm__V1__ListSnapshotsResponse *r = NULL;
    CHECK_EQ_INT(store_snapshot_list(st, &bad, NULL, &r, &err), MVM_INVALID_ARGUMENT);
    CHECK(r == NULL);
}

typedef struct {
    int n, stop_after;
    char tenants[8][64];
} walk_log;

static bool log_snap(void *arg, const Mvm__V1__Snapshot *s) {
    walk_log *l = arg;
    if (l->n < 8)
        snprintf(l->tenants[l->n], sizeof l->tenants[0], "%s", s->tenant);
    return ++l->n != l->stop_after;
}

static bool log_pool(void *arg, const Mvm__V1__Pool *p) {
    walk_log *l = arg;
    if (l->n < 8)
        snprintf(l->tenants[l->n], sizeof l->tenants[0], "%s/%s", p->tenant, p->name);
    return ++l->n != l->stop_after;
}

static void test_foreach(store *st) {
    mvm_error err;
    walk_log l = {0};
    CHECK_EQ_INT(store_snapshot_foreach(st, NULL, log_snap, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 5);
    CHECK_EQ_STR(l.tenants[0], "acme");
    CHECK_EQ_STR(l.tenants[4], "other");
    memset(&l, 0, sizeof l);
    CHECK_EQ_INT(store_snapshot_foreach(st, "other", log_snap, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 1);
    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    CHECK_EQ_INT(store_snapshot_foreach(st, "", log_snap, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(store_snapshot_foreach(st, "Bad!", log_snap, &l, &err), MVM_INVALID_ARGUMENT);
    memset(&l, 0, sizeof l);
    CHECK_EQ_INT(store_pool_foreach(st, log_pool, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 3); /* acme/api, acme/web, other/web */
    CHECK_EQ_STR(l.tenants[0], "acme/api");
    CHECK_EQ_STR(l.tenants[2], "other/web");
    memset(&l, 0, sizeof l);
    l.stop_after = 1;
    CHECK_EQ_INT(store_pool_foreach(st, log_pool, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 1);
}

/* ---- retire and delete ---- */

static void test_retire_delete(store *st) {
    mvm_error err;
    const char *id = "s-00000000000000f2";
    static char huge[STORE_MESSAGE_MAX + 2];
    memset(huge, 'r', STORE_MESSAGE_MAX + 1);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_snapshot_retire(st, &test_who, "acme", id, "", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_retire(st, &test_who, "acme", id, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_retire(st, &test_who, "acme", id, "bad \xff", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_retire(st, &test_who, "acme", id, huge, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_retire(st, &test_who, "acme", "s-x", "why", err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_snapshot_retire(st, &test_who, "acme", "s-00000000000000ff", "why", err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_snapshot_retire(st, &test_who, "other", id, "why", err_));
    /* READY: not deletable */
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, store_snapshot_delete(st, &test_who, "acme", id, err_));
    CHECK_EQ_INT(store_snapshot_delete(st, &test_who, "acme", id, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "READY") && strstr(err.msg, "retire it first"));
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "acme", id, "expired", &err), MVM_OK);
    CHECK(snap_is(st, "acme", id, SNAP_STATE(RETIRED), "expired"));
    Mvm__V1__Snapshot *first = snap_of(st, "acme", id);
    /* again, with another reason: the first reason and time stay */
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "acme", id, "deleted", &err), MVM_OK);
    CHECK(snap_is(st, "acme", id, SNAP_STATE(RETIRED), "expired"));
    Mvm__V1__Snapshot *again = snap_of(st, "acme", id);
    CHECK(first && again && first->retire_time && again->retire_time &&
          first->retire_time->seconds == again->retire_time->seconds &&
          first->retire_time->nanos == again->retire_time->nanos);
    if (first)
        mvm__v1__snapshot__free_unpacked(first, NULL);
    if (again)
        mvm__v1__snapshot__free_unpacked(again, NULL);
    /* the others are untouched */
    CHECK(snap_is(st, "acme", "s-00000000000000f3", SNAP_STATE(READY), ""));
    /* deleted once retired */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_snapshot_delete(st, &test_who, "acme", "s-00000000000000F2", err_));
    CHECK_EQ_INT(store_snapshot_delete(st, &test_who, "acme", id, &err), MVM_OK);
    Mvm__V1__Snapshot *gone = NULL;
    CHECK_EQ_INT(store_snapshot_get(st, "acme", id, NULL, &gone, &err), MVM_NOT_FOUND);
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_snapshot_delete(st, &test_who, "acme", id, err_));
    /* its id is free again */
    CHECK_EQ_INT(mk_snap(st, "other", "web", id, KIND(FORK), NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "other", id, "test", &err), MVM_OK);
    CHECK_EQ_INT(store_snapshot_delete(st, &test_who, "other", id, &err), MVM_OK);
}

/* ---- a pool's base snapshot ---- */

static void test_base_lifecycle(store *st) {
    mvm_error err;
    const char *b1 = "s-00000000000000b1", *b2 = "s-00000000000000b2",
               *b3 = "s-00000000000000b3", *b4 = "s-00000000000000b4",
               *b5 = "s-00000000000000b5";
    CHECK_EQ_INT(mk_pool(st, "acme", "base", &err), MVM_OK);
    bool started = true;
    Mvm__V1__Pool *p = NULL;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_begin(st, &test_who, "acme", "base", "b1", &started, NULL,
                                        NULL, err_));
    CHECK(!started);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_begin(st, &test_who, "acme", "Base", b1, NULL, NULL, NULL,
                                        err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_pool_base_begin(st, &test_who, "acme", "ghost", b1, NULL, NULL, NULL,
                                        err_));
    /* an id a snapshot already has is not a build id */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS,
                  store_pool_base_begin(st, &test_who, "acme", "base", "s-00000000000000f3",
                                        NULL, NULL, NULL, err_));
    Mvm__V1__Pool *before = pool_of(st, "acme", "base");
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b1, &started, NULL, &p,
                                       &err),
                 MVM_OK);
    CHECK(started);
    CHECK(p && p->base_snapshot && p->base_snapshot->state == BASE_STATE(BUILDING) &&
          strcmp(p->base_snapshot->build_id, b1) == 0 && empty(p->base_snapshot->message) &&
          p->base_snapshot->update_time && before &&
          p->resource_version > before->resource_version);
    uint64_t rv = p ? p->resource_version : 0;
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    if (before)
        mvm__v1__pool__free_unpacked(before, NULL);
    /* begun again: the build under way goes on, nothing changes */
    p = NULL;
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b2, &started, NULL, &p,
                                       &err),
                 MVM_OK);
    CHECK(!started);
    CHECK(p && strcmp(p->base_snapshot->build_id, b1) == 0 && p->resource_version == rv);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK(base_is(st, "acme", "base", BASE_STATE(BUILDING), "", b1));
    /* fail: refusals, a stale build id, then b1 */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_fail(st, &test_who, "acme", "base", b1, "", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_fail(st, &test_who, "acme", "base", b1, "tail \xfe", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_fail(st, &test_who, "acme", "base", NULL, "boom", err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_pool_base_fail(st, &test_who, "acme", "ghost", b1, "boom", err_));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_pool_base_fail(st, &test_who, "acme", "base", b2, "boom", err_));
    CHECK_EQ_INT(store_pool_base_fail(st, &test_who, "acme", "base", b2, "boom", &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, b2) && strstr(err.msg, "BUILDING s-00000000000000b1"));
    CHECK_EQ_INT(store_pool_base_fail(st, &test_who, "acme", "base", b1,
                                      "template not ready within 600 s; console: ...", &err),
                 MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(FAILED), "", ""));
    p = pool_of(st, "acme", "base");
    CHECK(p && strstr(p->base_snapshot->message, "not ready within 600 s"));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_pool_base_fail(st, &test_who, "acme", "base", b1, "again", err_));
    /* a build that ends after it failed cannot become the base */
    Mvm__V1__Snapshot s;
    snap_init(&s, "acme", "base", b1, KIND(BASE));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_snapshot_create(st, &test_who, &s, b1, NULL, NULL, err_));

    /* b3: begun from FAILED (message cleared), ends READY; no TTL */
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b3, &started, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK(started);
    p = pool_of(st, "acme", "base");
    CHECK(p && empty(p->base_snapshot->message));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    snap_init(&s, "acme", "base", b3, KIND(BASE));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_snapshot_create(st, &test_who, &s, b2, NULL, NULL, err_));
    snap_init(&s, "acme", "web", b3, KIND(BASE)); /* web is building nothing */
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_snapshot_create(st, &test_who, &s, b3, NULL, NULL, err_));
    snap_init(&s, "acme", "base", b3, KIND(BASE));
    s.ready_ms = 1234;
    Mvm__V1__Snapshot *made = NULL;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, b3, NULL, &made, &err), MVM_OK);
    CHECK(made && made->state == SNAP_STATE(READY) && made->expire_time == NULL &&
          made->ready_ms == 1234);
    if (made)
        mvm__v1__snapshot__free_unpacked(made, NULL);
    CHECK(base_is(st, "acme", "base", BASE_STATE(READY), b3, ""));
    p = pool_of(st, "acme", "base");
    CHECK(p && p->base_snapshot->expire_time == NULL && empty(p->base_snapshot->message));
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);

    /* a TTL (not an image change: the base stays) */
    Mvm__V1__Pool in;
    pool_init(&in, "acme", "base");
    in.base_snapshot_ttl_seconds = 3600;
    update_one(st, "acme", "base", "base_snapshot_ttl_seconds", &in, NULL, &err);
    CHECK(base_is(st, "acme", "base", BASE_STATE(READY), b3, ""));
    /* b4: begun from READY (b3 kept for clones meanwhile), taken ids refused */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS,
                  store_pool_base_begin(st, &test_who, "acme", "base", b3, NULL, NULL, NULL,
                                        err_));
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b4, &started, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK(started);
    CHECK(base_is(st, "acme", "base", BASE_STATE(BUILDING), b3, b4));
    CHECK(snap_is(st, "acme", b3, SNAP_STATE(READY), ""));
    snap_init(&s, "acme", "base", b4, KIND(BASE));
    made = NULL;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, b4, NULL, &made, &err), MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(READY), b4, ""));
    CHECK(snap_is(st, "acme", b3, SNAP_STATE(RETIRED), "replaced by s-00000000000000b4"));
    p = pool_of(st, "acme", "base");
    CHECK(made && made->create_time && made->expire_time && p &&
          p->base_snapshot->expire_time &&
          made->expire_time->seconds == made->create_time->seconds + 3600 &&
          made->expire_time->nanos == made->create_time->nanos &&
          p->base_snapshot->expire_time->seconds == made->expire_time->seconds &&
          p->base_snapshot->expire_time->nanos == made->expire_time->nanos);
    if (made)
        mvm__v1__snapshot__free_unpacked(made, NULL);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);

    /* clear: the janitor's guard, then the TTL expiry it guards */
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_pool_base_clear(st, &test_who, "acme", "base", b3, "expired", NULL, NULL,
                                        err_));
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "base", b3, "expired", NULL, NULL,
                                       &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, b4) && strstr(err.msg, b3));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_clear(st, &test_who, "acme", "base", "s-b4", "expired", NULL,
                                        NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_base_clear(st, &test_who, "acme", "base", b4, "", NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_pool_base_clear(st, &test_who, "acme", "ghost", NULL, "x", NULL, NULL,
                                        err_));
    p = NULL;
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "base", b4,
                                       "its time-to-live ran out", NULL, &p, &err),
                 MVM_OK);
    CHECK(p && p->base_snapshot->state == BASE_STATE(NONE) &&
          empty(p->base_snapshot->snapshot_id) && empty(p->base_snapshot->build_id) &&
          p->base_snapshot->expire_time == NULL &&
          strcmp(p->base_snapshot->message, "its time-to-live ran out") == 0);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK(snap_is(st, "acme", b4, SNAP_STATE(RETIRED), "its time-to-live ran out"));
    /* clearing a pool that has none is fine; the guard still applies */
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "base", NULL, "deleted", NULL,
                                       NULL, &err),
                 MVM_OK);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_pool_base_clear(st, &test_who, "acme", "base", b4, "x", NULL, NULL,
                                        err_));

    /* clear cancels a build: its snapshot can no longer become the base */
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b5, &started, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "base", NULL, "cancelled", NULL,
                                       NULL, &err),
                 MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(NONE), "", ""));
    snap_init(&s, "acme", "base", b5, KIND(BASE));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_snapshot_create(st, &test_who, &s, b5, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_pool_base_fail(st, &test_who, "acme", "base", b5, "late", err_));

    /* retiring the pool's base snapshot itself clears the base */
    const char *b6 = "s-00000000000000b6";
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b6, NULL, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "acme", "base", b6, KIND(BASE), b6, &err), MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(READY), b6, ""));
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "acme", b6, "deleted by the operator",
                                       &err),
                 MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(NONE), "", ""));
    CHECK(snap_is(st, "acme", b6, SNAP_STATE(RETIRED), "deleted by the operator"));
    p = pool_of(st, "acme", "base");
    CHECK(p && strcmp(p->base_snapshot->message, "deleted by the operator") == 0);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    /* a fork of the pool retired: the base is not touched */
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "base", b2, NULL, NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "acme", "base", "s-00000000000000c1", KIND(FORK), NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "acme", "s-00000000000000c1", "unused",
                                       &err),
                 MVM_OK);
    CHECK(base_is(st, "acme", "base", BASE_STATE(BUILDING), "", b2));
}

/* Makes tenant/name's base READY with snapshot id (a build of id). */
static void make_ready(store *st, const char *tenant, const char *name, const char *id) {
    mvm_error err;
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, tenant, name, NULL, "reset", NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, tenant, name, id, NULL, NULL, NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, tenant, name, id, KIND(BASE), id, &err), MVM_OK);
    CHECK(base_is(st, tenant, name, BASE_STATE(READY), id, ""));
}

static void test_update_images(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_pool(st, "acme", "img", &err), MVM_OK);
    /* each machine or image field: the base is retired, a build begins */
    Mvm__V1__Pool in;
    const char *names[] = {"vcpus",        "mem_mib",      "disk_mib", "kernel_image",
                           "rootfs_image", "initrd_image", "boot_args"};
    for (int i = 0; i < 7; i++) {
        char id[19];
        snprintf(id, sizeof id, "s-00000000000001%02x", i);
        make_ready(st, "acme", "img", id);
        pool_init(&in, "acme", "img");
        switch (i) {
        case 0: in.vcpus = 3 + i; break;
        case 1: in.mem_mib = 1024; break;
        case 2: in.disk_mib = 2048; break;
        case 3: in.kernel_image = "/var/lib/mvm/images/vmlinux-2"; break;
        case 4: in.rootfs_image = "/var/lib/mvm/images/rootfs-2.ext4"; break;
        case 5: in.initrd_image = "/var/lib/mvm/images/initrd"; break;
        default: in.boot_args = "console=ttyS0 quiet"; break;
        }
        Mvm__V1__Pool *out = NULL;
        update_one(st, "acme", "img", names[i], &in, &out, &err);
        CHECK(snap_is(st, "acme", id, SNAP_STATE(RETIRED), "the pool's images changed"));
        CHECK(out && out->base_snapshot && out->base_snapshot->state == BASE_STATE(BUILDING) &&
              empty(out->base_snapshot->snapshot_id) && out->base_snapshot->expire_time == NULL &&
              out->base_snapshot->build_id && strlen(out->base_snapshot->build_id) == 18 &&
              strncmp(out->base_snapshot->build_id, "s-", 2) == 0 &&
              strcmp(out->base_snapshot->build_id, id) != 0 &&
              strcmp(out->base_snapshot->message, "the pool's images changed") == 0);
        if (!out || !out->base_snapshot || out->base_snapshot->state != BASE_STATE(BUILDING))
            fprintf(stderr, "  field %s\n", names[i]);
        /* the new build ends as any other */
        if (out && out->base_snapshot && out->base_snapshot->build_id) {
            char build[32];
            snprintf(build, sizeof build, "%s", out->base_snapshot->build_id);
            CHECK_EQ_INT(mk_snap(st, "acme", "img", build, KIND(BASE), build, &err), MVM_OK);
            CHECK(base_is(st, "acme", "img", BASE_STATE(READY), build, ""));
        }
        if (out)
            mvm__v1__pool__free_unpacked(out, NULL);
    }
}

static void test_update_other_fields(store *st) {
    mvm_error err;
    const char *id = "s-0000000000000201";
    make_ready(st, "acme", "img", id);
    /* fields that are not the machine nor its images leave the base alone */
    Mvm__V1__Pool in;
    pool_init(&in, "acme", "img");
    in.desired_instances = 4;
    in.desired_warm = 1;
    in.ready_pattern = "login:";
    in.ready_delay_seconds = 3;
    in.ready_timeout_seconds = 60;
    in.base_snapshot_ttl_seconds = 99;
    in.memory_backend = MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD;
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"desired_instances", "desired_warm",         "ready_pattern",
                     "ready_delay_seconds", "ready_timeout_seconds", "base_snapshot_ttl_seconds",
                     "memory_backend",    "labels"};
    m.paths = paths;
    m.n_paths = 8;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, NULL, &err), MVM_OK);
    CHECK(base_is(st, "acme", "img", BASE_STATE(READY), id, ""));
    CHECK(snap_is(st, "acme", id, SNAP_STATE(READY), ""));
    /* an image field set to the value it has is no change */
    Mvm__V1__Pool *cur = pool_of(st, "acme", "img");
    if (cur) {
        Mvm__V1__Pool same = *cur;
        same.resource_version = 0;
        char *star[] = {"*"};
        m.paths = star;
        m.n_paths = 1;
        CHECK_EQ_INT(store_pool_update(st, &test_who, &same, &m, NULL, NULL, &err), MVM_OK);
        mvm__v1__pool__free_unpacked(cur, NULL);
    }
    CHECK(base_is(st, "acme", "img", BASE_STATE(READY), id, ""));
    /* a refused update retires nothing */
    pool_init(&in, "acme", "img");
    in.vcpus = 4;
    in.ready_pattern = "(";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    CHECK(snap_is(st, "acme", id, SNAP_STATE(READY), ""));

    /* FAILED (no snapshot): a build begins */
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "img", NULL, "reset", NULL, NULL,
                                       &err),
                 MVM_OK);
    const char *f = "s-0000000000000202";
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "acme", "img", f, NULL, NULL, NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(store_pool_base_fail(st, &test_who, "acme", "img", f, "boom", &err), MVM_OK);
    pool_init(&in, "acme", "img");
    in.mem_mib = 768;
    Mvm__V1__Pool *out = NULL;
    update_one(st, "acme", "img", "mem_mib", &in, &out, &err);
    CHECK(out && out->base_snapshot->state == BASE_STATE(BUILDING) &&
          !empty(out->base_snapshot->build_id));
    /* BUILDING: the build under way is superseded by a new one */
    char old_build[32] = "";
    if (out) {
        snprintf(old_build, sizeof old_build, "%s", out->base_snapshot->build_id);
        mvm__v1__pool__free_unpacked(out, NULL);
    }
    in.mem_mib = 640;
    out = NULL;
    update_one(st, "acme", "img", "mem_mib", &in, &out, &err);
    CHECK(out && out->base_snapshot->state == BASE_STATE(BUILDING) &&
          !empty(out->base_snapshot->build_id) &&
          strcmp(out->base_snapshot->build_id, old_build) != 0);
    if (out)
        mvm__v1__pool__free_unpacked(out, NULL);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  mk_snap(st, "acme", "img", old_build, KIND(BASE), old_build, err_));
    /* NONE stays NONE: a pool that never had a base gets no build */
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "img", NULL, "off", NULL, NULL,
                                       &err),
                 MVM_OK);
    in.mem_mib = 2048;
    out = NULL;
    update_one(st, "acme", "img", "mem_mib", &in, &out, &err);
    CHECK(out && out->base_snapshot->state == BASE_STATE(NONE) &&
          empty(out->base_snapshot->build_id) && out->mem_mib == 2048);
    if (out)
        mvm__v1__pool__free_unpacked(out, NULL);
}

/* ---- pool and tenant deletion ---- */

static void test_pool_delete(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "gone", 9, "10.240.9.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "gone", "p", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "gone", "keep", &err), MVM_OK);
    make_ready(st, "gone", "p", "s-0000000000000301");
    CHECK_EQ_INT(mk_snap(st, "gone", "p", "s-0000000000000302", KIND(FORK), NULL, &err), MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "gone", "p", "s-0000000000000303", KIND(FORK), NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "gone", "s-0000000000000303", "earlier",
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(mk_snap(st, "gone", "keep", "s-0000000000000304", KIND(FORK), NULL, &err),
                 MVM_OK);
    /* refused while it has an instance: its snapshots stay READY */
    char inst[19];
    CHECK_EQ_INT(mk_inst(st, "gone", "p", inst, &err), MVM_OK);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, store_pool_delete(st, &test_who, "gone", "p", err_));
    CHECK(snap_is(st, "gone", "s-0000000000000301", SNAP_STATE(READY), ""));
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "gone", inst, 0xffff, &err), MVM_OK);
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "gone", "p", &err), MVM_OK);
    CHECK(snap_is(st, "gone", "s-0000000000000301", SNAP_STATE(RETIRED), "its pool was deleted"));
    CHECK(snap_is(st, "gone", "s-0000000000000302", SNAP_STATE(RETIRED), "its pool was deleted"));
    CHECK(snap_is(st, "gone", "s-0000000000000303", SNAP_STATE(RETIRED), "earlier"));
    CHECK(snap_is(st, "gone", "s-0000000000000304", SNAP_STATE(READY), "")); /* other pool */
    /* a retired snapshot of a deleted pool is still retired and deletable */
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "gone", "s-0000000000000302", "again",
                                       &err),
                 MVM_OK);
    CHECK(snap_is(st, "gone", "s-0000000000000302", SNAP_STATE(RETIRED), "its pool was deleted"));
    CHECK_EQ_INT(store_snapshot_delete(st, &test_who, "gone", "s-0000000000000302", &err), MVM_OK);
    /* the tenant: its last pool deleted, retired snapshot records do not
     * hold it up */
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "gone", "keep", &err), MVM_OK);
    CHECK(snap_is(st, "gone", "s-0000000000000304", SNAP_STATE(RETIRED), "its pool was deleted"));
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "gone", &err), MVM_OK);
    /* the records wait for mvmd to remove their files */
    int pages;
    mvm_code c;
    CHECK_EQ_INT(list_count(st, "gone", NULL, 0, &pages, &c), 3);
}

/* ---- clones ---- */

static void test_clone(store *st) {
    mvm_error err;
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_vcpus = 6;
    q.max_mem_mib = 4096;
    CHECK_EQ_INT(mk_tenant_q(st, "cl", 10, "10.240.10.0/24", &q, &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "cl", "p", &err), MVM_OK);   /* 2 vcpus, 512 MiB */
    CHECK_EQ_INT(mk_pool(st, "cl", "q", &err), MVM_OK);
    /* the snapshot holds a bigger machine than the pool now has */
    Mvm__V1__Snapshot s;
    const char *big = "s-0000000000000401";
    CHECK_EQ_INT(store_pool_base_begin(st, &test_who, "cl", "p", big, NULL, NULL, NULL, &err),
                 MVM_OK);
    snap_init(&s, "cl", "p", big, KIND(BASE));
    s.vcpus = 4;
    s.mem_mib = 1024;
    CHECK_EQ_INT(store_snapshot_create(st, &test_who, &s, big, NULL, NULL, &err), MVM_OK);

    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    r.tenant = "cl";
    r.pool = "p";
    Mvm__V1__Instance *i = NULL;
    uint64_t rev = test_rev(st);
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &r, big, NULL, &i, &err), MVM_OK);
    if (i) {
        CHECK_EQ_INT(i->vcpus, 4);
        CHECK_EQ_INT(i->mem_mib, 1024);
        CHECK_EQ_INT(i->state, MVM__V1__INSTANCE_STATE__INSTANCE_STATE_CREATED);
        CHECK_EQ_STR(i->base_snapshot_id, big);
        CHECK_EQ_STR(i->pool, "p");
        CHECK(i->operation && strcmp(i->operation->name, "CloneInstance") == 0 &&
              i->operation->from_state == MVM__V1__INSTANCE_STATE__INSTANCE_STATE_CREATED &&
              strcmp(i->operation->target, big) == 0 && i->operation->start_time &&
              i->create_time &&
              i->operation->start_time->seconds == i->create_time->seconds &&
              i->operation->start_time->nanos == i->create_time->nanos);
        CHECK_EQ_INT(i->resource_version, rev + 1);
        Mvm__V1__Instance *got = NULL;
        CHECK_EQ_INT(store_instance_get(st, "cl", i->id, NULL, &got, &err), MVM_OK);
        CHECK(got && got->operation && strcmp(got->base_snapshot_id, big) == 0);
        if (got)
            mvm__v1__instance__free_unpacked(got, NULL);
        mvm__v1__instance__free_unpacked(i, NULL);
    }
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "cl", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage && t->usage->vcpus == 4 && t->usage->mem_mib == 1024 &&
          t->usage->instances == 1);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    /* quotas against the snapshot's size: a second clone (4 more vcpus)
     * does not fit in 6, a boot from the pool (2 more) does */
    CHECK_REFUSED(st, MVM_RESOURCE_EXHAUSTED,
                  store_instance_create_clone(st, &test_who, &r, big, NULL, NULL, err_));
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &r, big, NULL, NULL, &err),
                 MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "max_vcpus") && strstr(err.msg, big) && strstr(err.msg, "4 more"));
    CHECK_EQ_INT(mk_inst(st, "cl", "p", NULL, &err), MVM_OK);

    /* refusals */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_instance_create_clone(st, &test_who, &r, NULL, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_instance_create_clone(st, &test_who, &r, "s-401", NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_instance_create_clone(st, &test_who, NULL, big, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_instance_create_clone(st, &test_who, &r, "s-0000000000000499", NULL,
                                              NULL, err_));
    /* another tenant's snapshot is not found from this one */
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_instance_create_clone(st, &test_who, &r, "s-00000000000000f3", NULL,
                                              NULL, err_));
    /* another pool's */
    Mvm__V1__CreateInstanceRequest rq = r;
    rq.pool = "q";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_instance_create_clone(st, &test_who, &rq, big, NULL, NULL, err_));
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &rq, big, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "cl/p") && strstr(err.msg, "cl/q"));
    rq.pool = "ghost";
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  store_instance_create_clone(st, &test_who, &rq, big, NULL, NULL, err_));
    /* a retired one, with its reason */
    const char *small = "s-0000000000000402";
    CHECK_EQ_INT(mk_snap(st, "cl", "p", small, KIND(FORK), NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_snapshot_retire(st, &test_who, "cl", small, "replaced by s-0000000000000403",
                                       &err),
                 MVM_OK);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION,
                  store_instance_create_clone(st, &test_who, &r, small, NULL, NULL, err_));
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &r, small, NULL, NULL, &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, small) && strstr(err.msg, "replaced by s-0000000000000403"));
}

/* ---- audit ---- */

typedef struct {
    char object[160], code[32];
} last_audit;

static bool keep_last(void *arg, const Mvm__V1__AuditRecord *rec) {
    last_audit *l = arg;
    snprintf(l->object, sizeof l->object, "%s", rec->object);
    snprintf(l->code, sizeof l->code, "%s", rec->code);
    return true;
}

static void test_audit(store *st) {
    mvm_error err;
    last_audit l;
    CHECK_EQ_INT(mk_snap(st, "acme", "web", "s-0000000000000501", KIND(FORK), NULL, &err),
                 MVM_OK);
    CHECK_EQ_INT(store_audit_foreach(st, 0, keep_last, &l, &err), MVM_OK);
    CHECK_EQ_STR(l.object, "snapshot/acme/s-0000000000000501");
    CHECK_EQ_STR(l.code, "OK");
    CHECK_EQ_INT(store_snapshot_delete(st, &test_who, "acme", "s-0000000000000501", &err),
                 MVM_FAILED_PRECONDITION);
    CHECK_EQ_INT(store_audit_foreach(st, 0, keep_last, &l, &err), MVM_OK);
    CHECK_EQ_STR(l.object, "snapshot/acme/s-0000000000000501");
    CHECK_EQ_STR(l.code, "FAILED_PRECONDITION");
    CHECK_EQ_INT(store_pool_base_clear(st, &test_who, "acme", "web", NULL, "none", NULL, NULL,
                                       &err),
                 MVM_OK);
    CHECK_EQ_INT(store_audit_foreach(st, 0, keep_last, &l, &err), MVM_OK);
    CHECK_EQ_STR(l.object, "pool/acme/web");
}

/* ---- older stores, store_check ---- */

/* Runs fn on db of the closed store in dir through a raw LMDB handle. */
static int raw_db(const char *dir, const char *db, int (*fn)(MDB_txn *, MDB_dbi)) {
    char storedir[600];
    snprintf(storedir, sizeof storedir, "%s/store", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc)
        return rc;
    mdb_env_set_maxdbs(env, 16);
    if (!(rc = mdb_env_open(env, storedir, 0, 0600)) && !(rc = mdb_txn_begin(env, NULL, 0, &txn))) {
        rc = mdb_dbi_open(txn, db, 0, &dbi);
        if (!rc)
            rc = fn(txn, dbi);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

static int drop_db(MDB_txn *txn, MDB_dbi dbi) {
    return mdb_drop(txn, dbi, 1); /* delete it from the environment */
}

static int exists_db(MDB_txn *txn, MDB_dbi dbi) {
    (void)txn;
    (void)dbi;
    return 0;
}

static int garble_first(MDB_txn *txn, MDB_dbi dbi) {
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (!rc)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (!rc) {
        MDB_val junk = {4, "\xff\xff\xff\xff"};
        rc = mdb_cursor_put(cur, &k, &junk, MDB_CURRENT);
    }
    mdb_cursor_close(cur);
    return rc;
}

static void test_old_store(void) {
    char *dir = test_mkdir();
    mvm_error err;
    store *st = test_open(dir);
    CHECK_EQ_INT(mk_tenant(st, "acme", 1, "10.240.1.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "web", &err), MVM_OK);
    char inst[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "web", inst, &err), MVM_OK);
    store_close(st);
    /* as the previous version left it: no snapshots db */
    CHECK_EQ_INT(raw_db(dir, "snapshots", drop_db), 0);
    CHECK_EQ_INT(raw_db(dir, "snapshots", exists_db), MDB_NOTFOUND);
    /* the read-only check does without it, and does not add it */
    store_report r;
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    CHECK_EQ_INT(r.snapshots, 0);
    CHECK_EQ_INT(r.pools, 1);
    CHECK_EQ_INT(r.instances, 1);
    CHECK_EQ_INT(raw_db(dir, "snapshots", exists_db), MDB_NOTFOUND);
    /* the upgrade: opening it writable adds the db, the data is all there */
    st = NULL;
    CHECK_EQ_INT(store_open(dir, &st, &err), MVM_OK);
    if (!st) {
        fprintf(stderr, "store_open of an older store: %s\n", err.msg);
        test_rmdir(dir);
        return;
    }
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_get(st, "acme", inst, NULL, &i, &err), MVM_OK);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    int pages;
    mvm_code c;
    CHECK_EQ_INT(list_count(st, NULL, NULL, 0, &pages, &c), 0);
    CHECK_EQ_INT(c, MVM_OK);
    CHECK(base_is(st, "acme", "web", BASE_STATE(NONE), "", ""));
    make_ready(st, "acme", "web", "s-0000000000000601");
    CHECK_EQ_INT(mk_snap(st, "acme", "web", "s-0000000000000602", KIND(FORK), NULL, &err),
                 MVM_OK);
    Mvm__V1__CreateInstanceRequest req = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    req.tenant = "acme";
    req.pool = "web";
    CHECK_EQ_INT(store_instance_create_clone(st, &test_who, &req, "s-0000000000000601", NULL,
                                             NULL, &err),
                 MVM_OK);
    store_close(st);
    CHECK_EQ_INT(raw_db(dir, "snapshots", exists_db), 0);
    /* store_check counts (and unpacks) the snapshot records */
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    CHECK_EQ_INT(r.snapshots, 2);
    CHECK_EQ_INT(r.instances, 2);
    CHECK(strstr(r.summary, "2 snapshots") != NULL);
    /* opened again: nothing lost */
    st = test_open(dir);
    CHECK(base_is(st, "acme", "web", BASE_STATE(READY), "s-0000000000000601", ""));
    store_close(st);
    /* a snapshot record that does not unpack is damage */
    CHECK_EQ_INT(raw_db(dir, "snapshots", garble_first), 0);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "Snapshot") && strstr(err.msg, "s-0000000000000601"));
    /* only the db added later may be missing: another one is damage */
    CHECK_EQ_INT(raw_db(dir, "pool_inst", drop_db), 0);
    st = NULL;
    CHECK_EQ_INT(store_open(dir, &st, &err), MVM_DATA_LOSS);
    CHECK(st == NULL && strstr(err.msg, "pool_inst"));
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    test_rmdir(dir);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    mvm_error err;
    if (mk_tenant(st, "acme", 1, "10.240.1.0/24", &err) || mk_tenant(st, "other", 2,
                                                                   "10.240.2.0/24", &err) ||
        mk_pool(st, "acme", "web", &err) || mk_pool(st, "acme", "api", &err) ||
        mk_pool(st, "other", "web", &err)) {
        fprintf(stderr, "fixtures: %s\n", err.msg);
        return 2;
    }
    test_create_refusals(st);
    test_create_get(st);
    test_list_foreach(st);
    test_foreach(st);
    test_retire_delete(st);
    test_base_lifecycle(st);
    test_update_images(st);
    test_update_other_fields(st);
    test_pool_delete(st);
    test_clone(st);
    test_audit(st);
    store_close(st);
    test_rmdir(dir);
    test_old_store();
    return check_done();
}
