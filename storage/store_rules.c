/* store_rules.c - the syntactic rules of the API: DNS-label names, tenant
 * subnets (a canonical /24 inside 10.240.0.0/12) and label keys/values. */
#include "store_internal.h"

#include <string.h>

#define STORE_LABEL_KEY_MAX 253
#define STORE_LABEL_VALUE_MAX 253

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

mvm_code store_check_subnet(const char *s, uint8_t net[2], mvm_error *err) {
    if (!s || !*s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "subnet is required");
    const char *p = s;
    unsigned o[4], len = 0;
    for (int i = 0; i < 4; i++) {
        if (!parse_octet(&p, &o[i]) || *p != (i < 3 ? '.' : '/'))
            goto bad;
        p++;
    }
    if (!parse_octet(&p, &len) || *p != '\0')
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

mvm_code store_check_labels(const ProtobufCMessage *m, mvm_error *err) {
    size_t n;
    store_label **l = store_labels_of(m, &n);
    for (size_t i = 0; i < n; i++) {
        const char *k = l[i]->key ? l[i]->key : "", *v = l[i]->value ? l[i]->value : "";
        if (!label_key_valid(k))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "label key \"%.80s\" is invalid (letters, digits, '-', '_', '.', "
                            "'/', starting alphanumeric, at most %d)",
                            k, STORE_LABEL_KEY_MAX);
        if (!label_value_valid(v))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "label %s: value is invalid (no control characters, ',', '=' or "
                            "'!', at most %d)",
                            k, STORE_LABEL_VALUE_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(l[j]->key ? l[j]->key : "", k) == 0)
                return mvm_fail(err, MVM_INVALID_ARGUMENT, "label key \"%s\" appears twice", k);
    }
    return MVM_OK;
}
