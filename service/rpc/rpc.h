/* rpc.h - the gRPC server: the whole public face of service/rpc/.
 *
 * The transport knows nothing of mvm. It serves services described by
 * protobuf-c service descriptors over HTTP/2 (nghttp2), on TLS with client
 * certificates (OpenSSL), on a Unix socket, or on plaintext loopback.
 *
 * Handlers have exactly the signature protobuf-c generates for a service
 * method, and a service is registered by its generated ProtobufCService
 * together with a table that declares how each of its methods runs:
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
 *     static const rpc_method_rule tenant_rules[] = {
 *         {"GetTenant", RPC_EXEC_INLINE},
 *         {"CreateTenant", RPC_EXEC_WORKER}, ...
 *     };
 *     rpc_server_add_service(srv, &tenant_service.base, tenant_rules,
 *                            RPC_RULES(tenant_rules), NULL, &err);
 *
 * The method's path, request type, reply type and streaming kind come from
 * the descriptors (the streaming kind from the embedded descriptor set);
 * where it runs comes from its rule, never from its name.
 *
 * Threads
 *  - I/O threads: one epoll loop each (rpc_config.io_threads). A connection,
 *    its HTTP/2 session and its calls belong to the loop that accepted it.
 *  - Workers (rpc_config.worker_threads) run handlers declared
 *    RPC_EXEC_WORKER; they may block.
 *  - The thread that calls rpc_server_run() (main) waits in it.
 *
 * Callbacks and when they run
 *  - A handler runs once per call (once per request message for a
 *    bidirectional method): inline on the call's I/O thread
 *    (RPC_EXEC_INLINE: must not block) or on a worker (RPC_EXEC_WORKER).
 *  - An end hook (rpc_call_on_end) runs on the call's I/O thread at the end
 *    of a loop turn, never inside any rpc_* function and never while a
 *    handler of that call is still running: a cancellation found inside
 *    rpc_send() (its queue overflowed) or during a handler only marks the
 *    call; the hook runs later, after the handler has returned. So a handler
 *    may keep using the state its hook frees until it returns.
 *  - No function in this header runs any callback of the caller's inside
 *    itself; in particular rpc_send(), done(), rpc_finish() and rpc_fail()
 *    never do. They may be called while holding a lock that a hook takes.
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
 *  - A handler that keeps a call beyond its own return holds a reference
 *    (rpc_call_ref / rpc_call_unref) and registers an end hook
 *    (rpc_call_on_end) to release what it keeps.
 *
 * Limits (rpc_config; every one has a default)
 *  - A request message over max_message_bytes ends its call
 *    RESOURCE_EXHAUSTED at its length prefix.
 *  - Unsent replies: a message that would take a stream's queue over
 *    max_stream_queue_bytes or its connection's over max_conn_queue_bytes
 *    (unless nothing is queued ahead of it) ends that call
 *    RESOURCE_EXHAUSTED; what was queued and unsent is dropped.
 *  - Partly received request messages: when a connection holds more than
 *    max_conn_input_bytes, the stream whose data took it over ends
 *    RESOURCE_EXHAUSTED and its buffer is freed.
 *  - max_total_buffered_bytes bounds all of the above over the server: past
 *    it, a stream of a connection holding more than its fair share
 *    (total / connections) ends RESOURCE_EXHAUSTED; connections below their
 *    share (clients that read their replies) are not affected.
 *  - A request message that has not arrived in full request_timeout_ms after
 *    it started (for unary and server-streaming calls: after the request
 *    headers, until END_STREAM) ends the call DEADLINE_EXCEEDED.
 *  - At most max_streams_per_conn concurrent streams per connection
 *    (SETTINGS_MAX_CONCURRENT_STREAMS; more are refused by HTTP/2).
 *  - At most max_handshakes TLS handshakes in progress (shared out over the
 *    I/O threads): accepting one more closes the oldest still handshaking.
 *    A handshake not done within handshake_timeout_ms is closed.
 *  - At most max_tcp_connections TCP connections; at the cap the TCP
 *    listener is paused (connections wait in the kernel backlog) until one
 *    closes. The default leaves an eighth of RLIMIT_NOFILE (at least 32
 *    descriptors) to the Unix socket and the process, so local operators
 *    get in while TCP is saturated.
 *  - When accept() fails for lack of descriptors or memory (EMFILE, ENFILE,
 *    ENOBUFS, ENOMEM), that listener is paused on that I/O thread for
 *    100 ms, or until one of its connections closes, instead of spinning.
 */
#ifndef MVM_RPC_H
#define MVM_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

/* ---- for handlers ----
 * Unless said otherwise: any thread; `call` is one the caller holds (the
 * handler's own, or one it keeps a reference to). */

