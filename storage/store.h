/* store.h - the whole public face of storage/: mvm's durable state in LMDB.
 *
 * The store keeps tenants, pools, snapshots, instances and the audit log
 * under <state-dir>/store/, each record being the packed mvm.v1 message
 * itself. Every mutation is one LMDB write transaction that also bumps a global
 * revision counter (the new resource_version of what it wrote, and the
 * order of watch events) and appends an audit record. Reads use per-thread
 * cached read transactions and never block on writers.
 *
 * All the API's rules live here (names, subnets, net ids, quotas, address
 * allocation, preconditions, update masks): a refused call returns the
 * gRPC-equivalent mvm_code with a message and changes nothing.
 *
 * Results are unpacked messages allocated with the given ProtobufCAllocator
 * (NULL: malloc); free them with protobuf_c_message_free_unpacked() and the
 * same allocator.
 */
#ifndef MVM_STORE_H
#define MVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "mvm/v1/audit.pb-c.h"
#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/node.pb-c.h"
#include "mvm/v1/pool.pb-c.h"
#include "mvm/v1/tenant.pb-c.h"
#include "mvm_error.h"

typedef struct store store;

/* Who asked for a mutation, recorded in its audit record. Initialise it
 * with designated initializers: fields may be added. */
typedef struct store_actor {
    const char *identity; /* "cn=operator"; NULL: "" */
    const char *method;   /* "/mvm.v1.TenantService/CreateTenant"; NULL: "" */
    bool node_managed;    /* the mutation is the node's own reconcile loop:
                             instances it creates are recorded with
                             managed = true */
} store_actor;

/* Paging and filtering of a List call. */
typedef struct store_list_opts {
    const char *tenant;         /* NULL or "": every tenant */
    const char *pool;           /* instances and snapshots; NULL or "": every pool */
    uint32_t page_size;         /* 0: 100; at most 1000 */
    const char *page_token;     /* NULL or "": first page */
    const char *label_selector; /* "k=v,k!=v,k,!k"; NULL or "": all */
} store_list_opts;

#define STORE_PAGE_SIZE_DEFAULT 100u
#define STORE_PAGE_SIZE_MAX 1000u

/* ---- environment ---- */

/* Opens <state_dir>/store/, creating it in a new state dir, and takes the
 * state dir for this process (FAILED_PRECONDITION if another has it).
 *
 * Before LMDB maps the data file, its meta pages and size are checked: a
 * data file that is empty, zeroed, truncated (shorter than its newest meta
 * page's last used page) or has a bad meta page is refused with DATA_LOSS,
 * as is a store with no schema record. <state_dir>/store.id, written when
 * the store is created, records that a store exists: with it present, a
 * missing or empty data file is refused too (never silently a new, empty
 * store handing out every subnet and address again), and a data file of
 * another store (a different store_id) with FAILED_PRECONDITION. Messages
 * name the file, what is wrong and the recovery procedure (docs/
 * operations.md). Threads: call once, before any other store call. */
mvm_code store_open(const char *state_dir, store **out, mvm_error *err);
/* Closes the store; no call may be in flight. NULL is fine. */
void store_close(store *st);
/* The revision of the last committed write (0 for a new store). */
mvm_code store_revision(store *st, uint64_t *rev, mvm_error *err);

/* ---- integrity: check and hot backup ---- */

/* What store_check found. */
typedef struct store_report {
    char data_path[4200];  /* <state-dir>/store/data.mdb */
    char store_id[33];     /* 32 hex digits */
    uint64_t file_bytes;
    uint32_t page_size;
    uint64_t pages_used;   /* last used page + 1 */
    uint64_t revision;     /* last committed store revision */
    uint64_t tenants, pools, snapshots, instances, audit_records;
    char summary[512];     /* one line for a person, when sound */
} store_report;

