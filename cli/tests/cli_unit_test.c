/* cli_unit_test.c - unit tests of mvm-cli's descriptor-driven parts: flag
 * derivation and parsing (flattening, maps, enums, bools, ranges, the
 * positional argument, update_mask), the JSON encoder, and the wire helpers
 * of libmvmc (grpc-message decoding, HTTP status mapping, grpc-timeout). */
#include "../../tests/unit/check.h"
#include "cli.h"
#include "grpc_wire.h"
#include "mvmc.h"

#include <stdlib.h>

#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/tenant.pb-c.h"

static const cli_flag *flag(const cli_flagset *fs, const char *name) {
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(fs->flags[i].name, name))
            return &fs->flags[i];
    return NULL;
}

/* Parses argv (NULL-terminated) as flags of desc; returns the code. */
static mvm_code parse(const ProtobufCMessageDescriptor *desc, const char *const *sel,
                      ProtobufCMessage **out, mvm_error *err, char **argv) {
    cli_flagset fs;
    int argc = 0;
    while (argv[argc])
        argc++;
    mvm_code rc = cli_flags_build(desc, NULL, &fs, err);
    if (!rc)
        rc = cli_flags_parse(&fs, argc, argv, sel, out, err);
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
    CHECK_EQ_INT(parse(&mvm__v1__create_tenant_request__descriptor, NULL, &m, &err, argv), MVM_OK);
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
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a1), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "out of range") != NULL);
    char *a2[] = {"--net-id", "-1", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a2), MVM_INVALID_ARGUMENT);
    char *a3[] = {"--net-id", "12x", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a3), MVM_INVALID_ARGUMENT);
    char *a4[] = {"--nope", "1", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a4), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "unknown flag --nope") && strstr(err.msg, "--net-id"));
    char *a5[] = {"a", "b", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a5), MVM_INVALID_ARGUMENT);
    char *a6[] = {"--label", "novalue", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a6), MVM_INVALID_ARGUMENT);
    char *a7[] = {"--subnet", NULL};
    CHECK_EQ_INT(parse(d, NULL, &m, &err, a7), MVM_INVALID_ARGUMENT);
    char *a8[] = {"--list", NULL}; /* a request without a positional */
    CHECK_EQ_INT(parse(&mvm__v1__list_tenants_request__descriptor, NULL, &m, &err, a8),
                 MVM_INVALID_ARGUMENT);
}

static void test_update_mask(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    const char *sel[] = {"name", NULL};
    char *argv[] = {"acme", "--quota-max-instances", "5", "--label", "a=b",
                    "--label", "c=d", "--resource-version", "7", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, sel, &m, &err, argv), MVM_OK);
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
    CHECK_EQ_INT(parse(&mvm__v1__update_tenant_request__descriptor, sel, &m, &err, only_name),
                 MVM_INVALID_ARGUMENT);
}

static void test_enum_bool(void) {
    ProtobufCMessage *m = NULL;
    mvm_error err = {0};
    char *argv[] = {"--type", "deleted", "--state", "INSTANCE_STATE_SLEEPING", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__instance_event__descriptor, NULL, &m, &err, argv), MVM_OK);
    Mvm__V1__InstanceEvent *e = (Mvm__V1__InstanceEvent *)m;
    if (e) {
        CHECK_EQ_INT(e->type, MVM__V1__INSTANCE_EVENT__TYPE__DELETED);
        CHECK(e->instance && e->instance->state == MVM__V1__INSTANCE_STATE__INSTANCE_STATE_SLEEPING);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *bad[] = {"--type", "exploded", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__instance_event__descriptor, NULL, &m, &err, bad),
                 MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "ADDED") != NULL);
    char *w[] = {"--send-initial", "--tenant", "acme", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__watch_instances_request__descriptor, NULL, &m, &err, w), MVM_OK);
    Mvm__V1__WatchInstancesRequest *wr = (Mvm__V1__WatchInstancesRequest *)m;
    if (wr) {
        CHECK(wr->send_initial);
        CHECK_EQ_STR(wr->tenant, "acme");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *w2[] = {"--send-initial=maybe", NULL};
    CHECK_EQ_INT(parse(&mvm__v1__watch_instances_request__descriptor, NULL, &m, &err, w2),
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
    char *j = cli_json_encode(&t.base, 0);
    CHECK_EQ_STR(j, "{\"name\":\"a\\\"b\\n\",\"netId\":3,\"quota\":{\"maxMemMib\":\"5\"},"
                    "\"labels\":{\"env\":\"prod\"},\"createTime\":\"2026-01-01T00:00:00.500Z\","
                    "\"resourceVersion\":\"18446744073709551615\"}");
    free(j);
    Mvm__V1__Tenant empty = MVM__V1__TENANT__INIT;
    j = cli_json_encode(&empty.base, 2);
    CHECK_EQ_STR(j, "{}");
    free(j);
    Mvm__V1__UpdateTenantRequest u = MVM__V1__UPDATE_TENANT_REQUEST__INIT;
    Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"quota.max_instances", "labels"};
    fm.n_paths = 2;
    fm.paths = paths;
    u.update_mask = &fm;
    j = cli_json_encode(&u.base, 2);
    CHECK_EQ_STR(j, "{\n  \"updateMask\": \"quota.maxInstances,labels\"\n}");
    free(j);
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = MVM__V1__INSTANCE_EVENT__TYPE__MODIFIED;
    j = cli_json_encode(&ev.base, 0);
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

int main(void) {
    test_flag_names();
    test_parse_create();
    test_parse_errors();
    test_update_mask();
    test_enum_bool();
    test_json();
    test_table_text();
    test_wire();
    return check_done();
}
