/* store_rules.c - the syntactic rules of the API: DNS-label names, tenant
 * subnets (a canonical /24 inside 10.240.0.0/12), machine sizes, labels
 * (count, key and value syntax and sizes, unique keys), file paths the node
 * will open, and valid UTF-8 in every string field. None needs stored data, so they run
 * before the write lock is taken. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

bool store_name_valid(const char *s) {
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return false;
    }
    return true;
}

mvm_code store_check_name(const char *what, const char *s, mvm_error *err) {
    if (!s || !*s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s name is required", what);
    if (!store_name_valid(s))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s name \"%.80s\" is not a lowercase DNS label "
                        "([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
                        what, s);
    return MVM_OK;
}

mvm_code store_check_machine(const char *what, uint32_t vcpus, uint32_t mem_mib,
                             mvm_error *err) {
    if (vcpus < 1 || vcpus > 32)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s vcpus %u is out of range 1-32", what,
                        vcpus);
    if (mem_mib < 128 || mem_mib > 262144)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s mem_mib %u is out of range 128-262144",
                        what, mem_mib);
    return MVM_OK;
}

/* Parses a decimal octet without leading zeros; advances *p. */
static bool parse_octet(const char **p, unsigned *out) {
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return false;
    unsigned v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s - '0');
        if (++digits > 3)
            return false;
        s++;
    }
    if (v > 255 || (digits > 1 && **p == '0'))
        return false;
    *p = s;
    *out = v;
    return true;
}

bool store_parse_cidr(const char *s, unsigned o[4], unsigned *len) {
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        if (!parse_octet(&p, &o[i]) || *p != (i < 3 ? '.' : '/'))
            return false;
        p++;
    }
    return parse_octet(&p, len) && *p == '\0';
}

mvm_code store_check_subnet(const char *s, uint8_t net[2], mvm_error *err) {
    if (!s || !*s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "subnet is required");
    unsigned o[4], len = 0;
    if (!store_parse_cidr(s, o, &len))
        goto bad;
    if (len != 24)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "subnet \"%.40s\" must be a /24", s);
    if (o[3] != 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "subnet \"%.40s\" has host bits set (expected %u.%u.%u.0/24)", s, o[0],
                        o[1], o[2]);
    if (o[0] != 10 || o[1] < 240)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "subnet \"%.40s\" is outside 10.240.0.0/12", s);
    net[0] = (uint8_t)o[1];
    net[1] = (uint8_t)o[2];
    return MVM_OK;
bad:
    return mvm_fail(err, MVM_INVALID_ARGUMENT,
                    "subnet \"%.40s\" is not in canonical CIDR form (10.240.N.0/24)", s);
}

static bool label_key_valid(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > STORE_LABEL_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(i > 0 && (c == '-' || c == '_' || c == '.' || c == '/')))
            return false;
    }
    return true;
}

static bool label_value_valid(const char *v) {
    size_t n = strlen(v);
    if (n > STORE_LABEL_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || c == ',' || c == '=' || c == '!')
            return false;
    }
    return true;
}

static int label_key_cmp(const void *a, const void *b) {
    const store_label *const *x = a, *const *y = b;
    return strcmp((*x)->key ? (*x)->key : "", (*y)->key ? (*y)->key : "");
}

mvm_code store_check_labels(const ProtobufCMessage *m, mvm_error *err) {
    size_t n;
    store_label **l = store_labels_of(m, &n);
    if (n > STORE_LABELS_MAX) /* first: bounds the work below */
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s has %zu labels; at most %d are allowed", m->descriptor->short_name,
                        n, STORE_LABELS_MAX);
    mvm_code c = store_check_strings(m, err);
    if (c)
        return c;
    for (size_t i = 0; i < n; i++) {
        const char *k = l[i]->key ? l[i]->key : "", *v = l[i]->value ? l[i]->value : "";
        if (!label_key_valid(k))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "label key \"%.80s\" is invalid (1-%d bytes of letters, digits, "
                            "'-', '_', '.', '/', starting with a letter or digit)",
                            k, STORE_LABEL_KEY_MAX);
        if (!label_value_valid(v))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "label %.80s: value is invalid (at most %d bytes, no control "
                            "characters, ',', '=' or '!')",
                            k, STORE_LABEL_VALUE_MAX);
    }
    /* Duplicate keys: sort a copy of the entry pointers, compare neighbours. */
    store_label *sorted[STORE_LABELS_MAX];
    if (n)
        memcpy(sorted, l, n * sizeof *l);
    qsort(sorted, n, sizeof *sorted, label_key_cmp);
    for (size_t i = 1; i < n; i++)
        if (label_key_cmp(&sorted[i - 1], &sorted[i]) == 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "label key \"%.80s\" appears twice",
                            sorted[i]->key);
    return MVM_OK;
}

mvm_code store_check_file_path(const char *what, const char *path, mvm_error *err) {
    if (!path || !*path)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is required", what);
    size_t n = strlen(path);
    if (n > STORE_FILE_PATH_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is %zu bytes; at most %d are allowed",
                        what, n, STORE_FILE_PATH_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch < 0x20 || ch == 0x7f)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "%s has a control character (0x%02x) at byte %zu", what, ch, i);
    }
    if (path[0] != '/')
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s \"%.200s\" is not an absolute path (it must start with '/')", what,
                        path);
    if (n > 1 && path[n - 1] == '/')
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s \"%.200s\" ends in '/'", what, path);
    /* Each component between slashes: not empty ("//"), ".", or "..". */
    for (const char *p = path + 1;; ) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "%s \"%.200s\" is not normalised (no empty, \".\" or \"..\" "
                            "components)",
                            what, path);
        if (!p[len])
            break;
        p += len + 1;
    }
    return MVM_OK;
}

/* True if s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const unsigned char *s) {
    while (*s) {
        unsigned c = *s, n, min;
        if (c < 0x80) {
            s++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            n = 1, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 2, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 3, min = 0x10000, c &= 0x07;
        else
            return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        s += n + 1;
    }
    return true;
}

mvm_code store_check_text(const char *what, const char *s, size_t max, mvm_error *err) {
    if (!s || !*s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is required", what);
    size_t n = strlen(s);
    if (n > max)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is %zu bytes; at most %zu are allowed",
                        what, n, max);
    if (!utf8_valid((const unsigned char *)s))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    return MVM_OK;
}

mvm_code store_check_strings(const ProtobufCMessage *m, mvm_error *err) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        size_t n = 1;
        const void *const *vals = (const void *const *)((const char *)m + fd->offset);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            memcpy(&n, (const char *)m + fd->quantifier_offset, sizeof n);
            memcpy(&vals, (const char *)m + fd->offset, sizeof vals);
        }
        for (size_t i = 0; i < n && vals; i++) {
            if (!vals[i])
                continue;
            mvm_code c = MVM_OK;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
                c = store_check_strings(vals[i], err);
            else if (!utf8_valid(vals[i]))
                c = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s.%s is not valid UTF-8",
                             d->short_name, fd->name);
            if (c)
                return c;
        }
    }
    return MVM_OK;
}
