/* store_internal.h - what the storage/ source files share and nothing else
 * sees: the store struct, read/write transaction helpers, key layout and
 * the small codecs. See store.h for the public face.
 *
 * Databases (all keys binary, ordered bytewise):
 *   meta       "schema" -> u32 schema version, "rev" -> u64, "audit_seq" -> u64,
 *              "store_id" -> 32 hex digits (also in <state-dir>/store.id),
 *              "apply_gen" -> u64 and "apply_time_us" -> i64 (the last
 *              NodeService.Apply; written by the first Apply, so an older
 *              store reads as never applied: 0, 0)
 *   tenants    name                -> mvm.v1.Tenant
 *   usage      name                -> mvm.v1.TenantUsage (counters)
 *   netids     u16 BE net_id       -> tenant name
 *   subnets    2 bytes (octets 2,3)-> tenant name
 *   pools      tenant 0 name       -> mvm.v1.Pool
 *   snapshots  tenant 0 id         -> mvm.v1.Snapshot (base and fork snapshots;
 *              ids unique on the node; added after the first release, so
 *              store_open creates it in an older store and the read-only
 *              opens of store_check and store_backup do without it)
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
#define STORE_PATH_MAX 4200 /* a state dir (< 4096) and a file name in it */

/* Appended to every message about a damaged store. */
#define STORE_RECOVERY_HINT "see \"Recovering the store\" in docs/operations.md"

typedef struct store_rslot store_rslot;

struct store {
    MDB_env *env;
    MDB_dbi meta, tenants, usage, netids, subnets, pools, snapshots, instances, inst_ids,
        pool_inst, allocs, audit;
    bool no_snapshots;         /* a read-only open of a store older than the
                                  snapshots db (never after store_open) */
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

/* Maps an LMDB (or errno) return code to an mvm_code and message: DATA_LOSS
 * for a damaged store (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID ...),
 * RESOURCE_EXHAUSTED for a full map, disk or memory, else INTERNAL. */
mvm_code store_lmdb_fail(mvm_error *err, int rc, const char *what);
/* Begins a read transaction, reusing this thread's cached one. */
mvm_code store_rd_begin(store *st, MDB_txn **txn, mvm_error *err);
/* Ends it (reset, kept for the next read on this thread). */
void store_rd_end(store *st, MDB_txn *txn);

/* ---- write transactions (store_write.c) ---- */

#define STORE_MAX_EVENTS 2

typedef struct store_wtx {
    store *st;
    const store_actor *who; /* for the audit records */
    MDB_txn *txn;
    uint64_t rev;       /* the revision this write commits */
    int64_t now_sec;    /* the write's timestamp */
    int32_t now_nsec;
    char tenant[64];    /* audit: tenant concerned */
    char object[160];   /* audit: "tenant/acme" ... */
    char note[200];     /* audit: the write's own record's message ("") */
    bool discard;       /* fn's choice: abort the transaction yet succeed (a
                           dry run, a write that would change nothing) */
    int n_events;
    struct {
        Mvm__V1__InstanceEvent__Type type;
        Mvm__V1__Instance *inst; /* a copy (malloc), made when queued */
    } events[STORE_MAX_EVENTS];
} store_wtx;

typedef mvm_code (*store_write_fn)(store_wtx *w, void *arg, mvm_error *err);

/* One mutation. check (if not NULL) runs first, without the write lock and
 * with w->txn NULL: the request's own rules, which need no stored data, so a
 * malformed request (100,000 labels, say) never holds other writers up.
 * Then fn runs in one write transaction with its audit record; commits if
 * fn returns MVM_OK (unless it set w->discard: then the transaction is
 * aborted, nothing is audited and MVM_OK returned), else aborts. A refusal
 * by check or fn is audited alone.
 * Both may name the object with store_wtx_audit. */
mvm_code store_write(store *st, const store_actor *who, store_write_fn check, store_write_fn fn,
                     void *arg, mvm_error *err);
void store_wtx_audit(store_wtx *w, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends an audit record for the object store_wtx_audit named last, with
 * message msg (NULL: ""), inside w's transaction: for a write that changes
 * several objects, one record each (store_write appends the last one). */
mvm_code store_wtx_audit_put(store_wtx *w, const char *msg, mvm_error *err);
/* Queues a watch event for inst, published after commit. */
mvm_code store_wtx_event(store_wtx *w, Mvm__V1__InstanceEvent__Type type,
                         const Mvm__V1__Instance *inst, mvm_error *err);
/* Sets a timestamp field to the write's time (allocated with malloc). */
Google__Protobuf__Timestamp *store_wtx_time(store_wtx *w);
/* Fills *ts (the caller's, e.g. on its stack) with the write's time. */
void store_wtx_stamp(const store_wtx *w, Google__Protobuf__Timestamp *ts);

/* The audit db's key for seq: 8 bytes big-endian, so keys sort by seq. */
void store_audit_key(uint64_t seq, uint8_t key[8]);

/* ---- records (store_codec.c) ---- */

/* Gets and unpacks key from dbi: MVM_NOT_FOUND (message unset) if absent,
 * DATA_LOSS if the record does not unpack. */
mvm_code store_get_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                       ProtobufCMessage **out, mvm_error *err);
/* Packs msg and puts it under key (overwriting). */
mvm_code store_put_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessage *msg, mvm_error *err);
mvm_code store_put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const void *val, size_t vlen, unsigned flags, mvm_error *err);
mvm_code store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, mvm_error *err);
/* *found: some key starts with prefix; the first one is copied to first (if
 * not NULL). Fails only on an LMDB error. */
