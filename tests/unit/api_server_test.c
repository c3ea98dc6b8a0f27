/* api_server_test.c - service/api through the real transport: an
 * in-process rpc_server on a Unix socket with api_start, driven by libmvmc,
 * on a node whose Firecracker is missing. Checks status codes on the wire,
 * that pool images must exist, that refused lifecycle calls (and Start on a
 * node that cannot run microVMs) change nothing, DeleteInstance from a live
 * state, WatchInstances with send_initial, GetInfo, the audit identity,
 * BackupStore, and api_stop after a drain. The lifecycle on a real or simulated Firecracker
 * is tests/integration/lifecycle_test.py. */
#include <pthread.h>
#include <sys/stat.h>

#include "api_internal.h"
#include "check.h"
#include "mvm/v1/node.pb-c.h"
#include "mvmc.h"
#include "store_testlib.c"

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

#define TMO 10000
#define ST(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x

static rpc_server *srv;
static char kernel[600], rootfs[600];

static void *serve(void *arg) {
    mvm_error err;
    if (rpc_server_run(srv, &err) != MVM_OK)
        fprintf(stderr, "rpc_server_run: %s\n", err.msg);
    (void)arg;
    return NULL;
}

static mvm_code call(mvmc_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
                     const ProtobufCMessage *req, ProtobufCMessage **resp, mvm_error *err) {
    ProtobufCMessage *r = NULL;
    mvm_error_clear(err);
    mvm_code code = mvmc_unary(c, svc, (unsigned)mvmc_method_index(svc, method), req, &r, TMO, err);
    if (resp)
        *resp = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return code;
}

#define TSVC (&mvm__v1__tenant_service__descriptor)
#define PSVC (&mvm__v1__pool_service__descriptor)
#define ISVC (&mvm__v1__instance_service__descriptor)
#define NSVC (&mvm__v1__node_service__descriptor)

static void setup_objects(mvmc_client *c) {
    mvm_error err;
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    t.name = "acme";
    t.net_id = 5;
    t.subnet = "10.240.5.0/24";
    Mvm__V1__CreateTenantRequest ct = MVM__V1__CREATE_TENANT_REQUEST__INIT;
    ct.tenant = &t;
    CHECK_EQ_INT(call(c, TSVC, "CreateTenant", &ct.base, NULL, &err), MVM_OK);
    CHECK_EQ_INT(call(c, TSVC, "CreateTenant", &ct.base, NULL, &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "acme") != NULL);
    Mvm__V1__CreateTenantRequest empty = MVM__V1__CREATE_TENANT_REQUEST__INIT;
    CHECK_EQ_INT(call(c, TSVC, "CreateTenant", &empty.base, NULL, &err), MVM_INVALID_ARGUMENT);

    Mvm__V1__Pool p;
    pool_init(&p, "acme", "web");
    Mvm__V1__CreatePoolRequest cp = MVM__V1__CREATE_POOL_REQUEST__INIT;
    cp.pool = &p;
    /* images must be readable files on the node */
    p.kernel_image = "/nonexistent/vmlinux";
    p.rootfs_image = rootfs;
    CHECK_EQ_INT(call(c, PSVC, "CreatePool", &cp.base, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "kernel_image") && strstr(err.msg, "/nonexistent/vmlinux") &&
          strstr(err.msg, "No such file"));
    p.kernel_image = "/tmp";
    CHECK_EQ_INT(call(c, PSVC, "CreatePool", &cp.base, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "not a regular file") != NULL);
    p.kernel_image = kernel;
    CHECK_EQ_INT(call(c, PSVC, "CreatePool", &cp.base, NULL, &err), MVM_OK);

    Mvm__V1__GetTenantRequest gt = MVM__V1__GET_TENANT_REQUEST__INIT;
    gt.name = "acme";
    Mvm__V1__Tenant *got = NULL;
    CHECK_EQ_INT(call(c, TSVC, "GetTenant", &gt.base, (ProtobufCMessage **)&got, &err), MVM_OK);
    CHECK(got && got->usage && got->usage->pools == 1 && strcmp(got->subnet, t.subnet) == 0);
    if (got)
        mvm__v1__tenant__free_unpacked(got, NULL);
    gt.name = "ghost";
    CHECK_EQ_INT(call(c, TSVC, "GetTenant", &gt.base, NULL, &err), MVM_NOT_FOUND);
    Mvm__V1__DeleteTenantRequest dt = MVM__V1__DELETE_TENANT_REQUEST__INIT;
    dt.name = "acme";
    CHECK_EQ_INT(call(c, TSVC, "DeleteTenant", &dt.base, NULL, &err), MVM_FAILED_PRECONDITION);
    Mvm__V1__ListTenantsRequest lt = MVM__V1__LIST_TENANTS_REQUEST__INIT;
    lt.label_selector = "a,,b";
    CHECK_EQ_INT(call(c, TSVC, "ListTenants", &lt.base, NULL, &err), MVM_INVALID_ARGUMENT);
}

