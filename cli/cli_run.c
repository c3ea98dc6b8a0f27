/* cli_run.c - one "mvm-cli OBJECT VERB ..." call: the request from the
 * flags (over a JSON file for verbs that read one), the connection from the
 * configuration, the call (unary or streamed; --watch picks the verb's
 * streaming method), the output as a table or JSON, and the exit code. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mvmc.h"

static const ProtobufCMethodDescriptor *verb_method(const cli_verb *verb) {
    return protobuf_c_service_descriptor_get_method_by_name(verb->service, verb->method);
}

mvm_code cli_verb_flags(const cli_verb *verb, cli_flagset *fs, mvm_error *err) {
    const ProtobufCMethodDescriptor *m = verb_method(verb);
    if (!m)
        return mvm_fail(err, MVM_INTERNAL, "no method %s", verb->method);
    return cli_flags_build(m->input, verb->positional, fs, err);
}

static int fail(const mvm_error *err) {
    fprintf(stderr, "mvm-cli: %s: %s\n", mvm_code_name(err->code), err->msg);
    return err->code;
}

/* 1 if m has no field set (DeleteTenantResponse and the like). */
static int is_empty(const ProtobufCMessage *m) {
    for (unsigned i = 0; i < m->descriptor->n_fields; i++)
        if (cli_field_count(m, &m->descriptor->fields[i]))
            return 0;
    return 1;
}

static void print_reply(const cli_object *obj, const ProtobufCMessage *m,
                        int json, int streamed, int first) {
    if (json) {
        char *s = cli_json_encode(m, streamed ? 0 : 2, streamed ? 0 : CLI_JSON_TOP_LISTS);
        if (s)
            printf("%s\n", s);
        free(s);
        fflush(stdout);
    } else if (streamed) {
        cli_table_stream_row(stdout, obj, m, first);
    } else {
        cli_table_print(stdout, obj, m);
    }
}

static int run_stream(mvmc_client *c, const cli_object *obj, const cli_verb *verb,
                      const char *method, const ProtobufCMessage *req,
                      const cli_config *cfg, int count) {
    mvm_error err = {0};
    mvmc_stream *s;
    int json = !strcmp(cfg->output, "json");
    int mi = mvmc_method_index(verb->service, method);
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
    mvm_code rc = mvmc_stream_open(c, verb->service, (unsigned)mi, req, timeout, &s, &err);
    for (int seen = 0; !rc && (count <= 0 || seen < count); seen++) {
        ProtobufCMessage *m;
        rc = mvmc_stream_next(s, &m, &err);
        if (rc || !m)
            break;
        print_reply(obj, m, json, 1, seen == 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    mvmc_stream_close(s);
    /* A watch given --timeout ends when it runs out: that is success. */
    if (rc == MVM_DEADLINE_EXCEEDED && timeout > 0)
        rc = MVM_OK;
    return rc ? fail(&err) : 0;
}

/* Connects as cfg says. A failure the command line or configuration caused
 * (a bad endpoint, a missing or unusable certificate file: INVALID_ARGUMENT
 * from mvmc) is a usage error, 64; anything else exits with its own code. */
static int open_client(const cli_config *cfg, mvmc_client **c) {
    mvm_error err = {0};
    mvmc_options o = {
        .endpoint = cfg->endpoint, .ca_file = cfg->ca, .cert_file = cfg->cert,
        .key_file = cfg->key, .insecure = cfg->insecure > 0,
        .connect_timeout_ms = cfg->timeout_ms > 0 && cfg->timeout_ms < 10000
                                  ? cfg->timeout_ms : 10000,
    };
    if (mvmc_connect(&o, c, &err) == MVM_OK)
        return 0;
    if (err.code == MVM_INVALID_ARGUMENT) {
        fprintf(stderr, "mvm-cli: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    return fail(&err);
}

/* The verb's own options, taken out of argv (up to "--"): -f/--file for
 * a verb that reads its request from a file, --watch for one with a
 * streaming variant. The rest stays in order in rest (n_rest). */
typedef struct verb_options {
    const char *file;
    int watch;
    char **rest;
    int n_rest;
} verb_options;

static mvm_code take_verb_options(const cli_verb *verb, int argc, char **argv,
                                  verb_options *vo, mvm_error *err) {
    memset(vo, 0, sizeof *vo);
    if (!(vo->rest = calloc((size_t)argc + 1, sizeof *vo->rest)))
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    int options = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int is_file = 0;
        if (options && !strcmp(a, "--"))
            options = 0;
        if (options && (verb->opts & CLI_VERB_FILE)) {
            if (!strcmp(a, "-f") || !strcmp(a, "--file"))
                is_file = 1;
            else if (!strncmp(a, "--file=", 7))
                is_file = 1, val = a + 7;
            else if (!strncmp(a, "-f", 2))
                is_file = 1, val = a + 2;
        }
        if (is_file) {
            if (!val && i + 1 < argc)
                val = argv[++i];
            if (!val || !*val)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "-f needs a file (- for standard input)");
            if (vo->file)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "-f given twice");
            vo->file = val;
        } else if (options && verb->watch && !strcmp(a, "--watch")) {
            vo->watch = 1;
        } else {
            vo->rest[vo->n_rest++] = argv[i];
        }
    }
    if ((verb->opts & CLI_VERB_FILE) && !vo->file)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "give the request as -f FILE (JSON; - for standard input)");
    return MVM_OK;
}

