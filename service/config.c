/* config.c - mvmd's options: one table declaring each (name, kind, range,
 * help), the command line, and the config file. The file's lines are checked
 * and normalised by read_line() (comments, CRLF, indentation, length), then
 * split into key and value by inih; on_key() checks each pair against the
 * table. The format is described in config.h. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_kind {
    OPT_ADDR,     /* HOST:PORT or [V6]:PORT, port 0-65535 */
    OPT_ADDR_OFF, /* OPT_ADDR, or "off" */
    OPT_PATH,     /* a path; absolute when it comes from a config file */
    OPT_INT,      /* a whole number from min to max */
    OPT_BOOL,     /* true, false, 1 or 0; a bare flag means true */
    OPT_CHOICE,   /* one of the words of its arg, "a|b|c" */
    OPT_TEXT,     /* any non-empty text, checked by its user */
    OPT_CONFIG,   /* --config FILE: a flag only */
    OPT_ACTION,   /* --help, --version: a flag only, without a value */
} opt_kind;

typedef struct opt {
    const char *name; /* the flag without "--", and the key in a config file */
    opt_kind kind;
    size_t offset;    /* of the field in mvmd_config */
    long min, max;    /* OPT_INT */
    const char *arg;  /* the value's placeholder in the usage */
    const char *help;
} opt;

