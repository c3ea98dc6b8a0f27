/* rpc_health.c - grpc.health.v1.Health, built into every server: "" and each
 * registered service are SERVING from start until draining begins, then
 * NOT_SERVING. Check answers once (NOT_FOUND for unknown names); Watch
 * streams the status now and at each change. Nothing is sent while the
 * health lock is held. */
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc_internal.h"

typedef struct health_watcher {
    rpc_watcher link; /* in rpc_health.watchers */
    rpc_health *health;
    char service[]; /* the name watched */
} health_watcher;

struct rpc_health {
    Grpc__Health__V1__Health_Service service; /* first: the registered object */
    rpc_server *srv;
    pthread_mutex_t mu; /* guards serving */
    bool serving;
    rpc_watchers watchers;
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
    pthread_mutex_lock(&h->mu);
    bool serving = h->serving;
    pthread_mutex_unlock(&h->mu);
    return serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static void send_status(rpc_call *call, serving_status st) {
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    if (rpc_send(call, &resp.base) == MVM_RESOURCE_EXHAUSTED)
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED,
                  "out of memory sending a health status; watch again");
}

static void health_check(Grpc__Health__V1__Health_Service *svc,
                         const Grpc__Health__V1__HealthCheckRequest *req,
                         Grpc__Health__V1__HealthCheckResponse_Closure done, void *call) {
    rpc_health *h = (rpc_health *)svc;
    serving_status st = status_of(h, req->service);
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
    rpc_watchers_remove(&w->health->watchers, &w->link);
    free(w);
}

/* Declared inline (below): a status change that lands while this runs is
 * posted to the call's loop, which is running this handler, so it is sent
 * after the status sent here, never before. */
static void health_watch(Grpc__Health__V1__Health_Service *svc,
                         const Grpc__Health__V1__HealthCheckRequest *req,
                         Grpc__Health__V1__HealthCheckResponse_Closure done, void *call) {
    rpc_health *h = (rpc_health *)svc;
    size_t len = strlen(req->service);
    health_watcher *w = calloc(1, sizeof *w + len + 1);
    if (!w) {
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory opening a health watch");
        return;
    }
    memcpy(w->service, req->service, len + 1);
    w->health = h;
    rpc_call_on_end(call, watch_cancelled, w);
    rpc_watchers_add(&h->watchers, &w->link, call);
    send_status(call, status_of(h, w->service));
}

typedef struct status_note {
    rpc_call *call;
    serving_status status;
} status_note;

typedef struct status_notes {
    rpc_health *h;
    status_note *v;
    size_t n, cap;
} status_notes;

/* Collects each watcher's call (a reference) and new status, to send them
 * once the set's lock is released. */
static bool collect(rpc_watcher *link, void *arg) {
    status_notes *ns = arg;
    health_watcher *w = (health_watcher *)link;
    if (ns->n < ns->cap) {
        rpc_call_ref(link->call);
        ns->v[ns->n++] = (status_note){link->call, status_of(ns->h, w->service)};
    } else { /* out of memory for the list: this watcher cannot be told */
        rpc_failf(link->call, MVM_RESOURCE_EXHAUSTED,
                  "out of memory sending a health status change; watch again");
    }
    return false;
}

void rpc_health_set_all(rpc_health *h, bool serving) {
    pthread_mutex_lock(&h->mu);
    h->serving = serving;
    pthread_mutex_unlock(&h->mu);
    status_notes ns = {.h = h, .cap = rpc_watchers_count(&h->watchers) + 16};
    ns.v = malloc(ns.cap * sizeof *ns.v);
    if (!ns.v)
        ns.cap = 0;
    rpc_watchers_each(&h->watchers, collect, &ns);
    for (size_t i = 0; i < ns.n; i++) {
        send_status(ns.v[i].call, ns.v[i].status);
        rpc_call_unref(ns.v[i].call);
    }
    free(ns.v);
}

static const rpc_method_rule health_rules[] = {
    {"Check", RPC_EXEC_INLINE}, /* reads one flag */
    {"Watch", RPC_EXEC_INLINE}, /* must be inline: see health_watch */
};

mvm_code rpc_health_register(rpc_server *srv, mvm_error *err) {
    rpc_health *h = calloc(1, sizeof *h);
    if (!h)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "rpc: out of memory for health");
    h->service = (Grpc__Health__V1__Health_Service)GRPC__HEALTH__V1__HEALTH__INIT(health_);
    h->srv = srv;
    h->serving = true;
    pthread_mutex_init(&h->mu, NULL);
    rpc_watchers_init(&h->watchers);
    srv->health = h;
    return rpc_registry_add(srv, &h->service.base, health_rules, RPC_RULES(health_rules), h, err);
}

void rpc_health_free(rpc_health *h) {
    if (!h)
        return;
    rpc_watchers_destroy(&h->watchers);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
