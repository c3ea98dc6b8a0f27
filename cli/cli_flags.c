/* cli_flags.c - a verb's flags, derived from its request descriptor.
 *
 * Every scalar, enum, string, repeated or map field becomes a flag named
 * after the field with '-' for '_' ("net_id" -> --net-id). Fields of the
 * request's resource message (CreateTenantRequest.tenant) are flattened
 * without a prefix; deeper messages add theirs (tenant.quota.max_instances
 * -> --quota-max-instances). Map and repeated fields take a singular,
 * repeatable flag (labels -> --label k=v); a repeated message field does
 * when its type has a text form (cli_text.c: --forward tcp:8080:80). A
 * few flags have a shorter name declared in flag_names below
 * (egress_cidrs -> --egress). Output-only fields and
 * google.protobuf.* messages have no flag, except resource_version on
 * requests with an update_mask, where it makes the update conditional.
 * The update_mask itself is filled with the paths of the flags given.
 * Which flags are required comes from the proto's field behaviours
 * ([(mvm.v1.field_behavior) = REQUIRED | IDENTIFIER], cli_docs.c). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Flags named by declaration instead of after their field, for what is
 * typed often; clear is the value that empties a repeated field's list
 * (on an update, the way to clear it). */
static const struct {
    const char *field; /* "mvm.v1.Tenant.egress_cidrs" */
    const char *flag;
    const char *clear;
} flag_names[] = {
    {"mvm.v1.Tenant.egress_cidrs", "egress", "none"},
    {"mvm.v1.CreateInstanceRequest.port_forwards", "forward", "none"},
    {"mvm.v1.SetPortForwardsRequest.port_forwards", "forward", "none"},
    {"mvm.v1.NetworkLimits.rx_bytes_per_second", "rx-bps", NULL},
    {"mvm.v1.NetworkLimits.tx_bytes_per_second", "tx-bps", NULL},
    {"mvm.v1.NetworkLimits.rx_packets_per_second", "rx-pps", NULL},
    {"mvm.v1.NetworkLimits.tx_packets_per_second", "tx-pps", NULL},
};

static int mentions_output_only(const char *comment) {
    return comment && strcasestr(comment, "output only") != NULL;
}

static int is_hidden(const ProtobufCMessageDescriptor *owner,
                     const ProtobufCFieldDescriptor *f, int updating) {
    if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
        strncmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name,
                "google.protobuf.", 16) == 0)
        return 1;
    if (updating && strcmp(f->name, "resource_version") == 0)
        return 0;
    if (mentions_output_only(cli_docs_field(owner->name, f->name)))
        return 1;
    return f->type == PROTOBUF_C_TYPE_MESSAGE &&
           mentions_output_only(cli_docs_message(
               ((const ProtobufCMessageDescriptor *)f->descriptor)->name));
}

static int is_plain_message(const ProtobufCFieldDescriptor *f) {
    return f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED;
}

typedef struct walk_ctx {
    cli_flagset *fs;
    const ProtobufCFieldDescriptor *path[8];
    int updating;
    mvm_error *err;
} walk_ctx;

/* Whether field f of message d is required, given that the path to d is
 * (parent_required): REQUIRED or IDENTIFIER, except that inside the
 * resource of an update only IDENTIFIER counts. */
static int field_required(const walk_ctx *w, const ProtobufCMessageDescriptor *d,
                          const ProtobufCFieldDescriptor *f, int depth,
                          int parent_required) {
    unsigned b = cli_docs_field_behavior(d->name, f->name);
    unsigned counts = w->updating && depth > 0
                          ? CLI_FIELD_IDENTIFIER
                          : CLI_FIELD_REQUIRED | CLI_FIELD_IDENTIFIER;
    return parent_required && (b & counts) != 0;
}

