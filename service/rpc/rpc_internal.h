/* rpc_internal.h - the transport's shared structures: server, I/O loops,
 * connections, calls, the method registry and the descriptor index. Only
 * files of service/rpc include this; everyone else sees rpc.h.
 *
 * Threads: each rpc_loop is one I/O thread owning its connections and their
 * calls; only that thread touches a connection, its nghttp2 session or a
 * call's response state. Other threads (workers, watchers) reach a call by
 * posting an rpc_op to its loop's mailbox (mutex + eventfd). */
#ifndef MVM_RPC_INTERNAL_H
#define MVM_RPC_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "rpc.h"
#include "grpc_wire.h"

#define RPC_HIST_BUCKETS 16
#define RPC_PEER_MAX 96
#define RPC_ACCEPT_PAUSE_NS (100LL * 1000000LL) /* after EMFILE & co. */

/* ---- time ---- */
int64_t rpc_now_ns(void); /* CLOCK_MONOTONIC */

/* ---- methods and their statistics (rpc_dispatch.c, rpc_metrics.c) ---- */
typedef enum rpc_kind { RPC_UNARY, RPC_SERVER_STREAM, RPC_CLIENT_STREAM, RPC_BIDI } rpc_kind;

typedef struct rpc_stats {
    _Atomic uint64_t codes[MVM_CODE_COUNT];
    _Atomic uint64_t buckets[RPC_HIST_BUCKETS]; /* cumulative at scrape time */
    _Atomic uint64_t sum_us;
} rpc_stats;

typedef struct rpc_method {
    char *path; /* "/pkg.Service/Method" */
    size_t path_len;
    ProtobufCService *service;
    unsigned index;
    const ProtobufCMethodDescriptor *desc;
    void *user_data;
    rpc_kind kind;
    rpc_exec exec;
    rpc_stats stats;
} rpc_method;

typedef struct rpc_registry {
    rpc_method **methods;
    size_t nmethods;
    rpc_method **table; /* open addressing by path hash */
    size_t table_cap;
    char **services;    /* full service names, registration order */
    size_t nservices;
    rpc_stats unknown;  /* calls to paths nothing serves */
} rpc_registry;

const rpc_method *rpc_registry_find(const rpc_registry *reg, const char *path, size_t len);
void rpc_registry_free(rpc_registry *reg);
void rpc_stats_record(rpc_stats *st, mvm_code code, int64_t elapsed_ns);

/* ---- the embedded descriptor set (rpc_descset.c) ---- */
typedef struct rpc_descfile {
    char *name;
    uint8_t *bytes; /* serialized FileDescriptorProto */
    size_t len;
    int *deps;      /* indexes of imported files */
    size_t ndeps;
} rpc_descfile;

typedef struct rpc_descset {
    rpc_descfile *files;
    size_t nfiles;
    char **symbols;  /* fully qualified names, sorted, with their file */
    int *symbol_file;
    size_t nsymbols;
    char **methods;  /* "/pkg.Svc/Method", sorted, with their kind */
    rpc_kind *method_kind;
    size_t nmethods;
} rpc_descset;

mvm_code rpc_descset_load(rpc_descset *ds, const uint8_t *data, size_t len, mvm_error *err);
void rpc_descset_free(rpc_descset *ds);
int rpc_descset_method_kind(const rpc_descset *ds, const char *path, rpc_kind *kind);
int rpc_descset_file_by_name(const rpc_descset *ds, const char *name);
int rpc_descset_file_by_symbol(const rpc_descset *ds, const char *symbol);
/* Fills out[] with idx and every file it imports, transitively, each once;
 * returns the count, 0 when out of memory (out must hold ds->nfiles). */
size_t rpc_descset_closure(const rpc_descset *ds, int idx, int *out);

/* ---- calls and connections ---- */
typedef struct rpc_chunk {
    struct rpc_chunk *next;
    size_t len, off;
    uint8_t data[];
} rpc_chunk;

