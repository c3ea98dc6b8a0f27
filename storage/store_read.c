/* store_read.c - instance reads (get by tenant and id or by id alone, paged
 * list, snapshot walk for watches), the walk of a db's records in one read
 * snapshot that every foreach uses, node-wide counts, the audit log reader
 * and the watch hook. */
#include "store_internal.h"

#include <string.h>

mvm_code store_instance_get(store *st, const char *tenant, const char *id,
                            ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err) {
    *out = NULL;
    mvm_code c = store_check_instance_ref(tenant, id, err);
    MDB_txn *txn;
    if (c || (c = store_rd_begin(st, &txn, err)))
        return c;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, tenant, id, NULL);
    c = store_get_msg(txn, st->instances, key, klen, &mvm__v1__instance__descriptor, alloc,
                      (ProtobufCMessage **)out, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "instance %s/%s not found", tenant, id);
    store_rd_end(st, txn);
    return c;
}

mvm_code store_instance_find(store *st, const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err) {
    *out = NULL;
    MDB_txn *txn;
    mvm_code c = store_check_id("instance id", id, 'i', err);
    if (c || (c = store_rd_begin(st, &txn, err)))
        return c;
    /* inst_ids: id -> owning tenant's name, then the record under both. */
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, st->inst_ids, &k, &v);
    char tenant[STORE_KEY_MAX];
    uint8_t key[STORE_KEY_MAX];
    if (rc == MDB_NOTFOUND) {
        c = mvm_fail(err, MVM_NOT_FOUND, "instance %s not found", id);
    } else if (rc) {
        c = store_lmdb_fail(err, rc, "get instance id");
    } else if (v.mv_size == 0 || v.mv_size >= sizeof tenant) {
        c = mvm_fail(err, MVM_DATA_LOSS, "store: corrupt id index entry for instance %s", id);
    } else {
        memcpy(tenant, v.mv_data, v.mv_size);
        tenant[v.mv_size] = '\0';
        size_t klen = store_key2(key, tenant, id, NULL);
        c = store_get_msg(txn, st->instances, key, klen, &mvm__v1__instance__descriptor,
                          alloc, (ProtobufCMessage **)out, err);
        if (c == MVM_NOT_FOUND) /* indexed but absent: the index is damaged */
            c = mvm_fail(err, MVM_DATA_LOSS, "store: instance %s is indexed under tenant %s "
                         "but has no record", id, tenant);
    }
    store_rd_end(st, txn);
    return c;
}

mvm_code store_instance_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                             Mvm__V1__ListInstancesResponse **out, mvm_error *err) {
    Mvm__V1__ListInstancesResponse *r = store_alloc(alloc, sizeof *r);
    *out = NULL;
    if (!r)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm__v1__list_instances_response__init(r);
    mvm_code c = store_page_by_pool(st, st->instances, &mvm__v1__instance__descriptor, opt, alloc,
                                    (ProtobufCMessage ***)&r->instances, &r->n_instances,
                                    &r->next_page_token, err);
    return store_hand_out(c, &r->base, alloc, out);
}

mvm_code store_walk(MDB_txn *txn, MDB_dbi dbi, const void *seek, size_t seeklen, size_t plen,
                    const ProtobufCMessageDescriptor *desc, store_msg_fn fn, void *arg,
                    mvm_error *err) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    MDB_val k = {seeklen, (void *)seek}, v;
    rc = mdb_cursor_get(cur, &k, &v, seeklen ? MDB_SET_RANGE : MDB_FIRST);
    mvm_code c = MVM_OK;
    for (; rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, seek, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
        if (!m) {
            c = store_corrupt_record(err, desc, k.mv_data, k.mv_size);
            break;
        }
        bool more = fn(arg, m);
        protobuf_c_message_free_unpacked(m, NULL);
        if (!more)
            break;
    }
    if (c == MVM_OK && rc != 0 && rc != MDB_NOTFOUND)
        c = store_lmdb_fail(err, rc, "walk");
    mdb_cursor_close(cur);
    return c;
}

