/* core_status.c - what the reconcile loop knows and tells: each pool's
 * status (counts of its instances, reconcile state, failures in a row and
 * backoff), filled into Pool.status on reads; the node's status
 * (NodeService.GetStatus), rebuilt after every round and published to
 * WatchStatus subscribers when it differs from the last one published
 * (observe times aside); and the removal of tenants pruned by Apply once
 * their pools are gone.
 *
 * Threads: the round functions run on the reconcile thread; the others on
 * any thread. Subscriber callbacks run under status_mu, on the reconcile
 * thread or on the subscribing thread (the first status), and must not
 * block nor call back into this file. */
#include "core_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define R(x) MVM__V1__RECONCILE_STATE__RECONCILE_STATE_##x
#define BACKOFF_MIN_US 1000000LL   /* 1 s */
#define BACKOFF_MAX_US 300000000LL /* 5 min */

struct core_pool_state {
    struct core_pool_state *next;
    char tenant[64], name[64];
    Mvm__V1__PoolStatus counts; /* scalar fields only */
    Mvm__V1__ReconcileState state;
    char message[MVM_ERROR_MSG_MAX];
    uint32_t failures;
    int64_t next_attempt_us, observe_us;
    bool seen; /* in the round being published */
};

struct core_status_sub {
    struct core_status_sub *next;
    core_status_fn fn;
    void *arg;
};

/* ---- reading the pools and tenants ---- */

static bool note_pool(void *arg, const Mvm__V1__Pool *p) {
    core_pool_specs *s = arg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        core_pool_spec *it = realloc(s->items, cap * sizeof *it);
        if (!it) {
            s->oom = true;
            return false;
        }
        s->items = it;
        s->cap = cap;
    }
    core_pool_spec_of(p, &s->items[s->n++]);
    return true;
}

void core_pool_spec_of(const Mvm__V1__Pool *p, core_pool_spec *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->tenant, sizeof e->tenant, "%s", p->tenant);
    snprintf(e->name, sizeof e->name, "%s", p->name);
    e->desired_instances = p->desired_instances;
    e->desired_warm = p->desired_warm;
    if (p->sleep_policy) {
        e->warm_after_idle_s = p->sleep_policy->warm_after_idle_seconds;
        e->sleep_after_warm_s = p->sleep_policy->sleep_after_warm_seconds;
    }
    e->deleting = p->deleting;
    const Mvm__V1__BaseSnapshot *b = p->base_snapshot;
    e->base_state = b && b->state ? b->state : MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_NONE;
    e->base_ready = b && b->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_READY &&
                    b->snapshot_id && *b->snapshot_id;
}

static mvm_code read_tenants(core *c, core_pool_specs *s, mvm_error *err) {
    char token[256] = "";
    do {
        store_list_opts o = {.page_size = 1000, .page_token = token};
        Mvm__V1__ListTenantsResponse *r = NULL;
        mvm_code rc = store_tenant_list(c->st, &o, NULL, &r, err);
        if (rc)
            return rc;
        if (s->nt + r->n_tenants > s->capt) {
            size_t cap = (s->nt + r->n_tenants) * 2;
            core_tenant_spec *t = realloc(s->tenants, cap * sizeof *t);
            if (!t) {
                core_free_msg(r);
                return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory listing tenants");
            }
            s->tenants = t;
            s->capt = cap;
        }
        for (size_t i = 0; i < r->n_tenants; i++) {
            core_tenant_spec *t = &s->tenants[s->nt++];
            memset(t, 0, sizeof *t);
            snprintf(t->name, sizeof t->name, "%s", r->tenants[i]->name);
            t->deleting = r->tenants[i]->deleting;
            t->pools = r->tenants[i]->usage ? r->tenants[i]->usage->pools : 0;
        }
        snprintf(token, sizeof token, "%s", r->next_page_token ? r->next_page_token : "");
        core_free_msg(r);
    } while (*token);
    return MVM_OK;
}

mvm_code core_pool_specs_read(core *c, core_pool_specs *s, mvm_error *err) {
    mvm_code rc = store_pool_foreach(c->st, note_pool, s, err);
    if (!rc && s->oom)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory listing pools");
    return rc ? rc : read_tenants(c, s, err);
}

void core_pool_specs_free(core_pool_specs *s) {
    free(s->items);
    free(s->tenants);
    memset(s, 0, sizeof *s);
}

