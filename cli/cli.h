/* cli.h - what the files of mvm-cli share.
 *
 * An object file (cli_tenant.c ...) holds only a cli_object: its verbs, each
 * naming a service method, and the columns its messages show in tables.
 * Everything else is derived from the protobuf-c descriptors: the flags of
 * a verb (cli_flags.c), the help text (cli_docs.c, from the embedded
 * descriptor set's comments), JSON (cli_json.c) and tables (cli_table.c).
 */
#ifndef CLI_H
#define CLI_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

#include "mvm_error.h"

/* Exit codes besides 0 and the gRPC status codes 1-16. */
#define CLI_EXIT_USAGE 64

/* A column's path names a field of the row's message, dotted into
 * sub-messages ("usage.instances"). Two more forms:
 *   "a/b"        both values joined by "/" ("1/3": warm of desired warm)
 *   "name+flag"  name's value, then " (flag)" if the bool field flag is
 *                true ("web (deleting)")
 * In tables a bool shows as yes or no, an unset value as "-". */
typedef struct cli_column {
    const char *header; /* "NAME" */
    const char *path;   /* field path in the message, "usage.instances" */
} cli_column;

/* How one message type is shown in tables: rows with these columns, or, if
 * vertical, one "HEADER  value" line per column, or, if raw names a bytes
 * field, that field's bytes as they are (a console stream). A view with
 * heading and no columns is of a message holding a list: one line
 * "header value  header value ..." (headers as given, lowercase reads
 * best), then the rows of the list (by that list's own view). */
typedef struct cli_view {
    const ProtobufCMessageDescriptor *msg;
    const cli_column *columns; /* ends with {NULL, NULL}; NULL with raw */
    int vertical;
    const char *raw;
    const cli_column *heading; /* ends with {NULL, NULL}; or NULL */
} cli_view;

typedef struct cli_verb {
    const char *name;                         /* "create" */
    const ProtobufCServiceDescriptor *service;
    const char *method;                       /* "CreateTenant" */
    const char *positional;                   /* field the argument fills;
                                                 NULL: "name" or "id" */
    const char *done;                         /* table output of a success
                                                 whose reply is empty: "deleted"
                                                 -> "deleted tenant acme";
                                                 NULL: print the reply */
    unsigned opts;                            /* CLI_VERB_* */
    const char *watch;                        /* with --watch, this server-
                                                 streaming method (same
                                                 request) instead; NULL: the
                                                 verb has no --watch */
} cli_verb;

/* The request is read from "-f FILE" / "--file FILE" ("-": standard input),
 * JSON in the proto3 JSON mapping of the request message (cli_json_decode);
 * flags given as well set their fields over the file's. */
#define CLI_VERB_FILE 1u

typedef struct cli_object {
    const char *name;      /* "tenant" */
    const char *summary;   /* one line for the top-level help */
    const cli_verb *verbs; /* ends with {NULL} */
    const cli_view *views; /* ends with {NULL} */
} cli_object;

extern const cli_object cli_tenant_object, cli_pool_object,
    cli_instance_object, cli_node_object, cli_health_object, cli_snapshot_object;
/* All objects, NULL-terminated. */
extern const cli_object *const cli_objects[];

/* ---- cli_docs.c: comments and streaming kinds from the descriptor set ---- */

/* Leading comment of a field / message / method, or NULL. Full names as in
 * descriptor->name ("mvm.v1.Tenant"). */
const char *cli_docs_field(const char *msg, const char *field);
const char *cli_docs_message(const char *msg);
const char *cli_docs_method(const char *service, const char *method);
/* 1 if the method streams replies, 0 if not, -1 if unknown. */
int cli_docs_server_streaming(const char *service, const char *method);

/* Field behaviours declared in the proto with
 * [(mvm.v1.field_behavior) = REQUIRED | IDENTIFIER] (see
 * proto/mvm/v1/options.proto for what each means). */
#define CLI_FIELD_REQUIRED 1u
#define CLI_FIELD_IDENTIFIER 2u
/* The CLI_FIELD_* bits of a field (0 if none, or unknown). */
unsigned cli_docs_field_behavior(const char *msg, const char *field);

/* ---- cli_text.c: message types with a text form of their own ---- */

/* A message type written as one short text ("tcp:8080:80"): a repeated
 * field of it takes a repeatable flag, and a table cell shows it so. */