mvm_code store_has_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
                          bool *found, MDB_val *first, mvm_error *err);
/* *found: key is in dbi; its value into val (if not NULL). Fails only on an
 * LMDB error. */
mvm_code store_exists(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, bool *found,
                      MDB_val *val, mvm_error *err);
/* DATA_LOSS naming the record of type desc under key that did not unpack. */
mvm_code store_corrupt_record(mvm_error *err, const ProtobufCMessageDescriptor *desc,
                              const void *key, size_t klen);
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
/* Reads a counter of the meta db: 0 if it was never written. */
mvm_code store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out,
                       mvm_error *err);
mvm_code store_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v, mvm_error *err);

/* ---- ids (store_ids.c) ---- */

/* Instance ids are "i-", snapshot ids "s-", and 16 lowercase hex digits. */
#define STORE_ID_LEN 18
bool store_id_valid(const char *id, char tag);
/* INVALID_ARGUMENT naming what ("snapshot id") if id is empty or not a
 * well-formed id of tag. */
mvm_code store_check_id(const char *what, const char *id, char tag, mvm_error *err);
/* *taken: some tenant has a snapshot with this id (ids are node-unique). */
mvm_code store_snapshot_id_taken(MDB_txn *txn, store *st, const char *id, bool *taken,
                                 mvm_error *err);
/* Draws a fresh id of tag ('i': not in inst_ids; 's': no snapshot has it)
 * from getrandom. */
mvm_code store_id_draw(store_wtx *w, char tag, char id[STORE_ID_LEN + 1], mvm_error *err);

/* ---- rules (store_rules.c, store_pattern.c) ---- */

mvm_code store_check_name(const char *what, const char *s, mvm_error *err);
/* Parses "A.B.C.D/N": four decimal numbers 0-255 and a length 0-255, none
 * with leading zeros, nothing else; the caller checks the length's range.
 * False if s is not of that form. */
bool store_parse_cidr(const char *s, unsigned o[4], unsigned *len);
/* Parses "10.240.x.0/24" canonical form; fills the octets 2 and 3. */
mvm_code store_check_subnet(const char *s, uint8_t net[2], mvm_error *err);
/* Checks a (tenant, instance id) pair names something that could exist. */
mvm_code store_check_instance_ref(const char *tenant, const char *id, mvm_error *err);
/* Free text a person reads (a build's failure, a retire reason): required,
 * at most max bytes, UTF-8. what names it in the message. */
mvm_code store_check_text(const char *what, const char *s, size_t max, mvm_error *err);
/* A machine's size: vcpus 1-32, mem_mib 128-262144. what: "pool", ... */
mvm_code store_check_machine(const char *what, uint32_t vcpus, uint32_t mem_mib,
                             mvm_error *err);
/* Pool.ready_pattern: at most STORE_READY_PATTERN_MAX bytes, a POSIX
 * extended regular expression regcomp accepts (REG_EXTENDED | REG_NOSUB),
 * whose bounded repetitions do not expand it past STORE_PATTERN_NODES_MAX
 * (so no pattern makes regcomp take gigabytes). Empty is fine. */
