/* core_reconcile.c - the reconcile loop: a thread ("mvmd-reconcile") that
 * keeps every pool at what it asks for, level-triggered: each round reads
 * the pools and their instances from the store, compares them with the
 * pool's desired_instances, desired_warm and sleep policy, and takes the
 * next steps through the same core operations the API uses (so one
 * operation at a time per instance, every step recorded, crash-proof).
 * Rounds run every reconcile_interval_ms and soon after a kick (Apply, a
 * pool change, a process ending, a round that acted).
 *
 * One kind of step per pool per round, in this order:
 *   1. a pool marked deleting (Apply's prune): delete its instances (all
 *      of them), then the pool; a deleting tenant goes once its pools have;
 *   2. managed instances that FAILED: deleted (then replaced by 3);
 *   3. too few managed instances: clones of the base snapshot (one
 *      ForkInstances batch) when it is READY, cold boots otherwise;
 *   4. too many: extras deleted, FAILED, STOPPED, SLEEPING, CREATED first,
 *      then WARM and RUNNING, newest first within a kind;
 *   5. managed instances STOPPED or CREATED: started;
 *   6. fewer than desired_warm WARM spares: SLEEPING ones woken and paused,
 *      else the RUNNING ones idle longest paused;
 * and, every round, the sleep policy over all the pool's instances:
 * RUNNING ones idle for warm_after_idle_seconds paused, WARM ones paused
 * for sleep_after_warm_seconds put to sleep (except desired_warm managed
 * spares). A failing step puts the pool in backoff: 1 s, doubling per
 * failure in a row, at most 5 min; the error is the pool's status message.
 * ABORTED (an operation of someone else holds the instance) is not a
 * failure: the next round looks again.
 *
 * Threads: the loop's own; core_reconcile_kick from any thread. The
 * status it leaves is in core_status.c. */
#include "core_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define BATCH_CLONES 64  /* one ForkInstances call at most */
#define BATCH_BOOTS 8    /* cold boots per round */
#define BATCH_DELETES 32 /* deletions per round */
#define BACKOFF_MIN_US 1000000LL
#define BACKOFF_MAX_US 300000000LL

const store_actor core_reconcile_actor = {.identity = "mvmd", .method = "mvmd/reconcile",
                                          .node_managed = true};

static int64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t) {
    return t ? (int64_t)t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* ---- what a round reads ---- */

typedef struct rec_inst {
    char id[24];
    Mvm__V1__InstanceState state;
    bool managed, busy;
    int64_t create_us, state_us, idle_since_us;
} rec_inst;

typedef struct inst_list {
    rec_inst *items;
    size_t n, cap;
    bool oom;
} inst_list;

static bool note_inst(void *arg, const Mvm__V1__Instance *i) {
    inst_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rec_inst *it = realloc(l->items, cap * sizeof *it);
        if (!it) {
            l->oom = true;
            return false;
        }
        l->items = it;
        l->cap = cap;
    }
    rec_inst *r = &l->items[l->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", i->id);
    r->state = i->state;
    r->managed = i->managed;
    r->busy = i->operation != NULL;
    r->create_us = ts_us(i->create_time);
    r->state_us = ts_us(i->state_time);
    return true;
}

static mvm_code list_instances(core *c, const core_pool_spec *p, inst_list *l, mvm_error *err) {
    l->n = 0;
    mvm_code rc = store_instance_foreach(c->st, p->tenant, p->name, note_inst, l, NULL, err);
    if (!rc && l->oom)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory listing pool %s/%s",
                      p->tenant, p->name);
    return rc;
}

static void count(const inst_list *l, Mvm__V1__PoolStatus *s) {
    for (size_t k = 0; k < l->n; k++) {
        const rec_inst *r = &l->items[k];
        if (!r->managed) {
            s->unmanaged++;
            continue;
        }
        s->instances++;
        if (r->busy || r->state == S(CREATED) || r->state == S(READY))
            s->pending++;
        else if (r->state == S(RUNNING))
            s->running++;
        else if (r->state == S(WARM))
            s->warm++;
        else if (r->state == S(SLEEPING))
            s->sleeping++;
        else if (r->state == S(STOPPED))
            s->stopped++;
        else if (r->state == S(FAILED))
            s->failed++;
    }
}

