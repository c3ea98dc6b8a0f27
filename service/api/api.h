/* api.h - the whole public face of service/api/: the mvm.v1 services
 * (TenantService, PoolService, InstanceService, NodeService) on top of the
 * store, registered with the gRPC server, plus their metrics lines.
 *
 *     api_options o = {.state_dir = dir, .firecracker_bin = fc, .version = v};
 *     api_ctx *api;
 *     if (api_start(srv, &o, &api, &err) != MVM_OK) ...   (before rpc_server_run)
 *     rpc_server_run(srv, &err);
 *     api_stop(api);                                        (after it returns)
 */
#ifndef MVM_API_H
#define MVM_API_H

#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"
#include "rpc.h"

typedef struct api_options {
    const char *state_dir;       /* the store lives in <state_dir>/store/ */
    const char *firecracker_bin; /* NULL: "firecracker" on PATH */
    const char *jailer_bin;      /* NULL: none */
    const char *version;         /* mvmd version, reported by GetInfo */
    uint32_t stop_grace_ms;      /* 0: 5000 */
    uint32_t api_timeout_ms;     /* one Firecracker API call; 0: 10000 */
    uint32_t capacity_vcpus;     /* 0: online CPUs */
    uint64_t capacity_mem_mib;   /* 0: host memory less a reserve */
    size_t console_max_bytes;    /* 0: 1 MiB */
    uint32_t janitor_interval_ms; /* 0: 5000 */
    uint32_t reconcile_interval_ms; /* 0: 1000 */
    uint32_t activity_interval_ms;  /* 0: 5000 */
    int memory_backend;          /* Mvm__V1__MemoryBackend; 0: FILE */
    int network;                 /* core_network: 0 auto, 1 on, 2 off */
    const char *net_uplink;      /* NULL/"auto", "none" or a device */
    const char *net_host_services; /* "tcp:53,udp:53"; NULL: none */
    int net_pool;                /* namespaces made ahead; < 0: the default */
} api_options;

typedef struct api_ctx api_ctx;

/* Opens the store, probes Firecracker and KVM, recovers the node's
 * instances (re-adopting running machines, finishing or undoing interrupted
 * operations), registers the four services and the metrics callback with
 * srv. On failure *out is NULL and srv must be freed
 * without running (services registered so far point at freed memory). */
mvm_code api_start(rpc_server *srv, const api_options *opt, api_ctx **out, mvm_error *err);
/* Ends open watches and closes the store; call after rpc_server_run has
 * returned (no handler in flight). NULL is fine. */
void api_stop(api_ctx *api);

#endif
