/* cli_unit_test.c - unit tests of mvm-cli's descriptor-driven parts: flag
 * derivation and parsing (flattening, maps, enums, bools, ranges, the
 * positional argument, update_mask, "--", required fields from the proto's
 * field behaviours), the help texts (every verb and flag documented from the
 * proto), the JSON encoder, durations, the "deleted ..." line, and the wire
 * helpers of libmvmc (grpc-message decoding, HTTP status mapping,
 * grpc-timeout). */
#include "../../tests/unit/check.h"
#include "cli.h"
#include "cli_help.h"
#include "grpc_wire.h"
#include "mvmc.h"

#include <stdlib.h>

#include "mvm/v1/instance.pb-c.h"
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
    return check_done();
}