#define OFF(f) offsetof(mvmd_config, f)
static const opt opts[] = {
    {"listen", OPT_ADDR, OFF(listen), 0, 0, "HOST:PORT",
     "gRPC over TLS with client certificates"},
    {"socket", OPT_PATH, OFF(socket), 0, 0, "PATH",
     "Unix socket for local callers (file permissions are the auth)"},
    {"state-dir", OPT_PATH, OFF(state_dir), 0, 0, "DIR", "the node's state (default /var/lib/mvm)"},
    {"tls-cert", OPT_PATH, OFF(tls_cert), 0, 0, "FILE", "server certificate chain, PEM"},
    {"tls-key", OPT_PATH, OFF(tls_key), 0, 0, "FILE", "server private key, PEM"},
    {"client-ca", OPT_PATH, OFF(client_ca), 0, 0, "FILE",
     "CA bundle that client certificates must chain to, PEM"},
    {"insecure", OPT_BOOL, OFF(insecure), 0, 0, "",
     "serve plaintext h2c on --listen (loopback addresses only)"},
    {"metrics-listen", OPT_ADDR_OFF, OFF(metrics_listen), 0, 0, "HOST:PORT",
     "Prometheus metrics (default 127.0.0.1:9464; \"off\" disables)"},
    {"ready-file", OPT_PATH, OFF(ready_file), 0, 0, "FILE",
     "written once listening, with the bound addresses"},
    {"firecracker", OPT_PATH, OFF(firecracker), 0, 0, "PATH",
     "the Firecracker binary (default: firecracker on PATH)"},
    {"jailer", OPT_PATH, OFF(jailer), 0, 0, "PATH", "Firecracker's jailer (reserved: not used yet)"},
    {"stop-grace-seconds", OPT_INT, OFF(stop_grace_seconds), 0, 600, "N",
     "StopInstance: seconds from Ctrl-Alt-Del to SIGKILL (default 5)"},
    {"firecracker-api-timeout-ms", OPT_INT, OFF(firecracker_api_timeout_ms), 100, 600000, "N",
     "longest wait for one Firecracker API call but InstanceStart and snapshots (default 10000)"},
    {"capacity-vcpus", OPT_INT, OFF(capacity_vcpus), 0, 1000000, "N",
     "vCPUs offered to instances (default: 8 per online CPU)"},
    {"capacity-mem-mib", OPT_INT, OFF(capacity_mem_mib), 0, 1 << 30, "N",
     "MiB of memory offered to instances (default: the host's, less 10% or 512 MiB)"},
    {"memory-backend", OPT_CHOICE, OFF(memory_backend), 0, 0, "file|uffd",
     "how restored microVMs get their memory when their pool does not say (default file)"},
    {"janitor-interval-ms", OPT_INT, OFF(janitor_interval_ms), 10, 3600000, "N",
     "how often TTLs are checked and unused snapshots removed (default 5000)"},
    {"reconcile-interval-ms", OPT_INT, OFF(reconcile_interval_ms), 10, 3600000, "N",
     "how often pools are compared with their desired counts and sleep policy (default "
     "1000; also at once when they change)"},
    {"activity-interval-ms", OPT_INT, OFF(activity_interval_ms), 10, 3600000, "N",
     "how often running instances' network traffic is sampled for the sleep policy (default "
     "5000)"},
    {"network", OPT_CHOICE, OFF(network), 0, 0, "auto|on|off",
     "tenant networks for instances: bridges, a netns and TAP each, nftables (default auto: "
     "on when mvmd may make devices)"},
    {"net-uplink", OPT_TEXT, OFF(net_uplink), 0, 0, "IFACE",
     "where tenant subnets are masqueraded out (default auto: the default route's device; "
     "\"none\": nowhere)"},
    {"net-host-services", OPT_TEXT, OFF(net_host_services), 0, 0, "PROTO:PORT,...",
     "host ports guests may reach, e.g. udp:53,tcp:53 (default: none)"},
    {"net-pool", OPT_INT, OFF(net_pool), 0, 1024, "N",
     "network namespaces made ahead, so a burst of N new instances skips making its own "
     "(default 16; 0: none)"},
    {"io-threads", OPT_INT, OFF(io_threads), 1, 256, "N", "I/O threads (default: one per CPU)"},
    {"worker-threads", OPT_INT, OFF(worker_threads), 1, 1024, "N",
     "threads for blocking work (default: 2 per CPU, at least 4)"},
    {"drain-seconds", OPT_INT, OFF(drain_seconds), 1, 3600, "N",
     "seconds SIGTERM waits for calls before cutting them (default 30)"},
    {"max-message-bytes", OPT_INT, OFF(max_message_bytes), 1024, 64 << 20, "N",
     "largest request message (default 4 MiB)"},
    {"max-streams-per-conn", OPT_INT, OFF(max_streams_per_conn), 1, 100000, "N",
     "concurrent calls per connection (default 1000)"},
    {"max-stream-queue-bytes", OPT_INT, OFF(max_stream_queue_bytes), 4096, 1 << 30, "N",
     "unsent replies one call may queue before it is cut (default 16 MiB)"},
    {"max-conn-queue-bytes", OPT_INT, OFF(max_conn_queue_bytes), 4096, 1 << 30, "N",
     "unsent replies one connection may queue (default 32 MiB)"},
    {"max-conn-input-bytes", OPT_INT, OFF(max_conn_input_bytes), 4096, 1 << 30, "N",
     "partly received requests one connection may hold (default 32 MiB)"},
    {"max-total-buffered-bytes", OPT_INT, OFF(max_total_buffered_bytes), 65536, 1 << 30, "N",
     "all of the above over every connection (default 256 MiB)"},
    {"request-timeout-ms", OPT_INT, OFF(request_timeout_ms), 100, 3600000, "N",
     "time for a request message to arrive in full (default 30000)"},
    {"handshake-timeout-ms", OPT_INT, OFF(handshake_timeout_ms), 100, 600000, "N",
     "time for a TLS handshake (default 10000)"},
    {"max-handshakes", OPT_INT, OFF(max_handshakes), 1, 100000, "N",
     "TLS handshakes in progress; past it the oldest is dropped (default 128)"},
    {"max-tcp-connections", OPT_INT, OFF(max_tcp_connections), 1, 10000000, "N",
     "TCP connections (default: the open-file limit less a reserve)"},
    {"config", OPT_CONFIG, 0, 0, 0, "FILE", "read the settings above from FILE (see below)"},
    {"help", OPT_ACTION, OFF(help), 0, 0, "", "show this help"},
    {"version", OPT_ACTION, OFF(version), 0, 0, "", "print the version"},
    {"check-store", OPT_ACTION, OFF(check_store), 0, 0, "",
     "check the store in --state-dir (read-only, beside a running mvmd too) and exit"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void mvmd_config_usage(const char *argv0) {
    printf("usage: %s --listen HOST:PORT --socket PATH --state-dir DIR --tls-cert F --tls-key F\n"
           "       --client-ca F [--insecure] [--metrics-listen HOST:PORT] [options]\n\n"
           "mvmd serves the mvm.v1 API (tenants, pools, instances, node) over gRPC.\n\n",
           argv0);
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        int w = printf("  --%s%s%s", o->name, *o->arg ? " " : "", o->arg);
        printf("%*s%s", w < 31 ? 31 - w : 1, "", o->help);
        if (o->kind == OPT_INT)
            printf(" [%ld-%ld]", o->min, o->max);
        printf("\n");
    }
    printf("\nA flag given twice takes its last value. --config FILE reads \"key = value\"\n"
           "lines, the keys being the flags above without \"--\"; flags win over the file.\n"
           "\"#\" or \";\" starts a comment (at the start of a line or after a space);\n"
           "each key at most once; paths absolute. Mistakes are refused with FILE:LINE.\n"
           "\nSIGTERM or SIGINT drains: GOAWAY, in-flight calls finish, then exit 0.\n");
}

static const opt *find(const char *name, size_t len) {
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static bool is_string_kind(opt_kind k) {
    return k == OPT_ADDR || k == OPT_ADDR_OFF || k == OPT_PATH || k == OPT_CHOICE || k == OPT_TEXT;
}

/* "HOST:PORT" or "[V6]:PORT" (an empty HOST means every address). */
static mvm_code check_addr(const char *v, mvm_error *err) {
    const char *colon = strrchr(v, ':');
    if (!colon || strpbrk(v, " \t"))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "\"%s\" is not HOST:PORT", v);
    size_t hlen = (size_t)(colon - v);
    bool bracketed = hlen > 0 && v[0] == '[';
    bool bad_host = bracketed ? hlen < 3 || v[hlen - 1] != ']' || memchr(v + 1, '[', hlen - 1) ||
                                    memchr(v + 1, ']', hlen - 2)
                              : memchr(v, ':', hlen) || memchr(v, '[', hlen) || memchr(v, ']', hlen);
    if (bad_host)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "\"%s\" is not HOST:PORT (an IPv6 address is written in brackets: [::1]:7443)", v);
    const char *port = colon + 1;
    size_t plen = strlen(port);
    if (plen < 1 || plen > 5 || strspn(port, "0123456789") != plen || atol(port) > 65535)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "\"%s\": the port after the last \":\" must be a number from 0 to 65535", v);
    return MVM_OK;
}

