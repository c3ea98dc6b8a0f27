/* core.h - the node's logic: instance lifecycle operations as recorded
 * steps over the store (storage/) and the Firecracker driver (vmm/), the
 * recovery pass that re-adopts running machines after a restart, the
 * supervisor thread that notices processes ending and pumps their logs,
 * and console streaming. The API layer calls this; it never calls vmm/.
 *
 * Operations. Start, Stop and Delete each record their intent in LMDB (the
 * instance's `operation`) before their first side effect and their outcome
 * after the last one, so that after SIGKILL at any point core_recover()
 * finds the intent and finishes or undoes the operation: nothing is left
 * half-done, no process, socket, directory or disk leaks.
 *
 * Concurrency. One operation at a time per instance: a second one, while
 * the first runs, fails at once with ABORTED naming the one under way
 * (callers retry; nothing waits behind a slow stop). Operations on
 * different instances run in parallel. Every operation blocks (it talks to
 * Firecracker, copies disks, fsyncs): call them from worker threads.
 *
 * Threads: all functions may be called from any thread, except
 * core_recover (once, before serving) and core_free. Callbacks given to
 * core_console_follow run on the supervisor thread or on the caller's
 * thread (during the call) and must not block.
 *
 * Errors: mvm_error.h; each names the instance and the step that failed,
 * keeping Firecracker's own fault_message.
 */
#ifndef MVM_CORE_H
#define MVM_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/node.pb-c.h"
#include "mvm/v1/pool.pb-c.h"
#include "mvm_error.h"
#include "store.h"
#include "vmm.h"

typedef struct core core;

/* vCPUs offered per host CPU by default. */
#define CORE_VCPU_OVERCOMMIT 8

/* Whether instances get networks (core_net.c). */
typedef enum core_network {
    CORE_NETWORK_AUTO = 0, /* on where mvmd may make devices, else off (logged) */
    CORE_NETWORK_ON,       /* on; a node that cannot is an error at start */
    CORE_NETWORK_OFF,      /* no network interface in any instance */
} core_network;

typedef struct core_options {
    store *st;                 /* borrowed; outlives the core */
    vmm_host *vmm;             /* borrowed; outlives the core */
    uint32_t stop_grace_ms;    /* Ctrl-Alt-Del to SIGKILL; 0: 5000 */
    uint32_t capacity_vcpus;   /* offered to instances; 0: CORE_VCPU_OVERCOMMIT
                                  times the online CPUs */
    uint64_t capacity_mem_mib; /* 0: host memory less a reserve */
    uint32_t janitor_interval_ms; /* TTL expiry and snapshot collection; 0: 5000 */
    Mvm__V1__MemoryBackend memory_backend; /* for pools that do not choose;
                                              UNSPECIFIED: FILE */
    uint32_t reconcile_interval_ms; /* the reconcile loop's timer; 0: 1000 */
    uint32_t activity_interval_ms;  /* metrics sampled for traffic; 0: 5000 */
    core_network network;
    const char *net_uplink;         /* NULL or "auto": the default route's device;
                                       "none": no masquerade; else a device name */
    const char *net_host_services;  /* "tcp:53,udp:53": host ports guests may
                                       reach; NULL: none */
    int net_pool;                   /* network namespaces made ahead (net.h's
                                       pool); 0: none; < 0: the default, 16 */
} core_options;

mvm_code core_new(const core_options *opt, core **out, mvm_error *err);
/* Stops the supervisor thread and frees everything. Machines keep running
 * (a later mvmd re-adopts them). No operation may be in flight. */
void core_free(core *c);

/* What recovery found and did, for the log and the tests. */
typedef struct core_recovery {
    unsigned adopted;      /* live instances whose process was re-attached */
    unsigned lost;         /* live instances whose process was gone: FAILED */
    unsigned finished;     /* interrupted operations completed */
    unsigned rolled_back;  /* interrupted operations undone */
    unsigned orphans_killed; /* Firecracker processes no record owns */
    unsigned dirs_removed; /* instance directories no record owns */
    int64_t elapsed_us;
} core_recovery;

/* Runs once at start, before serving: finishes or undoes interrupted
 * operations, re-adopts every live instance's process (same pid, same
 * start time, API answering), marks the others FAILED with the reason,
 * kills Firecracker processes working in the state dir that no record
 * owns, and removes directories no record owns. Each change is recorded
 * (and so reaches Watch streams) like any other. */
mvm_code core_recover(core *c, core_recovery *report, mvm_error *err);
/* After core_recover, before serving: starts the janitor thread (expiry of
 * sleeping instances and base snapshots, removal of unused retired
 * snapshots), the reconcile loop (core_reconcile.c) and the base snapshot
 * builds the store says are under way (interrupted by the restart: they
 * start again). */
