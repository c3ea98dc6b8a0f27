/* store_internal.h - what the storage/ source files share and nothing else
 * sees: the store struct, read/write transaction helpers, key layout and
 * the small codecs. See store.h for the public face.
 *
 * Databases (all keys binary, ordered bytewise):
 *   meta       "schema" -> u32 schema version, "rev" -> u64, "audit_seq" -> u64
 *   tenants    name                -> mvm.v1.Tenant
 *   usage      name                -> mvm.v1.TenantUsage (counters)
 *   netids     u16 BE net_id       -> tenant name
 *   subnets    2 bytes (octets 2,3)-> tenant name
 *   pools      tenant 0 name       -> mvm.v1.Pool
 *   instances  tenant 0 id         -> mvm.v1.Instance
 *   inst_ids   id                  -> tenant name (node-unique ids)
 *   pool_inst  tenant 0 pool 0 id  -> "" (instances of a pool)
 *   allocs     tenant 0 offset(u8) -> instance id
 *   audit      u64 BE seq          -> mvm.v1.AuditRecord
 */
#ifndef MVM_STORE_INTERNAL_H
#define MVM_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

#define STORE_SCHEMA_VERSION 1u
#define STORE_KEY_MAX 256

typedef struct store_rslot store_rslot;

struct store {
    MDB_env *env;
    MDB_dbi meta, tenants, usage, netids, subnets, pools, instances, inst_ids, pool_inst,
        allocs, audit;
    pthread_key_t rkey;        /* this thread's cached read transaction */
    pthread_mutex_t rlock;     /* guards rslots */
    store_rslot *rslots;       /* every cached read transaction */
    pthread_mutex_t wlock;     /* one writer at a time, hooks in rev order */
    store_instance_hook hook;
    void *hook_arg;
    uint64_t audit_keep;       /* audit records kept (oldest dropped) */
    int lockfd;                /* flock'ed: one process per state dir */
};

/* ---- read transactions (store_env.c) ---- */

/* Begins a read transaction, reusing this thread's cached one. */
mvm_code store_rd_begin(store *st, MDB_txn **txn, mvm_error *err);
/* Ends it (reset, kept for the next read on this thread). */
void store_rd_end(store *st, MDB_txn *txn);
mvm_code store_lmdb_fail(mvm_error *err, int rc, const char *what);

/* ---- write transactions (store_write.c) ---- */

#define STORE_MAX_EVENTS 2

typedef struct store_wtx {
    store *st;
    MDB_txn *txn;
    uint64_t rev;       /* the revision this write commits */
    int64_t now_sec;    /* the write's timestamp */
    int32_t now_nsec;
    char tenant[64];    /* audit: tenant concerned */
    char object[160];   /* audit: "tenant/acme" ... */
    int n_events;
    struct {
        Mvm__V1__InstanceEvent__Type type;
        uint8_t *buf;   /* packed Instance, malloc'd */
        size_t len;
    } events[STORE_MAX_EVENTS];
} store_wtx;

typedef mvm_code (*store_write_fn)(store_wtx *w, void *arg, mvm_error *err);

/* Runs fn in one write transaction with its audit record; commits if fn
 * returns MVM_OK, else aborts and records the refusal alone. */
mvm_code store_write(store *st, const store_actor *who, store_write_fn fn, void *arg,
                     mvm_error *err);
void store_wtx_audit(store_wtx *w, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues a watch event for inst, published after commit. */
mvm_code store_wtx_event(store_wtx *w, Mvm__V1__InstanceEvent__Type type,
                         const Mvm__V1__Instance *inst, mvm_error *err);
/* Sets a timestamp field to the write's time (allocated with malloc). */
Google__Protobuf__Timestamp *store_wtx_time(store_wtx *w);

/* The audit db's key for seq: 8 bytes big-endian, so keys sort by seq. */
void store_audit_key(uint64_t seq, uint8_t key[8]);

/* ---- records (store_codec.c) ---- */

/* Gets and unpacks key from dbi: MVM_NOT_FOUND (message unset) if absent. */
mvm_code store_get_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                       ProtobufCMessage **out, mvm_error *err);
/* Packs msg and puts it under key (overwriting). */
mvm_code store_put_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessage *msg, mvm_error *err);
mvm_code store_put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const void *val, size_t vlen, unsigned flags, mvm_error *err);
mvm_code store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, mvm_error *err);
/* True if some key starts with prefix; its first key copied to first (if not NULL). */
bool store_has_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
                      MDB_val *first);
