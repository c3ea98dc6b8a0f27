/* store_pool_test.c - pool rules of storage/: required fields and ranges,
 * desired_warm <= desired_instances, image paths, label limits, base
 * snapshot build settings (ready_pattern compiling as an ERE and of bounded
 * size, delay and timeout ranges, memory backend), tenant existence, unique
 * names, max_pools quota, base snapshot output only, update masks (paths
 * incl. sub-message ones, none, "*"), stale versions, delete
 * preconditions, listing by tenant with selectors. Each refusal must
 * change nothing. */
#include "check.h"
#include "store_testlib.c"

static void test_create(store *st) {
    mvm_error err;
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    q.max_pools = 2;
    CHECK_EQ_INT(mk_tenant_q(st, "acme", 1, "10.240.1.0/24", &q, &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "other", 2, "10.240.2.0/24", &err), MVM_OK);

    Mvm__V1__Pool p;
    Mvm__V1__Pool *out = NULL;
    pool_init(&p, "acme", "web");
    p.desired_instances = 3;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, &out, &err), MVM_OK);
    if (out) {
        CHECK_EQ_STR(out->tenant, "acme");
        CHECK_EQ_STR(out->name, "web");
        CHECK_EQ_INT(out->vcpus, 2);
        CHECK_EQ_INT(out->mem_mib, 512);
        CHECK_EQ_INT(out->desired_instances, 3);
        CHECK(out->base_snapshot &&
              out->base_snapshot->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_NONE);
        CHECK(out->resource_version > 0);
        CHECK(out->create_time && out->update_time);
        mvm__v1__pool__free_unpacked(out, NULL);
    }
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage && t->usage->pools == 1);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);

    /* field rules */
    Mvm__V1__Pool b;
#define BAD(field, value)                                                     \
    do {                                                                      \
        pool_init(&b, "acme", "bad");                                         \
        b.field = value;                                                      \
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,                               \
                      store_pool_create(st, &test_who, &b, NULL, NULL, err_)); \
    } while (0)
    BAD(vcpus, 0);
    BAD(vcpus, 33);
    BAD(mem_mib, 127);
    BAD(mem_mib, 262145);
    BAD(kernel_image, "");
    BAD(rootfs_image, "");
    BAD(name, "Bad");
    BAD(name, "");
    BAD(tenant, "");
    BAD(tenant, "UPPER");
    BAD(kernel_image, "vmlinux-\xff");
    BAD(boot_args, "console=\xc0\xaf");
    static char longref[5000];
    memset(longref, 'x', sizeof longref - 1);
    BAD(rootfs_image, longref);
#undef BAD
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_create(st, &test_who, NULL, NULL, NULL, err_));
    /* edges of the ranges are fine */
    pool_init(&b, "other", "edge-lo");
    b.vcpus = 1;
    b.mem_mib = 128;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &b, NULL, NULL, &err), MVM_OK);
    pool_init(&b, "other", "edge-hi");
    b.vcpus = 32;
    b.mem_mib = 262144;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &b, NULL, NULL, &err), MVM_OK);

    pool_init(&b, "ghost", "web");
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_pool_create(st, &test_who, &b, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_pool(st, "acme", "web", err_));
    /* the same name in another tenant is fine */
    CHECK_EQ_INT(mk_pool(st, "other", "web", &err), MVM_OK);
    /* max_pools = 2 */
    CHECK_EQ_INT(mk_pool(st, "acme", "api", &err), MVM_OK);
    CHECK_REFUSED(st, MVM_RESOURCE_EXHAUSTED, mk_pool(st, "acme", "third", err_));
    CHECK_EQ_INT(mk_pool(st, "acme", "third", &err), MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "max_pools") && strstr(err.msg, "2"));
}

