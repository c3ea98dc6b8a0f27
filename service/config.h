/* config.h - mvmd's settings: command-line flags, optionally a config file
 * of "key = value" lines using the same names (flags win). */
#ifndef MVM_CONFIG_H
#define MVM_CONFIG_H

#include <stdbool.h>

#include "mvm_error.h"

typedef struct mvmd_config {
    const char *listen;         /* HOST:PORT, TLS unless insecure */
    const char *socket;         /* Unix socket path */
    const char *state_dir;
    const char *tls_cert, *tls_key, *client_ca;
    bool insecure;
    const char *metrics_listen; /* NULL: off */
    const char *ready_file;
    const char *firecracker;    /* Firecracker binary, or NULL: on PATH */
    const char *jailer;         /* jailer binary, or NULL */
    int io_threads, worker_threads, drain_seconds;
    int stop_grace_seconds;     /* StopInstance: Ctrl-Alt-Del to SIGKILL */
    int capacity_vcpus;         /* 0: online CPUs */
    bool help, version;
    char *owned[32];            /* strings read from a config file */
    int nowned;
} mvmd_config;

/* Parses argv (and --config FILE). On a usage error returns
 * MVM_INVALID_ARGUMENT with a message naming the flag. */
mvm_code mvmd_config_parse(mvmd_config *cfg, int argc, char **argv, mvm_error *err);
void mvmd_config_free(mvmd_config *cfg);
void mvmd_config_usage(const char *argv0);

#endif
