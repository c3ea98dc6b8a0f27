/* api_methods.c - the mvm.v1 method table: for every method of every
 * service, where its handler runs. RPC_EXEC_INLINE runs on the
 * connection's I/O thread and must never block: only LMDB reads (readers
 * never wait) and in-memory work. RPC_EXEC_WORKER runs on the worker pool:
 * every write (an fsync per commit) and anything that will talk to
 * Firecracker or netlink. Registration (rpc_server_add_service) fails at
 * startup if a method of the .proto has no entry here or an entry names no
 * method, so a new RPC cannot be served before it is declared. */
#include "api_internal.h"

static const rpc_method_rule tenant_rules[] = {
    {"CreateTenant", RPC_EXEC_WORKER},
    {"GetTenant", RPC_EXEC_INLINE},
    {"ListTenants", RPC_EXEC_INLINE},
    {"UpdateTenant", RPC_EXEC_WORKER},
    {"DeleteTenant", RPC_EXEC_WORKER},
};

static const rpc_method_rule pool_rules[] = {
    {"CreatePool", RPC_EXEC_WORKER},
    {"GetPool", RPC_EXEC_INLINE},
    {"ListPools", RPC_EXEC_INLINE},
    {"UpdatePool", RPC_EXEC_WORKER},
    {"DeletePool", RPC_EXEC_WORKER},
    {"BuildBaseSnapshot", RPC_EXEC_WORKER},  /* checks the images on disk, writes */
    {"DeleteBaseSnapshot", RPC_EXEC_WORKER},
    /* worker: each snapshot's files are measured */
    {"GetSnapshot", RPC_EXEC_WORKER},
    {"ListSnapshots", RPC_EXEC_WORKER},
};

static const rpc_method_rule instance_rules[] = {
    {"CreateInstance", RPC_EXEC_WORKER},
    /* worker: each instance's directory is measured (disk_bytes) */
    {"GetInstance", RPC_EXEC_WORKER},
    {"ListInstances", RPC_EXEC_WORKER},
    {"StartInstance", RPC_EXEC_WORKER},
    {"StopInstance", RPC_EXEC_WORKER},
    {"PauseInstance", RPC_EXEC_WORKER},
    {"SleepInstance", RPC_EXEC_WORKER},
    {"WakeInstance", RPC_EXEC_WORKER},
    {"DeleteInstance", RPC_EXEC_WORKER},
    {"ForkInstances", RPC_EXEC_WORKER},
    /* inline: its initial listing is one read snapshot, and its end hook
     * then never races the listing (see api_watch.c) */
    {"WatchInstances", RPC_EXEC_INLINE},
    /* worker: it reads the console log file before going live */
    {"StreamConsole", RPC_EXEC_WORKER},
    {"SetPortForwards", RPC_EXEC_WORKER}, /* a write */
};

static const rpc_method_rule node_rules[] = {
    {"GetInfo", RPC_EXEC_INLINE}, /* the Firecracker probe ran at startup */
    {"BackupStore", RPC_EXEC_WORKER}, /* copies the whole store and fsyncs it */
    {"GetDiskUsage", RPC_EXEC_WORKER}, /* walks the state dir */
    {"Apply", RPC_EXEC_WORKER},        /* one write transaction */
    {"GetStatus", RPC_EXEC_INLINE},    /* the reconcile loop's last status */
    {"WatchStatus", RPC_EXEC_INLINE},  /* subscribes; sends from memory */
};

const api_service api_services[] = {
    {&api_tenant_service.base, tenant_rules, RPC_RULES(tenant_rules)},
    {&api_pool_service.base, pool_rules, RPC_RULES(pool_rules)},
    {&api_instance_service.base, instance_rules, RPC_RULES(instance_rules)},
    {&api_node_service.base, node_rules, RPC_RULES(node_rules)},
};
const size_t api_nservices = RPC_RULES(api_services);