static void test_get(store *st) {
    mvm_error err;
    Mvm__V1__Pool *p = NULL;
    CHECK_EQ_INT(store_pool_get(st, "acme", "web", NULL, &p, &err), MVM_OK);
    CHECK(p && strcmp(p->kernel_image, TEST_KERNEL) == 0);
    if (p)
        mvm__v1__pool__free_unpacked(p, NULL);
    CHECK_EQ_INT(store_pool_get(st, "acme", "nope", NULL, &p, &err), MVM_NOT_FOUND);
    CHECK(p == NULL);
    CHECK_EQ_INT(store_pool_get(st, "nope", "web", NULL, &p, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(store_pool_get(st, "acme", "We b", NULL, &p, &err), MVM_INVALID_ARGUMENT);
}

static void test_update(store *st) {
    mvm_error err;
    Mvm__V1__Pool *before = NULL;
    CHECK_EQ_INT(store_pool_get(st, "acme", "web", NULL, &before, &err), MVM_OK);
    if (!before)
        return;
    Mvm__V1__Pool in;
    pool_init(&in, "acme", "web");
    in.vcpus = 8;
    in.mem_mib = 4096;
    in.kernel_image = "/var/lib/mvm/images/other-kernel";
    Mvm__V1__SleepPolicy sp = MVM__V1__SLEEP_POLICY__INIT;
    sp.warm_after_idle_seconds = 30;
    sp.sleep_after_warm_seconds = 600;
    in.sleep_policy = &sp;
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"vcpus", "sleep_policy.warm_after_idle_seconds"};
    m.paths = paths;
    m.n_paths = 2;
    Mvm__V1__Pool *u = NULL;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, &u, &err), MVM_OK);
    if (u) {
        CHECK_EQ_INT(u->vcpus, 8);
        CHECK_EQ_INT(u->mem_mib, 512);                /* not in the mask */
        CHECK_EQ_STR(u->kernel_image, TEST_KERNEL); /* not in the mask */
        CHECK(u->sleep_policy && u->sleep_policy->warm_after_idle_seconds == 30 &&
              u->sleep_policy->sleep_after_warm_seconds == 0);
        CHECK(u->base_snapshot && u->base_snapshot->state == before->base_snapshot->state);
        CHECK(u->resource_version > before->resource_version);
        CHECK_EQ_INT(u->desired_instances, 3);
        mvm__v1__pool__free_unpacked(u, NULL);
    }
    /* an update that breaks a rule is refused */
    char *vc[] = {"vcpus"};
    m.paths = vc;
    m.n_paths = 1;
    in.vcpus = 64;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    char *ki[] = {"kernel_image"};
    m.paths = ki;
    in.kernel_image = "";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.kernel_image = "/k2";
    static char *immut[] = {"tenant", "name", "base_snapshot", "base_snapshot.state",
                            "create_time", "update_time", "resource_version", "nope",
                            "sleep_policy.nope", "vcpus.x"};
    for (size_t i = 0; i < sizeof immut / sizeof immut[0]; i++) {
        char *one[] = {immut[i]};
        m.paths = one;
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    }
    /* stale version */
    m.paths = ki;
    in.resource_version = before->resource_version;
    CHECK_REFUSED(st, MVM_ABORTED, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.resource_version = 0;
    pool_init(&in, "acme", "ghost");
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    /* no mask (AIP-134): the fields set in the request change, the rest
     * (desired_instances, sleep_policy, images) keep their stored values */
    pool_init(&in, "acme", "web");
    in.vcpus = 4;
    in.boot_args = "console=ttyS0";
    in.kernel_image = NULL;
    in.rootfs_image = "";
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, NULL, NULL, &u, &err), MVM_OK);
    if (u) {
        CHECK_EQ_INT(u->vcpus, 4);
        CHECK_EQ_STR(u->boot_args, "console=ttyS0");
        CHECK_EQ_INT(u->desired_instances, 3);
        CHECK_EQ_INT(u->mem_mib, 512);
        CHECK_EQ_STR(u->kernel_image, TEST_KERNEL);
        CHECK_EQ_STR(u->rootfs_image, TEST_ROOTFS);
        CHECK(u->sleep_policy && u->sleep_policy->warm_after_idle_seconds == 30);
        CHECK(u->base_snapshot != NULL);
        mvm__v1__pool__free_unpacked(u, NULL);
    }
    /* within a set sub-message, only its set fields */
    pool_init(&in, "acme", "web");
    in.vcpus = 0;
    in.mem_mib = 0;
    in.kernel_image = in.rootfs_image = NULL;
    Mvm__V1__SleepPolicy sp2 = MVM__V1__SLEEP_POLICY__INIT;
    sp2.sleep_after_warm_seconds = 900;
    in.sleep_policy = &sp2;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, NULL, NULL, &u, &err), MVM_OK);
    if (u) {
        CHECK(u->sleep_policy && u->sleep_policy->warm_after_idle_seconds == 30 &&
              u->sleep_policy->sleep_after_warm_seconds == 900);
        CHECK_EQ_INT(u->vcpus, 4);
        mvm__v1__pool__free_unpacked(u, NULL);
    }
    /* "*": every mutable field replaced, unset ones cleared */
    pool_init(&in, "acme", "web");
    char *star[] = {"*"};
    m.paths = star;
    m.n_paths = 1;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, &u, &err), MVM_OK);
    if (u) {
        CHECK_EQ_INT(u->vcpus, 2);
        CHECK_EQ_INT(u->desired_instances, 0);
        CHECK(u->boot_args == NULL || u->boot_args[0] == '\0');
        CHECK(u->sleep_policy == NULL || u->sleep_policy->warm_after_idle_seconds == 0);
        CHECK(u->base_snapshot != NULL);
        mvm__v1__pool__free_unpacked(u, NULL);
    }
    /* "*" of a request lacking a required field is refused by the rules */
    in.kernel_image = NULL;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    mvm__v1__pool__free_unpacked(before, NULL);
}