#define STORE_PATTERN_NODES_MAX 100000
mvm_code store_check_pattern(const char *what, const char *pattern, mvm_error *err);
/* Checks that every string in m (recursively) is valid UTF-8. */
mvm_code store_check_strings(const ProtobufCMessage *m, mvm_error *err);
/* Checks m's labels map: at most STORE_LABELS_MAX entries, keys and values
 * (see store.h), no duplicate keys; in O(n log n) of the count, which is
 * checked first. Also checks every string of m is UTF-8. */
mvm_code store_check_labels(const ProtobufCMessage *m, mvm_error *err);
/* Checks a file path the node will open: absolute, normalised (no "." or
 * ".." component, no "//", no trailing "/"), no control characters, at most
 * STORE_FILE_PATH_MAX bytes. what names the field in the message. */
mvm_code store_check_file_path(const char *what, const char *path, mvm_error *err);

/* ---- network settings inside a write (store_net.c) ---- */

/* Tenant.egress_cidrs: at most STORE_EGRESS_CIDRS_MAX (checked first),
 * each store_cidr_parse accepts, none twice; INVALID_ARGUMENT naming the
 * entry. */
mvm_code store_check_egress(const Mvm__V1__Tenant *t, mvm_error *err);
/* Pool.network_limits (NULL: none): each rate at most
 * STORE_NETWORK_RATE_MAX, else INVALID_ARGUMENT naming it. */
mvm_code store_check_network_limits(const Mvm__V1__NetworkLimits *l, mvm_error *err);
/* ALREADY_EXISTS, naming the instance, if an instance of the node other
 * than self (NULL: none, a new instance) forwards a (protocol, host_port)
 * of pf[0..n) already. Walks every instance record in w's transaction. */
mvm_code store_port_forwards_claim(store_wtx *w, const char *self,
                                   Mvm__V1__PortForward *const *pf, size_t n, mvm_error *err);

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

/* The update rules of one resource type: NULL-terminated lists of
 * top-level field names. */
typedef struct store_mask_rules {
    const char *const *mutable_fields; /* may be named in a mask */
    const char *const *immutable;      /* set on create, never changed */
} store_mask_rules;

/* Returns a new message (alloc'd with malloc): stored, with fields of in
 * applied as the Google API convention (AIP-134) says:
 *  - mask names paths ("quota", "quota.max_pools"): exactly those are
 *    taken from in, unset ones included (that is how a field is cleared);
 *  - mask empty or NULL: the mutable fields that are set in in (non-zero
 *    numbers, non-empty strings and maps; within a set sub-message, its set
 *    fields) are taken; the rest keep their stored values;
 *  - mask "*" (alone): every mutable field is taken from in (a replace).
 * Without a mask or with "*", an immutable field set in in to a value other
 * than the stored one is INVALID_ARGUMENT; other fields of in that are not
 * mutable (names, output-only fields) are ignored. A path naming a field
 * that is not mutable, or no field, is INVALID_ARGUMENT. */
mvm_code store_mask_apply(const ProtobufCMessage *stored, const ProtobufCMessage *in,
                          const Google__Protobuf__FieldMask *mask, const store_mask_rules *rules,
                          ProtobufCMessage **out, mvm_error *err);

/* Calls fn(arg, path) for each mutable field of rules whose value differs
 * between a and b (messages of one type): a sub-message field by its own
 * fields ("quota.max_pools"; an absent one counts as all defaults), a map
 * ("labels") as a set of pairs, whatever their order, a list
 * ("egress_cidrs") value by value in order. A field fn fails for
 * ends the walk with its code. */
