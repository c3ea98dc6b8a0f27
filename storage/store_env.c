/* store_env.c - opening and closing the LMDB environment (one process per
 * state dir, by flock), its named databases and schema record, and the per-thread cached read transactions
 * (MDB_NOTLS, mdb_txn_reset / mdb_txn_renew) every read goes through. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STORE_MAP_SIZE ((size_t)4 << 30) /* 4 GiB of address space */
#define STORE_MAX_READERS 1024

struct store_rslot {
    MDB_txn *txn;
    bool busy;
    store_rslot *next;
};

mvm_code store_lmdb_fail(mvm_error *err, int rc, const char *what) {
    mvm_code code = MVM_INTERNAL;
    if (rc == MDB_MAP_FULL || rc == ENOSPC)
        code = MVM_RESOURCE_EXHAUSTED;
    return mvm_fail(err, code, "store: %s: %s", what, mdb_strerror(rc));
}

static mvm_code mkdir_p(const char *path, mvm_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "store: bad state dir \"%s\"", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return mvm_fail(err, MVM_INTERNAL, "store: mkdir %s: %s", buf, strerror(errno));
        buf[i] = c;
    }
    return MVM_OK;
}

static mvm_code open_dbs(store *st, mvm_error *err) {
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"meta", &st->meta},           {"tenants", &st->tenants},
        {"usage", &st->usage},         {"netids", &st->netids},
        {"subnets", &st->subnets},     {"pools", &st->pools},
        {"instances", &st->instances}, {"inst_ids", &st->inst_ids},
        {"pool_inst", &st->pool_inst}, {"allocs", &st->allocs},
        {"audit", &st->audit},
    };
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return store_lmdb_fail(err, rc, "begin");
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc) {
            mdb_txn_abort(txn);
            return store_lmdb_fail(err, rc, dbs[i].name);
        }
    }
    MDB_val k = {6, "schema"}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint32_t ver = STORE_SCHEMA_VERSION;
        v.mv_size = sizeof ver;
        v.mv_data = &ver;
        rc = mdb_put(txn, st->meta, &k, &v, 0);
    } else if (rc == 0) {
        uint32_t ver = 0;
        if (v.mv_size == sizeof ver)
            memcpy(&ver, v.mv_data, sizeof ver);
        if (ver != STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "store: schema version %u, this build reads %u", ver,
                            STORE_SCHEMA_VERSION);
        }
    }
    if (rc) {
        mdb_txn_abort(txn);
        return store_lmdb_fail(err, rc, "schema");
    }
    rc = mdb_txn_commit(txn);
    return rc ? store_lmdb_fail(err, rc, "commit") : MVM_OK;
}

static void rslot_release(void *p) {
    /* Thread exit: the slot stays on the store's list, marked free, so its
     * transaction is aborted at close and may serve another thread. */
    store_rslot *s = p;
    __atomic_store_n(&s->busy, false, __ATOMIC_RELEASE);
}

mvm_code store_open(const char *state_dir, store **out, mvm_error *err) {
    *out = NULL;
    char dir[4096];
    if (!state_dir || snprintf(dir, sizeof dir, "%s/store", state_dir) >= (int)sizeof dir)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "store: bad state dir");
    mvm_code c = mkdir_p(dir, err);
    if (c)
        return c;
    /* One process per state dir: the revision order of watch events and the
     * writer lock that provides it are process-local. */
    char lockpath[4200];
    snprintf(lockpath, sizeof lockpath, "%s/mvmd.lock", dir);
    int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0)
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", lockpath, strerror(errno));
    if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(lockfd);
        return mvm_fail(err, e == EWOULDBLOCK ? MVM_FAILED_PRECONDITION : MVM_INTERNAL,
                        "store: %s is in use by another process (%s)", dir, strerror(e));
    }
    store *st = calloc(1, sizeof *st);
    if (!st) {
        close(lockfd);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: out of memory");
    }
    st->lockfd = lockfd;
    int rc = mdb_env_create(&st->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(st->env, 16);
    if (!rc)
        rc = mdb_env_set_mapsize(st->env, STORE_MAP_SIZE);
    if (!rc)
        rc = mdb_env_set_maxreaders(st->env, STORE_MAX_READERS);
    if (!rc)
        rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600);
    if (rc) {
        c = store_lmdb_fail(err, rc, dir);
        if (st->env)
            mdb_env_close(st->env);
        close(st->lockfd);
        free(st);
        return c;
    }
    int dead = 0;
    mdb_reader_check(st->env, &dead); /* reader slots of a crashed process */
    c = open_dbs(st, err);
    if (c) {
        mdb_env_close(st->env);
        close(st->lockfd);
        free(st);
        return c;
    }
    st->audit_keep = STORE_AUDIT_KEEP_DEFAULT;
    pthread_key_create(&st->rkey, rslot_release);
    pthread_mutex_init(&st->rlock, NULL);
    pthread_mutex_init(&st->wlock, NULL);
    *out = st;
    return MVM_OK;
}

void store_close(store *st) {
    if (!st)
        return;
    pthread_key_delete(st->rkey);
    for (store_rslot *s = st->rslots, *next; s; s = next) {
        next = s->next;
        mdb_txn_abort(s->txn);
        free(s);
    }
    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->rlock);
    pthread_mutex_destroy(&st->wlock);
    close(st->lockfd); /* releases the flock */
    free(st);
}

/* This thread's slot: its own, or a free one left by an exited thread, or new. */
static store_rslot *rslot_get(store *st, mvm_error *err) {
    store_rslot *s = pthread_getspecific(st->rkey);
    if (s)
        return s;
    pthread_mutex_lock(&st->rlock);
    for (s = st->rslots; s; s = s->next) {
        bool expect = false;
        if (__atomic_compare_exchange_n(&s->busy, &expect, true, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            break;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        MDB_txn *txn = NULL;
        int rc = s ? mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) : ENOMEM;
        if (rc) {
            free(s);
            pthread_mutex_unlock(&st->rlock);
            store_lmdb_fail(err, rc, "read txn");
            return NULL;
        }
        mdb_txn_reset(txn);
        s->txn = txn;
        s->busy = true;
        s->next = st->rslots;
        st->rslots = s;
    }
    pthread_mutex_unlock(&st->rlock);
    pthread_setspecific(st->rkey, s);
    return s;
}

mvm_code store_rd_begin(store *st, MDB_txn **txn, mvm_error *err) {
    store_rslot *s = rslot_get(st, err);
    if (!s)
        return err ? err->code : MVM_INTERNAL;
    int rc = mdb_txn_renew(s->txn);
    if (rc == EINVAL) {
        /* Already in use on this thread (a nested read): take a fresh one. */
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
        return rc ? store_lmdb_fail(err, rc, "read txn") : MVM_OK;
    }
    if (rc)
        return store_lmdb_fail(err, rc, "renew");
    *txn = s->txn;
    return MVM_OK;
}

void store_rd_end(store *st, MDB_txn *txn) {
    store_rslot *s = pthread_getspecific(st->rkey);
    if (s && s->txn == txn)
        mdb_txn_reset(txn);
    else
        mdb_txn_abort(txn);
}

uint64_t store_revision(store *st) {
    MDB_txn *txn;
    if (store_rd_begin(st, &txn, NULL) != MVM_OK)
        return 0;
    uint64_t rev = store_get_u64(txn, st->meta, "rev");
    store_rd_end(st, txn);
    return rev;
}