static void test_desired_warm(store *st) {
    mvm_error err;
    Mvm__V1__Pool p;
    pool_init(&p, "other", "warm");
    p.desired_instances = 2;
    p.desired_warm = 3;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_create(st, &test_who, &p, NULL, NULL, err_));
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "desired_warm 3") && strstr(err.msg, "desired_instances 2"));
    p.desired_warm = 2; /* equal is fine */
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_OK);
    /* update, judged on the merged pool: raising warm alone past the stored
     * desired_instances, or lowering desired_instances under the stored warm */
    Mvm__V1__Pool in;
    pool_init(&in, "other", "warm");
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *warm[] = {"desired_warm"}, *inst[] = {"desired_instances"};
    m.n_paths = 1;
    m.paths = warm;
    in.desired_warm = 5;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    m.paths = inst;
    in.desired_instances = 1;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.desired_instances = 0; /* an explicit path clears: 0 < 2 warm */
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    /* no mask: both set together, consistent */
    pool_init(&in, "other", "warm");
    in.desired_instances = 6;
    in.desired_warm = 5;
    Mvm__V1__Pool *u = NULL;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, NULL, NULL, &u, &err), MVM_OK);
    CHECK(u && u->desired_instances == 6 && u->desired_warm == 5);
    if (u)
        mvm__v1__pool__free_unpacked(u, NULL);
    /* no mask, warm alone above the stored 6 */
    in.desired_instances = 0;
    in.desired_warm = 7;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "other", "warm", &err), MVM_OK);
}

