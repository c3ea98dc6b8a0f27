/* core_internal.h - what the service/core/ files share: the core struct,
 * the per-instance runtime entries (which operation holds an instance, its
 * machine, its logs, its console followers), the supervisor thread's
 * commands, and small helpers. See core.h for the public face.
 *
 * Locks, in the order they may be taken:
 *   core.tab_mu   the table of runtime entries and their reference counts
 *   inst.mu       inst.busy and inst.m (the machine)
 *   inst.con_mu   console followers
 *   core.cap_mu   capacity counters
 * A thread holding inst.busy (an operation, or the supervisor handling an
 * exit) owns inst.m and may use it without inst.mu; others may not touch it.
 */
#ifndef MVM_CORE_INTERNAL_H
#define MVM_CORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "core.h"
#include "instance_state.h"

#define CORE_TABLE_SIZE 512
/* Room for a pool's boot_args (store-limited) and what mvmd appends. */
#define CORE_BOOT_ARGS_MAX 4608
/* The guest's vsock context id (every guest has its own device). */
#define CORE_VSOCK_CID 3

typedef struct core_inst core_inst;

/* A background thread running `round` every interval_ms, or sooner when
 * kicked (core_loop.c). */
typedef struct core_loop {
    const char *name;           /* the thread's name (at most 15 bytes) */
    void (*round)(core *c);
    uint32_t interval_ms;
    uint32_t min_gap_ms;        /* kicked rounds start no sooner after the last */
    core *core;
    pthread_t th;
    bool running, stop, kick, urgent; /* stop, kick, urgent: under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* CLOCK_MONOTONIC */
} core_loop;

void core_loop_init(core_loop *l, const char *name, void (*round)(core *c), uint32_t interval_ms,
                    uint32_t min_gap_ms);
void core_loop_destroy(core_loop *l);
mvm_code core_loop_start(core_loop *l, core *c, mvm_error *err);
/* Returns once the thread has ended (a round under way finishes first). */
void core_loop_stop(core_loop *l);
/* A round soon: urgent, as soon as the one under way ends; else no sooner
 * than min_gap_ms after its start. */
void core_loop_kick(core_loop *l, bool urgent);

/* The FIFOs each Firecracker process writes, pumped into bounded files in
 * its instance directory (the table is in core_inst.c). */
typedef enum core_log {
    CORE_LOG_CONSOLE,     /* the guest's serial output, also sent to followers */
    CORE_LOG_FIRECRACKER, /* Firecracker's own log */
    CORE_LOG_METRICS,     /* Firecracker's metrics, one JSON object per line */
    CORE_LOG_COUNT
} core_log;

/* What an epoll registration of the supervisor refers to. */
typedef enum core_watch_kind { CORE_WATCH_PROC, CORE_WATCH_LOG } core_watch_kind;

typedef struct core_watch {
    core_watch_kind kind;
    core_log log;    /* CORE_WATCH_LOG: which */
    core_inst *inst;
    int fd;          /* registered fd, -1 when not registered */
} core_watch;

typedef struct core_held {
    struct core_held *next;
    uint64_t offset;
    size_t len;
    uint8_t data[];
} core_held;

struct core_console_sub {
    core_console_sub *next, *prev;
    core_inst *inst;           /* holds a reference */
    core_console_data_fn data;
    core_console_end_fn end;
    void *arg;
    bool hold;                 /* still sending the log: queue new output */
    core_held *held, **held_tail;
    size_t held_bytes;
    uint64_t next_offset;      /* first byte not yet delivered */
    bool ended;
};

struct core_inst {
    core_inst *hnext;
    core *core;
    int refs;                  /* under core.tab_mu */
    bool in_table;
    char id[24];
    char tenant[64];
    char dir[PATH_MAX];

