/* rpc_dispatch.c - the method registry and dispatch. Registering a
 * protobuf-c service adds one entry per method descriptor, keyed by its
 * path "/<package>.<Service>/<Method>"; its streaming kind comes from the
 * embedded descriptor set. Dispatch runs the handler inline on the I/O
 * thread (read-only methods: Get*, List*, Watch*, Check, and bidi streams)
 * or on the worker pool, through the service's generated invoke(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

static uint64_t path_hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

const rpc_method *rpc_registry_find(const rpc_registry *reg, const char *path, size_t len) {
    if (!reg->table_cap)
        return NULL;
    for (size_t i = path_hash(path, len) & (reg->table_cap - 1);; i = (i + 1) & (reg->table_cap - 1)) {
        const rpc_method *m = reg->table[i];
        if (!m)
            return NULL;
        if (m->path_len == len && memcmp(m->path, path, len) == 0)
            return m;
    }
}

static mvm_code rehash(rpc_registry *reg, mvm_error *err) {
    size_t cap = 16;
    while (cap < reg->nmethods * 3)
        cap *= 2;
    rpc_method **t = calloc(cap, sizeof *t);
    if (!t)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t k = 0; k < reg->nmethods; k++) {
        rpc_method *m = reg->methods[k];
        size_t i = path_hash(m->path, m->path_len) & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = m;
    }
    free(reg->table);
    reg->table = t;
    reg->table_cap = cap;
    return MVM_OK;
}

static bool reads_only(const char *method_name) {
    static const char *const prefixes[] = {"Get", "List", "Watch", "Check"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(method_name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

mvm_code rpc_registry_add(rpc_server *srv, ProtobufCService *service, void *user_data,
                          bool force_inline, mvm_error *err) {
    rpc_registry *reg = &srv->reg;
    const ProtobufCServiceDescriptor *sd = service->descriptor;
    char **svcs = realloc(reg->services, (reg->nservices + 1) * sizeof *svcs);
    rpc_method **ms = realloc(reg->methods, (reg->nmethods + sd->n_methods) * sizeof *ms);
    if (svcs)
        reg->services = svcs;
    if (ms)
        reg->methods = ms;
    if (!svcs || !ms)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    for (unsigned i = 0; i < sd->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &sd->methods[i];
        char path[256];
        snprintf(path, sizeof path, "/%s/%s", sd->name, md->name);
        if (rpc_registry_find(reg, path, strlen(path)))
            return mvm_fail(err, MVM_ALREADY_EXISTS, "method %s registered twice", path);
        rpc_kind kind;
        if (rpc_descset_method_kind(&srv->ds, path, &kind) != 0)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method %s is not in the embedded descriptor set: "
                            "rebuild with its .proto listed", path);
        if (kind == RPC_CLIENT_STREAM)
            return mvm_fail(err, MVM_UNIMPLEMENTED,
                            "method %s is client-streaming, which this server does not support", path);
        rpc_method *m = calloc(1, sizeof *m);
        if (!m || !(m->path = strdup(path))) {
            free(m);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        }
        m->path_len = strlen(path);
        m->service = service;
        m->index = i;
        m->desc = md;
        m->user_data = user_data;
        m->kind = kind;
        m->run_inline = force_inline || kind == RPC_BIDI || reads_only(md->name);
        reg->methods[reg->nmethods++] = m;
    }
    reg->services[reg->nservices] = strdup(sd->name);
    if (!reg->services[reg->nservices])
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    reg->nservices++;
    return rehash(reg, err);
}

void rpc_registry_free(rpc_registry *reg) {
    for (size_t i = 0; i < reg->nmethods; i++) {
        free(reg->methods[i]->path);
        free(reg->methods[i]);
    }
    for (size_t i = 0; i < reg->nservices; i++)
        free(reg->services[i]);
    free(reg->methods);
    free(reg->services);
    free(reg->table);
    memset(reg, 0, sizeof *reg);
}

/* ---- running handlers ---- */

static void invoke(rpc_call *call, ProtobufCMessage *req) {
    const rpc_method *m = call->method;
    m->service->invoke(m->service, m->index, req, rpc_closure, call);
    protobuf_c_message_free_unpacked(req, NULL);
}

typedef struct dispatch_job {
    rpc_call *call;
    ProtobufCMessage *req;
} dispatch_job;

static void run_job(void *arg) {
    dispatch_job *job = arg;
    if (rpc_call_cancelled(job->call))
        protobuf_c_message_free_unpacked(job->req, NULL); /* deadline or client gone: skip */
    else
        invoke(job->call, job->req);
    rpc_call_unref(job->call);
    free(job);
}

void rpc_dispatch(rpc_call *call, ProtobufCMessage *req) {
    if (call->method->run_inline) {
        invoke(call, req);
        return;
    }
    dispatch_job *job = malloc(sizeof *job);
    if (!job) {
        protobuf_c_message_free_unpacked(req, NULL);
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory queueing the call");
        return;
    }
    rpc_call_ref(call);
    job->call = call;
    job->req = req;
    rpc_workers_submit(call->loop->srv->workers, run_job, job);
}
