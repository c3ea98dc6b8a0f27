/* store_check.c - `mvmd --check-store`: the start-up checks of store_open
 * (data file, marker, schema and identity records), then a read-only walk
 * of every database that unpacks every record, compares each tree's entry
 * count with what LMDB's statistics say, and counts each index against the
 * records it indexes. Changes nothing; takes no lock. */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* Walks dbi: *n entries, each value unpacked as desc (if not NULL). */
static mvm_code check_db(MDB_txn *txn, MDB_dbi dbi, const char *name,
                         const ProtobufCMessageDescriptor *desc, uint64_t *n, mvm_error *err) {
    *n = 0;
    MDB_stat stat;
    MDB_cursor *cur;
    int rc = mdb_stat(txn, dbi, &stat);
    if (!rc)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, name);
    MDB_val k, v;
    mvm_code c = MVM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !c;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        (*n)++;
        ProtobufCMessage *m = desc ? protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data)
                                   : NULL;
        if (desc && !m)
            c = store_corrupt_record(err, desc, k.mv_data, k.mv_size);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    mdb_cursor_close(cur);
    if (!c && rc != MDB_NOTFOUND)
        c = store_lmdb_fail(err, rc, name);
    if (!c && *n != stat.ms_entries)
        c = mvm_fail(err, MVM_DATA_LOSS,
                     "store: the \"%s\" database holds %llu records but counts %llu: the store "
                     "is damaged; %s",
                     name, (unsigned long long)*n, (unsigned long long)stat.ms_entries,
                     STORE_RECOVERY_HINT);
    return c;
}

/* Every index has one entry per record it indexes. */
static mvm_code check_counts(const char *what, const char *const names[], const uint64_t n[],
                             int count, mvm_error *err) {
    for (int i = 1; i < count; i++)
        if (n[i] != n[0])
            return mvm_fail(err, MVM_DATA_LOSS,
                            "store: %s disagree: \"%s\" has %llu entries, \"%s\" has %llu: the "
                            "store is damaged; %s",
                            what, names[0], (unsigned long long)n[0], names[i],
                            (unsigned long long)n[i], STORE_RECOVERY_HINT);
    return MVM_OK;
}

static mvm_code check_txn(store *st, MDB_txn *txn, store_report *r, mvm_error *err) {
    mvm_code c = store_get_u64(txn, st->meta, "rev", &r->revision, err);
    uint64_t usage, netids, subnets, inst_ids, pool_inst, allocs, meta;
    struct {
        MDB_dbi dbi;
        const char *name;
        const ProtobufCMessageDescriptor *desc;
        uint64_t *n;
    } dbs[] = {
        {st->meta, "meta", NULL, &meta},
        {st->tenants, "tenants", &mvm__v1__tenant__descriptor, &r->tenants},
        {st->usage, "usage", &mvm__v1__tenant_usage__descriptor, &usage},
        {st->netids, "netids", NULL, &netids},
        {st->subnets, "subnets", NULL, &subnets},
        {st->pools, "pools", &mvm__v1__pool__descriptor, &r->pools},
        {st->instances, "instances", &mvm__v1__instance__descriptor, &r->instances},
        {st->inst_ids, "inst_ids", NULL, &inst_ids},
        {st->pool_inst, "pool_inst", NULL, &pool_inst},
        {st->allocs, "allocs", NULL, &allocs},
        {st->audit, "audit", &mvm__v1__audit_record__descriptor, &r->audit_records},
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && !c; i++)
        c = check_db(txn, dbs[i].dbi, dbs[i].name, dbs[i].desc, dbs[i].n, err);
    /* A store older than the snapshots db has none (store_open adds it). */
    if (!c && !st->no_snapshots)
        c = check_db(txn, st->snapshots, "snapshots", &mvm__v1__snapshot__descriptor,
                     &r->snapshots, err);
    static const char *const tn[] = {"tenants", "usage", "netids", "subnets"};
    static const char *const in[] = {"instances", "inst_ids", "pool_inst", "allocs"};
    uint64_t tc[] = {r->tenants, usage, netids, subnets};
    uint64_t ic[] = {r->instances, inst_ids, pool_inst, allocs};
    if (!c)
        c = check_counts("tenant indexes", tn, tc, 4, err);
    if (!c)
        c = check_counts("instance indexes", in, ic, 4, err);
    return c;
}

mvm_code store_check(const char *state_dir, store_report *r, mvm_error *err) {
    memset(r, 0, sizeof *r);
    char dir[4096];
    if (!state_dir || snprintf(dir, sizeof dir, "%s/store", state_dir) >= (int)sizeof dir)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "store: bad state dir");
    store_guard_result g;
    mvm_code c = store_guard(state_dir, &g, err);
    snprintf(r->data_path, sizeof r->data_path, "%s", g.data_path);
    if (c)
        return c;
    if (g.fresh)
        return mvm_fail(err, MVM_NOT_FOUND,
                        "store: %s holds no store yet (%s): mvmd would create a new one", dir,
                        g.df.size ? "nothing committed" : "no data file");
    r->file_bytes = g.df.size;
    r->page_size = g.df.psize;
    r->pages_used = g.df.last_pg + 1;

    store st;
    MDB_txn *txn;
    if ((c = store_ro_open(dir, 0, &g, &st, &txn, r->store_id, err)))
        return c;
    c = check_txn(&st, txn, r, err);
    store_ro_close(&st, txn);
    if (c)
        return c;
    snprintf(r->summary, sizeof r->summary,
             "store %.200s is sound: store id %s, revision %llu, %llu tenants, %llu pools, %llu "
             "snapshots, %llu instances, %llu audit records, %llu pages of %u bytes in use "
             "(file %llu bytes)",
             r->data_path, r->store_id[0] ? r->store_id : "(none yet)",
             (unsigned long long)r->revision, (unsigned long long)r->tenants,
             (unsigned long long)r->pools, (unsigned long long)r->snapshots,
             (unsigned long long)r->instances,
             (unsigned long long)r->audit_records, (unsigned long long)r->pages_used,
             r->page_size, (unsigned long long)r->file_bytes);
    return MVM_OK;
}
