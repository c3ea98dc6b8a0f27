/* store_pool.c - pools: create / get / list / update / delete, their field
 * rules (machine size, image paths, desired counts, base snapshot build
 * settings, network limits), the tenant's max_pools quota, and the refusal to delete a pool
 * that still has instances. base_snapshot is output only: a new pool has
 * none, an update that changes the machine or its images retires it and
 * (unless the pool never had one) starts a new build, and a deleted pool's
 * snapshots are retired; store_snapshot.c writes the rest of its life.
 * deleting (store_apply.c marks it) and status (mvmd computes it) are
 * output only too; a deleting tenant takes no new pool. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_BOOT_ARGS_MAX 4096
#define READY_DELAY_MAX 3600     /* seconds */
#define READY_TIMEOUT_MAX 86400  /* seconds */
#define IMAGES_CHANGED "the pool's images changed"
#define POOL_DELETED "its pool was deleted"
#define BASE(x) MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_##x

static const char *const pool_mutable[] = {
    "vcpus",        "mem_mib",       "disk_mib",
    "kernel_image", "rootfs_image",  "initrd_image",
    "boot_args",    "desired_instances", "desired_warm",
    "sleep_policy", "labels",        "ready_pattern",
    "ready_delay_seconds", "ready_timeout_seconds", "base_snapshot_ttl_seconds",
    "memory_backend", "network_limits", NULL};
const store_mask_rules store_pool_rules = {pool_mutable, NULL};

/* The rules a stored pool's own fields obey. */
static mvm_code pool_check(const Mvm__V1__Pool *p, mvm_error *err) {
    mvm_code c = store_check_machine("pool", p->vcpus, p->mem_mib, err);
    if (c)
        return c;
    if (p->desired_warm > p->desired_instances)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pool desired_warm %u is more than desired_instances %u (the warm "
                        "instances are some of the desired ones)",
                        p->desired_warm, p->desired_instances);
    if (p->ready_delay_seconds > READY_DELAY_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pool ready_delay_seconds %u is out of range 0-%d", p->ready_delay_seconds,
                        READY_DELAY_MAX);
    if (p->ready_timeout_seconds > READY_TIMEOUT_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pool ready_timeout_seconds %u is out of range 0-%d (0 means 600)",
                        p->ready_timeout_seconds, READY_TIMEOUT_MAX);
    if (!protobuf_c_enum_descriptor_get_value(&mvm__v1__memory_backend__descriptor,
                                              p->memory_backend))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pool memory_backend %d is not a MemoryBackend (UNSPECIFIED, FILE or "
                        "UFFD)",
                        (int)p->memory_backend);
    if ((c = store_check_file_path("pool kernel_image", p->kernel_image, err)) ||
        (c = store_check_file_path("pool rootfs_image", p->rootfs_image, err)) ||
        (p->initrd_image && *p->initrd_image &&
         (c = store_check_file_path("pool initrd_image", p->initrd_image, err))))
        return c;
    if (p->boot_args && strlen(p->boot_args) > STORE_BOOT_ARGS_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "pool boot_args is limited to %d bytes",
                        STORE_BOOT_ARGS_MAX);
    if ((c = store_check_labels(&p->base, err)) || /* UTF-8 first, then the pattern */
        (c = store_check_network_limits(p->network_limits, err)))
        return c;
    return store_check_pattern("pool ready_pattern", p->ready_pattern, err);
}

/* ---- reads ---- */

mvm_code store_pool_get(store *st, const char *tenant, const char *name,
                        ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    *out = NULL;
    mvm_code c;
    if ((c = store_check_name("tenant", tenant, err)) || (c = store_check_name("pool", name, err)))
        return c;
    MDB_txn *txn;
    if ((c = store_rd_begin(st, &txn, err)))
        return c;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, tenant, name, NULL);
    c = store_get_msg(txn, st->pools, key, klen, &mvm__v1__pool__descriptor, alloc,
                      (ProtobufCMessage **)out, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "pool %s/%s not found", tenant, name);
    store_rd_end(st, txn);
    return c;
}

mvm_code store_pool_load(MDB_txn *txn, store *st, const char *tenant, const char *name,
                         Mvm__V1__Pool **out, mvm_error *err) {
    *out = NULL;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, tenant, name, NULL);
    mvm_code c = store_get_msg(txn, st->pools, key, klen, &mvm__v1__pool__descriptor, NULL,
                               (ProtobufCMessage **)out, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "pool %s/%s not found", tenant, name);
    return c;
}

