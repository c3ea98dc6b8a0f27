/* cli_value.c - reading protobuf-c messages generically through their
 * descriptors: where a field's value lives, whether it is set, and its
 * short text for tables (short enum names, k=v maps, RFC 3339 times). */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void *cli_member(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
    return (char *)msg + f->offset;
}

static size_t *quantifier(const ProtobufCMessage *msg,
                          const ProtobufCFieldDescriptor *f) {
    return (size_t *)((char *)msg + f->quantifier_offset);
}

static int scalar_is_default(const ProtobufCFieldDescriptor *f, const void *v) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_ENUM:
        return *(const int32_t *)v == 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)v == 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)v == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)v == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)v == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)v;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        return !s || !s[0];
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)v)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)v == NULL;
    }
    return 1;
}

size_t cli_field_count(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *quantifier(msg, f);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)quantifier(msg, f) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)quantifier(msg, f) ? 1 : 0;
    return !scalar_is_default(f, cli_member(msg, f));
}

size_t cli_type_size(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

const void *cli_field_value(const ProtobufCMessage *msg,
                            const ProtobufCFieldDescriptor *f, size_t i) {
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(char *const *)cli_member(msg, f) + i * cli_type_size(f->type);
    return cli_member(msg, f);
}

void cli_json_name(const char *name, char *buf, size_t cap) {
    size_t o = 0;
    int up = 0;
    for (; *name && o + 1 < cap; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        buf[o++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 32) : *name;
        up = 0;
    }
    buf[o] = '\0';
}

void cli_timestamp_text(const ProtobufCMessage *ts, char *buf, size_t cap) {
    const ProtobufCFieldDescriptor *fs =
        protobuf_c_message_descriptor_get_field_by_name(ts->descriptor, "seconds");
    const ProtobufCFieldDescriptor *fn =
        protobuf_c_message_descriptor_get_field_by_name(ts->descriptor, "nanos");
    int64_t sec = fs ? *(const int64_t *)cli_member(ts, fs) : 0;
    int32_t nanos = fn ? *(const int32_t *)cli_member(ts, fn) : 0;
    time_t t = (time_t)sec;
    struct tm tm;
    char base[48] = "0000-00-00T00:00:00";
    if (gmtime_r(&t, &tm)) /* four-digit years (RFC 3339), also before 1000 */
        snprintf(base, sizeof base, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (nanos <= 0 || nanos > 999999999)
        snprintf(buf, cap, "%sZ", base);
    else if (nanos % 1000000 == 0)
        snprintf(buf, cap, "%s.%03dZ", base, nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(buf, cap, "%s.%06dZ", base, nanos / 1000);
    else
        snprintf(buf, cap, "%s.%09dZ", base, nanos);
}

const char *cli_enum_short(const ProtobufCEnumDescriptor *e, int value) {
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);
    if (!v)
        return NULL;
    /* Common prefix of all value names, cut back to just after a '_'. */
    size_t pre = strlen(e->values[0].name);
    for (unsigned i = 1; i < e->n_values; i++) {
        size_t k = 0;
        while (k < pre && e->values[i].name[k] == e->values[0].name[k])
            k++;
        pre = k;
    }
    while (pre > 0 && e->values[0].name[pre - 1] != '_')
        pre--;
    if (e->n_values < 2 || !v->name[pre])
        pre = 0;
    return v->name + pre;
}

int cli_is_map_entry(const ProtobufCMessageDescriptor *d) {
    size_t n = strlen(d->name);
    return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
           strcmp(d->fields[0].name, "key") == 0 &&
           strcmp(d->fields[1].name, "value") == 0;
}

/* Appends the text of one value of field f to buf at *o. */
static void one_text(const ProtobufCFieldDescriptor *f, const void *v, char *buf,
                     size_t cap, size_t *o);

static void append(char *buf, size_t cap, size_t *o, const char *s) {
    int n = snprintf(buf + *o, *o < cap ? cap - *o : 0, "%s", s);
    if (n > 0)
        *o += (size_t)n;
    if (*o >= cap)
        *o = cap - 1;
}

static void message_text(const ProtobufCMessage *m, char *buf, size_t cap,
                         size_t *o) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (strcmp(d->name, "google.protobuf.Timestamp") == 0) {
        char t[64];
        cli_timestamp_text(m, t, sizeof t);
        append(buf, cap, o, t);
        return;
    }
    const cli_text_type *tt = cli_text_type_of(d);
    if (tt && tt->format) {
        char t[256];
        tt->format(m, t, sizeof t);
        append(buf, cap, o, t);
        return;
    }
    /* Other messages (map entries, small records): values joined by "=". */
    int first = 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        if (!first)
            append(buf, cap, o, "=");
        first = 0;
        one_text(f, cli_member(m, f), buf, cap, o);
    }
}

static void one_text(const ProtobufCFieldDescriptor *f, const void *v, char *buf,
                     size_t cap, size_t *o) {
    char t[64];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(t, sizeof t, "%" PRId32, *(const int32_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        snprintf(t, sizeof t, "%" PRIu32, *(const uint32_t *)v);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(t, sizeof t, "%" PRId64, *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        snprintf(t, sizeof t, "%" PRIu64, *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(t, sizeof t, "%g", (double)*(const float *)v);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(t, sizeof t, "%g", *(const double *)v);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(t, sizeof t, "%s", *(const protobuf_c_boolean *)v ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const char *s = cli_enum_short(f->descriptor, *(const int *)v);
        if (s)
            snprintf(t, sizeof t, "%s", s);
        else
            snprintf(t, sizeof t, "%d", *(const int *)v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        append(buf, cap, o, *(char *const *)v ? *(char *const *)v : "");
        return;
    case PROTOBUF_C_TYPE_BYTES:
        snprintf(t, sizeof t, "(%zu bytes)", ((const ProtobufCBinaryData *)v)->len);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (*(ProtobufCMessage *const *)v)
            message_text(*(ProtobufCMessage *const *)v, buf, cap, o);
        return;
    }
    append(buf, cap, o, t);
}

void cli_value_text(const ProtobufCMessage *msg, const char *path, char *buf,
                    size_t cap) {
    buf[0] = '\0';
    char seg[64];
    while (msg) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg)
            return;
        memcpy(seg, path, n);
        seg[n] = '\0';
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, seg);
        if (!f)
            return;
        if (path[n] == '.' && f->type == PROTOBUF_C_TYPE_MESSAGE &&
            f->label != PROTOBUF_C_LABEL_REPEATED) {
            msg = *(ProtobufCMessage **)cli_member(msg, f);
            path += n + 1;
            continue;
        }
        size_t o = 0, cnt = cli_field_count(msg, f);
        if (f->label != PROTOBUF_C_LABEL_REPEATED && f->type != PROTOBUF_C_TYPE_MESSAGE)
            cnt = 1; /* a zero is worth showing in a table */
        const char *sep = f->type == PROTOBUF_C_TYPE_MESSAGE &&
                                  !cli_is_map_entry(f->descriptor) &&
                                  !cli_text_type_of(f->descriptor) ? " " : ",";
        for (size_t i = 0; i < cnt; i++) {
            if (i)
                append(buf, cap, &o, sep);
            one_text(f, cli_field_value(msg, f, i), buf, cap, &o);
        }
        return;
    }
}
