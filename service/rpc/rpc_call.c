/* rpc_call.c - one gRPC call on one HTTP/2 stream, from its request headers
 * to its trailers: header checks, request reassembly, the response queue
 * read by nghttp2, finishing, cancellation, and the thread-safe API handlers
 * use (rpc_send / rpc_finish / rpc_fail and the reply closure). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

_Thread_local rpc_loop *rpc_current_loop;

rpc_call *rpc_call_new(rpc_conn *conn, int32_t stream_id) {
    rpc_call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    atomic_init(&call->refs, 1); /* the stream's reference */
    atomic_init(&call->hook_state, 0);
    call->loop = conn->loop;
    call->conn = conn;
    call->stream_id = stream_id;
    call->timeout_ns = -1;
    call->heap_idx = SIZE_MAX;
    call->start_ns = rpc_now_ns();
    call->finish_op.embedded = call->hook_op.embedded = true;
    call->finish_op.call = call->hook_op.call = call;
    call->hook_op.kind = RPC_OP_HOOK;
    memcpy(call->peer, conn->peer, sizeof call->peer);
    grpc_msg_reader_init(&call->reader, conn->loop->srv->cfg.max_message_bytes);
    call->next = conn->calls;
    if (conn->calls)
        conn->calls->prev = call;
    conn->calls = call;
    conn->ncalls++;
    return call;
}

static void call_free(rpc_call *call) {
    for (rpc_chunk *c = call->out_head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, NULL);
    grpc_msg_reader_free(&call->reader);
    free(call->status_msg);
    free(call->finish_op.msg);
    free(call);
}

void rpc_call_ref(rpc_call *call) {
    atomic_fetch_add(&call->refs, 1);
}

void rpc_call_unref(rpc_call *call) {
    if (atomic_fetch_sub(&call->refs, 1) == 1)
        call_free(call);
}

/* ---- memory accounting (loop thread) ----
 * Unsent reply bytes and partly received request bytes are counted per call,
 * per connection and for the server; the limits in rpc.h apply to them. */

static void account(rpc_call *call, size_t *mine, size_t *conn_total, size_t from, size_t to) {
    rpc_server *srv = call->loop->srv;
    if (to >= from) {
        *conn_total += to - from;
        atomic_fetch_add(&srv->buffered, to - from);
    } else {
        *conn_total -= from - to;
        atomic_fetch_sub(&srv->buffered, from - to);
    }
    *mine = to;
}

static void out_set(rpc_call *call, size_t bytes) {
    account(call, &call->out_bytes, &call->conn->out_bytes, call->out_bytes, bytes);
}

/* Recounts the call's input: a partly received message is counted at its
 * full declared length (the reader allocated that much), a held request at
 * its packed size. */
static void in_recount(rpc_call *call) {
    size_t now = (call->reader.buf ? call->reader.len : 0) + (call->request ? call->request_len : 0);
    account(call, &call->in_charge, &call->conn->in_bytes, call->in_charge, now);
}

/* Frees what the call holds of its request (after it ended or was cut). */
static void release_input(rpc_call *call) {
    grpc_msg_reader_free(&call->reader);
    grpc_msg_reader_init(&call->reader, call->loop->srv->cfg.max_message_bytes);
    if (call->request) {
        protobuf_c_message_free_unpacked(call->request, NULL);
        call->request = NULL;
    }
    if (call->conn)
        in_recount(call);
}

/* Frees unsent replies; keep_started keeps a message already partly
 * written, so that what the client receives stays well framed. */