/* ---- per pool ---- */

/* status_mu held. */
static struct core_pool_state *state_of(core *c, const char *tenant, const char *name,
                                        bool make) {
    for (struct core_pool_state *ps = c->pools; ps; ps = ps->next)
        if (!strcmp(ps->tenant, tenant) && !strcmp(ps->name, name))
            return ps;
    if (!make)
        return NULL;
    struct core_pool_state *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    snprintf(ps->tenant, sizeof ps->tenant, "%s", tenant);
    snprintf(ps->name, sizeof ps->name, "%s", name);
    ps->state = R(PROGRESSING);
    snprintf(ps->message, sizeof ps->message, "the reconcile loop's first look is under way");
    ps->next = c->pools;
    c->pools = ps;
    return ps;
}

/* The instance counts of a PoolStatus (its other fields left alone). */
static void copy_counts(Mvm__V1__PoolStatus *k, const Mvm__V1__PoolStatus *n) {
    k->instances = n->instances;
    k->running = n->running;
    k->warm = n->warm;
    k->sleeping = n->sleeping;
    k->stopped = n->stopped;
    k->failed = n->failed;
    k->pending = n->pending;
    k->unmanaged = n->unmanaged;
}

static void set_counts(struct core_pool_state *ps, const Mvm__V1__PoolStatus *n, int64_t now) {
    copy_counts(&ps->counts, n);
    ps->observe_us = now;
}

bool core_pool_state_due(core *c, const core_pool_spec *p, const Mvm__V1__PoolStatus *counts,
                         int64_t now) {
    pthread_mutex_lock(&c->status_mu);
    struct core_pool_state *ps = state_of(c, p->tenant, p->name, true);
    bool due = true;
    if (ps) {
        set_counts(ps, counts, now);
        due = now >= ps->next_attempt_us;
    }
    pthread_mutex_unlock(&c->status_mu);
    return due;
}

/* Whether the counts are what the pool asks for. */
static bool as_asked(const core_pool_spec *p, const Mvm__V1__PoolStatus *k) {
    return k->instances == p->desired_instances && !k->pending && !k->failed && !k->stopped &&
           k->warm + k->running + k->sleeping == k->instances && k->warm >= p->desired_warm;
}

/* Where the pool is, from its counts and the loop's last look at it (ps,
 * NULL if none; acted: that look took a step, so more may follow). msg may
 * not be ps->message unless ps is not backing off. */
static void describe(const core_pool_spec *p, const Mvm__V1__PoolStatus *k,
                     const struct core_pool_state *ps, int64_t now, bool acted,
                     Mvm__V1__ReconcileState *state, char *msg, size_t cap) {
    *msg = '\0';
    if (p->deleting) {
        *state = R(DELETING);
        snprintf(msg, cap, "pruned: deleting %u instance(s), then the pool",
                 k->instances + k->unmanaged);
    } else if (ps && ps->state == R(BACKOFF) && now < ps->next_attempt_us) {
        *state = R(BACKOFF);
        snprintf(msg, cap, "%s", ps->message);
    } else if (!acted && as_asked(p, k)) {
        *state = R(CONVERGED);
    } else {
        *state = R(PROGRESSING);
        snprintf(msg, cap,
                 "%u of %u instance(s) (%u pending, %u failed, %u stopped), %u of %u warm",
                 k->instances, p->desired_instances, k->pending, k->failed, k->stopped, k->warm,
                 p->desired_warm);
    }
}

void core_pool_state_update(core *c, const core_pool_spec *p, const Mvm__V1__PoolStatus *counts,
                            core_step s, const mvm_error *err, int64_t now) {
    pthread_mutex_lock(&c->status_mu);
    struct core_pool_state *ps = state_of(c, p->tenant, p->name, true);
    if (!ps) {
        pthread_mutex_unlock(&c->status_mu);
        return;
    }
    set_counts(ps, counts, now);
    if (s == CORE_STEP_FAILED) {
        int64_t delay = BACKOFF_MIN_US;
        for (uint32_t i = 0; i < ps->failures && delay < BACKOFF_MAX_US; i++)
            delay *= 2;
        if (delay > BACKOFF_MAX_US)
            delay = BACKOFF_MAX_US;
        ps->failures++;
        ps->next_attempt_us = now + delay;
        ps->state = R(BACKOFF);
        snprintf(ps->message, sizeof ps->message, "%s", err->msg);
        if (ps->failures == 1 || ps->failures % 10 == 0)
            fprintf(stderr, "mvmd: pool %s/%s: reconcile failed (%u in a row; next try in %lld s): "
                    "%s\n", p->tenant, p->name, ps->failures, (long long)(delay / 1000000),
                    err->msg);
    } else {
        ps->failures = 0;
        ps->next_attempt_us = 0; /* so describe() cannot answer BACKOFF */
        describe(p, counts, ps, now, s == CORE_STEP_ACTED, &ps->state, ps->message,
                 sizeof ps->message);
    }
    pthread_mutex_unlock(&c->status_mu);
}

