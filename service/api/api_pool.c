/* api_pool.c - mvm.v1.PoolService handlers: validate, call the store,
 * reply from the per-thread arena. */
#include "api_internal.h"

#include <string.h>

/* A pool was created or changed: the reconcile loop looks at it soon;
 * the reply shows its status. */
static void pool_made(void *call, Mvm__V1__Pool *p, ProtobufCAllocator *a) {
    core_reconcile_kick(API(call)->core);
    core_pool_status_fill(API(call)->core, p, a);
}

static void pool_create_pool(Mvm__V1__PoolService_Service *svc,
                             const Mvm__V1__CreatePoolRequest *req, Mvm__V1__Pool_Closure done,
                             void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Pool *p = NULL;
    mvm_code c = core_pool_check_images(req->pool, &err);
    if (!c)
        c = store_pool_create(API(call)->st, &who, req->pool, a, &p, &err);
    if (!c)
        pool_made(call, p, a);
    API_REPLY(call, c, &err, done, p, a);
}

static void pool_get_pool(Mvm__V1__PoolService_Service *svc, const Mvm__V1__GetPoolRequest *req,
                          Mvm__V1__Pool_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Pool *p;
    mvm_code c = store_pool_get(API(call)->st, req->tenant, req->name, a, &p, &err);
    if (!c)
        core_pool_status_fill(API(call)->core, p, a);
    API_REPLY(call, c, &err, done, p, a);
}

static void pool_list_pools(Mvm__V1__PoolService_Service *svc,
                            const Mvm__V1__ListPoolsRequest *req,
                            Mvm__V1__ListPoolsResponse_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    store_list_opts o = {.tenant = req->tenant, .page_size = req->page_size,
                         .page_token = req->page_token, .label_selector = req->label_selector};
    Mvm__V1__ListPoolsResponse *r;
    mvm_code c = store_pool_list(API(call)->st, &o, a, &r, &err);
    for (size_t k = 0; !c && k < r->n_pools; k++)
        core_pool_status_fill(API(call)->core, r->pools[k], a);
    API_REPLY(call, c, &err, done, r, a);
}

/* Whether an UpdatePool touches network_limits: a mask path naming it (or
 * one of its fields, or "*"), or no mask and the field set. */
static bool limits_named(const Mvm__V1__UpdatePoolRequest *req) {
    const Google__Protobuf__FieldMask *m = req->update_mask;
    if (!m || !m->n_paths)
        return req->pool && req->pool->network_limits;
    for (size_t i = 0; i < m->n_paths; i++)
        if (strcmp(m->paths[i], "*") == 0 || strncmp(m->paths[i], "network_limits", 14) == 0)
            return true;
    return false;
}

static void pool_update_pool(Mvm__V1__PoolService_Service *svc,
                             const Mvm__V1__UpdatePoolRequest *req, Mvm__V1__Pool_Closure done,
                             void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Pool *p = NULL;
    mvm_code c = core_pool_check_images(req->pool, &err);
    if (!c)
        c = store_pool_update(API(call)->st, &who, req->pool, req->update_mask, a, &p, &err);
    if (!c) { /* an image change starts a new base snapshot build */
        core_pool_changed(API(call)->core, p);
        pool_made(call, p, a);
    }
    if (!c && limits_named(req)) /* running instances get them now */
        core_net_limits_changed(API(call)->core, p);
    API_REPLY(call, c, &err, done, p, a);
}

static void pool_delete_pool(Mvm__V1__PoolService_Service *svc,
                             const Mvm__V1__DeletePoolRequest *req,
                             Mvm__V1__DeletePoolResponse_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    if (store_pool_delete(API(call)->st, &who, req->tenant, req->name, &err) != MVM_OK) {
        Mvm__V1__Pool *p = NULL;
        mvm_error e;
        /* the node would make its instances again: say how to let them go */
        if (err.code == MVM_FAILED_PRECONDITION &&
            store_pool_get(API(call)->st, req->tenant, req->name, NULL, &p, &e) == MVM_OK &&
            p->desired_instances > 0)
            mvm_error_context(&err, "pool %s/%s has desired_instances %u: set it to 0 first (the "
                              "node then removes the instances it made)",
                              req->tenant, req->name, p->desired_instances);
        if (p)
            protobuf_c_message_free_unpacked(&p->base, NULL);
        api_fail(call, &err);
        return;
    }
    core_janitor_kick(API(call)->core); /* its snapshots were retired */
    core_reconcile_kick(API(call)->core);
    Mvm__V1__DeletePoolResponse r = MVM__V1__DELETE_POOL_RESPONSE__INIT;
    done(&r, call);
}

static void pool_build_base_snapshot(Mvm__V1__PoolService_Service *svc,
                                     const Mvm__V1__BuildBaseSnapshotRequest *req,
                                     Mvm__V1__Pool_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Pool *p = NULL;
    mvm_code c = core_pool_build_base(API(call)->core, &who, req->tenant, req->name, a, &p, &err);
    if (!c)
        pool_made(call, p, a);
    API_REPLY(call, c, &err, done, p, a);
}

static void pool_delete_base_snapshot(Mvm__V1__PoolService_Service *svc,
                                      const Mvm__V1__DeleteBaseSnapshotRequest *req,
                                      Mvm__V1__Pool_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Pool *p = NULL;
    mvm_code c =
        core_pool_delete_base(API(call)->core, &who, req->tenant, req->name, a, &p, &err);
    if (!c)
        pool_made(call, p, a);
    API_REPLY(call, c, &err, done, p, a);
}

static void pool_get_snapshot(Mvm__V1__PoolService_Service *svc,
                              const Mvm__V1__GetSnapshotRequest *req,
                              Mvm__V1__Snapshot_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Snapshot *s = NULL;
    mvm_code c = store_snapshot_get(API(call)->st, req->tenant, req->id, a, &s, &err);
    if (!c)
        core_snapshot_decorate(API(call)->core, s);
    API_REPLY(call, c, &err, done, s, a);
}

static void pool_list_snapshots(Mvm__V1__PoolService_Service *svc,
                                const Mvm__V1__ListSnapshotsRequest *req,
                                Mvm__V1__ListSnapshotsResponse_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    store_list_opts o = {.tenant = req->tenant, .pool = req->pool, .page_size = req->page_size,
                         .page_token = req->page_token};
    Mvm__V1__ListSnapshotsResponse *r = NULL;
    mvm_code c = store_snapshot_list(API(call)->st, &o, a, &r, &err);
    for (size_t k = 0; !c && k < r->n_snapshots; k++)
        core_snapshot_decorate(API(call)->core, r->snapshots[k]);
    API_REPLY(call, c, &err, done, r, a);
}

Mvm__V1__PoolService_Service api_pool_service = MVM__V1__POOL_SERVICE__INIT(pool_);