/* Checks the store of state_dir without changing it: the start-up checks of
 * store_open, then every database is walked and every record unpacked, and
 * the indexes are counted against the records they index. MVM_OK and *report
 * filled when sound; NOT_FOUND when there is no store (store_open would
 * create one); DATA_LOSS (or FAILED_PRECONDITION for another store's data
 * file) naming the file, what is wrong and the recovery procedure.
 * It takes no lock, so it may run beside a serving mvmd (another process),
 * but never on a store this process has open (LMDB forbids opening one
 * environment twice in a process). This is `mvmd --check-store`. */
mvm_code store_check(const char *state_dir, store_report *report, mvm_error *err);

/* Writes a consistent, compacted copy of the store (mdb_env_copyfd2 with
 * MDB_CP_COMPACT) to a new file at path, while writers go on. path must be
 * absolute and normalised (store_check_file_path rules), end in ".mdb" and
 * its directory exist (else INVALID_ARGUMENT / FAILED_PRECONDITION); an
 * existing file is never replaced (ALREADY_EXISTS, also when one appears
 * during the copy). The copy is written to a temporary file in the same
 * directory, fsync'ed, checked (meta pages, size, schema record) and then
 * linked into place, so path is either absent or a complete backup.
 * *bytes and *revision (if not NULL) get its size and the store revision it
 * holds. Threads: any; runs one read transaction for the copy's duration. */
mvm_code store_backup(store *st, const char *path, uint64_t *bytes, uint64_t *revision,
                      mvm_error *err);

/* ---- tenants ---- */

mvm_code store_tenant_create(store *st, const store_actor *who, const Mvm__V1__Tenant *in,
                             ProtobufCAllocator *alloc, Mvm__V1__Tenant **out, mvm_error *err);
/* usage is filled in. */
mvm_code store_tenant_get(store *st, const char *name, ProtobufCAllocator *alloc,
                          Mvm__V1__Tenant **out, mvm_error *err);
mvm_code store_tenant_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                           Mvm__V1__ListTenantsResponse **out, mvm_error *err);
/* fn(arg, tenant) for every tenant in one read snapshot (the host network
 * follows them all); fn returns false to stop. The tenant is only valid
 * during the call and has no usage filled in. Any thread. */
typedef bool (*store_tenant_fn)(void *arg, const Mvm__V1__Tenant *tenant);
mvm_code store_tenant_foreach(store *st, store_tenant_fn fn, void *arg, mvm_error *err);
/* in->name selects. The mask follows the Google API convention (AIP-134):
 * NULL or empty means the mutable fields set in `in` (quota's non-zero
 * fields, labels if any), "*" means every mutable field (quota and labels
 * replaced), else the named paths. net_id and subnet are immutable: set in
 * `in` with no mask or "*", they must equal the stored ones. deleting is
 * output only (store_apply writes it): an update neither sets nor clears
 * it. */
mvm_code store_tenant_update(store *st, const store_actor *who, const Mvm__V1__Tenant *in,
                             const Google__Protobuf__FieldMask *mask, ProtobufCAllocator *alloc,
                             Mvm__V1__Tenant **out, mvm_error *err);
mvm_code store_tenant_delete(store *st, const store_actor *who, const char *name,
                             mvm_error *err);

/* ---- pools ---- */

/* FAILED_PRECONDITION in a tenant that is deleting (store_apply). The
 * output-only fields of in (base_snapshot, status, deleting, times) are
 * ignored. */
mvm_code store_pool_create(store *st, const store_actor *who, const Mvm__V1__Pool *in,
                           ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err);
mvm_code store_pool_get(store *st, const char *tenant, const char *name,
                        ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err);
mvm_code store_pool_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                         Mvm__V1__ListPoolsResponse **out, mvm_error *err);
/* in->tenant and in->name select; the mask as for store_tenant_update (no
 * immutable fields besides the names). The merged pool must obey the
 * create rules (desired_warm <= desired_instances included): ready_pattern
 * at most 1024 bytes and a POSIX ERE regcomp accepts (INVALID_ARGUMENT
 * quoting regerror), ready_delay_seconds <= 3600, ready_timeout_seconds <=
 * 86400, memory_backend a MemoryBackend value. base_snapshot is never taken
 * from in. An update that changes vcpus, mem_mib, disk_mib, kernel_image,
 * rootfs_image, initrd_image or boot_args retires the base snapshot
 * (reason "the pool's images changed"; snapshot_id and expire_time
 * cleared) and, unless base_snapshot was NONE, makes it BUILDING with a
 * build_id the store draws (mvmd's core notices and runs the build).
 * deleting and status are output only: an update leaves deleting as it is
 * and status is never stored. */