void core_tenants_prune(core *c, const core_pool_specs *s) {
    for (size_t i = 0; i < s->nt; i++) {
        const core_tenant_spec *t = &s->tenants[i];
        if (!t->deleting || t->pools)
            continue;
        mvm_error e;
        if (store_tenant_delete(c->st, &core_reconcile_actor, t->name, &e) == MVM_OK) {
            fprintf(stderr, "mvmd: tenant %s removed (pruned by Apply)\n", t->name);
            core_net_mark_dirty(c); /* its bridge and rules go */
        }
        else if (e.code != MVM_NOT_FOUND && e.code != MVM_FAILED_PRECONDITION)
            fprintf(stderr, "mvmd: tenant %s: cannot remove it: %s\n", t->name, e.msg);
    }
}

/* ---- Pool.status and Instance.last_activity_time on reads ---- */

static Google__Protobuf__Timestamp *timestamp(ProtobufCAllocator *a, int64_t us) {
    Google__Protobuf__Timestamp *t = us ? core_zalloc(a, sizeof *t) : NULL;
    if (t) {
        google__protobuf__timestamp__init(t);
        t->seconds = us / 1000000;
        t->nanos = (int32_t)(us % 1000000) * 1000;
    }
    return t;
}

/* A copy of ps's status in a's memory (status_mu held), NULL if out of it. */
static Mvm__V1__PoolStatus *status_copy(ProtobufCAllocator *a, const struct core_pool_state *ps,
                                        bool times) {
    Mvm__V1__PoolStatus *st = core_zalloc(a, sizeof *st);
    if (!st)
        return NULL;
    mvm__v1__pool_status__init(st);
    copy_counts(st, &ps->counts);
    st->state = ps->state;
    st->failures = ps->failures;
    st->message = core_strdup(a, ps->message);
    st->next_attempt_time = timestamp(a, ps->next_attempt_us);
    if (times)
        st->observe_time = timestamp(a, ps->observe_us);
    return st;
}

/* Pool.status is computed when the pool is read: its instances counted in
 * the store now, the backoff and failures from the loop's last look. */
void core_pool_status_fill(core *c, Mvm__V1__Pool *pool, ProtobufCAllocator *alloc) {
    Mvm__V1__PoolStatus counts = MVM__V1__POOL_STATUS__INIT;
    mvm_error e;
    core_pool_spec spec;
    core_pool_spec_of(pool, &spec);
    bool counted = core_pool_count(c, pool->tenant, pool->name, &counts, &e) == MVM_OK;
    Mvm__V1__PoolStatus *st = core_zalloc(alloc, sizeof *st);
    if (!st)
        return;
    char msg[MVM_ERROR_MSG_MAX + 64];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t now = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
    pthread_mutex_lock(&c->status_mu);
    struct core_pool_state *ps = state_of(c, pool->tenant, pool->name, false);
    mvm__v1__pool_status__init(st);
    copy_counts(st, &counts);
    Mvm__V1__ReconcileState state;
    describe(&spec, &counts, ps, now, false, &state, msg, sizeof msg);
    if (!counted) {
        state = R(PROGRESSING);
        snprintf(msg, sizeof msg, "cannot count the pool's instances: %.*s",
                 (int)(sizeof msg - 64), e.msg);
    }
    st->state = state;
    st->message = core_strdup(alloc, msg);
    if (ps) {
        st->failures = ps->failures;
        if (state == R(BACKOFF))
            st->next_attempt_time = timestamp(alloc, ps->next_attempt_us);
        st->observe_time = timestamp(alloc, ps->observe_us);
    }
    pthread_mutex_unlock(&c->status_mu);
    pool->status = st;
}

