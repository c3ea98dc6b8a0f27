/* api_watch.c - InstanceService.WatchInstances: a server stream fed by the
 * event bus. With send_initial, the subscription holds live events while
 * the current instances are sent as ADDED from one store snapshot, then
 * releases only the events newer than that snapshot's revision, so nothing
 * is lost or sent twice. The stream ends when the client cancels it, its
 * deadline passes or the server drains; the cancel callback unsubscribes. */
#include "api_internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct watch {
    struct watch *next, *prev;
    rpc_call *call;
    api_events *bus;
    api_sub *sub; /* NULL once detached */
} watch;

/* Every open watch, so api_stop can detach them from the bus. */
static pthread_mutex_t watches_mu = PTHREAD_MUTEX_INITIALIZER;
static watch *watches;

static void watch_send(void *arg, const Mvm__V1__InstanceEvent *ev) {
    watch *w = arg;
    rpc_send(w->call, &ev->base); /* CANCELLED: the cancel callback cleans up */
}

static void watch_unlink(watch *w) {
    if (w->prev)
        w->prev->next = w->next;
    else if (watches == w)
        watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static void watch_end(void *arg) {
    watch *w = arg;
    pthread_mutex_lock(&watches_mu);
    if (w->sub)
        api_events_unsubscribe(w->bus, w->sub);
    w->sub = NULL;
    watch_unlink(w);
    pthread_mutex_unlock(&watches_mu);
    rpc_call_unref(w->call);
    free(w);
}

void api_watch_detach_all(api_events *bus) {
    pthread_mutex_lock(&watches_mu);
    for (watch *w = watches, *next; w; w = next) {
        next = w->next;
        if (w->bus != bus)
            continue;
        if (w->sub)
            api_events_unsubscribe(bus, w->sub);
        w->sub = NULL;
        watch_unlink(w);
    }
    pthread_mutex_unlock(&watches_mu);
}

static bool send_added(void *arg, const Mvm__V1__Instance *inst) {
    watch *w = arg;
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = MVM__V1__INSTANCE_EVENT__TYPE__ADDED;
    ev.instance = (Mvm__V1__Instance *)inst;
    return rpc_send(w->call, &ev.base) == MVM_OK;
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
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = call;
    w->bus = api->bus;
    rpc_call_ref(call);
    pthread_mutex_lock(&watches_mu);
    w->sub = api_events_subscribe(api->bus, req->tenant, req->pool, req->send_initial,
                                  watch_send, w);
    if (w->sub) {
        w->next = watches;
        if (watches)
            watches->prev = w;
        watches = w;
    }
    pthread_mutex_unlock(&watches_mu);
    if (!w->sub) {
        rpc_call_unref(call);
        free(w);
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_on_cancel(call, watch_end, w);
    if (req->send_initial) {
        uint64_t rev = 0;
        mvm_code c = store_instance_foreach(api->st, req->tenant, req->pool, send_added, w,
                                            &rev, &err);
        api_events_release(api->bus, w->sub, rev);
        if (c) { /* the handler ends the stream: no cancel callback then */
            rpc_call_on_cancel(call, NULL, NULL);
            rpc_fail(call, &err);
            watch_end(w);
        }
    }
}
