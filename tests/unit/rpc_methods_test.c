/* rpc_methods_test.c - method tables (rpc_method_rule): the mvm.v1 table
 * in service/api/api_methods.c declares every method of the embedded
 * descriptor set, so adding an RPC to a .proto without an entry fails
 * here (and mvmd refuses to start); a table missing a method, naming a
 * method the service lacks, naming one twice, or declaring a bidirectional
 * method for the workers is refused at registration with a message naming
 * the method. */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "check.h"
#include "rpc_internal.h"

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

static rpc_server *new_server(void) {
    rpc_config cfg = {.unix_socket = "/nonexistent/never-bound.sock", .io_threads = 1,
                      .worker_threads = 1, .descriptor_set = mvm_descriptor_set,
                      .descriptor_set_len = mvm_descriptor_set_len};
    rpc_server *srv = NULL;
    mvm_error err;
    mvm_code c = rpc_server_new(&cfg, &srv, &err);
    CHECK_EQ_INT(c, MVM_OK); /* health and reflection tables are complete too */
    if (c != MVM_OK)
        fprintf(stderr, "rpc_server_new: %s\n", err.msg);
    return srv;
}

/* The real table: every service registers, and every method of every
 * service in the descriptor set (mvm.v1, health, reflection) is served
 * with a declared exec. */
static void test_api_table_is_complete(void) {
    rpc_server *srv = new_server();
    if (!srv)
        return;
    mvm_error err;
    for (size_t i = 0; i < api_nservices; i++) {
        mvm_code c = rpc_server_add_service(srv, api_services[i].service, api_services[i].rules,
                                            api_services[i].nrules, NULL, &err);
        CHECK_EQ_INT(c, MVM_OK);
        if (c != MVM_OK)
            fprintf(stderr, "registering %s: %s\n", api_services[i].service->descriptor->name,
                    err.msg);
    }
    CHECK(srv->ds.nmethods >= 20);
    for (size_t i = 0; i < srv->ds.nmethods; i++) {
        const char *path = srv->ds.methods[i];
        const rpc_method *m = rpc_registry_find(&srv->reg, path, strlen(path));
        CHECK(m != NULL);
        if (!m) {
            fprintf(stderr, "%s is in the descriptor set but not served: add its service and "
                    "method table to api_methods.c\n", path);
            continue;
        }
        CHECK(m->exec == RPC_EXEC_INLINE || m->exec == RPC_EXEC_WORKER);
    }
    /* a few declarations that matter: writes never run on an I/O thread */
    const char *worker[] = {"/mvm.v1.TenantService/CreateTenant", "/mvm.v1.PoolService/UpdatePool",
                            "/mvm.v1.InstanceService/StartInstance",
                            "/mvm.v1.InstanceService/DeleteInstance"};
    for (size_t i = 0; i < sizeof worker / sizeof worker[0]; i++) {
        const rpc_method *m = rpc_registry_find(&srv->reg, worker[i], strlen(worker[i]));
        CHECK(m && m->exec == RPC_EXEC_WORKER);
    }
    const char *in = "/mvm.v1.InstanceService/WatchInstances";
    const rpc_method *w = rpc_registry_find(&srv->reg, in, strlen(in));
    CHECK(w && w->exec == RPC_EXEC_INLINE);
    rpc_server_free(srv);
}

static void expect_refused(const rpc_method_rule *rules, size_t n, const char *needle1,
                           const char *needle2) {
    rpc_server *srv = new_server();
    if (!srv)
        return;
    mvm_error err = {0};
    mvm_code c = rpc_server_add_service(srv, &api_tenant_service.base, rules, n, NULL, &err);
    CHECK_EQ_INT(c, MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, needle1) != NULL);
    CHECK(strstr(err.msg, needle2) != NULL);
    if (!strstr(err.msg, needle1) || !strstr(err.msg, needle2))
        fprintf(stderr, "message: %s\n", err.msg);
    const char *p = "/mvm.v1.TenantService/GetTenant";
    CHECK(rpc_registry_find(&srv->reg, p, strlen(p)) == NULL); /* nothing half-registered is served */
    rpc_server_free(srv);
}

static void test_bad_tables_refused(void) {
    const rpc_method_rule missing[] = {
        {"CreateTenant", RPC_EXEC_WORKER}, {"GetTenant", RPC_EXEC_INLINE},
        {"ListTenants", RPC_EXEC_INLINE}, {"UpdateTenant", RPC_EXEC_WORKER},
    };
    expect_refused(missing, RPC_RULES(missing), "/mvm.v1.TenantService/DeleteTenant", "no entry");
    const rpc_method_rule extra[] = {
        {"CreateTenant", RPC_EXEC_WORKER}, {"GetTenant", RPC_EXEC_INLINE},
        {"ListTenants", RPC_EXEC_INLINE},  {"UpdateTenant", RPC_EXEC_WORKER},
        {"DeleteTenant", RPC_EXEC_WORKER}, {"FrobTenant", RPC_EXEC_INLINE},
    };
    expect_refused(extra, RPC_RULES(extra), "\"FrobTenant\"", "names no method");
    const rpc_method_rule twice[] = {
        {"CreateTenant", RPC_EXEC_WORKER}, {"GetTenant", RPC_EXEC_INLINE},
        {"ListTenants", RPC_EXEC_INLINE},  {"UpdateTenant", RPC_EXEC_WORKER},
        {"DeleteTenant", RPC_EXEC_WORKER}, {"GetTenant", RPC_EXEC_WORKER},
    };
    expect_refused(twice, RPC_RULES(twice), "\"GetTenant\"", "two entries");
    const rpc_method_rule no_exec[] = {
        {"CreateTenant", RPC_EXEC_WORKER}, {"GetTenant", 0},
        {"ListTenants", RPC_EXEC_INLINE},  {"UpdateTenant", RPC_EXEC_WORKER},
        {"DeleteTenant", RPC_EXEC_WORKER},
    };
    expect_refused(no_exec, RPC_RULES(no_exec), "\"GetTenant\"", "no valid exec");
}

int main(void) {
    test_api_table_is_complete();
    test_bad_tables_refused();
    return check_done();
}
