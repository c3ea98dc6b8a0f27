/* cli_unit_test.c - unit tests of mvm-cli's descriptor-driven parts: flag
 * derivation and parsing (flattening, maps, enums, bools, ranges, the
 * positional argument, update_mask, "--", required fields from the proto's
 * field behaviours), the help texts (every verb and flag documented from the
 * proto), the JSON encoder, durations, the "deleted ..." line, and the wire
 * helpers of libmvmc (grpc-message decoding, HTTP status mapping,
 * grpc-timeout), the JSON decoder (every type, both name styles, every
 * error with its path, a round trip through the encoder, 10,000 pools, the
 * example state file), node apply/status and the status tables, and the
 * network settings' flags (--egress, --forward, --rx-bps ...) and cells. */
#include "../../tests/unit/check.h"
#include "cli.h"
#include "cli_help.h"
#include "grpc_wire.h"
#include "mvmc.h"

#include <stdlib.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/node.pb-c.h"
#include "mvm/v1/pool.pb-c.h"
#include "mvm/v1/tenant.pb-c.h"

static const cli_flag *flag(const cli_flagset *fs, const char *name) {
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(fs->flags[i].name, name))
            return &fs->flags[i];
    return NULL;
}

/* Parses argv (NULL-terminated) as flags of desc; returns the code. */
static mvm_code parse(const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                      mvm_error *err, char **argv) {
    cli_flagset fs;
    int argc = 0;
    while (argv[argc])
        argc++;
    mvm_code rc = cli_flags_build(desc, NULL, &fs, err);
    if (!rc)
        rc = cli_flags_parse(&fs, argc, argv, out, err);
    cli_flags_free(&fs);
    return rc;
}

static void test_flag_names(void) {
    cli_flagset fs;
    mvm_error err;
    CHECK_EQ_INT(cli_flags_build(&mvm__v1__create_tenant_request__descriptor, NULL, &fs, &err), MVM_OK);
    CHECK(flag(&fs, "net-id") != NULL);
    CHECK(flag(&fs, "quota-max-instances") != NULL);
    CHECK(flag(&fs, "label") != NULL);
    CHECK(flag(&fs, "name") && flag(&fs, "name")->positional);
    CHECK(flag(&fs, "create-time") == NULL);      /* Timestamp: no flag */
    CHECK(flag(&fs, "resource-version") == NULL); /* output only */
    CHECK(flag(&fs, "usage-instances") == NULL);  /* output-only message */
    CHECK(fs.mask_field == NULL);
    cli_flags_free(&fs);

    CHECK_EQ_INT(cli_flags_build(&mvm__v1__update_tenant_request__descriptor, NULL, &fs, &err), MVM_OK);
    CHECK(fs.mask_field != NULL);
    CHECK(flag(&fs, "resource-version") != NULL); /* conditional updates */
    CHECK(flag(&fs, "update-mask") == NULL);
    CHECK_EQ_STR(flag(&fs, "quota-max-pools")->mask_path, "quota.max_pools");
    cli_flags_free(&fs);
}

static void test_parse_create(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *argv[] = {"acme", "--net-id", "3", "--subnet=10.240.3.0/24",
                    "--label", "env=prod", "--label", "team=a=b",
                    "--quota-max-mem-mib", "18446744073709551615", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__create_tenant_request__descriptor, &m, &err, argv), MVM_OK);
    Mvm__V1__CreateTenantRequest *r = (Mvm__V1__CreateTenantRequest *)m;
    if (!r || !r->tenant)
        return;
    CHECK_EQ_STR(r->tenant->name, "acme");
    CHECK_EQ_INT(r->tenant->net_id, 3);
    CHECK_EQ_STR(r->tenant->subnet, "10.240.3.0/24");
    CHECK(r->tenant->quota && r->tenant->quota->max_mem_mib == UINT64_MAX);
    CHECK_EQ_INT(r->tenant->n_labels, 2);
    if (r->tenant->n_labels == 2) {
        CHECK_EQ_STR(r->tenant->labels[0]->key, "env");
        CHECK_EQ_STR(r->tenant->labels[1]->value, "a=b");
    }
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_parse_errors(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    const ProtobufCMessageDescriptor *d = &mvm__v1__create_tenant_request__descriptor;
    char *a1[] = {"--net-id", "4294967296", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a1), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "out of range") != NULL);
    char *a2[] = {"--net-id", "-1", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a2), MVM_INVALID_ARGUMENT);
    char *a3[] = {"--net-id", "12x", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a3), MVM_INVALID_ARGUMENT);
    char *a4[] = {"--nope", "1", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a4), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "unknown flag --nope") && strstr(err.msg, "--net-id"));
    char *a5[] = {"a", "b", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a5), MVM_INVALID_ARGUMENT);
    char *a6[] = {"--label", "novalue", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a6), MVM_INVALID_ARGUMENT);
    char *a7[] = {"--subnet", NULL};
    CHECK_EQ_INT(parse(d, &m, &err, a7), MVM_INVALID_ARGUMENT);
    char *a8[] = {"--list", NULL}; /* a request without a positional */
    CHECK_EQ_INT(parse(&mvm__v1__list_tenants_request__descriptor, &m, &err, a8),
                 MVM_INVALID_ARGUMENT);
}

static void test_update_mask(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *argv[] = {"acme", "--quota-max-instances", "5", "--label", "a=b",
                    "--label", "c=d", "--resource-version", "7", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, &m, &err, argv), MVM_OK);
    Mvm__V1__UpdateTenantRequest *r = (Mvm__V1__UpdateTenantRequest *)m;
    if (!r)
        return;
    CHECK(r->update_mask != NULL);
    if (r->update_mask) {
        CHECK_EQ_INT(r->update_mask->n_paths, 2);
        if (r->update_mask->n_paths == 2) {
            CHECK_EQ_STR(r->update_mask->paths[0], "quota.max_instances");
            CHECK_EQ_STR(r->update_mask->paths[1], "labels");
        }
    }
    CHECK_EQ_INT(r->tenant->resource_version, 7);
    protobuf_c_message_free_unpacked(m, NULL);
    char *only_name[] = {"acme", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, &m, &err, only_name),
                 MVM_INVALID_ARGUMENT);
}

static void test_enum_bool(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *argv[] = {"--type", "deleted", "--state", "INSTANCE_STATE_SLEEPING", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__instance_event__descriptor, &m, &err, argv), MVM_OK);
    Mvm__V1__InstanceEvent *e = (Mvm__V1__InstanceEvent *)m;
    if (e) {
        CHECK_EQ_INT(e->type, MVM__V1__INSTANCE_EVENT__TYPE__DELETED);
        CHECK(e->instance && e->instance->state == MVM__V1__INSTANCE_STATE__INSTANCE_STATE_SLEEPING);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *bad[] = {"--type", "exploded", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__instance_event__descriptor, &m, &err, bad),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "ADDED") != NULL);
    char *w[] = {"--send-initial", "--tenant", "acme", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__watch_instances_request__descriptor, &m, &err, w), MVM_OK);
    Mvm__V1__WatchInstancesRequest *wr = (Mvm__V1__WatchInstancesRequest *)m;
    if (wr) {
        CHECK(wr->send_initial);
        CHECK_EQ_STR(wr->tenant, "acme");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *w2[] = {"--send-initial=maybe", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__watch_instances_request__descriptor, &m, &err, w2),
                 MVM_INVALID_ARGUMENT);
}

