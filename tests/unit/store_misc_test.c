/* store_misc_test.c - storage/ across the board: audit records (success and
 * refusal), reopening keeps data and revision, concurrent readers on their
 * per-thread transactions while a writer commits, the schema record, and a
 * check that the "nothing changed" fingerprint does see a change. */
#include <pthread.h>

#include "check.h"
#include "store_testlib.c"

typedef struct {
    int n;
    char method[8][64], identity[8][32], object[8][64], code[8][32], tenant[8][64];
    uint64_t seq[8];
    int64_t time[8];
} audit_log;

static bool audit_cb(void *arg, const Mvm__V1__AuditRecord *r) {
    audit_log *a = arg;
    if (a->n >= 8)
        return false;
    snprintf(a->method[a->n], 64, "%s", r->method);
    snprintf(a->identity[a->n], 32, "%s", r->identity);
    snprintf(a->object[a->n], 64, "%s", r->object);
    snprintf(a->code[a->n], 32, "%s", r->code);
    snprintf(a->tenant[a->n], 64, "%s", r->tenant);
    a->seq[a->n] = r->seq;
    a->time[a->n] = r->time ? r->time->seconds : 0;
    a->n++;
    return true;
}

static uint64_t last_seq(store *st) {
    audit_log a = {0};
    uint64_t after = 0, last = 0;
    mvm_error err;
    for (;;) {
        a.n = 0;
        store_audit_foreach(st, after, audit_cb, &a, &err);
        if (a.n == 0)
            return last;
        last = a.seq[a.n - 1];
        after = last;
    }
}

static void test_audit(store *st) {
    mvm_error err;
    uint64_t base = last_seq(st);
    store_actor who = {.identity = "cn=alice", .method = "/mvm.v1.TenantService/CreateTenant"};
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    t.name = "aud";
    t.net_id = 11;
    t.subnet = "10.247.0.0/24";
    CHECK_EQ_INT(store_tenant_create(st, &who, &t, NULL, NULL, &err), MVM_OK);
    /* refused: audited alone, with its code */
    CHECK_EQ_INT(store_tenant_create(st, &who, &t, NULL, NULL, &err), MVM_ALREADY_EXISTS);
    store_actor who2 = {.identity = "uid=0", .method = "/mvm.v1.PoolService/CreatePool"};
    Mvm__V1__Pool p;
    pool_init(&p, "aud", "web");
    CHECK_EQ_INT(store_pool_create(st, &who2, &p, NULL, NULL, &err), MVM_OK);
    char id[19];
    CHECK_EQ_INT(mk_inst(st, "aud", "web", id, &err), MVM_OK);

    audit_log a = {0};
    CHECK_EQ_INT(store_audit_foreach(st, base, audit_cb, &a, &err), MVM_OK);
    CHECK_EQ_INT(a.n, 4);
    CHECK_EQ_STR(a.identity[0], "cn=alice");
    CHECK_EQ_STR(a.method[0], "/mvm.v1.TenantService/CreateTenant");
    CHECK_EQ_STR(a.object[0], "tenant/aud");
    CHECK_EQ_STR(a.tenant[0], "aud");
    CHECK_EQ_STR(a.code[0], "OK");
    CHECK(a.time[0] > 0);
    CHECK_EQ_STR(a.code[1], "ALREADY_EXISTS");
    CHECK_EQ_STR(a.object[1], "tenant/aud");
    CHECK_EQ_STR(a.identity[2], "uid=0");
    CHECK_EQ_STR(a.object[2], "pool/aud/web");
    char want[64];
    snprintf(want, sizeof want, "instance/%s", id);
    CHECK_EQ_STR(a.object[3], want);
    CHECK(a.seq[0] == base + 1 && a.seq[3] == base + 4);
    /* after_seq skips what was seen; fn returning false stops */
    audit_log b = {0};
    CHECK_EQ_INT(store_audit_foreach(st, base + 3, audit_cb, &b, &err), MVM_OK);
    CHECK_EQ_INT(b.n, 1);
}

static void test_fingerprint_sees_changes(store *st) {
    mvm_error err;
    test_snap s = snap_take(st);
    CHECK_EQ_INT(mk_tenant(st, "fp", 12, "10.247.1.0/24", &err), MVM_OK);
    CHECK(!snap_same(st, s));
    s = snap_take(st);
    CHECK(snap_same(st, s));
}

typedef struct {
    store *st;
    int ok, bad;
    volatile int *stop;
} reader_arg;

static void *reader(void *p) {
    reader_arg *r = p;
    mvm_error err;
    while (!*r->stop) {
        Mvm__V1__Tenant *t = NULL;
        if (store_tenant_get(r->st, "aud", NULL, &t, &err) == MVM_OK && t &&
            strcmp(t->name, "aud") == 0)
            r->ok++;
        else
            r->bad++;
        if (t)
            mvm__v1__tenant__free_unpacked(t, NULL);
    }
    return NULL;
}

