/* cli_docs.c - what the descriptor set the build embeds (mvm_descriptor_set[],
 * with source info) tells mvm-cli beyond protobuf-c's descriptors: the proto
 * comments shown in help, streaming kinds, and the field behaviours declared
 * with [(mvm.v1.field_behavior) = ...] (proto/mvm/v1/options.proto). Parsed
 * once, on first use. */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

static Google__Protobuf__FileDescriptorSet *docs_set(void) {
    static Google__Protobuf__FileDescriptorSet *set;
    static int tried;
    if (!tried) {
        tried = 1;
        set = google__protobuf__file_descriptor_set__unpack(
            NULL, mvm_descriptor_set_len, mvm_descriptor_set);
    }
    return set;
}

/* The leading comment at source path p[0..n) of file f, or NULL. */
static const char *comment_at(const Google__Protobuf__FileDescriptorProto *f,
                              const int32_t *p, size_t n) {
    const Google__Protobuf__SourceCodeInfo *sci = f->source_code_info;
    if (!sci)
        return NULL;
    for (size_t i = 0; i < sci->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *l = sci->location[i];
        if (l->n_path == n && memcmp(l->path, p, n * sizeof *p) == 0)
            return l->leading_comments;
    }
    return NULL;
}

/* Finds message full (e.g. "mvm.v1.InstanceEvent.Type" is not a message;
 * "mvm.v1.Pool") and writes its source path into p; returns its file. */
static const Google__Protobuf__FileDescriptorProto *
find_message(const char *full, int32_t *p, size_t *n,
             const Google__Protobuf__DescriptorProto **out) {
    Google__Protobuf__FileDescriptorSet *set = docs_set();
    for (size_t fi = 0; set && fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        size_t pl = strlen(f->package);
        if (strncmp(full, f->package, pl) != 0 || full[pl] != '.')
            continue;
        const char *rest = full + pl + 1;
        size_t nm = f->n_message_type;
        Google__Protobuf__DescriptorProto *const *ms = f->message_type;
        *n = 0;
        p[(*n)++] = 4; /* FileDescriptorProto.message_type */
        for (;;) {
            size_t seg = strcspn(rest, ".");
            size_t i;
            for (i = 0; i < nm; i++)
                if (strlen(ms[i]->name) == seg && strncmp(ms[i]->name, rest, seg) == 0)
                    break;
            if (i == nm || *n + 3 > 16)
                break;
            p[(*n)++] = (int32_t)i;
            if (!rest[seg]) {
                *out = ms[i];
                return f;
            }
            rest += seg + 1;
            p[(*n)++] = 3; /* DescriptorProto.nested_type */
            nm = ms[i]->n_nested_type;
            ms = ms[i]->nested_type;
        }
    }
    return NULL;
}

const char *cli_docs_message(const char *msg) {
    int32_t p[16];
    size_t n;
    const Google__Protobuf__DescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_message(msg, p, &n, &m);
    return f ? comment_at(f, p, n) : NULL;
}

const char *cli_docs_field(const char *msg, const char *field) {
    int32_t p[18];
    size_t n;
    const Google__Protobuf__DescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_message(msg, p, &n, &m);
    if (!f)
        return NULL;
    for (size_t i = 0; i < m->n_field; i++) {
        if (strcmp(m->field[i]->name, field) == 0) {
            p[n] = 2; /* DescriptorProto.field */
            p[n + 1] = (int32_t)i;
            return comment_at(f, p, n + 2);
        }
    }
    return NULL;
}

/* Finds method of service; returns its file and fills p (source path). */
static const Google__Protobuf__FileDescriptorProto *
find_method(const char *service, const char *method, int32_t *p,
            const Google__Protobuf__MethodDescriptorProto **out) {
    Google__Protobuf__FileDescriptorSet *set = docs_set();
    for (size_t fi = 0; set && fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        size_t pl = strlen(f->package);
        if (strncmp(service, f->package, pl) != 0 || service[pl] != '.')
            continue;
        for (size_t si = 0; si < f->n_service; si++) {
            const Google__Protobuf__ServiceDescriptorProto *s = f->service[si];
            if (strcmp(s->name, service + pl + 1) != 0)
                continue;
            for (size_t mi = 0; mi < s->n_method; mi++) {
                if (strcmp(s->method[mi]->name, method) == 0) {
                    p[0] = 6; /* FileDescriptorProto.service */
                    p[1] = (int32_t)si;
                    p[2] = 2; /* ServiceDescriptorProto.method */
                    p[3] = (int32_t)mi;
                    *out = s->method[mi];
                    return f;
                }
            }
        }
    }
    return NULL;
}