static void test_json(void) {
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    Mvm__V1__Tenant__LabelsEntry l = MVM__V1__TENANT__LABELS_ENTRY__INIT;
    Mvm__V1__Tenant__LabelsEntry *ls[] = {&l};
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.name = "a\"b\n";
    t.net_id = 3;
    q.max_mem_mib = 5;
    t.quota = &q;
    l.key = "env";
    l.value = "prod";
    t.n_labels = 1;
    t.labels = ls;
    ts.seconds = 1767225600; /* 2026-01-01T00:00:00Z */
    ts.nanos = 500000000;
    t.create_time = &ts;
    t.resource_version = 18446744073709551615ull;
    char *j = cli_json_encode(&t.base, 0, 0);
    CHECK_EQ_STR(j, "{\"name\":\"a\\\"b\\n\",\"netId\":3,\"quota\":{\"maxMemMib\":\"5\"},"
                    "\"labels\":{\"env\":\"prod\"},\"createTime\":\"2026-01-01T00:00:00.500Z\","
                    "\"resourceVersion\":\"18446744073709551615\"}");
    free(j);
    Mvm__V1__Tenant empty = MVM__V1__TENANT__INIT;
    j = cli_json_encode(&empty.base, 2, 0);
    CHECK_EQ_STR(j, "{}");
    free(j);
    Mvm__V1__UpdateTenantRequest u = MVM__V1__UPDATE_TENANT_REQUEST__INIT;
    Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"quota.max_instances", "labels"};
    fm.n_paths = 2;
    fm.paths = paths;
    u.update_mask = &fm;
    j = cli_json_encode(&u.base, 2, 0);
    CHECK_EQ_STR(j, "{\n  \"updateMask\": \"quota.maxInstances,labels\"\n}");
    free(j);
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = MVM__V1__INSTANCE_EVENT__TYPE__MODIFIED;
    j = cli_json_encode(&ev.base, 0, 0);
    CHECK_EQ_STR(j, "{\"type\":\"MODIFIED\"}");
    free(j);
}

static void test_table_text(void) {
    Mvm__V1__Instance in = MVM__V1__INSTANCE__INIT;
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    char buf[128];
    in.state = MVM__V1__INSTANCE_STATE__INSTANCE_STATE_RUNNING;
    ev.instance = &in;
    cli_value_text(&ev.base, "instance.state", buf, sizeof buf);
    CHECK_EQ_STR(buf, "RUNNING");
    cli_value_text(&ev.base, "instance.vcpus", buf, sizeof buf);
    CHECK_EQ_STR(buf, "0");
    cli_value_text(&ev.base, "instance.nosuch", buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
}

static void test_wire(void) {
    char out[64];
    grpc_pct_decode("tenant%20%22x%22%zz%", 20, out, sizeof out);
    CHECK_EQ_STR(out, "tenant \"x\"%zz%");
    grpc_pct_decode("%E2%9C%93", 9, out, sizeof out);
    CHECK_EQ_STR(out, "\xE2\x9C\x93");
    CHECK_EQ_INT(mvmc_http_status_code(415), MVM_UNKNOWN);
    CHECK_EQ_INT(mvmc_http_status_code(404), MVM_UNIMPLEMENTED);
    CHECK_EQ_INT(mvmc_http_status_code(503), MVM_UNAVAILABLE);
    CHECK_EQ_INT(mvmc_http_status_code(400), MVM_INTERNAL);
    grpc_timeout_format(1500LL * 1000000, out);
    CHECK_EQ_STR(out, "1500000u");
    grpc_timeout_format(200000000LL * 1000000, out);
    CHECK_EQ_STR(out, "200000S");
    CHECK_EQ_INT(cli_parse_duration("2m"), 120000);
    CHECK_EQ_INT(cli_parse_duration("250ms"), 250);
    CHECK_EQ_INT(cli_parse_duration("soon"), -1);
}

/* Field behaviours come from the proto's [(mvm.v1.field_behavior) = ...]. */
static void test_field_behavior(void) {
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.Tenant", "name"), CLI_FIELD_IDENTIFIER);
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.Tenant", "net_id"), CLI_FIELD_REQUIRED);
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.Tenant", "quota"), 0);
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.GetInstanceRequest", "tenant"), 0);
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.GetInstanceRequest", "id"), CLI_FIELD_REQUIRED);
    CHECK_EQ_INT(cli_docs_field_behavior("mvm.v1.NoSuch", "id"), 0);

    cli_flagset fs;
    mvm_error err;
    CHECK_EQ_INT(cli_flags_build(&mvm__v1__create_tenant_request__descriptor, NULL, &fs, &err),
                 MVM_OK);
    CHECK(flag(&fs, "name")->required && flag(&fs, "net-id")->required &&
          flag(&fs, "subnet")->required);
    CHECK(!flag(&fs, "quota-max-instances")->required && !flag(&fs, "label")->required);
    cli_flags_free(&fs);
    /* An update needs only what selects the resource. */
    CHECK_EQ_INT(cli_flags_build(&mvm__v1__update_pool_request__descriptor, NULL, &fs, &err),
                 MVM_OK);
    CHECK(flag(&fs, "tenant")->required && flag(&fs, "tenant")->identifier);
    CHECK(flag(&fs, "name")->required && flag(&fs, "name")->identifier);
    CHECK(!flag(&fs, "vcpus")->required && !flag(&fs, "vcpus")->identifier);
    cli_flags_free(&fs);
}

static void test_required(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    const ProtobufCMessageDescriptor *ct = &mvm__v1__create_tenant_request__descriptor;
    char *no_net[] = {"acme", "--subnet", "10.240.3.0/24", NULL};
    CHECK_EQ_INT(parse(ct, &m, &err, no_net), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "missing required argument: --net-id") != NULL);
    char *nothing[] = {NULL};
    CHECK_EQ_INT(parse(ct, &m, &err, nothing), MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "missing required arguments: NAME (or --name), --net-id, --subnet");
    char *zero[] = {"acme", "--net-id", "0", "--subnet", "10.240.3.0/24", NULL};
    CHECK_EQ_INT(parse(ct, &m, &err, zero), MVM_OK); /* given as 0 is given */
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);

    char *pool[] = {"web", "--tenant", "acme", "--vcpus", "1", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__create_pool_request__descriptor, &m, &err, pool),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg,
                 "missing required arguments: --mem-mib, --kernel-image, --rootfs-image");
    /* GetInstance finds an id alone; the lifecycle calls still want the tenant. */
    char *get[] = {"i-0123456789abcdef", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__get_instance_request__descriptor, &m, &err, get), MVM_OK);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    CHECK_EQ_INT(parse(&mvm__v1__stop_instance_request__descriptor, &m, &err, get),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "missing required argument: --tenant");
    CHECK_EQ_INT(parse(&mvm__v1__get_instance_request__descriptor, &m, &err, nothing),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "missing required argument: ID (or --id)");
    /* Lists filter on nothing by default. */
    CHECK_EQ_INT(parse(&mvm__v1__list_instances_request__descriptor, &m, &err, nothing), MVM_OK);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* Identifier fields select the resource of an update: never mask paths. */
static void test_update_identifiers(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *argv[] = {"web", "--tenant", "acme", "--vcpus", "2", "--resource-version", "4", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_pool_request__descriptor, &m, &err, argv), MVM_OK);
    Mvm__V1__UpdatePoolRequest *r = (Mvm__V1__UpdatePoolRequest *)m;
    if (!r)
        return;
    CHECK(r->update_mask && r->update_mask->n_paths == 1);
    if (r->update_mask && r->update_mask->n_paths == 1)
        CHECK_EQ_STR(r->update_mask->paths[0], "vcpus");
    CHECK(r->pool && !strcmp(r->pool->tenant, "acme") && !strcmp(r->pool->name, "web"));
    protobuf_c_message_free_unpacked(m, NULL);
    char *no_tenant[] = {"web", "--vcpus", "2", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_pool_request__descriptor, &m, &err, no_tenant),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "missing required argument: --tenant");
}

