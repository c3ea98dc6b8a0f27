/* main.c - mvmd's entry point: read the configuration, open the node's state
 * and register the mvm.v1 services (api/), serve gRPC (rpc/) until SIGTERM or
 * SIGINT, then drain and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "api.h"
#include "config.h"
#include "rpc.h"
#include "store.h"

#ifndef MVM_VERSION
#define MVM_VERSION "0.0.0"
#endif

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

static rpc_server *running;

static void on_signal(int sig) {
    (void)sig;
    if (running)
        rpc_server_shutdown(running);
}

/* rpc_config.on_ready: every listener is bound and the ready file written. */
static void say_serving(void *arg) {
    const mvmd_config *cfg = arg;
    fprintf(stderr, "mvmd %s: serving (state in %s)\n", MVM_VERSION, cfg->state_dir);
}

/* Each running microVM holds a few descriptors in mvmd (its API
 * connection, pidfd, log FIFOs and files): the soft limit goes up to the
 * hard one, as for any server holding many descriptors. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int fail(const mvm_error *err) {
    fprintf(stderr, "mvmd: %s: %s\n", mvm_code_name(err->code), err->msg);
    return err->code == MVM_INVALID_ARGUMENT ? 64 : 1;
}

int main(int argc, char **argv) {
    mvmd_config cfg;
    mvm_error err;
    if (mvmd_config_parse(&cfg, argc, argv, &err) != MVM_OK) {
        int rc = fail(&err);
        mvmd_config_free(&cfg);
        return rc;
    }
    if (cfg.help) {
        mvmd_config_usage(argv[0]);
        return 0;
    }
    if (cfg.version) {
        printf("mvmd %s\n", MVM_VERSION);
        return 0;
    }
    if (cfg.check_store) { /* before anything is created in the state dir */
        store_report r;
        int rc = store_check(cfg.state_dir, &r, &err) == MVM_OK ? (printf("%s\n", r.summary), 0)
                                                                : fail(&err);
        mvmd_config_free(&cfg);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    mkdir(cfg.state_dir, 0700);

    rpc_config rc = {
        .listen = cfg.listen,
        .unix_socket = cfg.socket,
        .tls_cert = cfg.tls_cert,
        .tls_key = cfg.tls_key,
        .client_ca = cfg.client_ca,
        .insecure = cfg.insecure,
        .metrics_listen = cfg.metrics_listen,
        .io_threads = cfg.io_threads,
        .worker_threads = cfg.worker_threads,
        .drain_seconds = cfg.drain_seconds,
        .max_message_bytes = (uint32_t)cfg.max_message_bytes,
        .max_streams_per_conn = (uint32_t)cfg.max_streams_per_conn,
        .max_stream_queue_bytes = (size_t)cfg.max_stream_queue_bytes,
        .max_conn_queue_bytes = (size_t)cfg.max_conn_queue_bytes,
        .max_conn_input_bytes = (size_t)cfg.max_conn_input_bytes,
        .max_total_buffered_bytes = (size_t)cfg.max_total_buffered_bytes,
        .request_timeout_ms = cfg.request_timeout_ms,
        .handshake_timeout_ms = cfg.handshake_timeout_ms,
        .max_handshakes = cfg.max_handshakes,
        .max_tcp_connections = cfg.max_tcp_connections,
        .ready_file = cfg.ready_file,
        .on_ready = say_serving,
        .on_ready_arg = &cfg,
        .descriptor_set = mvm_descriptor_set,
        .descriptor_set_len = mvm_descriptor_set_len,
    };
    rpc_server *srv = NULL;
    api_ctx *api = NULL;
    int status = 0;
    api_options ao = {.state_dir = cfg.state_dir, .firecracker_bin = cfg.firecracker,
                      .jailer_bin = cfg.jailer, .version = MVM_VERSION,
                      .stop_grace_ms = (uint32_t)cfg.stop_grace_seconds * 1000,
                      .api_timeout_ms = (uint32_t)cfg.firecracker_api_timeout_ms,
                      .capacity_vcpus = (uint32_t)cfg.capacity_vcpus,
                      .capacity_mem_mib = (uint64_t)cfg.capacity_mem_mib,
                      .janitor_interval_ms = (uint32_t)cfg.janitor_interval_ms,
                      .reconcile_interval_ms = (uint32_t)cfg.reconcile_interval_ms,
                      .activity_interval_ms = (uint32_t)cfg.activity_interval_ms,
                      .network = !cfg.network || strcmp(cfg.network, "auto") == 0 ? 0
                                 : strcmp(cfg.network, "on") == 0                  ? 1
                                                                                   : 2,
                      .net_uplink = cfg.net_uplink,
                      .net_host_services = cfg.net_host_services,
                      .net_pool = cfg.net_pool,
                      .memory_backend = cfg.memory_backend && strcmp(cfg.memory_backend, "uffd") == 0
                                            ? MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD
                                            : MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_FILE};
    if (rpc_server_new(&rc, &srv, &err) != MVM_OK || api_start(srv, &ao, &api, &err) != MVM_OK) {
        status = fail(&err);
        goto out;
    }
    running = srv;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (rpc_server_run(srv, &err) != MVM_OK)
        status = fail(&err);
    else
        fprintf(stderr, "mvmd: drained, exiting\n");
    running = NULL;
out:
    api_stop(api);
    rpc_server_free(srv);
    mvmd_config_free(&cfg);
    return status;
}