/* Builds "a\0b" (or "a\0b\0c" when c is not NULL) into key; returns its length. */
size_t store_key2(uint8_t key[STORE_KEY_MAX], const char *a, const char *b, const char *c);
/* Deep copy through pack/unpack. */
ProtobufCMessage *store_msg_dup(const ProtobufCMessage *m, ProtobufCAllocator *alloc);
char *store_strdup(ProtobufCAllocator *alloc, const char *s);
void *store_alloc(ProtobufCAllocator *alloc, size_t n);
void store_msg_free(ProtobufCMessage *m, ProtobufCAllocator *alloc);
/* Gives a write's result to the caller: *(T **)outp = m if c is MVM_OK,
 * else frees m and stores NULL; with outp NULL just frees m. Returns c. */
mvm_code store_hand_out(mvm_code c, ProtobufCMessage *m, ProtobufCAllocator *alloc, void *outp);
uint64_t store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key);
mvm_code store_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v, mvm_error *err);

/* ---- rules (store_rules.c) ---- */

mvm_code store_check_name(const char *what, const char *s, mvm_error *err);
/* Parses "10.240.x.0/24" canonical form; fills the octets 2 and 3. */
mvm_code store_check_subnet(const char *s, uint8_t net[2], mvm_error *err);
/* Instance ids are "i-" and 16 lowercase hex digits. */
bool store_instance_id_valid(const char *id);
/* Checks a (tenant, instance id) pair names something that could exist. */
mvm_code store_check_instance_ref(const char *tenant, const char *id, mvm_error *err);
/* Checks that every string in m (recursively) is valid UTF-8. */
mvm_code store_check_strings(const ProtobufCMessage *m, mvm_error *err);
/* Checks a labels map: keys and values, no duplicate keys. */
mvm_code store_check_labels(const ProtobufCMessage *m, mvm_error *err);

/* ---- labels and selectors (store_select.c) ---- */

/* Every map<string,string> labels entry has this layout. */
typedef struct store_label {
    ProtobufCMessage base;
    char *key;
    char *value;
} store_label;
/* m's "labels" field: its entries and count (0 if m has none). */
store_label **store_labels_of(const ProtobufCMessage *m, size_t *n);

typedef struct store_selector store_selector;
mvm_code store_selector_parse(const char *s, store_selector **out, mvm_error *err);
void store_selector_free(store_selector *sel);
/* True if m's "labels" field satisfies sel (NULL matches everything). */
bool store_selector_match(const store_selector *sel, const ProtobufCMessage *m);

/* ---- update masks (store_mask.c) ---- */

/* Returns a new message (alloc'd with malloc): stored with the fields named
 * by mask (or every path in mutable[] if the mask is empty) taken from in.
 * mutable[] is a NULL-terminated list of top-level field names. */
mvm_code store_mask_apply(const ProtobufCMessage *stored, const ProtobufCMessage *in,
                          const Google__Protobuf__FieldMask *mask,
                          const char *const *mutable_fields, ProtobufCMessage **out,
                          mvm_error *err);

/* ---- paging (store_page.c) ---- */

typedef bool (*store_page_match)(void *arg, const ProtobufCMessage *m);

/* Lists records of dbi whose key starts with prefix, after the token's key,
 * that match sel and (if not NULL) match(arg, m); at most page_size of them
 * into *items (alloc'd), and the next token into *next. */
typedef struct store_page_req {
    MDB_dbi dbi;
    const void *prefix;
    size_t plen;
    const ProtobufCMessageDescriptor *desc;
    const store_list_opts *opt;
    store_page_match match;
    void *match_arg;
    /* decorate(arg, txn, m) is called on each listed message (e.g. usage). */
    mvm_code (*decorate)(void *arg, MDB_txn *txn, ProtobufCMessage *m, ProtobufCAllocator *a,
                         mvm_error *err);
} store_page_req;
mvm_code store_page(MDB_txn *txn, const store_page_req *req, ProtobufCAllocator *alloc,
                    ProtobufCMessage ***items, size_t *n_items, char **next, mvm_error *err);

/* ---- usage counters (store_tenant.c) ---- */

mvm_code store_usage_get(MDB_txn *txn, store *st, const char *tenant, ProtobufCAllocator *alloc,
                         Mvm__V1__TenantUsage **out, mvm_error *err);
/* Adds the deltas to the tenant's counters. */
mvm_code store_usage_add(store_wtx *w, const char *tenant, int instances, int64_t vcpus,
                         int64_t mem_mib, int pools, mvm_error *err);

#endif
