/* store_snapshot.c - snapshots (mvm.v1.Snapshot: pools' base snapshots and
 * fork snapshots of running instances) and the life of a pool's base
 * snapshot (Pool.base_snapshot). A snapshot is recorded READY, retired
 * (with a reason, kept until mvmd has removed its files) and then deleted.
 * A base snapshot build is begun (BUILDING, with the id it will make), then
 * either fails (FAILED, why) or ends with its snapshot recorded as the
 * pool's base (READY), which retires the one it replaces; a base is
 * cleared (NONE) on request, at its TTL, or when its snapshot is retired.
 * Every change is one store_write: the snapshot record and the pool's
 * base_snapshot never disagree. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP(x) MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_##x
#define KIND(x) MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_##x
#define BASE(x) MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_##x
#define BASE_STATE_PREFIX "BASE_SNAPSHOT_STATE_"

typedef struct {
    const struct base_call *call;  /* base_* calls: what they do */
    const Mvm__V1__Snapshot *in;   /* create */
    const char *tenant;
    const char *name;              /* the pool (base_* calls) */
    const char *id;                /* the snapshot (retire, delete) */
    const char *build_id;          /* base_begin, base_fail; create: base_of_build */
    const char *expect_id;         /* base_clear */
    const char *text;              /* a retire reason or a failure message */
    bool *started;                 /* base_begin */
    ProtobufCAllocator *alloc;
    Mvm__V1__Snapshot *out;
    Mvm__V1__Pool *pool_out;
} snap_args;

/* ---- records ---- */

static mvm_code snap_get(MDB_txn *txn, store *st, const char *tenant, const char *id,
                         ProtobufCAllocator *alloc, Mvm__V1__Snapshot **out, mvm_error *err) {
    *out = NULL;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, tenant, id, NULL);
    return store_get_msg(txn, st->snapshots, key, klen, &mvm__v1__snapshot__descriptor, alloc,
                         (ProtobufCMessage **)out, err);
}

mvm_code store_snapshot_load(MDB_txn *txn, store *st, const char *tenant, const char *id,
                             ProtobufCAllocator *alloc, Mvm__V1__Snapshot **out,
                             mvm_error *err) {
    mvm_code c = snap_get(txn, st, tenant, id, alloc, out, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "snapshot %s/%s not found", tenant, id);
    return c;
}

static mvm_code snap_put(store_wtx *w, const Mvm__V1__Snapshot *s, mvm_error *err) {
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, s->tenant, s->id, NULL);
    return store_put_msg(w->txn, w->st->snapshots, key, klen, &s->base, err);
}

mvm_code store_snapshot_retire_locked(store_wtx *w, const char *tenant, const char *id,
                                      const char *reason, mvm_error *err) {
    Mvm__V1__Snapshot *s;
    mvm_code c = snap_get(w->txn, w->st, tenant, id, NULL, &s, err);
    if (c == MVM_NOT_FOUND)
        return MVM_OK;
    if (c)
        return c;
    if (s->state != SNAP(RETIRED)) {
        Google__Protobuf__Timestamp now;
        store_wtx_stamp(w, &now);
        Mvm__V1__Snapshot r = *s; /* shallow: s keeps its own pointers */
        r.state = SNAP(RETIRED);
        r.retire_time = &now;
        r.retire_reason = (char *)reason;
        c = snap_put(w, &r, err);
    }
    store_msg_free(&s->base, NULL);
    return c;
}

typedef struct {
    const char *pool;
    char (*ids)[STORE_ID_LEN + 1];
    size_t n, cap;
    bool oom;
} pool_snaps;

static bool collect_ready(void *arg, const ProtobufCMessage *m) {
    pool_snaps *ps = arg;
    const Mvm__V1__Snapshot *s = (const Mvm__V1__Snapshot *)m;
    if (s->state == SNAP(RETIRED) || strcmp(s->pool, ps->pool) != 0 ||
        !store_id_valid(s->id, 's'))
        return true;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        void *ids = realloc(ps->ids, cap * sizeof *ps->ids);
        if (!ids) {
            ps->oom = true;
            return false;
        }
        ps->ids = ids;
        ps->cap = cap;
    }
    memcpy(ps->ids[ps->n++], s->id, STORE_ID_LEN + 1);
    return true;
}