mvm_code core_pool_count(core *c, const char *tenant, const char *pool,
                         Mvm__V1__PoolStatus *counts, mvm_error *err) {
    inst_list l = {0};
    core_pool_spec p;
    snprintf(p.tenant, sizeof p.tenant, "%s", tenant);
    snprintf(p.name, sizeof p.name, "%s", pool);
    mvm_code rc = list_instances(c, &p, &l, err);
    if (!rc)
        count(&l, counts);
    free(l.items);
    return rc;
}

/* ---- steps ---- */

typedef core_step step;

/* An operation's outcome as a step: ABORTED (busy) and NOT_FOUND (gone
 * meanwhile) are not failures, the next round looks again. */
static step outcome(mvm_code rc, step *acc) {
    step s = rc == MVM_OK ? CORE_STEP_ACTED
             : rc == MVM_ABORTED || rc == MVM_NOT_FOUND ? CORE_STEP_NONE
                                                         : CORE_STEP_FAILED;
    if (s > *acc)
        *acc = s;
    return s;
}

static step delete_one(core *c, const char *tenant, const rec_inst *r, step *acc, mvm_error *err) {
    return outcome(core_instance_delete(c, &core_reconcile_actor, tenant, r->id, err), acc);
}

/* Removal order: the lower the rank, the sooner. */
static int removal_rank(const rec_inst *r) {
    if (r->busy)
        return 9;
    switch (r->state) {
    case S(FAILED): return 0;
    case S(STOPPED): return 1;
    case S(SLEEPING): return 2;
    case S(CREATED): return 3;
    case S(WARM): return 4;
    case S(RUNNING): return 5;
    default: return 6;
    }
}

static int by_removal(const void *a, const void *b) {
    const rec_inst *x = a, *y = b;
    int d = removal_rank(x) - removal_rank(y);
    if (d)
        return d;
    return x->create_us < y->create_us ? 1 : x->create_us > y->create_us ? -1 : 0;
}

static int by_idle(const void *a, const void *b) { /* idle longest first */
    const rec_inst *x = a, *y = b;
    return x->idle_since_us < y->idle_since_us ? -1 : x->idle_since_us > y->idle_since_us;
}

static int by_state_time_desc(const void *a, const void *b) {
    const rec_inst *x = a, *y = b;
    return x->state_us < y->state_us ? 1 : x->state_us > y->state_us ? -1 : 0;
}

/* qsort of an empty list would pass it a NULL array */
static void sort_insts(inst_list *l, int (*cmp)(const void *, const void *)) {
    if (l->n > 1)
        qsort(l->items, l->n, sizeof *l->items, cmp);
}

/* Makes k managed instances: clones of the base snapshot, or cold boots. */
static step make(core *c, const core_pool_spec *p, uint32_t k, mvm_error *err) {
    step acc = CORE_STEP_NONE;
    if (core_can_run(c, err) != MVM_OK) /* no record made for what cannot run */
        return CORE_STEP_FAILED;
    if (p->base_ready) {
        Mvm__V1__ForkInstancesRequest req = MVM__V1__FORK_INSTANCES_REQUEST__INIT;
        req.tenant = (char *)p->tenant;
        req.pool = (char *)p->name;
        req.clones = k > BATCH_CLONES ? BATCH_CLONES : k;
        Mvm__V1__ForkInstancesResponse *r = NULL;
        if (outcome(core_instance_fork(c, &core_reconcile_actor, &req, NULL, &r, err), &acc) !=
            CORE_STEP_ACTED)
            return acc;
        for (size_t i = 0; i < r->n_results; i++)
            if (r->results[i]->code != 0 && acc != CORE_STEP_FAILED) { /* some were made */
                mvm_fail(err, (mvm_code)r->results[i]->code, "clone %zu of %u: %s", i + 1,
                         req.clones, r->results[i]->message);
                acc = CORE_STEP_FAILED;
            }
        core_free_msg(r);
        return acc;
    }
    for (uint32_t i = 0; i < k && i < BATCH_BOOTS; i++) {
        Mvm__V1__CreateInstanceRequest req = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
        req.tenant = (char *)p->tenant;
        req.pool = (char *)p->name;
        req.cold_boot = true;
        Mvm__V1__Instance *made = NULL, *started = NULL;
        if (outcome(core_instance_create(c, &core_reconcile_actor, &req, NULL, &made, err),
                    &acc) != CORE_STEP_ACTED)
            return acc;
        step s = outcome(core_instance_start(c, &core_reconcile_actor, p->tenant, made->id, NULL,
                                             &started, err), &acc);
        core_free_msg(made);
        core_free_msg(started);
        if (s != CORE_STEP_ACTED)
            return acc;
    }
    return acc;
}