    pthread_mutex_t mu;
    const char *busy;          /* the operation holding the instance, or NULL */
    vmm_machine *m;
    vmm_uffd_session *uffd;    /* m's memory server, when restored with UFFD */
    uint32_t vcpus;            /* counted in running capacity while m is set */
    uint64_t mem_mib;

    vmm_logpipe *logs[CORE_LOG_COUNT]; /* opened once the directory exists (set
                                          under mu), closed when the entry is freed */
    core_watch w_proc, w_logs[CORE_LOG_COUNT];

    pthread_mutex_t con_mu;
    core_console_sub *subs;

    /* activity (core_activity.c), under mu */
    int64_t activity_us;       /* CLOCK_REALTIME of the last one; 0: none seen */
    uint64_t metrics_off;      /* first metrics byte not yet read */
};

typedef enum core_cmd_kind {
    CORE_CMD_ADD,      /* register a watch */
    CORE_CMD_DEL,      /* unregister a watch */
    CORE_CMD_STOP,
} core_cmd_kind;

typedef struct core_cmd {
    struct core_cmd *next;
    core_cmd_kind kind;
    core_watch *w;
    bool done;
} core_cmd;

struct core {
    core_options opt;
    store *st;
    vmm_host *vmm;

    pthread_mutex_t tab_mu;
    core_inst *tab[CORE_TABLE_SIZE];

    /* supervisor */
    pthread_t sup;
    bool sup_running;
    int sup_epfd, sup_evfd;
    pthread_mutex_t sup_mu;
    pthread_cond_t sup_cv;
    core_cmd *cmds, **cmds_tail;

    pthread_mutex_t cap_mu;
    uint32_t offered_vcpus, running_vcpus;
    uint64_t offered_mem_mib, running_mem_mib;

    /* base snapshot builds (core_base.c) */
    pthread_mutex_t build_mu;
    struct core_build *builds;

    /* the userfaultfd page server, made at its first use (core_memory.c) */
    pthread_mutex_t uffd_mu;
    vmm_uffd_server *uffd;

    /* reconcile loop (core_reconcile.c) and the status it keeps
     * (core_status.c) */
    core_loop rec;
    int64_t start_us;              /* CLOCK_REALTIME at core_new */
    int64_t last_sample_us;        /* activity sampled (reconcile thread) */
    pthread_mutex_t status_mu;     /* what follows */
    struct core_pool_state *pools; /* per pool: counts, failures, backoff */
    uint8_t *status_bytes;         /* the last NodeStatus published, packed
                                      without its observe_time */
    size_t status_len;
    Mvm__V1__NodeStatus *status;   /* the same, unpacked (owned) */
    struct core_status_sub *status_subs;

    /* janitor (core_janitor.c) */
    core_loop jan;

    /* tenant networking (core_net.c) */
    struct core_net *net;
};

/* ---- networking (core_net.c) ---- */

typedef struct core_net core_net;
/* Reads the options, enables IPv4 forwarding, finds the uplink; decides
 * whether networking is on (logged). An error only for --network on on a
 * node that cannot, or bad options. */
mvm_code core_net_init(core *c, mvm_error *err);
void core_net_free(core *c);
/* The instance's netns, veth, addresses and NAT (and its tenant's bridge),
 * made where missing; path gets the netns path for vmm_machine_spawn_in,
 * or "" when networking is off. Under the instance's claim. */
mvm_code core_net_instance_up(core *c, const Mvm__V1__Instance *rec, char *path, size_t cap,
                              mvm_error *err);
/* A netns with tap0 only, for a base snapshot's template (id: its own). */
mvm_code core_net_sandbox_up(core *c, const char *id, char *path, size_t cap, mvm_error *err);
/* Removes the instance's (or sandbox's) network; failures are logged (the
 * next start's core_net_recover removes what is left). */
void core_net_instance_down(core *c, const char *id);
/* Fills spec's network part for a cold boot: tap0, the guest MAC (mac, or
 * the template's when NULL), the pool's rate limits, and boot_args = the
 * pool's plus the guest's ip= argument (into args). With networking off
 * only boot_args. */
