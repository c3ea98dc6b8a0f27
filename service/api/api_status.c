/* api_status.c - NodeService.GetStatus and WatchStatus: the reconcile
 * loop's view of the node (service/core/core_status.c). WatchStatus
 * subscribes to it: the current status is sent at once, then each new one.
 * The stream ends when the client cancels it, its deadline passes, a
 * transport limit cuts it (a client that does not read) or the server
 * drains; the end hook then unsubscribes and frees the watch, as in
 * api_watch.c. */
#include "api_internal.h"

#include <stdlib.h>

typedef struct status_watch {
    rpc_watcher link; /* in `watches` while subscribed */
    rpc_call *call;
    core *core;
    core_status_sub *sub;
} status_watch;

static rpc_watchers watches = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Status callback: on the reconcile thread, or in the handler (the first). */
static void status_send(void *arg, const Mvm__V1__NodeStatus *st) {
    status_watch *w = arg;
    if (rpc_send(w->call, &st->base) == MVM_RESOURCE_EXHAUSTED) /* CANCELLED: over already */
        rpc_failf(w->call, MVM_RESOURCE_EXHAUSTED,
                  "out of memory queueing a node status; watch again");
}

/* End hook, on the stream's I/O thread once the stream is over. */
static void status_end(void *arg) {
    status_watch *w = arg;
    if (rpc_watchers_remove(&watches, &w->link)) /* else api_stop detached it */
        core_status_unsubscribe(w->core, w->sub);
    free(w);
}

static bool detach(rpc_watcher *link, void *core_) {
    status_watch *w = (status_watch *)link;
    if (w->core != core_)
        return false;
    core_status_unsubscribe(w->core, w->sub);
    return true;
}

void api_status_detach_all(core *c) {
    rpc_watchers_each(&watches, detach, c);
}

void node_watch_status(Mvm__V1__NodeService_Service *svc, const Mvm__V1__GetStatusRequest *req,
                       Mvm__V1__NodeStatus_Closure done, void *call) {
    (void)svc;
    (void)req;
    (void)done;
    mvm_error err;
    status_watch *w = calloc(1, sizeof *w);
    if (!w) {
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory opening a status watch");
        return;
    }
    w->call = call;
    w->core = API(call)->core;
    /* a member before the first send, so that api_stop can always find it */
    rpc_watchers_add(&watches, &w->link, call);
    if (core_status_subscribe(w->core, status_send, w, &w->sub, &err) != MVM_OK) {
        rpc_watchers_remove(&watches, &w->link);
        free(w);
        rpc_fail(call, &err);
        return;
    }
    rpc_call_on_end(call, status_end, w); /* from here on the hook frees w */
}

void node_get_status(Mvm__V1__NodeService_Service *svc, const Mvm__V1__GetStatusRequest *req,
                     Mvm__V1__NodeStatus_Closure done, void *call) {
    (void)svc;
    (void)req;
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__NodeStatus *st = NULL;
    mvm_code c = core_status_get(API(call)->core, a, &st, &err);
    API_REPLY(call, c, &err, done, st, a);
}
