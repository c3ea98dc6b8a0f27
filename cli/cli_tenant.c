/* cli_tenant.c - "mvm-cli tenant ...": TenantService verbs and columns. */
#include "cli.h"
#include "mvm/v1/tenant.pb-c.h"

static const cli_verb verbs[] = {
    {"create", &mvm__v1__tenant_service__descriptor, "CreateTenant", NULL, NULL, 0, NULL},
    {"get", &mvm__v1__tenant_service__descriptor, "GetTenant", NULL, NULL, 0, NULL},
    {"list", &mvm__v1__tenant_service__descriptor, "ListTenants", NULL, NULL, 0, NULL},
    {"update", &mvm__v1__tenant_service__descriptor, "UpdateTenant", NULL, NULL, 0, NULL},
    {"delete", &mvm__v1__tenant_service__descriptor, "DeleteTenant", NULL, "deleted", 0, NULL},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

static const cli_column tenant_columns[] = {
    {"NAME", "name+deleting"}, {"NET-ID", "net_id"}, {"SUBNET", "subnet"},
    {"POOLS", "usage.pools"}, {"INSTANCES", "usage.instances"},
    {"MAX-INSTANCES", "quota.max_instances"}, {"VERSION", "resource_version"},
    {"LABELS", "labels"}, {"EGRESS", "egress_cidrs"}, {NULL, NULL},
};

static const cli_view views[] = {
    {&mvm__v1__tenant__descriptor, tenant_columns, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

const cli_object cli_tenant_object = {
    "tenant", "tenants: a network, a quota, pools and instances", verbs, views,
};