void core_net_boot_spec(core *c, const char *mac, const Mvm__V1__Pool *pool, vmm_boot_spec *spec,
                        char *args, size_t cap);
/* The reconcile loop's part: a sync if one was asked for or failed. */
void core_net_sync_if_dirty(core *c);
/* The host table's plan as the store has it (core_net_plan.c): tenants
 * with their egress allowlists, instances' port forwards; owns its
 * strings. Errors: the store's, RESOURCE_EXHAUSTED. */
typedef struct core_net_plan {
    struct net_nft_tenant *tenants;
    size_t n_tenants;
    struct net_nft_forward *forwards;
    size_t n_forwards;
    char **strings;
    size_t n_strings;
} core_net_plan;
mvm_code core_net_plan_read(core *c, core_net_plan *plan, mvm_error *err);
void core_net_plan_free(core_net_plan *plan);
/* The pool's network rate limits (zeros: none). */
void core_net_limits_of(const Mvm__V1__Pool *pool, vmm_net_limits *out);
/* After a snapshot load: the pool's rate limits (when it sets any) replace
 * the ones the snapshot holds. */
mvm_code core_net_restored(core *c, vmm_machine *m, const Mvm__V1__Pool *pool, mvm_error *err);

/* ---- runtime entries (core_inst.c) ---- */

/* The entry for id (tenant names its directory), created if absent; with
 * a reference the caller drops with core_inst_unref. */
core_inst *core_inst_get(core *c, const char *tenant, const char *id, mvm_error *err);
/* The entry for id if it exists (with a reference), else NULL. */
core_inst *core_inst_find(core *c, const char *id);
void core_inst_unref(core_inst *in);
/* Removes the entry from the table (deleted instance); references held
 * elsewhere stay valid until dropped. */
void core_inst_forget(core_inst *in);
/* Claims the instance for operation op: ABORTED naming the one under way. */
mvm_code core_inst_claim(core_inst *in, const char *op, mvm_error *err);
void core_inst_release(core_inst *in);
/* Makes the instance's log objects (once; no descriptors yet). */
mvm_code core_inst_open_logs(core_inst *in, mvm_error *err);
/* Creates their FIFOs and files ahead of the first start (CreateInstance),
 * so that starting only opens them. */
mvm_code core_inst_prepare_logs(core_inst *in, mvm_error *err);
/* Opens their FIFOs and files (a process is about to run, or runs). */
mvm_code core_inst_start_logs(core_inst *in, mvm_error *err);
/* Pumps every log now (e.g. before reading an error out of them). */
void core_inst_pump_logs(core_inst *in);
/* The process has ended: stops the supervisor pumping, pumps once more,
 * closes the descriptors; ends its page-server session, if any. The log
 * objects stay, readable by followers, until the entry is freed. */
void core_inst_stop_logs(core_inst *in);
/* Gives the instance its machine, watched for exit, its logs pumped;
 * vcpus/mem_mib were reserved by the caller (core_cap_reserve or
 * core_cap_force). Fails (the machine not attached) if the logs cannot be
 * opened. */
mvm_code core_inst_attach(core_inst *in, vmm_machine *m, uint32_t vcpus, uint64_t mem_mib,
                          mvm_error *err);
/* Takes the machine back: no longer watched for its end, its capacity
 * released; NULL if none. Its logs are still pumped: call
 * core_inst_stop_logs once the process has ended. */
vmm_machine *core_inst_detach(core_inst *in);

/* ---- capacity (core_inst.c) ---- */

/* Reserves vcpus/mem of running capacity: RESOURCE_EXHAUSTED if the node's
 * offer would be exceeded. */
mvm_code core_cap_reserve(core *c, uint32_t vcpus, uint64_t mem_mib, const char *id,
                          mvm_error *err);