static void drop_output(rpc_call *call, bool keep_started) {
    rpc_chunk *keep = keep_started && call->out_head && call->out_head->off > 0 ? call->out_head : NULL;
    for (rpc_chunk *c = keep ? keep->next : call->out_head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    call->out_head = call->out_tail = keep;
    if (keep)
        keep->next = NULL;
    if (call->conn)
        out_set(call, keep ? keep->len - keep->off : 0);
}

/* The connection's share of the server-wide budget. */
static bool over_fair_share(rpc_call *call, size_t add) {
    rpc_server *srv = call->loop->srv;
    size_t total = atomic_load(&srv->buffered);
    if (total + add <= srv->cfg.max_total_buffered_bytes)
        return false;
    int nconns = atomic_load(&srv->connections);
    size_t share = srv->cfg.max_total_buffered_bytes / (size_t)(nconns > 0 ? nconns : 1);
    return call->conn->out_bytes + call->conn->in_bytes + add > share;
}

/* Whether add more reply bytes fit; if not, fills msg with why. A message
 * with nothing queued ahead of it on its stream and connection always fits
 * their own limits, so every call can make progress. */
static bool output_fits(rpc_call *call, size_t add, char *msg, size_t cap) {
    const rpc_config *cfg = &call->loop->srv->cfg;
    rpc_conn *conn = call->conn;
    if (call->out_bytes && call->out_bytes + add > cfg->max_stream_queue_bytes) {
        snprintf(msg, cap, "stream cut: the client is not reading its replies "
                 "(over %zu KiB unsent on this stream)", cfg->max_stream_queue_bytes >> 10);
        return false;
    }
    if (conn->out_bytes && conn->out_bytes + add > cfg->max_conn_queue_bytes) {
        snprintf(msg, cap, "stream cut: the client is not reading its replies "
                 "(over %zu KiB unsent on this connection)", cfg->max_conn_queue_bytes >> 10);
        return false;
    }
    if (conn->out_bytes && over_fair_share(call, add)) {
        snprintf(msg, cap, "stream cut: mvmd's transport buffers are full (%zu MiB) and this "
                 "connection holds more than its share; read replies promptly",
                 cfg->max_total_buffered_bytes >> 20);
        return false;
    }
    return true;
}

/* Whether the call's input, just grown, stays within the limits. */
static bool input_fits(rpc_call *call, char *msg, size_t cap) {
    const rpc_config *cfg = &call->loop->srv->cfg;
    if (call->conn->in_bytes > cfg->max_conn_input_bytes) {
        snprintf(msg, cap, "request refused: this connection has over %zu KiB of partly "
                 "received request messages; finish sending earlier requests first",
                 cfg->max_conn_input_bytes >> 10);
        return false;
    }
    if (over_fair_share(call, 0)) {
        snprintf(msg, cap, "request refused: mvmd's transport buffers are full (%zu MiB) and "
                 "this connection holds more than its share",
                 cfg->max_total_buffered_bytes >> 20);
        return false;
    }
    return true;
}

bool rpc_call_is_stream(const rpc_call *call) {
    return call->method && call->method->kind != RPC_UNARY;
}

/* ---- request side ---- */

static bool name_is(const uint8_t *name, size_t len, const char *lit) {
    size_t n = strlen(lit);
    return len == n && memcmp(name, lit, n) == 0;
}

void rpc_call_header(rpc_call *call, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen) {
    if (name_is(name, namelen, ":method")) {
        call->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
    } else if (name_is(name, namelen, ":path")) {
        if (valuelen >= sizeof call->path) {
            call->path_too_long = true;
        } else {
            memcpy(call->path, value, valuelen);
            call->path[valuelen] = '\0';
            call->path_len = valuelen;
        }
    } else if (name_is(name, namelen, "content-type")) {
        /* application/grpc, optionally followed by +proto or ;params */
        call->ct_seen = true;
        const char *ct = "application/grpc";
        size_t n = strlen(ct);
        call->ct_grpc = valuelen >= n && memcmp(value, ct, n) == 0 &&
                        (valuelen == n || value[n] == ';' ||
                         (valuelen >= n + 6 && memcmp(value + n, "+proto", 6) == 0 &&
                          (valuelen == n + 6 || value[n + 6] == ';')));
    } else if (name_is(name, namelen, "grpc-encoding")) {
        call->bad_encoding = !(valuelen == 8 && memcmp(value, "identity", 8) == 0);
    } else if (name_is(name, namelen, "grpc-timeout")) {
        int64_t ns;
        if (grpc_timeout_parse((const char *)value, valuelen, &ns) == 0)
            call->timeout_ns = ns;
        else
            call->bad_timeout = true;
    }
}

/* nghttp2 refused to queue a frame for the call (out of memory, or the
 * stream is already gone): reset the stream, else give up the connection. */
static void submit_failed(rpc_call *call, int rv) {
    (void)rv;
    if (nghttp2_submit_rst_stream(call->conn->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR) != 0)
        call->conn->closing = true;
    rpc_loop_mark_dirty(call->conn);
}

static void submit_http_error(rpc_call *call, const char *status) {
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
    };
    call->rejected = call->finished = call->resp_started = true;
    atomic_store(&call->finish_requested, true);
    int rv = nghttp2_submit_response(call->conn->h2, call->stream_id, nv, 2, NULL);
    if (rv != 0)
        submit_failed(call, rv);
    rpc_stats_record(&call->loop->srv->reg.unknown, MVM_INTERNAL, rpc_now_ns() - call->start_ns);
    rpc_loop_mark_dirty(call->conn);
}