mvm_code store_pool_update(store *st, const store_actor *who, const Mvm__V1__Pool *in,
                           const Google__Protobuf__FieldMask *mask, ProtobufCAllocator *alloc,
                           Mvm__V1__Pool **out, mvm_error *err);
/* Also retires the pool's snapshots (reason "its pool was deleted") in the
 * same write. */
mvm_code store_pool_delete(store *st, const store_actor *who, const char *tenant,
                           const char *name, mvm_error *err);

/* ---- a pool's base snapshot (Pool.base_snapshot) ----
 *
 * The base snapshot's lifecycle is written only by these calls (UpdatePool
 * and CreatePool ignore base_snapshot as output only). Snapshot ids are "s-"
 * and 16 lowercase hex digits, unique on the node (INVALID_ARGUMENT when
 * malformed). Reasons and failure messages are required, UTF-8 and at most
 * STORE_MESSAGE_MAX bytes (INVALID_ARGUMENT), so a console tail must be
 * made valid UTF-8 first. Each call is one write (audited, a new
 * resource_version for the pool it changes); every thread may call them. */
#define STORE_MESSAGE_MAX 16384

/* Starts a build: base_snapshot becomes BUILDING with build_id (snapshot_id
 * and expire_time kept: clones go on using the previous snapshot), message
 * cleared. If a build is already under way nothing changes and *started is
 * false. NOT_FOUND for no such pool; ALREADY_EXISTS if a snapshot has the
 * id build_id. *out (if not NULL) gets the pool; started may be NULL. */
mvm_code store_pool_base_begin(store *st, const store_actor *who, const char *tenant,
                               const char *name, const char *build_id, bool *started,
                               ProtobufCAllocator *alloc, Mvm__V1__Pool **out, mvm_error *err);
/* Ends the build build_id as failed: state FAILED, message, build_id
 * cleared (snapshot_id kept). FAILED_PRECONDITION (nothing changed) when
 * the pool is not building build_id any more (cancelled or superseded). */
mvm_code store_pool_base_fail(store *st, const store_actor *who, const char *tenant,
                              const char *name, const char *build_id, const char *message,
                              mvm_error *err);
/* Retires the pool's base snapshot and cancels any build: state NONE,
 * snapshot_id, build_id and expire_time cleared, message := reason; the
 * snapshot record (if any) RETIRED with reason. With expect_snapshot_id
 * (not NULL), only if that is still the pool's snapshot_id, else
 * FAILED_PRECONDITION (the TTL janitor's guard). */
mvm_code store_pool_base_clear(store *st, const store_actor *who, const char *tenant,
                               const char *name, const char *expect_snapshot_id,
                               const char *reason, ProtobufCAllocator *alloc,
                               Mvm__V1__Pool **out, mvm_error *err);
/* fn(arg, pool) for every pool of every tenant (recovery and the janitor
 * look at their base snapshots), in one read snapshot; fn returns false to
 * stop. The pool is only valid during the call. */
typedef bool (*store_pool_fn)(void *arg, const Mvm__V1__Pool *pool);
mvm_code store_pool_foreach(store *st, store_pool_fn fn, void *arg, mvm_error *err);

/* ---- snapshots (mvm.v1.Snapshot: base and fork snapshots) ----
 *
 * Records in (tenant, id) order; ids unique on the node. Any thread may
 * call these; writes are one store_write each (audited), reads use the
 * thread's cached read transaction. clones and allocated_bytes are never
 * stored (mvmd computes them on read). */

