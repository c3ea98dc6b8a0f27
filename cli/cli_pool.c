/* cli_pool.c - "mvm-cli pool ...": PoolService verbs and columns. */
#include "cli.h"
#include "mvm/v1/pool.pb-c.h"

static const cli_verb verbs[] = {
    {"create", &mvm__v1__pool_service__descriptor, "CreatePool", NULL, NULL},
    {"get", &mvm__v1__pool_service__descriptor, "GetPool", NULL, NULL},
    {"list", &mvm__v1__pool_service__descriptor, "ListPools", NULL, NULL},
    {"update", &mvm__v1__pool_service__descriptor, "UpdatePool", NULL, NULL},
    {"delete", &mvm__v1__pool_service__descriptor, "DeletePool", NULL, "deleted"},
    {NULL, NULL, NULL, NULL, NULL},
};

static const cli_column pool_columns[] = {
    {"TENANT", "tenant"}, {"NAME", "name"}, {"VCPUS", "vcpus"},
    {"MEM-MIB", "mem_mib"}, {"DESIRED", "desired_instances"},
    {"WARM", "desired_warm"}, {"SNAPSHOT", "base_snapshot.state"},
    {"VERSION", "resource_version"}, {"LABELS", "labels"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__pool__descriptor, pool_columns, 0, NULL},
    {NULL, NULL, 0, NULL},
};

const cli_object cli_pool_object = {
    "pool", "worker pools: machine size, images, desired counts", verbs, views,
};
