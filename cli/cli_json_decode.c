/* cli_json_decode.c - the counterpart of cli_json.c: JSON in the proto3 JSON
 * mapping, parsed by jansson, into a protobuf-c message, driven by the
 * message's descriptor. Field names in lowerCamelCase or as in the proto;
 * integers as numbers or decimal strings, either form for every integer
 * type (a number beyond 2^63-1 only as a string: jansson's integers are
 * 64-bit signed, and it refuses a larger one with its line and column); enums by name (full or short, any
 * case) or number; bools; strings; bytes in base64; nested messages;
 * repeated fields as arrays; maps as objects; google.protobuf.Timestamp as
 * RFC 3339 text and google.protobuf.FieldMask as "a.b,cD"; null for a field
 * at its default. Anything else (an unknown field, a wrong type, a number
 * out of range, an unknown enum name, a field given under both names) is an
 * error whose message starts with the JSON path of the value
 * ("pools[1].desiredInstance: no such field in mvm.v1.Pool").
 *
 * Every value is decoded once and every array allocated at its final size,
 * so the work is linear in the document. The message being built is always
 * freeable with protobuf_c_message_free_unpacked, which is how a failure
 * cleans up. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PATH_MAX_LEN 512

typedef struct decoder {
    char path[PATH_MAX_LEN]; /* "pools[1].vcpus" */
    size_t len;
    mvm_error *err;
} decoder;

/* ---- the JSON path of the value being decoded ---- */

static size_t path_push_key(decoder *dc, const char *key) {
    size_t at = dc->len;
    int n = snprintf(dc->path + at, sizeof dc->path - at, "%s%s", at ? "." : "", key);
    if (n > 0)
        dc->len = at + (size_t)n < sizeof dc->path ? at + (size_t)n : sizeof dc->path - 1;
    return at;
}

static size_t path_push_index(decoder *dc, size_t i) {
    size_t at = dc->len;
    int n = snprintf(dc->path + at, sizeof dc->path - at, "[%zu]", i);
    if (n > 0)
        dc->len = at + (size_t)n < sizeof dc->path ? at + (size_t)n : sizeof dc->path - 1;
    return at;
}

static void path_pop(decoder *dc, size_t at) {
    dc->len = at;
    dc->path[at] = '\0';
}

static mvm_code bad(decoder *dc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static mvm_code bad(decoder *dc, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mvm_fail(dc->err, MVM_INVALID_ARGUMENT, "%s: %s",
                    dc->len ? dc->path : "(top level)", what);
}

static const char *kind_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a bool";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* ---- scalars ---- */

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d) {
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

/* Text of a decimal integer: an optional '-' and digits, nothing else. */
static int parse_decimal(const char *s, int is_unsigned, int64_t *sv, uint64_t *uv) {
    const char *p = s + (*s == '-');
    if (!*p || strspn(p, "0123456789") != strlen(p) || (is_unsigned && *s == '-'))
        return -1;
    errno = 0;
    char *end;
    if (is_unsigned)
        *uv = strtoull(s, &end, 10);
    else
        *sv = strtoll(s, &end, 10);
    return errno == ERANGE ? 1 : 0;
}

/* An integer of the field's type from a number or a decimal string. */
static mvm_code get_integer(decoder *dc, const ProtobufCFieldDescriptor *f,
                            const json_t *v, void *dst) {
    int is_unsigned = 0, bits = 32;
    const char *type = "int32";
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        is_unsigned = 1, type = "uint32";
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        bits = 64, type = "int64";
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        is_unsigned = 1, bits = 64, type = "uint64";
        break;
    default:
        break;
    }
    int64_t sv = 0;
    uint64_t uv = 0;
    int negative = 0;
    char text[64];
    if (json_is_integer(v)) {
        sv = json_integer_value(v);
        negative = sv < 0;
        uv = (uint64_t)sv;
        snprintf(text, sizeof text, "%" PRId64, sv);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        snprintf(text, sizeof text, "%.17g", d);
        if (d != floor(d) || fabs(d) > 9007199254740992.0) /* 2^53: exact */
            return bad(dc, "%s is not an integer (%s)", text, type);
        sv = (int64_t)d;
        negative = d < 0;
        uv = (uint64_t)sv;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        snprintf(text, sizeof text, "%.60s", s);
        int r = parse_decimal(s, is_unsigned && s[0] != '-', &sv, &uv);
        if (r < 0)
            return bad(dc, "\"%s\" is not a decimal integer (%s)", text, type);
        negative = s[0] == '-';
        if (r > 0)
            return bad(dc, "%s is out of range for %s", text, type);
        if (!is_unsigned || negative)
            uv = (uint64_t)sv;
        else
            sv = (int64_t)uv;
    } else {
        return bad(dc, "expected a number (%s), got %s", type, kind_name(v));
    }
    int in_range;
    if (is_unsigned)
        in_range = !negative && (bits == 64 || uv <= UINT32_MAX);
    else if (bits == 32)
        in_range = sv >= INT32_MIN && sv <= INT32_MAX &&
                   !(json_is_string(v) && !negative && uv > INT64_MAX);
    else
        in_range = negative || uv <= INT64_MAX;
    if (!in_range)
        return bad(dc, "%s is out of range for %s", text, type);
    if (bits == 64 && is_unsigned)
        *(uint64_t *)dst = uv;
    else if (bits == 64)
        *(int64_t *)dst = sv;
    else if (is_unsigned)
        *(uint32_t *)dst = (uint32_t)uv;
    else
        *(int32_t *)dst = (int32_t)sv;
    return MVM_OK;
}