/* Counts capacity without checking (re-adopted machines run already). */
void core_cap_force(core *c, uint32_t vcpus, uint64_t mem_mib);
void core_cap_release(core *c, uint32_t vcpus, uint64_t mem_mib);

/* ---- supervisor (core_supervisor.c) ---- */

mvm_code core_sup_start(core *c, mvm_error *err);
void core_sup_stop(core *c);
/* Registers / unregisters w->fd; returns once the supervisor has done it
 * (so after core_sup_del no event for w is being handled). */
void core_sup_add(core *c, core_watch *w);
void core_sup_del(core *c, core_watch *w);

/* ---- operations and recovery (core_ops.c) ---- */

/* The start of every lifecycle operation: the record (checked against the
 * state machine unless act is INSTANCE_ACTION_COUNT; for Start and Wake,
 * also that the node can run microVMs), the runtime entry, and the claim.
 * On success the caller ends with core_end_op. */
mvm_code core_begin_op(core *c, const char *tenant, const char *id, instance_action act,
                       const char *op, Mvm__V1__Instance **rec, core_inst **in, mvm_error *err);
void core_end_op(core_inst *in, Mvm__V1__Instance *rec);
/* Records op's intent (the instance's operation; target is what it makes,
 * may be NULL); with destroy, also the state DESTROYED. */
mvm_code core_record_intent(core *c, const store_actor *who, core_inst *in, const char *op,
                            const Mvm__V1__Instance *rec, bool destroy, const char *target,
                            mvm_error *err);
/* Records that op ended without changing the state: the operation cleared,
 * why kept as last_error. */
void core_record_rollback(core *c, const store_actor *who, core_inst *in, const char *op,
                          const mvm_error *why);
/* The MMDS document: the instance's identity (malloc'd JSON). */
char *core_identity_json(const Mvm__V1__Instance *i);
/* Frees an unpacked message (NULL is fine). */
void core_free_msg(void *m);
/* Zeroed memory / a copy of s from alloc (NULL: malloc), for results. */
void *core_zalloc(ProtobufCAllocator *alloc, size_t n);
char *core_strdup(ProtobufCAllocator *alloc, const char *s);
/* The pool's image paths name readable regular files; else code, naming
 * the field and the path. */
mvm_code core_check_images(const Mvm__V1__Pool *p, mvm_code code, mvm_error *err);
/* The instance's directory with its logs prepared and its own disk, a copy
 * of disk_src grown to min_bytes (idempotent: an existing disk is kept). */
mvm_code core_prepare_dir(core_inst *in, const char *disk_src, uint64_t min_bytes,
                          mvm_error *err);
/* The record of machine m's process (strings borrowed from m and the
 * host); now is where start_time points. */
void core_fill_process(core *c, vmm_machine *m, Mvm__V1__InstanceProcess *proc,
                       Google__Protobuf__Timestamp *now);
/* The memory backend a pool's restores use (the node's default when the
 * pool does not choose). */
Mvm__V1__MemoryBackend core_backend_of(const core *c, const Mvm__V1__Pool *p);

/* ---- restored memory (core_memory.c) ---- */

/* Loads the snapshot in snap_dir (absolute) into in's fresh process m
 * and resumes it, its memory by backend (FILE: mapped by Firecracker;
 * UFFD: served by mvmd's page server, the session kept in in until
 * core_inst_drop_memory). */
mvm_code core_restore_memory(core *c, core_inst *in, vmm_machine *m, const char *snap_dir,
                             Mvm__V1__MemoryBackend backend, mvm_error *err);
/* Ends in's page-server session, if any (its process is ending). */
void core_inst_drop_memory(core_inst *in);
/* Stops the page server (core_free). */
void core_memory_free(core *c);

/* ---- clones (core_clone.c) ---- */

/* Makes one clone of the READY snapshot snap in req->pool (recorded with
 * the CloneInstance operation, its directory and disk made, a process
 * restored from the snapshot and resumed, its identity put in MMDS,
 * recorded RUNNING). On failure nothing is left: no record, no files. */
