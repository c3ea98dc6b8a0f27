/* api_tenant.c - mvm.v1.TenantService handlers: validate, call the store,
 * reply. GetTenant (the hot path) replies from the per-thread arena. */
#include "api_internal.h"

#include <stdio.h>

static void tenant_create_tenant(Mvm__V1__TenantService_Service *svc,
                                 const Mvm__V1__CreateTenantRequest *req,
                                 Mvm__V1__Tenant_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Tenant *t;
    mvm_code c = store_tenant_create(API(call)->st, &who, req->tenant, a, &t, &err);
    if (!c && (c = core_net_sync(API(call)->core, &err)) != MVM_OK) {
        /* no tenant without its bridge: undo the record */
        mvm_error e2;
        if (store_tenant_delete(API(call)->st, &who, t->name, &e2) != MVM_OK)
            fprintf(stderr, "mvmd: tenant %s: cannot undo its creation: %s\n", t->name, e2.msg);
        core_net_mark_dirty(API(call)->core);
        mvm_error_context(&err, "CreateTenant %s", t->name);
    }
    API_REPLY(call, c, &err, done, t, a);
}

static void tenant_get_tenant(Mvm__V1__TenantService_Service *svc,
                              const Mvm__V1__GetTenantRequest *req, Mvm__V1__Tenant_Closure done,
                              void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Tenant *t;
    mvm_code c = store_tenant_get(API(call)->st, req->name, a, &t, &err);
    API_REPLY(call, c, &err, done, t, a);
}

static void tenant_list_tenants(Mvm__V1__TenantService_Service *svc,
                                const Mvm__V1__ListTenantsRequest *req,
                                Mvm__V1__ListTenantsResponse_Closure done, void *call) {
    mvm_error err;
    ProtobufCAllocator *a = api_arena();
    store_list_opts o = {.page_size = req->page_size, .page_token = req->page_token,
                         .label_selector = req->label_selector};
    Mvm__V1__ListTenantsResponse *r;
    mvm_code c = store_tenant_list(API(call)->st, &o, a, &r, &err);
    API_REPLY(call, c, &err, done, r, a);
}

static void tenant_update_tenant(Mvm__V1__TenantService_Service *svc,
                                 const Mvm__V1__UpdateTenantRequest *req,
                                 Mvm__V1__Tenant_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    ProtobufCAllocator *a = api_arena();
    Mvm__V1__Tenant *t;
    mvm_code c =
        store_tenant_update(API(call)->st, &who, req->tenant, req->update_mask, a, &t, &err);
    mvm_error e2;
    if (!c && core_net_sync(API(call)->core, &e2) != MVM_OK) /* retried by the reconcile loop */
        fprintf(stderr, "mvmd: UpdateTenant %s: %s\n", t->name, e2.msg);
    API_REPLY(call, c, &err, done, t, a);
}

static void tenant_delete_tenant(Mvm__V1__TenantService_Service *svc,
                                 const Mvm__V1__DeleteTenantRequest *req,
                                 Mvm__V1__DeleteTenantResponse_Closure done, void *call) {
    mvm_error err;
    store_actor who = api_actor(call);
    if (store_tenant_delete(API(call)->st, &who, req->name, &err) != MVM_OK) {
        api_fail(call, &err);
        return;
    }
    if (core_net_sync(API(call)->core, &err) != MVM_OK) /* retried by the reconcile loop */
        fprintf(stderr, "mvmd: DeleteTenant %s: %s\n", req->name, err.msg);
    Mvm__V1__DeleteTenantResponse r = MVM__V1__DELETE_TENANT_RESPONSE__INIT;
    done(&r, call);
}

Mvm__V1__TenantService_Service api_tenant_service = MVM__V1__TENANT_SERVICE__INIT(tenant_);