static Mvm__V1__Instance *create_inst(mvmc_client *c) {
    mvm_error err;
    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    r.tenant = "acme";
    r.pool = "web";
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(call(c, ISVC, "CreateInstance", &r.base, (ProtobufCMessage **)&i, &err), MVM_OK);
    return i;
}

static void test_lifecycle(mvmc_client *c) {
    mvm_error err;
    Mvm__V1__Instance *i = create_inst(c);
    if (!i)
        return;
    CHECK_EQ_INT(i->state, ST(CREATED));
    /* All four request types share the (tenant, id) layout. */
    Mvm__V1__StartInstanceRequest r = MVM__V1__START_INSTANCE_REQUEST__INIT;
    r.tenant = "acme";
    r.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "StartInstance", &r.base, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "cannot run microVMs") && strstr(err.msg, "/nonexistent/firecracker"));
    Mvm__V1__StopInstanceRequest s = MVM__V1__STOP_INSTANCE_REQUEST__INIT;
    s.tenant = "acme";
    s.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "StopInstance", &s.base, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "CREATED") && strstr(err.msg, "STOPPED"));
    Mvm__V1__SleepInstanceRequest sl = MVM__V1__SLEEP_INSTANCE_REQUEST__INIT;
    sl.tenant = "acme";
    sl.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "SleepInstance", &sl.base, NULL, &err), MVM_FAILED_PRECONDITION);
    Mvm__V1__WakeInstanceRequest wk = MVM__V1__WAKE_INSTANCE_REQUEST__INIT;
    wk.tenant = "acme";
    wk.id = "i-00000000000000aa";
    CHECK_EQ_INT(call(c, ISVC, "WakeInstance", &wk.base, NULL, &err), MVM_NOT_FOUND);
    /* nothing changed */
    Mvm__V1__GetInstanceRequest g = MVM__V1__GET_INSTANCE_REQUEST__INIT;
    g.tenant = "acme";
    g.id = i->id;
    Mvm__V1__Instance *after = NULL;
    CHECK_EQ_INT(call(c, ISVC, "GetInstance", &g.base, (ProtobufCMessage **)&after, &err), MVM_OK);
    CHECK(after && after->state == ST(CREATED) &&
          after->resource_version == i->resource_version);
    if (after)
        mvm__v1__instance__free_unpacked(after, NULL);
    /* a pool with an instance cannot go; the instance (no process) can */
    Mvm__V1__DeletePoolRequest dp = MVM__V1__DELETE_POOL_REQUEST__INIT;
    dp.tenant = "acme";
    dp.name = "web";
    CHECK_EQ_INT(call(c, PSVC, "DeletePool", &dp.base, NULL, &err), MVM_FAILED_PRECONDITION);
    Mvm__V1__DeleteInstanceRequest d = MVM__V1__DELETE_INSTANCE_REQUEST__INIT;
    d.tenant = "acme";
    d.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "DeleteInstance", &d.base, NULL, &err), MVM_OK);
    CHECK_EQ_INT(call(c, ISVC, "DeleteInstance", &d.base, NULL, &err), MVM_NOT_FOUND);
    mvm__v1__instance__free_unpacked(i, NULL);
}

/* A RUNNING instance (state set in the store directly, no process) can be
 * stopped and deleted; Start refuses it. */
