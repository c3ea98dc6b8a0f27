/* rpc_watchers.c - a set of open streaming calls that outlive their
 * handlers (Watch streams), under one lock: membership holds a call
 * reference; removal is idempotent, so an end hook and a bulk detach can
 * race without a double release. */
#include "rpc_internal.h"

void rpc_watchers_init(rpc_watchers *ws) {
    pthread_mutex_init(&ws->mu, NULL);
    ws->head = NULL;
    ws->count = 0;
}

void rpc_watchers_destroy(rpc_watchers *ws) {
    pthread_mutex_destroy(&ws->mu);
}

void rpc_watchers_add(rpc_watchers *ws, rpc_watcher *w, rpc_call *call) {
    rpc_call_ref(call);
    pthread_mutex_lock(&ws->mu);
    w->call = call;
    w->member = true;
    w->prev = NULL;
    w->next = ws->head;
    if (ws->head)
        ws->head->prev = w;
    ws->head = w;
    ws->count++;
    pthread_mutex_unlock(&ws->mu);
}

/* Under ws->mu: unlinks w; returns its call for the caller to release. */
static rpc_call *unlink_locked(rpc_watchers *ws, rpc_watcher *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        ws->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->member = false;
    ws->count--;
    rpc_call *call = w->call;
    w->call = NULL;
    return call;
}

bool rpc_watchers_remove(rpc_watchers *ws, rpc_watcher *w) {
    pthread_mutex_lock(&ws->mu);
    rpc_call *call = w->member ? unlink_locked(ws, w) : NULL;
    pthread_mutex_unlock(&ws->mu);
    if (call)
        rpc_call_unref(call);
    return call != NULL;
}

void rpc_watchers_each(rpc_watchers *ws, bool (*fn)(rpc_watcher *w, void *arg), void *arg) {
    pthread_mutex_lock(&ws->mu);
    for (rpc_watcher *w = ws->head, *next; w; w = next) {
        next = w->next;
        if (fn(w, arg))
            rpc_call_unref(unlink_locked(ws, w)); /* frees nothing of the set's */
    }
    pthread_mutex_unlock(&ws->mu);
}

unsigned rpc_watchers_count(rpc_watchers *ws) {
    pthread_mutex_lock(&ws->mu);
    unsigned n = ws->count;
    pthread_mutex_unlock(&ws->mu);
    return n;
}
