/* api_internal.h - what the service/api/ files share: the api context, the
 * per-thread reply arena, the Firecracker probe, the service descriptors
 * each api_<service>.c defines and the method table (api_methods.c). The
 * instance event bus Watch subscribes to is service/core's event_bus.h. */
#ifndef MVM_API_INTERNAL_H
#define MVM_API_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "event_bus.h"
#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/node.pb-c.h"
#include "mvm/v1/pool.pb-c.h"
#include "mvm/v1/tenant.pb-c.h"
#include "core.h"
#include "store.h"
#include "vmm.h"

/* ---- per-thread reply arena (api_arena.c) ---- */

/* A bump allocator for one call's reply on this thread: free is a no-op;
 * api_arena_reset() releases everything at once. */
ProtobufCAllocator *api_arena(void);
void api_arena_reset(void);

/* ---- the context ---- */

struct api_ctx {
    store *st;
    event_bus *bus;
    vmm_host *vmm;
    core *core;
    char *version;
    time_t start_wall;
    struct timespec start_mono;
};

/* The caller, for audit records. */
store_actor api_actor(void *call);
/* Frees a reply once done() has packed it (a: the allocator it came from). */
void api_reply_free(ProtobufCMessage *m, ProtobufCAllocator *a);
/* The api_ctx a call's service was registered with. */
#define API(call) ((api_ctx *)rpc_call_service_data(call))

/* Ends a unary handler: fails the call with *err unless c is MVM_OK, else
 * replies with reply (allocated from a) and frees it. */
#define API_REPLY(call, c, err, done, reply, a)                               \
    do {                                                                      \
        if ((c) != MVM_OK) {                                                  \
            api_reply_free(NULL, a); /* what a failed call left in a */       \
            api_fail(call, err);                                              \
            return;                                                           \
        }                                                                     \
        done(reply, call);                                                    \
        api_reply_free(&(reply)->base, a);                                    \
    } while (0)

/* Finishes a call with err (or a generic error if err is unset). */
void api_fail(void *call, const mvm_error *err);

extern Mvm__V1__TenantService_Service api_tenant_service;
extern Mvm__V1__PoolService_Service api_pool_service;
extern Mvm__V1__InstanceService_Service api_instance_service;
extern Mvm__V1__NodeService_Service api_node_service;

/* The mvm.v1 services with their method tables (api_methods.c), in
 * registration order. */
typedef struct api_service {
    ProtobufCService *service;
    const rpc_method_rule *rules;
    size_t nrules;
} api_service;
extern const api_service api_services[];
extern const size_t api_nservices;

/* Ends every open watch's subscription to bus (api_stop); the watches'
 * own end hooks then only free their state. */
void api_watch_detach_all(event_bus *bus);
/* TEMPORARY until h8-store merges */
mvm_code store_apply(store *st, const store_actor *who, const Mvm__V1__ApplyRequest *req,
                     ProtobufCAllocator *alloc, Mvm__V1__ApplyResponse **out, mvm_error *err);
/* NodeService.GetStatus and WatchStatus (api_status.c). */
void node_get_status(Mvm__V1__NodeService_Service *svc, const Mvm__V1__GetStatusRequest *req,
                     Mvm__V1__NodeStatus_Closure done, void *call);
void node_watch_status(Mvm__V1__NodeService_Service *svc, const Mvm__V1__GetStatusRequest *req,
                       Mvm__V1__NodeStatus_Closure done, void *call);
/* Ends every WatchStatus stream's subscription to c (before core_free). */
void api_status_detach_all(core *c);

#endif