/* Checks V as a value of option O and, if APPLY, stores it in *cfg (strings
 * by pointer: V must live as long as *cfg). The message says what is wrong
 * with the value; the caller adds where it came from. */
static mvm_code set_value(mvmd_config *cfg, const opt *o, const char *v, bool from_file, bool apply,
                          mvm_error *err) {
    char *field = (char *)cfg + o->offset;
    if (!*v)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "empty value");
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "control character (byte 0x%02x) in the value",
                            (unsigned)(unsigned char)*p);
    switch (o->kind) {
    case OPT_ADDR_OFF:
        if (strcmp(v, "off") == 0)
            break;
        /* fall through */
    case OPT_ADDR:
        if (check_addr(v, err) != MVM_OK)
            return err->code;
        break;
    case OPT_TEXT:
        break;
    case OPT_PATH:
        if (from_file && v[0] != '/')
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "\"%s\" is not an absolute path (in a config file, paths start with /)", v);
        break;
    case OPT_INT: {
        size_t len = strlen(v);
        long n = len <= 9 && strspn(v, "0123456789") == len ? strtol(v, NULL, 10) : -1;
        if (n < o->min || n > o->max)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "\"%s\" is not a whole number from %ld to %ld",
                            v, o->min, o->max);
        if (apply)
            *(int *)field = (int)n;
        return MVM_OK;
    }
    case OPT_BOOL: {
        bool yes = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        if (!yes && strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "\"%s\" is not true or false", v);
        if (apply)
            *(bool *)field = yes;
        return MVM_OK;
    }
    case OPT_CHOICE: {
        size_t n = strlen(v);
        const char *w = o->arg;
        bool ok = false;
        while (!ok && *w) {
            size_t wl = strcspn(w, "|");
            ok = wl == n && strncmp(w, v, n) == 0;
            w += wl + (w[wl] == '|');
        }
        if (!ok)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "\"%s\" is not one of %s", v, o->arg);
        break;
    }
    case OPT_CONFIG:
    case OPT_ACTION:
        return mvm_fail(err, MVM_INTERNAL, "not a setting");
    }
    if (apply)
        *(const char **)field = v;
    return MVM_OK;
}

