/* api_node.c - mvm.v1.NodeService: GetInfo (mvmd version, host name and
 * capacity: what it offers, what instances hold and what runs; counts of
 * tenants, pools and instances by state; whether it can run microVMs, with
 * Firecracker and KVM probed at start; start time and uptime),
 * BackupStore (a hot copy of the store to a file on the node) and
 * GetDiskUsage (what snapshots and instances take on disk) and Apply (the
 * desired state, in one store transaction). GetStatus and WatchStatus are
 * in api_status.c. */
#include "api_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "instance_state.h"

#define NSTATES (MVM__V1__INSTANCE_STATE__INSTANCE_STATE_FAILED + 1)

static void node_get_info(Mvm__V1__NodeService_Service *svc, const Mvm__V1__GetInfoRequest *req,
                          Mvm__V1__NodeInfo_Closure done, void *call) {
    api_ctx *api = rpc_call_service_data(call);
    mvm_error err;
    store_counts n;
    if (store_count(api->st, &n, &err) != MVM_OK) {
        api_fail(call, &err);
        return;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES),
         psize = sysconf(_SC_PAGESIZE);

    Mvm__V1__NodeCapacity cap = MVM__V1__NODE_CAPACITY__INIT;
    cap.cpus = cpus > 0 ? (uint32_t)cpus : 0;
    cap.mem_mib = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize >> 20 : 0;
    cap.allocated_vcpus = (uint32_t)n.vcpus;
    cap.allocated_mem_mib = n.mem_mib;
    core_capacity cc;
    core_capacity_get(api->core, &cc);
    cap.offered_vcpus = cc.offered_vcpus;
    cap.offered_mem_mib = cc.offered_mem_mib;
    cap.running_vcpus = cc.running_vcpus;
    cap.running_mem_mib = cc.running_mem_mib;

    Google__Protobuf__Timestamp start = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    start.seconds = api->start_wall;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);

    Mvm__V1__InstanceCount counts[NSTATES], *cptr[NSTATES];
    size_t nc = 0;
    for (int s = 1; s < NSTATES; s++) {
        if (!n.by_state[s])
            continue;
        mvm__v1__instance_count__init(&counts[nc]);
        counts[nc].state = (char *)instance_state_name((instance_state)s);
        counts[nc].count = n.by_state[s];
        cptr[nc] = &counts[nc];
        nc++;
    }

    Mvm__V1__NodeInfo info = MVM__V1__NODE_INFO__INIT;
    info.version = api->version;
    info.hostname = host;
    info.capacity = &cap;
    const vmm_probe *p = vmm_host_probe(api->vmm);
    info.firecracker_version = (char *)p->fc_version;
    info.firecracker_status = (char *)p->fc_status;
    info.firecracker_ok = p->fc_ok;
    info.firecracker_path = (char *)p->fc_path;
    info.snapshot_version = (char *)p->snapshot_version;
    info.kvm_ok = p->kvm_ok;
    info.kvm_status = (char *)p->kvm_status;
    info.disk_copy_method = p->reflink ? "reflink" : "sparse copy";
    info.memory_backend = core_default_backend(api->core) ==
                                  MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD
                              ? "UFFD"
                              : "FILE";
    info.start_time = &start;
    info.uptime_seconds = (uint64_t)(now.tv_sec - api->start_mono.tv_sec);
    info.tenants = n.tenants;
    info.pools = n.pools;
    info.n_instances = nc;
    info.instances = cptr;
    done(&info, call);
}

static void node_get_disk_usage(Mvm__V1__NodeService_Service *svc,
                                const Mvm__V1__GetDiskUsageRequest *req,
                                Mvm__V1__DiskUsage_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__DiskUsage *u = NULL;
    mvm_code c = core_disk_usage(API(call)->core, req->tenant, a, &u, &err);
    API_REPLY(call, c, &err, done, u, a);
}

static void node_backup_store(Mvm__V1__NodeService_Service *svc,
                              const Mvm__V1__BackupStoreRequest *req,
                              Mvm__V1__BackupStoreResponse_Closure done, void *call) {
    mvm_error err;
    Mvm__V1__BackupStoreResponse r = MVM__V1__BACKUP_STORE_RESPONSE__INIT;
    if (store_backup(API(call)->st, req->path, &r.size_bytes, &r.revision, &err) != MVM_OK) {
        api_fail(call, &err);
        return;
    }
    r.path = req->path;
    done(&r, call);
}

/* Apply: the listed pools' images are checked on disk first (as
 * CreatePool and UpdatePool do), then the store applies the whole request
 * in one transaction; pools created or changed may start a base snapshot
 * build, and the reconcile loop is asked for a round. */
static void node_apply(Mvm__V1__NodeService_Service *svc, const Mvm__V1__ApplyRequest *req,
                       Mvm__V1__ApplyResponse_Closure done, void *call) {
    (void)svc;
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__ApplyResponse *r = NULL;
    mvm_code c = MVM_OK;
    for (size_t i = 0; !c && i < req->n_pools; i++)
        if ((c = core_pool_check_images(req->pools[i], &err)) != MVM_OK)
            mvm_error_context(&err, "pools[%zu] (%s/%s)", i, req->pools[i]->tenant,
                              req->pools[i]->name);
    if (!c)
        c = store_apply(API(call)->st, &who, req, a, &r, &err);
    for (size_t i = 0; !c && !req->dry_run && i < r->n_changes; i++) {
        const Mvm__V1__ApplyChange *ch = r->changes[i];
        if (strcmp(ch->kind, "pool") != 0 ||
            (ch->action != MVM__V1__APPLY_ACTION__APPLY_ACTION_CREATED &&
             ch->action != MVM__V1__APPLY_ACTION__APPLY_ACTION_UPDATED))
            continue;
        Mvm__V1__Pool *p = NULL;
        mvm_error e;
        if (store_pool_get(API(call)->st, ch->tenant, ch->name, NULL, &p, &e) == MVM_OK)
            core_pool_changed(API(call)->core, p); /* an image change: a new base build */
        if (p)
            protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    mvm_error e2;
    if (!c && !req->dry_run && core_net_sync(API(call)->core, &e2) != MVM_OK)
        fprintf(stderr, "mvmd: Apply: %s (retried by the reconcile loop)\n", e2.msg);
    if (!c && !req->dry_run)
        core_reconcile_kick(API(call)->core);
    API_REPLY(call, c, &err, done, r, a);
}

Mvm__V1__NodeService_Service api_node_service = MVM__V1__NODE_SERVICE__INIT(node_);
