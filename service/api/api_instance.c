/* api_instance.c - mvm.v1.InstanceService unary handlers and the console
 * stream: create, get, list, delete and the lifecycle calls (start, stop,
 * pause, sleep, wake) go to core/ (which records each operation's steps
 * and drives Firecracker); reads and SetPortForwards go to the store. WatchInstances lives in
 * api_watch.c. */
#include "api_internal.h"

#include <stdlib.h>

#include "instance_state.h"

#include <stdio.h>

static void inst_create_instance(Mvm__V1__InstanceService_Service *svc,
                                 const Mvm__V1__CreateInstanceRequest *req,
                                 Mvm__V1__Instance_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    mvm_code c = core_instance_create(API(call)->core, &who, req, a, &i, &err);
    if (!c)
        core_instance_decorate(API(call)->core, i, a);
    mvm_error e2; /* its forwards into the host table (retried by the reconcile loop) */
    if (!c && i->n_port_forwards && core_net_sync(API(call)->core, &e2) != MVM_OK)
        fprintf(stderr, "mvmd: CreateInstance %s: %s\n", i->id, e2.msg);
    API_REPLY(call, c, &err, done, i, a);
}

static void inst_get_instance(Mvm__V1__InstanceService_Service *svc,
                              const Mvm__V1__GetInstanceRequest *req,
                              Mvm__V1__Instance_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    /* Ids are unique on the node: without a tenant, the id alone finds it. */
    mvm_code c = req->tenant && req->tenant[0]
                     ? store_instance_get(API(call)->st, req->tenant, req->id, a, &i, &err)
                     : store_instance_find(API(call)->st, req->id, a, &i, &err);
    if (!c)
        core_instance_decorate(API(call)->core, i, a);
    API_REPLY(call, c, &err, done, i, a);
}

static void inst_list_instances(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__ListInstancesRequest *req,
                                Mvm__V1__ListInstancesResponse_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    store_list_opts o = {.tenant = req->tenant, .pool = req->pool, .page_size = req->page_size,
                         .page_token = req->page_token, .label_selector = req->label_selector};
    Mvm__V1__ListInstancesResponse *r;
    mvm_code c = store_instance_list(API(call)->st, &o, a, &r, &err);
    for (size_t k = 0; !c && k < r->n_instances; k++)
        core_instance_decorate(API(call)->core, r->instances[k], a);
    API_REPLY(call, c, &err, done, r, a);
}

static void inst_fork_instances(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__ForkInstancesRequest *req,
                                Mvm__V1__ForkInstancesResponse_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__ForkInstancesResponse *r = NULL;
    mvm_code c = core_instance_fork(API(call)->core, &who, req, a, &r, &err);
    API_REPLY(call, c, &err, done, r, a);
}

typedef mvm_code (*lifecycle_fn)(core *c, const store_actor *who, const char *tenant,
                                 const char *id, ProtobufCAllocator *alloc,
                                 Mvm__V1__Instance **out, mvm_error *err);

static void lifecycle(void *call, const char *tenant, const char *id, lifecycle_fn fn,
                      Mvm__V1__Instance_Closure done) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    mvm_code c = fn(API(call)->core, &who, tenant, id, a, &i, &err);
    API_REPLY(call, c, &err, done, i, a);
}

static void inst_start_instance(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__StartInstanceRequest *req,
                                Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, core_instance_start, done);
}

static void inst_stop_instance(Mvm__V1__InstanceService_Service *svc,
                               const Mvm__V1__StopInstanceRequest *req,
                               Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, core_instance_stop, done);
}

static void inst_pause_instance(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__PauseInstanceRequest *req,
                                Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, core_instance_pause, done);
}

static void inst_sleep_instance(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__SleepInstanceRequest *req,
                                Mvm__V1__Instance_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    mvm_code c = core_instance_sleep(API(call)->core, &who, req->tenant, req->id,
                                     req->ttl_seconds, a, &i, &err);
    API_REPLY(call, c, &err, done, i, a);
}