/* Ends the call with err's code and message (Trailers-Only if nothing was
 * sent yet); later finishes are ignored. err->code MVM_OK is turned into
 * INTERNAL. Runs no callback. Cannot fail: the memory to finish a call is
 * set aside when the call starts. */
void rpc_fail(rpc_call *call, const mvm_error *err);
/* Same, formatting the message here. */
void rpc_failf(rpc_call *call, mvm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Streaming: queues one message. Runs no callback.
 * Returns MVM_OK (queued; it may still be dropped if the call ends before
 * it is written), MVM_CANCELLED if the call has ended (client gone,
 * deadline, queue limit, shutdown, or already finished): stop sending, or
 * MVM_RESOURCE_EXHAUSTED if out of memory (nothing was queued; the call is
 * still open, and should be failed). */
mvm_code rpc_send(rpc_call *call, const ProtobufCMessage *msg);
/* Streaming: ends the call, OK when err is NULL. Runs no callback; later
 * finishes are ignored. Cannot fail (see rpc_fail). */
void rpc_finish(rpc_call *call, const mvm_error *err);

/* True once the client cancelled, the deadline passed, a limit cut the call
 * or the server is shutting it down; long-running handlers should check it. */
bool rpc_call_cancelled(const rpc_call *call);
/* Registers fn(arg) to run once when the call is over, whatever ended it:
 * its handler finished it and the reply went out, the client reset it or
 * went away, its deadline passed, a limit cut it, or the server shut it
 * down. fn NULL clears it. Call only from the call's handler, while it
 * runs. fn runs on the call's I/O thread, at the end of a loop turn, after
 * every running handler of the call has returned (see "Callbacks"), or, for
 * calls cut when the server stops, on the thread in rpc_server_run(). fn
 * must not block; it may call any function of this header. One per call. */
void rpc_call_on_end(rpc_call *call, void (*fn)(void *arg), void *arg);
/* Reference counting; the last unref frees the call. Any thread. */
void rpc_call_ref(rpc_call *call);
void rpc_call_unref(rpc_call *call);

/* Who is calling: "cn=<subject CN>" for an mTLS peer, "uid=<n>" for a Unix
 * socket peer, "insecure:<addr>" for plaintext TCP. Valid for the call. */
const char *rpc_call_peer(const rpc_call *call);
/* The full method path, "/mvm.v1.TenantService/GetTenant". */
const char *rpc_call_method(const rpc_call *call);
/* The service's user data, as given to rpc_server_add_service(). */
void *rpc_call_service_data(const rpc_call *call);

/* ---- open streams kept by handlers (watchers) ----
 * A set of calls that outlive their handler, e.g. Watch streams to notify.
 * Embed an rpc_watcher in the per-stream state; membership holds a call
 * reference. All functions take the set's own lock: any thread. */
typedef struct rpc_watcher {
    struct rpc_watcher *prev, *next;
    rpc_call *call; /* a reference while a member */
    bool member;
} rpc_watcher;

typedef struct rpc_watchers {
    pthread_mutex_t mu;
    rpc_watcher *head;
    unsigned count;
} rpc_watchers;

void rpc_watchers_init(rpc_watchers *ws);
/* The set must be empty (or its members' memory otherwise accounted for). */
void rpc_watchers_destroy(rpc_watchers *ws);
/* Makes w a member for call, taking a call reference. */
void rpc_watchers_add(rpc_watchers *ws, rpc_watcher *w, rpc_call *call);
/* Removes w if it is a member and drops its reference; returns whether it
 * was one (false: someone else removed it first). */
bool rpc_watchers_remove(rpc_watchers *ws, rpc_watcher *w);
/* Calls fn(w, arg) for each member under the set's lock; fn returning true
 * removes w (dropping its reference). fn must not call rpc_watchers_*
 * on ws; it may call rpc_send() (which runs no callback). */
void rpc_watchers_each(rpc_watchers *ws, bool (*fn)(rpc_watcher *w, void *arg), void *arg);
unsigned rpc_watchers_count(rpc_watchers *ws);

/* ---- for main ---- */

/* Where a method's handler runs. */
typedef enum rpc_exec {
    RPC_EXEC_INLINE = 1, /* on the connection's I/O thread: must never block
                            (LMDB reads, in-memory work) */
    RPC_EXEC_WORKER,     /* on the worker pool: may block (fsync, VMM, netlink) */
} rpc_exec;

/* One entry of a service's method table: the method's name as in the
 * .proto ("GetTenant") and how it runs. A struct so that later rules (e.g.
 * who may call it) join it here. */
typedef struct rpc_method_rule {
    const char *method;
    rpc_exec exec;
} rpc_method_rule;

#define RPC_RULES(table) (sizeof(table) / sizeof((table)[0]))

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
    int drain_seconds;         /* SIGTERM grace before calls are cut; 0: 30 */
    const char *ready_file;    /* written once listening: "tls|insecure HOST:PORT",
                                  "unix PATH", "metrics HOST:PORT" lines; or NULL */
    /* Called once, on the thread in rpc_server_run(), when every listener is
     * bound, the I/O threads run and the ready file is written; or NULL. */
    void (*on_ready)(void *arg);
    void *on_ready_arg;
    /* Serialized FileDescriptorSet of every served .proto, with imports
     * (protoc --include_imports): streaming kinds and reflection come from it. */
    const uint8_t *descriptor_set;
    size_t descriptor_set_len;

    /* Limits (see "Limits" above); 0 selects the default in brackets. */
    uint32_t max_message_bytes;      /* one request message [4 MiB] */
    uint32_t max_streams_per_conn;   /* concurrent streams [1000] */
    size_t max_stream_queue_bytes;   /* unsent replies, one stream [16 MiB] */
    size_t max_conn_queue_bytes;     /* unsent replies, one connection [32 MiB] */
    size_t max_conn_input_bytes;     /* partial requests, one connection [32 MiB] */
    size_t max_total_buffered_bytes; /* all buffers, all connections [256 MiB] */
    int request_timeout_ms;          /* a request message in full [30000] */
    int handshake_timeout_ms;        /* a TLS handshake [10000] */
    int max_handshakes;              /* TLS handshakes in progress [128] */
    int max_tcp_connections;         /* [RLIMIT_NOFILE - max(32, RLIMIT_NOFILE/8)] */
} rpc_config;

