/* store_tenant.c - tenants: create / get / list / update / delete, their
 * net_id and subnet uniqueness indexes, and the per-tenant usage counters
 * (instances, vcpus, memory, pools) that quotas are checked against. The
 * egress allowlist's rules are store_net.c's.
 * deleting is output only here (store_apply.c marks it). */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tenant_mutable[] = {"quota", "labels", "egress_cidrs", NULL};
static const char *const tenant_immutable[] = {"net_id", "subnet", NULL};
const store_mask_rules store_tenant_rules = {tenant_mutable, tenant_immutable};

/* ---- usage counters ---- */

mvm_code store_usage_get(MDB_txn *txn, store *st, const char *tenant, ProtobufCAllocator *alloc,
                         Mvm__V1__TenantUsage **out, mvm_error *err) {
    ProtobufCMessage *m = NULL;
    *out = NULL;
    mvm_code c = store_get_msg(txn, st->usage, tenant, strlen(tenant),
                               &mvm__v1__tenant_usage__descriptor, alloc, &m, err);
    if (c == MVM_NOT_FOUND) /* written with the tenant, removed with it */
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: tenant %s has no usage record: the store is damaged; %s", tenant,
                        STORE_RECOVERY_HINT);
    *out = (Mvm__V1__TenantUsage *)m;
    return c;
}

mvm_code store_tenant_net(const Mvm__V1__Tenant *t, uint8_t net[2], mvm_error *err) {
    if (store_check_subnet(t->subnet, net, NULL) == MVM_OK)
        return MVM_OK;
    return mvm_fail(err, MVM_DATA_LOSS,
                    "store: tenant %s: its stored subnet \"%.40s\" is corrupt; %s", t->name,
                    t->subnet ? t->subnet : "", STORE_RECOVERY_HINT);
}

static uint64_t add_clamped(uint64_t v, int64_t d) {
    if (d < 0 && (uint64_t)-d > v)
        return 0;
    return v + (uint64_t)d;
}

mvm_code store_usage_add(store_wtx *w, const char *tenant, int instances, int64_t vcpus,
                         int64_t mem_mib, int pools, mvm_error *err) {
    Mvm__V1__TenantUsage *u = NULL;
    mvm_code c = store_usage_get(w->txn, w->st, tenant, NULL, &u, err);
    if (c)
        return c;
    u->instances = (uint32_t)add_clamped(u->instances, instances);
    u->vcpus = (uint32_t)add_clamped(u->vcpus, vcpus);
    u->mem_mib = add_clamped(u->mem_mib, mem_mib);
    u->pools = (uint32_t)add_clamped(u->pools, pools);
    c = store_put_msg(w->txn, w->st->usage, tenant, strlen(tenant), &u->base, err);
    mvm__v1__tenant_usage__free_unpacked(u, NULL);
    return c;
}

/* Attaches the usage counters to a tenant read from the store. */
static mvm_code tenant_decorate(void *arg, MDB_txn *txn, ProtobufCMessage *m,
                                ProtobufCAllocator *alloc, mvm_error *err) {
    Mvm__V1__Tenant *t = (Mvm__V1__Tenant *)m;
    if (t->usage)
        store_msg_free(&t->usage->base, alloc);
    t->usage = NULL;
    return store_usage_get(txn, arg, t->name, alloc, &t->usage, err);
}

/* ---- reads ---- */

mvm_code store_tenant_get(store *st, const char *name, ProtobufCAllocator *alloc,
                          Mvm__V1__Tenant **out, mvm_error *err) {
    *out = NULL;
    if (!store_name_valid(name))
        return store_check_name("tenant", name, err);
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c)
        return c;
    ProtobufCMessage *m = NULL;
    c = store_get_msg(txn, st->tenants, name, strlen(name), &mvm__v1__tenant__descriptor, alloc,
                      &m, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "tenant %s not found", name);
    if (c == MVM_OK && (c = tenant_decorate(st, txn, m, alloc, err))) {
        store_msg_free(m, alloc);
        m = NULL;
    }
    store_rd_end(st, txn);
    *out = (Mvm__V1__Tenant *)m;
    return c;
}

mvm_code store_tenant_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                           Mvm__V1__ListTenantsResponse **out, mvm_error *err) {
    *out = NULL;
    Mvm__V1__ListTenantsResponse *r = store_alloc(alloc, sizeof *r);
    if (!r)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm__v1__list_tenants_response__init(r);
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c) {
        store_msg_free(&r->base, alloc);
        return c;
    }
    store_page_req req = {.dbi = st->tenants, .desc = &mvm__v1__tenant__descriptor,
                          .opt = opt, .match_arg = st, .decorate = tenant_decorate};
    c = store_page(txn, &req, alloc, (ProtobufCMessage ***)&r->tenants, &r->n_tenants,
                   &r->next_page_token, err);
    store_rd_end(st, txn);
    if (c) {
        store_msg_free(&r->base, alloc);
        return c;
    }
    *out = r;
    return MVM_OK;
}