typedef struct rpc_loop rpc_loop;
typedef struct rpc_conn rpc_conn;

typedef enum rpc_op_kind { RPC_OP_SEND, RPC_OP_FINISH, RPC_OP_REPLY, RPC_OP_HOOK, RPC_OP_DRAIN } rpc_op_kind;

/* A request to a loop, posted to its mailbox by another thread. */
typedef struct rpc_op {
    struct rpc_op *next;
    rpc_op_kind kind;
    bool embedded;    /* the call's own finish_op: not freed */
    rpc_call *call;   /* holds a reference (NULL for DRAIN) */
    rpc_chunk *chunk; /* SEND / REPLY */
    mvm_code code;    /* FINISH */
    char *msg;        /* FINISH */
} rpc_op;

/* call->hook_state: handlers of the call running, times 2, | HOOK_PENDING. */
#define RPC_HOOK_PENDING 1
#define RPC_HANDLER_RUNNING 2

struct rpc_call {
    atomic_int refs;
    rpc_loop *loop;
    rpc_conn *conn; /* NULL once the stream is gone */
    int32_t stream_id;
    const rpc_method *method;
    char peer[RPC_PEER_MAX];

    /* request side (loop thread) */
    size_t in_charge; /* bytes of this call counted in conn->in_bytes */
    char path[256];
    size_t path_len;
    bool is_post, ct_grpc, ct_seen, bad_encoding, bad_timeout, path_too_long;
    int64_t timeout_ns; /* -1: none */
    bool rejected;      /* answered at its headers; later DATA is ignored */
    bool feeding;       /* inside grpc_msg_reader_feed: keep the reader */
    grpc_msg_reader reader;
    unsigned nmsgs;
    ProtobufCMessage *request; /* unary / server-streaming: the one message */
    uint32_t request_len;      /* its packed size, counted in in_charge */

    /* response side (loop thread) */
    bool resp_started, finished, trailers_pending, data_deferred;
    rpc_chunk *out_head, *out_tail;
    size_t out_bytes; /* counted in conn->out_bytes */
    mvm_code status;
    char *status_msg;
    int64_t deadline_ns;      /* grpc-timeout; 0: none */
    int64_t read_deadline_ns; /* the request must have arrived by then; 0: none */
    int64_t due_ns;           /* the earlier of the two: the heap key */
    size_t heap_idx; /* SIZE_MAX when not in the deadline heap */
    int64_t start_ns;
    bool hook_queued; /* on loop->hooks */
    rpc_call *hook_next;

    /* any thread */
    atomic_bool finish_requested;
    atomic_bool cancelled;
    atomic_int hook_state; /* RPC_HANDLER_RUNNING * n | RPC_HOOK_PENDING */
    atomic_bool hook_op_posted;
    void (*on_end)(void *arg); /* set by the handler; read once none runs */
    void *on_end_arg;
    rpc_op finish_op; /* set aside for the one finish, so it cannot fail */
    rpc_op hook_op;   /* set aside for handing a pending hook back to the loop */

    rpc_call *prev, *next; /* in conn->calls */
};

typedef enum rpc_ev_kind { RPC_EV_TCP, RPC_EV_UNIX, RPC_EV_MAILBOX, RPC_EV_CONN } rpc_ev_kind;

typedef struct rpc_ev {
    rpc_ev_kind kind;
    int fd;
} rpc_ev;

struct rpc_conn {
    rpc_ev ev;
    rpc_loop *loop;
    SSL *ssl;
    bool tcp, handshaking, closing, dirty, out_armed, goaway_sent;
    int64_t handshake_deadline_ns; /* while handshaking */
    rpc_conn *hs_prev, *hs_next;   /* loop->handshakes, oldest first */
    size_t out_bytes, in_bytes;    /* unsent replies, partial requests */
    nghttp2_session *h2;
    char peer[RPC_PEER_MAX];
    uint8_t *wbuf;
    size_t wlen, woff, wcap;
    rpc_call *calls;
    unsigned ncalls;
    rpc_conn *prev, *next;
    rpc_conn *dirty_next;
};