mvm_code store_snapshot_retire_pool(store_wtx *w, const char *tenant, const char *pool,
                                    const char *reason, mvm_error *err) {
    /* Collected first, then retired: no cursor walks a db being written. */
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = store_key2(prefix, tenant, "", NULL);
    pool_snaps ps = {.pool = pool};
    mvm_code c = store_walk(w->txn, w->st->snapshots, prefix, plen, plen,
                            &mvm__v1__snapshot__descriptor, collect_ready, &ps, err);
    if (!c && ps.oom)
        c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < ps.n && !c; i++)
        c = store_snapshot_retire_locked(w, tenant, ps.ids[i], reason, err);
    free(ps.ids);
    return c;
}

/* ---- a pool's base snapshot ---- */

/* The pool's base_snapshot as a shallow copy (NONE if it has none). */
static Mvm__V1__BaseSnapshot base_of(const Mvm__V1__Pool *p) {
    Mvm__V1__BaseSnapshot b = MVM__V1__BASE_SNAPSHOT__INIT;
    if (p->base_snapshot)
        b = *p->base_snapshot;
    if (b.state == BASE(UNSPECIFIED))
        b.state = BASE(NONE);
    return b;
}

static bool is_set(const char *s) {
    return s && *s;
}

/* "BUILDING s-0123456789abcdef", "READY", ...: the base for a message. */
static void base_describe(const Mvm__V1__BaseSnapshot *b, char *buf, size_t cap) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mvm__v1__base_snapshot_state__descriptor, b->state);
    const char *name = v ? v->name : "?";
    if (strncmp(name, BASE_STATE_PREFIX, strlen(BASE_STATE_PREFIX)) == 0)
        name += strlen(BASE_STATE_PREFIX);
    snprintf(buf, cap, "%s%s%.40s", name, is_set(b->build_id) ? " " : "",
             is_set(b->build_id) ? b->build_id : "");
}

/* Stores p with base_snapshot b (its update_time the write's time). */
static mvm_code base_put(store_wtx *w, const Mvm__V1__Pool *p, Mvm__V1__BaseSnapshot *b,
                         ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    b->update_time = &now;
    Mvm__V1__Pool q = *p;
    q.base_snapshot = b;
    mvm_code c = store_pool_put(w, &q, alloc, out, err);
    b->update_time = NULL; /* now is about to go */
    return c;
}

/* store_pool_base_clear's change, on a loaded pool. */
static mvm_code base_clear(store_wtx *w, const Mvm__V1__Pool *p, const char *reason,
                           ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    Mvm__V1__BaseSnapshot b = base_of(p);
    mvm_code c = MVM_OK;
    if (is_set(b.snapshot_id))
        c = store_snapshot_retire_locked(w, p->tenant, b.snapshot_id, reason, err);
    if (c)
        return c;
    b.state = BASE(NONE);
    b.snapshot_id = (char *)"";
    b.build_id = (char *)"";
    b.expire_time = NULL;
    b.message = (char *)reason;
    return base_put(w, p, &b, alloc, out, err);
}

/* FAILED_PRECONDITION unless p is building build_id. */
static mvm_code base_building(const Mvm__V1__Pool *p, const char *build_id, mvm_error *err) {
    Mvm__V1__BaseSnapshot b = base_of(p);
    if (b.state == BASE(BUILDING) && is_set(b.build_id) && strcmp(b.build_id, build_id) == 0)
        return MVM_OK;
    char now[80];
    base_describe(&b, now, sizeof now);
    return mvm_fail(err, MVM_FAILED_PRECONDITION,
                    "pool %s/%s is not building base snapshot %s (its base snapshot is %s): "
                    "that build was cancelled or superseded, or never begun",
                    p->tenant, p->name, build_id, now);
}