const char *cli_docs_method(const char *service, const char *method) {
    int32_t p[4];
    const Google__Protobuf__MethodDescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_method(service, method, p, &m);
    return f ? comment_at(f, p, 4) : NULL;
}

int cli_docs_server_streaming(const char *service, const char *method) {
    int32_t p[4];
    const Google__Protobuf__MethodDescriptorProto *m;
    if (!find_method(service, method, p, &m))
        return -1;
    return m->has_server_streaming && m->server_streaming;
}

/* ---- field behaviours ---- */

/* The extension's number and the FieldBehavior values we act on, as
 * options.proto declares them (looked up by name, so the proto stays the
 * one place that defines them). */
typedef struct behavior_decl {
    int32_t number;           /* 0: not found */
    int32_t required, identifier;
} behavior_decl;

static const behavior_decl *behaviors(void) {
    static behavior_decl d;
    static int tried;
    Google__Protobuf__FileDescriptorSet *set = docs_set();
    if (tried)
        return &d;
    tried = 1;
    for (size_t fi = 0; set && fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        if (!f->package || strcmp(f->package, "mvm.v1") != 0)
            continue;
        for (size_t i = 0; i < f->n_extension; i++) {
            const Google__Protobuf__FieldDescriptorProto *x = f->extension[i];
            if (x->name && strcmp(x->name, "field_behavior") == 0 && x->extendee &&
                strcmp(x->extendee, ".google.protobuf.FieldOptions") == 0)
                d.number = x->number;
        }
        for (size_t i = 0; i < f->n_enum_type; i++) {
            const Google__Protobuf__EnumDescriptorProto *e = f->enum_type[i];
            if (!e->name || strcmp(e->name, "FieldBehavior") != 0)
                continue;
            for (size_t k = 0; k < e->n_value; k++) {
                if (strcmp(e->value[k]->name, "REQUIRED") == 0)
                    d.required = e->value[k]->number;
                else if (strcmp(e->value[k]->name, "IDENTIFIER") == 0)
                    d.identifier = e->value[k]->number;
            }
        }
    }
    return &d;
}

/* Reads one varint at *p (before end); 0 if malformed. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

static unsigned behavior_bit(const behavior_decl *d, uint64_t v) {
    if (d->required && v == (uint64_t)d->required)
        return CLI_FIELD_REQUIRED;
    if (d->identifier && v == (uint64_t)d->identifier)
        return CLI_FIELD_IDENTIFIER;
    return 0;
}

unsigned cli_docs_field_behavior(const char *msg, const char *field) {
    int32_t p[16];
    size_t n;
    const Google__Protobuf__DescriptorProto *m;
    const behavior_decl *d = behaviors();
    if (!d->number || !find_message(msg, p, &n, &m))
        return 0;
    unsigned bits = 0;
    for (size_t i = 0; i < m->n_field; i++) {
        const Google__Protobuf__FieldOptions *o = m->field[i]->options;
        if (strcmp(m->field[i]->name, field) != 0 || !o)
            continue;
        /* protobuf-c keeps extensions it does not know as unknown fields:
         * one varint per value, or (packed) a run of varints. */
        for (unsigned k = 0; k < o->base.n_unknown_fields; k++) {
            const ProtobufCMessageUnknownField *u = &o->base.unknown_fields[k];
            const uint8_t *q = u->data, *end = u->data + u->len;
            uint64_t v;
            if (u->tag != (uint32_t)d->number)
                continue;
            if (u->wire_type == PROTOBUF_C_WIRE_TYPE_VARINT && read_varint(&q, end, &v))
                bits |= behavior_bit(d, v);
            else if (u->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
                while (q < end && read_varint(&q, end, &v))
                    bits |= behavior_bit(d, v);
        }
    }
    return bits;
}
