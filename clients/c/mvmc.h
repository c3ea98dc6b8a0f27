/* mvmc.h - the mvm C client library: gRPC over HTTP/2, the whole public face.
 *
 * One mvmc_client is one HTTP/2 connection to mvmd, made by mvmc_connect()
 * from an endpoint string:
 *
 *     "unix:/run/mvm/mvmd.sock"   HTTP/2 with prior knowledge on a Unix socket
 *                                 (also "unix:///run/..." and relative paths)
 *     "host:port", "[::1]:port"   TLS 1.2+ (1.3 preferred), ALPN "h2", server
 *                                 certificate checked against opts.ca_file and
 *                                 the host name or IP; client certificate sent
 *     "host:port" + opts.insecure HTTP/2 with prior knowledge, no TLS
 *
 * Calls are blocking and go one after another on that connection. They are
 * generic on the protobuf-c descriptors, so every generated service works:
 *
 *     Mvm__V1__Tenant *t = NULL;
 *     mvm_code rc = mvmc_unary(c, &mvm__v1__tenant_service__descriptor,
 *                              1, &req.base, (ProtobufCMessage **)&t,
 *                              5000, &err);
 *     ...  protobuf_c_message_free_unpacked(&t->base, NULL);
 *
 * Every function returns an mvm_code, which is the gRPC status code, and
 * fills err with the server's (percent-decoded) grpc-message, or with what
 * went wrong locally: UNAVAILABLE when the server cannot be reached (also
 * when connecting or the TLS handshake outlasts connect_timeout_ms) or the
 * connection breaks, DEADLINE_EXCEEDED when a call's deadline passes,
 * INVALID_ARGUMENT for bad options (a bad endpoint; a certificate, key or CA
 * file that is missing, unreadable or not PEM, named in the message).
 */
#ifndef MVMC_H
#define MVMC_H

#include <protobuf-c/protobuf-c.h>

#include "mvm_error.h"

typedef struct mvmc_client mvmc_client;
typedef struct mvmc_stream mvmc_stream;

typedef struct mvmc_options {
    const char *endpoint;    /* see above; required */
    const char *ca_file;     /* PEM CA bundle that signed the server (TLS) */
    const char *cert_file;   /* PEM client certificate (TLS, optional) */
    const char *key_file;    /* PEM client key (TLS, with cert_file) */
    const char *server_name; /* name to verify instead of the host; optional */
    int insecure;            /* host:port without TLS (h2c prior knowledge) */
    int connect_timeout_ms;  /* 0: 10 seconds; covers the TLS handshake */
} mvmc_options;

/* Connects (TCP or Unix, then TLS if needed) and sends the HTTP/2 preface. */
mvm_code mvmc_connect(const mvmc_options *opts, mvmc_client **out,
                      mvm_error *err);
/* Sends GOAWAY and closes the connection. NULL is fine. */
void mvmc_close(mvmc_client *c);

/* A unary call: method_index indexes svc->methods. On MVM_OK *resp holds the
 * unpacked reply (free it with protobuf_c_message_free_unpacked). timeout_ms
 * <= 0 means no deadline. */
mvm_code mvmc_unary(mvmc_client *c, const ProtobufCServiceDescriptor *svc,
                    unsigned method_index, const ProtobufCMessage *req,
                    ProtobufCMessage **resp, int timeout_ms, mvm_error *err);

/* A server-streaming call. mvmc_stream_next() blocks for the next message:
 * MVM_OK with *msg set, MVM_OK with *msg == NULL when the server ended the
 * stream with OK, or the stream's error status. mvmc_stream_close() cancels
 * the call if it is still running (RST_STREAM CANCEL) and frees it; the
 * connection stays usable for the next call. */
mvm_code mvmc_stream_open(mvmc_client *c, const ProtobufCServiceDescriptor *svc,
                          unsigned method_index, const ProtobufCMessage *req,
                          int timeout_ms, mvmc_stream **out, mvm_error *err);
mvm_code mvmc_stream_next(mvmc_stream *s, ProtobufCMessage **msg,
                          mvm_error *err);
void mvmc_stream_close(mvmc_stream *s);

/* Index of the method called name in svc, or -1. */
int mvmc_method_index(const ProtobufCServiceDescriptor *svc, const char *name);

/* ---- helpers of the wire protocol, exposed for tests ---- */

/* The gRPC code for an HTTP status of a response with no grpc-status. */
mvm_code mvmc_http_status_code(int http_status);

#endif