/* ---- writes ---- */

typedef struct {
    const Mvm__V1__Tenant *in;
    const Google__Protobuf__FieldMask *mask;
    const char *name;
    ProtobufCAllocator *alloc;
    Mvm__V1__Tenant *out;
} tenant_args;

static void netid_key(uint32_t net_id, uint8_t k[2]) {
    k[0] = (uint8_t)(net_id >> 8);
    k[1] = (uint8_t)net_id;
}

mvm_code store_tenant_put(store_wtx *w, const Mvm__V1__Tenant *in, ProtobufCAllocator *alloc,
                          Mvm__V1__Tenant **out, mvm_error *err) {
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    Mvm__V1__TenantQuota noquota = MVM__V1__TENANT_QUOTA__INIT;
    Mvm__V1__Tenant t = *in; /* shallow: only the output fields differ */
    if (!t.quota)
        t.quota = &noquota;
    if (!t.create_time)
        t.create_time = &now;
    t.update_time = &now;
    t.resource_version = w->rev;
    t.usage = NULL;
    mvm_code c = store_put_msg(w->txn, w->st->tenants, t.name, strlen(t.name), &t.base, err);
    if (c || !out)
        return c;
    *out = (Mvm__V1__Tenant *)store_msg_dup(&t.base, alloc);
    if (!*out)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    return tenant_decorate(w->st, w->txn, &(*out)->base, alloc, err);
}

mvm_code store_tenant_check_new(const Mvm__V1__Tenant *in, mvm_error *err) {
    uint8_t net[2];
    mvm_code c;
    if ((c = store_check_name("tenant", in->name, err)) ||
        (c = store_check_subnet(in->subnet, net, err)) || (c = store_check_labels(&in->base, err)) ||
        (c = store_check_egress(in, err)))
        return c;
    if (in->net_id > 4095)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "net_id %u is out of range 0-4095",
                        in->net_id);
    return MVM_OK;
}

/* The request's own rules (no lock held). */
static mvm_code tenant_create_check(store_wtx *w, void *arg, mvm_error *err) {
    const Mvm__V1__Tenant *in = ((tenant_args *)arg)->in;
    store_wtx_audit(w, in ? in->name : "", "tenant/%.63s", in && in->name ? in->name : "");
    if (!in)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "tenant is required");
    return store_tenant_check_new(in, err);
}

mvm_code store_tenant_insert(store_wtx *w, const Mvm__V1__Tenant *in, ProtobufCAllocator *alloc,
                             Mvm__V1__Tenant **out, mvm_error *err) {
    store *st = w->st;
    uint8_t net[2], nid[2];
    mvm_code c = store_check_subnet(in->subnet, net, err);
    bool taken;
    MDB_val v;
    if (c || (c = store_exists(w->txn, st->tenants, in->name, strlen(in->name), &taken, NULL,
                               err)))
        return c;
    if (taken)
        return mvm_fail(err, MVM_ALREADY_EXISTS, "tenant %s already exists", in->name);
    netid_key(in->net_id, nid);
    if ((c = store_exists(w->txn, st->netids, nid, 2, &taken, &v, err)))
        return c;
    if (taken)
        return mvm_fail(err, MVM_ALREADY_EXISTS, "net_id %u is taken by tenant %.*s",
                        in->net_id, (int)v.mv_size, (const char *)v.mv_data);
    if ((c = store_exists(w->txn, st->subnets, net, 2, &taken, &v, err)))
        return c;
    if (taken)
        return mvm_fail(err, MVM_ALREADY_EXISTS, "subnet %s overlaps tenant %.*s's subnet",
                        in->subnet, (int)v.mv_size, (const char *)v.mv_data);
    size_t nlen = strlen(in->name);
    Mvm__V1__TenantUsage zero = MVM__V1__TENANT_USAGE__INIT;
    if ((c = store_put_raw(w->txn, st->netids, nid, 2, in->name, nlen, 0, err)) ||
        (c = store_put_raw(w->txn, st->subnets, net, 2, in->name, nlen, 0, err)) ||
        (c = store_put_msg(w->txn, st->usage, in->name, nlen, &zero.base, err)))
        return c;
    Mvm__V1__Tenant t = *in;
    t.create_time = NULL; /* output only: the write's time */
    t.deleting = false;   /* output only: Apply's prune sets it */
    return store_tenant_put(w, &t, alloc, out, err);
}

static mvm_code tenant_create_fn(store_wtx *w, void *arg, mvm_error *err) {
    tenant_args *a = arg;
    return store_tenant_insert(w, a->in, a->alloc, &a->out, err);
}

