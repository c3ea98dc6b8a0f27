/* config.c - parsing mvmd's flags and config file (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STR, OPT_INT, OPT_BOOL, OPT_FILE } opt_kind;

typedef struct opt {
    const char *name;
    opt_kind kind;
    size_t offset;
    const char *help;
} opt;

#define OFF(f) offsetof(mvmd_config, f)
static const opt opts[] = {
    {"listen", OPT_STR, OFF(listen), "HOST:PORT for gRPC over TLS with client certificates"},
    {"socket", OPT_STR, OFF(socket), "PATH of a Unix socket for local callers (file permissions are the auth)"},
    {"state-dir", OPT_STR, OFF(state_dir), "DIR holding the node's state (default /var/lib/mvm)"},
    {"tls-cert", OPT_STR, OFF(tls_cert), "server certificate chain, PEM"},
    {"tls-key", OPT_STR, OFF(tls_key), "server private key, PEM"},
    {"client-ca", OPT_STR, OFF(client_ca), "CA bundle that client certificates must chain to, PEM"},
    {"insecure", OPT_BOOL, OFF(insecure), "serve plaintext h2c on --listen (loopback addresses only)"},
    {"metrics-listen", OPT_STR, OFF(metrics_listen), "HOST:PORT for Prometheus metrics (default 127.0.0.1:9464; \"off\" disables)"},
    {"ready-file", OPT_STR, OFF(ready_file), "FILE written once listening, with the bound addresses"},
    {"firecracker", OPT_STR, OFF(firecracker), "PATH of the Firecracker binary (default: firecracker on PATH)"},
    {"jailer", OPT_STR, OFF(jailer), "PATH of Firecracker's jailer (reserved)"},
    {"stop-grace-seconds", OPT_INT, OFF(stop_grace_seconds), "N seconds StopInstance waits after Ctrl-Alt-Del before SIGKILL (default 5)"},
    {"capacity-vcpus", OPT_INT, OFF(capacity_vcpus), "N vCPUs offered to instances (default: 8 per online CPU)"},
    {"io-threads", OPT_INT, OFF(io_threads), "N I/O threads (default: one per CPU)"},
    {"worker-threads", OPT_INT, OFF(worker_threads), "N threads for blocking work (default: 2 per CPU, at least 4)"},
    {"drain-seconds", OPT_INT, OFF(drain_seconds), "N seconds SIGTERM waits for calls before cutting them (default 30)"},
    {"config", OPT_FILE, 0, "FILE of \"key = value\" lines with the names above"},
    {"help", OPT_BOOL, OFF(help), "show this help"},
    {"version", OPT_BOOL, OFF(version), "print the version"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void mvmd_config_usage(const char *argv0) {
    printf("usage: %s --listen HOST:PORT --socket PATH --state-dir DIR --tls-cert F --tls-key F\n"
           "       --client-ca F [--insecure] [--metrics-listen HOST:PORT] [options]\n\n"
           "mvmd serves the mvm.v1 API (tenants, pools, instances, node) over gRPC.\n\n",
           argv0);
    for (size_t i = 0; i < NOPTS; i++)
        printf("  --%-16s %s\n", opts[i].name, opts[i].help);
    printf("\nSIGTERM or SIGINT drains: GOAWAY, in-flight calls finish, then exit 0.\n");
}

static const opt *find(const char *name, size_t len) {
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static mvm_code load_file(mvmd_config *cfg, const char *path, bool *set, mvm_error *err);

static mvm_code apply(mvmd_config *cfg, const opt *o, const char *val, bool *set, mvm_error *err) {
    size_t idx = (size_t)(o - opts);
    char *base = (char *)cfg;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)(base + o->offset) = val;
        break;
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || *end || v < 0 || v > 1024)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s wants a number from 0 to 1024, not \"%s\"",
                            o->name, val);
        *(int *)(base + o->offset) = (int)v;
        break;
    }
    case OPT_BOOL:
        if (strcmp(val, "true") && strcmp(val, "1") && strcmp(val, "false") && strcmp(val, "0"))
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s wants true or false, not \"%s\"", o->name, val);
        *(bool *)(base + o->offset) = !strcmp(val, "true") || !strcmp(val, "1");
        break;
    case OPT_FILE:
        return load_file(cfg, val, set, err);
    }
    set[idx] = true;
    return MVM_OK;
}

/* Values from the file apply only where no flag set the option. */
static mvm_code load_file(mvmd_config *cfg, const char *path, bool *flag_set, mvm_error *err) {
    FILE *f = fopen(path, "r");
    if (!f)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "cannot read --config %s: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0;
    bool file_set[NOPTS] = {0};
    mvm_code rc = MVM_OK;
    while (rc == MVM_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "\r\n")] = '\0';
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s:%d: want \"key = value\"", path, lineno);
            break;
        }
        char *k = s, *kend = eq;
        while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
            kend--;
        char *v = eq + 1 + strspn(eq + 1, " \t");
        const opt *o = find(k, (size_t)(kend - k));
        if (!o || o->kind == OPT_FILE) {
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s:%d: unknown key \"%.*s\"", path, lineno,
                          (int)(kend - k), k);
            break;
        }
        if (flag_set[o - opts] || cfg->nowned >= (int)(sizeof cfg->owned / sizeof cfg->owned[0]))
            continue;
        char *copy = strdup(v);
        if (!copy) {
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        cfg->owned[cfg->nowned++] = copy;
        rc = apply(cfg, o, copy, file_set, err);
    }
    fclose(f);
    return rc;
}

mvm_code mvmd_config_parse(mvmd_config *cfg, int argc, char **argv, mvm_error *err) {
    memset(cfg, 0, sizeof *cfg);
    cfg->state_dir = "/var/lib/mvm";
    cfg->metrics_listen = "127.0.0.1:9464";
    bool set[NOPTS] = {0};
    const char *config_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "unexpected argument \"%s\" (see --help)", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const opt *o = find(a, len);
        if (!o)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "unknown flag --%.*s (see --help)", (int)len, a);
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->kind == OPT_BOOL)
            val = "true";
        if (!val) {
            if (i + 1 >= argc)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s needs a value", o->name);
            val = argv[++i];
        }
        if (o->kind == OPT_FILE) {
            config_file = val;
            continue;
        }
        if (apply(cfg, o, val, set, err) != MVM_OK)
            return err->code;
    }
    if (config_file && load_file(cfg, config_file, set, err) != MVM_OK)
        return err->code;
    if (cfg->metrics_listen && strcmp(cfg->metrics_listen, "off") == 0)
        cfg->metrics_listen = NULL;
    return MVM_OK;
}

void mvmd_config_free(mvmd_config *cfg) {
    for (int i = 0; i < cfg->nowned; i++)
        free(cfg->owned[i]);
    cfg->nowned = 0;
}