/* Records a new snapshot: in->tenant, pool and id are required and the pool
 * must exist (NOT_FOUND); ALREADY_EXISTS for a taken id. Its state is READY
 * and create_time the write's time (both set here; retire_*, clones and
 * allocated_bytes are not stored). INVALID_ARGUMENT unless kind is BASE or
 * FORK (BASE with base_of_build), a FORK names its source_instance (an
 * instance id), parent_id is empty or a snapshot id, vcpus and mem_mib obey
 * the pool rules and every string is UTF-8.
 * With base_of_build (not NULL), it also becomes its pool's base snapshot in
 * the same write, if the pool is still building base_of_build (else
 * FAILED_PRECONDITION, nothing written): base_snapshot := READY,
 * snapshot_id in->id, build_id and message cleared, expire_time =
 * create_time + pool.base_snapshot_ttl_seconds (unset when 0); the
 * previous base snapshot (if any) is RETIRED ("replaced by <id>"). */
mvm_code store_snapshot_create(store *st, const store_actor *who, const Mvm__V1__Snapshot *in,
                               const char *base_of_build, ProtobufCAllocator *alloc,
                               Mvm__V1__Snapshot **out, mvm_error *err);
mvm_code store_snapshot_get(store *st, const char *tenant, const char *id,
                            ProtobufCAllocator *alloc, Mvm__V1__Snapshot **out, mvm_error *err);
/* opt->tenant and opt->pool filter; label_selector is not used. */
mvm_code store_snapshot_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                             Mvm__V1__ListSnapshotsResponse **out, mvm_error *err);
/* RETIRED with reason and retire_time (idempotent: a retired one keeps its
 * first reason). If it is its pool's base snapshot, the pool's
 * base_snapshot goes as store_pool_base_clear says. NOT_FOUND if absent.
 * A retired snapshot's record stays until store_snapshot_delete (it keeps
 * neither its pool's nor its tenant's deletion waiting). */
mvm_code store_snapshot_retire(store *st, const store_actor *who, const char *tenant,
                               const char *id, const char *reason, mvm_error *err);
/* Deletes a RETIRED snapshot's record (FAILED_PRECONDITION if READY). */
mvm_code store_snapshot_delete(store *st, const store_actor *who, const char *tenant,
                               const char *id, mvm_error *err);
/* fn(arg, snapshot) for every snapshot (of tenant, if not NULL or ""), in
 * one read snapshot; fn returns false to stop. */
typedef bool (*store_snapshot_fn)(void *arg, const Mvm__V1__Snapshot *snap);
mvm_code store_snapshot_foreach(store *st, const char *tenant, store_snapshot_fn fn, void *arg,
                                mvm_error *err);

/* ---- the desired state: NodeService.Apply ---- */

/* Makes the stored tenants and pools what req lists, in ONE write
 * transaction (all or nothing), as the proto comment of rpc Apply says:
 *  - req->generation must be > 0 (INVALID_ARGUMENT); one older than the
 *    applied generation is FAILED_PRECONDITION; the applied one again is
 *    accepted only if it changes nothing (an idempotent replay, which
 *    writes nothing, not even a revision), else FAILED_PRECONDITION.
 *  - Every listed tenant and pool obeys CreateTenant's and CreatePool's
 *    rules (checked before the write lock is taken); a tenant or pool
 *    listed twice, a pool whose tenant is neither listed nor stored (with
 *    prune: not listed), and a tenant whose net_id or subnet differs from
 *    the stored one are INVALID_ARGUMENT. Messages start with the object,
 *    "pools[2] (acme/web): ...".
 *  - A missing tenant or pool is created (as store_tenant_create /
 *    store_pool_create: ALREADY_EXISTS for a taken net_id or subnet,
 *    RESOURCE_EXHAUSTED past max_pools ...); a stored one whose mutable
 *    fields differ from the listed ones is updated as store_*_update with
 *    mask "*" would (a pool's changed machine or images retire its base
 *    snapshot and start a rebuild), and so is a listed one that was
 *    deleting (deleting cleared). Output-only fields of req are ignored.
 *  - With req->prune, every stored tenant and pool not listed is marked
 *    deleting (Tenant.deleting, Pool.deleting); the caller (mvmd's reconcile
 *    loop) removes their instances and then deletes them with
 *    store_pool_delete and store_tenant_delete.
 *  - The generation and the write's time are recorded (store_apply_state).
 *  - With req->dry_run everything is computed and checked, then the
 *    transaction is aborted: nothing is written, the generation included.
 * *out gets one ApplyChange per listed tenant, then per listed pool, in
 * request order (CREATED, UPDATED with the changed fields' proto names,
 * dotted below a sub-message, "deleting" for an un-deleted one, or
 * UNCHANGED), then the pruned tenants in name order, then the pruned pools
 * in (tenant, name) order (DELETING, also for one that was deleting
 * already, which is no change); changed; and generation: the request's,
 * or with dry_run the one applied before. One audit record per object
 * created, updated or marked, and one for the apply (object
 * "apply/generation N"). The work is O(n log n) in the objects listed and
 * stored. Threads: any (a write: it waits for the write lock). A refusal
 * changes nothing and is audited. */