static mvm_code add_flag(walk_ctx *w, const ProtobufCMessageDescriptor *d, int depth,
                         const ProtobufCFieldDescriptor *f, const char *name_prefix,
                         const char *mask_prefix, int parent_required) {
    cli_flagset *fs = w->fs;
    cli_flag *nf = realloc(fs->flags, (fs->n + 1) * sizeof *nf);
    if (!nf)
        return mvm_fail(w->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    fs->flags = nf;
    cli_flag *fl = &fs->flags[fs->n++];
    memset(fl, 0, sizeof *fl);
    memcpy(fl->path, w->path, (size_t)depth * sizeof fl->path[0]);
    fl->path[depth] = f;
    fl->depth = depth + 1;
    snprintf(fl->name, sizeof fl->name, "%s%s", name_prefix, f->name);
    size_t len = strlen(fl->name);
    if (f->label == PROTOBUF_C_LABEL_REPEATED && len > 2 &&
        fl->name[len - 1] == 's' && fl->name[len - 2] != 's')
        fl->name[len - 1] = '\0'; /* one value per flag: --label */
    for (char *p = fl->name; *p; p++)
        if (*p == '_')
            *p = '-';
    for (size_t k = 0; k < sizeof flag_names / sizeof flag_names[0]; k++) {
        size_t dl = strlen(d->name);
        const char *fn = flag_names[k].field;
        if (strncmp(fn, d->name, dl) == 0 && fn[dl] == '.' && strcmp(fn + dl + 1, f->name) == 0) {
            snprintf(fl->name, sizeof fl->name, "%s", flag_names[k].flag);
            fl->clear = flag_names[k].clear;
        }
    }
    if (mask_prefix)
        snprintf(fl->mask_path, sizeof fl->mask_path, "%s%s", mask_prefix, f->name);
    fl->required = field_required(w, d, f, depth, parent_required);
    fl->identifier = depth == 1 && w->path[0] == fs->wrapper &&
                     (cli_docs_field_behavior(d->name, f->name) & CLI_FIELD_IDENTIFIER);
    return MVM_OK;
}

/* Adds the flags of message d, reached through w->path[0..depth) (all of
 * it required if required). */
static mvm_code walk(walk_ctx *w, const ProtobufCMessageDescriptor *d, int depth,
                     const char *name_prefix, const char *mask_prefix, int required) {
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        mvm_code rc = MVM_OK;
        if (depth == 0 && is_plain_message(f) &&
            strcmp(sub->name, "google.protobuf.FieldMask") == 0) {
            w->fs->mask_field = f;
            continue;
        }
        if (is_hidden(d, f, w->updating))
            continue;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label == PROTOBUF_C_LABEL_REPEATED &&
            !cli_is_map_entry(sub) &&
            !(cli_text_type_of(sub) && cli_text_type_of(sub)->parse))
            continue; /* lists of other messages cannot be given as flags */
        if (is_plain_message(f)) {
            if (depth + 2 >= 8)
                continue;
            w->path[depth] = f;
            char np[96], mp[128];
            if (depth == 0 && !w->fs->wrapper) {
                w->fs->wrapper = f; /* the resource: flattened, no prefix */
                np[0] = '\0';
                mp[0] = '\0';
            } else {
                int nl = snprintf(np, sizeof np, "%s%s_", name_prefix, f->name);
                int ml = snprintf(mp, sizeof mp, "%s%s.", mask_prefix ? mask_prefix : "", f->name);
                if (nl < 0 || nl >= (int)sizeof np || ml < 0 || ml >= (int)sizeof mp)
                    continue; /* a path too deep to name as a flag */
            }
            rc = walk(w, sub, depth + 1, np, mask_prefix || depth == 0 ? mp : NULL,
                      field_required(w, d, f, depth, required));
        } else {
            rc = add_flag(w, d, depth, f, name_prefix, mask_prefix, required);
        }
        if (rc)
            return rc;
    }
    return MVM_OK;
}

