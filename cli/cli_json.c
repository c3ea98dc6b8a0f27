/* cli_json.c - a descriptor-driven JSON encoder in the style of the proto3
 * JSON mapping: lowerCamelCase names, fields at their default left out,
 * 64-bit integers as strings, enums by name, maps as objects, bytes in
 * base64, google.protobuf.Timestamp as RFC 3339 and FieldMask as a string.
 * One departure on request: a list reply shows its empty list as [] (proto3
 * JSON would leave it out, and {"tenants": []} is what a reader expects). */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_string(FILE *o, const char *s, size_t len) {
    fputc('"', o);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': fputs("\\\"", o); break;
        case '\\': fputs("\\\\", o); break;
        case '\n': fputs("\\n", o); break;
        case '\r': fputs("\\r", o); break;
        case '\t': fputs("\\t", o); break;
        case '\b': fputs("\\b", o); break;
        case '\f': fputs("\\f", o); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                fprintf(o, "\\u%04x", ch);
            else
                fputc(ch, o);
        }
    }
    fputc('"', o);
}

static void put_base64(FILE *o, const ProtobufCBinaryData *b) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', o);
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        size_t k = b->len - i;
        if (k > 1)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (k > 2)
            v |= b->data[i + 2];
        fputc(tab[v >> 18 & 63], o);
        fputc(tab[v >> 12 & 63], o);
        fputc(k > 1 ? tab[v >> 6 & 63] : '=', o);
        fputc(k > 2 ? tab[v & 63] : '=', o);
    }
    fputc('"', o);
}

static void newline(FILE *o, int indent, int level) {
    if (indent <= 0)
        return;
    fputc('\n', o);
    for (int i = 0; i < indent * level; i++)
        fputc(' ', o);
}

static void put_message(FILE *o, const ProtobufCMessage *m, int indent, int level,
                        unsigned flags);

static void put_double(FILE *o, double d) {
    if (isnan(d))
        fputs("\"NaN\"", o);
    else if (isinf(d))
        fputs(d > 0 ? "\"Infinity\"" : "\"-Infinity\"", o);
    else
        fprintf(o, "%.17g", d);
}

/* One value; as_key quotes numbers and bools (map keys). */
static void put_value(FILE *o, const ProtobufCFieldDescriptor *f, const void *v,
                      int indent, int level, int as_key) {
    const char *q = as_key ? "\"" : "";
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        fprintf(o, "%s%" PRId32 "%s", q, *(const int32_t *)v, q);
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        fprintf(o, "%s%" PRIu32 "%s", q, *(const uint32_t *)v, q);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        fprintf(o, "\"%" PRId64 "\"", *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        fprintf(o, "\"%" PRIu64 "\"", *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        put_double(o, *(const float *)v);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        put_double(o, *(const double *)v);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        fprintf(o, "%s%s%s", q, *(const protobuf_c_boolean *)v ? "true" : "false", q);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
        if (ev)
            put_string(o, ev->name, strlen(ev->name));
        else
            fprintf(o, "%d", *(const int *)v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v ? *(char *const *)v : "";
        put_string(o, s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        put_base64(o, v);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        put_message(o, *(ProtobufCMessage *const *)v, indent, level, 0);
        break;
    }
}

/* A field that is a map: {"k": v, ...}. */
static void put_map(FILE *o, const ProtobufCMessage *m,
                    const ProtobufCFieldDescriptor *f, int indent, int level) {
    size_t n = cli_field_count(m, f);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    fputc('{', o);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = *(ProtobufCMessage *const *)cli_field_value(m, f, i);
        if (i)
            fputc(',', o);
        newline(o, indent, level + 1);
        put_value(o, &ed->fields[0], cli_member(e, &ed->fields[0]), indent, level + 1, 1);
        fputs(indent > 0 ? ": " : ":", o);
        put_value(o, &ed->fields[1], cli_member(e, &ed->fields[1]), indent, level + 1, 0);
    }
    if (n)
        newline(o, indent, level);
    fputc('}', o);
}

/* Well-known types with their own JSON form; returns 1 if m was one. */
static int put_wkt(FILE *o, const ProtobufCMessage *m) {
    const char *name = m->descriptor->name;
    if (strcmp(name, "google.protobuf.Timestamp") == 0) {
        char t[64];
        cli_timestamp_text(m, t, sizeof t);
        put_string(o, t, strlen(t));
        return 1;
    }
    if (strcmp(name, "google.protobuf.FieldMask") == 0) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
        size_t n = cli_field_count(m, f);
        fputc('"', o);
        for (size_t i = 0; i < n; i++) {
            char jn[256];
            cli_json_name(*(char *const *)cli_field_value(m, f, i), jn, sizeof jn);
            fprintf(o, "%s%s", i ? "," : "", jn);
        }
        fputc('"', o);
        return 1;
    }
    return 0;
}

/* flags: CLI_JSON_TOP_LISTS applies to m (not to the messages inside it). */
static void put_message(FILE *o, const ProtobufCMessage *m, int indent, int level,
                        unsigned flags) {
    if (put_wkt(o, m))
        return;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int any = 0;
    fputc('{', o);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t n = cli_field_count(m, f);
        if (n == 0 && !(f->label == PROTOBUF_C_LABEL_REPEATED && (flags & CLI_JSON_TOP_LISTS)))
            continue;
        char jn[128];
        cli_json_name(f->name, jn, sizeof jn);
        if (any)
            fputc(',', o);
        any = 1;
        newline(o, indent, level + 1);
        fprintf(o, "\"%s\":%s", jn, indent > 0 ? " " : "");
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            put_value(o, f, cli_field_value(m, f, 0), indent, level + 1, 0);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && cli_is_map_entry(f->descriptor)) {
            put_map(o, m, f, indent, level + 1);
        } else {
            fputc('[', o);
            for (size_t k = 0; k < n; k++) {
                if (k)
                    fputc(',', o);
                newline(o, indent, level + 2);
                put_value(o, f, cli_field_value(m, f, k), indent, level + 2, 0);
            }
            if (n)
                newline(o, indent, level + 1);
            fputc(']', o);
        }
    }
    if (any)
        newline(o, indent, level);
    fputc('}', o);
}

char *cli_json_encode(const ProtobufCMessage *m, int indent, unsigned flags) {
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o)
        return NULL;
    put_message(o, m, indent, 0, flags);
    fclose(o);
    return buf;
}
