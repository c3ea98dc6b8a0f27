/* cli_node.c - "mvm-cli node info" (a vertical list), "mvm-cli node
 * disk-usage" (one row per pool), "mvm-cli node apply -f FILE" (the
 * desired tenants and pools from a JSON file; one row per change) and
 * "mvm-cli node status [--watch]" (a heading, then one row per pool):
 * NodeService. */
#include "cli.h"
#include "mvm/v1/node.pb-c.h"

static const cli_verb verbs[] = {
    {"info", &mvm__v1__node_service__descriptor, "GetInfo", NULL, NULL, 0, NULL},
    {"disk-usage", &mvm__v1__node_service__descriptor, "GetDiskUsage", NULL, NULL, 0, NULL},
    {"apply", &mvm__v1__node_service__descriptor, "Apply", NULL, NULL, CLI_VERB_FILE, NULL},
    {"status", &mvm__v1__node_service__descriptor, "GetStatus", NULL, NULL, 0, "WatchStatus"},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
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

static const cli_column change_columns[] = {
    {"KIND", "kind"}, {"TENANT", "tenant"}, {"NAME", "name"}, {"ACTION", "action"},
    {"FIELDS", "fields"}, {NULL, NULL},
};

static const cli_column apply_heading[] = {
    {"generation", "generation"}, {"changed", "changed"}, {NULL, NULL},
};

static const cli_column status_heading[] = {
    {"generation", "applied_generation"}, {"converged", "converged"},
    {"observed", "observe_time"}, {NULL, NULL},
};

static const cli_column pool_status_columns[] = {
    {"TENANT", "tenant"}, {"POOL", "name+deleting"}, {"DESIRED", "desired_instances"},
    {"ACTUAL", "status.instances"}, {"RUNNING", "status.running"},
    {"WARM", "status.warm/desired_warm"}, {"SLEEPING", "status.sleeping"},
    {"BASE", "base_snapshot_state"}, {"STATE", "status.state"},
    {"MESSAGE", "status.message"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__node_info__descriptor, info_rows, 1, NULL, NULL},
    {&mvm__v1__pool_disk_usage__descriptor, pool_usage_columns, 0, NULL, NULL},
    {&mvm__v1__apply_response__descriptor, NULL, 0, NULL, apply_heading},
    {&mvm__v1__apply_change__descriptor, change_columns, 0, NULL, NULL},
    {&mvm__v1__node_status__descriptor, NULL, 0, NULL, status_heading},
    {&mvm__v1__pool_status_entry__descriptor, pool_status_columns, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_node_object = {
    "node", "this node: version, capacity, desired state (apply), status", verbs, views,
};