typedef struct cli_text_type {
    const ProtobufCMessageDescriptor *msg;
    const char *syntax; /* for help: "PROTO:HOST-PORT:INSTANCE-PORT"; NULL:
                           shown only, never given as a flag */
    /* Fills m (initialised, of type msg) from text; INVALID_ARGUMENT
     * naming --flag and what is wrong. */
    mvm_code (*parse)(const char *flag, const char *text, ProtobufCMessage *m,
                      mvm_error *err);
    void (*format)(const ProtobufCMessage *m, char *buf, size_t cap);
} cli_text_type;

/* The text form of message type d, or NULL if it has none. */
const cli_text_type *cli_text_type_of(const ProtobufCMessageDescriptor *d);

/* ---- cli_flags.c: request flags derived from the request descriptor ---- */

typedef struct cli_flag {
    char name[96];      /* without "--": "quota-max-instances", "label" */
    const ProtobufCFieldDescriptor *path[8]; /* from the request down */
    int depth;
    char mask_path[128]; /* "quota.max_instances"; "" if not for update_mask */
    int positional;
    int required;   /* the call needs it (see cli_flags_build) */
    int identifier; /* selects the resource of an update: not a mask path */
    const char *clear; /* a repeated flag's value that empties its list
                          ("none"), or NULL */
} cli_flag;

typedef struct cli_flagset {
    const ProtobufCMessageDescriptor *req;
    cli_flag *flags;
    size_t n;
    const ProtobufCFieldDescriptor *mask_field; /* update_mask, or NULL */
    const ProtobufCFieldDescriptor *wrapper;    /* resource field masks are
                                                   relative to, or NULL */
} cli_flagset;

/* Builds the flags of a request type. positional names the field the
 * positional argument fills (NULL: a "name" or "id" field, if any).
 * A flag is required when every field on its path is declared REQUIRED or
 * IDENTIFIER; inside the resource of a request with update_mask only
 * IDENTIFIER fields count (an update sets just the fields given). */
mvm_code cli_flags_build(const ProtobufCMessageDescriptor *req,
                         const char *positional, cli_flagset *fs, mvm_error *err);
void cli_flags_free(cli_flagset *fs);
/* Fills a new request from args (flags and at most one positional; after
 * "--" every argument is positional). For a request with update_mask, fills
 * it with the mask paths of the flags given, leaving out the identifier
 * fields and resource_version. INVALID_ARGUMENT with a message on any usage
 * error, naming every required flag that is missing. */
mvm_code cli_flags_parse(const cli_flagset *fs, int argc, char **argv,
                         ProtobufCMessage **out, mvm_error *err);
/* The same over a request that holds values already (read from a file):
 * flags given replace its fields, and a required flag not given is
 * satisfied by a field req has set. req stays the caller's, also on
 * failure (with some flags applied). */
mvm_code cli_flags_parse_onto(const cli_flagset *fs, int argc, char **argv,
                              ProtobufCMessage *req, mvm_error *err);
/* Writes "--name TYPE  comment" entries for every flag, the comment (the
 * field's own, from the proto) wrapped to the terminal's usual width. */
void cli_flags_help(const cli_flagset *fs, FILE *out);
/* The proto comment of a flag's field, or NULL. */
const char *cli_flags_doc(const cli_flagset *fs, const cli_flag *fl);
/* " --a --b ..." list of flag names into buf. */
void cli_flags_names(const cli_flagset *fs, char *buf, size_t cap);
/* Sets one leaf (scalar, enum, bool, string; or appends to a repeated/map
 * field, where text is "k=v" for maps) of msg from text. */
mvm_code cli_flags_set(ProtobufCMessage *msg, const cli_flag *fl,
                       const char *text, mvm_error *err);
/* Type name for help: "uint32", "string", "key=value", enum values. */
void cli_flags_type(const cli_flag *fl, char *buf, size_t cap);

/* ---- cli_value.c: values of fields as text ---- */

/* The member of field f in msg (its address). */
void *cli_member(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);
/* Number of values a field holds: for repeated the count, else 1 if it is
 * set (non-default for proto3 scalars, non-NULL for messages), else 0. */
size_t cli_field_count(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);
/* Bytes one value of a type takes in a repeated field's array. */
size_t cli_type_size(ProtobufCType t);
/* Address of the i-th value of field f (i = 0 for a singular field). */
const void *cli_field_value(const ProtobufCMessage *msg,
                            const ProtobufCFieldDescriptor *f, size_t i);