mvm_code store_tenant_create(store *st, const store_actor *who, const Mvm__V1__Tenant *in,
                             ProtobufCAllocator *alloc, Mvm__V1__Tenant **out, mvm_error *err) {
    tenant_args a = {.in = in, .alloc = alloc};
    mvm_code c = store_write(st, who, tenant_create_check, tenant_create_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

/* The request's own rules (no lock held); the merged result is checked
 * again under the lock. */
static mvm_code tenant_update_check(store_wtx *w, void *arg, mvm_error *err) {
    const Mvm__V1__Tenant *in = ((tenant_args *)arg)->in;
    store_wtx_audit(w, in ? in->name : "", "tenant/%.63s", in && in->name ? in->name : "");
    if (!in)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "tenant is required");
    mvm_code c = store_check_name("tenant", in->name, err);
    if (!c)
        c = store_check_labels(&in->base, err);
    return c ? c : store_check_egress(in, err);
}

static mvm_code tenant_update_fn(store_wtx *w, void *arg, mvm_error *err) {
    tenant_args *a = arg;
    const Mvm__V1__Tenant *in = a->in;
    ProtobufCMessage *m;
    mvm_code c = store_get_msg(w->txn, w->st->tenants, in->name, strlen(in->name),
                               &mvm__v1__tenant__descriptor, NULL, &m, err);
    if (c == MVM_NOT_FOUND)
        return mvm_fail(err, c, "tenant %s not found", in->name);
    if (c)
        return c;
    Mvm__V1__Tenant *old = (Mvm__V1__Tenant *)m, *upd = NULL;
    if (in->resource_version && in->resource_version != old->resource_version)
        c = mvm_fail(err, MVM_ABORTED,
                     "tenant %s was changed since it was read (resource_version %llu, request "
                     "has %llu); read it again and retry",
                     in->name, (unsigned long long)old->resource_version,
                     (unsigned long long)in->resource_version);
    if (!c)
        c = store_mask_apply(m, &in->base, a->mask, &store_tenant_rules,
                             (ProtobufCMessage **)&upd, err);
    if (!c)
        c = store_check_labels(&upd->base, err);
    if (!c)
        c = store_check_egress(upd, err);
    if (!c)
        c = store_tenant_put(w, upd, a->alloc, &a->out, err);
    store_msg_free(&old->base, NULL);
    store_msg_free(upd ? &upd->base : NULL, NULL);
    return c;
}

mvm_code store_tenant_update(store *st, const store_actor *who, const Mvm__V1__Tenant *in,
                             const Google__Protobuf__FieldMask *mask, ProtobufCAllocator *alloc,
                             Mvm__V1__Tenant **out, mvm_error *err) {
    tenant_args a = {.in = in, .mask = mask, .alloc = alloc};
    mvm_code c = store_write(st, who, tenant_update_check, tenant_update_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

static mvm_code tenant_delete_check(store_wtx *w, void *arg, mvm_error *err) {
    const char *name = ((tenant_args *)arg)->name;
    store_wtx_audit(w, name, "tenant/%.63s", name ? name : "");
    return store_check_name("tenant", name, err);
}

static mvm_code tenant_delete_fn(store_wtx *w, void *arg, mvm_error *err) {
    tenant_args *a = arg;
    store *st = w->st;
    ProtobufCMessage *m;
    mvm_code c = store_get_msg(w->txn, st->tenants, a->name, strlen(a->name),
                               &mvm__v1__tenant__descriptor, NULL, &m, err);
    if (c == MVM_NOT_FOUND)
        return mvm_fail(err, c, "tenant %s not found", a->name);
    if (c)
        return c;
    Mvm__V1__Tenant *t = (Mvm__V1__Tenant *)m;
    uint8_t key[STORE_KEY_MAX], net[2], nid[2];
    size_t klen = store_key2(key, a->name, "", NULL); /* "name\0" */
    MDB_val first;
    bool has_pools;
    Mvm__V1__TenantUsage *u = NULL;
    c = store_has_prefix(w->txn, st->pools, key, klen, &has_pools, &first, err);
    if (!c && has_pools) {
        if (!(c = store_usage_get(w->txn, st, a->name, NULL, &u, err)))
            c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                         "tenant %s still has %u pool(s) (first: %.*s); delete them first",
                         a->name, u->pools, (int)(first.mv_size - klen),
                         (const char *)first.mv_data + klen);
    } else if (!c && !(c = store_tenant_net(t, net, err))) {
        netid_key(t->net_id, nid);
        size_t nlen = strlen(a->name);
        if (!(c = store_del(w->txn, st->tenants, a->name, nlen, err)) &&
            !(c = store_del(w->txn, st->usage, a->name, nlen, err)) &&
            !(c = store_del(w->txn, st->netids, nid, 2, err)))
            c = store_del(w->txn, st->subnets, net, 2, err);
    }
    store_msg_free(u ? &u->base : NULL, NULL);
    store_msg_free(m, NULL);
    return c;
}

mvm_code store_tenant_delete(store *st, const store_actor *who, const char *name,
                             mvm_error *err) {
    tenant_args a = {.name = name};
    return store_write(st, who, tenant_delete_check, tenant_delete_fn, &a, err);
}
