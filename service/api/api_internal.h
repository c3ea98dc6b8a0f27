/* api_internal.h - what the service/api/ files share: the api context, the
 * watch event bus, the per-thread reply arena, the Firecracker probe, and
 * the service descriptors each api_<service>.c defines. */
#ifndef MVM_API_INTERNAL_H
#define MVM_API_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/node.pb-c.h"
#include "mvm/v1/pool.pb-c.h"
#include "mvm/v1/tenant.pb-c.h"
#include "core.h"
#include "store.h"
#include "vmm.h"

/* ---- watch event bus (api_events.c) ---- */

typedef struct api_events api_events;
typedef struct api_sub api_sub;
/* Called with each event for a subscriber, under the bus lock: must not
 * block nor (un)subscribe. */
typedef void (*api_sub_fn)(void *arg, const Mvm__V1__InstanceEvent *ev);

api_events *api_events_new(void);
/* Frees the bus and any subscriptions left (their callbacks are not run). */
void api_events_free(api_events *b);
/* A store_instance_hook: fans an event out to the matching subscribers. */
void api_events_publish(void *bus, Mvm__V1__InstanceEvent__Type type,
                        const Mvm__V1__Instance *inst, uint64_t rev);
/* Subscribes to events of tenant/pool (NULL or "": all). With hold, events
 * are queued until api_events_release. Returns NULL when out of memory. */
api_sub *api_events_subscribe(api_events *b, const char *tenant, const char *pool,
                              bool hold, api_sub_fn fn, void *arg);
/* Delivers the queued events with rev > after_rev, then goes live. */
void api_events_release(api_events *b, api_sub *s, uint64_t after_rev);
/* After this returns, fn is never called again for s. */
void api_events_unsubscribe(api_events *b, api_sub *s);
/* Number of subscribers (for metrics and tests). */
unsigned api_events_count(api_events *b);

/* ---- per-thread reply arena (api_arena.c) ---- */

/* A bump allocator for one call's reply on this thread: free is a no-op;
 * api_arena_reset() releases everything at once. */
ProtobufCAllocator *api_arena(void);
void api_arena_reset(void);

/* ---- the context ---- */

struct api_ctx {
    store *st;
    api_events *bus;
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

/* Ends every open watch's subscription to bus (api_stop); the watches'
 * own cancel callbacks then only release their calls. */
void api_watch_detach_all(api_events *bus);

#endif
