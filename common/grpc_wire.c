/* grpc_wire.c - gRPC message framing, grpc-timeout and grpc-message encoding
 * (see grpc_wire.h). No I/O, no allocation except a split message's buffer. */
#include "grpc_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void grpc_msg_reader_init(grpc_msg_reader *r, uint32_t max_len) {
    memset(r, 0, sizeof *r);
    r->max_len = max_len;
}

void grpc_msg_reader_free(grpc_msg_reader *r) {
    free(r->buf);
    r->buf = NULL;
}

bool grpc_msg_reader_partial(const grpc_msg_reader *r) {
    return r->prefix_have > 0;
}

static mvm_code reader_start(grpc_msg_reader *r, mvm_error *err) {
    if (r->prefix[0] != 0)
        return mvm_fail(err, MVM_INTERNAL,
                        "compressed-flag %u on a message, but no grpc-encoding is "
                        "in use (only identity is accepted)", r->prefix[0]);
    r->len = (uint32_t)r->prefix[1] << 24 | (uint32_t)r->prefix[2] << 16 |
             (uint32_t)r->prefix[3] << 8 | r->prefix[4];
    if (r->len > r->max_len)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "message of %u bytes is larger than the limit of %u bytes",
                        r->len, r->max_len);
    r->have = 0;
    return MVM_OK;
}

mvm_code grpc_msg_reader_feed(grpc_msg_reader *r, const uint8_t *p, size_t n,
                             grpc_msg_fn fn, void *arg, mvm_error *err) {
    while (n > 0) {
        if (r->prefix_have < GRPC_MSG_PREFIX) {
            size_t take = GRPC_MSG_PREFIX - r->prefix_have;
            if (take > n)
                take = n;
            memcpy(r->prefix + r->prefix_have, p, take);
            r->prefix_have += take;
            p += take;
            n -= take;
            if (r->prefix_have < GRPC_MSG_PREFIX)
                return MVM_OK;
            mvm_code rc = reader_start(r, err);
            if (rc != MVM_OK)
                return rc;
            if (r->len <= n) { /* whole message in this chunk: no copy */
                rc = fn(arg, p, r->len, err);
                p += r->len;
                n -= r->len;
                r->prefix_have = 0;
                if (rc != MVM_OK)
                    return rc;
                continue;
            }
            r->buf = malloc(r->len ? r->len : 1);
            if (!r->buf)
                return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory for a %u-byte message", r->len);
        }
        size_t take = r->len - r->have;
        if (take > n)
            take = n;
        memcpy(r->buf + r->have, p, take);
        r->have += (uint32_t)take;
        p += take;
        n -= take;
        if (r->have == r->len) {
            mvm_code rc = fn(arg, r->buf, r->len, err);
            free(r->buf);
            r->buf = NULL;
            r->prefix_have = 0;
            if (rc != MVM_OK)
                return rc;
        }
    }
    return MVM_OK;
}

void grpc_msg_prefix(uint8_t out[GRPC_MSG_PREFIX], uint32_t len) {
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int grpc_timeout_parse(const char *s, size_t len, int64_t *out_ns) {
    if (len < 2 || len > 9)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    int64_t unit;
    switch (s[len - 1]) {
    case 'H': unit = 3600LL * 1000000000LL; break;
    case 'M': unit = 60LL * 1000000000LL; break;
    case 'S': unit = 1000000000LL; break;
    case 'm': unit = 1000000LL; break;
    case 'u': unit = 1000LL; break;
    case 'n': unit = 1LL; break;
    default: return -1;
    }
    *out_ns = v > INT64_MAX / unit ? INT64_MAX : v * unit;
    return 0;
}

void grpc_timeout_format(int64_t ns, char out[16]) {
    static const struct { char unit; int64_t ns; } units[] = {
        {'n', 1}, {'u', 1000}, {'m', 1000000}, {'S', 1000000000LL},
        {'M', 60000000000LL}, {'H', 3600000000000LL},
    };
    if (ns < 0)
        ns = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        int64_t v = ns / units[i].ns + (ns % units[i].ns != 0); /* round up */
        if (v <= 99999999) {
            snprintf(out, 16, "%d%c", (int)v, units[i].unit);
            return;
        }
    }
    snprintf(out, 16, "99999999H");
}

size_t grpc_pct_encode(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = *p >= 0x20 && *p <= 0x7e && *p != '%';
        size_t need = plain ? 1 : 3;
        if (o + need >= cap)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t grpc_pct_decode(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}
