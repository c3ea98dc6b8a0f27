/* mvmd_tunable.c - mvmd for the limit tests: the real transport (rpc/) and
 * the real mvm.v1 services (api/) on a real store, started like mvmd by
 * tests/integration/harness.py, plus `--tune NAME=VALUE` to set any
 * rpc_config limit, so a test can make a limit small enough to reach
 * quickly (e.g. a 64 KiB stream queue). It accepts the flags the harness
 * passes: --listen --socket --state-dir --tls-cert --tls-key --client-ca
 * --ready-file --metrics-listen (HOST:PORT or off) --insecure. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "rpc.h"

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

typedef enum { T_INT, T_U32, T_SIZE } tune_type;

static const struct tunable {
    const char *name;
    size_t offset;
    tune_type type;
} tunables[] = {
    {"io_threads", offsetof(rpc_config, io_threads), T_INT},
    {"worker_threads", offsetof(rpc_config, worker_threads), T_INT},
    {"drain_seconds", offsetof(rpc_config, drain_seconds), T_INT},
    {"max_message_bytes", offsetof(rpc_config, max_message_bytes), T_U32},
    {"max_streams_per_conn", offsetof(rpc_config, max_streams_per_conn), T_U32},
    {"max_stream_queue_bytes", offsetof(rpc_config, max_stream_queue_bytes), T_SIZE},
    {"max_conn_queue_bytes", offsetof(rpc_config, max_conn_queue_bytes), T_SIZE},
    {"max_conn_input_bytes", offsetof(rpc_config, max_conn_input_bytes), T_SIZE},
    {"max_total_buffered_bytes", offsetof(rpc_config, max_total_buffered_bytes), T_SIZE},
    {"request_timeout_ms", offsetof(rpc_config, request_timeout_ms), T_INT},
    {"handshake_timeout_ms", offsetof(rpc_config, handshake_timeout_ms), T_INT},
    {"max_handshakes", offsetof(rpc_config, max_handshakes), T_INT},
    {"max_tcp_connections", offsetof(rpc_config, max_tcp_connections), T_INT},
};

static int tune(rpc_config *cfg, const char *spec) {
    const char *eq = strchr(spec, '=');
    char *end;
    unsigned long long v = eq ? strtoull(eq + 1, &end, 10) : 0;
    if (!eq || eq[1] == '\0' || *end != '\0') {
        fprintf(stderr, "mvmd_tunable: --tune wants NAME=NUMBER, got \"%s\"\n", spec);
        return -1;
    }
    for (size_t i = 0; i < sizeof tunables / sizeof tunables[0]; i++) {
        if (strlen(tunables[i].name) != (size_t)(eq - spec) ||
            strncmp(tunables[i].name, spec, (size_t)(eq - spec)) != 0)
            continue;
        char *field = (char *)cfg + tunables[i].offset;
        switch (tunables[i].type) {
        case T_INT: *(int *)field = (int)v; break;
        case T_U32: *(uint32_t *)field = (uint32_t)v; break;
        case T_SIZE: *(size_t *)field = (size_t)v; break;
        }
        return 0;
    }
    fprintf(stderr, "mvmd_tunable: no rpc_config limit named in \"%s\"\n", spec);
    return -1;
}

static rpc_server *running;

static void on_signal(int sig) {
    (void)sig;
    if (running)
        rpc_server_shutdown(running);
}

int main(int argc, char **argv) {
    rpc_config cfg = {.descriptor_set = mvm_descriptor_set,
                      .descriptor_set_len = mvm_descriptor_set_len};
    const char *state_dir = NULL;
    static const struct { const char *flag; size_t offset; } strings[] = {
        {"--listen", offsetof(rpc_config, listen)},
        {"--socket", offsetof(rpc_config, unix_socket)},
        {"--tls-cert", offsetof(rpc_config, tls_cert)},
        {"--tls-key", offsetof(rpc_config, tls_key)},
        {"--client-ca", offsetof(rpc_config, client_ca)},
        {"--ready-file", offsetof(rpc_config, ready_file)},
        {"--metrics-listen", offsetof(rpc_config, metrics_listen)},
    };
    for (int i = 1; i < argc; i++) {
        bool known = false;
        if (strcmp(argv[i], "--insecure") == 0) {
            cfg.insecure = known = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--state-dir") == 0) {
            state_dir = argv[++i];
            known = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--tune") == 0) {
            if (tune(&cfg, argv[++i]) != 0)
                return 64;
            known = true;
        }
        for (size_t k = 0; !known && i + 1 < argc && k < sizeof strings / sizeof strings[0]; k++) {
            if (strcmp(argv[i], strings[k].flag) == 0) {
                *(const char **)((char *)&cfg + strings[k].offset) = argv[++i];
                known = true;
            }
        }
        if (!known) {
            fprintf(stderr, "mvmd_tunable: unknown or incomplete argument \"%s\"\n", argv[i]);
            return 64;
        }
    }
    if (cfg.metrics_listen && strcmp(cfg.metrics_listen, "off") == 0)
        cfg.metrics_listen = NULL;
    if (!state_dir) {
        fprintf(stderr, "mvmd_tunable: --state-dir is required\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    mkdir(state_dir, 0700);
    mvm_error err;
    rpc_server *srv = NULL;
    api_ctx *api = NULL;
    api_options ao = {.state_dir = state_dir, .version = "tunable"};
    int status = 0;
    if (rpc_server_new(&cfg, &srv, &err) != MVM_OK || api_start(srv, &ao, &api, &err) != MVM_OK) {
        fprintf(stderr, "mvmd_tunable: %s\n", err.msg);
        status = 1;
    } else {
        running = srv;
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (rpc_server_run(srv, &err) != MVM_OK) {
            fprintf(stderr, "mvmd_tunable: %s\n", err.msg);
            status = 1;
        }
        running = NULL;
    }
    api_stop(api);
    rpc_server_free(srv);
    return status;
}