/* Steps 2-6 for the managed instances; CORE_STEP_NONE when they are as asked. */
static step converge(core *c, const core_pool_spec *p, inst_list *l, mvm_error *err) {
    step acc = CORE_STEP_NONE;
    uint32_t live = 0, warm = 0;
    for (size_t k = 0; k < l->n; k++) {
        rec_inst *r = &l->items[k];
        if (!r->managed)
            continue;
        if (r->state == S(FAILED) && !r->busy) {
            if (delete_one(c, p->tenant, r, &acc, err) == CORE_STEP_FAILED)
                return acc;
            continue;
        }
        live++;
        warm += r->state == S(WARM) && !r->busy;
    }
    if (acc != CORE_STEP_NONE)
        return acc;
    if (live < p->desired_instances)
        return make(c, p, p->desired_instances - live, err);
    if (live > p->desired_instances) {
        sort_insts(l, by_removal);
        uint32_t extra = live - p->desired_instances, done = 0;
        for (size_t k = 0; k < l->n && done < extra && done < BATCH_DELETES; k++) {
            rec_inst *r = &l->items[k];
            if (!r->managed || r->state == S(FAILED))
                continue;
            if (delete_one(c, p->tenant, r, &acc, err) == CORE_STEP_FAILED)
                return acc;
            done++;
        }
        return acc;
    }
    for (size_t k = 0; k < l->n; k++) {
        rec_inst *r = &l->items[k];
        if (!r->managed || r->busy || (r->state != S(STOPPED) && r->state != S(CREATED)))
            continue;
        Mvm__V1__Instance *out = NULL;
        step s = outcome(core_instance_start(c, &core_reconcile_actor, p->tenant, r->id, NULL, &out,
                                             err), &acc);
        core_free_msg(out);
        if (s == CORE_STEP_FAILED)
            return acc;
    }
    if (acc != CORE_STEP_NONE || warm >= p->desired_warm)
        return acc;
    /* spares: sleeping ones first (they cost a wake, no running guest is
     * stopped), then the running ones idle longest */
    sort_insts(l, by_idle);
    uint32_t need = p->desired_warm - warm;
    for (int pass = 0; pass < 2 && need; pass++)
        for (size_t k = 0; k < l->n && need; k++) {
            rec_inst *r = &l->items[k];
            if (!r->managed || r->busy || r->state != (pass == 0 ? S(SLEEPING) : S(RUNNING)))
                continue;
            Mvm__V1__Instance *out = NULL;
            if (pass == 0) {
                step s = outcome(core_instance_wake(c, &core_reconcile_actor, p->tenant, r->id,
                                                    NULL, &out, err), &acc);
                core_free_msg(out);
                out = NULL;
                if (s != CORE_STEP_ACTED)
                    return acc;
            }
            step s = outcome(core_instance_pause(c, &core_reconcile_actor, p->tenant, r->id, NULL,
                                                 &out, err), &acc);
            core_free_msg(out);
            if (s == CORE_STEP_FAILED)
                return acc;
            need -= s == CORE_STEP_ACTED;
        }
    return acc;
}

/* The sleep policy over every instance of the pool. */
static step sleep_policy(core *c, const core_pool_spec *p, inst_list *l, int64_t now,
                         bool sample, mvm_error *err) {
    step acc = CORE_STEP_NONE;
    if (!p->warm_after_idle_s && !p->sleep_after_warm_s)
        return acc;
    for (size_t k = 0; k < l->n; k++) {
        rec_inst *r = &l->items[k];
        if (r->busy || r->state != S(RUNNING) || !p->warm_after_idle_s)
            continue;
        if (sample)
            core_activity_sample(c, r->id);
        if (now - r->idle_since_us < (int64_t)p->warm_after_idle_s * 1000000)
            continue;
        Mvm__V1__Instance *out = NULL;
        step s = outcome(core_instance_pause(c, &core_reconcile_actor, p->tenant, r->id, NULL, &out,
                                             err), &acc);
        core_free_msg(out);
        if (s == CORE_STEP_FAILED)
            return acc;
    }
    if (!p->sleep_after_warm_s)
        return acc;
    sort_insts(l, by_state_time_desc);
    uint32_t spares = 0;
    for (size_t k = 0; k < l->n; k++) {
        rec_inst *r = &l->items[k];
        if (r->busy || r->state != S(WARM))
            continue;
        if (r->managed && spares < p->desired_warm) { /* the newest spares stay warm */
            spares++;
            continue;
        }
        if (now - r->state_us < (int64_t)p->sleep_after_warm_s * 1000000)
            continue;
        Mvm__V1__Instance *out = NULL;
        step s = outcome(core_instance_sleep(c, &core_reconcile_actor, p->tenant, r->id, 0, NULL,
                                             &out, err), &acc);
        core_free_msg(out);
        if (s == CORE_STEP_FAILED)
            return acc;
    }
    return acc;
}

