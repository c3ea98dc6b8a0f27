/* store_integrity_test.c - state that must never be lost silently: a real
 * store's data file truncated, zeroed, emptied, deleted, replaced by
 * another store's, or with a bad meta page, schema record or counter is
 * refused at store_open and by store_check with a message naming the file,
 * what is wrong and the recovery procedure; a new state dir, a first start
 * that stopped early, a store made before the marker and a file whose
 * missing tail pages are all free (as LMDB may leave it) still open; records
 * and pages damaged later read as DATA_LOSS; a hot backup of a live store
 * (also while a writer runs) reopens with the same contents, and restoring
 * it is the documented recovery. Damage is done to real files with pwrite,
 * ftruncate and LMDB's own API. */
#include <dirent.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>

#include "check.h"
#include "store_testlib.c"

#define HINT "docs/operations.md"

static char *path_of(const char *dir, const char *rel) {
    char *p = malloc(strlen(dir) + strlen(rel) + 2);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

static uint8_t *file_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int file_write(const char *path, const uint8_t *b, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static int file_copy(const char *from, const char *to) {
    size_t len;
    uint8_t *b = file_read(from, &len);
    int rc = b ? file_write(to, b, len) : -1;
    free(b);
    return rc;
}

static off_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Tenants with labels, pools and instances: a store of many pages. */
static void populate(store *st, const char *prefix, int n) {
    mvm_error err;
    for (int i = 0; i < n; i++) {
        char name[32], subnet[32];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        snprintf(subnet, sizeof subnet, "10.%d.%d.0/24", 240 + i / 256, i % 256);
        CHECK_EQ_INT(mk_tenant_label(st, name, (uint32_t)i, subnet, "owner",
                                     "a fairly long label value that makes records bigger",
                                     &err),
                     MVM_OK);
        CHECK_EQ_INT(mk_pool(st, name, "web", &err), MVM_OK);
        CHECK_EQ_INT(mk_inst(st, name, "web", NULL, &err), MVM_OK);
    }
}

/* store_open and store_check both refuse dir with code, and the message
 * names the data file (or marker), has want in it and the recovery hint. */
static void check_refused(const char *dir, mvm_code code, const char *names, const char *want) {
    store *st = (void *)1;
    mvm_error err;
    mvm_error_clear(&err);
    CHECK_EQ_INT(store_open(dir, &st, &err), code);
    CHECK(st == NULL);
    if (st)
        store_close(st);
    CHECK(strstr(err.msg, names) != NULL);
    CHECK(strstr(err.msg, want) != NULL);
    CHECK(strstr(err.msg, HINT) != NULL);
    if (!strstr(err.msg, want) || !strstr(err.msg, names))
        fprintf(stderr, "  message: %s\n", err.msg);
    store_report r;
    CHECK_EQ_INT(store_check(dir, &r, &err), code);
    CHECK(strstr(err.msg, want) != NULL);
}

/* A store with data, closed; returns its state dir. */
static char *made_store(int tenants, store_report *rep) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    populate(st, "t", tenants);
    store_close(st);
    mvm_error err;
    CHECK_EQ_INT(store_check(dir, rep, &err), MVM_OK);
    return dir;
}

static void test_new_and_sound(void) {
    char *dir = test_mkdir();
    store_report r;
    mvm_error err;
    /* nothing there: store_check says so, store_open creates */
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_NOT_FOUND);
    CHECK(strstr(err.msg, "no store") != NULL);
    store *st = test_open(dir);
    populate(st, "n", 3);
    uint64_t rev = test_rev(st);
    store_close(st);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    CHECK_EQ_INT(r.tenants, 3);
    CHECK_EQ_INT(r.pools, 3);
    CHECK_EQ_INT(r.instances, 3);
    CHECK_EQ_INT(r.revision, rev);
    CHECK(r.audit_records >= 9);
    CHECK(r.page_size >= 512 && r.pages_used > 2);
    CHECK(r.file_bytes >= r.pages_used * r.page_size);
    CHECK(strstr(r.summary, "is sound") && strstr(r.summary, r.store_id));
    CHECK_EQ_INT(strlen(r.store_id), 32);
    /* the marker holds the same id */
    char *marker = path_of(dir, "store.id");
    size_t len;
    uint8_t *m = file_read(marker, &len);
    CHECK(m && len > 45 && memcmp(m, "mvm-store-id ", 13) == 0 &&
          memcmp(m + 13, r.store_id, 32) == 0);
    free(m);
    /* a store made before the marker existed (or the marker removed): it is
     * adopted, with the store's own id */
    CHECK_EQ_INT(unlink(marker), 0);
    st = test_open(dir);
    store_close(st);
    m = file_read(marker, &len);
    CHECK(m && memcmp(m + 13, r.store_id, 32) == 0);
    free(m);
    /* a malformed marker is refused */
    CHECK_EQ_INT(file_write(marker, (const uint8_t *)"hello\n", 6), 0);
    check_refused(dir, MVM_DATA_LOSS, "store.id", "not a store marker");
    free(marker);
    test_rmdir(dir);
}