static void call_finish(rpc_call *call, mvm_code code, const char *msg);

static void call_reject(rpc_call *call, mvm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_reject(rpc_call *call, mvm_code code, const char *fmt, ...) {
    char msg[MVM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    call->rejected = true;
    atomic_store(&call->finish_requested, true);
    call_finish(call, code, msg);
}

/* Re-keys the call in its loop's deadline heap. */
static void update_deadline(rpc_call *call) {
    if (!rpc_loop_deadline_update(call->loop, call))
        call_reject(call, MVM_RESOURCE_EXHAUSTED, "out of memory arming the call's deadline");
}

void rpc_call_headers_done(rpc_call *call) {
    if (!call->is_post) {
        submit_http_error(call, "405");
        return;
    }
    if (!call->ct_seen || !call->ct_grpc) {
        submit_http_error(call, "415");
        return;
    }
    if (call->path_too_long) {
        call_reject(call, MVM_UNIMPLEMENTED, "method path is too long");
        return;
    }
    call->method = rpc_registry_find(&call->loop->srv->reg, call->path, call->path_len);
    if (!call->method) {
        call_reject(call, MVM_UNIMPLEMENTED, "unknown method %s: this server does not serve it",
                    call->path);
        return;
    }
    if (call->bad_encoding) {
        call_reject(call, MVM_UNIMPLEMENTED,
                    "grpc-encoding is not supported: send messages uncompressed (identity)");
        return;
    }
    if (call->bad_timeout) {
        call_reject(call, MVM_INTERNAL, "malformed grpc-timeout header");
        return;
    }
    int64_t now = rpc_now_ns();
    if (call->timeout_ns >= 0)
        call->deadline_ns = call->timeout_ns > INT64_MAX - now ? INT64_MAX : now + call->timeout_ns;
    if (call->method->kind != RPC_BIDI) /* the request must follow its headers */
        call->read_deadline_ns = now + (int64_t)call->loop->srv->cfg.request_timeout_ms * 1000000LL;
    update_deadline(call);
}

static mvm_code on_message(void *arg, const uint8_t *data, uint32_t len, mvm_error *err) {
    rpc_call *call = arg;
    const ProtobufCMessageDescriptor *in = call->method->desc->input;
    call->nmsgs++;
    if (call->method->kind != RPC_BIDI && call->nmsgs > 1)
        return mvm_fail(err, MVM_INTERNAL, "more than one request message on a %s call",
                        call->method->kind == RPC_UNARY ? "unary" : "server-streaming");
    ProtobufCMessage *msg = protobuf_c_message_unpack(in, NULL, len, data);
    if (!msg)
        return mvm_fail(err, MVM_INTERNAL, "request is not a valid %s message", in->name);
    if (call->method->kind == RPC_BIDI) {
        rpc_dispatch(call, msg);
    } else {
        call->request = msg;
        call->request_len = len;
    }
    return MVM_OK;
}

void rpc_call_data(rpc_call *call, const uint8_t *data, size_t len) {
    if (call->rejected || call->finished || !call->method)
        return;
    mvm_error err;
    size_t before = call->in_charge;
    call->feeding = true; /* a bidi handler may end the call inside the feed */
    mvm_code c = grpc_msg_reader_feed(&call->reader, data, len, on_message, call, &err);
    call->feeding = false;
    if (!call->conn)
        return;
    if (call->finished) {
        release_input(call);
        return;
    }
    in_recount(call);
    if (c != MVM_OK) {
        call->rejected = true;
        atomic_store(&call->finish_requested, true);
        call_finish(call, err.code, err.msg);
        return;
    }
    char msg[MVM_ERROR_MSG_MAX];
    if (call->in_charge > before && !input_fits(call, msg, sizeof msg)) {
        call_reject(call, MVM_RESOURCE_EXHAUSTED, "%s", msg);
        return;
    }
    if (call->method->kind == RPC_BIDI && !call->finished) {
        /* each message must arrive in full in time once it has started */
        bool partial = grpc_msg_reader_partial(&call->reader);
        if (partial != (call->read_deadline_ns != 0)) {
            call->read_deadline_ns =
                partial ? rpc_now_ns() + (int64_t)call->loop->srv->cfg.request_timeout_ms * 1000000LL
                        : 0;
            update_deadline(call);
        }
    }
}

void rpc_call_remote_end(rpc_call *call) {
    if (call->rejected || call->finished || !call->method)
        return;
    if (grpc_msg_reader_partial(&call->reader)) {
        call_reject(call, MVM_INTERNAL,
                    "request stream ended inside a message (truncated length-prefixed message)");
        return;
    }
    call->read_deadline_ns = 0;
    update_deadline(call);
    if (call->finished)
        return;
    if (call->method->kind == RPC_BIDI) {
        rpc_finish(call, NULL);
        return;
    }
    if (call->nmsgs == 0) {
        call_reject(call, MVM_INTERNAL, "request stream ended without a request message");
        return;
    }
    ProtobufCMessage *req = call->request;
    call->request = NULL;
    in_recount(call);
    rpc_dispatch(call, req);
}

void rpc_call_expire(rpc_call *call, int64_t now) {
    char msg[160];
    if (call->read_deadline_ns && call->read_deadline_ns <= now) {
        snprintf(msg, sizeof msg, "the request message did not arrive in full within %d ms; "
                 "send each request message promptly and end the request stream",
                 call->loop->srv->cfg.request_timeout_ms);
        rpc_call_cancel(call, MVM_DEADLINE_EXCEEDED, msg);
    } else if (call->deadline_ns && call->deadline_ns <= now) {
        snprintf(msg, sizeof msg, "deadline of %lld ms exceeded",
                 (long long)(call->timeout_ns / 1000000));
        rpc_call_cancel(call, MVM_DEADLINE_EXCEEDED, msg);
    } else {
        update_deadline(call);
    }
}

/* ---- response side (loop thread) ---- */

static const char *const status_text[MVM_CODE_COUNT] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
};

/* Header fields whose name and value outlive the submit call: no copies. */
#define NV_STATIC(k, v)                                                                \
    (nghttp2_nv) {                                                                     \
        (uint8_t *)(k), (uint8_t *)(v), sizeof(k) - 1, strlen(v),                      \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE               \
    }

/* Appends grpc-status and (if any) the percent-encoded grpc-message. */
static size_t status_fields(rpc_call *call, nghttp2_nv *nv, char *msg, size_t msgcap) {
    size_t n = 0;
    mvm_code code = (int)call->status >= 0 && call->status < MVM_CODE_COUNT ? call->status : MVM_UNKNOWN;
    nv[n++] = NV_STATIC("grpc-status", status_text[code]);
    if (call->status_msg && call->status_msg[0]) {
        grpc_pct_encode(call->status_msg, msg, msgcap);
        nv[n++] = (nghttp2_nv){(uint8_t *)"grpc-message", (uint8_t *)msg, 12, strlen(msg),
                               NGHTTP2_NV_FLAG_NO_COPY_NAME};
    }
    return n;
}

static void submit_headers(rpc_call *call, bool trailers_only) {
    char msg[3 * MVM_ERROR_MSG_MAX + 1];
    nghttp2_nv nv[5];
    size_t n = 0;
    nv[n++] = NV_STATIC(":status", "200");
    nv[n++] = NV_STATIC("content-type", "application/grpc");
    nv[n++] = NV_STATIC("grpc-accept-encoding", "identity");
    if (trailers_only)
        n += status_fields(call, nv + n, msg, sizeof msg);
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = rpc_conn_data_read_cb};
    int rv = nghttp2_submit_response(call->conn->h2, call->stream_id, nv, n,
                                     trailers_only ? NULL : &prd);
    if (rv != 0)
        submit_failed(call, rv);
}