void core_instance_decorate(core *c, Mvm__V1__Instance *inst, ProtobufCAllocator *alloc) {
    inst->disk_bytes = core_instance_disk_bytes(c, inst->id);
    inst->last_activity_time = timestamp(alloc, core_activity_get(c, inst->id));
    if (core_net_on(c)) {
        size_t n = strlen(inst->id) + sizeof "mvm-";
        char *ns = core_zalloc(alloc, n);
        if (ns) {
            snprintf(ns, n, "mvm-%s", inst->id);
            inst->netns = ns;
        }
    }
}

/* ---- the node's status ---- */

/* Builds the status of the round into *ns (its parts from a). */
static bool build(core *c, const core_pool_specs *s, ProtobufCAllocator *a,
                  Mvm__V1__NodeStatus *ns) {
    mvm__v1__node_status__init(ns);
    uint64_t gen = 0;
    int64_t applied_us = 0;
    mvm_error e;
    if (store_apply_state(c->st, &gen, &applied_us, &e) == MVM_OK) {
        ns->applied_generation = gen;
        ns->apply_time = timestamp(a, applied_us);
    }
    ns->converged = true;
    ns->tenants = core_zalloc(a, (s->nt ? s->nt : 1) * sizeof *ns->tenants);
    ns->pools = core_zalloc(a, (s->n ? s->n : 1) * sizeof *ns->pools);
    if (!ns->tenants || !ns->pools)
        return false;
    for (size_t i = 0; i < s->nt; i++) {
        Mvm__V1__TenantStatusEntry *t = core_zalloc(a, sizeof *t);
        if (!t)
            return false;
        mvm__v1__tenant_status_entry__init(t);
        t->name = (char *)s->tenants[i].name;
        t->pools = s->tenants[i].pools;
        t->deleting = s->tenants[i].deleting;
        ns->converged &= !t->deleting;
        ns->tenants[ns->n_tenants++] = t;
    }
    for (struct core_pool_state *ps = c->pools; ps; ps = ps->next)
        ps->seen = false;
    for (size_t i = 0; i < s->n; i++) {
        const core_pool_spec *p = &s->items[i];
        struct core_pool_state *ps = state_of(c, p->tenant, p->name, false);
        Mvm__V1__PoolStatusEntry *pe = core_zalloc(a, sizeof *pe);
        if (!pe)
            return false;
        mvm__v1__pool_status_entry__init(pe);
        pe->tenant = (char *)p->tenant;
        pe->name = (char *)p->name;
        pe->desired_instances = p->desired_instances;
        pe->desired_warm = p->desired_warm;
        pe->base_snapshot_state = p->base_state;
        pe->deleting = p->deleting;
        if (ps) {
            ps->seen = true;
            if (!(pe->status = status_copy(a, ps, false)))
                return false;
            pe->status->next_attempt_time = NULL; /* a time, not a change */
        }
        ns->converged &= ps && ps->state == R(CONVERGED) && !p->deleting;
        ns->pools[ns->n_pools++] = pe;
    }
    /* pools gone: their state goes too */
    for (struct core_pool_state **pp = &c->pools; *pp;) {
        struct core_pool_state *ps = *pp;
        if (ps->seen) {
            pp = &ps->next;
        } else {
            *pp = ps->next;
            free(ps);
        }
    }
    return true;
}

/* An arena for one build: everything freed at once. */
typedef struct arena {
    ProtobufCAllocator base;
    void **blocks;
    size_t n, cap;
    bool oom;
} arena;

static void *arena_alloc(void *data, size_t size) {
    arena *ar = data;
    if (ar->n == ar->cap) {
        size_t cap = ar->cap ? ar->cap * 2 : 64;
        void **b = realloc(ar->blocks, cap * sizeof *b);
        if (!b) {
            ar->oom = true;
            return NULL;
        }
        ar->blocks = b;
        ar->cap = cap;
    }
    void *p = malloc(size ? size : 1);
    if (!p)
        ar->oom = true;
    else
        ar->blocks[ar->n++] = p;
    return p;
}

static void arena_noop_free(void *data, void *p) {
    (void)data;
    (void)p;
}

static void arena_release(arena *ar) {
    for (size_t i = 0; i < ar->n; i++)
        free(ar->blocks[i]);
    free(ar->blocks);
}

