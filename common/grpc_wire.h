/* grpc_wire.h - the pure, I/O-free pieces of the gRPC over HTTP/2 wire format:
 * the length-prefixed message reader and writer, grpc-timeout values, and the
 * percent-encoding of grpc-message. Shared by the server (service/rpc) and
 * the C client (clients/c), so both read and write the wire the same way. */
#ifndef MVM_GRPC_WIRE_H
#define MVM_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"

#define GRPC_MSG_PREFIX 5 /* 1 byte compressed flag + 4 bytes big-endian length */

/* Reassembles length-prefixed messages from DATA payloads split anywhere. */
typedef struct grpc_msg_reader {
    uint8_t prefix[GRPC_MSG_PREFIX];
    size_t prefix_have;
    uint8_t *buf;      /* the message being assembled, when split */
    uint32_t len;      /* its length, from the prefix */
    uint32_t have;     /* bytes of it received */
    uint32_t max_len;  /* longer messages are refused at their prefix */
} grpc_msg_reader;

/* Called once per complete message; data is valid only during the call.
 * Returning non-MVM_OK stops the feed with that code (err filled by cb). */
typedef mvm_code (*grpc_msg_fn)(void *arg, const uint8_t *data, uint32_t len,
                               mvm_error *err);

void grpc_msg_reader_init(grpc_msg_reader *r, uint32_t max_len);
void grpc_msg_reader_free(grpc_msg_reader *r);
/* Feeds n bytes. Fails RESOURCE_EXHAUSTED for a message over max_len (seen at
 * its prefix, before any of it is buffered) and INTERNAL for a compressed
 * message (both sides use only identity encoding). */
mvm_code grpc_msg_reader_feed(grpc_msg_reader *r, const uint8_t *p, size_t n,
                             grpc_msg_fn fn, void *arg, mvm_error *err);
/* True while a message is only partly received (truncated if the stream ends). */
bool grpc_msg_reader_partial(const grpc_msg_reader *r);

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void grpc_msg_prefix(uint8_t out[GRPC_MSG_PREFIX], uint32_t len);

/* Parses a grpc-timeout value ("1-8 digits" + one of H M S m u n) into
 * nanoseconds (saturating). Returns 0, or -1 if malformed. */
int grpc_timeout_parse(const char *s, size_t len, int64_t *out_ns);
/* Formats a timeout in ns as the shortest exact-or-rounded-up grpc-timeout. */
void grpc_timeout_format(int64_t ns, char out[16]);

/* Percent-encodes s for grpc-message: bytes outside 0x20-0x7E, and '%', as
 * %XX. Writes at most cap-1 bytes plus NUL, never splitting an escape;
 * returns the length written. */
size_t grpc_pct_encode(const char *s, char *out, size_t cap);
/* Decodes a grpc-message value; malformed escapes are kept as they are. */
size_t grpc_pct_decode(const char *s, size_t len, char *out, size_t cap);

#endif