mvm_code cli_flags_build(const ProtobufCMessageDescriptor *req,
                         const char *positional, cli_flagset *fs, mvm_error *err) {
    memset(fs, 0, sizeof *fs);
    fs->req = req;
    walk_ctx w = {.fs = fs, .err = err};
    w.updating = protobuf_c_message_descriptor_get_field_by_name(req, "update_mask") != NULL;
    mvm_code rc = walk(&w, req, 0, "", NULL, 1);
    if (rc)
        return rc;
    /* Only a second-level path under the wrapper is relative to it. */
    for (size_t i = 0; i < fs->n; i++) {
        cli_flag *fl = &fs->flags[i];
        if (fl->depth == 1 || fl->path[0] != fs->wrapper)
            fl->mask_path[0] = '\0';
    }
    /* The positional argument: the named field, else "name", else "id". */
    const char *want[] = {positional, "name", "id"};
    for (int k = positional ? 0 : 1; k < 3; k++) {
        for (size_t i = 0; i < fs->n; i++) {
            cli_flag *fl = &fs->flags[i];
            if (strcmp(fl->path[fl->depth - 1]->name, want[k]) == 0 &&
                (fl->depth == 1 || (fl->depth == 2 && fl->path[0] == fs->wrapper))) {
                fl->positional = 1;
                return MVM_OK;
            }
        }
        if (positional)
            break;
    }
    return MVM_OK;
}

void cli_flags_free(cli_flagset *fs) {
    free(fs->flags);
    fs->flags = NULL;
    fs->n = 0;
}

/* ---- values ---- */

static mvm_code bad_value(const char *flag, const char *text, const char *what,
                          mvm_error *err) {
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s: \"%s\" is not %s", flag,
                    text, what);
}

static mvm_code parse_int(const char *flag, const char *text, int64_t lo,
                          uint64_t hi, int is_unsigned, const char *type,
                          void *out, int bytes, mvm_error *err) {
    char *end;
    errno = 0;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p || (is_unsigned && *p == '-'))
        return bad_value(flag, text, type[0] == 'u' ? "an unsigned number" : "a number", err);
    if (is_unsigned) {
        unsigned long long v = strtoull(p, &end, 10);
        if (*end)
            return bad_value(flag, text, "a number", err);
        if (errno == ERANGE || v > hi)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "--%s: %s is out of range for %s", flag, text, type);
        if (bytes == 8)
            *(uint64_t *)out = v;
        else
            *(uint32_t *)out = (uint32_t)v;
    } else {
        long long v = strtoll(p, &end, 10);
        if (*end)
            return bad_value(flag, text, "a number", err);
        if (errno == ERANGE || v < lo || (v > 0 && (uint64_t)v > hi))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "--%s: %s is out of range for %s", flag, text, type);
        if (bytes == 8)
            *(int64_t *)out = v;
        else
            *(int32_t *)out = (int32_t)v;
    }
    return MVM_OK;
}

static mvm_code parse_enum(const char *flag, const ProtobufCEnumDescriptor *e,
                           const char *text, int *out, mvm_error *err) {
    for (unsigned i = 0; i < e->n_values; i++) {
        const char *s = cli_enum_short(e, e->values[i].value);
        if (strcasecmp(text, e->values[i].name) == 0 || (s && strcasecmp(text, s) == 0)) {
            *out = e->values[i].value;
            return MVM_OK;
        }
    }
    char names[512] = "";
    size_t o = 0;
    for (unsigned i = 0; i < e->n_values && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                              cli_enum_short(e, e->values[i].value));
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s: \"%s\" is not one of %s",
                    flag, text, names);
}