static int submit_trailers(rpc_call *call) {
    char msg[3 * MVM_ERROR_MSG_MAX + 1];
    nghttp2_nv nv[2];
    size_t n = status_fields(call, nv, msg, sizeof msg);
    return nghttp2_submit_trailer(call->conn->h2, call->stream_id, nv, n);
}

static void resume(rpc_call *call) {
    if (call->data_deferred) {
        call->data_deferred = false;
        int rv = nghttp2_session_resume_data(call->conn->h2, call->stream_id);
        if (rv != 0)
            submit_failed(call, rv);
    }
}

static void call_finish(rpc_call *call, mvm_code code, const char *msg) {
    if (call->finished || !call->conn)
        return;
    call->finished = true;
    call->status = code;
    call->status_msg = msg && msg[0] ? strdup(msg) : NULL; /* NULL: no grpc-message */
    call->read_deadline_ns = call->deadline_ns = 0;
    rpc_loop_deadline_remove(call->loop, call);
    if (!call->feeding) /* else rpc_call_data releases it after the feed */
        release_input(call); /* later request data is ignored */
    rpc_stats_record(call->method ? (rpc_stats *)&call->method->stats : &call->loop->srv->reg.unknown,
                     code, rpc_now_ns() - call->start_ns);
    if (!call->resp_started) {
        call->resp_started = true;
        submit_headers(call, true);
    } else {
        call->trailers_pending = true;
        resume(call);
    }
    rpc_loop_mark_dirty(call->conn);
}

