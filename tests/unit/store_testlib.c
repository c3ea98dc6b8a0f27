/* store_testlib.c - helpers shared by the storage unit tests, included
 * once into each test source after check.h: a scratch state dir, fixture
 * builders for tenants/pools/instances, and a fingerprint of the whole
 * store used to assert that a refused call changed nothing. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static const store_actor test_who = {.identity = "cn=test", .method = "/mvm.v1.Test/Call"};

#define TEST_KERNEL "/var/lib/mvm/images/vmlinux"
#define TEST_ROOTFS "/var/lib/mvm/images/rootfs.ext4"

/* The store's revision; a store that cannot say ends the test. */
static inline uint64_t test_rev(store *st) {
    uint64_t rev = 0;
    mvm_error err;
    if (store_revision(st, &rev, &err) != MVM_OK) {
        fprintf(stderr, "store_revision: %s\n", err.msg);
        exit(2);
    }
    return rev;
}

static inline int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A fresh state dir under $TMPDIR (or /tmp); removed by test_rmdir. */
static inline char *test_mkdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/mvm-store-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(2);
    }
    return strdup(d);
}

static inline void test_rmdir(char *dir) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline store *test_open(const char *dir) {
    store *st = NULL;
    mvm_error err;
    if (store_open(dir, &st, &err) != MVM_OK) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        exit(2);
    }
    return st;
}

static inline mvm_code mk_tenant_q(store *st, const char *name, uint32_t net_id, const char *subnet,
                            const Mvm__V1__TenantQuota *quota, mvm_error *err) {
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    t.name = (char *)name;
    t.net_id = net_id;
    t.subnet = (char *)subnet;
    t.quota = (Mvm__V1__TenantQuota *)quota;
    return store_tenant_create(st, &test_who, &t, NULL, NULL, err);
}

static inline mvm_code mk_tenant(store *st, const char *name, uint32_t net_id, const char *subnet,
                          mvm_error *err) {
    return mk_tenant_q(st, name, net_id, subnet, NULL, err);
}

/* A tenant with one label key=value. */
static inline mvm_code mk_tenant_label(store *st, const char *name, uint32_t net_id,
                                       const char *subnet, const char *key, const char *value,
                                       mvm_error *err) {
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    Mvm__V1__Tenant__LabelsEntry l = MVM__V1__TENANT__LABELS_ENTRY__INIT, *lp = &l;
    l.key = (char *)key;
    l.value = (char *)value;
    t.name = (char *)name;
    t.net_id = net_id;
    t.subnet = (char *)subnet;
    t.labels = &lp;
    t.n_labels = 1;
    return store_tenant_create(st, &test_who, &t, NULL, NULL, err);
}

static inline void pool_init(Mvm__V1__Pool *p, const char *tenant, const char *name) {
    mvm__v1__pool__init(p);
    p->tenant = (char *)tenant;
    p->name = (char *)name;
    p->vcpus = 2;
    p->mem_mib = 512;
    p->kernel_image = TEST_KERNEL;
    p->rootfs_image = TEST_ROOTFS;
}

static inline mvm_code mk_pool(store *st, const char *tenant, const char *name, mvm_error *err) {
    Mvm__V1__Pool p;
    pool_init(&p, tenant, name);
    return store_pool_create(st, &test_who, &p, NULL, NULL, err);
}

/* The stored pool (NULL, and a failed check, if absent); free it. Needs
 * check.h, included before this file. */
static inline Mvm__V1__Pool *pool_of(store *st, const char *tenant, const char *name) {
    Mvm__V1__Pool *p = NULL;
    mvm_error err;
    CHECK_EQ_INT(store_pool_get(st, tenant, name, NULL, &p, &err), MVM_OK);
    return p;
}

/* Creates the instance r asks for; its id is copied to id (19 bytes) if
 * not NULL. */
static inline mvm_code mk_inst_req(store *st, const Mvm__V1__CreateInstanceRequest *r, char *id,
                                   mvm_error *err) {
    Mvm__V1__Instance *i = NULL;
    mvm_code c = store_instance_create(st, &test_who, r, NULL, &i, err);
    if (c == MVM_OK && id)
        snprintf(id, 19, "%s", i->id);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    return c;
}

/* Creates an instance; its id is copied to id (19 bytes) if not NULL. */
static inline mvm_code mk_inst(store *st, const char *tenant, const char *pool, char *id,
                               mvm_error *err) {
    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    r.tenant = (char *)tenant;
    r.pool = (char *)pool;
    return mk_inst_req(st, &r, id, err);
}