static void test_image_paths(store *st) {
    static char long_ok[STORE_FILE_PATH_MAX + 1], long_bad[STORE_FILE_PATH_MAX + 2];
    memset(long_ok, 'a', STORE_FILE_PATH_MAX);
    long_ok[0] = '/';
    memset(long_bad, 'a', STORE_FILE_PATH_MAX + 1);
    long_bad[0] = '/';
    struct {
        const char *path, *why;
    } bad[] = {
        {"vmlinux", "absolute"},          {"images/vmlinux", "absolute"},
        {"../etc/shadow", "absolute"},    {"/images/../../etc/shadow", "normalised"},
        {"/images/./vmlinux", "normalised"}, {"/images/..", "normalised"},
        {"//images/vmlinux", "normalised"}, {"/images//vmlinux", "normalised"},
        {"/images/", "ends in"},          {"/", "normalised"},
        {"/images/vm\nlinux", "control"}, {"/images/vm\tlinux", "control"},
        {"/images/vm\x7flinux", "control"}, {"/images/\x1b[2Jx", "control"},
        {long_bad, "4095"},
    };
    mvm_error err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int which = 0; which < 2; which++) {
            Mvm__V1__Pool p;
            pool_init(&p, "other", "img");
            if (which)
                p.rootfs_image = (char *)bad[i].path;
            else
                p.kernel_image = (char *)bad[i].path;
            CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                          store_pool_create(st, &test_who, &p, NULL, NULL, err_));
            CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err),
                         MVM_INVALID_ARGUMENT);
            CHECK(strstr(err.msg, bad[i].why) != NULL);
            CHECK(strstr(err.msg, which ? "rootfs_image" : "kernel_image") != NULL);
        }
    }
    /* fine: the longest allowed, dots inside names, a file at the root */
    static const char *good[] = {long_ok, "/var/lib/mvm/images/vmlinux-6.1.0.bin", "/.k",
                                 "/images/..vmlinux", "/vmlinux"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        Mvm__V1__Pool p;
        pool_init(&p, "other", "img");
        p.kernel_image = (char *)good[i];
        CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_OK);
        CHECK_EQ_INT(store_pool_delete(st, &test_who, "other", "img", &err), MVM_OK);
    }
    /* through update */
    CHECK_EQ_INT(mk_pool(st, "other", "img", &err), MVM_OK);
    Mvm__V1__Pool in;
    pool_init(&in, "other", "img");
    in.kernel_image = "/images/../vmlinux";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, NULL, NULL, NULL, err_));
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "other", "img", &err), MVM_OK);
}

/* ready_pattern, ready_delay_seconds, ready_timeout_seconds,
 * base_snapshot_ttl_seconds, memory_backend: their rules on create and
 * update, and base_snapshot staying output only. */