mvm_code core_clone_one(core *c, const store_actor *who, const Mvm__V1__CreateInstanceRequest *req,
                        const Mvm__V1__Snapshot *snap, Mvm__V1__MemoryBackend backend,
                        ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err);
/* FAILED_PRECONDITION unless snap can be cloned on this node: READY, in a
 * data format this Firecracker reads, its files whole. */
mvm_code core_clone_check(core *c, const Mvm__V1__Snapshot *snap, mvm_error *err);
/* <state>/snapshots/<id> into buf. */
void core_snapshot_path(const core *c, const char *id, char *buf, size_t cap);

/* ---- base snapshot builds (core_base.c) ---- */

/* Asks every build to stop and waits for them (core_free). */
void core_builds_stop(core *c);
/* Recovery of the snapshots directory: removes half-written snapshots and
 * ones no record or build owns, records a build that sealed its snapshot
 * but did not record it, retires snapshots whose files are gone. */
void core_recover_snapshots(core *c, core_recovery *rep);

/* Deletes tenant/id if it is still SLEEPING with snapshot_id expired at
 * now_sec (the janitor's TTL expiry); FAILED_PRECONDITION if not. */
mvm_code core_instance_expire(core *c, const store_actor *who, const char *tenant,
                              const char *id, const char *snapshot_id, int64_t now_sec,
                              mvm_error *err);

/* ---- janitor (core_janitor.c) ---- */

void core_janitor_init(core *c);
mvm_code core_janitor_start(core *c, mvm_error *err);
void core_janitor_stop(core *c);

/* ---- reconcile loop (core_reconcile.c), activity (core_activity.c),
 * status (core_status.c) ---- */

void core_reconcile_init(core *c);
mvm_code core_reconcile_start(core *c, mvm_error *err);
void core_reconcile_stop(core *c);
/* After core_reconcile_stop: frees the status and per-pool state. */
void core_reconcile_free(core *c);
/* What the loop knows of a pool for a round (read from its record). */
typedef struct core_pool_spec {
    char tenant[64], name[64];
    uint32_t desired_instances, desired_warm;
    uint32_t warm_after_idle_s, sleep_after_warm_s;
    bool deleting;
    bool base_ready;                     /* clones can be made */
    Mvm__V1__BaseSnapshotState base_state;
} core_pool_spec;

typedef struct core_tenant_spec {
    char name[64];
    bool deleting;
    uint32_t pools;
} core_tenant_spec;

typedef struct core_pool_specs {
    core_pool_spec *items;
    size_t n, cap;
    core_tenant_spec *tenants;
    size_t nt, capt;
    bool oom;
} core_pool_specs;

/* What a step of the loop did: nothing to do, acted, or failed. */
typedef enum core_step { CORE_STEP_NONE, CORE_STEP_ACTED, CORE_STEP_FAILED } core_step;

/* The actor of the loop's changes: instances it makes are managed. */
extern const store_actor core_reconcile_actor;

/* Reads every pool and tenant. Errors: the store's, RESOURCE_EXHAUSTED. */
mvm_code core_pool_specs_read(core *c, core_pool_specs *s, mvm_error *err);
void core_pool_specs_free(core_pool_specs *s);
/* Records the pool's counts; false while the pool is backing off. */
bool core_pool_state_due(core *c, const core_pool_spec *p, const Mvm__V1__PoolStatus *counts,
                         int64_t now_us);
/* Records what the round's step did (err: why it failed). */
void core_pool_state_update(core *c, const core_pool_spec *p, const Mvm__V1__PoolStatus *counts,
                            core_step s, const mvm_error *err, int64_t now_us);
/* Counts the pool's instances by state into counts (initialised by the
 * caller), as a round does. Errors: the store's, RESOURCE_EXHAUSTED. */