typedef struct {
    store_pool_fn fn;
    void *arg;
} pool_walk_ctx;

static bool pool_walk_one(void *arg, const ProtobufCMessage *m) {
    pool_walk_ctx *f = arg;
    return f->fn(f->arg, (const Mvm__V1__Pool *)m);
}

mvm_code store_pool_foreach(store *st, store_pool_fn fn, void *arg, mvm_error *err) {
    pool_walk_ctx f = {fn, arg};
    return store_foreach(st, st->pools, NULL, &mvm__v1__pool__descriptor, pool_walk_one, &f,
                         NULL, err);
}

mvm_code store_pool_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                         Mvm__V1__ListPoolsResponse **out, mvm_error *err) {
    *out = NULL;
    mvm_code c;
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = 0;
    if (opt->tenant && *opt->tenant) {
        if ((c = store_check_name("tenant", opt->tenant, err)))
            return c;
        plen = store_key2(prefix, opt->tenant, "", NULL);
    }
    Mvm__V1__ListPoolsResponse *r = store_alloc(alloc, sizeof *r);
    if (!r)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm__v1__list_pools_response__init(r);
    MDB_txn *txn;
    if ((c = store_rd_begin(st, &txn, err))) {
        store_msg_free(&r->base, alloc);
        return c;
    }
    store_page_req req = {.dbi = st->pools, .prefix = prefix, .plen = plen,
                          .desc = &mvm__v1__pool__descriptor, .opt = opt};
    c = store_page(txn, &req, alloc, (ProtobufCMessage ***)&r->pools, &r->n_pools,
                   &r->next_page_token, err);
    store_rd_end(st, txn);
    return store_hand_out(c, &r->base, alloc, out);
}

/* ---- writes ---- */

typedef struct {
    const Mvm__V1__Pool *in;
    const Google__Protobuf__FieldMask *mask;
    const char *tenant, *name;
    ProtobufCAllocator *alloc;
    Mvm__V1__Pool *out;
} pool_args;

mvm_code store_pool_put(store_wtx *w, const Mvm__V1__Pool *p, ProtobufCAllocator *alloc,
                        Mvm__V1__Pool **out, mvm_error *err) {
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    Mvm__V1__Pool q = *p; /* shallow: only the output fields differ */
    q.create_time = p->create_time ? p->create_time : &now;
    q.update_time = &now;
    q.resource_version = w->rev;
    q.status = NULL; /* output only, computed by mvmd on read */
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, q.tenant, q.name, NULL);
    mvm_code c = store_put_msg(w->txn, w->st->pools, key, klen, &q.base, err);
    if (c || !out)
        return c;
    *out = (Mvm__V1__Pool *)store_msg_dup(&q.base, alloc);
    return *out ? MVM_OK : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
}

/* Names the pool in the audit record and checks in names one. */
static mvm_code pool_ref_check(store_wtx *w, const Mvm__V1__Pool *in, mvm_error *err) {
    if (!in) {
        store_wtx_audit(w, "", "pool/");
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "pool is required");
    }
    store_wtx_audit(w, in->tenant, "pool/%.63s/%.63s", in->tenant ? in->tenant : "",
                    in->name ? in->name : "");
    mvm_code c = store_check_name("tenant", in->tenant, err);
    return c ? c : store_check_name("pool", in->name, err);
}

mvm_code store_pool_check_new(const Mvm__V1__Pool *in, mvm_error *err) {
    mvm_code c = store_check_name("tenant", in->tenant, err);
    if (!c)
        c = store_check_name("pool", in->name, err);
    return c ? c : pool_check(in, err);
}

/* The request's own rules (no lock held). */
static mvm_code pool_create_check(store_wtx *w, void *arg, mvm_error *err) {
    const Mvm__V1__Pool *in = ((pool_args *)arg)->in;
    mvm_code c = pool_ref_check(w, in, err);
    return c ? c : pool_check(in, err);
}