void rpc_call_cancel(rpc_call *call, mvm_code code, const char *msg) {
    if (call->finished)
        return;
    atomic_store(&call->finish_requested, true);
    call_finish(call, code, msg);
    atomic_store(&call->cancelled, true);
    rpc_loop_queue_hook(call->loop, call); /* the stream may stay open a while */
}

/* Queues a reply chunk. Returns false, having freed it, when the call is
 * over or the chunk does not fit the limits (then the call is ended:
 * RESOURCE_EXHAUSTED, its unsent replies dropped). */
static bool call_send_chunk(rpc_call *call, rpc_chunk *chunk, bool last) {
    if (call->finished || !call->conn) {
        free(chunk);
        return false;
    }
    char msg[MVM_ERROR_MSG_MAX];
    if (!output_fits(call, chunk->len, msg, sizeof msg)) {
        free(chunk);
        drop_output(call, true);
        if (last) /* a unary reply: its handler has finished */
            call_reject(call, MVM_RESOURCE_EXHAUSTED, "%s", msg);
        else
            rpc_call_cancel(call, MVM_RESOURCE_EXHAUSTED, msg);
        return false;
    }
    chunk->next = NULL;
    if (call->out_tail)
        call->out_tail->next = chunk;
    else
        call->out_head = chunk;
    call->out_tail = chunk;
    out_set(call, call->out_bytes + chunk->len);
    if (!call->resp_started) {
        call->resp_started = true;
        submit_headers(call, false);
    } else {
        resume(call);
    }
    rpc_loop_mark_dirty(call->conn);
    return true;
}