static void test_truncated(void) {
    store_report r;
    char *dir = made_store(60, &r);
    char *data = path_of(dir, "store/data.mdb");
    off_t size = file_size(data);
    CHECK(size > 8 * (off_t)r.page_size);
    /* half the pages, page-aligned */
    off_t half = (size / r.page_size / 2) * r.page_size;
    CHECK_EQ_INT(truncate(data, half), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "truncated");
    /* only the two meta pages left */
    CHECK_EQ_INT(truncate(data, 2 * (off_t)r.page_size), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "truncated");
    /* inside the second meta page */
    CHECK_EQ_INT(truncate(data, (off_t)r.page_size + 16), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "truncated");
    /* emptied: never a new, empty store */
    CHECK_EQ_INT(truncate(data, 0), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "empty");
    free(data);
    test_rmdir(dir);
}

/* Pages at the end of the file that LMDB's free-page db lists as free. */
static size_t free_tail(const char *dir, size_t *last_pg) {
    char *storedir = path_of(dir, "store");
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_envinfo info;
    size_t k = 0;
    CHECK_EQ_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    CHECK_EQ_INT(mdb_env_open(env, storedir, MDB_RDONLY, 0600), 0);
    mdb_env_info(env, &info);
    *last_pg = info.me_last_pgno;
    uint8_t *is_free = calloc(*last_pg + 1, 1);
    CHECK_EQ_INT(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    CHECK_EQ_INT(mdb_cursor_open(txn, 0, &cur), 0); /* dbi 0: the free pages */
    MDB_val key, val;
    while (mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0) {
        size_t n, pg;
        memcpy(&n, val.mv_data, sizeof n);
        for (size_t i = 1; i <= n; i++) {
            memcpy(&pg, (const char *)val.mv_data + i * sizeof pg, sizeof pg);
            if (pg <= *last_pg)
                is_free[pg] = 1;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    while (k < *last_pg && is_free[*last_pg - k])
        k++;
    free(is_free);
    free(storedir);
    return k;
}

/* LMDB does not write a page freed in the transaction that allocated it, so
 * a healthy file may end before its last used page; those pages are free
 * and the store is sound. One page more is truncation. */
static void test_free_tail(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    mvm_error err;
    populate(st, "f", 40);
    for (int i = 0; i < 40; i++) {
        char name[16], id[19];
        snprintf(name, sizeof name, "f%d", i);
        store_list_opts o = {.tenant = name};
        Mvm__V1__ListInstancesResponse *l = NULL;
        CHECK_EQ_INT(store_instance_list(st, &o, NULL, &l, &err), MVM_OK);
        if (l && l->n_instances == 1) {
            snprintf(id, sizeof id, "%s", l->instances[0]->id);
            CHECK_EQ_INT(store_instance_delete(st, &test_who, name, id, 0xffff, &err), MVM_OK);
        }
        if (l)
            mvm__v1__list_instances_response__free_unpacked(l, NULL);
        CHECK_EQ_INT(store_pool_delete(st, &test_who, name, "web", &err), MVM_OK);
        CHECK_EQ_INT(store_tenant_delete(st, &test_who, name, &err), MVM_OK);
    }
    CHECK_EQ_INT(mk_tenant(st, "kept", 4000, "10.255.200.0/24", &err), MVM_OK);
    store_close(st);
    size_t last_pg, k = free_tail(dir, &last_pg);
    CHECK(k >= 1); /* the scenario this test needs */
    char *data = path_of(dir, "store/data.mdb");
    off_t psize = file_size(data) / (off_t)(last_pg + 1);
    size_t len;
    uint8_t *orig = file_read(data, &len);
    CHECK_EQ_INT(truncate(data, (off_t)(last_pg + 1 - (k + 1)) * psize), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "truncated");
    CHECK_EQ_INT(file_write(data, orig, len), 0);
    CHECK_EQ_INT(truncate(data, (off_t)(last_pg + 1 - k) * psize), 0);
    store_report r;
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    CHECK_EQ_INT(r.pages_used, last_pg + 1);
    CHECK(r.file_bytes < r.pages_used * r.page_size);
    st = test_open(dir);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "kept", NULL, &t, &err), MVM_OK);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    populate(st, "g", 30); /* LMDB writes the free pages again as it reuses them */
    store_close(st);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    CHECK_EQ_INT(r.tenants, 31);
    free(orig);
    free(data);
    test_rmdir(dir);
}

static void test_zeroed_and_bad_meta(void) {
    store_report r;
    char *dir = made_store(10, &r);
    char *data = path_of(dir, "store/data.mdb");
    size_t len;
    uint8_t *orig = file_read(data, &len);
    uint8_t *zero = calloc(1, len);
    CHECK_EQ_INT(file_write(data, zero, len), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "all zeros");
    /* a meta page with a wrong magic: damaged, not "empty" */
    uint8_t *bad = malloc(len);
    memcpy(bad, orig, len);
    bad[r.page_size + 16] ^= 0xff; /* meta page 1's magic */
    CHECK_EQ_INT(file_write(data, bad, len), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "not an LMDB meta page");
    /* a root page beyond the last used page */
    memcpy(bad, orig, len);
    /* page header, magic and version, address, mapsize, the free db, then
     * the main db's root (LMDB 0.9's layout, see store_datafile.c) */
    size_t w = sizeof(size_t), main_root = (w + 8) + 8 + 2 * w + (8 + 5 * w) + 8 + 4 * w;
    memset(bad + main_root, 0x7f, w);
    memset(bad + r.page_size + main_root, 0x7f, w);
    CHECK_EQ_INT(file_write(data, bad, len), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "root");
    /* put back: sound again */
    CHECK_EQ_INT(file_write(data, orig, len), 0);
    mvm_error err;
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    free(orig);
    free(zero);
    free(bad);
    free(data);
    test_rmdir(dir);
}

static void test_deleted(void) {
    store_report r;
    char *dir = made_store(5, &r);
    char *data = path_of(dir, "store/data.mdb");
    char *lock = path_of(dir, "store/lock.mdb");
    char *storedir = path_of(dir, "store");
    /* data file gone, marker present: refused, naming the marker's id */
    CHECK_EQ_INT(unlink(data), 0);
    check_refused(dir, MVM_DATA_LOSS, "store.id", "is missing");
    check_refused(dir, MVM_DATA_LOSS, r.store_id, "every subnet and address");
    /* the whole store/ directory gone: the same */
    unlink(lock);
    char *mlock = path_of(dir, "store/mvmd.lock");
    unlink(mlock);
    CHECK_EQ_INT(rmdir(storedir), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "is missing");
    /* an LMDB file initialised but never committed, with the marker: refused */
    MDB_env *env;
    mkdir(storedir, 0700);
    CHECK_EQ_INT(mdb_env_create(&env), 0);
    CHECK_EQ_INT(mdb_env_open(env, storedir, 0, 0600), 0);
    mdb_env_close(env);
    check_refused(dir, MVM_DATA_LOSS, data, "no committed data");
    /* the operator's documented "start over empty": remove the marker too */
    char *marker = path_of(dir, "store.id");
    CHECK_EQ_INT(unlink(marker), 0);
    store *st = test_open(dir); /* a first start that stopped early: as new */
    CHECK_EQ_INT(test_rev(st), 0);
    store_close(st);
    mvm_error err;
    store_report r2;
    CHECK_EQ_INT(store_check(dir, &r2, &err), MVM_OK);
    CHECK(strcmp(r2.store_id, r.store_id) != 0); /* a new store */
    free(marker);
    free(mlock);
    free(storedir);
    free(lock);
    free(data);
    test_rmdir(dir);
}

static void test_other_store(void) {
    store_report ra, rb;
    char *a = made_store(3, &ra), *b = made_store(4, &rb);
    char *da = path_of(a, "store/data.mdb"), *db = path_of(b, "store/data.mdb");
    CHECK_EQ_INT(file_copy(db, da), 0);
    check_refused(a, MVM_FAILED_PRECONDITION, ra.store_id, rb.store_id);
    free(da);
    free(db);
    test_rmdir(a);
    test_rmdir(b);
}

/* Changes (val NULL: deletes) one record of a closed store's database db
 * through LMDB itself. */
static void db_poke(const char *dir, const char *db, const void *key, size_t klen,
                    const void *val, size_t vlen) {
    char *storedir = path_of(dir, "store");
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CHECK_EQ_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    CHECK_EQ_INT(mdb_env_open(env, storedir, 0, 0600), 0);
    CHECK_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_EQ_INT(mdb_dbi_open(txn, db, 0, &dbi), 0);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    CHECK_EQ_INT(val ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL), 0);
    CHECK_EQ_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(storedir);
}

