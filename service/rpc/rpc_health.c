/* rpc_health.c - grpc.health.v1.Health, built into every server: "" and each
 * registered service are SERVING from start until draining begins, then
 * NOT_SERVING. Check answers once (NOT_FOUND for unknown names); Watch
 * streams the status now and at each change. */
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc_internal.h"

typedef struct health_watcher {
    struct health_watcher *next, *prev;
    rpc_call *call;
    char *service;
    rpc_health *health;
} health_watcher;

struct rpc_health {
    Grpc__Health__V1__Health_Service service; /* first: the registered object */
    rpc_server *srv;
    pthread_mutex_t mu;
    bool serving;
    health_watcher *watches;
};

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;

static bool known(rpc_health *h, const char *name) {
    if (!name[0])
        return true;
    for (size_t i = 0; i < h->srv->reg.nservices; i++)
        if (strcmp(h->srv->reg.services[i], name) == 0)
            return true;
    return false;
}

static serving_status status_of(rpc_health *h, const char *name) {
    if (!known(h, name))
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return h->serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static void send_status(rpc_call *call, serving_status st) {
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    rpc_send(call, &resp.base);
}

static void health_check(Grpc__Health__V1__Health_Service *svc,
                         const Grpc__Health__V1__HealthCheckRequest *req,
                         Grpc__Health__V1__HealthCheckResponse_Closure done, void *call) {
    rpc_health *h = (rpc_health *)svc;
    pthread_mutex_lock(&h->mu);
    serving_status st = status_of(h, req->service);
    pthread_mutex_unlock(&h->mu);
    if (st == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
        rpc_failf(call, MVM_NOT_FOUND, "unknown service \"%s\"", req->service);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    done(&resp, call);
}

static void watch_cancelled(void *arg) {
    health_watcher *w = arg;
    rpc_health *h = w->health;
    pthread_mutex_lock(&h->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        h->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&h->mu);
    rpc_call_unref(w->call);
    free(w->service);
    free(w);
}

static void health_watch(Grpc__Health__V1__Health_Service *svc,
                            const Grpc__Health__V1__HealthCheckRequest *req,
                            Grpc__Health__V1__HealthCheckResponse_Closure done, void *call) {
    rpc_health *h = (rpc_health *)svc;
    health_watcher *w = calloc(1, sizeof *w);
    if (!w || !(w->service = strdup(req->service))) {
        free(w);
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = call;
    w->health = h;
    rpc_call_ref(call);
    rpc_call_on_cancel(call, watch_cancelled, w);
    pthread_mutex_lock(&h->mu);
    w->next = h->watches;
    if (h->watches)
        h->watches->prev = w;
    h->watches = w;
    send_status(call, status_of(h, req->service));
    pthread_mutex_unlock(&h->mu);
}

mvm_code rpc_health_register(rpc_server *srv, mvm_error *err) {
    rpc_health *h = calloc(1, sizeof *h);
    if (!h)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    h->service = (Grpc__Health__V1__Health_Service)GRPC__HEALTH__V1__HEALTH__INIT(health_);
    h->srv = srv;
    h->serving = true;
    pthread_mutex_init(&h->mu, NULL);
    srv->health = h;
    return rpc_registry_add(srv, &h->service.base, h, true, err);
}

void rpc_health_set_all(rpc_health *h, bool serving) {
    pthread_mutex_lock(&h->mu);
    h->serving = serving;
    for (health_watcher *w = h->watches; w; w = w->next)
        send_status(w->call, status_of(h, w->service));
    pthread_mutex_unlock(&h->mu);
}

void rpc_health_free(rpc_health *h) {
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}