/* Parses text into the value of type f at dst. */
static mvm_code set_scalar(const char *flag, const ProtobufCFieldDescriptor *f,
                           void *dst, const char *text, mvm_error *err) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return parse_int(flag, text, INT32_MIN, INT32_MAX, 0, "int32", dst, 4, err);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return parse_int(flag, text, 0, UINT32_MAX, 1, "uint32", dst, 4, err);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return parse_int(flag, text, INT64_MIN, INT64_MAX, 0, "int64", dst, 8, err);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return parse_int(flag, text, 0, UINT64_MAX, 1, "uint64", dst, 8, err);
    case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (!*text || *end || errno == ERANGE)
            return bad_value(flag, text, "a number", err);
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)dst = (float)d;
        else
            *(double *)dst = d;
        return MVM_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
            *(protobuf_c_boolean *)dst = 1;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
            *(protobuf_c_boolean *)dst = 0;
        else
            return bad_value(flag, text, "true or false", err);
        return MVM_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum(flag, f->descriptor, text, dst, err);
    case PROTOBUF_C_TYPE_STRING: {
        char *copy = strdup(text), **slot = dst;
        if (!copy)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        if (*slot && *slot != (const char *)f->default_value &&
            *slot != protobuf_c_empty_string)
            free(*slot);
        *slot = copy;
        return MVM_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        uint8_t *copy = malloc(strlen(text) + 1);
        if (!copy)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        memcpy(copy, text, strlen(text) + 1);
        free(b->data);
        b->data = copy;
        b->len = strlen(text);
        return MVM_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s cannot be given", flag);
}

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d) {
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

/* Appends a zeroed value to repeated field f of msg; returns its address. */
static void *append_value(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
    size_t *n = (size_t *)((char *)msg + f->quantifier_offset);
    char **arr = cli_member(msg, f);
    size_t es = cli_type_size(f->type);
    char *na = realloc(*arr, (*n + 1) * es);
    if (!na)
        return NULL;
    *arr = na;
    memset(na + *n * es, 0, es);
    return na + (*n)++ * es;
}

/* Empties repeated field f of msg, freeing its values (strings and
 * messages the parse made). */
static void list_clear(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
    size_t *n = (size_t *)((char *)msg + f->quantifier_offset);
    void **arr = cli_member(msg, f);
    for (size_t i = 0; *arr && i < *n; i++) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            char *s = ((char **)*arr)[i];
            if (s && s != protobuf_c_empty_string)
                free(s);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && ((ProtobufCMessage **)*arr)[i]) {
            protobuf_c_message_free_unpacked(((ProtobufCMessage **)*arr)[i], NULL);
        }
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

mvm_code cli_flags_set(ProtobufCMessage *msg, const cli_flag *fl,
                       const char *text, mvm_error *err) {
    for (int i = 0; i + 1 < fl->depth; i++) {
        ProtobufCMessage **slot = cli_member(msg, fl->path[i]);
        if (!*slot && !(*slot = new_message(fl->path[i]->descriptor)))
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        msg = *slot;
    }
    const ProtobufCFieldDescriptor *f = fl->path[fl->depth - 1];
    if (f->label == PROTOBUF_C_LABEL_REPEATED && fl->clear && strcmp(text, fl->clear) == 0) {
        list_clear(msg, f);
        return MVM_OK;
    }
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        mvm_code rc = set_scalar(fl->name, f, cli_member(msg, f), text, err);
        if (!rc && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            *(uint32_t *)((char *)msg + f->quantifier_offset) = f->id;
        else if (!rc && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                 f->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
        return rc;
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
        void *v = append_value(msg, f);
        if (!v)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        if (f->type == PROTOBUF_C_TYPE_STRING)
            *(char **)v = NULL;
        mvm_code rc = set_scalar(fl->name, f, v, text, err);
        if (rc && f->type == PROTOBUF_C_TYPE_STRING) /* keep the array freeable */
            *(const char **)v = protobuf_c_empty_string;
        return rc;
    }
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const cli_text_type *tt = cli_text_type_of(ed);
    if (tt && tt->parse) { /* a message in its text form */
        ProtobufCMessage *e = new_message(ed);
        if (!e)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        mvm_code rc = tt->parse(fl->name, text, e, err);
        ProtobufCMessage **slot = rc ? NULL : append_value(msg, f);
        if (!slot) {
            protobuf_c_message_free_unpacked(e, NULL);
            return rc ? rc : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        }
        *slot = e;
        return MVM_OK;
    }
    /* A map: "key=value". */
    const char *eq = strchr(text, '=');
    if (!eq)
        return bad_value(fl->name, text, "key=value", err);
    ProtobufCMessage *e = new_message(ed);
    ProtobufCMessage **slot = e ? append_value(msg, f) : NULL;
    if (!slot) {
        free(e);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    *slot = e;
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - text), text);
    mvm_code rc = set_scalar(fl->name, &ed->fields[0], cli_member(e, &ed->fields[0]), key, err);
    if (!rc)
        rc = set_scalar(fl->name, &ed->fields[1], cli_member(e, &ed->fields[1]), eq + 1, err);
    return rc;
}

/* ---- the command line ---- */

void cli_flags_names(const cli_flagset *fs, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < fs->n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, " --%s", fs->flags[i].name);
}