/* The whole of path ("-": standard input) into a NUL-terminated buffer. */
static mvm_code read_all(const char *path, char **out, size_t *len, mvm_error *err) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s: cannot open: %s", path,
                        strerror(errno));
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    mvm_code rc = buf ? MVM_OK : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    while (!rc) {
        if (n + 1 >= cap) { /* doubling: linear in the file's size */
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s: cannot read: %s", path,
                              strerror(errno));
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return MVM_OK;
}

/* The request of a verb that reads a file: the file decoded, then the
 * flags over it. */
static mvm_code request_from_file(const cli_flagset *fs, const verb_options *vo,
                                  ProtobufCMessage **req, mvm_error *err) {
    char *text = NULL;
    size_t len = 0;
    mvm_code rc = read_all(vo->file, &text, &len, err);
    if (rc)
        return rc;
    rc = cli_json_decode(fs->req, text, len, req, err);
    free(text);
    if (rc) {
        mvm_error_context(err, "%s", strcmp(vo->file, "-") ? vo->file : "(standard input)");
        return rc;
    }
    rc = cli_flags_parse_onto(fs, vo->n_rest, vo->rest, *req, err);
    if (rc) {
        protobuf_c_message_free_unpacked(*req, NULL);
        *req = NULL;
    }
    return rc;
}

int cli_run(const cli_object *obj, const cli_verb *verb, int argc, char **argv,
            const cli_config *cfg, int count) {
    mvm_error err = {0};
    cli_flagset fs;
    verb_options vo = {0};
    ProtobufCMessage *req = NULL;
    mvm_code rc = cli_verb_flags(verb, &fs, &err);
    if (!rc)
        rc = take_verb_options(verb, argc, argv, &vo, &err);
    if (!rc && vo.file)
        rc = request_from_file(&fs, &vo, &req, &err);
    else if (!rc)
        rc = cli_flags_parse(&fs, vo.n_rest, vo.rest, &req, &err);
    free(vo.rest);
    if (rc) {
        cli_flags_free(&fs);
        fprintf(stderr, "mvm-cli: %s\nTry 'mvm-cli %s %s --help'.\n", err.msg,
                obj->name, verb->name);
        return CLI_EXIT_USAGE;
    }
    char done[512] = "";
    if (verb->done)
        cli_table_done(done, sizeof done, obj, verb, &fs, req);
    cli_flags_free(&fs);
    if (!cfg->endpoint[0]) {
        protobuf_c_message_free_unpacked(req, NULL);
        fprintf(stderr, "mvm-cli: no endpoint: give --endpoint, set MVM_ENDPOINT "
                        "or put \"endpoint = ...\" in the config file\n");
        return CLI_EXIT_USAGE;
    }
    const char *method = vo.watch ? verb->watch : verb->method;
    mvmc_client *c = NULL;
    int exit_code = open_client(cfg, &c);
    int json = !strcmp(cfg->output, "json");
    if (exit_code) {
        /* nothing more to do */
    } else if (cli_docs_server_streaming(verb->service->name, method) == 1) {
        exit_code = run_stream(c, obj, verb, method, req, cfg, count);
    } else {
        ProtobufCMessage *resp = NULL;
        int mi = mvmc_method_index(verb->service, method);
        rc = mvmc_unary(c, verb->service, (unsigned)mi, req, &resp,
                        cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000, &err);
        if (rc) {
            exit_code = fail(&err);
        } else {
            if (!json && done[0] && is_empty(resp))
                printf("%s\n", done);
            else
                print_reply(obj, resp, json, 0, 1);
            protobuf_c_message_free_unpacked(resp, NULL);
        }
    }
    mvmc_close(c);
    protobuf_c_message_free_unpacked(req, NULL);
    return exit_code;
}
