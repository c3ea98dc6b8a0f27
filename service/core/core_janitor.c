/* core_janitor.c - the janitor thread: what happens with time, and the
 * collection of snapshots nothing uses any more. Each round (every
 * janitor_interval_ms, or at once when kicked):
 *   - a SLEEPING instance whose snapshot's expire_time has passed is
 *     deleted (SleepInstance's ttl_seconds);
 *   - a pool's base snapshot whose expire_time has passed is retired
 *     (Pool.base_snapshot_ttl_seconds): new instances boot from the images;
 *   - a RETIRED snapshot that no instance uses (none has its memory mapped
 *     from it, none is being cloned from it) has its files removed, then
 *     its record.
 * Every change goes through the store (audited as mvmd/janitor). */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x

static const store_actor janitor_actor = {.identity = "mvmd", .method = "mvmd/janitor"};

/* A growable list of (tenant, id, other id) triples. */
typedef struct triple_list {
    struct triple {
        char tenant[64], id[64], ref[24];
    } *items;
    size_t n, cap;
    bool oom;
    int64_t now;
} triple_list;

static bool push(triple_list *l, const char *tenant, const char *id, const char *ref) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct triple *it = realloc(l->items, cap * sizeof *it);
        if (!it) {
            l->oom = true;
            return false;
        }
        l->items = it;
        l->cap = cap;
    }
    struct triple *t = &l->items[l->n++];
    snprintf(t->tenant, sizeof t->tenant, "%s", tenant);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->ref, sizeof t->ref, "%s", ref ? ref : "");
    return true;
}

/* ---- expiry ---- */

static bool note_expired_sleeper(void *arg, const Mvm__V1__Instance *i) {
    triple_list *l = arg;
    const Mvm__V1__InstanceSnapshot *s = i->snapshot;
    if (i->state == S(SLEEPING) && s && s->id && s->expire_time && !i->operation &&
        s->expire_time->seconds <= l->now)
        return push(l, i->tenant, i->id, s->id);
    return true;
}

static bool note_expired_base(void *arg, const Mvm__V1__Pool *p) {
    triple_list *l = arg;
    const Mvm__V1__BaseSnapshot *b = p->base_snapshot;
    if (b && b->snapshot_id && *b->snapshot_id && b->expire_time &&
        b->expire_time->seconds <= l->now)
        return push(l, p->tenant, p->name, b->snapshot_id);
    return true;
}

static void expire(core *c, int64_t now) {
    triple_list l = {.now = now};
    mvm_error e;
    if (store_instance_foreach(c->st, NULL, NULL, note_expired_sleeper, &l, NULL, &e) == MVM_OK)
        for (size_t k = 0; k < l.n; k++) {
            struct triple *t = &l.items[k];
            if (core_instance_expire(c, &janitor_actor, t->tenant, t->id, t->ref, now, &e) ==
                MVM_OK)
                fprintf(stderr, "mvmd: instance %s deleted: it slept past its TTL\n", t->id);
        }
    l.n = 0;
    if (store_pool_foreach(c->st, note_expired_base, &l, &e) == MVM_OK)
        for (size_t k = 0; k < l.n; k++) {
            struct triple *t = &l.items[k];
            if (store_pool_base_clear(c->st, &janitor_actor, t->tenant, t->id, t->ref,
                                      "expired (base_snapshot_ttl_seconds)", NULL, NULL,
                                      &e) == MVM_OK)
                fprintf(stderr, "mvmd: pool %s/%s: base snapshot %s expired\n", t->tenant,
                        t->id, t->ref);
        }
    free(l.items);
}

/* ---- collection ---- */

static bool note_retired(void *arg, const Mvm__V1__Snapshot *s) {
    if (s->state != MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_RETIRED)
        return true;
    return push(arg, s->tenant, s->id, NULL);
}

/* Snapshots instances use: their memory mapped from it, or a clone of it
 * being made. */
static bool note_used(void *arg, const Mvm__V1__Instance *i) {
    triple_list *l = arg;
    if (i->process && i->process->memory_snapshot_id && *i->process->memory_snapshot_id &&
        instance_state_live(i->state) && !push(l, "", i->process->memory_snapshot_id, NULL))
        return false;
    if (i->operation && i->operation->name && strcmp(i->operation->name, "CloneInstance") == 0 &&
        i->operation->target && !push(l, "", i->operation->target, NULL))
        return false;
    return true;
}

static bool used(const triple_list *u, const char *id) {
    for (size_t k = 0; k < u->n; k++)
        if (strcmp(u->items[k].id, id) == 0)
            return true;
    return false;
}

static void collect(core *c) {
    triple_list retired = {0}, in_use = {0};
    mvm_error e;
    /* retired first: a clone recorded after this read was made from a READY
     * snapshot, so any snapshot listed here that it uses was recorded
     * before its retirement, and the instance read below shows it */
    if (store_snapshot_foreach(c->st, NULL, note_retired, &retired, &e) != MVM_OK ||
        retired.oom || retired.n == 0)
        goto out;
    if (store_instance_foreach(c->st, NULL, NULL, note_used, &in_use, NULL, &e) != MVM_OK ||
        in_use.oom)
        goto out;
    for (size_t k = 0; k < retired.n; k++) {
        struct triple *t = &retired.items[k];
        if (used(&in_use, t->id))
            continue;
        char dir[PATH_MAX];
        core_snapshot_path(c, t->id, dir, sizeof dir);
        if (vmm_dir_remove(dir, &e) != MVM_OK) {
            fprintf(stderr, "mvmd: snapshot %s: cannot remove %s: %s\n", t->id, dir, e.msg);
            continue;
        }
        if (store_snapshot_delete(c->st, &janitor_actor, t->tenant, t->id, &e) == MVM_OK)
            fprintf(stderr, "mvmd: snapshot %s removed: retired and no longer used\n", t->id);
        else
            fprintf(stderr, "mvmd: snapshot %s: files removed, record kept: %s\n", t->id, e.msg);
    }
out:
    free(retired.items);
    free(in_use.items);
}

/* ---- the thread ---- */

static void janitor_round(core *c) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    expire(c, now.tv_sec);
    collect(c);
}

void core_janitor_init(core *c) {
    core_loop_init(&c->jan, "mvmd-janitor", janitor_round,
                   c->opt.janitor_interval_ms ? c->opt.janitor_interval_ms : 5000, 0);
}

mvm_code core_janitor_start(core *c, mvm_error *err) {
    return core_loop_start(&c->jan, c, err);
}

void core_janitor_stop(core *c) {
    core_loop_stop(&c->jan);
}

void core_janitor_kick(core *c) {
    core_loop_kick(&c->jan, true);
}