static void test_delete_live(mvmc_client *c, api_ctx *api) {
    mvm_error err;
    Mvm__V1__Instance *i = create_inst(c);
    if (!i)
        return;
    CHECK_EQ_INT(store_instance_set_state(api->st, &test_who, "acme", i->id, 0, ST(RUNNING), 0,
                                          NULL, NULL, NULL, &err),
                 MVM_OK);
    Mvm__V1__StartInstanceRequest r = MVM__V1__START_INSTANCE_REQUEST__INIT;
    r.tenant = "acme";
    r.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "StartInstance", &r.base, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "RUNNING") != NULL);
    Mvm__V1__StopInstanceRequest s = MVM__V1__STOP_INSTANCE_REQUEST__INIT;
    s.tenant = "acme";
    s.id = i->id;
    Mvm__V1__Instance *st = NULL;
    CHECK_EQ_INT(call(c, ISVC, "StopInstance", &s.base, (ProtobufCMessage **)&st, &err), MVM_OK);
    CHECK(st && st->state == ST(STOPPED) && st->pid == 0 && !st->operation);
    if (st)
        mvm__v1__instance__free_unpacked(st, NULL);
    CHECK_EQ_INT(store_instance_set_state(api->st, &test_who, "acme", i->id, 0, ST(RUNNING), 0,
                                          NULL, NULL, NULL, &err),
                 MVM_OK);
    Mvm__V1__DeleteInstanceRequest d = MVM__V1__DELETE_INSTANCE_REQUEST__INIT;
    d.tenant = "acme";
    d.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "DeleteInstance", &d.base, NULL, &err), MVM_OK);
    Mvm__V1__GetInstanceRequest g = MVM__V1__GET_INSTANCE_REQUEST__INIT;
    g.tenant = "acme";
    g.id = i->id;
    CHECK_EQ_INT(call(c, ISVC, "GetInstance", &g.base, NULL, &err), MVM_NOT_FOUND);
    /* its directory went with it */
    char dir[700];
    snprintf(dir, sizeof dir, "%s/%s", vmm_host_instances_dir(api->vmm), i->id);
    CHECK(access(dir, F_OK) != 0);
    mvm__v1__instance__free_unpacked(i, NULL);
}