static mvm_code get_float(decoder *dc, const ProtobufCFieldDescriptor *f,
                          const json_t *v, void *dst) {
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!strcmp(s, "NaN"))
            d = NAN;
        else if (!strcmp(s, "Infinity"))
            d = INFINITY;
        else if (!strcmp(s, "-Infinity"))
            d = -INFINITY;
        else if (!*s || (d = strtod(s, &end), *end) || isspace((unsigned char)*s))
            return bad(dc, "\"%.60s\" is not a number", s);
    } else {
        return bad(dc, "expected a number, got %s", kind_name(v));
    }
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
        if (isfinite(d) && fabs(d) > 3.4028234663852886e38)
            return bad(dc, "%g is out of range for float", d);
        *(float *)dst = (float)d;
    } else {
        *(double *)dst = d;
    }
    return MVM_OK;
}

static mvm_code get_enum(decoder *dc, const ProtobufCEnumDescriptor *e, const json_t *v,
                         int *dst) {
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= INT_MIN && n <= INT_MAX && protobuf_c_enum_descriptor_get_value(e, (int)n)) {
            *dst = (int)n;
            return MVM_OK;
        }
        return bad(dc, "%" JSON_INTEGER_FORMAT " is not a value of %s", n, e->name);
    }
    if (!json_is_string(v))
        return bad(dc, "expected an enum name (%s), got %s", e->name, kind_name(v));
    const char *s = json_string_value(v);
    for (unsigned i = 0; i < e->n_values; i++) {
        const char *shrt = cli_enum_short(e, e->values[i].value);
        if (!strcasecmp(s, e->values[i].name) || (shrt && !strcasecmp(s, shrt))) {
            *dst = e->values[i].value;
            return MVM_OK;
        }
    }
    char names[512] = "";
    size_t o = 0;
    for (unsigned i = 0; i < e->n_values && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                              e->values[i].name);
    return bad(dc, "\"%.60s\" is not a value of %s (%s)", s, e->name, names);
}

static int base64_digit(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional. */
static mvm_code get_bytes(decoder *dc, const json_t *v, ProtobufCBinaryData *dst) {
    if (!json_is_string(v))
        return bad(dc, "expected a base64 string, got %s", kind_name(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    while (n && s[n - 1] == '=')
        n--;
    uint8_t *out = malloc(n * 3 / 4 + 1);
    if (!out)
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int d = base64_digit((unsigned char)s[i]);
        if (d < 0 || (i % 4 == 0 && i + 1 == n)) {
            free(out);
            return bad(dc, "not base64 (at character %zu)", i + 1);
        }
        acc = acc << 6 | (uint32_t)d;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) {
        out[o++] = (uint8_t)(acc >> 4);
    } else if (n % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    free(dst->data);
    dst->data = out;
    dst->len = o;
    return MVM_OK;
}

static mvm_code get_string(decoder *dc, const json_t *v, char **dst) {
    if (!json_is_string(v))
        return bad(dc, "expected a string, got %s", kind_name(v));
    char *copy = strdup(json_string_value(v));
    if (!copy)
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    *dst = copy; /* the slot held NULL or the shared default */
    return MVM_OK;
}

/* ---- well-known types ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-01-02T03:04:05[.fraction](Z|+hh:mm|-hh:mm)", years 0001-9999. */
static int parse_rfc3339(const char *s, int64_t *sec, int32_t *nanos) {
    int y, mo, d, h, mi, se, n = 0;
    if (strlen(s) < 20 || sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                                 &se, &n) != 6 || n != 19)
        return -1;
    for (int i = 0; i < 19; i++) /* digits where digits belong, no signs */
        if ((i == 4 || i == 7) ? s[i] != '-' : (i == 13 || i == 16) ? s[i] != ':'
            : i == 10 ? 0 : !isdigit((unsigned char)s[i]))
            return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || se > 59)
        return -1;
    const char *p = s + 19;
    int32_t ns = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits >= 9)
                return -1;
            ns = ns * 10 + (*p - '0');
        }
        if (!digits)
            return -1;
        for (; digits < 9; digits++)
            ns *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return -1;
        oh = (p[1] - '0') * 10 + (p[2] - '0');
        om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return -1;
        offset = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
           offset;
    *nanos = ns;
    return 0;
}