static void test_build_settings(store *st) {
    mvm_error err;
    Mvm__V1__Pool p;
    static const char not_utf8[] = {'r', 'e', (char)0xff, 0};
    struct {
        const char *pattern, *why; /* why: in the message */
    } bad[] = {
        {"ready(", "Unmatched ( or"},        /* regerror's own text, quoted */
        {"[z-a]", "Invalid range end"},
        {"a{2,1}", "Invalid content of"},
        {"((a{255}){255}){255}", "too big"}, /* 16M nodes: refused before regcomp */
        {"(x{316}){317}", "too big"},        /* just past the bound */
        {not_utf8, "UTF-8"},
    };
    static char pat_long[STORE_READY_PATTERN_MAX + 2], pat_max[STORE_READY_PATTERN_MAX + 1];
    memset(pat_long, 'a', STORE_READY_PATTERN_MAX + 1);
    memset(pat_max, 'a', STORE_READY_PATTERN_MAX);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pool_init(&p, "other", "rx");
        p.ready_pattern = (char *)bad[i].pattern;
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_pool_create(st, &test_who, &p, NULL, NULL, err_));
        CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err),
                     MVM_INVALID_ARGUMENT);
        CHECK(strstr(err.msg, "ready_pattern") && strstr(err.msg, bad[i].why));
        if (!strstr(err.msg, bad[i].why))
            fprintf(stderr, "  pattern %zu: %s\n", i, err.msg);
    }
    pool_init(&p, "other", "rx");
    p.ready_pattern = pat_long;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_create(st, &test_who, &p, NULL, NULL, err_));
    /* edges: the longest pattern, the largest delays, both backends */
    Mvm__V1__Pool *out = NULL;
    pool_init(&p, "other", "rx");
    p.ready_pattern = pat_max;
    p.ready_delay_seconds = 3600;
    p.ready_timeout_seconds = 86400;
    p.base_snapshot_ttl_seconds = 4000000000u;
    p.memory_backend = MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD;
    /* output only: a base snapshot in the request is ignored */
    Mvm__V1__BaseSnapshot fake = MVM__V1__BASE_SNAPSHOT__INIT;
    fake.state = MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_READY;
    fake.snapshot_id = "s-00000000000000ff";
    p.base_snapshot = &fake;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, &out, &err), MVM_OK);
    if (out) {
        CHECK_EQ_INT(strlen(out->ready_pattern), STORE_READY_PATTERN_MAX);
        CHECK_EQ_INT(out->ready_delay_seconds, 3600);
        CHECK_EQ_INT(out->ready_timeout_seconds, 86400);
        CHECK_EQ_INT(out->base_snapshot_ttl_seconds, 4000000000u);
        CHECK_EQ_INT(out->memory_backend, MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD);
        CHECK(out->base_snapshot &&
              out->base_snapshot->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_NONE &&
              (!out->base_snapshot->snapshot_id || !*out->base_snapshot->snapshot_id));
        mvm__v1__pool__free_unpacked(out, NULL);
    }
    /* update: each field through a path, the ranges judged on the result */
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *path[1];
    m.paths = path;
    m.n_paths = 1;
    Mvm__V1__Pool in;
    pool_init(&in, "other", "rx");
    path[0] = "ready_delay_seconds";
    in.ready_delay_seconds = 3601;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    path[0] = "ready_timeout_seconds";
    in.ready_timeout_seconds = 86401;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    path[0] = "memory_backend";
    in.memory_backend = (Mvm__V1__MemoryBackend)7;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, NULL, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "memory_backend 7") != NULL);
    path[0] = "ready_pattern";
    in.ready_pattern = "+(";
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_update(st, &test_who, &in, &m, NULL, NULL, err_));
    in.ready_pattern = "^login: *$|Welcome to .+";
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, &out, &err), MVM_OK);
    CHECK(out && strcmp(out->ready_pattern, "^login: *$|Welcome to .+") == 0 &&
          out->ready_delay_seconds == 3600); /* not in the mask */
    if (out)
        mvm__v1__pool__free_unpacked(out, NULL);
    /* a path clears: the pattern, the backend back to the node's default */
    char *two[] = {"ready_pattern", "memory_backend"};
    m.paths = two;
    m.n_paths = 2;
    pool_init(&in, "other", "rx");
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, &m, NULL, &out, &err), MVM_OK);
    CHECK(out && (!out->ready_pattern || !*out->ready_pattern) &&
          out->memory_backend == MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UNSPECIFIED &&
          out->ready_timeout_seconds == 86400);
    if (out)
        mvm__v1__pool__free_unpacked(out, NULL);
    /* no mask: set fields change; base_snapshot in the request is ignored */
    pool_init(&in, "other", "rx");
    in.vcpus = in.mem_mib = 0;
    in.kernel_image = in.rootfs_image = NULL;
    in.ready_delay_seconds = 5;
    in.memory_backend = MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_FILE;
    in.base_snapshot = &fake;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &in, NULL, NULL, &out, &err), MVM_OK);
    CHECK(out && out->ready_delay_seconds == 5 &&
          out->memory_backend == MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_FILE &&
          out->base_snapshot &&
          out->base_snapshot->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_NONE);
    if (out)
        mvm__v1__pool__free_unpacked(out, NULL);
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "other", "rx", &err), MVM_OK);
}

