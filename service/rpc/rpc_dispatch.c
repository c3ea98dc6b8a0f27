/* rpc_dispatch.c - the method registry and dispatch. Registering a
 * protobuf-c service adds one entry per method descriptor, keyed by its
 * path "/<package>.<Service>/<Method>"; its streaming kind comes from the
 * embedded descriptor set, and where it runs from the service's method
 * table (rpc_method_rule), which must declare every method and nothing else.
 * Dispatch runs the handler inline on the I/O thread or on the worker pool,
 * through the service's generated invoke(). */
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

/* The rule for method name in rules[0..n), checking the table as a whole
 * against the service: every method once, every rule a method. */
static mvm_code check_rules(const ProtobufCServiceDescriptor *sd, const rpc_method_rule *rules,
                            size_t n, mvm_error *err) {
    for (size_t r = 0; r < n; r++) {
        const char *name = rules[r].method;
        if (!name)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method table of %s: entry %zu names no method", sd->name, r);
        bool found = false;
        for (unsigned i = 0; i < sd->n_methods && !found; i++)
            found = strcmp(sd->methods[i].name, name) == 0;
        if (!found)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method table of %s: entry \"%s\" names no method of the service "
                            "(renamed or removed from the .proto?)", sd->name, name);
        for (size_t q = 0; q < r; q++)
            if (strcmp(rules[q].method, name) == 0)
                return mvm_fail(err, MVM_FAILED_PRECONDITION,
                                "method table of %s: \"%s\" has two entries", sd->name, name);
        if (rules[r].exec != RPC_EXEC_INLINE && rules[r].exec != RPC_EXEC_WORKER)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method table of %s: \"%s\" declares no valid exec "
                            "(RPC_EXEC_INLINE or RPC_EXEC_WORKER)", sd->name, name);
    }
    return MVM_OK;
}

static const rpc_method_rule *rule_for(const rpc_method_rule *rules, size_t n, const char *name) {
    for (size_t r = 0; r < n; r++)
        if (strcmp(rules[r].method, name) == 0)
            return &rules[r];
    return NULL;
}

mvm_code rpc_registry_add(rpc_server *srv, ProtobufCService *service,
                          const rpc_method_rule *rules, size_t nrules, void *user_data,
                          mvm_error *err) {
    rpc_registry *reg = &srv->reg;
    const ProtobufCServiceDescriptor *sd = service->descriptor;
    if (check_rules(sd, rules, nrules, err) != MVM_OK)
        return err->code;
    char **svcs = realloc(reg->services, (reg->nservices + 1) * sizeof *svcs);
    if (svcs)
        reg->services = svcs;
    rpc_method **ms = realloc(reg->methods, (reg->nmethods + sd->n_methods) * sizeof *ms);
    if (ms)
        reg->methods = ms;
    if (!svcs || !ms)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory registering %s", sd->name);
    for (unsigned i = 0; i < sd->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &sd->methods[i];
        char path[256];
        snprintf(path, sizeof path, "/%s/%s", sd->name, md->name);
        const rpc_method_rule *rule = rule_for(rules, nrules, md->name);
        if (!rule)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method %s has no entry in its service's method table: declare "
                            "whether it runs inline (RPC_EXEC_INLINE) or on a worker "
                            "(RPC_EXEC_WORKER)", path);
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
        if (kind == RPC_BIDI && rule->exec != RPC_EXEC_INLINE)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "method %s is bidirectional: its handler runs once per message, in "
                            "order, so it must be declared RPC_EXEC_INLINE", path);
        rpc_method *m = calloc(1, sizeof *m);
        if (!m || !(m->path = strdup(path))) {
            free(m);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory registering %s", path);
        }
        m->path_len = strlen(path);
        m->service = service;
        m->index = i;
        m->desc = md;
        m->user_data = user_data;
        m->kind = kind;
        m->exec = rule->exec;
        reg->methods[reg->nmethods++] = m;
    }
    reg->services[reg->nservices] = strdup(sd->name);
    if (!reg->services[reg->nservices])
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory registering %s", sd->name);
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
    rpc_call_handler_leave(job->call);
    rpc_call_unref(job->call);
    free(job);
}

void rpc_dispatch(rpc_call *call, ProtobufCMessage *req) {
    rpc_call_handler_enter(call); /* the call's end hook waits for it */
    if (call->method->exec == RPC_EXEC_INLINE) {
        invoke(call, req);
        rpc_call_handler_leave(call);
        return;
    }
    dispatch_job *job = malloc(sizeof *job);
    if (job) {
        rpc_call_ref(call);
        job->call = call;
        job->req = req;
        if (rpc_workers_submit(call->loop->srv->workers, run_job, job))
            return;
        rpc_call_unref(call);
        free(job);
    }
    protobuf_c_message_free_unpacked(req, NULL);
    rpc_call_handler_leave(call);
    rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory queueing the call for a worker");
}