/* A listening socket as one loop sees it. */
typedef struct rpc_listener {
    rpc_ev ev;
    bool armed;          /* in this loop's epoll set */
    int64_t resume_ns;   /* paused (EMFILE, TCP cap) until then; 0: not paused */
} rpc_listener;

struct rpc_loop {
    rpc_server *srv;
    int idx;
    pthread_t thread;
    int epfd;
    rpc_ev mailbox;
    pthread_mutex_t mbox_mu;
    rpc_op *mbox_head, *mbox_tail;
    rpc_op drain_op; /* posted once by rpc_server_run */
    rpc_listener tcp, unix_listen;
    rpc_conn *conns;
    unsigned nconns;
    unsigned nhandshaking; /* connections still in their TLS handshake */
    rpc_conn *hs_head, *hs_tail; /* those connections, oldest first */
    rpc_conn *dirty;
    rpc_call *hooks; /* calls whose end hook is due (loop thread) */
    rpc_call **heap;
    size_t heap_len, heap_cap;
    bool draining;
    int64_t drain_deadline_ns;
    uint8_t rbuf[32768];
};

typedef struct rpc_hook {
    struct rpc_hook *next;
    void (*fn)(void *arg);
    rpc_metrics_fn mfn;
    void *arg;
} rpc_hook;

typedef struct rpc_workers rpc_workers;
typedef struct rpc_health rpc_health;

struct rpc_server {
    rpc_config cfg;
    rpc_registry reg;
    rpc_descset ds;
    SSL_CTX *ssl_ctx;
    int nloops;
    rpc_loop *loops;
    rpc_workers *workers;
    int tcp_port;
    int tcp_fd, unix_fd; /* listeners, shared by all loops */
    int shutdown_efd;
    atomic_bool draining;
    rpc_hook *drain_hooks, *metric_hooks;
    rpc_health *health;
    int metrics_fd, metrics_stop_efd;
    pthread_t metrics_thread;
    bool metrics_running;
    char metrics_addr[300];
    atomic_int connections;
    atomic_int tcp_connections;
    _Atomic size_t buffered; /* out_bytes + in_bytes over every connection */
    unsigned handshakes_per_loop;
};

/* rpc_call.c */
rpc_call *rpc_call_new(rpc_conn *conn, int32_t stream_id);
void rpc_call_header(rpc_call *call, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen);
void rpc_call_headers_done(rpc_call *call);
void rpc_call_data(rpc_call *call, const uint8_t *data, size_t len);
void rpc_call_remote_end(rpc_call *call);
void rpc_call_stream_closed(rpc_call *call, uint32_t error_code);
/* Ends the call with code/msg and marks it cancelled; its end hook is
 * queued for the end of the loop turn (rpc_loop_run_hooks), never run here. */
void rpc_call_cancel(rpc_call *call, mvm_code code, const char *msg);
/* Called when the request deadline (read_deadline_ns or deadline_ns) is due. */
void rpc_call_expire(rpc_call *call, int64_t now);
void rpc_call_apply(rpc_op *op);
ssize_t rpc_call_read_data(rpc_call *call, uint8_t *buf, size_t length, uint32_t *flags);
bool rpc_call_is_stream(const rpc_call *call);
void rpc_closure(const ProtobufCMessage *msg, void *closure_data);
/* A handler of the call starts / has returned (any thread): the hook waits. */
void rpc_call_handler_enter(rpc_call *call);
void rpc_call_handler_leave(rpc_call *call);
/* Loop thread: runs the call's hook now if no handler runs, else marks it
 * pending for rpc_call_handler_leave (which posts RPC_OP_HOOK). */
void rpc_call_run_hook(rpc_call *call);
/* Frees an op taken off a mailbox without applying it. */
void rpc_op_free(rpc_op *op);