mvm_code core_start(core *c, mvm_error *err);

/* ---- instances ---- */

/* Creates the record (address, MAC, TAP name) after checking the pool's
 * images exist; prepares its directory and disk copy. In a pool whose base
 * snapshot is READY (unless req->cold_boot), makes a clone instead: see
 * core_clone.c; the instance comes back RUNNING. */
mvm_code core_instance_create(core *c, const store_actor *who,
                              const Mvm__V1__CreateInstanceRequest *req,
                              ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                              mvm_error *err);
/* Boots CREATED or STOPPED instances: RUNNING with a Firecracker process. */
mvm_code core_instance_start(core *c, const store_actor *who, const char *tenant,
                             const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err);
/* Ctrl-Alt-Del, the grace period, then SIGKILL: STOPPED, disk kept. */
mvm_code core_instance_stop(core *c, const store_actor *who, const char *tenant,
                            const char *id, ProtobufCAllocator *alloc,
                            Mvm__V1__Instance **out, mvm_error *err);
/* RUNNING -> WARM: paused in memory. */
mvm_code core_instance_pause(core *c, const store_actor *who, const char *tenant,
                             const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err);
/* RUNNING or WARM -> SLEEPING: a full snapshot on disk, the process ended.
 * ttl_seconds (0: none): the sleeping instance is deleted when it expires. */
mvm_code core_instance_sleep(core *c, const store_actor *who, const char *tenant,
                             const char *id, uint32_t ttl_seconds, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err);
/* WARM -> RUNNING (resumed) or SLEEPING -> RUNNING (restored from its
 * snapshot in a new process). */
mvm_code core_instance_wake(core *c, const store_actor *who, const char *tenant,
                            const char *id, ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                            mvm_error *err);
/* From any state: kills the process, removes the directory, deletes the
 * record and frees its address. */
mvm_code core_instance_delete(core *c, const store_actor *who, const char *tenant,
                              const char *id, mvm_error *err);

/* ForkInstances: req->clones clones of a pool's base snapshot or of a live
 * instance (a fork snapshot taken with the instance paused). *out gets one
 * result per clone. Fails as a whole only when no clone can be made. */
mvm_code core_instance_fork(core *c, const store_actor *who,
                            const Mvm__V1__ForkInstancesRequest *req, ProtobufCAllocator *alloc,
                            Mvm__V1__ForkInstancesResponse **out, mvm_error *err);

/* ---- pools' base snapshots (core_base.c) ---- */

/* Records a build under way and starts it in the background (see
 * PoolService.BuildBaseSnapshot); *out gets the pool. */
mvm_code core_pool_build_base(core *c, const store_actor *who, const char *tenant,
                              const char *name, ProtobufCAllocator *alloc, Mvm__V1__Pool **out,
                              mvm_error *err);
/* Retires the pool's base snapshot and cancels its build. */
mvm_code core_pool_delete_base(core *c, const store_actor *who, const char *tenant,
                               const char *name, ProtobufCAllocator *alloc, Mvm__V1__Pool **out,
                               mvm_error *err);
/* A pool's record changed (UpdatePool): runs the build its base snapshot
 * asks for, if one is not running already. */
void core_pool_changed(core *c, const Mvm__V1__Pool *pool);
/* Wakes the janitor now (a snapshot was retired, an instance let go of
 * one). */
void core_janitor_kick(core *c);

/* The memory backend of pools that do not choose one. */
Mvm__V1__MemoryBackend core_default_backend(const core *c);

/* ---- the reconcile loop and the node's status (core_reconcile.c,
 * core_status.c) ---- */

/* Asks for a round soon (a pool or the desired state changed). Any
 * thread; never blocks for long. */
void core_reconcile_kick(core *c);
/* Fills pool->status (from alloc) with the loop's last look at the pool.
 * Any thread; never blocks for long. */
void core_pool_status_fill(core *c, Mvm__V1__Pool *pool, ProtobufCAllocator *alloc);
/* Fills the computed fields of an instance record read from the store
 * (disk_bytes, last_activity_time). Any thread; reads the directory. */
void core_instance_decorate(core *c, Mvm__V1__Instance *inst, ProtobufCAllocator *alloc);
/* A copy (from alloc) of the node's last status. Errors:
 * RESOURCE_EXHAUSTED. */
mvm_code core_status_get(core *c, ProtobufCAllocator *alloc, Mvm__V1__NodeStatus **out,
                         mvm_error *err);
typedef struct core_status_sub core_status_sub;
/* Called with each new status, valid during the call only, under the
 * status lock: it must not block nor call core_status_*. */