static void meta_poke(const char *dir, const char *key, const void *val, size_t vlen) {
    db_poke(dir, "meta", key, strlen(key), val, vlen);
}

static void test_records(void) {
    store_report r;
    char *dir = made_store(3, &r);
    char *data = path_of(dir, "store/data.mdb");
    /* no schema record */
    meta_poke(dir, "schema", NULL, 0);
    check_refused(dir, MVM_DATA_LOSS, data, "no schema record");
    uint32_t ver = 1;
    meta_poke(dir, "schema", &ver, sizeof ver);
    store *st = test_open(dir);
    uint64_t rev = test_rev(st);
    CHECK(rev > 0);
    store_close(st);
    /* a revision counter that does not read: DATA_LOSS, never 0 (which
     * would hand out resource_versions again) and no write goes through */
    uint32_t short_rev = 1;
    meta_poke(dir, "rev", &short_rev, sizeof short_rev);
    st = test_open(dir);
    uint64_t got = 99;
    mvm_error err;
    CHECK_EQ_INT(store_revision(st, &got, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "rev") && strstr(err.msg, HINT));
    CHECK_EQ_INT(mk_tenant(st, "after", 3000, "10.255.0.0/24", &err), MVM_DATA_LOSS);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "after", NULL, &t, &err), MVM_NOT_FOUND);
    /* nor an instance write */
    CHECK_EQ_INT(mk_inst(st, "t0", "web", NULL, &err), MVM_DATA_LOSS);
    store_close(st);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    uint64_t good_rev = rev;
    meta_poke(dir, "rev", &good_rev, sizeof good_rev);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);

    /* an index entry gone: store_check counts it against its records */
    uint8_t nid[2] = {0, 1}; /* tenant t1's net_id */
    db_poke(dir, "netids", nid, 2, NULL, 0);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "netids") && strstr(err.msg, "disagree") && strstr(err.msg, HINT));
    /* a tenant's usage record gone: DATA_LOSS on use, not a usage of zero
     * that would let its quotas be exceeded */
    db_poke(dir, "usage", "t2", 2, NULL, 0);
    st = test_open(dir);
    CHECK_EQ_INT(store_tenant_get(st, "t2", NULL, &t, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "usage") && strstr(err.msg, HINT));
    CHECK_EQ_INT(mk_inst(st, "t2", "web", NULL, &err), MVM_DATA_LOSS);
    store_close(st);
    free(data);
    test_rmdir(dir);
}