/* rpc_loop.c */
extern _Thread_local rpc_loop *rpc_current_loop;
void rpc_loop_post(rpc_loop *loop, rpc_op *op);
void rpc_loop_mark_dirty(rpc_conn *conn);
/* Puts call in the deadline heap keyed by the earlier of its deadlines, or
 * takes it out when it has none. Returns false when out of memory. */
bool rpc_loop_deadline_update(rpc_loop *loop, rpc_call *call);
void rpc_loop_deadline_remove(rpc_loop *loop, rpc_call *call);
/* Queues call's end hook for the end of this loop turn (takes a ref). */
void rpc_loop_queue_hook(rpc_loop *loop, rpc_call *call);
/* A connection of this loop closed: paused listeners may resume. */
void rpc_loop_conn_closed(rpc_loop *loop, bool tcp);
mvm_code rpc_loop_init(rpc_loop *loop, rpc_server *srv, int idx, mvm_error *err);
void *rpc_loop_main(void *loop);
/* After the loop thread exited and the workers stopped: closes what is
 * left, runs the hooks that are due, frees the loop. */
void rpc_loop_destroy(rpc_loop *loop);
void rpc_loop_listen(rpc_loop *loop, int tcp_fd, int unix_fd);

/* rpc_conn.c */
rpc_conn *rpc_conn_new(rpc_loop *loop, int fd, bool tls, bool tcp, const char *peer);
void rpc_conn_on_event(rpc_conn *conn, uint32_t events);
void rpc_conn_flush(rpc_conn *conn);
void rpc_conn_close(rpc_conn *conn);
void rpc_conn_drain(rpc_conn *conn);
/* Closes connections whose handshake is overdue; makes room for one more
 * under the per-loop handshake cap by closing the oldest. */
void rpc_conn_expire_handshakes(rpc_loop *loop, int64_t now);
void rpc_conn_make_handshake_room(rpc_loop *loop);
ssize_t rpc_conn_data_read_cb(nghttp2_session *h2, int32_t stream_id, uint8_t *buf,
                              size_t length, uint32_t *flags, nghttp2_data_source *src,
                              void *user_data);

/* rpc_tls.c */
mvm_code rpc_tls_ctx_new(const rpc_config *cfg, SSL_CTX **out, mvm_error *err);
void rpc_tls_peer_identity(SSL *ssl, char *out, size_t cap);

/* rpc_worker.c */
mvm_code rpc_workers_start(int nthreads, rpc_workers **out, mvm_error *err);
/* Queues fn(arg); false when out of memory (nothing queued). */
bool rpc_workers_submit(rpc_workers *w, void (*fn)(void *arg), void *arg);
void rpc_workers_stop(rpc_workers *w); /* runs queued jobs, then joins */

/* rpc_dispatch.c */
void rpc_dispatch(rpc_call *call, ProtobufCMessage *request);
mvm_code rpc_registry_add(rpc_server *srv, ProtobufCService *service,
                          const rpc_method_rule *rules, size_t nrules, void *user_data,
                          mvm_error *err);

/* rpc_metrics.c */
mvm_code rpc_metrics_start(rpc_server *srv, mvm_error *err);
void rpc_metrics_stop(rpc_server *srv);

/* rpc_health.c / rpc_reflection.c: built-in services */
mvm_code rpc_health_register(rpc_server *srv, mvm_error *err);
void rpc_health_set_all(rpc_health *h, bool serving);
void rpc_health_free(rpc_health *h);
mvm_code rpc_reflection_register(rpc_server *srv, mvm_error *err);

/* rpc_listen.c */
mvm_code rpc_listen_tcp(const char *hostport, bool insecure, int *fd_out, int *port_out,
                        mvm_error *err);
mvm_code rpc_listen_unix(const char *path, int *fd_out, mvm_error *err);
/* True for accept() errors that mean "no descriptors or memory now". */
bool rpc_accept_starved(int err);

#endif
