/* cli_run.c - one "mvm-cli OBJECT VERB ..." call: the request from the
 * flags, the connection from the configuration, the call (unary or
 * streamed), the output as a table or JSON, and the exit code. */
#include "cli.h"

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
                      const ProtobufCMessage *req, const cli_config *cfg, int count) {
    mvm_error err = {0};
    mvmc_stream *s;
    int json = !strcmp(cfg->output, "json");
    int mi = mvmc_method_index(verb->service, verb->method);
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

int cli_run(const cli_object *obj, const cli_verb *verb, int argc, char **argv,
            const cli_config *cfg, int count) {
    mvm_error err = {0};
    cli_flagset fs;
    ProtobufCMessage *req = NULL;
    mvm_code rc = cli_verb_flags(verb, &fs, &err);
    if (!rc)
        rc = cli_flags_parse(&fs, argc, argv, &req, &err);
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
    mvmc_client *c = NULL;
    int exit_code = open_client(cfg, &c);
    int json = !strcmp(cfg->output, "json");
    if (exit_code) {
        /* nothing more to do */
    } else if (cli_docs_server_streaming(verb->service->name, verb->method) == 1) {
        exit_code = run_stream(c, obj, verb, req, cfg, count);
    } else {
        ProtobufCMessage *resp = NULL;
        int mi = mvmc_method_index(verb->service, verb->method);
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