mvm_code store_apply(store *st, const store_actor *who, const Mvm__V1__ApplyRequest *req,
                     ProtobufCAllocator *alloc, Mvm__V1__ApplyResponse **out, mvm_error *err);
/* The last applied generation and the time of that Apply in microseconds
 * since the Unix epoch; 0 and 0 if none was ever applied. Either pointer
 * may be NULL. Threads: any (a read transaction). */
mvm_code store_apply_state(store *st, uint64_t *generation, int64_t *apply_time_unix_us,
                           mvm_error *err);

/* ---- instances ---- */

/* The TAP device every new instance records (Instance.tap): the same name
 * in each instance's own network namespace, "mvm-<id>". */
#define STORE_INSTANCE_TAP "tap0"

/* Creates an instance of in->tenant's pool in->pool (CREATED, the
 * lowest free address, tap STORE_INSTANCE_TAP, in->port_forwards).
 * FAILED_PRECONDITION if the tenant or the pool is deleting (see
 * store_apply). managed is who->node_managed. The port forwards obey
 * store_check_port_forwards (INVALID_ARGUMENT) and no other instance of
 * the node may forward one of their (protocol, host_port) (ALREADY_EXISTS
 * naming it, checked in the write). */
mvm_code store_instance_create(store *st, const store_actor *who,
                               const Mvm__V1__CreateInstanceRequest *in,
                               ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                               mvm_error *err);
/* A clone of snapshot clone_of (of in->tenant): like store_instance_create,
 * but in the same write the snapshot must exist (NOT_FOUND), be READY
 * (FAILED_PRECONDITION, naming its retire_reason) and belong to in->pool
 * (INVALID_ARGUMENT); the instance takes the snapshot's vcpus and mem_mib
 * (the quotas are checked against those), base_snapshot_id := clone_of,
 * and its operation is {name "CloneInstance", from_state CREATED,
 * target clone_of} (CREATED until the caller records it RUNNING). Refused
 * in a deleting tenant or pool, and managed set, as by
 * store_instance_create. */
mvm_code store_instance_create_clone(store *st, const store_actor *who,
                                     const Mvm__V1__CreateInstanceRequest *in,
                                     const char *clone_of, ProtobufCAllocator *alloc,
                                     Mvm__V1__Instance **out, mvm_error *err);
mvm_code store_instance_get(store *st, const char *tenant, const char *id,
                            ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err);
/* The instance with this id, whatever its tenant (ids are unique on the
 * node): found through the id index. NOT_FOUND if there is none,
 * INVALID_ARGUMENT for a malformed id. Any thread (a read transaction). */
mvm_code store_instance_find(store *st, const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err);
mvm_code store_instance_list(store *st, const store_list_opts *opt, ProtobufCAllocator *alloc,
                             Mvm__V1__ListInstancesResponse **out, mvm_error *err);
/* Records a new lifecycle state (the caller has checked the transition).
 * last_error NULL keeps the stored one. expect_state (if not UNSPECIFIED)
 * must be the stored state, else FAILED_PRECONDITION. */
mvm_code store_instance_set_state(store *st, const store_actor *who, const char *tenant,
                                  const char *id, Mvm__V1__InstanceState expect_state,
                                  Mvm__V1__InstanceState state, int32_t pid,
                                  const char *last_error, ProtobufCAllocator *alloc,
                                  Mvm__V1__Instance **out, mvm_error *err);