static mvm_code set_field_text(decoder *dc, ProtobufCMessage *m, const char *field,
                               const char *text);

/* Decodes v into m if m's type has its own JSON form; *done says so. */
static mvm_code get_wkt(decoder *dc, const json_t *v, ProtobufCMessage *m, int *done) {
    const char *name = m->descriptor->name;
    *done = 1;
    if (!strcmp(name, "google.protobuf.Timestamp")) {
        int64_t sec;
        int32_t ns;
        if (!json_is_string(v))
            return bad(dc, "expected an RFC 3339 time string, got %s", kind_name(v));
        if (parse_rfc3339(json_string_value(v), &sec, &ns))
            return bad(dc, "\"%.60s\" is not an RFC 3339 time (2026-01-02T03:04:05Z)",
                       json_string_value(v));
        const ProtobufCFieldDescriptor *fs =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "seconds");
        const ProtobufCFieldDescriptor *fn =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "nanos");
        if (!fs || !fn)
            return mvm_fail(dc->err, MVM_INTERNAL, "%s has no seconds or nanos", name);
        *(int64_t *)cli_member(m, fs) = sec;
        *(int32_t *)cli_member(m, fn) = ns;
        return MVM_OK;
    }
    if (!strcmp(name, "google.protobuf.FieldMask")) {
        if (!json_is_string(v))
            return bad(dc, "expected a field mask string (\"a.b,cD\"), got %s", kind_name(v));
        return set_field_text(dc, m, "paths", json_string_value(v));
    }
    *done = 0;
    return MVM_OK;
}

/* FieldMask.paths from "fooBar.baz,qux": each path in snake case. */
static mvm_code set_field_text(decoder *dc, ProtobufCMessage *m, const char *field,
                               const char *text) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label != PROTOBUF_C_LABEL_REPEATED)
        return mvm_fail(dc->err, MVM_INTERNAL, "%s has no repeated %s", m->descriptor->name,
                        field);
    size_t n = *text ? 1 : 0;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    char **arr = calloc(n ? n : 1, sizeof *arr);
    if (!arr)
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    *(char ***)cli_member(m, f) = arr;
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    for (const char *p = text; n && *count < n;) {
        size_t len = strcspn(p, ",");
        char *s = malloc(len * 2 + 1), *o = s;
        if (!s)
            return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        arr[(*count)++] = s;
        for (size_t i = 0; i < len; i++) {
            if (isupper((unsigned char)p[i])) {
                *o++ = '_';
                *o++ = (char)tolower((unsigned char)p[i]);
            } else {
                *o++ = p[i];
            }
        }
        *o = '\0';
        if (!len)
            return bad(dc, "an empty path in the field mask \"%.60s\"", text);
        p += len + (p[len] == ',');
    }
    return MVM_OK;
}

/* ---- messages ---- */

static mvm_code get_message(decoder *dc, const json_t *v, ProtobufCMessage *m);

/* One value of field f (a singular one, or one element of a repeated one)
 * from v into dst. A message value is allocated into *(ProtobufCMessage **)dst
 * before it is filled, so that a failure inside it is freed with its
 * parent. */
static mvm_code get_value(decoder *dc, const ProtobufCFieldDescriptor *f, const json_t *v,
                          void *dst) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return get_integer(dc, f, v, dst);
    case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
        return get_float(dc, f, v, dst);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return bad(dc, "expected true or false, got %s", kind_name(v));
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return MVM_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return get_enum(dc, f->descriptor, v, dst);
    case PROTOBUF_C_TYPE_STRING:
        return get_string(dc, v, dst);
    case PROTOBUF_C_TYPE_BYTES:
        return get_bytes(dc, v, dst);
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **slot = dst;
        if (!*slot && !(*slot = new_message(f->descriptor)))
            return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return get_message(dc, v, *slot);
    }
    }
    return bad(dc, "a field of an unknown type");
}

/* A map field from a JSON object: one entry message per key, the key
 * decoded from its text by the entry's key type. */