/* Lower camel case JSON name of a field name ("net_id" -> "netId"). */
void cli_json_name(const char *name, char *buf, size_t cap);
/* RFC 3339 text of a google.protobuf.Timestamp ("2026-01-02T03:04:05.5Z"). */
void cli_timestamp_text(const ProtobufCMessage *ts, char *buf, size_t cap);
/* An enum value's name without the type's common prefix ("RUNNING"). */
const char *cli_enum_short(const ProtobufCEnumDescriptor *e, int value);
/* 1 if d is the message of a map field's entries. */
int cli_is_map_entry(const ProtobufCMessageDescriptor *d);
/* Short text of one value (for tables): numbers, short enum names, strings,
 * maps as k=v, timestamps in RFC 3339, repeated joined with ",". */
void cli_value_text(const ProtobufCMessage *msg, const char *path, char *buf,
                    size_t cap);

/* ---- cli_json.c: proto3 JSON mapping ---- */

/* Repeated fields of the top message appear even when empty
 * ({"tenants": []}): a list reply always has its list. */
#define CLI_JSON_TOP_LISTS 1u
/* Encodes m as JSON; indent 0 writes one line. Returns malloc'd text. */
char *cli_json_encode(const ProtobufCMessage *m, int indent, unsigned flags);

/* ---- cli_json_decode.c: proto3 JSON mapping -> message ---- */

/* Decodes text (len bytes, JSON in the proto3 JSON mapping: lowerCamelCase
 * or proto field names, 64-bit integers as numbers or strings, enums by
 * name or number, Timestamp as RFC 3339, FieldMask as "a.b,c") into a new
 * message of type d (*out; free it with protobuf_c_message_free_unpacked).
 * Linear in the size of the text; any thread (no shared state).
 * Errors: INVALID_ARGUMENT, the message starting with where: "line L
 * column C: ..." for malformed JSON, else the JSON path of the offending
 * value ("pools[1].desiredInstance: no such field in mvm.v1.Pool"); *out
 * stays NULL and nothing leaks. RESOURCE_EXHAUSTED when out of memory. */
mvm_code cli_json_decode(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                         ProtobufCMessage **out, mvm_error *err);

/* ---- cli_table.c ---- */

/* Prints a reply: rows of the list inside it or the reply itself. A page
 * with a next_page_token ends with a "more results: --page-token T" line
 * on stderr (after stdout is flushed, so that it comes last). */
void cli_table_print(FILE *out, const cli_object *obj, const ProtobufCMessage *m);
/* "deleted tenant acme", "deleted pool web (tenant acme)": what a verb with
 * a done word did to the object its request names. */
void cli_table_done(char *buf, size_t cap, const cli_object *obj,
                    const cli_verb *verb, const cli_flagset *fs,
                    const ProtobufCMessage *req);
/* Prints one streamed message as a row; header the first time. */
void cli_table_stream_row(FILE *out, const cli_object *obj,
                          const ProtobufCMessage *m, int first);

/* ---- cli_config.c: endpoint and credentials ---- */

typedef struct cli_config {
    char endpoint[512], cert[512], key[512], ca[512], output[16];
    int insecure;    /* -1: not set */
    int timeout_ms;  /* -1: not set */
} cli_config;

/* Empty strings, -1 numbers. */
void cli_config_init(cli_config *c);
/* Fills what dst lacks from src (dst has precedence). */
void cli_config_merge(cli_config *dst, const cli_config *src);
/* Reads the MVM_* variables; INVALID_ARGUMENT for a bad value. */
mvm_code cli_config_from_env(cli_config *c, mvm_error *err);
/* Reads "key = value" lines. A missing file is fine unless required. */
mvm_code cli_config_load(cli_config *c, const char *path, int required,
                         mvm_error *err);
/* Sets one option from text ("endpoint", "timeout", ...). */
mvm_code cli_config_set(cli_config *c, const char *key, const char *value,
                        mvm_error *err);
/* A positive duration with its unit ("30s", "500ms", "1.5m", "2h") ->
 * milliseconds; -1 for anything else (no unit, zero, negative, garbage,
 * under 1 ms, over 24 days). */
int cli_parse_duration(const char *s);

/* ---- cli_run.c ---- */

/* Runs "mvm-cli OBJECT VERB ARGS..." with the global options in cfg;
 * returns the exit code. */
int cli_run(const cli_object *obj, const cli_verb *verb, int argc, char **argv,
            const cli_config *cfg, int count);
/* The verb's flag set (for help and the run). */
mvm_code cli_verb_flags(const cli_verb *verb, cli_flagset *fs, mvm_error *err);

#endif