/* A change to an instance's lifecycle fields, applied in one write by
 * store_instance_change_apply. Pointers are borrowed for the call. */
typedef struct store_instance_change {
    uint32_t expect_states;   /* bit mask (1u << state) the stored state must be
                                 in, else FAILED_PRECONDITION; 0: any */
    bool expect_idle;         /* refuse (ABORTED) if an operation is recorded */
    bool set_state;
    Mvm__V1__InstanceState state;
    bool set_process;         /* process (and pid) := process, or cleared if NULL */
    const Mvm__V1__InstanceProcess *process;
    bool set_operation;       /* operation := operation, or cleared if NULL */
    const Mvm__V1__InstanceOperation *operation;
    bool set_snapshot;        /* snapshot := snapshot, or cleared if NULL */
    const Mvm__V1__InstanceSnapshot *snapshot;
    const char *last_error;   /* NULL keeps the stored one */
} store_instance_change;

/* Applies ch to tenant/id, bumping
 * update_time, state_time (if the state changes), resource_version and the
 * tenant's usage (instances leave it when DESTROYED), and publishing a
 * MODIFIED event. NOT_FOUND, FAILED_PRECONDITION (expect_states), ABORTED
 * (expect_idle) change nothing. */
mvm_code store_instance_change_apply(store *st, const store_actor *who, const char *tenant,
                                     const char *id, const store_instance_change *ch,
                                     ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                                     mvm_error *err);
/* Replaces the port forwards of tenant/id (Instance.port_forwards) with
 * pf[0..n), in any state: update_time, resource_version and a MODIFIED
 * event as any instance write, audited. The list obeys the rules of
 * CreateInstanceRequest.port_forwards (store_check_port_forwards in the
 * check phase: INVALID_ARGUMENT naming the entry) and, inside the write,
 * no (protocol, host_port) of it may be forwarded by another instance of
 * the node (ALREADY_EXISTS naming that instance); the instance's own old
 * entries do not count, and they are free for others after the commit.
 * NOT_FOUND for no such instance; with expect_version non-zero, ABORTED
 * unless it is the stored resource_version. pf is borrowed for the call.
 * Threads: any (a write). */
mvm_code store_instance_set_port_forwards(store *st, const store_actor *who, const char *tenant,
                                          const char *id, Mvm__V1__PortForward *const *pf,
                                          size_t n, uint64_t expect_version,
                                          ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                                          mvm_error *err);
/* Deletes the record and frees its address, if its state is in
 * deletable_states (a bit mask of 1u << state); else FAILED_PRECONDITION. */
mvm_code store_instance_delete(store *st, const store_actor *who, const char *tenant,
                               const char *id, uint32_t deletable_states, mvm_error *err);

/* Calls fn for every instance matching tenant/pool (NULL/"": all) in one
 * consistent snapshot, whose revision is stored in *rev (if not NULL). fn
 * returns false to stop. The instance is only valid during the call. */
typedef bool (*store_instance_fn)(void *arg, const Mvm__V1__Instance *inst);
mvm_code store_instance_foreach(store *st, const char *tenant, const char *pool,
                                store_instance_fn fn, void *arg, uint64_t *rev,
                                mvm_error *err);

/* Watch hook: called after each committed instance change, in revision
 * order, on the committing thread, while further writes wait: it must not
 * block nor call back into the store. type is an InstanceEvent type; the
 * instance is the state after the change (for DELETED, its last state) and
 * is only valid during the call. One hook per store; NULL removes it. */
typedef void (*store_instance_hook)(void *arg, Mvm__V1__InstanceEvent__Type type,
                                    const Mvm__V1__Instance *inst, uint64_t rev);
void store_set_instance_hook(store *st, store_instance_hook fn, void *arg);

/* ---- counts (node info, metrics) ---- */

