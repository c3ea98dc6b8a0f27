/* rpc.h - the gRPC server: the whole public face of service/rpc/.
 *
 * The transport knows nothing of mvm. It serves services described by
 * protobuf-c service descriptors over HTTP/2 (nghttp2), on TLS with client
 * certificates (OpenSSL), on a Unix socket, or on plaintext loopback.
 *
 * Handlers have exactly the signature protobuf-c generates for a service
 * method, and a service is registered by its generated ProtobufCService:
 *
 *     static void tenant_get_tenant(Mvm__V1__TenantService_Service *svc,
 *                                   const Mvm__V1__GetTenantRequest *req,
 *                                   Mvm__V1__Tenant_Closure done,
 *                                   void *call)
 *     {
 *         ... on failure:  rpc_fail(call, &err); return;
 *         ... on success:  done(&tenant, call);
 *     }
 *     static Mvm__V1__TenantService_Service tenant_service =
 *         MVM__V1__TENANT_SERVICE__INIT(tenant_);
 *     rpc_server_add_service(srv, &tenant_service.base, NULL);
 *
 * Adding an RPC to a .proto is therefore writing its handler, nothing else:
 * the method's path, request type, reply type and streaming kind all come
 * from the descriptors (the streaming kind from the embedded descriptor set).
 *
 * Rules for handlers
 *  - Finish every call exactly once: done(reply, call) for a unary method,
 *    or rpc_fail(). For a server-streaming method, done(msg, call) sends one
 *    message and the call stays open until rpc_finish() or rpc_fail().
 *    For a bidirectional method the handler runs once per request message;
 *    done(msg, call) answers it; the call ends OK when the client half-closes.
 *  - The request (input) is freed when the handler returns: copy what a
 *    streaming handler keeps. A reply is packed inside done(), so the
 *    handler may free it as soon as done() returns.
 *  - done(), rpc_send(), rpc_finish() and rpc_fail() may be called from any
 *    thread; a handler that keeps a call beyond its own return must hold a
 *    reference (rpc_call_ref / rpc_call_unref).
 *  - Where a handler runs: methods whose names begin with Get, List, Watch
 *    or Check only read, by the API's convention, and run inline on the
 *    connection's I/O thread; every other method runs on the worker pool,
 *    where it may block (disk fsync, Firecracker, netlink).
 */
#ifndef MVM_RPC_H
#define MVM_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

/* ---- for handlers ---- */

/* Ends the call with err's code and message (Trailers-Only if nothing was
 * sent yet). err->code must not be MVM_OK. */
void rpc_fail(rpc_call *call, const mvm_error *err);
/* Same, formatting the message here. */
void rpc_failf(rpc_call *call, mvm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Streaming: sends one message. Returns MVM_OK, or MVM_CANCELLED if the call
 * has already ended (client went away, deadline passed): stop sending then. */
mvm_code rpc_send(rpc_call *call, const ProtobufCMessage *msg);
/* Streaming: ends the call, OK when err is NULL. */
void rpc_finish(rpc_call *call, const mvm_error *err);

/* True once the client cancelled, the deadline passed or the server is
 * shutting the call down; long-running handlers should check it. */
bool rpc_call_cancelled(const rpc_call *call);
/* Registers fn(arg) to run once when the call ends for any reason other than
 * the handler finishing it (cancel, deadline, connection loss, shutdown). It
 * runs on the call's I/O thread; it must not block. One per call. */
void rpc_call_on_cancel(rpc_call *call, void (*fn)(void *arg), void *arg);
void rpc_call_ref(rpc_call *call);
void rpc_call_unref(rpc_call *call);

/* Who is calling: "cn=<subject CN>" for an mTLS peer, "uid=<n>" for a Unix
 * socket peer, "insecure:<addr>" for plaintext TCP. Valid for the call. */
const char *rpc_call_peer(const rpc_call *call);
/* The full method path, "/mvm.v1.TenantService/GetTenant". */
const char *rpc_call_method(const rpc_call *call);
/* The service's user data, as given to rpc_server_add_service(). */
void *rpc_call_service_data(const rpc_call *call);

/* ---- for main ---- */

typedef struct rpc_config {
    const char *listen;        /* "HOST:PORT" for TLS (or plaintext with insecure) */
    const char *unix_socket;   /* path, or NULL */
    const char *tls_cert;      /* server certificate chain (PEM) */
    const char *tls_key;       /* its private key (PEM) */
    const char *client_ca;     /* CA bundle client certificates must chain to */
    bool insecure;             /* plaintext TCP; refused unless listen is loopback */
    const char *metrics_listen;/* "HOST:PORT" for Prometheus text, or NULL */
    int io_threads;            /* 0: one per online CPU */
    int worker_threads;        /* 0: 2 per online CPU, at least 4 */
    uint32_t max_message_bytes;/* 0: 4 MiB */
    int drain_seconds;         /* SIGTERM grace before calls are cut; 0: 30 */
    const char *ready_file;    /* written once listening: "tls|insecure HOST:PORT",
                                  "unix PATH", "metrics HOST:PORT" lines; or NULL */
    /* Serialized FileDescriptorSet of every served .proto, with imports
     * (protoc --include_imports): streaming kinds and reflection come from it. */
    const uint8_t *descriptor_set;
    size_t descriptor_set_len;
} rpc_config;

mvm_code rpc_server_new(const rpc_config *cfg, rpc_server **out, mvm_error *err);
/* Registers a service; its calls get user_data from rpc_call_service_data. */
mvm_code rpc_server_add_service(rpc_server *srv, ProtobufCService *service,
                                void *user_data, mvm_error *err);

/* Extra lines appended to the metrics page on every scrape (e.g. instances
 * by state). fn writes Prometheus text with the given printf-like sink. */
typedef void (*rpc_metrics_fn)(void *arg, void (*emit)(void *sink, const char *fmt, ...),
                               void *sink);
void rpc_server_add_metrics(rpc_server *srv, rpc_metrics_fn fn, void *arg);

/* Registers fn(arg) to run when draining starts (before calls are cut), e.g.
 * to mark health NOT_SERVING. */
void rpc_server_on_drain(rpc_server *srv, void (*fn)(void *arg), void *arg);

/* Binds the listeners and serves until rpc_server_shutdown(); then drains:
 * GOAWAY to every connection, in-flight unary calls finish, streams end
 * UNAVAILABLE, and returns. */
mvm_code rpc_server_run(rpc_server *srv, mvm_error *err);
/* Async-signal-safe: asks a running server to drain and stop. */
void rpc_server_shutdown(rpc_server *srv);
void rpc_server_free(rpc_server *srv);

#endif