/* Offsets of every occurrence of needle in the file. */
static size_t find_all(const uint8_t *b, size_t len, const char *needle, size_t *at, size_t max) {
    size_t n = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= len && n < max; i++)
        if (memcmp(b + i, needle, nl) == 0)
            at[n++] = i;
    return n;
}

static void test_damage_read_later(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    mvm_error err;
    CHECK_EQ_INT(mk_tenant_label(st, "victim", 1, "10.240.1.0/24", "mark", "UNIQUE-MARK-4711",
                                 &err),
                 MVM_OK);
    store_close(st);
    store_report r;
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_OK);
    char *data = path_of(dir, "store/data.mdb");
    size_t len, at[8];
    uint8_t *orig = file_read(data, &len), *b = malloc(len);
    size_t n = find_all(orig, len, "UNIQUE-MARK-4711", at, 8);
    CHECK(n >= 1);

    /* a record that does not unpack: the map entry's length runs past it */
    memcpy(b, orig, len);
    for (size_t i = 0; i < n; i++)
        b[at[i] - 1] = 0x7f;
    CHECK_EQ_INT(file_write(data, b, len), 0);
    st = test_open(dir); /* the file itself is sound */
    Mvm__V1__Tenant *got = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "victim", NULL, &got, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "victim") && strstr(err.msg, HINT));
    store_list_opts o = {0};
    Mvm__V1__ListTenantsResponse *lr = NULL;
    CHECK_EQ_INT(store_tenant_list(st, &o, NULL, &lr, &err), MVM_DATA_LOSS);
    store_close(st);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "Tenant") && strstr(err.msg, "victim"));

    /* a page that is not a B-tree page: MDB_CORRUPTED, read as DATA_LOSS */
    memcpy(b, orig, len);
    for (size_t i = 0; i < n; i++) {
        size_t page = at[i] / r.page_size * r.page_size;
        memset(b + page + sizeof(size_t) + 2, 0, 2); /* its flags */
    }
    CHECK_EQ_INT(file_write(data, b, len), 0);
    st = test_open(dir);
    got = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "victim", NULL, &got, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "damaged") && strstr(err.msg, HINT));
    store_close(st);
    CHECK_EQ_INT(store_check(dir, &r, &err), MVM_DATA_LOSS);
    free(orig);
    free(b);
    free(data);
    test_rmdir(dir);
}

