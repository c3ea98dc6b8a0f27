/* cli_health.c - "mvm-cli health check|watch [service]": grpc.health.v1. */
#include "cli.h"
#include "grpc/health/v1/health.pb-c.h"

static const cli_verb verbs[] = {
    {"check", &grpc__health__v1__health__descriptor, "Check", "service", NULL, 0, NULL},
    {"watch", &grpc__health__v1__health__descriptor, "Watch", "service", NULL, 0, NULL},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

static const cli_column status_columns[] = {
    {"STATUS", "status"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&grpc__health__v1__health_check_response__descriptor, status_columns, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_health_object = {
    "health", "the standard gRPC health service", verbs, views,
};