static const cli_flag *find_flag(const cli_flagset *fs, const char *name, size_t len) {
    for (size_t i = 0; i < fs->n; i++)
        if (strlen(fs->flags[i].name) == len && strncmp(fs->flags[i].name, name, len) == 0)
            return &fs->flags[i];
    return NULL;
}

/* A flag that selects the resource of an update, or makes it conditional:
 * not a path of its update_mask. */
static int is_selector(const cli_flag *fl) {
    const char *leaf = fl->path[fl->depth - 1]->name;
    return fl->identifier || (fl->depth == 2 && strcmp(leaf, "resource_version") == 0);
}

/* Fills the request's update_mask with the mask paths of the given flags. */
static mvm_code fill_mask(const cli_flagset *fs, ProtobufCMessage *req,
                          const unsigned char *given, mvm_error *err) {
    const ProtobufCMessageDescriptor *md = fs->mask_field->descriptor;
    const ProtobufCFieldDescriptor *paths =
        protobuf_c_message_descriptor_get_field_by_name(md, "paths");
    ProtobufCMessage **slot = cli_member(req, fs->mask_field);
    if (!paths || !(*slot = new_message(md)))
        return mvm_fail(err, MVM_INTERNAL, "cannot build update_mask");
    cli_flag pf = {.depth = 1, .path = {paths}};
    snprintf(pf.name, sizeof pf.name, "update-mask");
    for (size_t i = 0; i < fs->n; i++) {
        const cli_flag *fl = &fs->flags[i];
        if (!given[i] || !fl->mask_path[0] || is_selector(fl))
            continue;
        int dup = 0;
        for (size_t k = 0; k < i; k++)
            dup |= given[k] && strcmp(fs->flags[k].mask_path, fl->mask_path) == 0;
        mvm_code rc = dup ? MVM_OK : cli_flags_set(*slot, &pf, fl->mask_path, err);
        if (rc)
            return rc;
    }
    if (cli_field_count(*slot, paths) == 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "nothing to update: give at least one field to change");
    return MVM_OK;
}

/* The flag a positional argument fills, or NULL. */
static const cli_flag *positional_flag(const cli_flagset *fs) {
    for (size_t k = 0; k < fs->n; k++)
        if (fs->flags[k].positional)
            return &fs->flags[k];
    return NULL;
}