static void test_watch(mvmc_client *c, mvmc_client *c2, api_ctx *api) {
    mvm_error err;
    Mvm__V1__Instance *pre = create_inst(c);
    Mvm__V1__WatchInstancesRequest w = MVM__V1__WATCH_INSTANCES_REQUEST__INIT;
    w.tenant = "acme";
    w.send_initial = 1;
    mvmc_stream *s = NULL;
    CHECK_EQ_INT(mvmc_stream_open(c, ISVC, (unsigned)mvmc_method_index(ISVC, "WatchInstances"),
                                  &w.base, TMO, &s, &err),
                 MVM_OK);
    if (!s || !pre)
        return;
    Mvm__V1__InstanceEvent *ev = NULL;
    CHECK_EQ_INT(mvmc_stream_next(s, (ProtobufCMessage **)&ev, &err), MVM_OK);
    CHECK(ev && ev->type == MVM__V1__INSTANCE_EVENT__TYPE__ADDED &&
          strcmp(ev->instance->id, pre->id) == 0);
    if (ev)
        mvm__v1__instance_event__free_unpacked(ev, NULL);
    CHECK_EQ_INT(event_bus_count(api->bus), 1);
    /* a change made on another connection arrives */
    Mvm__V1__DeleteInstanceRequest d = MVM__V1__DELETE_INSTANCE_REQUEST__INIT;
    d.tenant = "acme";
    d.id = pre->id;
    CHECK_EQ_INT(call(c2, ISVC, "DeleteInstance", &d.base, NULL, &err), MVM_OK);
    /* first the recorded intent: DESTROYED, DeleteInstance under way */
    ev = NULL;
    CHECK_EQ_INT(mvmc_stream_next(s, (ProtobufCMessage **)&ev, &err), MVM_OK);
    CHECK(ev && ev->type == MVM__V1__INSTANCE_EVENT__TYPE__MODIFIED &&
          ev->instance->state == ST(DESTROYED) && ev->instance->operation &&
          strcmp(ev->instance->operation->name, "DeleteInstance") == 0 &&
          ev->instance->operation->from_state == ST(CREATED));
    if (ev)
        mvm__v1__instance_event__free_unpacked(ev, NULL);
    ev = NULL;
    CHECK_EQ_INT(mvmc_stream_next(s, (ProtobufCMessage **)&ev, &err), MVM_OK);
    CHECK(ev && ev->type == MVM__V1__INSTANCE_EVENT__TYPE__DELETED &&
          strcmp(ev->instance->id, pre->id) == 0);
    if (ev)
        mvm__v1__instance_event__free_unpacked(ev, NULL);
    mvmc_stream_close(s);
    mvm__v1__instance__free_unpacked(pre, NULL);
    /* the cancel reaches the server: a unary call on the same connection
     * is served after it, and then the subscription is gone */
    Mvm__V1__GetInfoRequest gi = MVM__V1__GET_INFO_REQUEST__INIT;
    CHECK_EQ_INT(call(c, NSVC, "GetInfo", &gi.base, NULL, &err), MVM_OK);
    for (int k = 0; k < 200 && event_bus_count(api->bus) != 0; k++)
        call(c, NSVC, "GetInfo", &gi.base, NULL, &err);
    CHECK_EQ_INT(event_bus_count(api->bus), 0);

    w.tenant = "Not A Name";
    CHECK_EQ_INT(mvmc_stream_open(c, ISVC, (unsigned)mvmc_method_index(ISVC, "WatchInstances"),
                                  &w.base, TMO, &s, &err),
                 MVM_OK);
    if (s) {
        ev = NULL;
        CHECK_EQ_INT(mvmc_stream_next(s, (ProtobufCMessage **)&ev, &err), MVM_INVALID_ARGUMENT);
        mvmc_stream_close(s);
    }
}

typedef struct {
    int seen;
    char identity[64], method[128];
} audit_last;

static bool audit_cb(void *arg, const Mvm__V1__AuditRecord *r) {
    audit_last *l = arg;
    l->seen++;
    snprintf(l->identity, sizeof l->identity, "%s", r->identity);
    snprintf(l->method, sizeof l->method, "%s", r->method);
    return true;
}

static void test_info_and_audit(mvmc_client *c, api_ctx *api) {
    mvm_error err;
    Mvm__V1__Instance *i = create_inst(c);
    Mvm__V1__GetInfoRequest gi = MVM__V1__GET_INFO_REQUEST__INIT;
    Mvm__V1__NodeInfo *n = NULL;
    CHECK_EQ_INT(call(c, NSVC, "GetInfo", &gi.base, (ProtobufCMessage **)&n, &err), MVM_OK);
    if (n) {
        CHECK_EQ_STR(n->version, "9.9.9-test");
        CHECK_EQ_STR(n->firecracker_version, "");
        CHECK(!n->firecracker_ok);
        CHECK(strstr(n->firecracker_status, "/nonexistent/firecracker is missing") != NULL);
        CHECK(n->kvm_status && n->kvm_status[0]);
        CHECK(n->capacity && n->capacity->offered_vcpus == 3 && n->capacity->running_vcpus == 0);
        CHECK(n->hostname && n->hostname[0]);
        CHECK(n->capacity && n->capacity->cpus > 0 && n->capacity->mem_mib > 0);
        CHECK(n->capacity && n->capacity->allocated_vcpus == 2 &&
              n->capacity->allocated_mem_mib == 512);
        CHECK_EQ_INT(n->tenants, 1);
        CHECK_EQ_INT(n->pools, 1);
        CHECK(n->n_instances == 1 && strcmp(n->instances[0]->state, "CREATED") == 0 &&
              n->instances[0]->count == 1);
        CHECK(n->start_time && n->start_time->seconds > 0);
        mvm__v1__node_info__free_unpacked(n, NULL);
    }
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);
    /* the transport's identity and method name reach the audit log */
    char uid[32];
    snprintf(uid, sizeof uid, "uid=%u", (unsigned)getuid());
    audit_last last = {0};
    CHECK_EQ_INT(store_audit_foreach(api->st, 0, audit_cb, &last, &err), MVM_OK);
    CHECK(last.seen > 5);
    CHECK_EQ_STR(last.identity, uid);
    CHECK_EQ_STR(last.method, "/mvm.v1.InstanceService/CreateInstance");
}