/* Names the pool in the audit record and checks the names (no lock). */
static mvm_code pool_ref_check(store_wtx *w, const snap_args *a, mvm_error *err) {
    store_wtx_audit(w, a->tenant, "pool/%.63s/%.63s", a->tenant ? a->tenant : "",
                    a->name ? a->name : "");
    mvm_code c = store_check_name("tenant", a->tenant, err);
    return c ? c : store_check_name("pool", a->name, err);
}

/* The three base snapshot writes, each an op on the loaded pool. */
typedef mvm_code (*base_op)(store_wtx *w, snap_args *a, const Mvm__V1__Pool *p,
                            mvm_error *err);
struct base_call {
    base_op op;
    bool build_id;    /* takes a build id (checked) */
    const char *text; /* names the text it requires, or NULL */
};

static mvm_code begin_op(store_wtx *w, snap_args *a, const Mvm__V1__Pool *p, mvm_error *err) {
    Mvm__V1__BaseSnapshot b = base_of(p);
    bool taken = false;
    mvm_code c;
    if (b.state == BASE(BUILDING)) { /* one build at a time: this one goes on */
        a->pool_out = (Mvm__V1__Pool *)store_msg_dup(&p->base, a->alloc);
        return a->pool_out ? MVM_OK : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    if ((c = store_snapshot_id_taken(w->txn, w->st, a->build_id, &taken, err)))
        return c;
    if (taken)
        return mvm_fail(err, MVM_ALREADY_EXISTS,
                        "build id %s is the id of an existing snapshot; draw another",
                        a->build_id);
    b.state = BASE(BUILDING);
    b.build_id = (char *)a->build_id;
    b.message = (char *)"";
    c = base_put(w, p, &b, a->alloc, &a->pool_out, err);
    *a->started = c == MVM_OK;
    return c;
}

static mvm_code fail_op(store_wtx *w, snap_args *a, const Mvm__V1__Pool *p, mvm_error *err) {
    mvm_code c = base_building(p, a->build_id, err);
    if (c)
        return c;
    Mvm__V1__BaseSnapshot b = base_of(p);
    b.state = BASE(FAILED);
    b.build_id = (char *)"";
    b.message = (char *)a->text;
    return base_put(w, p, &b, NULL, NULL, err);
}

static mvm_code clear_op(store_wtx *w, snap_args *a, const Mvm__V1__Pool *p, mvm_error *err) {
    Mvm__V1__BaseSnapshot b = base_of(p);
    const char *now = is_set(b.snapshot_id) ? b.snapshot_id : "";
    if (a->expect_id && strcmp(now, a->expect_id) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "pool %s/%s's base snapshot is %s, not %s: it was replaced or cleared "
                        "meanwhile",
                        p->tenant, p->name, *now ? now : "none", a->expect_id);
    return base_clear(w, p, a->text, a->alloc, &a->pool_out, err);
}

static const struct base_call BEGIN = {begin_op, true, NULL},
                              FAIL = {fail_op, true, "a failed build's message"},
                              CLEAR = {clear_op, false, "the reason"};

/* The request's own rules (no lock held). */
static mvm_code base_check(store_wtx *w, void *arg, mvm_error *err) {
    const snap_args *a = arg;
    mvm_code c = pool_ref_check(w, a, err);
    if (!c && a->call->build_id)
        c = store_check_id("build id", a->build_id, 's', err);
    if (!c && a->expect_id)
        c = store_check_id("expected snapshot id", a->expect_id, 's', err);
    if (!c && a->call->text)
        c = store_check_text(a->call->text, a->text, STORE_MESSAGE_MAX, err);
    return c;
}

static mvm_code base_fn(store_wtx *w, void *arg, mvm_error *err) {
    snap_args *a = arg;
    Mvm__V1__Pool *p;
    mvm_code c = store_pool_load(w->txn, w->st, a->tenant, a->name, &p, err);
    if (c)
        return c;
    c = a->call->op(w, a, p, err);
    store_msg_free(&p->base, NULL);
    return c;
}

mvm_code store_pool_base_begin(store *st, const store_actor *who, const char *tenant,
                               const char *name, const char *build_id, bool *started,
                               ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    bool local;
    started = started ? started : &local;
    *started = false;
    snap_args a = {.call = &BEGIN, .tenant = tenant, .name = name, .build_id = build_id,
                   .started = started, .alloc = alloc};
    mvm_code c = store_write(st, who, base_check, base_fn, &a, err);
    if (c)
        *started = false;
    return store_hand_out(c, a.pool_out ? &a.pool_out->base : NULL, alloc, out);
}

mvm_code store_pool_base_fail(store *st, const store_actor *who, const char *tenant,
                              const char *name, const char *build_id, const char *message,
                              mvm_error *err) {
    snap_args a = {.call = &FAIL, .tenant = tenant, .name = name, .build_id = build_id,
                   .text = message};
    return store_write(st, who, base_check, base_fn, &a, err);
}

mvm_code store_pool_base_clear(store *st, const store_actor *who, const char *tenant,
                               const char *name, const char *expect_snapshot_id,
                               const char *reason, ProtobufCAllocator *alloc,
                               Mvm__V1__Pool **out, mvm_error *err) {
    snap_args a = {.call = &CLEAR, .tenant = tenant, .name = name,
                   .expect_id = expect_snapshot_id, .text = reason, .alloc = alloc};
    mvm_code c = store_write(st, who, base_check, base_fn, &a, err);
    return store_hand_out(c, a.pool_out ? &a.pool_out->base : NULL, alloc, out);
}

/* ---- snapshots: create ---- */

static mvm_code snap_create_check(store_wtx *w, void *arg, mvm_error *err) {
    const snap_args *a = arg;
    const Mvm__V1__Snapshot *in = a->in;
    if (!in) {
        store_wtx_audit(w, "", "snapshot/");
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "snapshot is required");
    }
    store_wtx_audit(w, in->tenant, "snapshot/%.63s/%.40s", in->tenant ? in->tenant : "",
                    in->id ? in->id : "");
    mvm_code c;
    if ((c = store_check_name("tenant", in->tenant, err)) ||
        (c = store_check_name("pool", in->pool, err)) ||
        (c = store_check_id("snapshot id", in->id, 's', err)))
        return c;
    if (in->kind != KIND(BASE) && in->kind != KIND(FORK))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "snapshot kind %d is not SNAPSHOT_KIND_BASE or SNAPSHOT_KIND_FORK",
                        (int)in->kind);
    if (a->build_id && ((c = store_check_id("build id", a->build_id, 's', err))))
        return c;
    if (a->build_id && in->kind != KIND(BASE))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "snapshot %s ends a base snapshot build, so its kind must be "
                        "SNAPSHOT_KIND_BASE",
                        in->id);
    /* A fork names the instance it was taken of. */
    if ((in->kind == KIND(FORK) || is_set(in->source_instance)) &&
        (c = store_check_id("snapshot source_instance", in->source_instance, 'i', err)))
        return c;
    if (is_set(in->parent_id) &&
        (c = store_check_id("snapshot parent_id", in->parent_id, 's', err)))
        return c;
    if ((c = store_check_machine("snapshot", in->vcpus, in->mem_mib, err)))
        return c;
    return store_check_strings(&in->base, err);
}