/* INVALID_ARGUMENT naming every required flag not given, or MVM_OK. */
static mvm_code check_required(const cli_flagset *fs, const unsigned char *given,
                               mvm_error *err) {
    char names[1024] = "";
    size_t o = 0, missing = 0;
    for (size_t i = 0; i < fs->n && o < sizeof names; i++) {
        const cli_flag *fl = &fs->flags[i];
        if (!fl->required || given[i])
            continue;
        char upper[96];
        size_t k = 0;
        for (; fl->positional && fl->name[k] && k + 1 < sizeof upper; k++)
            upper[k] = (char)toupper((unsigned char)fl->name[k]);
        upper[k] = '\0';
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s%s%s%s",
                              missing++ ? ", " : "", upper, fl->positional ? " (or --" : "--",
                              fl->name, fl->positional ? ")" : "");
    }
    if (!missing)
        return MVM_OK;
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "missing required %s: %s",
                    missing > 1 ? "arguments" : "argument", names);
}

/* 1 if the leaf of fl holds a value in req (set from a file). */
static int is_set_in(const ProtobufCMessage *req, const cli_flag *fl) {
    for (int i = 0; req && i + 1 < fl->depth; i++)
        req = *(ProtobufCMessage *const *)cli_member(req, fl->path[i]);
    return req && cli_field_count(req, fl->path[fl->depth - 1]) > 0;
}

/* Applies argv's flags to req; with onto, a required flag not given counts
 * as given when req has its field set. */
static mvm_code parse_into(const cli_flagset *fs, int argc, char **argv,
                           ProtobufCMessage *req, int onto, mvm_error *err) {
    unsigned char *given = calloc(fs->n + 1, 1);
    mvm_code rc = req && given ? MVM_OK
                               : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    int options = 1; /* until "--" */
    for (int i = 0; !rc && i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        const cli_flag *fl = NULL;
        if (options && strcmp(a, "--") == 0) {
            options = 0;
            continue;
        }
        if (options && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            fl = find_flag(fs, name, len);
            if (!fl) {
                char names[2048];
                cli_flags_names(fs, names, sizeof names);
                rc = mvm_fail(err, MVM_INVALID_ARGUMENT,
                              "unknown flag --%.*s; valid flags:%s", (int)len, name,
                              names[0] ? names : " (none)");
                break;
            }
            const ProtobufCFieldDescriptor *f = fl->path[fl->depth - 1];
            if (eq)
                val = eq + 1;
            else if (f->type == PROTOBUF_C_TYPE_BOOL && f->label != PROTOBUF_C_LABEL_REPEATED)
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s needs a value", fl->name);
                break;
            }
        } else if (options && a[0] == '-' && a[1]) {
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT,
                          "unknown option %s (an argument that starts with '-' goes after \"--\")", a);
            break;
        } else {
            if (!(fl = positional_flag(fs))) {
                rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "unexpected argument \"%s\"", a);
                break;
            }
            val = a;
        }
        size_t idx = (size_t)(fl - fs->flags);
        if (given[idx] && fl->path[fl->depth - 1]->label != PROTOBUF_C_LABEL_REPEATED) {
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "--%s given twice%s", fl->name,
                          fl->positional ? " (or as the argument)" : "");
            break;
        }
        given[idx] = 1;
        rc = cli_flags_set(req, fl, val, err);
    }
    for (size_t i = 0; !rc && onto && i < fs->n; i++)
        given[i] |= fs->flags[i].required && is_set_in(req, &fs->flags[i]);
    if (!rc)
        rc = check_required(fs, given, err);
    if (!rc && fs->mask_field)
        rc = fill_mask(fs, req, given, err);
    free(given);
    return rc;
}

mvm_code cli_flags_parse(const cli_flagset *fs, int argc, char **argv,
                         ProtobufCMessage **out, mvm_error *err) {
    ProtobufCMessage *req = new_message(fs->req);
    mvm_code rc = parse_into(fs, argc, argv, req, 0, err);
    if (rc) {
        if (req)
            protobuf_c_message_free_unpacked(req, NULL);
        return rc;
    }
    *out = req;
    return MVM_OK;
}

mvm_code cli_flags_parse_onto(const cli_flagset *fs, int argc, char **argv,
                              ProtobufCMessage *req, mvm_error *err) {
    return parse_into(fs, argc, argv, req, 1, err);
}