static void test_dashdash(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    const ProtobufCMessageDescriptor *gt = &mvm__v1__get_tenant_request__descriptor;
    char *dash[] = {"-x", NULL};
    CHECK_EQ_INT(parse(gt, &m, &err, dash), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "unknown option -x") && strstr(err.msg, "\"--\""));
    char *after[] = {"--", "-x", NULL};
    CHECK_EQ_INT(parse(gt, &m, &err, after), MVM_OK);
    if (m) {
        CHECK_EQ_STR(((Mvm__V1__GetTenantRequest *)m)->name, "-x");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *flag_after[] = {"--", "--name", NULL}; /* a flag's look-alike, positional */
    CHECK_EQ_INT(parse(gt, &m, &err, flag_after), MVM_OK);
    if (m) {
        CHECK_EQ_STR(((Mvm__V1__GetTenantRequest *)m)->name, "--name");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *flags_before[] = {"--name", "acme", "--", NULL};
    CHECK_EQ_INT(parse(gt, &m, &err, flags_before), MVM_OK);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static void test_durations(void) {
    CHECK_EQ_INT(cli_parse_duration("30s"), 30000);
    CHECK_EQ_INT(cli_parse_duration("1.5m"), 90000);
    CHECK_EQ_INT(cli_parse_duration("2h"), 7200000);
    CHECK_EQ_INT(cli_parse_duration("1ms"), 1);
    const char *bad[] = {"5", "0", "0s", "0ms", "0.5ms", "-1s", "1e3s", "s", "5 s",
                         "1.s", ".5s", "5sec", "", "inf", "999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(cli_parse_duration(bad[i]), -1);
    cli_config c;
    mvm_error err;
    cli_config_init(&c);
    CHECK_EQ_INT(cli_config_set(&c, "timeout", "5", &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "\"5\"") && strstr(err.msg, "ms, s, m or h"));
    CHECK_EQ_INT(cli_config_set(&c, "timeout", "0", &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(cli_config_set(&c, "timeout", "250ms", &err), MVM_OK);
    CHECK_EQ_INT(c.timeout_ms, 250);
}

/* Every verb says what it does, every flag what its field means, both from
 * the proto's own comments. */
static void test_docs_complete(void) {
    int verbs = 0, flags = 0;
    /* no request flag may share a name with a global option (which would
     * take it first): the global ones are those the top help lists */
    char *top = NULL;
    size_t top_len = 0;
    FILE *mf = open_memstream(&top, &top_len);
    CHECK(mf != NULL);
    cli_help_top(mf);
    fclose(mf);
    for (const cli_object *const *o = cli_objects; *o; o++) {
        for (const cli_verb *v = (*o)->verbs; v->name; v++) {
            const char *doc = cli_docs_method(v->service->name, v->method);
            verbs++;
            if (!doc || !doc[0])
                fprintf(stderr, "no comment on rpc %s.%s\n", v->service->name, v->method);
            CHECK(doc && doc[0]);
            cli_flagset fs;
            mvm_error err;
            CHECK_EQ_INT(cli_verb_flags(v, &fs, &err), MVM_OK);
            for (size_t i = 0; i < fs.n; i++) {
                const char *fd = cli_flags_doc(&fs, &fs.flags[i]);
                char opt[128];
                snprintf(opt, sizeof opt, "\n  --%s ", fs.flags[i].name);
                if (strstr(top, opt))
                    fprintf(stderr, "%s %s --%s is also a global option\n", (*o)->name, v->name,
                            fs.flags[i].name);
                CHECK(strstr(top, opt) == NULL);
                flags++;
                if (!fd || !fd[0])
                    fprintf(stderr, "%s %s --%s: its field has no comment\n", (*o)->name,
                            v->name, fs.flags[i].name);
                CHECK(fd && fd[0]);
            }
            cli_flags_free(&fs);
        }
    }
    CHECK(verbs >= 20 && flags >= 50); /* the walk saw the whole CLI */
    CHECK(strstr(top, "\n  --count ") != NULL); /* the check above can fail */
    free(top);
}

/* Help shows each flag's whole comment, wrapped, and marks required ones. */
static void test_help_text(void) {
    cli_flagset fs;
    mvm_error err;
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ_INT(cli_flags_build(&mvm__v1__list_tenants_request__descriptor, NULL, &fs, &err),
                 MVM_OK);
    FILE *f = open_memstream(&text, &len);
    cli_flags_help(&fs, f);
    fclose(f);
    cli_flags_free(&fs);
    CHECK(strstr(text, "\"!key\"") && strstr(text, "(absent).")); /* a long comment's end */
    int longest = 0;
    for (char *line = text; *line;) {
        int n = (int)strcspn(line, "\n");
        if (n > longest)
            longest = n;
        line += n + (line[n] == '\n');
    }
    CHECK(longest <= 79);
    free(text);
    CHECK_EQ_INT(cli_flags_build(&mvm__v1__create_tenant_request__descriptor, NULL, &fs, &err),
                 MVM_OK);
    f = open_memstream(&text, &len);
    cli_flags_help(&fs, f);
    fclose(f);
    cli_flags_free(&fs);
    /* Descriptions start in column 37. */
    CHECK(strstr(text, "\n  --net-id uint32" "                    " "(required) Network id") != NULL);
    CHECK(strstr(text, "\n  --label key=value" "                  " "Free-form") != NULL);
    free(text);
}

static void test_json_lists(void) {
    Mvm__V1__ListTenantsResponse r = MVM__V1__LIST_TENANTS_RESPONSE__INIT;
    char *j = cli_json_encode(&r.base, 2, CLI_JSON_TOP_LISTS);
    CHECK_EQ_STR(j, "{\n  \"tenants\": []\n}");
    free(j);
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT, *ts[] = {&t};
    t.name = "a";
    r.n_tenants = 1;
    r.tenants = ts;
    r.next_page_token = "k61";
    j = cli_json_encode(&r.base, 0, CLI_JSON_TOP_LISTS);
    /* Only the top message's lists: the tenant's empty labels stay out. */
    CHECK_EQ_STR(j, "{\"tenants\":[{\"name\":\"a\"}],\"nextPageToken\":\"k61\"}");
    free(j);
    j = cli_json_encode(&r.base, 0, 0);
    CHECK_EQ_STR(j, "{\"tenants\":[{\"name\":\"a\"}],\"nextPageToken\":\"k61\"}");
    free(j);
}

/* The line obj's "delete" verb prints after a success, given its arguments
 * (buf gets "" if the verb is missing or the arguments do not parse). */
static void delete_says(const cli_object *obj, int argc, char **argv, char *buf, size_t cap) {
    const cli_verb *del = NULL;
    cli_flagset fs;
    mvm_error err;
    ProtobufCMessage *m = NULL;
    buf[0] = '\0';
    for (const cli_verb *v = obj->verbs; v->name; v++)
        if (!strcmp(v->name, "delete"))
            del = v;
    CHECK(del && del->done);
    if (!del || cli_verb_flags(del, &fs, &err) != MVM_OK)
        return;
    if (cli_flags_parse(&fs, argc, argv, &m, &err) == MVM_OK) {
        cli_table_done(buf, cap, obj, del, &fs, m);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    cli_flags_free(&fs);
}

/* What "delete" prints: the object and the fields that named it. */
static void test_done_text(void) {
    char *argv[] = {"web", "--tenant", "acme"};
    char buf[128];
    delete_says(&cli_pool_object, 3, argv, buf, sizeof buf);
    CHECK_EQ_STR(buf, "deleted pool web (tenant acme)");
    delete_says(&cli_tenant_object, 1, argv, buf, sizeof buf);
    CHECK_EQ_STR(buf, "deleted tenant web");
}

/* ---- the JSON decoder (cli_json_decode.c) ---- */

/* Decodes text as d; returns the code (the message in *out on success). */
static mvm_code decode(const ProtobufCMessageDescriptor *d, const char *text,
                       ProtobufCMessage **out, mvm_error *err) {
    return cli_json_decode(d, text, strlen(text), out, err);
}

/* 1 if a and b pack to the same bytes (the same content, in order). */
static int same_message(const ProtobufCMessage *a, const ProtobufCMessage *b) {
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    if (na != nb)
        return 0;
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
    int same = pa && pb && protobuf_c_message_pack(a, pa) == na &&
               protobuf_c_message_pack(b, pb) == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Every kind of field, in both name styles. */
static void test_decode_types(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    const char *doc =
        "{\"generation\": \"18446744073709551615\", \"dry_run\": true, \"prune\": false,"
        " \"tenants\": [{\"name\": \"acme\", \"net_id\": 7, \"subnet\": \"10.240.7.0/24\","
        "   \"quota\": {\"maxMemMib\": 1024, \"max_instances\": \"20\"},"
        "   \"labels\": {\"env\": \"prod\", \"team\": \"a=b\"}, \"resourceVersion\": null}],"
        " \"pools\": [{\"tenant\": \"acme\", \"name\": \"web\", \"vcpus\": 2, \"mem_mib\": 256,"
        "   \"diskMib\": 1.0e3, \"memoryBackend\": \"MEMORY_BACKEND_UFFD\","
        "   \"sleepPolicy\": {\"warmAfterIdleSeconds\": 30, \"sleep_after_warm_seconds\": \"60\"},"
        "   \"baseSnapshot\": {\"state\": \"ready\", \"updateTime\": \"2026-01-02T03:04:05.25+01:30\"},"
        "   \"createTime\": \"1970-01-01T00:00:00Z\", \"update_time\": \"2026-05-06T07:08:09.123456789Z\"},"
        "  {\"tenant\": \"acme\", \"name\": \"api\", \"memory_backend\": 1,"
        "   \"status\": {\"state\": \"RECONCILE_STATE_BACKOFF\", \"failures\": 3}}]}";
    CHECK_EQ_INT(decode(&mvm__v1__apply_request__descriptor, doc, &m, &err), MVM_OK);
    Mvm__V1__ApplyRequest *r = (Mvm__V1__ApplyRequest *)m;
    if (!r) {
        fprintf(stderr, "decode: %s\n", err.msg);
        return;
    }
    CHECK(r->generation == UINT64_MAX);
    CHECK(r->dry_run && !r->prune);
    CHECK_EQ_INT(r->n_tenants, 1);
    CHECK_EQ_INT(r->n_pools, 2);
    if (r->n_tenants == 1 && r->n_pools == 2) {
        Mvm__V1__Tenant *t = r->tenants[0];
        CHECK_EQ_STR(t->name, "acme");
        CHECK_EQ_INT(t->net_id, 7);
        CHECK(t->quota && t->quota->max_mem_mib == 1024 && t->quota->max_instances == 20);
        CHECK_EQ_INT(t->n_labels, 2);
        if (t->n_labels == 2) {
            CHECK_EQ_STR(t->labels[0]->key, "env");
            CHECK_EQ_STR(t->labels[1]->value, "a=b");
        }
        Mvm__V1__Pool *p = r->pools[0];
        CHECK_EQ_INT(p->vcpus, 2);
        CHECK_EQ_INT(p->mem_mib, 256);
        CHECK_EQ_INT(p->disk_mib, 1000);
        CHECK_EQ_INT(p->memory_backend, MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD);
        CHECK(p->sleep_policy && p->sleep_policy->warm_after_idle_seconds == 30 &&
              p->sleep_policy->sleep_after_warm_seconds == 60);
        CHECK(p->base_snapshot &&
              p->base_snapshot->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_READY);
        /* 2026-01-02T03:04:05.25+01:30 is 01:34:05.25Z */
        CHECK(p->base_snapshot && p->base_snapshot->update_time &&
              p->base_snapshot->update_time->seconds == 1767317645 &&
              p->base_snapshot->update_time->nanos == 250000000);
        CHECK(p->create_time && p->create_time->seconds == 0 && p->create_time->nanos == 0);
        CHECK(p->update_time && p->update_time->nanos == 123456789);
        CHECK_EQ_INT(r->pools[1]->memory_backend, MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_FILE);
        CHECK(r->pools[1]->status && r->pools[1]->status->failures == 3 &&
              r->pools[1]->status->state == MVM__V1__RECONCILE_STATE__RECONCILE_STATE_BACKOFF);
    }
    protobuf_c_message_free_unpacked(m, NULL);

    /* int32 (either sign, either form), int64, bytes, FieldMask */
    CHECK_EQ_INT(decode(&mvm__v1__fork_result__descriptor, "{\"code\": -2147483648}", &m, &err),
                 MVM_OK);
    if (m) {
        CHECK_EQ_INT(((Mvm__V1__ForkResult *)m)->code, INT32_MIN);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK_EQ_INT(decode(&mvm__v1__fork_result__descriptor, "{\"code\": \"2147483647\"}", &m, &err),
                 MVM_OK);
    if (m) {
        CHECK_EQ_INT(((Mvm__V1__ForkResult *)m)->code, INT32_MAX);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* int64, double, proto2 optionals (has_*), repeated messages: mvm.v1
     * has no int64 field but Timestamp's, whose JSON form is a string */
    CHECK_EQ_INT(decode(&google__protobuf__uninterpreted_option__descriptor,
                        "{\"negativeIntValue\": \"-9223372036854775808\","
                        " \"positive_int_value\": \"18446744073709551615\", \"doubleValue\": -2.5,"
                        " \"name\": [{\"namePart\": \"x\", \"is_extension\": true}]}", &m, &err),
                 MVM_OK);
    if (m) {
        Google__Protobuf__UninterpretedOption *u = (Google__Protobuf__UninterpretedOption *)m;
        CHECK(u->has_negative_int_value && u->negative_int_value == INT64_MIN);
        CHECK(u->has_positive_int_value && u->positive_int_value == UINT64_MAX);
        CHECK(u->has_double_value && u->double_value == -2.5);
        CHECK(u->n_name == 1 && u->name[0]->is_extension && !strcmp(u->name[0]->name_part, "x"));
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK_EQ_INT(decode(&google__protobuf__uninterpreted_option__descriptor,
                        "{\"negativeIntValue\": \"9223372036854775808\"}", &m, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "negativeIntValue: 9223372036854775808 is out of range for int64");
    CHECK_EQ_INT(decode(&mvm__v1__console_chunk__descriptor, "{\"data\": \"aGVsbG8gd29ybGQ=\"}",
                        &m, &err), MVM_OK);
    if (m) {
        Mvm__V1__ConsoleChunk *c = (Mvm__V1__ConsoleChunk *)m;
        CHECK(c->data.len == 11 && memcmp(c->data.data, "hello world", 11) == 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK_EQ_INT(decode(&mvm__v1__update_pool_request__descriptor,
                        "{\"pool\": {\"tenant\": \"a\", \"name\": \"w\"},"
                        " \"updateMask\": \"desiredInstances,sleepPolicy.warmAfterIdleSeconds\"}",
                        &m, &err), MVM_OK);
    if (m) {
        Mvm__V1__UpdatePoolRequest *u = (Mvm__V1__UpdatePoolRequest *)m;
        CHECK(u->update_mask && u->update_mask->n_paths == 2);
        if (u->update_mask && u->update_mask->n_paths == 2) {
            CHECK_EQ_STR(u->update_mask->paths[0], "desired_instances");
            CHECK_EQ_STR(u->update_mask->paths[1], "sleep_policy.warm_after_idle_seconds");
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
}

/* Each kind of mistake: refused, nothing returned, the message naming
 * where (the JSON path) and what. */
static void test_decode_errors(void) {
    static const struct {
        const char *doc, *want;
    } cases[] = {
        {"{\"pools\": [{}, {\"desiredInstance\": 1}]}",
         "pools[1].desiredInstance: no such field in mvm.v1.Pool"},
        {"{\"generation\": 1, \"bogus\": true}", "bogus: no such field in mvm.v1.ApplyRequest"},
        {"{\"pools\": [{\"vcpus\": \"two\"}]}", "pools[0].vcpus: \"two\" is not a decimal integer (uint32)"},
        {"{\"pools\": [{\"vcpus\": 4294967296}]}", "pools[0].vcpus: 4294967296 is out of range for uint32"},
        {"{\"pools\": [{\"vcpus\": -1}]}", "pools[0].vcpus: -1 is out of range for uint32"},
        {"{\"pools\": [{\"vcpus\": 1.5}]}", "pools[0].vcpus: 1.5 is not an integer (uint32)"},
        {"{\"pools\": [{\"vcpus\": true}]}", "pools[0].vcpus: expected a number (uint32), got a bool"},
        {"{\"generation\": \"18446744073709551616\"}", "generation: 18446744073709551616 is out of range for uint64"},
        {"{\"generation\": \"-1\"}", "generation: -1 is out of range for uint64"},
        {"{\"generation\": \" 1\"}", "generation: \" 1\" is not a decimal integer (uint64)"},
        {"{\"tenants\": [{\"name\": 7}]}", "tenants[0].name: expected a string, got a number"},
        {"{\"tenants\": {}}", "tenants: expected an array, got an object"},
        {"{\"tenants\": [[]]}", "tenants[0]: expected an object (mvm.v1.Tenant), got an array"},
        {"{\"tenants\": [null]}", "tenants[0]: expected an object (mvm.v1.Tenant), got null"},
        {"{\"tenants\": [{\"labels\": {\"a\": 1}}]}", "tenants[0].labels.a: expected a string, got a number"},
        {"{\"tenants\": [{\"labels\": [\"a=b\"]}]}", "tenants[0].labels: expected an object (a map), got an array"},
        {"{\"pools\": [{\"memoryBackend\": \"FAST\"}]}",
         "pools[0].memoryBackend: \"FAST\" is not a value of mvm.v1.MemoryBackend (MEMORY_BACKEND_UNSPECIFIED, "},
        {"{\"pools\": [{\"memoryBackend\": 9}]}", "pools[0].memoryBackend: 9 is not a value of mvm.v1.MemoryBackend"},
        {"{\"prune\": \"yes\"}", "prune: expected true or false, got a string"},
        {"{\"pools\": [{\"createTime\": \"2026-02-30T00:00:00Z\"}]}",
         "pools[0].createTime: \"2026-02-30T00:00:00Z\" is not an RFC 3339 time"},
        {"{\"pools\": [{\"createTime\": \"2026-01-01 00:00:00\"}]}",
         "pools[0].createTime: \"2026-01-01 00:00:00\" is not an RFC 3339 time"},
        {"{\"pools\": [{\"mem_mib\": 128, \"memMib\": 128}]}",
         "pools[0].memMib: field mem_mib given twice"},
        {"{\"dryRun\": true, \"dryRun\": false}", "line 1 column "},
        {"{\"generation\": 1,}", "line 1 column "},
        {"[]", "(top level): expected an object (mvm.v1.ApplyRequest), got an array"},
        {"", "line 1 column 0: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ProtobufCMessage *m = (ProtobufCMessage *)&cases; /* must come back NULL */
        mvm_error err = {0};
        CHECK_EQ_INT(decode(&mvm__v1__apply_request__descriptor, cases[i].doc, &m, &err),
                     MVM_INVALID_ARGUMENT);
        CHECK(m == NULL);
        if (strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
            fprintf(stderr, "decode %s: got \"%s\", want \"%s...\"\n", cases[i].doc, err.msg,
                    cases[i].want);
        CHECK(strncmp(err.msg, cases[i].want, strlen(cases[i].want)) == 0);
    }
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    CHECK_EQ_INT(decode(&mvm__v1__fork_result__descriptor, "{\"code\": 2147483648}", &m, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "code: 2147483648 is out of range for int32");
    CHECK_EQ_INT(decode(&mvm__v1__console_chunk__descriptor, "{\"data\": \"a$b\"}", &m, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_STR(err.msg, "data: not base64 (at character 2)");
    CHECK_EQ_INT(decode(&mvm__v1__update_pool_request__descriptor, "{\"updateMask\": \"a,,b\"}",
                        &m, &err), MVM_INVALID_ARGUMENT);
    CHECK(strncmp(err.msg, "updateMask: an empty path", 25) == 0);
}

/* A pool status under way: 2 instances, 1 running, 1 warm. */
static void progressing(Mvm__V1__PoolStatus *st) {
    st->state = MVM__V1__RECONCILE_STATE__RECONCILE_STATE_PROGRESSING;
    st->instances = 2;
    st->running = 1;
    st->warm = 1;
    st->message = "making 1";
}

/* Building the request of every field ApplyRequest reaches, encoding it
 * with cli_json_encode and decoding that gives the same message. */
static void test_decode_round_trip(void) {
    Mvm__V1__ApplyRequest r = MVM__V1__APPLY_REQUEST__INIT;
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT, *ts[] = {&t};
    Mvm__V1__TenantQuota q = MVM__V1__TENANT_QUOTA__INIT;
    Mvm__V1__Tenant__LabelsEntry tl = MVM__V1__TENANT__LABELS_ENTRY__INIT, *tls[] = {&tl};
    Mvm__V1__Pool p = MVM__V1__POOL__INIT, p2 = MVM__V1__POOL__INIT, *ps[] = {&p, &p2};
    Mvm__V1__SleepPolicy sp = MVM__V1__SLEEP_POLICY__INIT;
    Mvm__V1__BaseSnapshot bs = MVM__V1__BASE_SNAPSHOT__INIT;
    Mvm__V1__PoolStatus st = MVM__V1__POOL_STATUS__INIT;
    Mvm__V1__Pool__LabelsEntry pl1 = MVM__V1__POOL__LABELS_ENTRY__INIT,
                               pl2 = MVM__V1__POOL__LABELS_ENTRY__INIT, *pls[] = {&pl1, &pl2};
    Google__Protobuf__Timestamp t1 = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                t2 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    r.generation = 9007199254740993ull; /* not exact as a double */
    r.prune = 1;
    r.dry_run = 1;
    r.n_tenants = 1;
    r.tenants = ts;
    t.name = "acme";
    t.net_id = 4095;
    t.subnet = "10.240.7.0/24";
    t.quota = &q;
    q.max_instances = 10;
    q.max_mem_mib = UINT64_MAX;
    tl.key = "k \"quoted\"\n";
    tl.value = "v\\\t\x01";
    t.n_labels = 1;
    t.labels = tls;
    t.resource_version = 77;
    t.deleting = 1;
    r.n_pools = 2;
    r.pools = ps;
    p.tenant = p2.tenant = "acme";
    p.name = "web";
    p2.name = "api";
    p.vcpus = 32;
    p.mem_mib = 262144;
    p.disk_mib = 1ull << 40;
    p.kernel_image = "/var/lib/mvm/vmlinux";
    p.rootfs_image = "/var/lib/mvm/rootfs.ext4";
    p.initrd_image = "/var/lib/mvm/initrd";
    p.boot_args = "console=ttyS0 reboot=k";
    p.desired_instances = 3;
    p.desired_warm = 1;
    p.sleep_policy = &sp;
    sp.warm_after_idle_seconds = 30;
    sp.sleep_after_warm_seconds = 600;
    p.base_snapshot = &bs;
    bs.state = MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_FAILED;
    bs.snapshot_id = "s-0123456789abcdef";
    bs.message = "boot failed: \xc3\xa9t\xc3\xa9";
    bs.update_time = &t1;
    t1.seconds = 1767225600;
    t1.nanos = 1;
    bs.expire_time = &t2;
    t2.seconds = -62135596800; /* 0001-01-01T00:00:00Z */
    p.n_labels = 2;
    p.labels = pls;
    pl1.key = "a";
    pl1.value = "";
    pl2.key = "b";
    pl2.value = "2";
    p.create_time = &t1;
    p.ready_pattern = "^login: $";
    p.ready_delay_seconds = 5;
    p.ready_timeout_seconds = 86400;
    p.base_snapshot_ttl_seconds = 3600;
    p.memory_backend = MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD;
    p.status = &st;
    progressing(&st);
    st.next_attempt_time = &t2;
    p.deleting = 1;
    for (int indent = 0; indent <= 2; indent += 2) {
        char *j = cli_json_encode(&r.base, indent, 0);
        ProtobufCMessage *m = NULL;
        mvm_error err = {0};
        CHECK(j != NULL);
        if (!j)
            return;
        CHECK_EQ_INT(decode(&mvm__v1__apply_request__descriptor, j, &m, &err), MVM_OK);
        if (m) {
            CHECK(same_message(&r.base, m));
            char *again = cli_json_encode(m, indent, 0);
            CHECK_EQ_STR(again, j);
            free(again);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            fprintf(stderr, "round trip: %s\n%s\n", err.msg, j);
        }
        free(j);
    }
}

/* A large document decodes whole (the work is linear: arrays are sized
 * once, fields found without scanning the document). */
static void test_decode_large(void) {
    enum { POOLS = 10000 };
    size_t cap = (size_t)POOLS * 200 + 256, o = 0;
    char *doc = malloc(cap);
    CHECK(doc != NULL);
    if (!doc)
        return;
    o += (size_t)snprintf(doc, cap, "{\"generation\": 1, \"tenants\": [{\"name\": \"t\", "
                          "\"netId\": 1, \"subnet\": \"10.240.1.0/24\"}], \"pools\": [");
    for (int i = 0; i < POOLS; i++)
        o += (size_t)snprintf(doc + o, cap - o,
                              "%s{\"tenant\": \"t\", \"name\": \"p%d\", \"vcpus\": 1, "
                              "\"memMib\": 128, \"desiredInstances\": %d, "
                              "\"labels\": {\"i\": \"%d\"}}", i ? "," : "", i, i % 7, i);
    o += (size_t)snprintf(doc + o, cap - o, "]}");
    CHECK(o < cap);
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    CHECK_EQ_INT(cli_json_decode(&mvm__v1__apply_request__descriptor, doc, o, &m, &err), MVM_OK);
    Mvm__V1__ApplyRequest *r = (Mvm__V1__ApplyRequest *)m;
    CHECK(r && r->n_pools == POOLS);
    if (r && r->n_pools == POOLS) {
        CHECK_EQ_STR(r->pools[POOLS - 1]->name, "p9999");
        CHECK_EQ_INT(r->pools[POOLS - 1]->desired_instances, 9999 % 7);
        CHECK_EQ_STR(r->pools[1234]->labels[0]->value, "1234");
    }
    protobuf_c_message_free_unpacked(m, NULL);
    /* an error in the last pool still names it */
    memcpy(doc + o - 4, "1 }]}", 5); /* ..."9999"}}]} -> ..."9999"}1 }]} */
    CHECK_EQ_INT(cli_json_decode(&mvm__v1__apply_request__descriptor, doc, o + 1, &m, &err),
                 MVM_INVALID_ARGUMENT);
    CHECK(strncmp(err.msg, "line 1 column ", 14) == 0);
    free(doc);
}

/* The example state file of the docs decodes. */
static void test_decode_example(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/examples/node-state.json", MVM_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    CHECK_EQ_INT(cli_json_decode(&mvm__v1__apply_request__descriptor, buf, n, &m, &err), MVM_OK);
    if (!m)
        fprintf(stderr, "%s: %s\n", path, err.msg);
    Mvm__V1__ApplyRequest *r = (Mvm__V1__ApplyRequest *)m;
    CHECK(r && r->generation > 0 && r->n_tenants > 0 && r->n_pools > 0);
    protobuf_c_message_free_unpacked(m, NULL);
}

static const cli_verb *find_verb(const cli_object *obj, const char *name) {
    for (const cli_verb *v = obj->verbs; v->name; v++)
        if (!strcmp(v->name, name))
            return v;
    return NULL;
}

/* node apply reads a file and has --generation, --prune, --dry-run; node
 * status has a streaming --watch; neither verb option is also a request
 * flag or a global option. */
static void test_node_verbs(void) {
    const cli_verb *apply = find_verb(&cli_node_object, "apply");
    const cli_verb *status = find_verb(&cli_node_object, "status");
    CHECK(apply && (apply->opts & CLI_VERB_FILE) && !apply->watch);
    CHECK(status && !(status->opts & CLI_VERB_FILE) && status->watch);
    if (!apply || !status)
        return;
    CHECK_EQ_INT(cli_docs_server_streaming("mvm.v1.NodeService", status->method), 0);
    CHECK_EQ_INT(cli_docs_server_streaming("mvm.v1.NodeService", status->watch), 1);
    cli_flagset fs;
    mvm_error err;
    CHECK_EQ_INT(cli_verb_flags(apply, &fs, &err), MVM_OK);
    CHECK(flag(&fs, "generation") && flag(&fs, "generation")->required);
    CHECK(flag(&fs, "prune") && flag(&fs, "dry-run"));
    CHECK(!flag(&fs, "tenant") && !flag(&fs, "pool")); /* lists come from the file */
    CHECK(!flag(&fs, "file") && !flag(&fs, "f") && !flag(&fs, "watch"));
    /* flags over a file: given ones replace, required ones may come from
     * the file */
    ProtobufCMessage *m = NULL;
    CHECK_EQ_INT(decode(fs.req, "{\"generation\": 4, \"dryRun\": true}", &m, &err), MVM_OK);
    char *a1[] = {"--prune", "--dry-run=false"};
    CHECK_EQ_INT(cli_flags_parse_onto(&fs, 2, a1, m, &err), MVM_OK);
    Mvm__V1__ApplyRequest *r = (Mvm__V1__ApplyRequest *)m;
    CHECK(r && r->generation == 4 && r->prune && !r->dry_run);
    char *a2[] = {"--generation", "5"};
    CHECK_EQ_INT(cli_flags_parse_onto(&fs, 2, a2, m, &err), MVM_OK);
    CHECK(r && r->generation == 5);
    protobuf_c_message_free_unpacked(m, NULL);
    CHECK_EQ_INT(decode(fs.req, "{\"prune\": true}", &m, &err), MVM_OK);
    CHECK_EQ_INT(cli_flags_parse_onto(&fs, 0, NULL, m, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "--generation") != NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    cli_flags_free(&fs);
    char *top = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&top, &len);
    cli_help_top(mf);
    fclose(mf);
    CHECK(top && !strstr(top, "\n  --watch ") && !strstr(top, "\n  --file ") &&
          !strstr(top, "\n  -f"));
    free(top);
    char *help = NULL;
    mf = open_memstream(&help, &len);
    cli_help_verb(mf, &cli_node_object, apply);
    cli_help_verb(mf, &cli_node_object, status);
    fclose(mf);
    CHECK(help && strstr(help, "Usage: mvm-cli node apply -f FILE [FLAGS]") &&
          strstr(help, "-f, --file FILE") && strstr(help, "mvm.v1.ApplyRequest") &&
          strstr(help, "Usage: mvm-cli node status [--watch] [FLAGS]") &&
          strstr(help, "calls WatchStatus instead"));
    free(help);
}

/* Tables of the new fields: the status heading and rows, a change row,
 * "warm/desired", "(deleting)", bools as yes/no. */
static void test_status_tables(void) {
    Mvm__V1__NodeStatus s = MVM__V1__NODE_STATUS__INIT;
    Mvm__V1__PoolStatusEntry e = MVM__V1__POOL_STATUS_ENTRY__INIT, e2 = MVM__V1__POOL_STATUS_ENTRY__INIT,
                             *es[] = {&e, &e2};
    Mvm__V1__PoolStatus ps = MVM__V1__POOL_STATUS__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    s.applied_generation = 3;
    s.converged = 0;
    s.observe_time = &ts;
    ts.seconds = 1767225600;
    s.n_pools = 2;
    s.pools = es;
    e.tenant = e2.tenant = "acme";
    e.name = "web";
    e2.name = "old";
    e2.deleting = 1;
    e.desired_instances = 3;
    e.desired_warm = 1;
    e.base_snapshot_state = MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_READY;
    e.status = &ps;
    progressing(&ps);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_table_print(f, &cli_node_object, &s.base);
    fclose(f);
    char *l1 = text, *l2 = l1 ? strchr(l1, '\n') : NULL, *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    CHECK(text && !strncmp(text, "generation 3  converged no  observed 2026-01-01T00:00:00Z\n",
                           strlen("generation 3  converged no  observed 2026-01-01T00:00:00Z\n")));
    char cols[10][64];
    int nc = l2 ? sscanf(l2 + 1, "%63s %63s %63s %63s %63s %63s %63s %63s %63s %63s", cols[0],
                         cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
                         cols[9]) : 0;
    CHECK_EQ_INT(nc, 10);
    if (nc == 10) {
        CHECK_EQ_STR(cols[0], "TENANT");
        CHECK_EQ_STR(cols[3], "ACTUAL");
        CHECK_EQ_STR(cols[9], "MESSAGE");
    }
    nc = l3 ? sscanf(l3 + 1, "%63s %63s %63s %63s %63s %63s %63s %63s %63s %63s", cols[0],
                     cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
                     cols[9]) : 0;
    CHECK_EQ_INT(nc, 10);
    if (nc == 10) {
        CHECK_EQ_STR(cols[1], "web");
        CHECK_EQ_STR(cols[2], "3");
        CHECK_EQ_STR(cols[3], "2");
        CHECK_EQ_STR(cols[5], "1/1");
        CHECK_EQ_STR(cols[7], "READY");
        CHECK_EQ_STR(cols[8], "PROGRESSING");
        CHECK_EQ_STR(cols[9], "making");
    }
    CHECK(text && strstr(text, "old (deleting)") != NULL);
    free(text);

    Mvm__V1__ApplyResponse ar = MVM__V1__APPLY_RESPONSE__INIT;
    Mvm__V1__ApplyChange c = MVM__V1__APPLY_CHANGE__INIT, *cs[] = {&c};
    char *fields[] = {"desired_instances", "labels"};
    ar.generation = 4;
    ar.changed = 1;
    ar.n_changes = 1;
    ar.changes = cs;
    c.kind = "pool";
    c.tenant = "acme";
    c.name = "web";
    c.action = MVM__V1__APPLY_ACTION__APPLY_ACTION_UPDATED;
    c.n_fields = 2;
    c.fields = fields;
    f = open_memstream(&text, &len);
    cli_table_print(f, &cli_node_object, &ar.base);
    fclose(f);
    CHECK(text && !strncmp(text, "generation 4  changed yes\nKIND", 30));
    CHECK(text && strstr(text, "pool  acme    web   UPDATED  desired_instances,labels\n"));
    free(text);

    Mvm__V1__Pool p = MVM__V1__POOL__INIT;
    Mvm__V1__Instance in = MVM__V1__INSTANCE__INIT;
    char buf[256];
    p.name = "web";
    p.desired_warm = 2;
    f = open_memstream(&text, &len);
    cli_table_print(f, &cli_pool_object, &p.base);
    fclose(f);
    CHECK(text && strstr(text, " web ") && strstr(text, " -/2 ") && !strstr(text, "deleting"));
    free(text);
    p.deleting = 1;
    f = open_memstream(&text, &len);
    cli_table_print(f, &cli_pool_object, &p.base);
    fclose(f);
    CHECK(text && strstr(text, " web (deleting) ") && strstr(text, "RECONCILE"));
    free(text);
    in.managed = 1;
    f = open_memstream(&text, &len);
    cli_table_print(f, &cli_instance_object, &in.base);
    fclose(f);
    CHECK(text && strstr(text, "MANAGED") && strstr(text, " yes "));
    free(text);
    (void)buf;
}

/* The network settings' flags: declared short names, the text form of a
 * port forward, "none" emptying a list (and naming it in an update's
 * mask), each malformed forward refused naming the flag, and the table
 * cells and JSON of what comes back. */
static void test_network_flags(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *t1[] = {"acme", "--net-id", "3", "--subnet", "10.240.3.0/24", "--egress",
                  "203.0.113.0/24", "--egress=198.51.100.7/32", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__create_tenant_request__descriptor, &m, &err, t1), MVM_OK);
    Mvm__V1__CreateTenantRequest *ct = (Mvm__V1__CreateTenantRequest *)m;
    CHECK(ct && ct->tenant && ct->tenant->n_egress_cidrs == 2 &&
          strcmp(ct->tenant->egress_cidrs[1], "198.51.100.7/32") == 0);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    char *t2[] = {"acme", "--egress-cidr", "203.0.113.0/24", NULL}; /* the derived name is not a flag */
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, &m, &err, t2),
                 MVM_INVALID_ARGUMENT);
    /* update: "none" empties the list and names it in the mask */
    char *t3[] = {"acme", "--egress", "192.0.2.0/24", "--egress", "none", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, &m, &err, t3), MVM_OK);
    Mvm__V1__UpdateTenantRequest *ut = (Mvm__V1__UpdateTenantRequest *)m;
    CHECK(ut && ut->tenant && ut->tenant->n_egress_cidrs == 0 && ut->update_mask &&
          ut->update_mask->n_paths == 1 &&
          strcmp(ut->update_mask->paths[0], "egress_cidrs") == 0);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;

    /* instance create --forward */
    char *i1[] = {"--tenant", "acme", "--pool", "web", "--forward", "tcp:8080:80",
                  "--forward", "UDP:5353:53", "--forward", "udp:65535:1", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__create_instance_request__descriptor, &m, &err, i1), MVM_OK);
    Mvm__V1__CreateInstanceRequest *ci = (Mvm__V1__CreateInstanceRequest *)m;
    CHECK(ci && ci->n_port_forwards == 3);
    if (ci && ci->n_port_forwards == 3) {
        CHECK_EQ_INT(ci->port_forwards[0]->protocol, MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_TCP);
        CHECK_EQ_INT(ci->port_forwards[0]->host_port, 8080);
        CHECK_EQ_INT(ci->port_forwards[0]->instance_port, 80);
        CHECK_EQ_INT(ci->port_forwards[1]->protocol, MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP);
        CHECK_EQ_INT(ci->port_forwards[2]->host_port, 65535);
        CHECK_EQ_INT(ci->port_forwards[2]->instance_port, 1);
    }
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    const char *bad[][2] = {{"tcp:8080", "PROTO:HOST-PORT:INSTANCE-PORT"},
                            {"tcp:1:2:3", "PROTO:HOST-PORT:INSTANCE-PORT"},
                            {"sctp:1:2", "not tcp or udp"},
                            {":1:2", "not tcp or udp"},
                            {"tcp:0:80", "host port \"0\""},
                            {"tcp:65536:80", "host port \"65536\""},
                            {"tcp:-1:80", "host port"},
                            {"tcp:80:", "instance port \"\""},
                            {"tcp:80:8x", "instance port \"8x\""},
                            {"tcp:080000:1", "host port"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *a[] = {"--tenant", "acme", "--pool", "web", "--forward", (char *)bad[k][0], NULL};
        mvm_error_clear(&err);
        CHECK_EQ_INT(parse(&mvm__v1__create_instance_request__descriptor, &m, &err, a),
                     MVM_INVALID_ARGUMENT);
        CHECK(strstr(err.msg, "--forward") && strstr(err.msg, bad[k][1]));
    }
    /* instance forward ID: the list replaces, "none" or no flag empties it */
    char *f1[] = {"i-0123456789abcdef", "--tenant", "acme", "--forward", "tcp:1:2",
                  "--resource-version", "9", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__set_port_forwards_request__descriptor, &m, &err, f1), MVM_OK);
    Mvm__V1__SetPortForwardsRequest *sp = (Mvm__V1__SetPortForwardsRequest *)m;
    CHECK(sp && strcmp(sp->id, "i-0123456789abcdef") == 0 && sp->n_port_forwards == 1 &&
          sp->resource_version == 9);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    char *f2[] = {"i-0123456789abcdef", "--tenant", "acme", "--forward", "tcp:1:2",
                  "--forward", "none", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__set_port_forwards_request__descriptor, &m, &err, f2), MVM_OK);
    sp = (Mvm__V1__SetPortForwardsRequest *)m;
    CHECK(sp && sp->n_port_forwards == 0);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    char *f3[] = {"i-0123456789abcdef", NULL}; /* tenant is required */
    CHECK_EQ_INT(parse(&mvm__v1__set_port_forwards_request__descriptor, &m, &err, f3),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "--tenant") != NULL);

    /* pool create/update --rx-bps ... */
    char *p1[] = {"web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
                  "--kernel-image", "/k", "--rootfs-image", "/r", "--rx-bps", "1000000",
                  "--tx-bps", "2000000", "--rx-pps", "3000", "--tx-pps", "4000", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__create_pool_request__descriptor, &m, &err, p1), MVM_OK);
    Mvm__V1__CreatePoolRequest *cp = (Mvm__V1__CreatePoolRequest *)m;
    CHECK(cp && cp->pool && cp->pool->network_limits &&
          cp->pool->network_limits->rx_bytes_per_second == 1000000 &&
          cp->pool->network_limits->tx_bytes_per_second == 2000000 &&
          cp->pool->network_limits->rx_packets_per_second == 3000 &&
          cp->pool->network_limits->tx_packets_per_second == 4000);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    char *p2[] = {"web", "--tenant", "acme", "--tx-pps", "0", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_pool_request__descriptor, &m, &err, p2), MVM_OK);
    Mvm__V1__UpdatePoolRequest *up = (Mvm__V1__UpdatePoolRequest *)m;
    CHECK(up && up->update_mask && up->update_mask->n_paths == 1 &&
          strcmp(up->update_mask->paths[0], "network_limits.tx_packets_per_second") == 0);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    char *p3[] = {"web", "--tenant", "acme", "--rx-bps", "-5", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_pool_request__descriptor, &m, &err, p3),
                 MVM_INVALID_ARGUMENT);

    /* what comes back: table cells and JSON */
    Mvm__V1__Instance in = MVM__V1__INSTANCE__INIT;
    Mvm__V1__PortForward a = MVM__V1__PORT_FORWARD__INIT, b = MVM__V1__PORT_FORWARD__INIT;
    Mvm__V1__PortForward *ab[] = {&a, &b};
    a.protocol = MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_TCP;
    a.host_port = 8080;
    a.instance_port = 80;
    b.protocol = MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP;
    b.host_port = 5353;
    b.instance_port = 53;
    in.port_forwards = ab;
    in.n_port_forwards = 2;
    in.netns = "mvm-i-0123456789abcdef";
    char buf[256];
    cli_value_text(&in.base, "port_forwards", buf, sizeof buf);
    CHECK_EQ_STR(buf, "tcp:8080:80,udp:5353:53");
    cli_value_text(&in.base, "netns", buf, sizeof buf);
    CHECK_EQ_STR(buf, "mvm-i-0123456789abcdef");
    char *j = cli_json_encode(&in.base, 0, 0);
    CHECK(j && strstr(j, "\"portForwards\":[{\"protocol\":\"PORT_PROTOCOL_TCP\",\"hostPort\":8080,"
                         "\"instancePort\":80},") &&
          strstr(j, "\"netns\":\"mvm-i-0123456789abcdef\""));
    free(j);
    Mvm__V1__Pool pl = MVM__V1__POOL__INIT;
    Mvm__V1__NetworkLimits nl = MVM__V1__NETWORK_LIMITS__INIT;
    nl.rx_bytes_per_second = 1000;
    nl.tx_packets_per_second = 7;
    pl.network_limits = &nl;
    cli_value_text(&pl.base, "network_limits", buf, sizeof buf);
    CHECK_EQ_STR(buf, "rx-bps=1000,tx-pps=7");
    j = cli_json_encode(&pl.base, 0, 0);
    CHECK(j && strstr(j, "\"networkLimits\":{\"rxBytesPerSecond\":\"1000\","
                         "\"txPacketsPerSecond\":\"7\"}"));
    free(j);
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    char *cidrs[] = {"203.0.113.0/24", "198.51.100.7/32"};
    t.egress_cidrs = cidrs;
    t.n_egress_cidrs = 2;
    cli_value_text(&t.base, "egress_cidrs", buf, sizeof buf);
    CHECK_EQ_STR(buf, "203.0.113.0/24,198.51.100.7/32");
    /* a file's port forwards decode too */
    const char *json = "{\"tenant\":\"acme\",\"id\":\"i-0123456789abcdef\","
                       "\"portForwards\":[{\"protocol\":\"UDP\",\"hostPort\":53,"
                       "\"instance_port\":5353}]}";
    CHECK_EQ_INT(cli_json_decode(&mvm__v1__set_port_forwards_request__descriptor, json,
                                 strlen(json), &m, &err),
                 MVM_OK);
    sp = (Mvm__V1__SetPortForwardsRequest *)m;
    CHECK(sp && sp->n_port_forwards == 1 && sp->port_forwards[0]->host_port == 53 &&
          sp->port_forwards[0]->instance_port == 5353 &&
          sp->port_forwards[0]->protocol == MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

int main(void) {
    test_flag_names();
    test_parse_create();
    test_parse_errors();
    test_update_mask();
    test_enum_bool();
    test_json();
    test_table_text();
    test_wire();
    test_field_behavior();
    test_required();
    test_update_identifiers();
    test_dashdash();
    test_durations();
    test_docs_complete();
    test_help_text();
    test_json_lists();
    test_done_text();
    test_decode_types();
    test_decode_errors();
    test_decode_round_trip();
    test_decode_large();
    test_decode_example();
    test_node_verbs();
    test_status_tables();
    test_network_flags();
    return check_done();
}