/* Records a->in READY; with a->build_id, as p's new base snapshot. */
static mvm_code snap_create_locked(store_wtx *w, snap_args *a, const Mvm__V1__Pool *p,
                                   mvm_error *err) {
    Google__Protobuf__Timestamp now, expire;
    store_wtx_stamp(w, &now);
    Mvm__V1__Snapshot s = *a->in; /* shallow; the output fields set here */
    s.state = SNAP(READY);
    s.create_time = &now;
    s.retire_time = NULL;
    s.retire_reason = (char *)"";
    s.clones = 0;           /* computed on read, never stored */
    s.allocated_bytes = 0;
    if (a->build_id) {
        s.expire_time = NULL;
        if (p->base_snapshot_ttl_seconds) {
            expire = now;
            expire.seconds += p->base_snapshot_ttl_seconds;
            s.expire_time = &expire;
        }
    }
    mvm_code c = snap_put(w, &s, err);
    if (!c && a->build_id) {
        Mvm__V1__BaseSnapshot b = base_of(p);
        char reason[64];
        snprintf(reason, sizeof reason, "replaced by %s", s.id);
        if (is_set(b.snapshot_id) && strcmp(b.snapshot_id, s.id) != 0)
            c = store_snapshot_retire_locked(w, p->tenant, b.snapshot_id, reason, err);
        b.state = BASE(READY);
        b.snapshot_id = s.id;
        b.build_id = (char *)"";
        b.message = (char *)"";
        b.expire_time = s.expire_time;
        if (!c)
            c = base_put(w, p, &b, NULL, NULL, err);
    }
    if (!c) {
        a->out = (Mvm__V1__Snapshot *)store_msg_dup(&s.base, a->alloc);
        if (!a->out)
            c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    return c;
}

static mvm_code snap_create_fn(store_wtx *w, void *arg, mvm_error *err) {
    snap_args *a = arg;
    const Mvm__V1__Snapshot *in = a->in;
    Mvm__V1__Pool *p;
    bool taken;
    mvm_code c = store_pool_load(w->txn, w->st, in->tenant, in->pool, &p, err);
    if (c)
        return c;
    if (!(c = store_snapshot_id_taken(w->txn, w->st, in->id, &taken, err)) && taken)
        c = mvm_fail(err, MVM_ALREADY_EXISTS,
                     "snapshot id %s is taken (snapshot ids are unique on the node)", in->id);
    if (!c && a->build_id)
        c = base_building(p, a->build_id, err);
    if (!c)
        c = snap_create_locked(w, a, p, err);
    store_msg_free(&p->base, NULL);
    return c;
}

mvm_code store_snapshot_create(store *st, const store_actor *who, const Mvm__V1__Snapshot *in,
                               const char *base_of_build, ProtobufCAllocator *alloc,
                               Mvm__V1__Snapshot **out, mvm_error *err) {
    snap_args a = {.in = in, .build_id = base_of_build, .alloc = alloc};
    mvm_code c = store_write(st, who, snap_create_check, snap_create_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

/* ---- snapshots: reads ---- */

static mvm_code snap_ref_check(const char *tenant, const char *id, mvm_error *err) {
    mvm_code c = store_check_name("tenant", tenant, err);
    return c ? c : store_check_id("snapshot id", id, 's', err);
}

mvm_code store_snapshot_get(store *st, const char *tenant, const char *id,
                            ProtobufCAllocator *alloc, Mvm__V1__Snapshot **out, mvm_error *err) {
    *out = NULL;
    mvm_code c = snap_ref_check(tenant, id, err);
    MDB_txn *txn;
    if (c || (c = store_rd_begin(st, &txn, err)))
        return c;
    c = store_snapshot_load(txn, st, tenant, id, alloc, out, err);
    store_rd_end(st, txn);
    return c;
}

mvm_code store_snapshot_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                             Mvm__V1__ListSnapshotsResponse **out, mvm_error *err) {
    Mvm__V1__ListSnapshotsResponse *r = store_alloc(alloc, sizeof *r);
    *out = NULL;
    if (!r)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm__v1__list_snapshots_response__init(r);
    store_list_opts o = *opt;
    o.label_selector = NULL; /* snapshots have no labels */
    mvm_code c = store_page_by_pool(st, st->snapshots, &mvm__v1__snapshot__descriptor, &o, alloc,
                                    (ProtobufCMessage ***)&r->snapshots, &r->n_snapshots,
                                    &r->next_page_token, err);
    return store_hand_out(c, &r->base, alloc, out);
}

typedef struct {
    store_snapshot_fn fn;
    void *arg;
} snap_walk_ctx;

static bool snap_walk_one(void *arg, const ProtobufCMessage *m) {
    snap_walk_ctx *f = arg;
    return f->fn(f->arg, (const Mvm__V1__Snapshot *)m);
}

mvm_code store_snapshot_foreach(store *st, const char *tenant, store_snapshot_fn fn, void *arg,
                                mvm_error *err) {
    snap_walk_ctx f = {fn, arg};
    return store_foreach(st, st->snapshots, tenant, &mvm__v1__snapshot__descriptor,
                         snap_walk_one, &f, NULL, err);
}

/* ---- snapshots: retire and delete ---- */

static mvm_code snap_write_check(store_wtx *w, void *arg, mvm_error *err) {
    const snap_args *a = arg;
    store_wtx_audit(w, a->tenant, "snapshot/%.63s/%.40s", a->tenant ? a->tenant : "",
                    a->id ? a->id : "");
    return snap_ref_check(a->tenant, a->id, err);
}

static mvm_code snap_retire_check(store_wtx *w, void *arg, mvm_error *err) {
    const snap_args *a = arg;
    mvm_code c = snap_write_check(w, arg, err);
    return c ? c : store_check_text("the reason", a->text, STORE_MESSAGE_MAX, err);
}

static mvm_code snap_retire_fn(store_wtx *w, void *arg, mvm_error *err) {
    snap_args *a = arg;
    Mvm__V1__Snapshot *s;
    mvm_code c = store_snapshot_load(w->txn, w->st, a->tenant, a->id, NULL, &s, err);
    if (c)
        return c;
    Mvm__V1__Pool *p = NULL;
    if (s->state == SNAP(READY)) {
        /* Its pool's base? Then the base goes too (the pool may be gone). */
        uint8_t key[STORE_KEY_MAX];
        size_t klen = store_key2(key, s->tenant, s->pool, NULL);
        c = store_get_msg(w->txn, w->st->pools, key, klen, &mvm__v1__pool__descriptor, NULL,
                          (ProtobufCMessage **)&p, err);
        if (c == MVM_NOT_FOUND) {
            p = NULL;
            c = MVM_OK;
        }
        Mvm__V1__BaseSnapshot b = MVM__V1__BASE_SNAPSHOT__INIT;
        if (p)
            b = base_of(p);
        if (!c && is_set(b.snapshot_id) && strcmp(b.snapshot_id, s->id) == 0)
            c = base_clear(w, p, a->text, NULL, NULL, err);
        else if (!c)
            c = store_snapshot_retire_locked(w, a->tenant, a->id, a->text, err);
    }
    store_msg_free(p ? &p->base : NULL, NULL);
    store_msg_free(&s->base, NULL);
    return c;
}

mvm_code store_snapshot_retire(store *st, const store_actor *who, const char *tenant,
                               const char *id, const char *reason, mvm_error *err) {
    snap_args a = {.tenant = tenant, .id = id, .text = reason};
    return store_write(st, who, snap_retire_check, snap_retire_fn, &a, err);
}

static mvm_code snap_delete_fn(store_wtx *w, void *arg, mvm_error *err) {
    snap_args *a = arg;
    Mvm__V1__Snapshot *s;
    mvm_code c = store_snapshot_load(w->txn, w->st, a->tenant, a->id, NULL, &s, err);
    if (c)
        return c;
    if (s->state != SNAP(RETIRED)) {
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "snapshot %s/%s is READY: retire it first (DeleteBaseSnapshot, for a "
                     "pool's base snapshot)",
                     a->tenant, a->id);
    } else {
        uint8_t key[STORE_KEY_MAX];
        size_t klen = store_key2(key, a->tenant, a->id, NULL);
        c = store_del(w->txn, w->st->snapshots, key, klen, err);
    }
    store_msg_free(&s->base, NULL);
    return c;
}

mvm_code store_snapshot_delete(store *st, const store_actor *who, const char *tenant,
                               const char *id, mvm_error *err) {
    snap_args a = {.tenant = tenant, .id = id};
    return store_write(st, who, snap_write_check, snap_delete_fn, &a, err);
}