void cli_flags_type(const cli_flag *fl, char *buf, size_t cap) {
    const ProtobufCFieldDescriptor *f = fl->path[fl->depth - 1];
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32", [PROTOBUF_C_TYPE_SINT32] = "int32",
        [PROTOBUF_C_TYPE_SFIXED32] = "int32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "int64", [PROTOBUF_C_TYPE_SFIXED64] = "int64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32", [PROTOBUF_C_TYPE_FIXED32] = "uint32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64", [PROTOBUF_C_TYPE_FIXED64] = "uint64",
        [PROTOBUF_C_TYPE_FLOAT] = "float", [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "[=bool]", [PROTOBUF_C_TYPE_STRING] = "string",
        [PROTOBUF_C_TYPE_BYTES] = "bytes", [PROTOBUF_C_TYPE_ENUM] = "enum",
        [PROTOBUF_C_TYPE_MESSAGE] = "key=value",
    };
    const cli_text_type *tt =
        f->type == PROTOBUF_C_TYPE_MESSAGE ? cli_text_type_of(f->descriptor) : NULL;
    if (tt && tt->syntax) {
        snprintf(buf, cap, "%s", tt->syntax);
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_ENUM) {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        size_t o = 0;
        buf[0] = '\0';
        for (unsigned i = 0; i < e->n_values && o < cap; i++)
            if (e->values[i].value != 0)
                o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? "|" : "",
                                      cli_enum_short(e, e->values[i].value));
        return;
    }
    snprintf(buf, cap, "%s", names[f->type]);
}

const char *cli_flags_doc(const cli_flagset *fs, const cli_flag *fl) {
    const ProtobufCMessageDescriptor *owner =
        fl->depth > 1 ? fl->path[fl->depth - 2]->descriptor : fs->req;
    return cli_docs_field(owner->name, fl->path[fl->depth - 1]->name);
}

#define HELP_WIDTH 79
#define HELP_TEXT_COL 37 /* where the descriptions start */

/* Writes text (whitespace-separated words) from column col on, wrapping at
 * HELP_WIDTH onto lines indented to HELP_TEXT_COL. */
static void wrap(FILE *out, const char *text, int col) {
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\n')
            p++;
        size_t n = strcspn(p, " \n");
        if (!n)
            break;
        if (col > HELP_TEXT_COL && col + 1 + (int)n > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_TEXT_COL, "");
            col = HELP_TEXT_COL;
        } else if (col > HELP_TEXT_COL) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)n, p);
        col += (int)n;
        p += n;
    }
    fputc('\n', out);
}

void cli_flags_help(const cli_flagset *fs, FILE *out) {
    for (size_t i = 0; i < fs->n; i++) {
        const cli_flag *fl = &fs->flags[i];
        const ProtobufCFieldDescriptor *f = fl->path[fl->depth - 1];
        char type[256], left[384], text[2048];
        cli_flags_type(fl, type, sizeof type);
        int col = snprintf(left, sizeof left, "  --%s %s", fl->name, type);
        const char *doc = cli_flags_doc(fs, fl);
        char clear[64] = "";
        if (fl->clear)
            snprintf(clear, sizeof clear, " (\"%s\": an empty list)", fl->clear);
        snprintf(text, sizeof text, "%s%s%s%s%s", fl->required ? "(required) " : "",
                 doc ? doc : "", f->label == PROTOBUF_C_LABEL_REPEATED ? " (repeatable)" : "",
                 clear, fl->positional ? " (or as the argument)" : "");
        fputs(left, out);
        if (col + 1 > HELP_TEXT_COL) {
            fprintf(out, "\n%*s", HELP_TEXT_COL, "");
        } else {
            fprintf(out, "%*s", HELP_TEXT_COL - col, "");
        }
        wrap(out, text, HELP_TEXT_COL);
    }
}