/* Step 1: a pool being pruned. CORE_STEP_NONE once the pool is gone. */
static step remove_pool(core *c, const core_pool_spec *p, inst_list *l, mvm_error *err) {
    step acc = CORE_STEP_NONE;
    sort_insts(l, by_removal);
    for (size_t k = 0; k < l->n && k < BATCH_DELETES; k++)
        if (delete_one(c, p->tenant, &l->items[k], &acc, err) == CORE_STEP_FAILED)
            return acc;
    if (l->n == 0)
        outcome(store_pool_delete(c->st, &core_reconcile_actor, p->tenant, p->name, err), &acc);
    if (acc == CORE_STEP_ACTED && l->n == 0)
        fprintf(stderr, "mvmd: pool %s/%s removed (pruned by Apply)\n", p->tenant, p->name);
    return acc;
}

/* ---- a round ---- */

static void reconcile_pool(core *c, core_pool_spec *p, inst_list *l, int64_t now, bool sample,
                           bool *acted) {
    mvm_error err = {0};
    Mvm__V1__PoolStatus counts = MVM__V1__POOL_STATUS__INIT;
    if (list_instances(c, p, l, &err) != MVM_OK) {
        core_pool_state_update(c, p, &counts, CORE_STEP_FAILED, &err, now);
        return;
    }
    int64_t floor = c->start_us;
    for (size_t k = 0; k < l->n; k++) {
        rec_inst *r = &l->items[k];
        int64_t a = r->state == S(RUNNING) ? core_activity_get(c, r->id) : 0;
        r->idle_since_us = a > r->state_us ? a : r->state_us;
        if (r->idle_since_us < floor)
            r->idle_since_us = floor;
    }
    count(l, &counts);
    if (!core_pool_state_due(c, p, &counts, now))
        return; /* backing off */
    step s;
    if (p->deleting) {
        s = remove_pool(c, p, l, &err);
    } else {
        s = converge(c, p, l, &err);
        if (s != CORE_STEP_FAILED) {
            step t = sleep_policy(c, p, l, now, sample, &err);
            s = t > s ? t : s;
        }
    }
    *acted |= s == CORE_STEP_ACTED;
    core_pool_state_update(c, p, &counts, s, &err, now);
}

static void reconcile_round(core *c) {
    int64_t now = now_us();
    core_pool_specs specs = {0};
    mvm_error err;
    if (core_pool_specs_read(c, &specs, &err) != MVM_OK) {
        fprintf(stderr, "mvmd: reconcile: cannot read the pools: %s\n", err.msg);
        core_pool_specs_free(&specs);
        return;
    }
    uint32_t every = c->opt.activity_interval_ms ? c->opt.activity_interval_ms : 5000;
    bool sample = now - c->last_sample_us >= (int64_t)every * 1000;
    if (sample)
        c->last_sample_us = now;
    bool acted = false;
    inst_list l = {0};
    for (size_t i = 0; i < specs.n; i++)
        reconcile_pool(c, &specs.items[i], &l, now, sample, &acted);
    free(l.items);
    core_tenants_prune(c, &specs);
    core_net_sync_if_dirty(c);
    core_status_publish(c, &specs, now);
    core_pool_specs_free(&specs);
    if (acted)
        core_loop_kick(&c->rec, false); /* look again soon: the next step may be due */
}

/* ---- the loop ---- */

void core_reconcile_init(core *c) {
    c->start_us = now_us();
    pthread_mutex_init(&c->status_mu, NULL);
    core_loop_init(&c->rec, "mvmd-reconcile", reconcile_round,
                   c->opt.reconcile_interval_ms ? c->opt.reconcile_interval_ms : 1000, 200);
}

mvm_code core_reconcile_start(core *c, mvm_error *err) {
    return core_loop_start(&c->rec, c, err);
}

void core_reconcile_stop(core *c) {
    core_loop_stop(&c->rec);
}

void core_reconcile_kick(core *c) {
    core_loop_kick(&c->rec, true);
}
