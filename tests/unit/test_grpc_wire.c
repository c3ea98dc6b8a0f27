/* test_grpc_wire.c - unit tests of the gRPC wire pieces: message framing split
 * at every byte, size limit at the prefix, compressed flag, truncation,
 * grpc-timeout parsing/formatting, grpc-message percent-encoding. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grpc_wire.h"

typedef struct got {
    int count;
    uint32_t lens[8];
    uint8_t first[8];
} got;

static mvm_code collect(void *arg, const uint8_t *data, uint32_t len, mvm_error *err) {
    got *g = arg;
    if (g->count < 8) {
        g->lens[g->count] = len;
        g->first[g->count] = len ? data[0] : 0;
    }
    g->count++;
    return MVM_OK;
}

/* Builds three messages of lengths 3, 0 and 300 back to back. */
static size_t build_stream(uint8_t *out) {
    size_t n = 0;
    uint32_t lens[3] = {3, 0, 300};
    for (int m = 0; m < 3; m++) {
        grpc_msg_prefix(out + n, lens[m]);
        n += GRPC_MSG_PREFIX;
        for (uint32_t i = 0; i < lens[m]; i++)
            out[n++] = (uint8_t)(m + 1);
    }
    return n;
}

static void test_split_everywhere(void) {
    uint8_t stream[400];
    size_t n = build_stream(stream);
    int bad = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        grpc_msg_reader r;
        got g = {0};
        mvm_error err;
        grpc_msg_reader_init(&r, 4u << 20);
        if (grpc_msg_reader_feed(&r, stream, cut, collect, &g, &err) != MVM_OK ||
            grpc_msg_reader_feed(&r, stream + cut, n - cut, collect, &g, &err) != MVM_OK ||
            g.count != 3 || g.lens[0] != 3 || g.lens[1] != 0 || g.lens[2] != 300 ||
            g.first[0] != 1 || g.first[2] != 3 || grpc_msg_reader_partial(&r))
            bad++;
        grpc_msg_reader_free(&r);
    }
    CHECK_EQ_INT(bad, 0);

    /* byte by byte */
    grpc_msg_reader r;
    got g = {0};
    mvm_error err;
    grpc_msg_reader_init(&r, 4u << 20);
    for (size_t i = 0; i < n; i++)
        CHECK(grpc_msg_reader_feed(&r, stream + i, 1, collect, &g, &err) == MVM_OK || (i = n));
    CHECK_EQ_INT(g.count, 3);
    CHECK_EQ_INT(g.lens[2], 300);
    grpc_msg_reader_free(&r);
}

static void test_limits(void) {
    grpc_msg_reader r;
    got g = {0};
    mvm_error err;
    uint8_t prefix[GRPC_MSG_PREFIX];

    grpc_msg_reader_init(&r, 4u << 20);
    grpc_msg_prefix(prefix, (4u << 20) + 1);
    CHECK_EQ_INT(grpc_msg_reader_feed(&r, prefix, sizeof prefix, collect, &g, &err),
                 MVM_RESOURCE_EXHAUSTED);
    CHECK(strstr(err.msg, "4194305") != NULL);
    CHECK_EQ_INT(g.count, 0);
    grpc_msg_reader_free(&r);

    grpc_msg_reader_init(&r, 4u << 20);
    grpc_msg_prefix(prefix, 4u << 20); /* exactly the limit is allowed */
    CHECK_EQ_INT(grpc_msg_reader_feed(&r, prefix, sizeof prefix, collect, &g, &err), MVM_OK);
    CHECK(grpc_msg_reader_partial(&r));
    grpc_msg_reader_free(&r);

    grpc_msg_reader_init(&r, 100);
    uint8_t compressed[] = {1, 0, 0, 0, 1, 0x55};
    CHECK_EQ_INT(grpc_msg_reader_feed(&r, compressed, sizeof compressed, collect, &g, &err),
                 MVM_INTERNAL);
    grpc_msg_reader_free(&r);

    grpc_msg_reader_init(&r, 100);
    uint8_t truncated[] = {0, 0, 0, 0, 9, 1, 2};
    CHECK_EQ_INT(grpc_msg_reader_feed(&r, truncated, sizeof truncated, collect, &g, &err), MVM_OK);
    CHECK(grpc_msg_reader_partial(&r));
    CHECK_EQ_INT(g.count, 0);
    grpc_msg_reader_free(&r);
}

static void test_timeout(void) {
    int64_t ns = 0;
    CHECK_EQ_INT(grpc_timeout_parse("100m", 4, &ns), 0);
    CHECK_EQ_INT(ns, 100000000LL);
    CHECK_EQ_INT(grpc_timeout_parse("1H", 2, &ns), 0);
    CHECK_EQ_INT(ns, 3600000000000LL);
    CHECK_EQ_INT(grpc_timeout_parse("99999999S", 9, &ns), 0);
    CHECK_EQ_INT(ns, 99999999000000000LL);
    CHECK_EQ_INT(grpc_timeout_parse("5n", 2, &ns), 0);
    CHECK_EQ_INT(ns, 5);
    CHECK_EQ_INT(grpc_timeout_parse("123456789S", 10, &ns), -1); /* 9 digits */
    CHECK_EQ_INT(grpc_timeout_parse("10x", 3, &ns), -1);
    CHECK_EQ_INT(grpc_timeout_parse("S", 1, &ns), -1);
    CHECK_EQ_INT(grpc_timeout_parse("-1S", 3, &ns), -1);
    CHECK_EQ_INT(grpc_timeout_parse("1 S", 3, &ns), -1);
    char out[16];
    grpc_timeout_format(1500000, out); /* 1.5 ms */
    CHECK_EQ_STR(out, "1500000n");
    grpc_timeout_format(200000000000LL, out); /* 200 s: too many digits as ns */
    CHECK_EQ_STR(out, "200000m");
    int64_t back;
    grpc_timeout_format(123456789012LL, out);
    CHECK_EQ_INT(grpc_timeout_parse(out, strlen(out), &back), 0);
    CHECK(back >= 123456789012LL);
}

static void test_percent(void) {
    char enc[256], dec[256];
    const char *msg = "tenant \"b\xc3\xa9ta\" is 100% taken\n";
    grpc_pct_encode(msg, enc, sizeof enc);
    CHECK_EQ_STR(enc, "tenant \"b%C3%A9ta\" is 100%25 taken%0A");
    grpc_pct_decode(enc, strlen(enc), dec, sizeof dec);
    CHECK_EQ_STR(dec, msg);
    grpc_pct_decode("50%zz%4", 7, dec, sizeof dec); /* malformed escapes kept */
    CHECK_EQ_STR(dec, "50%zz%4");
    char small[6];
    grpc_pct_encode("ab\xff\xff", small, sizeof small); /* never splits an escape */
    CHECK_EQ_STR(small, "ab%FF");
}

int main(void) {
    test_split_everywhere();
    test_limits();
    test_timeout();
    test_percent();
    return check_done();
}