typedef mvm_code (*store_diff_fn)(void *arg, const char *path, mvm_error *err);
mvm_code store_mask_diff(const ProtobufCMessage *a, const ProtobufCMessage *b,
                         const store_mask_rules *rules, store_diff_fn fn, void *arg,
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
/* A page of dbi, whose keys are tenant 0 ... and whose messages (desc) have
 * a "pool" field: opt->tenant and opt->pool (checked: INVALID_ARGUMENT)
 * filter, in a read transaction of its own. */
mvm_code store_page_by_pool(store *st, MDB_dbi dbi, const ProtobufCMessageDescriptor *desc,
                            const store_list_opts *opt, ProtobufCAllocator *alloc,
                            ProtobufCMessage ***items, size_t *n_items, char **next,
                            mvm_error *err);

/* ---- tenants and pools inside a write (store_tenant.c, store_pool.c) ----
 * The bodies of Create/UpdateTenant and Create/UpdatePool, which
 * store_apply also runs, several in one write. */

/* UpdateTenant's and UpdatePool's masks: the mutable and immutable fields. */
extern const store_mask_rules store_tenant_rules, store_pool_rules;
/* CreateTenant's rules on the request itself (no stored data needed):
 * name, subnet, net_id range, labels. */
mvm_code store_tenant_check_new(const Mvm__V1__Tenant *in, mvm_error *err);
/* CreateTenant in w: ALREADY_EXISTS for a taken name, net_id or subnet;
 * else the indexes, a zero usage record and the tenant (output fields
 * set, deleting false). *out (if out is not NULL) gets it with alloc. */
mvm_code store_tenant_insert(store_wtx *w, const Mvm__V1__Tenant *in, ProtobufCAllocator *alloc,
                             Mvm__V1__Tenant **out, mvm_error *err);
/* Stores t over its record: update_time the write's time, resource_version
 * its revision, create_time kept (the write's time if t has none), quota
 * present, usage not stored (but *out, if out is not NULL, has it). */
mvm_code store_tenant_put(store_wtx *w, const Mvm__V1__Tenant *t, ProtobufCAllocator *alloc,
                          Mvm__V1__Tenant **out, mvm_error *err);
/* CreatePool's rules on the request itself: names and every field rule
 * of store.h's store_pool_update comment. */
mvm_code store_pool_check_new(const Mvm__V1__Pool *in, mvm_error *err);
/* CreatePool in w: NOT_FOUND without the tenant, FAILED_PRECONDITION if
 * it is deleting, ALREADY_EXISTS, RESOURCE_EXHAUSTED past max_pools; else
 * the pool (base_snapshot NONE, deleting false) and the usage count. */
mvm_code store_pool_insert(store_wtx *w, const Mvm__V1__Pool *in, ProtobufCAllocator *alloc,
                           Mvm__V1__Pool **out, mvm_error *err);
/* Stores upd, the result of an update of old: if the machine or images
 * changed, the base snapshot is retired and rebuilt (store_pool_update). */
mvm_code store_pool_replace(store_wtx *w, const Mvm__V1__Pool *old, const Mvm__V1__Pool *upd,
                            ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err);
/* FAILED_PRECONDITION: tenant (kind "tenant", pool NULL) or tenant/pool
 * (kind "pool") is deleting, with the generation of the Apply that no
 * longer lists it (store_apply.c). */
mvm_code store_deleting_fail(store_wtx *w, const char *kind, const char *tenant,
                             const char *pool, mvm_error *err);

/* ---- pools and snapshots inside a write (store_pool.c, store_snapshot.c) ---- */

/* The name of the operation a clone's record carries while it is made. */
#define STORE_OP_CLONE "CloneInstance"

/* Loads tenant/name from the pools db (NOT_FOUND with a message). */
mvm_code store_pool_load(MDB_txn *txn, store *st, const char *tenant, const char *name,
                         Mvm__V1__Pool **out, mvm_error *err);
/* Stores p with update_time the write's time, resource_version its
 * revision and create_time kept (the write's time if p has none); *out (if
 * out is not NULL) gets a copy made with alloc. p itself is not changed. */
mvm_code store_pool_put(store_wtx *w, const Mvm__V1__Pool *p, ProtobufCAllocator *alloc,
                        Mvm__V1__Pool **out, mvm_error *err);
/* Loads tenant/id from the snapshots db (NOT_FOUND with a message). */
mvm_code store_snapshot_load(MDB_txn *txn, store *st, const char *tenant, const char *id,
                             ProtobufCAllocator *alloc, Mvm__V1__Snapshot **out,
                             mvm_error *err);
/* Marks tenant/id RETIRED (retire_time the write's time, reason); one
 * that is absent or retired already is left as it is. The pool's
 * base_snapshot is the caller's business. */
mvm_code store_snapshot_retire_locked(store_wtx *w, const char *tenant, const char *id,
                                      const char *reason, mvm_error *err);
/* The same for every READY snapshot of tenant/pool. */
mvm_code store_snapshot_retire_pool(store_wtx *w, const char *tenant, const char *pool,
                                    const char *reason, mvm_error *err);

/* Calls fn(arg, value) for each record of dbi from the first key >= seek
 * while keys start with the first plen bytes of seek (seeklen 0: from the
 * first key), unpacked as desc; stops when fn returns false. DATA_LOSS for
 * a record that does not unpack. */
typedef bool (*store_msg_fn)(void *arg, const ProtobufCMessage *m);
mvm_code store_walk(MDB_txn *txn, MDB_dbi dbi, const void *seek, size_t seeklen, size_t plen,
                    const ProtobufCMessageDescriptor *desc, store_msg_fn fn, void *arg,
                    mvm_error *err);
/* store_walk over the records of dbi (keys tenant 0 ...) of tenant (NULL or
 * "": all; else checked, INVALID_ARGUMENT), in one read transaction whose
 * revision goes to *rev (if not NULL). */
mvm_code store_foreach(store *st, MDB_dbi dbi, const char *tenant,
                       const ProtobufCMessageDescriptor *desc, store_msg_fn fn, void *arg,
                       uint64_t *rev, mvm_error *err);

/* ---- usage counters and stored subnets (store_tenant.c) ---- */

/* The tenant's usage record (DATA_LOSS if it has none: it is written with
 * the tenant and removed with it). */
mvm_code store_usage_get(MDB_txn *txn, store *st, const char *tenant, ProtobufCAllocator *alloc,
                         Mvm__V1__TenantUsage **out, mvm_error *err);
/* The subnet octets of a stored tenant (DATA_LOSS if the record's is bad). */
mvm_code store_tenant_net(const Mvm__V1__Tenant *t, uint8_t net[2], mvm_error *err);
/* Adds the deltas to the tenant's counters. */
mvm_code store_usage_add(store_wtx *w, const char *tenant, int instances, int64_t vcpus,
                         int64_t mem_mib, int pools, mvm_error *err);

/* ---- integrity at open (store_guard.c, store_datafile.c) ---- */

#define STORE_DATA_FILE "data.mdb"
#define STORE_MARKER_FILE "store.id" /* in the state dir, beside store/ */
#define STORE_ID_HEX 32

/* What the meta pages of an LMDB data file say, read without mapping it. */
typedef struct store_datafile {
    uint64_t size;    /* bytes */
    uint32_t psize;   /* page size */
    uint64_t last_pg; /* the newest meta page's last used page */
    uint64_t txnid;   /* the newest meta page's transaction (0: none yet) */
} store_datafile;

/* Reads path's two meta pages and size. NOT_FOUND if there is no such file;
 * DATA_LOSS, with a message naming the file and what is wrong, if it is
 * empty, shorter than its meta pages say, or a meta page is not valid. */
mvm_code store_datafile_read(const char *path, store_datafile *df, mvm_error *err);

/* What store_guard found. */
typedef struct store_guard_result {
    bool fresh;                    /* nothing committed yet: create */
    bool marker;                   /* <state-dir>/store.id exists */
    char marker_id[STORE_ID_HEX + 1];
    store_datafile df;             /* valid unless fresh with no data file */
    char data_path[STORE_PATH_MAX];
} store_guard_result;

/* Decides, before LMDB maps anything, whether <state_dir>/store/data.mdb
 * may be opened: a new state dir (no data file, no marker) is fresh; a data
 * file that is damaged, or missing/empty while the marker says a store was
 * created here, is refused with DATA_LOSS and the recovery hint. */
mvm_code store_guard(const char *state_dir, store_guard_result *g, mvm_error *err);

/* Checks the store's schema and identity records in txn against g. With
 * create (a fresh, writable store) writes them. *id gets the store's id. */
mvm_code store_guard_records(store *st, MDB_txn *txn, const store_guard_result *g, bool create,
                             char id[STORE_ID_HEX + 1], mvm_error *err);

/* fsyncs a directory, making the names created in it durable. */
mvm_code store_fsync_dir(const char *dir, mvm_error *err);
/* Writes <state_dir>/store.id for id (atomically: temp file, fsync, rename). */
mvm_code store_marker_write(const char *state_dir, const char *id, mvm_error *err);

/* Opens the named databases in txn: writable, creates them all in a fresh
 * store and the ones added since the first release in an older one; read-
 * only, sets st->no_snapshots for an older store without that db. */
mvm_code store_open_dbs(store *st, MDB_txn *txn, bool fresh, bool writable, mvm_error *err);

/* For store_check and store_backup's check of its copy: opens the
 * environment at path read-only (flags: more mdb_env_open flags) into a
 * zeroed *st (only env and the dbis are set) with a read transaction in
 * *txn, and checks its schema and identity records against g (*id gets the
 * store's id). Undo with store_ro_close (done already on failure). */
mvm_code store_ro_open(const char *path, unsigned flags, const store_guard_result *g, store *st,
                       MDB_txn **txn, char id[STORE_ID_HEX + 1], mvm_error *err);
void store_ro_close(store *st, MDB_txn *txn);

#endif
