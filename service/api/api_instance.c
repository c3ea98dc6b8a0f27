/* api_instance.c - mvm.v1.InstanceService unary handlers: create, get,
 * list, delete, and the lifecycle calls (Start/Stop/Sleep/Wake), which are
 * checked against the state machine (service/core/instance_state.c) and,
 * until the Firecracker driver lands, answer UNIMPLEMENTED changing nothing.
 * WatchInstances lives in api_watch.c. */
#include "api_internal.h"

#include "instance_state.h"

static void inst_create_instance(Mvm__V1__InstanceService_Service *svc,
                                 const Mvm__V1__CreateInstanceRequest *req,
                                 Mvm__V1__Instance_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    mvm_code c = store_instance_create(API(call)->st, &who, req, a, &i, &err);
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
    API_REPLY(call, c, &err, done, r, a);
}

/* The lifecycle calls: NOT_FOUND, FAILED_PRECONDITION for a transition the
 * state machine refuses, else UNIMPLEMENTED (no driver yet). */
static void lifecycle(void *call, const char *tenant, const char *id, instance_action act) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Instance *i;
    if (store_instance_get(API(call)->st, tenant, id, a, &i, &err) != MVM_OK) {
        api_reply_free(NULL, a);
        api_fail(call, &err);
        return;
    }
    instance_state from = i->state;
    api_reply_free(&i->base, a);
    if (instance_action_check(act, from, id, &err) == MVM_OK)
        mvm_fail(&err, MVM_UNIMPLEMENTED,
                 "%s: the Firecracker driver is not in this build yet (instance %s stays %s)",
                 instance_action_name(act), id, instance_state_name(from));
    api_fail(call, &err);
}

static void inst_start_instance(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__StartInstanceRequest *req,
                                Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, INSTANCE_ACTION_START);
}

static void inst_stop_instance(Mvm__V1__InstanceService_Service *svc,
                               const Mvm__V1__StopInstanceRequest *req,
                               Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, INSTANCE_ACTION_STOP);
}

static void inst_sleep_instance(Mvm__V1__InstanceService_Service *svc,
                                const Mvm__V1__SleepInstanceRequest *req,
                                Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, INSTANCE_ACTION_SLEEP);
}

static void inst_wake_instance(Mvm__V1__InstanceService_Service *svc,
                               const Mvm__V1__WakeInstanceRequest *req,
                               Mvm__V1__Instance_Closure done, void *call) {
    lifecycle(call, req->tenant, req->id, INSTANCE_ACTION_WAKE);
}

static void inst_delete_instance(Mvm__V1__InstanceService_Service *svc,
                                 const Mvm__V1__DeleteInstanceRequest *req,
                                 Mvm__V1__DeleteInstanceResponse_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    if (store_instance_delete(API(call)->st, &who, req->tenant, req->id,
                              instance_state_deletable(), &err) != MVM_OK) {
        api_fail(call, &err);
        return;
    }
    Mvm__V1__DeleteInstanceResponse r = MVM__V1__DELETE_INSTANCE_RESPONSE__INIT;
    done(&r, call);
}

/* api_watch.c */
void inst_watch_instances(Mvm__V1__InstanceService_Service *svc,
                          const Mvm__V1__WatchInstancesRequest *req,
                          Mvm__V1__InstanceEvent_Closure done, void *call);

Mvm__V1__InstanceService_Service api_instance_service = MVM__V1__INSTANCE_SERVICE__INIT(inst_);