static void test_concurrent_readers(store *st) {
    volatile int stop = 0;
    reader_arg ra[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        ra[i] = (reader_arg){st, 0, 0, &stop};
        pthread_create(&th[i], NULL, reader, &ra[i]);
    }
    mvm_error err;
    int writes = 0;
    for (int i = 0; i < 30; i++) {
        char name[16], subnet[32];
        snprintf(name, sizeof name, "cc%d", i);
        snprintf(subnet, sizeof subnet, "10.248.%d.0/24", i);
        writes += mk_tenant(st, name, 1000 + (uint32_t)i, subnet, &err) == MVM_OK;
    }
    stop = 1;
    int ok = 0, bad = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ok += ra[i].ok;
        bad += ra[i].bad;
    }
    CHECK_EQ_INT(writes, 30);
    CHECK(ok > 0);
    CHECK_EQ_INT(bad, 0);
    /* a nested read on one thread (a store call inside a walk) works */
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "cc29", NULL, &t, &err), MVM_OK);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
}

static bool nested_cb(void *arg, const Mvm__V1__Instance *i) {
    store *st = arg;
    Mvm__V1__Pool *p = NULL;
    mvm_error err;
    mvm_code c = store_pool_get(st, i->tenant, i->pool, NULL, &p, &err);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    return c == MVM_OK;
}

static void test_nested_read(store *st) {
    mvm_error err;
    CHECK_EQ_INT(store_instance_foreach(st, "aud", NULL, nested_cb, st, NULL, &err), MVM_OK);
}

static void test_reopen(char *dir, store **stp) {
    mvm_error err;
    uint64_t rev = test_rev(*stp);
    size_t len1;
    uint8_t *fp1 = test_fingerprint(*stp, &len1);
    store_close(*stp);
    *stp = test_open(dir);
    store *st = *stp;
    CHECK_EQ_INT(test_rev(st), rev);
    size_t len2;
    uint8_t *fp2 = test_fingerprint(st, &len2);
    CHECK(len1 == len2 && memcmp(fp1, fp2, len1) == 0);
    free(fp1);
    free(fp2);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "aud", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage && t->usage->instances == 1 && t->usage->pools == 1);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    /* uniqueness survives the reopen; new writes continue the revision */
    CHECK_EQ_INT(mk_tenant(st, "other", 11, "10.249.0.0/24", &err), MVM_ALREADY_EXISTS);
    CHECK_EQ_INT(mk_tenant(st, "after", 13, "10.249.0.0/24", &err), MVM_OK);
    CHECK(test_rev(st) > rev);
    /* the audit log too */
    CHECK(last_seq(st) > 0);
}

static void test_audit_retention(store *st) {
    mvm_error err;
    store_set_audit_retention(st, 3);
    for (int i = 0; i < 5; i++) {
        char name[16], subnet[32];
        snprintf(name, sizeof name, "ret%d", i);
        snprintf(subnet, sizeof subnet, "10.250.%d.0/24", i);
        CHECK_EQ_INT(mk_tenant(st, name, 3000 + (uint32_t)i, subnet, &err), MVM_OK);
    }
    audit_log a = {0};
    CHECK_EQ_INT(store_audit_foreach(st, 0, audit_cb, &a, &err), MVM_OK);
    CHECK_EQ_INT(a.n, 3);
    CHECK_EQ_STR(a.object[0], "tenant/ret2");
    CHECK_EQ_STR(a.object[2], "tenant/ret4");
    CHECK(a.seq[2] == a.seq[0] + 2);
    store_set_audit_retention(st, STORE_AUDIT_KEEP_DEFAULT);
}

static void test_open_errors(const char *dir) {
    store *st = (void *)1;
    mvm_error err;
    /* the state dir is taken while open */
    CHECK_EQ_INT(store_open(dir, &st, &err), MVM_FAILED_PRECONDITION);
    CHECK(st == NULL && strstr(err.msg, "in use") != NULL);
    CHECK_EQ_INT(store_open(NULL, &st, &err), MVM_INVALID_ARGUMENT);
    CHECK(st == NULL);
    CHECK(store_open("/proc/definitely/not/here", &st, &err) != MVM_OK);
    store_close(NULL); /* a no-op */
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    CHECK_EQ_INT(test_rev(st), 0);
    test_audit(st);
    test_fingerprint_sees_changes(st);
    test_concurrent_readers(st);
    test_nested_read(st);
    test_reopen(dir, &st);
    test_audit_retention(st);
    test_open_errors(dir);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