/* Every generated map<string,string> entry type has this layout. */
typedef struct {
    ProtobufCMessage base;
    char *key;
    char *value;
} test_label;

/* n labels "k0".."k<n-1>" = value, entries of type desc (a LabelsEntry
 * descriptor). Give p (cast) to a message's labels; free with
 * test_labels_free. Keys and values may be changed in e[]. */
typedef struct {
    test_label *e;
    void **p;
    char (*keys)[24];
} test_labels;

static inline test_labels test_labels_make(const ProtobufCMessageDescriptor *desc, size_t n,
                                           const char *value) {
    test_labels l;
    l.e = calloc(n ? n : 1, sizeof *l.e);
    l.p = calloc(n ? n : 1, sizeof *l.p);
    l.keys = calloc(n ? n : 1, sizeof *l.keys);
    if (!l.e || !l.p || !l.keys || desc->sizeof_message != sizeof *l.e) {
        fprintf(stderr, "test_labels_make: out of memory or not a labels entry\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) {
        protobuf_c_message_init(desc, &l.e[i]);
        snprintf(l.keys[i], sizeof l.keys[i], "k%zu", i);
        l.e[i].key = l.keys[i];
        l.e[i].value = (char *)value;
        l.p[i] = &l.e[i];
    }
    return l;
}

static inline void test_labels_free(test_labels l) {
    free(l.e);
    free(l.p);
    free(l.keys);
}

/* Appends a packed message to a growing buffer. */
static inline void fp_add(uint8_t **buf, size_t *len, const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    *buf = realloc(*buf, *len + n + 1);
    protobuf_c_message_pack(m, *buf + *len);
    *len += n;
}

/* Everything the store holds but the audit log, as one byte string. */
static inline uint8_t *test_fingerprint(store *st, size_t *len) {
    uint8_t *buf = NULL;
    *len = 0;
    store_list_opts o = {.page_size = 1000};
    mvm_error err;
    Mvm__V1__ListTenantsResponse *t = NULL;
    Mvm__V1__ListPoolsResponse *p = NULL;
    Mvm__V1__ListInstancesResponse *i = NULL;
    Mvm__V1__ListSnapshotsResponse *sn = NULL;
    if (store_tenant_list(st, &o, NULL, &t, &err) == MVM_OK) {
        fp_add(&buf, len, &t->base);
        mvm__v1__list_tenants_response__free_unpacked(t, NULL);
    }
    if (store_pool_list(st, &o, NULL, &p, &err) == MVM_OK) {
        fp_add(&buf, len, &p->base);
        mvm__v1__list_pools_response__free_unpacked(p, NULL);
    }
    if (store_instance_list(st, &o, NULL, &i, &err) == MVM_OK) {
        fp_add(&buf, len, &i->base);
        mvm__v1__list_instances_response__free_unpacked(i, NULL);
    }
    if (store_snapshot_list(st, &o, NULL, &sn, &err) == MVM_OK) {
        fp_add(&buf, len, &sn->base);
        mvm__v1__list_snapshots_response__free_unpacked(sn, NULL);
    }
    uint64_t rev = test_rev(st);
    buf = realloc(buf, *len + sizeof rev);
    memcpy(buf + *len, &rev, sizeof rev);
    *len += sizeof rev;
    return buf;
}

/* Snapshot before a call that must be refused... */
typedef struct {
    uint8_t *buf;
    size_t len;
} test_snap;

static inline test_snap snap_take(store *st) {
    test_snap s;
    s.buf = test_fingerprint(st, &s.len);
    return s;
}

/* ...and true if nothing changed since. */
static inline int snap_same(store *st, test_snap s) {
    size_t len;
    uint8_t *now = test_fingerprint(st, &len);
    int same = len == s.len && memcmp(now, s.buf, len) == 0;
    free(now);
    free(s.buf);
    return same;
}

/* Asserts that call returns code and leaves the store as it was. */
#define CHECK_REFUSED(st, want, call)                                         \
    do {                                                                      \
        test_snap snap_ = snap_take(st);                                      \
        mvm_error e_;                                                         \
        mvm_error_clear(&e_);                                                 \
        mvm_error *err_ = &e_;                                                \
        CHECK_EQ_INT((call), (want));                                         \
        CHECK_EQ_INT(e_.code, (want));                                        \
        CHECK(e_.msg[0] != '\0');                                             \
        CHECK(snap_same(st, snap_));                                          \
    } while (0)
