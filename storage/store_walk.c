/* store_walk.c - walking every tenant in one read snapshot, for the callers
 * that must see all of them at once (the host network follows the tenants:
 * one bridge each, one host nftables plan for all). */
#include "store_internal.h"

typedef struct {
    store_tenant_fn fn;
    void *arg;
} tenant_walk_ctx;

static bool tenant_walk_one(void *arg, const ProtobufCMessage *m) {
    tenant_walk_ctx *f = arg;
    return f->fn(f->arg, (const Mvm__V1__Tenant *)m);
}

mvm_code store_tenant_foreach(store *st, store_tenant_fn fn, void *arg, mvm_error *err) {
    tenant_walk_ctx f = {fn, arg};
    return store_foreach(st, st->tenants, NULL, &mvm__v1__tenant__descriptor, tenant_walk_one, &f,
                         NULL, err);
}