mvm_code core_pool_count(core *c, const char *tenant, const char *pool,
                         Mvm__V1__PoolStatus *counts, mvm_error *err);
/* What the loop needs of a pool record. */
void core_pool_spec_of(const Mvm__V1__Pool *p, core_pool_spec *e);
/* Deletes the deleting tenants that have no pool left. */
void core_tenants_prune(core *c, const core_pool_specs *s);
/* Builds the node's status from the round; publishes it if it changed. */
void core_status_publish(core *c, const core_pool_specs *s, int64_t now_us);

/* Records activity on the instance now (in->mu held by the caller). */
void core_activity_note_locked(core_inst *in);
/* Asks the instance's Firecracker for its metrics and notes activity if
 * its network moved bytes since the last sample. Skipped while an
 * operation holds the instance. Reconcile thread. */
void core_activity_sample(core *c, const char *id);
/* CLOCK_REALTIME microseconds of the instance's last activity, 0 if none
 * seen by this mvmd. */
int64_t core_activity_get(core *c, const char *id);

/* An actor for mvmd's own changes (recovery, the supervisor). */
extern const store_actor core_self_actor;
/* Records the end of an instance's process noticed by the supervisor (the
 * instance is claimed by the caller; m already detached). */
void core_record_exit(core *c, core_inst *in, vmm_machine *m);
/* Why a machine ended, from its wait status and its logs. */
void core_describe_exit(core_inst *in, vmm_machine *m, char *buf, size_t cap, bool *clean);
/* Fills a timestamp with the current time. */
void core_now(Google__Protobuf__Timestamp *ts);

/* ---- snapshots (core_snapshot_ops.c) ---- */

/* A new snapshot id: "s-" and 16 hex digits. */
mvm_code core_new_snapshot_id(char id[19], mvm_error *err);
/* <instance dir>/snapshots, where its snapshots live. */
void core_snapshot_dir(const core_inst *in, char *buf, size_t cap);

/* ---- failpoints (core_failpoint.c) ---- */

/* Reads MVMD_FAILPOINTS (core_new does, once). */
void core_failpoints_load(void);
/* If name is armed: SIGKILL this process, or pause. Names:
 *   create.recorded     record written, directory and disk not yet
 *   create.networked    directory, disk and network made, nothing recorded of them
 *   start.intent        intent recorded, nothing spawned
 *   start.spawned       Firecracker running, not configured
 *   start.booted        guest booted, RUNNING not yet recorded
 *   stop.intent         intent recorded, process untouched
 *   stop.killed         process gone, STOPPED not yet recorded
 *   sleep.intent        intent recorded, the guest untouched
 *   sleep.written       Firecracker wrote the snapshot under its .tmp name
 *   sleep.sealed        snapshot renamed into place, not yet recorded
 *   wake.intent         intent recorded, nothing spawned
 *   wake.loaded         snapshot loaded and resumed, RUNNING not recorded
 *   delete.intent       DESTROYED recorded, process untouched
 *   delete.unnetworked  process and network gone, directory and record there
 *   delete.removed      process and directory gone, record still there
 *   clone.recorded      clone's record written (CloneInstance), no files
 *   clone.loaded        clone restored and resumed, RUNNING not recorded
 *   fork.intent         source's ForkInstances recorded, guest untouched
 *   fork.sealed         fork snapshot whole in place, not yet recorded
 *   base.booted         template booted, not yet ready
 *   base.written        template's snapshot written under its .tmp name
 *   base.sealed         base snapshot whole in place, not yet recorded */
void core_failpoint(const char *name);

/* ---- console (core_console.c) ---- */

/* Pumps one log (supervisor thread, or an operation holding the entry). */
void core_inst_pump_log(core_inst *in, core_log log);
/* Called for each chunk pumped from the console. */
void core_console_deliver(void *inst, const uint8_t *data, size_t len, uint64_t offset);
/* Ends every follower of in (instance deleted). */
void core_console_end_all(core_inst *in);

#endif
