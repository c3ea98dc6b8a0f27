/* fuzz_grpc_wire.c - libFuzzer target for the gRPC wire parsers of
 * common/grpc_wire.c.
 *
 * Input: byte 0-1 the reader's max_len (little endian, so limits from 0 to
 * 65535 are all reached), byte 2 a seed for how the rest is cut into feeds,
 * then the DATA bytes of a request stream.
 *
 * Checked on every input:
 *  - grpc_msg_reader_feed gives the same messages, the same final code and
 *    the same "partial" state whether the bytes come in one feed or cut
 *    into pieces of 1 to 16 bytes, and both agree with a plain
 *    whole-buffer parse written here from the gRPC spec (compressed flag
 *    set -> INTERNAL; length over max_len -> RESOURCE_EXHAUSTED, decided at
 *    the prefix; a callback error stops the feed with that code).
 *  - no message handed to the callback is longer than max_len.
 *  - grpc_timeout_parse accepts exactly 1-8 digits and one unit letter, and
 *    what grpc_timeout_format writes parses back to at least its input.
 *  - grpc_pct_encode writes only printable ASCII, never a split escape, and
 *    grpc_pct_decode of it gives back the encoded prefix of the input.
 * A failed check aborts, which libFuzzer reports as a crash.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_wire.h"

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* What the callback saw: count, FNV-1a hash over (length, bytes) of each
 * message, and the limit each message must respect. */
typedef struct seen {
    uint32_t max_len;
    size_t count;
    uint64_t hash;
} seen;

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void seen_init(seen *s, uint32_t max_len) {
    s->max_len = max_len;
    s->count = 0;
    s->hash = 14695981039346656037ULL;
}

static void seen_add(seen *s, const uint8_t *p, uint32_t len) {
    uint8_t l[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    s->hash = fnv(s->hash, l, 4);
    s->hash = fnv(s->hash, p, len);
    s->count++;
}

/* A message whose first byte is 0xEE makes the callback fail, so the
 * "callback error stops the feed" path is covered too. */
static mvm_code on_msg(void *arg, const uint8_t *data, uint32_t len, mvm_error *err) {
    seen *s = arg;
    CHECK(len <= s->max_len);
    CHECK(len == 0 || data != NULL);
    seen_add(s, data, len);
    if (len > 0 && data[0] == 0xEE)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "callback refused the message");
    return MVM_OK;
}

/* The spec, read plainly, over the whole buffer at once. */
static mvm_code oracle(const uint8_t *p, size_t n, uint32_t max_len, seen *s, int *partial) {
    size_t i = 0;
    *partial = 0;
    while (i < n) {
        if (n - i < GRPC_MSG_PREFIX) {
            *partial = 1;
            return MVM_OK;
        }
        if (p[i] != 0)
            return MVM_INTERNAL;
        uint32_t len = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 |
                       (uint32_t)p[i + 3] << 8 | p[i + 4];
        if (len > max_len)
            return MVM_RESOURCE_EXHAUSTED;
        if (n - i - GRPC_MSG_PREFIX < len) {
            *partial = 1;
            return MVM_OK;
        }
        seen_add(s, p + i + GRPC_MSG_PREFIX, len);
        i += GRPC_MSG_PREFIX + len;
        if (len > 0 && p[i - len] == 0xEE)
            return MVM_INVALID_ARGUMENT;
    }
    return MVM_OK;
}

static void check_reader(const uint8_t *data, size_t size, uint32_t max_len, uint8_t seed) {
    seen want, whole, cut;
    int want_partial;
    seen_init(&want, max_len);
    seen_init(&whole, max_len);
    seen_init(&cut, max_len);
    mvm_code want_rc = oracle(data, size, max_len, &want, &want_partial);

    grpc_msg_reader r;
    mvm_error err = {0};
    grpc_msg_reader_init(&r, max_len);
    mvm_code whole_rc = grpc_msg_reader_feed(&r, data, size, on_msg, &whole, &err);
    bool whole_partial = grpc_msg_reader_partial(&r);
    if (whole_rc != MVM_OK) {
        CHECK(err.code == whole_rc);
        CHECK(err.msg[0] != '\0');
    }
    grpc_msg_reader_free(&r);

    grpc_msg_reader_init(&r, max_len);
    mvm_code cut_rc = MVM_OK;
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size && cut_rc == MVM_OK;) {
        x = x * 1103515245u + 12345u;
        size_t n = 1 + (x >> 16) % 16;
        if (n > size - i)
            n = size - i;
        cut_rc = grpc_msg_reader_feed(&r, data + i, n, on_msg, &cut, &err);
        i += n;
    }
    bool cut_partial = grpc_msg_reader_partial(&r);
    grpc_msg_reader_free(&r);

    CHECK(whole_rc == want_rc);
    CHECK(cut_rc == want_rc);
    CHECK(whole.count == want.count && whole.hash == want.hash);
    CHECK(cut.count == want.count && cut.hash == want.hash);
    if (want_rc == MVM_OK) {
        CHECK(whole_partial == (want_partial != 0));
        CHECK(cut_partial == (want_partial != 0));
    }
}

static void check_timeout(const uint8_t *data, size_t size) {
    char s[16];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    int64_t ns = -1;
    int rc = grpc_timeout_parse(s, n, &ns);
    int valid = n >= 2 && n <= 9 && strchr("HMSmun", s[n - 1]) != NULL && s[n - 1] != '\0';
    for (size_t i = 0; valid && i + 1 < n; i++)
        valid = s[i] >= '0' && s[i] <= '9';
    CHECK((rc == 0) == (valid != 0));
    if (rc == 0) {
        CHECK(ns >= 0);
        char out[16];
        int64_t back = -1;
        grpc_timeout_format(ns, out);
        CHECK(grpc_timeout_parse(out, strlen(out), &back) == 0);
        CHECK(back >= ns);              /* rounded up, never down */
    }
}

static void check_pct(const uint8_t *data, size_t size) {
    char in[256], enc[128], dec[256];
    size_t n = size < sizeof in - 1 ? size : sizeof in - 1;
    memcpy(in, data, n);
    in[n] = '\0';                       /* C string: stops at the first NUL */
    size_t cap = 1 + (n ? (uint8_t)in[0] % sizeof enc : 0);
    if (cap > sizeof enc)
        cap = sizeof enc;
    size_t e = grpc_pct_encode(in, enc, cap);
    CHECK(e < cap && enc[e] == '\0' && strlen(enc) == e);
    for (size_t i = 0; i < e; i++) {
        unsigned char c = (unsigned char)enc[i];
        CHECK(c >= 0x20 && c <= 0x7e);
        if (c == '%') {
            CHECK(i + 2 < e);           /* never a split escape */
            CHECK(isxdigit((unsigned char)enc[i + 1]) && isxdigit((unsigned char)enc[i + 2]));
            i += 2;
        }
    }
    size_t d = grpc_pct_decode(enc, e, dec, sizeof dec);
    CHECK(d <= strlen(in));
    CHECK(memcmp(dec, in, d) == 0);
    if (cap > 3 * strlen(in))           /* room for everything: nothing cut */
        CHECK(d == strlen(in));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3)
        return 0;
    uint32_t max_len = (uint32_t)data[0] | (uint32_t)data[1] << 8;
    check_reader(data + 3, size - 3, max_len, data[2]);
    check_timeout(data + 3, size - 3);
    check_pct(data + 3, size - 3);
    return 0;
}