void core_status_publish(core *c, const core_pool_specs *s, int64_t now) {
    arena ar = {.base = {arena_alloc, arena_noop_free, NULL}};
    ar.base.allocator_data = &ar;
    Mvm__V1__NodeStatus ns;
    pthread_mutex_lock(&c->status_mu);
    bool ok = build(c, s, &ar.base, &ns) && !ar.oom;
    size_t len = ok ? protobuf_c_message_get_packed_size(&ns.base) : 0;
    uint8_t *bytes = ok ? malloc(len ? len : 1) : NULL;
    if (bytes)
        protobuf_c_message_pack(&ns.base, bytes);
    if (!bytes || (c->status && len == c->status_len && !memcmp(bytes, c->status_bytes, len))) {
        pthread_mutex_unlock(&c->status_mu);
        free(bytes);
        arena_release(&ar);
        return; /* unchanged (or out of memory: the next round tries again) */
    }
    Mvm__V1__NodeStatus *copy =
        (Mvm__V1__NodeStatus *)protobuf_c_message_unpack(&mvm__v1__node_status__descriptor, NULL,
                                                         len, bytes);
    Google__Protobuf__Timestamp *t = copy ? timestamp(NULL, now) : NULL;
    if (!t) {
        core_free_msg(copy);
        pthread_mutex_unlock(&c->status_mu);
        free(bytes);
        arena_release(&ar);
        return;
    }
    copy->observe_time = t;
    core_free_msg(c->status);
    free(c->status_bytes);
    c->status = copy;
    c->status_bytes = bytes;
    c->status_len = len;
    for (struct core_status_sub *sub = c->status_subs; sub; sub = sub->next)
        sub->fn(sub->arg, c->status);
    pthread_mutex_unlock(&c->status_mu);
    arena_release(&ar);
}

/* status_mu held: the last status, or an empty one before the first round. */
static const Mvm__V1__NodeStatus *current(core *c, Mvm__V1__NodeStatus *empty) {
    if (c->status)
        return c->status;
    mvm__v1__node_status__init(empty);
    uint64_t gen = 0;
    int64_t us = 0;
    mvm_error e;
    if (store_apply_state(c->st, &gen, &us, &e) == MVM_OK)
        empty->applied_generation = gen;
    return empty;
}

mvm_code core_status_get(core *c, ProtobufCAllocator *alloc, Mvm__V1__NodeStatus **out,
                         mvm_error *err) {
    Mvm__V1__NodeStatus empty;
    pthread_mutex_lock(&c->status_mu);
    const Mvm__V1__NodeStatus *st = current(c, &empty);
    size_t len = protobuf_c_message_get_packed_size(&st->base);
    uint8_t *bytes = malloc(len ? len : 1);
    if (bytes)
        protobuf_c_message_pack(&st->base, bytes);
    pthread_mutex_unlock(&c->status_mu);
    if (!bytes)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory copying the node status");
    *out = (Mvm__V1__NodeStatus *)protobuf_c_message_unpack(&mvm__v1__node_status__descriptor,
                                                            alloc, len, bytes);
    free(bytes);
    return *out ? MVM_OK
                : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory copying the node status");
}

mvm_code core_status_subscribe(core *c, core_status_fn fn, void *arg, core_status_sub **out,
                               mvm_error *err) {
    core_status_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory subscribing to the status");
    sub->fn = fn;
    sub->arg = arg;
    Mvm__V1__NodeStatus empty;
    pthread_mutex_lock(&c->status_mu);
    fn(arg, current(c, &empty));
    sub->next = c->status_subs;
    c->status_subs = sub;
    pthread_mutex_unlock(&c->status_mu);
    *out = sub;
    return MVM_OK;
}

void core_status_unsubscribe(core *c, core_status_sub *sub) {
    if (!sub)
        return;
    pthread_mutex_lock(&c->status_mu);
    for (core_status_sub **pp = &c->status_subs; *pp; pp = &(*pp)->next)
        if (*pp == sub) {
            *pp = sub->next;
            break;
        }
    pthread_mutex_unlock(&c->status_mu);
    free(sub);
}

void core_reconcile_free(core *c) {
    while (c->pools) {
        struct core_pool_state *ps = c->pools;
        c->pools = ps->next;
        free(ps);
    }
    while (c->status_subs) {
        core_status_sub *s = c->status_subs;
        c->status_subs = s->next;
        free(s);
    }
    core_free_msg(c->status);
    free(c->status_bytes);
    core_loop_destroy(&c->rec);
    pthread_mutex_destroy(&c->status_mu);
}
