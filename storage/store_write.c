/* store_write.c - the one way the store writes: the request's own rules
 * checked without the lock, then a single LMDB write transaction per
 * mutation that bumps the global revision, appends the audit record,
 * commits, and then publishes queued instance events to the watch hook in
 * revision order. A refused mutation is audited on its own. */
#include "store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void store_wtx_audit(store_wtx *w, const char *tenant, const char *fmt, ...) {
    snprintf(w->tenant, sizeof w->tenant, "%s", tenant ? tenant : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->object, sizeof w->object, fmt, ap);
    va_end(ap);
}

void store_wtx_stamp(const store_wtx *w, Google__Protobuf__Timestamp *ts) {
    google__protobuf__timestamp__init(ts);
    ts->seconds = w->now_sec;
    ts->nanos = w->now_nsec;
}

Google__Protobuf__Timestamp *store_wtx_time(store_wtx *w) {
    Google__Protobuf__Timestamp *t = malloc(sizeof *t);
    if (t) {
        google__protobuf__timestamp__init(t);
        t->seconds = w->now_sec;
        t->nanos = w->now_nsec;
    }
    return t;
}

mvm_code store_wtx_event(store_wtx *w, Mvm__V1__InstanceEvent__Type type,
                         const Mvm__V1__Instance *inst, mvm_error *err) {
    if (w->n_events >= STORE_MAX_EVENTS)
        return mvm_fail(err, MVM_INTERNAL, "store: too many events in one write");
    /* Copied now, so that publishing after the commit cannot fail. */
    Mvm__V1__Instance *copy = (Mvm__V1__Instance *)store_msg_dup(&inst->base, NULL);
    if (!copy)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "store: out of memory");
    w->events[w->n_events].type = type;
    w->events[w->n_events].inst = copy;
    w->n_events++;
    return MVM_OK;
}

void store_audit_key(uint64_t seq, uint8_t key[8]) {
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* Retention: deletes the records with seq <= upto (in steady state, one). */
static mvm_code audit_trim(MDB_txn *txn, MDB_dbi dbi, uint64_t upto, mvm_error *err) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    uint8_t last[8];
    store_audit_key(upto, last);
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 && k.mv_size == 8 &&
           memcmp(k.mv_data, last, 8) <= 0)
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? MVM_OK : store_lmdb_fail(err, rc, "audit trim");
}

/* Appends one audit record inside txn. */
static mvm_code audit_put(store *st, MDB_txn *txn, const store_wtx *w, const store_actor *who,
                          mvm_code code, const char *msg, mvm_error *err) {
    uint64_t seq;
    mvm_code c = store_get_u64(txn, st->meta, "audit_seq", &seq, err);
    if (c || (c = store_put_u64(txn, st->meta, "audit_seq", ++seq, err)))
        return c;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = w->now_sec;
    ts.nanos = w->now_nsec;
    Mvm__V1__AuditRecord rec = MVM__V1__AUDIT_RECORD__INIT;
    rec.seq = seq;
    rec.time = &ts;
    rec.identity = (char *)(who && who->identity ? who->identity : "");
    rec.method = (char *)(who && who->method ? who->method : "");
    rec.tenant = (char *)w->tenant;
    rec.object = (char *)w->object;
    rec.code = (char *)mvm_code_name(code);
    rec.message = (char *)(msg ? msg : "");
    uint8_t key[8];
    store_audit_key(seq, key);
    c = store_put_msg(txn, st->audit, key, sizeof key, &rec.base, err);
    if (c || seq <= st->audit_keep)
        return c;
    return audit_trim(txn, st->audit, seq - st->audit_keep, err);
}

mvm_code store_wtx_audit_put(store_wtx *w, const char *msg, mvm_error *err) {
    return audit_put(w->st, w->txn, w, w->who, MVM_OK, msg, err);
}

void store_set_audit_retention(store *st, uint64_t keep) {
    pthread_mutex_lock(&st->wlock);
    st->audit_keep = keep ? keep : 1;
    pthread_mutex_unlock(&st->wlock);
}

static void events_free(store_wtx *w) {
    for (int i = 0; i < w->n_events; i++)
        store_msg_free(&w->events[i].inst->base, NULL);
    w->n_events = 0;
}

static void events_publish(store *st, store_wtx *w) {
    for (int i = 0; st->hook && i < w->n_events; i++)
        st->hook(st->hook_arg, w->events[i].type, w->events[i].inst, w->rev);
}

/* Records a refused mutation in a transaction of its own, under the write
 * lock. Best effort by design: the caller's answer is the refusal, and a
 * store that cannot record it (disk full, say) answers the next write with
 * that error itself. */
static void audit_refusal(store *st, store_wtx *w, const store_actor *who, const mvm_error *e) {
    MDB_txn *txn;
    if (mdb_txn_begin(st->env, NULL, 0, &txn))
        return;
    if (audit_put(st, txn, w, who, e->code, e->msg, NULL) == MVM_OK)
        mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
}

/* Ends a refused write: a rule that returned a bare code gets its name as
 * the message, and the refusal is audited. Called with the write lock. */
static mvm_code refuse(store *st, store_wtx *w, const store_actor *who, mvm_code c,
                       mvm_error *err) {
    if (err->code == MVM_OK)
        mvm_fail(err, c, "%s", mvm_code_name(c));
    audit_refusal(st, w, who, err);
    return c;
}

mvm_code store_write(store *st, const store_actor *who, store_write_fn check, store_write_fn fn,
                     void *arg, mvm_error *err) {
    mvm_error local;
    if (!err)
        err = &local;
    mvm_error_clear(err);
    store_wtx w;
    memset(&w, 0, sizeof w);
    w.st = st;
    w.who = who;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w.now_sec = ts.tv_sec;
    w.now_nsec = (int32_t)ts.tv_nsec;

    mvm_code c = check ? check(&w, arg, err) : MVM_OK;
    pthread_mutex_lock(&st->wlock);
    if (c) {
        refuse(st, &w, who, c, err);
        pthread_mutex_unlock(&st->wlock);
        return c;
    }
    int rc = mdb_txn_begin(st->env, NULL, 0, &w.txn);
    if (rc) {
        pthread_mutex_unlock(&st->wlock);
        return store_lmdb_fail(err, rc, "begin write");
    }
    c = store_get_u64(w.txn, st->meta, "rev", &w.rev, err);
    w.rev++;
    if (c == MVM_OK)
        c = fn(&w, arg, err);
    if (c == MVM_OK && w.discard) {
        mdb_txn_abort(w.txn); /* queued events are dropped below, unpublished */
    } else if (c == MVM_OK && !(c = store_put_u64(w.txn, st->meta, "rev", w.rev, err)) &&
               !(c = audit_put(st, w.txn, &w, who, MVM_OK, w.note, err))) {
        rc = mdb_txn_commit(w.txn);
        if (rc)
            c = store_lmdb_fail(err, rc, "commit");
        else
            events_publish(st, &w);
    } else {
        mdb_txn_abort(w.txn);
        refuse(st, &w, who, c, err);
    }
    pthread_mutex_unlock(&st->wlock);
    events_free(&w);
    return c;
}