/* NodeService.BackupStore: a file on the node, the path rules' codes. */
static void test_backup(mvmc_client *c, const char *dir) {
    mvm_error err;
    char path[700];
    snprintf(path, sizeof path, "%s/backup.mdb", dir);
    Mvm__V1__BackupStoreRequest req = MVM__V1__BACKUP_STORE_REQUEST__INIT;
    req.path = path;
    Mvm__V1__BackupStoreResponse *r = NULL;
    CHECK_EQ_INT(call(c, NSVC, "BackupStore", &req.base, (ProtobufCMessage **)&r, &err), MVM_OK);
    struct stat sb;
    CHECK(r && strcmp(r->path, path) == 0 && r->revision > 0 && stat(path, &sb) == 0 &&
          (uint64_t)sb.st_size == r->size_bytes);
    if (r)
        mvm__v1__backup_store_response__free_unpacked(r, NULL);
    CHECK_EQ_INT(call(c, NSVC, "BackupStore", &req.base, NULL, &err), MVM_ALREADY_EXISTS);
    req.path = "backup.mdb";
    CHECK_EQ_INT(call(c, NSVC, "BackupStore", &req.base, NULL, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "absolute") != NULL);
    snprintf(path, sizeof path, "%s/no/such/dir/b.mdb", dir);
    req.path = path;
    CHECK_EQ_INT(call(c, NSVC, "BackupStore", &req.base, NULL, &err), MVM_FAILED_PRECONDITION);
}

int main(void) {
    char *dir = test_mkdir();
    char sock[600], ready[600];
    snprintf(sock, sizeof sock, "%s/s", dir);
    snprintf(ready, sizeof ready, "%s/ready", dir);
    rpc_config rc = {.unix_socket = sock, .ready_file = ready, .io_threads = 1,
                     .worker_threads = 2, .drain_seconds = 5,
                     .descriptor_set = mvm_descriptor_set,
                     .descriptor_set_len = mvm_descriptor_set_len};
    mvm_error err;
    api_ctx *api = NULL;
    api_options ao = {.state_dir = dir, .version = "9.9.9-test",
                      .firecracker_bin = "/nonexistent/firecracker", .capacity_vcpus = 3};
    snprintf(kernel, sizeof kernel, "%s/vmlinux", dir);
    snprintf(rootfs, sizeof rootfs, "%s/rootfs.ext4", dir);
    FILE *f = fopen(kernel, "w");
    if (f)
        fclose(f);
    f = fopen(rootfs, "w");
    if (f) {
        fputs("a tiny disk", f);
        fclose(f);
    }
    if (rpc_server_new(&rc, &srv, &err) != MVM_OK || api_start(srv, &ao, &api, &err) != MVM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 2;
    }
    pthread_t th;
    pthread_create(&th, NULL, serve, NULL);
    struct stat sb;
    for (int k = 0; k < 1000 && stat(ready, &sb) != 0; k++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    char ep[700];
    snprintf(ep, sizeof ep, "unix:%s", sock);
    mvmc_options mo = {.endpoint = ep};
    mvmc_client *c = NULL, *c2 = NULL;
    CHECK_EQ_INT(mvmc_connect(&mo, &c, &err), MVM_OK);
    CHECK_EQ_INT(mvmc_connect(&mo, &c2, &err), MVM_OK);
    if (c && c2) {
        setup_objects(c);
        test_lifecycle(c);
        test_delete_live(c, api);
        test_watch(c, c2, api);
        test_info_and_audit(c, api);
        test_backup(c, dir);
    }
    mvmc_close(c);
    mvmc_close(c2);
    rpc_server_shutdown(srv);
    pthread_join(th, NULL);
    api_stop(api);
    rpc_server_free(srv);
    test_rmdir(dir);
    return check_done();
}