/* ---- the config file ---- */

typedef struct file_ctx {
    FILE *f;
    const char *path;
    int lineno;                 /* of the line last read */
    char *buf;                  /* getline's */
    size_t cap;
    mvmd_config *cfg;
    const bool *flag_set;       /* options set by a flag: checked, not applied */
    int line_of[NOPTS];         /* where each key was set; 0: not yet */
    bool failed;                /* *err is filled; stop reading */
    mvm_error *err;
} file_ctx;

__attribute__((format(printf, 3, 4)))
static int file_fail(file_ctx *c, mvm_code code, const char *fmt, ...) {
    char msg[MVM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mvm_fail(c->err, code, "%s:%d: %s", c->path, c->lineno, msg);
    c->failed = true;
    return 0;
}

/* Cuts a comment off s: "#" or ";" at its start or after a space or tab. */
static void cut_comment(char *s) {
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

/* inih's line reader (fgets-like): gives inih the next line that holds a
 * key, without indentation, comment or line end, after checking that it is
 * one "key = value"; NULL at the end or after an error. inih's own handling
 * of these differs between its builds (inline comments, continuation lines,
 * "key: value", [sections], over-long lines split in two), so none of them
 * reaches it. SIZE is inih's line buffer size. */
static char *read_line(char *out, int size, void *stream) {
    file_ctx *c = stream;
    while (!c->failed) {
        errno = 0;
        ssize_t n = getline(&c->buf, &c->cap, c->f);
        if (n < 0) {
            int e = errno;
            if (e == ENOMEM || ferror(c->f)) {
                c->lineno++;
                file_fail(c, e == ENOMEM ? MVM_RESOURCE_EXHAUSTED : MVM_INVALID_ARGUMENT,
                          "cannot read: %s", strerror(e ? e : EIO));
            }
            return NULL;
        }
        c->lineno++;
        char *s = c->buf;
        if (memchr(s, '\0', (size_t)n)) {
            file_fail(c, MVM_INVALID_ARGUMENT, "NUL byte (is this a text file?)");
            return NULL;
        }
        if (n > 0 && s[n - 1] == '\n')
            s[--n] = '\0';
        if (n > 0 && s[n - 1] == '\r')
            s[--n] = '\0';
        if (c->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3;
        s += strspn(s, " \t");
        cut_comment(s);
        size_t len = strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (len == 0)
            continue;
        for (const char *p = s; *p; p++) {
            if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
                file_fail(c, MVM_INVALID_ARGUMENT, "control character (byte 0x%02x)",
                          (unsigned)(unsigned char)*p);
                return NULL;
            }
        }
        if (s[0] == '[') {
            file_fail(c, MVM_INVALID_ARGUMENT,
                      "sections are not used: the file is only \"key = value\" lines");
            return NULL;
        }
        size_t key_len = strcspn(s, "=:");
        if (s[key_len] != '=' || key_len == 0) {
            file_fail(c, MVM_INVALID_ARGUMENT, "\"%s\" is not \"key = value\"", s);
            return NULL;
        }
        if (size < 3 || len > (size_t)size - 2) {
            file_fail(c, MVM_INVALID_ARGUMENT, "line longer than %d characters", size - 2);
            return NULL;
        }
        memcpy(out, s, len);
        out[len] = '\n';
        out[len + 1] = '\0';
        return out;
    }
    return NULL;
}

/* inih's handler: one key and value from the line read_line() gave it. */
static int on_key(void *user, const char *section, const char *name, const char *value) {
    file_ctx *c = user;
    const opt *o = find(name, strlen(name));
    if (!o)
        return file_fail(c, MVM_INVALID_ARGUMENT,
                         "unknown key \"%s\" (the keys are mvmd's flags without --, see mvmd --help)", name);
    if (o->kind == OPT_CONFIG || o->kind == OPT_ACTION)
        return file_fail(c, MVM_INVALID_ARGUMENT, "%s is a flag only (--%s), not a setting", name, name);
    size_t idx = (size_t)(o - opts);
    if (c->line_of[idx])
        return file_fail(c, MVM_INVALID_ARGUMENT, "%s is set twice, here and on line %d", name,
                         c->line_of[idx]);
    c->line_of[idx] = c->lineno;
    if (!*value)
        return file_fail(c, MVM_INVALID_ARGUMENT, "%s has no value", name);
    if (value[0] == '"' || value[0] == '\'')
        return file_fail(c, MVM_INVALID_ARGUMENT, "%s: values are written without quotes", name);
    bool apply = !c->flag_set[idx];
    const char *v = value;
    if (apply && is_string_kind(o->kind)) {
        char *copy = strdup(value);
        if (!copy)
            return file_fail(c, MVM_RESOURCE_EXHAUSTED, "out of memory");
        c->cfg->owned[idx] = copy;
        v = copy;
    }
    if (set_value(c->cfg, o, v, true, apply, c->err) != MVM_OK) {
        mvm_error_context(c->err, "%s:%d: %s", c->path, c->lineno, name);
        c->failed = true;
        return 0;
    }
    return 1;
}

/* Applies FILE's settings to *cfg where no flag set them (FLAG_SET). */
static mvm_code load_file(mvmd_config *cfg, const char *path, const bool *flag_set, mvm_error *err) {
    if (!cfg->owned && !(cfg->owned = calloc(NOPTS, sizeof *cfg->owned)))
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    file_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    c->f = fopen(path, "re");
    if (!c->f) {
        int e = errno;
        free(c);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "cannot read config file %s: %s", path, strerror(e));
    }
    c->path = path;
    c->cfg = cfg;
    c->flag_set = flag_set;
    c->err = err;
    int rc = ini_parse_stream(read_line, c, on_key, c);
    mvm_code code = MVM_OK;
    if (c->failed)
        code = err->code;
    else if (rc == -2)
        code = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory reading %s", path);
    else if (rc != 0) /* read_line() passes on only lines inih accepts */
        code = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s:%d: not understood", path, rc);
    free(c->buf);
    fclose(c->f);
    free(c);
    return code;
}

/* ---- the command line ---- */

mvm_code mvmd_config_parse(mvmd_config *cfg, int argc, char **argv, mvm_error *err) {
    memset(cfg, 0, sizeof *cfg);
    cfg->state_dir = "/var/lib/mvm";
    cfg->metrics_listen = "127.0.0.1:9464";
    cfg->drain_seconds = 30;
    cfg->net_pool = 16;
    bool set[NOPTS] = {0};
    const char *config_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "unexpected argument \"%s\" (see --help)", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const opt *o = find(a, len);
        if (!o)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "unknown flag --%.*s (see --help)", (int)len, a);
        const char *val = eq ? eq + 1 : NULL;
        if (o->kind == OPT_ACTION) {
            if (val)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s takes no value", o->name);
            *(bool *)((char *)cfg + o->offset) = true;
            continue;
        }
        if (!val && o->kind == OPT_BOOL)
            val = "true";
        if (!val) {
            if (i + 1 >= argc)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s needs a value (%s)", o->name, o->arg);
            val = argv[++i];
        }
        if (o->kind == OPT_CONFIG) {
            if (config_file)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "--config given twice (one file only)");
            if (!*val)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "--config: empty value");
            config_file = val;
            continue;
        }
        if (set_value(cfg, o, val, false, true, err) != MVM_OK) {
            mvm_error_context(err, "--%s", o->name);
            return err->code;
        }
        set[o - opts] = true;
    }
    if (config_file && load_file(cfg, config_file, set, err) != MVM_OK)
        return err->code;
    if (cfg->metrics_listen && strcmp(cfg->metrics_listen, "off") == 0)
        cfg->metrics_listen = NULL;
    return MVM_OK;
}

void mvmd_config_free(mvmd_config *cfg) {
    if (cfg->owned) {
        for (size_t i = 0; i < NOPTS; i++)
            free(cfg->owned[i]);
        free(cfg->owned);
        cfg->owned = NULL;
    }
}
