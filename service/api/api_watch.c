/* api_watch.c - InstanceService.WatchInstances: a server stream fed by the
 * event bus (service/core/event_bus.h). With send_initial, the subscription
 * holds live events while the current instances are sent as ADDED from one
 * store snapshot, then releases only the events newer than that snapshot's
 * revision, so nothing is lost or sent twice. The stream ends when the
 * client cancels it, its deadline passes, a transport limit cuts it (a
 * client that does not read) or the server drains; the end hook then
 * unsubscribes and frees the watch. The transport never runs that hook
 * while this handler runs (rpc.h, "Callbacks"), so the listing below may
 * use the watch until it returns, even if a send inside it cut the stream. */
#include "api_internal.h"

#include <stdlib.h>

typedef struct watch {
    rpc_watcher link; /* in `watches` while subscribed */
    rpc_call *call;   /* the stream (the link holds the reference) */
    event_bus *bus;
    event_sub *sub;
    bool send_failed; /* out of memory queueing an initial event */
} watch;

/* Every open watch, so that api_stop can detach them from the bus. */
static rpc_watchers watches = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Bus callback, on the thread committing the change. */
static void watch_send(void *arg, const Mvm__V1__InstanceEvent *ev) {
    watch *w = arg;
    if (rpc_send(w->call, &ev->base) == MVM_RESOURCE_EXHAUSTED) /* CANCELLED: over already */
        rpc_failf(w->call, MVM_RESOURCE_EXHAUSTED,
                  "out of memory queueing an instance event: events were lost; watch again");
}

/* End hook, on the stream's I/O thread once the stream is over. */
static void watch_end(void *arg) {
    watch *w = arg;
    if (rpc_watchers_remove(&watches, &w->link)) /* else api_stop detached it */
        event_bus_unsubscribe(w->bus, w->sub);
    free(w);
}

static bool detach(rpc_watcher *link, void *bus) {
    watch *w = (watch *)link;
    if (w->bus != bus)
        return false;
    event_bus_unsubscribe(w->bus, w->sub);
    return true;
}

void api_watch_detach_all(event_bus *bus) {
    rpc_watchers_each(&watches, detach, bus);
}

static bool send_added(void *arg, const Mvm__V1__Instance *inst) {
    watch *w = arg;
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = MVM__V1__INSTANCE_EVENT__TYPE__ADDED;
    ev.instance = (Mvm__V1__Instance *)inst;
    mvm_code c = rpc_send(w->call, &ev.base);
    if (c == MVM_RESOURCE_EXHAUSTED)
        w->send_failed = true;
    return c == MVM_OK; /* CANCELLED: the stream is over, stop listing */
}

void inst_watch_instances(Mvm__V1__InstanceService_Service *svc,
                          const Mvm__V1__WatchInstancesRequest *req,
                          Mvm__V1__InstanceEvent_Closure done, void *call) {
    api_ctx *api = rpc_call_service_data(call);
    mvm_error err;
    const char *bad = req->tenant[0] && !store_name_valid(req->tenant) ? req->tenant
                      : req->pool[0] && !store_name_valid(req->pool)   ? req->pool
                                                                       : NULL;
    if (bad) {
        rpc_failf(call, MVM_INVALID_ARGUMENT, "\"%.80s\" is not a lowercase DNS label", bad);
        return;
    }
    watch *w = calloc(1, sizeof *w);
    if (!w) {
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory opening a watch");
        return;
    }
    w->call = call;
    w->bus = api->bus;
    if (event_bus_subscribe(api->bus, req->tenant, req->pool, req->send_initial, watch_send, w,
                            &w->sub, &err) != MVM_OK) {
        free(w);
        rpc_fail(call, &err);
        return;
    }
    rpc_watchers_add(&watches, &w->link, call);
    rpc_call_on_end(call, watch_end, w); /* from here on the hook frees w */
    if (!req->send_initial)
        return;
    uint64_t rev = 0;
    mvm_code c = store_instance_foreach(api->st, req->tenant, req->pool, send_added, w, &rev, &err);
    if (c == MVM_OK && w->send_failed)
        c = mvm_fail(&err, MVM_RESOURCE_EXHAUSTED,
                     "out of memory queueing the initial instances; watch again");
    mvm_code rc = event_bus_release(api->bus, w->sub, rev, c == MVM_OK ? &err : NULL);
    if (c == MVM_OK)
        c = rc;
    if (c != MVM_OK)
        api_fail(call, &err);
}
