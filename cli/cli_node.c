/* cli_node.c - "mvm-cli node info" (a vertical list) and "mvm-cli node
 * disk-usage" (one row per pool): NodeService. */
#include "cli.h"
#include "mvm/v1/node.pb-c.h"

static const cli_verb verbs[] = {
    {"info", &mvm__v1__node_service__descriptor, "GetInfo", NULL, NULL},
    {"disk-usage", &mvm__v1__node_service__descriptor, "GetDiskUsage", NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const cli_column info_rows[] = {
    {"VERSION", "version"}, {"HOSTNAME", "hostname"},
    {"CPUS", "capacity.cpus"}, {"MEM-MIB", "capacity.mem_mib"},
    {"OFFERED-VCPUS", "capacity.offered_vcpus"},
    {"OFFERED-MEM-MIB", "capacity.offered_mem_mib"},
    {"ALLOCATED-VCPUS", "capacity.allocated_vcpus"},
    {"ALLOCATED-MEM-MIB", "capacity.allocated_mem_mib"},
    {"RUNNING-VCPUS", "capacity.running_vcpus"},
    {"RUNNING-MEM-MIB", "capacity.running_mem_mib"},
    {"FIRECRACKER", "firecracker_version"},
    {"FIRECRACKER-STATUS", "firecracker_status"},
    {"FIRECRACKER-PATH", "firecracker_path"},
    {"SNAPSHOT-VERSION", "snapshot_version"},
    {"KVM-STATUS", "kvm_status"},
    {"DISK-COPY", "disk_copy_method"}, {"MEMORY-BACKEND", "memory_backend"},
    {"STARTED", "start_time"}, {"UPTIME-SECONDS", "uptime_seconds"},
    {"TENANTS", "tenants"}, {"POOLS", "pools"}, {"INSTANCES", "instances"},
    {NULL, NULL},
};

static const cli_column pool_usage_columns[] = {
    {"TENANT", "tenant"}, {"POOL", "pool"}, {"SNAPSHOTS", "snapshots"},
    {"SNAPSHOT-BYTES", "snapshot_bytes"}, {"INSTANCES", "instances"},
    {"INSTANCE-SNAPSHOT-BYTES", "instance_snapshot_bytes"},
    {"INSTANCE-DISK-BYTES", "instance_disk_bytes"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__node_info__descriptor, info_rows, 1, NULL},
    {&mvm__v1__pool_disk_usage__descriptor, pool_usage_columns, 0, NULL},
    {NULL, NULL, 0, NULL},
};

const cli_object cli_node_object = {
    "node", "this node: version, capacity, Firecracker, uptime", verbs, views,
};