typedef void (*core_status_fn)(void *arg, const Mvm__V1__NodeStatus *status);
/* Calls fn with the current status before returning, then with each new
 * one until core_status_unsubscribe. Errors: RESOURCE_EXHAUSTED. */
mvm_code core_status_subscribe(core *c, core_status_fn fn, void *arg, core_status_sub **out,
                               mvm_error *err);
/* After it returns fn is not running and is never called again. NULL is
 * fine. */
void core_status_unsubscribe(core *c, core_status_sub *sub);

/* ---- networking (core_net.c) ---- */

/* Makes the host side match the store: a bridge per tenant (stale ones
 * removed), table inet mvm from the tenants, their egress allowlists, the
 * instances' port forwards and the allowed host services, in one
 * transaction. Call after a tenant, an egress list or a port forward
 * changed. MVM_OK at once when networking is off. Any thread (serialised
 * inside). Errors: the kernel's, as service/net/net.h maps them. */
mvm_code core_net_sync(core *c, mvm_error *err);

/* Asks the reconcile loop for a core_net_sync soon (something it follows
 * changed and the caller could not sync). Any thread. */
void core_net_mark_dirty(core *c);

/* The pool's network_limits changed: its running and paused instances get
 * them now (PATCH /network-interfaces/eth0, each under a short claim); one
 * busy with an operation keeps its old limits until its next start, wake or
 * clone (logged). Returns how many were changed. Any thread; blocks on
 * Firecracker calls. */
unsigned core_net_limits_changed(core *c, const Mvm__V1__Pool *pool);

typedef struct core_net_report {
    unsigned netns_removed;      /* leaked instance namespaces removed */
    unsigned veths_removed;      /* leaked host veths removed */
    unsigned instances_ensured;  /* instances whose network is in place */
    unsigned instances_failed;   /* and those it could not be made for (logged) */
    int64_t elapsed_us;
} core_net_report;

/* Once at start, after core_recover: removes the namespaces and veths no
 * instance record owns, brings the host side in line (core_net_sync), and
 * makes every instance's network where it is missing. */
mvm_code core_net_recover(core *c, core_net_report *report, mvm_error *err);

/* True when instances get networks (decided at core_new). Any thread. */
bool core_net_on(const core *c);

/* ---- disk ---- */

/* Bytes the instance's directory takes on disk (blocks allocated). */
uint64_t core_instance_disk_bytes(core *c, const char *id);
/* Fills a snapshot record's computed fields (clones, allocated_bytes). */
void core_snapshot_decorate(core *c, Mvm__V1__Snapshot *snap);
/* NodeService.GetDiskUsage. */
mvm_code core_disk_usage(core *c, const char *tenant, ProtobufCAllocator *alloc,
                         Mvm__V1__DiskUsage **out, mvm_error *err);

/* Checks that the image paths set in pool (kernel_image, rootfs_image,
 * initrd_image; empty ones are skipped) name readable regular files on
 * this node: INVALID_ARGUMENT naming the field and the path otherwise. */
mvm_code core_pool_check_images(const Mvm__V1__Pool *pool, mvm_error *err);

/* FAILED_PRECONDITION saying what the node lacks, or MVM_OK. */
mvm_code core_can_run(const core *c, mvm_error *err);

/* Offered capacity and what running instances hold. */
typedef struct core_capacity {
    uint32_t offered_vcpus;
    uint64_t offered_mem_mib;
    uint32_t running_vcpus;
    uint64_t running_mem_mib;
} core_capacity;
void core_capacity_get(core *c, core_capacity *out);

/* ---- console ---- */

typedef struct core_console_sub core_console_sub;
/* data: console bytes starting at offset. */
typedef void (*core_console_data_fn)(void *arg, const uint8_t *data, size_t len,
                                     uint64_t offset);
/* The instance was deleted: no more data will come. */
typedef void (*core_console_end_fn)(void *arg);

/* Sends the console log of tenant/id (its newest tail_bytes, or all of it
 * when 0) through data() before returning; then, when follow is set,
 * registers for new output and returns the subscription in *sub (NULL
 * when not following), with nothing lost or repeated at the seam. end() is
 * called once if the instance is deleted while followed. */
mvm_code core_console_follow(core *c, const char *tenant, const char *id, bool follow,
                             uint32_t tail_bytes, core_console_data_fn data,
                             core_console_end_fn end, void *arg, core_console_sub **sub,
                             mvm_error *err);
/* After this returns, no callback of sub runs again. NULL is fine. */
void core_console_unfollow(core *c, core_console_sub *sub);

#endif
