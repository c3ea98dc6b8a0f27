/* store_env.c - opening and closing the LMDB environment (one process per
 * state dir, by flock; the data file checked first, see store_guard.c), its
 * named databases, the mapping of LMDB errors to mvm codes, and the
 * per-thread cached read transactions (MDB_NOTLS, mdb_txn_reset /
 * mdb_txn_renew) every read goes through. */
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
    switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return mvm_fail(err, MVM_DATA_LOSS, "store: %s: %s: the store is damaged; %s", what,
                        mdb_strerror(rc), STORE_RECOVERY_HINT);
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case ENOSPC:
    case ENOMEM:
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: %s: %s", what, mdb_strerror(rc));
    default:
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", what, mdb_strerror(rc));
    }
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

mvm_code store_open_dbs(store *st, MDB_txn *txn, bool fresh, bool writable, mvm_error *err) {
    /* later: added after the first release. A writable open creates it in
     * an older store (the upgrade); a read-only one does without it. The
     * others exist in every store that has committed anything: missing,
     * the store is damaged. */
    struct {
        const char *name;
        MDB_dbi *dbi;
        bool later;
    } dbs[] = {
        {"meta", &st->meta, false},           {"tenants", &st->tenants, false},
        {"usage", &st->usage, false},         {"netids", &st->netids, false},
        {"subnets", &st->subnets, false},     {"pools", &st->pools, false},
        {"instances", &st->instances, false}, {"inst_ids", &st->inst_ids, false},
        {"pool_inst", &st->pool_inst, false}, {"allocs", &st->allocs, false},
        {"audit", &st->audit, false},         {"snapshots", &st->snapshots, true},
    };
    st->no_snapshots = false;
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        bool create = writable && (fresh || dbs[i].later);
        int rc = mdb_dbi_open(txn, dbs[i].name, create ? MDB_CREATE : 0, dbs[i].dbi);
        if (rc == MDB_NOTFOUND && dbs[i].later) {
            st->no_snapshots = true; /* the only later one so far */
            continue;
        }
        if (rc == MDB_NOTFOUND)
            return mvm_fail(err, MVM_DATA_LOSS,
                            "store: the \"%s\" database is missing: the store is damaged; %s",
                            dbs[i].name, STORE_RECOVERY_HINT);
        if (rc)
            return store_lmdb_fail(err, rc, dbs[i].name);
    }
    return MVM_OK;
}

/* Opens the databases, checks (or, in a new store, writes) the schema and
 * identity records, and writes the marker if the state dir has none. */
static mvm_code open_records(store *st, const char *state_dir, const store_guard_result *g,
                             mvm_error *err) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return store_lmdb_fail(err, rc, "begin");
    char id[STORE_ID_HEX + 1];
    mvm_code c = store_open_dbs(st, txn, g->fresh, true, err);
    if (!c)
        c = store_guard_records(st, txn, g, true, id, err);
    if (c) {
        mdb_txn_abort(txn);
        return c;
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        return store_lmdb_fail(err, rc, "commit");
    /* After the commit: a crash in between leaves a store without a marker,
     * which the next start adopts; never a marker without a store. */
    return g->marker ? MVM_OK : store_marker_write(state_dir, id, err);
}

mvm_code store_ro_open(const char *path, unsigned flags, const store_guard_result *g, store *st,
                       MDB_txn **txn, char id[STORE_ID_HEX + 1], mvm_error *err) {
    memset(st, 0, sizeof *st);
    *txn = NULL;
    int rc = mdb_env_create(&st->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(st->env, 16);
    if (!rc)
        rc = mdb_env_open(st->env, path, MDB_RDONLY | flags, 0600);
    if (!rc)
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    mvm_code c = rc ? store_lmdb_fail(err, rc, g->data_path)
                    : store_open_dbs(st, *txn, false, false, err);
    if (!c)
        c = store_guard_records(st, *txn, g, false, id, err);
    if (c)
        store_ro_close(st, *txn);
    return c;
}

void store_ro_close(store *st, MDB_txn *txn) {
    if (txn)
        mdb_txn_abort(txn);
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
}

static void rslot_release(void *p) {
    /* Thread exit: the slot stays on the store's list, marked free, so its
     * transaction is aborted at close and may serve another thread. */
    store_rslot *s = p;
    __atomic_store_n(&s->busy, false, __ATOMIC_RELEASE);
}

/* Undoes a partly done store_open. */
static void open_undo(store *st, int done) {
    if (done >= 3)
        pthread_mutex_destroy(&st->rlock);
    if (done >= 2)
        pthread_key_delete(st->rkey);
    if (st->env)
        mdb_env_close(st->env);
    close(st->lockfd);
    free(st);
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
    char lockpath[STORE_PATH_MAX];
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
    store_guard_result g;
    if ((c = store_guard(state_dir, &g, err))) {
        close(lockfd);
        return c;
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
    int dead = 0;
    if (!rc)
        rc = mdb_reader_check(st->env, &dead); /* reader slots of a crashed process */
    if (rc) {
        c = store_lmdb_fail(err, rc, g.data_path);
        open_undo(st, 1);
        return c;
    }
    if ((c = open_records(st, state_dir, &g, err))) {
        open_undo(st, 1);
        return c;
    }
    st->audit_keep = STORE_AUDIT_KEEP_DEFAULT;
    if ((rc = pthread_key_create(&st->rkey, rslot_release)) != 0) {
        open_undo(st, 1);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: pthread_key_create: %s",
                        strerror(rc));
    }
    if ((rc = pthread_mutex_init(&st->rlock, NULL)) != 0) {
        open_undo(st, 2);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: mutex: %s", strerror(rc));
    }
    if ((rc = pthread_mutex_init(&st->wlock, NULL)) != 0) {
        open_undo(st, 3);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: mutex: %s", strerror(rc));
    }
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
static mvm_code rslot_get(store *st, store_rslot **out, mvm_error *err) {
    store_rslot *s = *out = pthread_getspecific(st->rkey);
    if (s)
        return MVM_OK;
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
            return store_lmdb_fail(err, rc, "read txn");
        }
        mdb_txn_reset(txn);
        s->txn = txn;
        s->busy = true;
        s->next = st->rslots;
        st->rslots = s;
    }
    pthread_mutex_unlock(&st->rlock);
    int rc = pthread_setspecific(st->rkey, s);
    if (rc) {
        __atomic_store_n(&s->busy, false, __ATOMIC_RELEASE); /* left for another thread */
        return store_lmdb_fail(err, rc, "read slot");
    }
    *out = s;
    return MVM_OK;
}

mvm_code store_rd_begin(store *st, MDB_txn **txn, mvm_error *err) {
    store_rslot *s;
    mvm_code c = rslot_get(st, &s, err);
    if (c)
        return c;
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

mvm_code store_revision(store *st, uint64_t *rev, mvm_error *err) {
    *rev = 0;
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c)
        return c;
    c = store_get_u64(txn, st->meta, "rev", rev, err);
    store_rd_end(st, txn);
    return c;
}