mvm_code store_pool_insert(store_wtx *w, const Mvm__V1__Pool *in, ProtobufCAllocator *alloc,
                           Mvm__V1__Pool **out, mvm_error *err) {
    store *st = w->st;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, in->tenant, in->name, NULL);
    bool taken;
    ProtobufCMessage *tm;
    mvm_code c = store_get_msg(w->txn, st->tenants, in->tenant, strlen(in->tenant),
                               &mvm__v1__tenant__descriptor, NULL, &tm, err);
    if (c == MVM_NOT_FOUND)
        return mvm_fail(err, c, "tenant %s not found", in->tenant);
    if (c)
        return c;
    if (!(c = store_exists(w->txn, st->pools, key, klen, &taken, NULL, err)) && taken)
        c = mvm_fail(err, MVM_ALREADY_EXISTS, "pool %s/%s already exists", in->tenant,
                     in->name);
    Mvm__V1__Tenant *t = (Mvm__V1__Tenant *)tm;
    Mvm__V1__TenantUsage *u = NULL;
    if (!c && t->deleting)
        c = store_deleting_fail(w, "tenant", in->tenant, NULL, err);
    if (!c)
        c = store_usage_get(w->txn, st, in->tenant, NULL, &u, err);
    uint32_t max = t->quota ? t->quota->max_pools : 0;
    if (!c && max && u->pools >= max)
        c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                     "tenant %s quota max_pools is %u and %u are in use", in->tenant, max,
                     u->pools);
    store_msg_free(tm, NULL);
    store_msg_free(u ? &u->base : NULL, NULL);
    if (c || (c = store_usage_add(w, in->tenant, 0, 0, 0, 1, err)))
        return c;
    Mvm__V1__Pool p = *in;
    Mvm__V1__BaseSnapshot snap = MVM__V1__BASE_SNAPSHOT__INIT;
    snap.state = BASE(NONE);
    p.base_snapshot = &snap; /* output only: whatever in says is ignored */
    p.create_time = NULL;
    p.deleting = false; /* output only: Apply's prune sets it */
    return store_pool_put(w, &p, alloc, out, err);
}

static mvm_code pool_create_fn(store_wtx *w, void *arg, mvm_error *err) {
    pool_args *a = arg;
    return store_pool_insert(w, a->in, a->alloc, &a->out, err);
}