static void inst_wake_instance(Mvm__V1__InstanceService_Service *svc,
                               const Mvm__V1__WakeInstanceRequest *req,
                               Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, core_instance_wake, done);
}

static void inst_delete_instance(Mvm__V1__InstanceService_Service *svc,
                                 const Mvm__V1__DeleteInstanceRequest *req,
                                 Mvm__V1__DeleteInstanceResponse_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    if (core_instance_delete(API(call)->core, &who, req->tenant, req->id, &err) != MVM_OK) {
        api_fail(call, &err);
        return;
    }
    Mvm__V1__DeleteInstanceResponse r = MVM__V1__DELETE_INSTANCE_RESPONSE__INIT;
    done(&r, call);
}

/* Port forwards are a record change the store checks and makes in one
 * write (the host ports' uniqueness included); then the host table is
 * synced, so the forwards work when the call returns (a kernel failure is
 * retried by the reconcile loop and logged). */
static void inst_set_port_forwards(Mvm__V1__InstanceService_Service *svc,
                                   const Mvm__V1__SetPortForwardsRequest *req,
                                   Mvm__V1__Instance_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    mvm_code c = store_instance_set_port_forwards(API(call)->st, &who, req->tenant, req->id,
                                                  req->port_forwards, req->n_port_forwards,
                                                  req->resource_version, a, &i, &err);
    if (!c)
        core_instance_decorate(API(call)->core, i, a);
    mvm_error e2;
    if (!c && core_net_sync(API(call)->core, &e2) != MVM_OK)
        fprintf(stderr, "mvmd: SetPortForwards %s: %s\n", req->id, e2.msg);
    API_REPLY(call, c, &err, done, i, a);
}

/* ---- StreamConsole ---- */

typedef struct console_stream {
    rpc_call *call;
    core *core;
    core_console_sub *sub;
} console_stream;

static void console_data(void *arg, const uint8_t *data, size_t len, uint64_t offset) {
    console_stream *cs = arg;
    Mvm__V1__ConsoleChunk ch = MVM__V1__CONSOLE_CHUNK__INIT;
    ch.data.data = (uint8_t *)data;
    ch.data.len = len;
    ch.offset = offset;
    rpc_send(cs->call, &ch.base); /* CANCELLED: the end hook unfollows */
}

static void console_end(void *arg) {
    console_stream *cs = arg;
    rpc_finish(cs->call, NULL); /* the instance was deleted */
}

/* The end hook: the call is over (cancelled, deadline, or finished after
 * the instance was deleted); no callback of the subscription runs after
 * core_console_unfollow returns. */
static void console_ended(void *arg) {
    console_stream *cs = arg;
    core_console_unfollow(cs->core, cs->sub);
    rpc_call_unref(cs->call);
    free(cs);
}

static void inst_stream_console(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__StreamConsoleRequest *req,
                                Mvm__V1__ConsoleChunk_Closure done, void *call) {
    mvm_error err;
    console_stream *cs = calloc(1, sizeof *cs);
    if (!cs) {
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    cs->call = call;
    cs->core = API(call)->core;
    rpc_call_ref(call);
    mvm_code c = core_console_follow(cs->core, req->tenant, req->id, req->follow, req->tail_bytes,
                                     console_data, console_end, cs, &cs->sub, &err);
    if (c != MVM_OK || !cs->sub) {
        if (c != MVM_OK)
            api_fail(call, &err);
        else
            rpc_finish(call, NULL);
        rpc_call_unref(call);
        free(cs);
        return;
    }
    rpc_call_on_end(call, console_ended, cs);
}

/* api_watch.c */
void inst_watch_instances(Mvm__V1__InstanceService_Service *svc,
                          const Mvm__V1__WatchInstancesRequest *req,
                          Mvm__V1__InstanceEvent_Closure done, void *call);

Mvm__V1__InstanceService_Service api_instance_service = MVM__V1__INSTANCE_SERVICE__INIT(inst_);