ssize_t rpc_call_read_data(rpc_call *call, uint8_t *buf, size_t length, uint32_t *flags) {
    size_t n = 0;
    while (n < length && call->out_head) {
        rpc_chunk *c = call->out_head;
        size_t take = c->len - c->off;
        if (take > length - n)
            take = length - n;
        memcpy(buf + n, c->data + c->off, take);
        c->off += take;
        n += take;
        if (c->off == c->len) {
            call->out_head = c->next;
            if (!call->out_head)
                call->out_tail = NULL;
            free(c);
        }
    }
    out_set(call, call->out_bytes - n);
    if (!call->out_head) {
        if (call->trailers_pending) {
            call->trailers_pending = false;
            *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (submit_trailers(call) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        } else if (n == 0) {
            call->data_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

void rpc_call_stream_closed(rpc_call *call, uint32_t error_code) {
    (void)error_code;
    if (!call->finished) { /* reset by the client, or the connection is gone */
        call->finished = true;
        atomic_store(&call->finish_requested, true);
        rpc_loop_deadline_remove(call->loop, call);
        rpc_stats_record(call->method ? (rpc_stats *)&call->method->stats
                                      : &call->loop->srv->reg.unknown,
                         MVM_CANCELLED, rpc_now_ns() - call->start_ns);
    }
    atomic_store(&call->cancelled, true);
    rpc_loop_queue_hook(call->loop, call); /* the call is over */
    drop_output(call, false);
    release_input(call);
    rpc_conn *conn = call->conn;
    if (call->prev)
        call->prev->next = call->next;
    else
        conn->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    conn->ncalls--;
    call->conn = NULL;
    rpc_loop_mark_dirty(conn);
    rpc_call_unref(call);
}

/* ---- end hooks ---- */

void rpc_call_handler_enter(rpc_call *call) {
    atomic_fetch_add(&call->hook_state, RPC_HANDLER_RUNNING);
}

void rpc_call_handler_leave(rpc_call *call) {
    int old = atomic_fetch_sub(&call->hook_state, RPC_HANDLER_RUNNING);
    if (old == RPC_HANDLER_RUNNING + RPC_HOOK_PENDING) {
        /* the loop found the call cancelled while this handler ran */
        if (rpc_current_loop == call->loop) {
            rpc_loop_queue_hook(call->loop, call);
        } else if (!atomic_exchange(&call->hook_op_posted, true)) { /* hook_op is posted once */
            rpc_call_ref(call);
            rpc_loop_post(call->loop, &call->hook_op);
        }
    }
}

void rpc_call_run_hook(rpc_call *call) {
    int old = atomic_fetch_or(&call->hook_state, RPC_HOOK_PENDING);
    if (old >= RPC_HANDLER_RUNNING)
        return; /* the last handler to return hands it back (handler_leave) */
    atomic_fetch_and(&call->hook_state, ~RPC_HOOK_PENDING);
    void (*fn)(void *) = call->on_end;
    call->on_end = NULL;
    if (fn)
        fn(call->on_end_arg);
}

/* ---- handler API (any thread) ---- */

static rpc_chunk *pack(const ProtobufCMessage *msg) {
    size_t len = protobuf_c_message_get_packed_size(msg);
    rpc_chunk *c = malloc(sizeof *c + GRPC_MSG_PREFIX + len);
    if (!c)
        return NULL;
    c->next = NULL;
    c->off = 0;
    c->len = GRPC_MSG_PREFIX + len;
    grpc_msg_prefix(c->data, (uint32_t)len);
    protobuf_c_message_pack(msg, c->data + GRPC_MSG_PREFIX);
    return c;
}

/* Loop thread: carries out op, taking its chunk. Returns false if a SEND
 * was not queued. */
static bool apply(rpc_op *op) {
    rpc_call *call = op->call;
    rpc_chunk *chunk = op->chunk;
    op->chunk = NULL;
    switch (op->kind) {
    case RPC_OP_SEND:
        return call_send_chunk(call, chunk, false);
    case RPC_OP_REPLY:
        if (call_send_chunk(call, chunk, true))
            call_finish(call, MVM_OK, NULL);
        break;
    case RPC_OP_FINISH:
        call_finish(call, op->code, op->msg);
        break;
    case RPC_OP_HOOK:
        rpc_loop_queue_hook(call->loop, call);
        break;
    case RPC_OP_DRAIN:
        break;
    }
    return true;
}

void rpc_call_apply(rpc_op *op) {
    apply(op);
}

void rpc_op_free(rpc_op *op) {
    rpc_call *call = op->call;
    free(op->chunk);
    op->chunk = NULL;
    free(op->msg);
    op->msg = NULL;
    if (!op->embedded)
        free(op);
    if (call)
        rpc_call_unref(call);
}

/* Applies an op now if on the call's loop thread, else posts it there (in
 * the call's own finish_op for REPLY and FINISH, which happen once, else in
 * a new one). Returns MVM_OK, MVM_CANCELLED (applied here: the SEND was not
 * queued) or MVM_RESOURCE_EXHAUSTED (no memory to post a SEND). */
static mvm_code deliver(rpc_call *call, rpc_op_kind kind, rpc_chunk *chunk, mvm_code code,
                        const char *msg) {
    bool finishing = kind == RPC_OP_REPLY || kind == RPC_OP_FINISH;
    if (rpc_current_loop == call->loop) {
        rpc_op local = {.kind = kind, .call = call, .chunk = chunk, .code = code, .msg = (char *)msg};
        return apply(&local) ? MVM_OK : MVM_CANCELLED;
    }
    rpc_op *op = finishing ? &call->finish_op : malloc(sizeof *op);
    if (!op) {
        free(chunk);
        return MVM_RESOURCE_EXHAUSTED;
    }
    op->kind = kind;
    op->call = call;
    op->chunk = chunk;
    op->code = code;
    op->msg = NULL;
    op->embedded = finishing;
    if (msg) /* out of memory: the code goes without its text */
        op->msg = strdup(msg);
    rpc_call_ref(call);
    rpc_loop_post(call->loop, op);
    return MVM_OK;
}

mvm_code rpc_send(rpc_call *call, const ProtobufCMessage *msg) {
    if (atomic_load(&call->cancelled) || atomic_load(&call->finish_requested))
        return MVM_CANCELLED;
    rpc_chunk *c = pack(msg);
    if (!c)
        return MVM_RESOURCE_EXHAUSTED;
    return deliver(call, RPC_OP_SEND, c, MVM_OK, NULL);
}

void rpc_finish(rpc_call *call, const mvm_error *err) {
    if (atomic_exchange(&call->finish_requested, true))
        return;
    deliver(call, RPC_OP_FINISH, NULL, err ? err->code : MVM_OK, err ? err->msg : NULL);
}

void rpc_fail(rpc_call *call, const mvm_error *err) {
    mvm_error e = *err;
    if (e.code == MVM_OK)
        mvm_fail(&e, MVM_INTERNAL, "handler failed with status OK: %s", err->msg);
    rpc_finish(call, &e);
}

void rpc_failf(rpc_call *call, mvm_code code, const char *fmt, ...) {
    mvm_error e;
    va_list ap;
    va_start(ap, fmt);
    e.code = code;
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    rpc_fail(call, &e);
}

/* The closure handed to every handler as `done`. */
void rpc_closure(const ProtobufCMessage *msg, void *closure_data) {
    rpc_call *call = closure_data;
    if (call->method->kind != RPC_UNARY) {
        if (msg && rpc_send(call, msg) == MVM_RESOURCE_EXHAUSTED)
            rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory queueing a reply message");
        return;
    }
    if (!msg) {
        rpc_failf(call, MVM_INTERNAL, "handler for %s returned no reply", call->method->path);
        return;
    }
    if (atomic_exchange(&call->finish_requested, true))
        return;
    rpc_chunk *c = pack(msg);
    if (!c) {
        deliver(call, RPC_OP_FINISH, NULL, MVM_RESOURCE_EXHAUSTED, "out of memory packing the reply");
        return;
    }
    deliver(call, RPC_OP_REPLY, c, MVM_OK, NULL);
}

bool rpc_call_cancelled(const rpc_call *call) {
    return atomic_load(&call->cancelled);
}

void rpc_call_on_end(rpc_call *call, void (*fn)(void *arg), void *arg) {
    call->on_end = fn;
    call->on_end_arg = arg;
}

const char *rpc_call_peer(const rpc_call *call) {
    return call->peer;
}

const char *rpc_call_method(const rpc_call *call) {
    return call->method ? call->method->path : call->path;
}

void *rpc_call_service_data(const rpc_call *call) {
    return call->method ? call->method->user_data : NULL;
}