mvm_code store_pool_create(store *st, const store_actor *who, const Mvm__V1__Pool *in,
                           ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    pool_args a = {.in = in, .alloc = alloc};
    mvm_code c = store_write(st, who, pool_create_check, pool_create_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

/* The request's own rules (no lock held); the merged pool is checked
 * under the lock. */
static mvm_code pool_update_check(store_wtx *w, void *arg, mvm_error *err) {
    const Mvm__V1__Pool *in = ((pool_args *)arg)->in;
    mvm_code c = pool_ref_check(w, in, err);
    return c ? c : store_check_labels(&in->base, err);
}

static bool str_differ(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* True if the update changes what a base snapshot holds: the machine or
 * what it boots. */
static bool images_changed(const Mvm__V1__Pool *old, const Mvm__V1__Pool *upd) {
    return old->vcpus != upd->vcpus || old->mem_mib != upd->mem_mib ||
           old->disk_mib != upd->disk_mib || str_differ(old->kernel_image, upd->kernel_image) ||
           str_differ(old->rootfs_image, upd->rootfs_image) ||
           str_differ(old->initrd_image, upd->initrd_image) ||
           str_differ(old->boot_args, upd->boot_args);
}

/* Stores upd, whose images changed: its base snapshot (if any) is retired
 * and, unless the pool never asked for one (NONE), a new build is started
 * with an id drawn here (mvmd notices BUILDING and runs it). */
static mvm_code base_rebuild(store_wtx *w, const Mvm__V1__Pool *upd, ProtobufCAllocator *alloc,
                             Mvm__V1__Pool **out, mvm_error *err) {
    Mvm__V1__BaseSnapshot b = MVM__V1__BASE_SNAPSHOT__INIT;
    if (upd->base_snapshot)
        b = *upd->base_snapshot;
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    mvm_code c = MVM_OK;
    if (b.snapshot_id && *b.snapshot_id) {
        c = store_snapshot_retire_locked(w, upd->tenant, b.snapshot_id, IMAGES_CHANGED, err);
        b.snapshot_id = (char *)"";
        b.expire_time = NULL;
        b.message = (char *)IMAGES_CHANGED;
        b.update_time = &now;
    }
    char build_id[STORE_ID_LEN + 1];
    if (!c && b.state != BASE(NONE) && b.state != BASE(UNSPECIFIED)) {
        c = store_id_draw(w, 's', build_id, err);
        b.state = BASE(BUILDING);
        b.build_id = build_id;
        b.message = (char *)IMAGES_CHANGED;
        b.update_time = &now;
    }
    if (c)
        return c;
    Mvm__V1__Pool p = *upd;
    p.base_snapshot = &b;
    return store_pool_put(w, &p, alloc, out, err);
}

mvm_code store_pool_replace(store_wtx *w, const Mvm__V1__Pool *old, const Mvm__V1__Pool *upd,
                            ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err) {
    if (images_changed(old, upd))
        return base_rebuild(w, upd, alloc, out, err);
    return store_pool_put(w, upd, alloc, out, err);
}

static mvm_code pool_update_fn(store_wtx *w, void *arg, mvm_error *err) {
    pool_args *a = arg;
    const Mvm__V1__Pool *in = a->in;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, in->tenant, in->name, NULL);
    ProtobufCMessage *m;
    mvm_code c = store_get_msg(w->txn, w->st->pools, key, klen, &mvm__v1__pool__descriptor,
                               NULL, &m, err);
    if (c == MVM_NOT_FOUND)
        return mvm_fail(err, c, "pool %s/%s not found", in->tenant, in->name);
    if (c)
        return c;
    Mvm__V1__Pool *old = (Mvm__V1__Pool *)m, *upd = NULL;
    if (in->resource_version && in->resource_version != old->resource_version)
        c = mvm_fail(err, MVM_ABORTED,
                     "pool %s/%s was changed since it was read (resource_version %llu, request "
                     "has %llu); read it again and retry",
                     in->tenant, in->name, (unsigned long long)old->resource_version,
                     (unsigned long long)in->resource_version);
    if (!c)
        c = store_mask_apply(m, &in->base, a->mask, &store_pool_rules,
                             (ProtobufCMessage **)&upd, err);
    if (!c)
        c = pool_check(upd, err);
    if (!c)
        c = store_pool_replace(w, old, upd, a->alloc, &a->out, err);
    store_msg_free(&old->base, NULL);
    store_msg_free(upd ? &upd->base : NULL, NULL);
    return c;
}

mvm_code store_pool_update(store *st, const store_actor *who, const Mvm__V1__Pool *in,
                           const Google__Protobuf__FieldMask *mask, ProtobufCAllocator *alloc,
                           Mvm__V1__Pool **out, mvm_error *err) {
    pool_args a = {.in = in, .mask = mask, .alloc = alloc};
    mvm_code c = store_write(st, who, pool_update_check, pool_update_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

/* *n: number of keys starting with prefix; the first one's suffix into first. */
static mvm_code count_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
                             unsigned *n, char *first, size_t firstsz, mvm_error *err) {
    MDB_cursor *cur;
    *n = 0;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    MDB_val k = {plen, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((*n)++ == 0)
            snprintf(first, firstsz, "%.*s", (int)(k.mv_size - plen),
                     (const char *)k.mv_data + plen);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? MVM_OK : store_lmdb_fail(err, rc, "count");
}

static mvm_code pool_delete_check(store_wtx *w, void *arg, mvm_error *err) {
    pool_args *a = arg;
    store_wtx_audit(w, a->tenant, "pool/%.63s/%.63s", a->tenant ? a->tenant : "",
                    a->name ? a->name : "");
    mvm_code c = store_check_name("tenant", a->tenant, err);
    return c ? c : store_check_name("pool", a->name, err);
}

static mvm_code pool_delete_fn(store_wtx *w, void *arg, mvm_error *err) {
    pool_args *a = arg;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, a->tenant, a->name, NULL);
    bool found;
    mvm_code c = store_exists(w->txn, w->st->pools, key, klen, &found, NULL, err);
    if (c)
        return c;
    if (!found)
        return mvm_fail(err, MVM_NOT_FOUND, "pool %s/%s not found", a->tenant, a->name);
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = store_key2(prefix, a->tenant, a->name, "");
    char first[64] = "";
    unsigned n;
    if ((c = count_prefix(w->txn, w->st->pool_inst, prefix, plen, &n, first, sizeof first, err)))
        return c;
    if (n)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "pool %s/%s still has %u instance(s) (first: %s); delete them first",
                        a->tenant, a->name, n, first);
    if ((c = store_del(w->txn, w->st->pools, key, klen, err)) ||
        (c = store_snapshot_retire_pool(w, a->tenant, a->name, POOL_DELETED, err)))
        return c;
    return store_usage_add(w, a->tenant, 0, 0, 0, -1, err);
}

mvm_code store_pool_delete(store *st, const store_actor *who, const char *tenant,
                           const char *name, mvm_error *err) {
    pool_args a = {.tenant = tenant, .name = name};
    return store_write(st, who, pool_delete_check, pool_delete_fn, &a, err);
}