static mvm_code get_map(decoder *dc, const ProtobufCFieldDescriptor *f, const json_t *v,
                        ProtobufCMessage *m) {
    if (!json_is_object(v))
        return bad(dc, "expected an object (a map), got %s", kind_name(v));
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t n = json_object_size(v);
    ProtobufCMessage **arr = calloc(n ? n : 1, sizeof *arr);
    if (!arr)
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    *(ProtobufCMessage ***)cli_member(m, f) = arr;
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        ProtobufCMessage *e = new_message(ed);
        if (!e)
            return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        arr[(*count)++] = e;
        size_t at = path_push_key(dc, key);
        mvm_code rc;
        json_t *kv = NULL;
        if (kf->type == PROTOBUF_C_TYPE_STRING) {
            kv = json_string(key);
        } else if (kf->type == PROTOBUF_C_TYPE_BOOL) {
            kv = !strcmp(key, "true") ? json_true() : !strcmp(key, "false") ? json_false()
                                                                             : json_string(key);
        } else {
            kv = json_string(key); /* integers: decimal text */
        }
        rc = kv ? get_value(dc, kf, kv, cli_member(e, kf))
                : mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        json_decref(kv);
        if (!rc && !json_is_null(val))
            rc = get_value(dc, vf, val, cli_member(e, vf));
        path_pop(dc, at);
        if (rc)
            return rc;
    }
    return MVM_OK;
}

/* A repeated (non-map) field from a JSON array, allocated at its size. */
static mvm_code get_repeated(decoder *dc, const ProtobufCFieldDescriptor *f,
                             const json_t *v, ProtobufCMessage *m) {
    if (!json_is_array(v))
        return bad(dc, "expected an array, got %s", kind_name(v));
    size_t n = json_array_size(v), es = cli_type_size(f->type);
    char *arr = calloc(n ? n : 1, es);
    if (!arr)
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    *(char **)cli_member(m, f) = arr;
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    for (size_t i = 0; i < n; i++) {
        size_t at = path_push_index(dc, i);
        const json_t *ev = json_array_get(v, i);
        void *slot = arr + i * es;
        (*count)++; /* zeroed: NULL strings and messages free fine */
        mvm_code rc = json_is_null(ev) && f->type != PROTOBUF_C_TYPE_MESSAGE
                          ? bad(dc, "null in a list")
                          : get_value(dc, f, ev, slot);
        if (rc && f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void **)slot)
            (*count)--; /* never allocated */
        path_pop(dc, at);
        if (rc)
            return rc;
    }
    return MVM_OK;
}

/* The field of d a JSON key names: its lowerCamelCase JSON name or the
 * proto's own. */
static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *d,
                                                     const char *key) {
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    if (f)
        return f;
    char jn[128];
    for (unsigned i = 0; i < d->n_fields; i++) {
        cli_json_name(d->fields[i].name, jn, sizeof jn);
        if (!strcmp(jn, key))
            return &d->fields[i];
    }
    return NULL;
}

static mvm_code get_message(decoder *dc, const json_t *v, ProtobufCMessage *m) {
    int done;
    mvm_code rc = get_wkt(dc, v, m, &done);
    if (done || rc)
        return rc;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (!json_is_object(v))
        return bad(dc, "expected an object (%s), got %s", d->name, kind_name(v));
    unsigned char seen_small[64], *seen = seen_small;
    if (d->n_fields > sizeof seen_small && !(seen = calloc(d->n_fields, 1)))
        return mvm_fail(dc->err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (seen == seen_small)
        memset(seen_small, 0, sizeof seen_small);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        const ProtobufCFieldDescriptor *f = field_for_key(d, key);
        size_t at = path_push_key(dc, key);
        if (!f) {
            rc = bad(dc, "no such field in %s", d->name);
        } else if (seen[f - d->fields]++) {
            rc = bad(dc, "field %s given twice (as \"%s\" and its other name)", f->name, key);
        } else if (json_is_null(val)) {
            rc = MVM_OK; /* the default */
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                   cli_is_map_entry(f->descriptor)) {
            rc = get_map(dc, f, val, m);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            rc = get_repeated(dc, f, val, m);
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                rc = bad(dc, "a oneof member (mvm.v1 has none; not supported)");
            } else {
                if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
                    *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
                /* A singular string slot still holds its shared default
                 * (each field is decoded once): get_string replaces it. */
                rc = get_value(dc, f, val, cli_member(m, f));
            }
        }
        path_pop(dc, at);
        if (rc)
            break;
    }
    if (seen != seen_small)
        free(seen);
    return rc;
}

mvm_code cli_json_decode(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                         ProtobufCMessage **out, mvm_error *err) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "line %d column %d: %s", je.line,
                        je.column, je.text);
    ProtobufCMessage *m = new_message(d);
    decoder dc = {.err = err};
    mvm_code rc = m ? get_message(&dc, root, m)
                    : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    json_decref(root);
    if (rc) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return MVM_OK;
}
