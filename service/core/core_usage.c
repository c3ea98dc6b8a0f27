/* core_usage.c - disk the node's snapshots and instances take, measured
 * from their files (blocks actually allocated): one instance's directory,
 * one snapshot's computed fields, and NodeService.GetDiskUsage's sums per
 * pool and per tenant. Records are listed first, then the files are
 * walked, so no read transaction stays open across the walk. */
#include "core_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t core_instance_disk_bytes(core *c, const char *id) {
    char dir[PATH_MAX];
    vmm_instance_dir(c->vmm, id, dir, sizeof dir);
    return vmm_disk_usage(dir);
}

/* ---- who maps which snapshot ---- */

typedef struct users {
    const char *id;
    uint32_t n;
} users;

static bool count_user(void *arg, const Mvm__V1__Instance *i) {
    users *u = arg;
    if (i->process && i->process->memory_snapshot_id &&
        strcmp(i->process->memory_snapshot_id, u->id) == 0 && instance_state_live(i->state))
        u->n++;
    return true;
}

void core_snapshot_decorate(core *c, Mvm__V1__Snapshot *snap) {
    char dir[PATH_MAX];
    core_snapshot_path(c, snap->id, dir, sizeof dir);
    snap->allocated_bytes = vmm_disk_usage(dir);
    users u = {snap->id, 0};
    mvm_error e;
    if (store_instance_foreach(c->st, snap->tenant, snap->pool, count_user, &u, NULL, &e) ==
        MVM_OK)
        snap->clones = u.n;
}

/* ---- GetDiskUsage ---- */

typedef struct item {
    char tenant[64], pool[64], id[24];
} item;

typedef struct item_list {
    item *items;
    size_t n, cap;
    bool oom;
} item_list;

static bool add_item(item_list *l, const char *tenant, const char *pool, const char *id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        item *it = realloc(l->items, cap * sizeof *it);
        if (!it) {
            l->oom = true;
            return false;
        }
        l->items = it;
        l->cap = cap;
    }
    item *t = &l->items[l->n++];
    snprintf(t->tenant, sizeof t->tenant, "%s", tenant);
    snprintf(t->pool, sizeof t->pool, "%s", pool);
    snprintf(t->id, sizeof t->id, "%s", id);
    return true;
}

static bool list_snapshot(void *arg, const Mvm__V1__Snapshot *s) {
    return add_item(arg, s->tenant, s->pool, s->id);
}

static bool list_instance(void *arg, const Mvm__V1__Instance *i) {
    return add_item(arg, i->tenant, i->pool, i->id);
}

/* The pool's entry in r (made, in (tenant, pool) order, if absent). */
static Mvm__V1__PoolDiskUsage *pool_entry(Mvm__V1__DiskUsage *r, size_t cap, const char *tenant,
                                          const char *pool, ProtobufCAllocator *a) {
    size_t k = 0;
    for (; k < r->n_pools; k++) {
        int t = strcmp(r->pools[k]->tenant, tenant);
        int p = t ? t : strcmp(r->pools[k]->pool, pool);
        if (p == 0)
            return r->pools[k];
        if (p > 0)
            break;
    }
    if (r->n_pools == cap)
        return NULL;
    Mvm__V1__PoolDiskUsage *e = core_zalloc(a, sizeof *e);
    if (!e)
        return NULL;
    mvm__v1__pool_disk_usage__init(e);
    char *t = core_strdup(a, tenant), *p = core_strdup(a, pool);
    if (!t || !p)
        return NULL;
    e->tenant = t;
    e->pool = p;
    memmove(&r->pools[k + 1], &r->pools[k], (r->n_pools - k) * sizeof *r->pools);
    r->pools[k] = e;
    r->n_pools++;
    return e;
}

mvm_code core_disk_usage(core *c, const char *tenant, ProtobufCAllocator *alloc,
                         Mvm__V1__DiskUsage **out, mvm_error *err) {
    *out = NULL;
    if (tenant && *tenant && !store_name_valid(tenant))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "tenant \"%.64s\" is not a valid name",
                        tenant);
    item_list snaps = {0}, insts = {0};
    mvm_code rc = store_snapshot_foreach(c->st, tenant, list_snapshot, &snaps, err);
    if (!rc)
        rc = store_instance_foreach(c->st, tenant, NULL, list_instance, &insts, NULL, err);
    if (!rc && (snaps.oom || insts.oom))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    Mvm__V1__DiskUsage *r = NULL;
    size_t cap = snaps.n + insts.n;
    if (!rc) {
        r = core_zalloc(alloc, sizeof *r);
        Mvm__V1__PoolDiskUsage **pools = core_zalloc(alloc, (cap ? cap : 1) * sizeof *pools);
        char *method = core_strdup(alloc, vmm_host_probe(c->vmm)->reflink ? "reflink"
                                                                           : "sparse copy");
        if (!r || !pools || !method)
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        else {
            mvm__v1__disk_usage__init(r);
            r->pools = pools;
            r->disk_copy_method = method;
        }
    }
    for (size_t k = 0; !rc && k < snaps.n; k++) {
        item *s = &snaps.items[k];
        Mvm__V1__PoolDiskUsage *e = pool_entry(r, cap, s->tenant, s->pool, alloc);
        if (!e) {
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        char dir[PATH_MAX];
        core_snapshot_path(c, s->id, dir, sizeof dir);
        e->snapshot_bytes += vmm_disk_usage(dir);
        e->snapshots++;
    }
    for (size_t k = 0; !rc && k < insts.n; k++) {
        item *i = &insts.items[k];
        Mvm__V1__PoolDiskUsage *e = pool_entry(r, cap, i->tenant, i->pool, alloc);
        if (!e) {
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        char dir[PATH_MAX], sdir[PATH_MAX + 16];
        vmm_instance_dir(c->vmm, i->id, dir, sizeof dir);
        snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
        uint64_t all = vmm_disk_usage(dir), own = vmm_disk_usage(sdir);
        e->instance_snapshot_bytes += own;
        e->instance_disk_bytes += all > own ? all - own : 0;
        e->instances++;
    }
    /* tenants: the pools are in (tenant, pool) order */
    if (!rc) {
        r->tenants = core_zalloc(alloc, (r->n_pools ? r->n_pools : 1) * sizeof *r->tenants);
        if (!r->tenants)
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (size_t k = 0; !rc && k < r->n_pools; k++) {
        Mvm__V1__PoolDiskUsage *p = r->pools[k];
        Mvm__V1__TenantDiskUsage *t =
            r->n_tenants ? r->tenants[r->n_tenants - 1] : NULL;
        if (!t || strcmp(t->tenant, p->tenant) != 0) {
            t = core_zalloc(alloc, sizeof *t);
            char *name = t ? core_strdup(alloc, p->tenant) : NULL;
            if (!name) {
                rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            mvm__v1__tenant_disk_usage__init(t);
            t->tenant = name;
            r->tenants[r->n_tenants++] = t;
        }
        t->snapshot_bytes += p->snapshot_bytes;
        t->instance_snapshot_bytes += p->instance_snapshot_bytes;
        t->instance_disk_bytes += p->instance_disk_bytes;
        uint64_t sum = p->snapshot_bytes + p->instance_snapshot_bytes + p->instance_disk_bytes;
        t->total_bytes += sum;
        r->total_bytes += sum;
    }
    free(snaps.items);
    free(insts.items);
    if (rc) {
        if (r && !alloc)
            protobuf_c_message_free_unpacked(&r->base, NULL);
        return rc;
    }
    *out = r;
    return MVM_OK;
}