typedef struct store_counts {
    uint32_t tenants;
    uint32_t pools;
    uint32_t instances;
    uint32_t by_state[MVM__V1__INSTANCE_STATE__INSTANCE_STATE_FAILED + 1];
    uint64_t vcpus;   /* sums over instances not DESTROYED */
    uint64_t mem_mib;
} store_counts;
mvm_code store_count(store *st, store_counts *out, mvm_error *err);

/* ---- audit ---- */

/* Calls fn for each audit record with seq > after_seq, oldest first, until
 * fn returns false. The record is only valid during the call. */
typedef bool (*store_audit_fn)(void *arg, const Mvm__V1__AuditRecord *rec);
mvm_code store_audit_foreach(store *st, uint64_t after_seq, store_audit_fn fn, void *arg,
                             mvm_error *err);

/* The audit log keeps the newest `keep` records (default
 * STORE_AUDIT_KEEP_DEFAULT); each append beyond that drops the oldest. */
#define STORE_AUDIT_KEEP_DEFAULT 1000000u
void store_set_audit_retention(store *st, uint64_t keep);

/* ---- rules, exposed for callers that validate early ---- */

/* True if s is a lowercase DNS label of at most 63 characters. */
bool store_name_valid(const char *s);

/* Labels (tenants, pools, instances): at most STORE_LABELS_MAX entries, keys
 * of 1-STORE_LABEL_KEY_MAX bytes (letters, digits, '-', '_', '.', '/',
 * starting with a letter or digit), values of 0-STORE_LABEL_VALUE_MAX bytes
 * (UTF-8, no control characters, ',', '=' or '!'), no key twice. Checked
 * before the write lock is taken. */
#define STORE_LABELS_MAX 64
#define STORE_LABEL_KEY_MAX 253
#define STORE_LABEL_VALUE_MAX 253

/* Pool kernel_image / rootfs_image: absolute, normalised paths of at most
 * this many bytes (PATH_MAX less its terminating NUL). */
#define STORE_FILE_PATH_MAX 4095

/* Pool ready_pattern: a POSIX extended regular expression of at most this
 * many bytes, that regcomp(REG_EXTENDED | REG_NOSUB) accepts and whose
 * bounded repetitions ({m,n}, which regcomp expands by copying) stay
 * within some 100,000 copies in all: "((a{255}){255}){255}" is refused. */
#define STORE_READY_PATTERN_MAX 1024

/* ---- network settings (store_net.c) ----
 *
 * What is stored, for the node's networking to read from the records:
 *  - Tenant.egress_cidrs: canonical IPv4 CIDRs (parse one with
 *    store_cidr_parse); empty means egress is open;
 *  - Instance.port_forwards: TCP/UDP entries, ports 1-65535, each
 *    (protocol, host_port) forwarded by one instance of the node at most;
 *  - Pool.network_limits: rates, 0 (or the message absent) unlimited. */

/* Tenant.egress_cidrs: at most this many. */
#define STORE_EGRESS_CIDRS_MAX 64
/* Instance.port_forwards: at most this many per instance. */
#define STORE_PORT_FORWARDS_MAX 32
/* Pool.network_limits: the largest rate (bytes or packets per second). */
#define STORE_NETWORK_RATE_MAX 1000000000000ull

/* Parses a canonical IPv4 CIDR ("203.0.113.0/24": four octets without
 * leading zeros, prefix 0-32, host bits zero) into its address (host byte
 * order) and prefix length; either pointer may be NULL. INVALID_ARGUMENT
 * saying what is wrong. Threads: any (pure). */
mvm_code store_cidr_parse(const char *s, uint32_t *addr, unsigned *prefix, mvm_error *err);
/* "tcp", "udp", or "?" for anything else. */
const char *store_port_protocol_name(Mvm__V1__PortProtocol p);
/* The syntactic rules of a list of port forwards: at most
 * STORE_PORT_FORWARDS_MAX, protocol TCP or UDP, ports 1-65535, no
 * (protocol, host_port) twice. INVALID_ARGUMENT naming the entry.
 * Threads: any (pure). */
mvm_code store_check_port_forwards(Mvm__V1__PortForward *const *pf, size_t n, mvm_error *err);

#endif
