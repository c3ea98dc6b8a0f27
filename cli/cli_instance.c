/* cli_instance.c - "mvm-cli instance ...": InstanceService verbs, the
 * columns of instances and watch events, and console output written as it
 * comes (instance logs), and one row per clone of a fork. */
#include "cli.h"
#include "mvm/v1/instance.pb-c.h"

#define SVC (&mvm__v1__instance_service__descriptor)

static const cli_verb verbs[] = {
    {"create", SVC, "CreateInstance", NULL, NULL, 0, NULL},
    {"get", SVC, "GetInstance", NULL, NULL, 0, NULL},
    {"list", SVC, "ListInstances", NULL, NULL, 0, NULL},
    {"start", SVC, "StartInstance", NULL, NULL, 0, NULL},
    {"stop", SVC, "StopInstance", NULL, NULL, 0, NULL},
    {"pause", SVC, "PauseInstance", NULL, NULL, 0, NULL},
    {"sleep", SVC, "SleepInstance", NULL, NULL, 0, NULL},
    {"wake", SVC, "WakeInstance", NULL, NULL, 0, NULL},
    {"delete", SVC, "DeleteInstance", NULL, "deleted", 0, NULL},
    {"watch", SVC, "WatchInstances", NULL, NULL, 0, NULL},
    {"logs", SVC, "StreamConsole", NULL, NULL, 0, NULL},
    {"fork", SVC, "ForkInstances", NULL, NULL, 0, NULL},
    {"forward", SVC, "SetPortForwards", NULL, NULL, 0, NULL},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

static const cli_column instance_columns[] = {
    {"ID", "id"}, {"TENANT", "tenant"}, {"POOL", "pool"}, {"STATE", "state"},
    {"IP", "ip"}, {"VCPUS", "vcpus"}, {"MEM-MIB", "mem_mib"},
    {"MANAGED", "managed"}, {"LABELS", "labels"}, {"FORWARDS", "port_forwards"},
    {"NETNS", "netns"}, {NULL, NULL},
};

static const cli_column event_columns[] = {
    {"EVENT", "type"}, {"ID", "instance.id"}, {"TENANT", "instance.tenant"},
    {"POOL", "instance.pool"}, {"STATE", "instance.state"}, {"IP", "instance.ip"},
    {NULL, NULL},
};

static const cli_column fork_columns[] = {
    {"ID", "instance.id"}, {"STATE", "instance.state"}, {"IP", "instance.ip"},
    {"CODE", "code"}, {"MESSAGE", "message"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__fork_result__descriptor, fork_columns, 0, NULL, NULL},
    {&mvm__v1__instance__descriptor, instance_columns, 0, NULL, NULL},
    {&mvm__v1__instance_event__descriptor, event_columns, 0, NULL, NULL},
    {&mvm__v1__console_chunk__descriptor, NULL, 0, "data", NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_instance_object = {
    "instance", "microVM instances: create, drive, watch", verbs, views,
};
