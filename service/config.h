/* config.h - mvmd's settings: command-line flags and, optionally, a config
 * file of "key = value" lines using the flags' names without "--".
 *
 * The options and their checks are one table in config.c (name, kind,
 * range, help); `mvmd --help` prints it. The file format:
 *   - one "key = value" per line; spaces around key and value do not count;
 *   - blank lines, and comments: "#" or ";" at the start of a line or after
 *     a space or tab, up to the end of the line;
 *   - LF or CRLF line ends, an optional UTF-8 byte order mark;
 *   - no sections, no quoting, no continuation lines;
 *   - each key at most once; paths absolute (a relative one would depend on
 *     the directory mvmd happens to be started in).
 * Anything else is refused with FILE:LINE and what is wrong. Every value in
 * the file is checked even where a flag overrides it. On the command line a
 * flag given twice takes the last value (flags win over the file).
 * Lines are split by inih (docs/dependencies.md). */
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
    const char *firecracker;    /* Firecracker binary, or NULL: "firecracker" on PATH */
    const char *jailer;         /* Firecracker's jailer, or NULL (reserved) */
    int stop_grace_seconds;     /* StopInstance: Ctrl-Alt-Del to SIGKILL; 0: 5 */
    int firecracker_api_timeout_ms; /* one Firecracker API call; 0: 10000 */
    int capacity_vcpus;         /* vCPUs offered; 0: 8 per online CPU */
    int capacity_mem_mib;       /* memory offered; 0: host memory less a reserve */
    const char *memory_backend; /* "file" or "uffd"; NULL: file */
    int janitor_interval_ms;    /* 0: 5000 */
    int reconcile_interval_ms;  /* 0: 1000 */
    int activity_interval_ms;   /* 0: 5000 */
    const char *network;        /* "auto", "on" or "off"; NULL: auto */
    const char *net_uplink;     /* "auto", "none" or a device name; NULL: auto */
    const char *net_host_services; /* "tcp:53,udp:53"; NULL: none */
    int net_pool;               /* network namespaces made ahead; default 16 */
    /* the transport's limits (rpc.h "Limits"); 0: the transport's default */
    int max_message_bytes, max_streams_per_conn, max_stream_queue_bytes,
        max_conn_queue_bytes, max_conn_input_bytes, max_total_buffered_bytes,
        request_timeout_ms, handshake_timeout_ms, max_handshakes, max_tcp_connections;
    int io_threads;             /* 0: not set, one per CPU */
    int worker_threads;         /* 0: not set, 2 per CPU, at least 4 */
    int drain_seconds;          /* 1..3600, default 30 */
    bool help, version, check_store;
    char **owned;               /* strings read from the config file, one
                                   slot per option; freed by mvmd_config_free */
} mvmd_config;

/* Fills *cfg from argv (argv[0] is the program) and, with --config FILE,
 * from FILE: defaults first, then the file, then the flags. Returns MVM_OK,
 * or MVM_INVALID_ARGUMENT with a message naming the flag, or the file and
 * line, and what is wrong (a file that cannot be read is also
 * MVM_INVALID_ARGUMENT); MVM_RESOURCE_EXHAUSTED when out of memory. The
 * strings in *cfg point into argv or into cfg->owned: call mvmd_config_free
 * afterwards, also after a failure. Not thread-safe (main, at start-up);
 * no callbacks. */
mvm_code mvmd_config_parse(mvmd_config *cfg, int argc, char **argv, mvm_error *err);

/* Frees what mvmd_config_parse allocated; *cfg's strings are then invalid. */
void mvmd_config_free(mvmd_config *cfg);

/* Prints the usage and the option table to stdout. */
void mvmd_config_usage(const char *argv0);

#endif