static void test_pool_labels(store *st) {
    Mvm__V1__Pool p;
    pool_init(&p, "other", "lbl");
    test_labels l =
        test_labels_make(&mvm__v1__pool__labels_entry__descriptor, STORE_LABELS_MAX + 1, "");
    p.labels = (Mvm__V1__Pool__LabelsEntry **)l.p;
    p.n_labels = STORE_LABELS_MAX + 1;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_create(st, &test_who, &p, NULL, NULL, err_));
    p.n_labels = STORE_LABELS_MAX;
    mvm_error err;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_OK);
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "other", "lbl", &err), MVM_OK);
    test_labels_free(l);
}

static void test_delete_and_list(store *st) {
    mvm_error err;
    char id[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "api", id, &err), MVM_OK);
    CHECK_REFUSED(st, MVM_FAILED_PRECONDITION, store_pool_delete(st, &test_who, "acme", "api", err_));
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "acme", "api", &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, id) != NULL);
    CHECK_REFUSED(st, MVM_NOT_FOUND, store_pool_delete(st, &test_who, "acme", "ghost", err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_pool_delete(st, &test_who, "acme", "", err_));

    store_list_opts o = {.tenant = "acme"};
    Mvm__V1__ListPoolsResponse *r = NULL;
    CHECK_EQ_INT(store_pool_list(st, &o, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_pools == 2);
    if (r && r->n_pools == 2) {
        CHECK_EQ_STR(r->pools[0]->name, "api");
        CHECK_EQ_STR(r->pools[1]->name, "web");
    }
    if (r)
        mvm__v1__list_pools_response__free_unpacked(r, NULL);
    o.tenant = NULL;
    CHECK_EQ_INT(store_pool_list(st, &o, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_pools == 5);
    if (r)
        mvm__v1__list_pools_response__free_unpacked(r, NULL);
    /* paging across tenants, 2 at a time: 5 pools -> 3 pages */
    o.page_size = 2;
    int pages = 0;
    size_t total = 0;
    char tok[600] = "";
    do {
        o.page_token = tok;
        CHECK_EQ_INT(store_pool_list(st, &o, NULL, &r, &err), MVM_OK);
        if (!r)
            break;
        pages++;
        total += r->n_pools;
        snprintf(tok, sizeof tok, "%s", r->next_page_token ? r->next_page_token : "");
        mvm__v1__list_pools_response__free_unpacked(r, NULL);
    } while (tok[0] && pages < 10);
    CHECK_EQ_INT(pages, 3);
    CHECK_EQ_INT(total, 5);
    /* a token from a listing of one tenant does not fit another tenant's */
    store_list_opts o2 = {.tenant = "acme", .page_size = 1};
    CHECK_EQ_INT(store_pool_list(st, &o2, NULL, &r, &err), MVM_OK);
    if (r) {
        store_list_opts o3 = {.tenant = "other", .page_token = r->next_page_token};
        Mvm__V1__ListPoolsResponse *r3 = NULL;
        CHECK_EQ_INT(store_pool_list(st, &o3, NULL, &r3, &err), MVM_INVALID_ARGUMENT);
        mvm__v1__list_pools_response__free_unpacked(r, NULL);
    }
    o.tenant = "Bad";
    CHECK_EQ_INT(store_pool_list(st, &o, NULL, &r, &err), MVM_INVALID_ARGUMENT);

    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", id, 0xffff, &err), MVM_OK);
    CHECK_EQ_INT(store_pool_delete(st, &test_who, "acme", "api", &err), MVM_OK);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "acme", NULL, &t, &err), MVM_OK);
    CHECK(t && t->usage && t->usage->pools == 1 && t->usage->instances == 0);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    /* the quota has room again */
    CHECK_EQ_INT(mk_pool(st, "acme", "third", &err), MVM_OK);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    test_create(st);
    test_get(st);
    test_update(st);
    test_desired_warm(st);
    test_image_paths(st);
    test_build_settings(st);
    test_pool_labels(st);
    test_delete_and_list(st);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
