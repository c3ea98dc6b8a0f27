/* cli_pool.c - "mvm-cli pool ..." and "mvm-cli snapshot ...": PoolService
 * verbs (pools, their base snapshots, and the snapshots clones are made
 * from) and their columns. */
#include "cli.h"
#include "mvm/v1/pool.pb-c.h"

static const cli_verb verbs[] = {
    {"create", &mvm__v1__pool_service__descriptor, "CreatePool", NULL, NULL, 0, NULL},
    {"get", &mvm__v1__pool_service__descriptor, "GetPool", NULL, NULL, 0, NULL},
    {"list", &mvm__v1__pool_service__descriptor, "ListPools", NULL, NULL, 0, NULL},
    {"update", &mvm__v1__pool_service__descriptor, "UpdatePool", NULL, NULL, 0, NULL},
    {"delete", &mvm__v1__pool_service__descriptor, "DeletePool", NULL, "deleted", 0, NULL},
    {"build-base", &mvm__v1__pool_service__descriptor, "BuildBaseSnapshot", NULL, NULL, 0, NULL},
    {"delete-base", &mvm__v1__pool_service__descriptor, "DeleteBaseSnapshot", NULL, NULL, 0, NULL},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

/* ACTUAL and WARM are what the node keeps (status, computed on read);
 * a pool being removed shows "(deleting)" after its name. */
static const cli_column pool_columns[] = {
    {"TENANT", "tenant"}, {"NAME", "name+deleting"}, {"VCPUS", "vcpus"},
    {"MEM-MIB", "mem_mib"}, {"DESIRED", "desired_instances"},
    {"ACTUAL", "status.instances"}, {"WARM", "status.warm/desired_warm"},
    {"BASE", "base_snapshot.state"}, {"BASE-ID", "base_snapshot.snapshot_id"},
    {"RECONCILE", "status.state"}, {"VERSION", "resource_version"},
    {"LABELS", "labels"}, {"NET-LIMITS", "network_limits"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__pool__descriptor, pool_columns, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_pool_object = {
    "pool", "worker pools: machine size, images, desired counts", verbs, views,
};

static const cli_verb snapshot_verbs[] = {
    {"get", &mvm__v1__pool_service__descriptor, "GetSnapshot", NULL, NULL, 0, NULL},
    {"list", &mvm__v1__pool_service__descriptor, "ListSnapshots", NULL, NULL, 0, NULL},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

static const cli_column snapshot_columns[] = {
    {"ID", "id"}, {"TENANT", "tenant"}, {"POOL", "pool"}, {"KIND", "kind"},
    {"STATE", "state"}, {"PARENT", "parent_id"}, {"SOURCE", "source_instance"},
    {"CLONES", "clones"}, {"BYTES", "allocated_bytes"}, {NULL, NULL},
};

static const cli_view snapshot_views[] = {
    {&mvm__v1__snapshot__descriptor, snapshot_columns, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_snapshot_object = {
    "snapshot", "snapshots clones are made from: lineage, clones, disk", snapshot_verbs,
    snapshot_views,
};
