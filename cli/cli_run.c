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

/* Names of the fields of the object's "get" request: for an update they
 * select the resource and so are not paths of its update_mask. */
static void selectors(const cli_object *obj, const char **out, size_t cap) {
    size_t n = 0;
    for (const cli_verb *v = obj->verbs; v->name; v++) {
        const ProtobufCMethodDescriptor *m;
        if (strcmp(v->name, "get") != 0 || !(m = verb_method(v)))
            continue;
        for (unsigned i = 0; i < m->input->n_fields && n + 1 < cap; i++)
            out[n++] = m->input->fields[i].name;
    }
    out[n] = NULL;
}

static int fail(const mvm_error *err) {
    fprintf(stderr, "mvm-cli: %s: %s\n", mvm_code_name(err->code), err->msg);
    return err->code;
}

static void print_reply(const cli_object *obj, const ProtobufCMessage *m,
                        int json, int streamed, int first) {
    if (json) {
        char *s = cli_json_encode(m, streamed ? 0 : 2);
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

int cli_run(const cli_object *obj, const cli_verb *verb, int argc, char **argv,
            const cli_config *cfg, int count) {
    mvm_error err = {0};
    cli_flagset fs;
    const char *sel[32];
    ProtobufCMessage *req = NULL;
    selectors(obj, sel, sizeof sel / sizeof sel[0]);
    mvm_code rc = cli_verb_flags(verb, &fs, &err);
    if (!rc)
        rc = cli_flags_parse(&fs, argc, argv, sel, &req, &err);
    cli_flags_free(&fs);
    if (rc) {
        fprintf(stderr, "mvm-cli: %s\nTry 'mvm-cli %s %s --help'.\n", err.msg,
                obj->name, verb->name);
        return CLI_EXIT_USAGE;
    }
    if (!cfg->endpoint[0]) {
        protobuf_c_message_free_unpacked(req, NULL);
        fprintf(stderr, "mvm-cli: no endpoint: give --endpoint, set MVM_ENDPOINT "
                        "or put \"endpoint = ...\" in the config file\n");
        return CLI_EXIT_USAGE;
    }
    mvmc_options o = {
        .endpoint = cfg->endpoint, .ca_file = cfg->ca, .cert_file = cfg->cert,
        .key_file = cfg->key, .insecure = cfg->insecure > 0,
        .connect_timeout_ms = cfg->timeout_ms > 0 && cfg->timeout_ms < 10000
                                  ? cfg->timeout_ms : 10000,
    };
    mvmc_client *c = NULL;
    int exit_code;
    rc = mvmc_connect(&o, &c, &err);
    if (rc) {
        exit_code = fail(&err);
        if (rc != MVM_UNAVAILABLE) /* bad endpoint or certificate files */
            exit_code = CLI_EXIT_USAGE;
    } else if (cli_docs_server_streaming(verb->service->name, verb->method) == 1) {
        exit_code = run_stream(c, obj, verb, req, cfg, count);
    } else {
        ProtobufCMessage *resp = NULL;
        int mi = mvmc_method_index(verb->service, verb->method);
        rc = mvmc_unary(c, verb->service, (unsigned)mi, req, &resp,
                        cfg->timeout_ms >= 0 ? cfg->timeout_ms : 30000, &err);
        if (rc) {
            exit_code = fail(&err);
        } else {
            print_reply(obj, resp, !strcmp(cfg->output, "json"), 0, 1);
            protobuf_c_message_free_unpacked(resp, NULL);
            exit_code = 0;
        }
    }
    mvmc_close(c);
    protobuf_c_message_free_unpacked(req, NULL);
    return exit_code;
}