static int count_partials(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".partial-") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* Restores backup into <dir>/store/data.mdb (the documented procedure). */
static void restore(const char *dir, const char *backup) {
    char *storedir = path_of(dir, "store");
    char *data = path_of(dir, "store/data.mdb");
    mkdir(storedir, 0700);
    unlink(data);
    CHECK_EQ_INT(file_copy(backup, data), 0);
    free(data);
    free(storedir);
}

typedef struct {
    store *st;
    int done;
} writer_arg;

static void *writer(void *p) {
    writer_arg *w = p;
    mvm_error err;
    for (int i = 0; i < 40; i++) {
        char name[16], subnet[32];
        snprintf(name, sizeof name, "w%d", i);
        snprintf(subnet, sizeof subnet, "10.250.%d.0/24", i);
        if (mk_tenant(w->st, name, 2000 + (uint32_t)i, subnet, &err) == MVM_OK)
            w->done++;
    }
    return NULL;
}

static void test_backup(void) {
    char *dir = test_mkdir(), *out = test_mkdir();
    store *st = test_open(dir);
    populate(st, "b", 20);
    mvm_error err;
    test_snap before = snap_take(st);
    uint64_t rev = test_rev(st), bytes = 0, brev = 0;
    char *b1 = path_of(out, "b1.mdb");
    CHECK_EQ_INT(store_backup(st, b1, &bytes, &brev, &err), MVM_OK);
    CHECK_EQ_INT(brev, rev);
    CHECK(bytes > 0 && (off_t)bytes == file_size(b1));
    struct stat sb;
    CHECK(stat(b1, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_EQ_INT(count_partials(out), 0);
    /* refusals change nothing on disk */
    size_t len1;
    uint8_t *c1 = file_read(b1, &len1);
    CHECK_EQ_INT(store_backup(st, b1, NULL, NULL, &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "never replaces") != NULL);
    size_t len2;
    uint8_t *c2 = file_read(b1, &len2);
    CHECK(len1 == len2 && memcmp(c1, c2, len1) == 0);
    free(c1);
    free(c2);
    char *nodir = path_of(out, "nodir/b.mdb"), *nosuffix = path_of(out, "b2"),
         *dotdot = path_of(out, "x/../b3.mdb"), *bare = path_of(out, ".mdb");
    CHECK_EQ_INT(store_backup(st, nodir, NULL, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK_EQ_INT(store_backup(st, nosuffix, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, ".mdb") != NULL);
    CHECK_EQ_INT(store_backup(st, dotdot, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_backup(st, bare, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_backup(st, "relative.mdb", NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_backup(st, "/tmp/a\nb.mdb", NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(store_backup(st, NULL, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(count_partials(out), 0);
    /* the store goes on; a backup taken while a writer runs holds a
     * consistent revision */
    writer_arg wa = {st, 0};
    pthread_t th;
    pthread_create(&th, NULL, writer, &wa);
    char *b2 = path_of(out, "b2.mdb");
    uint64_t brev2 = 0;
    CHECK_EQ_INT(store_backup(st, b2, NULL, &brev2, &err), MVM_OK);
    pthread_join(th, NULL);
    CHECK_EQ_INT(wa.done, 40);
    CHECK(brev2 >= rev && brev2 <= test_rev(st));
    store_close(st);

    /* b1 restored into a new state dir: the same contents and revision, and
     * the store keeps its id */
    char *fresh = test_mkdir();
    restore(fresh, b1);
    st = test_open(fresh);
    CHECK(snap_same(st, before));
    CHECK_EQ_INT(test_rev(st), rev);
    store_close(st);
    store_report ro, rn;
    CHECK_EQ_INT(store_check(dir, &ro, &err), MVM_OK);
    CHECK_EQ_INT(store_check(fresh, &rn, &err), MVM_OK);
    CHECK_EQ_STR(ro.store_id, rn.store_id);
    CHECK_EQ_INT(rn.tenants, 20);
    /* b2 restored: its revision, and as many writer tenants as it says */
    char *fresh2 = test_mkdir();
    restore(fresh2, b2);
    CHECK_EQ_INT(store_check(fresh2, &rn, &err), MVM_OK);
    CHECK_EQ_INT(rn.revision, brev2);
    CHECK_EQ_INT(rn.tenants, 20 + (brev2 - rev)); /* each writer commit adds one */

    /* the recovery procedure: the original state dir's data file damaged,
     * b1 put in its place; the marker matches, the later writes are gone */
    char *data = path_of(dir, "store/data.mdb");
    CHECK_EQ_INT(truncate(data, 4096), 0);
    check_refused(dir, MVM_DATA_LOSS, data, "truncated");
    restore(dir, b1);
    CHECK_EQ_INT(store_check(dir, &ro, &err), MVM_OK);
    CHECK_EQ_INT(ro.revision, rev);
    st = test_open(dir);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "w0", NULL, &t, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(store_tenant_get(st, "b0", NULL, &t, &err), MVM_OK);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);
    CHECK_EQ_INT(mk_tenant(st, "w0", 2000, "10.250.0.0/24", &err), MVM_OK);
    CHECK(test_rev(st) > rev);
    store_close(st);

    free(data);
    free(b1);
    free(b2);
    free(nodir);
    free(nosuffix);
    free(dotdot);
    free(bare);
    test_rmdir(fresh);
    test_rmdir(fresh2);
    test_rmdir(out);
    test_rmdir(dir);
}

int main(void) {
    test_new_and_sound();
    test_truncated();
    test_free_tail();
    test_zeroed_and_bad_meta();
    test_deleted();
    test_other_store();
    test_records();
    test_damage_read_later();
    test_backup();
    return check_done();
}