typedef struct {
    const char *pool;
    store_instance_fn fn;
    void *arg;
} foreach_ctx;

static bool foreach_one(void *arg, const ProtobufCMessage *m) {
    foreach_ctx *f = arg;
    const Mvm__V1__Instance *i = (const Mvm__V1__Instance *)m;
    if (f->pool && *f->pool && strcmp(i->pool, f->pool) != 0)
        return true;
    return f->fn(f->arg, i);
}

mvm_code store_foreach(store *st, MDB_dbi dbi, const char *tenant,
                       const ProtobufCMessageDescriptor *desc, store_msg_fn fn, void *arg,
                       uint64_t *rev, mvm_error *err) {
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = 0;
    mvm_code c;
    if (tenant && *tenant) {
        if ((c = store_check_name("tenant", tenant, err)))
            return c;
        plen = store_key2(prefix, tenant, "", NULL);
    }
    MDB_txn *txn;
    if ((c = store_rd_begin(st, &txn, err)))
        return c;
    uint64_t snap_rev;
    c = store_get_u64(txn, st->meta, "rev", &snap_rev, err);
    if (rev)
        *rev = snap_rev;
    if (!c)
        c = store_walk(txn, dbi, prefix, plen, plen, desc, fn, arg, err);
    store_rd_end(st, txn);
    return c;
}

mvm_code store_instance_foreach(store *st, const char *tenant, const char *pool,
                                store_instance_fn fn, void *arg, uint64_t *rev,
                                mvm_error *err) {
    foreach_ctx f = {pool, fn, arg};
    return store_foreach(st, st->instances, tenant, &mvm__v1__instance__descriptor, foreach_one,
                         &f, rev, err);
}

static bool count_one(void *arg, const ProtobufCMessage *m) {
    store_counts *n = arg;
    const Mvm__V1__Instance *i = (const Mvm__V1__Instance *)m;
    n->instances++;
    if ((unsigned)i->state < sizeof n->by_state / sizeof n->by_state[0])
        n->by_state[i->state]++;
    if (i->state != MVM__V1__INSTANCE_STATE__INSTANCE_STATE_DESTROYED) {
        n->vcpus += i->vcpus;
        n->mem_mib += i->mem_mib;
    }
    return true;
}

mvm_code store_count(store *st, store_counts *out, mvm_error *err) {
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c)
        return c;
    MDB_stat s;
    int rc = mdb_stat(txn, st->tenants, &s);
    out->tenants = rc ? 0 : (uint32_t)s.ms_entries;
    if (!rc)
        rc = mdb_stat(txn, st->pools, &s);
    out->pools = rc ? 0 : (uint32_t)s.ms_entries;
    c = rc ? store_lmdb_fail(err, rc, "stat")
           : store_walk(txn, st->instances, "", 0, 0, &mvm__v1__instance__descriptor, count_one,
                        out, err);
    store_rd_end(st, txn);
    return c;
}

typedef struct {
    store_audit_fn fn;
    void *arg;
} audit_ctx;

static bool audit_one(void *arg, const ProtobufCMessage *m) {
    audit_ctx *a = arg;
    return a->fn(a->arg, (const Mvm__V1__AuditRecord *)m);
}

mvm_code store_audit_foreach(store *st, uint64_t after_seq, store_audit_fn fn, void *arg,
                             mvm_error *err) {
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c)
        return c;
    uint8_t key[8];
    store_audit_key(after_seq + 1, key);
    audit_ctx a = {fn, arg};
    c = store_walk(txn, st->audit, key, sizeof key, 0, &mvm__v1__audit_record__descriptor,
                   audit_one, &a, err);
    store_rd_end(st, txn);
    return c;
}

void store_set_instance_hook(store *st, store_instance_hook fn, void *arg) {
    pthread_mutex_lock(&st->wlock);
    st->hook = fn;
    st->hook_arg = arg;
    pthread_mutex_unlock(&st->wlock);
}