/* Main thread, once. Copies cfg (its strings must outlive the server), fills
 * in defaults, loads the descriptor set and the TLS files, and registers
 * grpc.health.v1 and server reflection. On failure *out may still be set and
 * must be freed. Errors: INVALID_ARGUMENT (nothing to listen on, bad TLS
 * files, a limit out of range), INTERNAL (descriptor set does not parse),
 * RESOURCE_EXHAUSTED (out of memory). Runs no callback. */
mvm_code rpc_server_new(const rpc_config *cfg, rpc_server **out, mvm_error *err);
/* Main thread, before rpc_server_run. Registers a service; its calls get
 * user_data from rpc_call_service_data. rules[0..nrules) must name every
 * method of the service exactly once and nothing else. Errors:
 * FAILED_PRECONDITION (a method without a rule, a rule naming no method or
 * named twice, a bidirectional method not declared inline, a method missing
 * from the descriptor set), ALREADY_EXISTS (method registered twice),
 * UNIMPLEMENTED (client-streaming method), RESOURCE_EXHAUSTED. */
mvm_code rpc_server_add_service(rpc_server *srv, ProtobufCService *service,
                                const rpc_method_rule *rules, size_t nrules,
                                void *user_data, mvm_error *err);

/* Extra lines appended to the metrics page on every scrape (e.g. instances
 * by state). fn runs on the metrics thread and writes Prometheus text with
 * the given printf-like sink. Main thread, before rpc_server_run. Errors:
 * RESOURCE_EXHAUSTED. */
typedef void (*rpc_metrics_fn)(void *arg, void (*emit)(void *sink, const char *fmt, ...),
                               void *sink);
mvm_code rpc_server_add_metrics(rpc_server *srv, rpc_metrics_fn fn, void *arg, mvm_error *err);

/* Registers fn(arg) to run on the thread in rpc_server_run when draining
 * starts (before calls are cut), e.g. to mark health NOT_SERVING. Main
 * thread, before rpc_server_run. Errors: RESOURCE_EXHAUSTED. */
mvm_code rpc_server_on_drain(rpc_server *srv, void (*fn)(void *arg), void *arg, mvm_error *err);

/* Main thread, once. Binds the listeners, starts the threads, calls
 * on_ready, and serves until rpc_server_shutdown(); then drains: drain
 * hooks, GOAWAY to every connection, in-flight unary calls finish, streams
 * end UNAVAILABLE, end hooks run, and returns. Errors (nothing was
 * served then): UNAVAILABLE (cannot bind), INVALID_ARGUMENT (bad address,
 * unwritable ready file), INTERNAL / RESOURCE_EXHAUSTED (threads, memory). */
mvm_code rpc_server_run(rpc_server *srv, mvm_error *err);
/* Async-signal-safe, any thread: asks a running server to drain and stop. */
void rpc_server_shutdown(rpc_server *srv);
/* Main thread, after rpc_server_run returned (or instead of it). NULL is fine. */
void rpc_server_free(rpc_server *srv);

#endif
