/* mvmc_call.c - gRPC calls over one nghttp2 client session: connection
 * setup, request HEADERS + length-prefixed DATA, and the response side
 * (headers, messages reassembled across DATA frames by common/grpc_wire's
 * reader, trailers or Trailers-Only, RST_STREAM and GOAWAY) turned into an
 * mvm_code. */
#include "grpc_wire.h"
#include "mvmc_internal.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MVMC_MAX_MESSAGE (64u << 20)

struct mvmc_client {
    mvmc_conn conn;
    nghttp2_session *h2;
    mvmc_stream *active; /* the call in progress, at most one */
    mvm_error broken;    /* set once the connection is unusable */
};

struct mvmc_stream {
    mvmc_client *c;
    int32_t id;
    const ProtobufCMethodDescriptor *method;
    int64_t deadline;
    uint8_t *req;
    size_t req_len, req_off;
    int http_status, have_grpc_status, grpc_status, closed;
    uint32_t rst_code;
    char content_type[64];
    char grpc_message[MVM_ERROR_MSG_MAX];
    grpc_msg_reader reader;   /* response DATA -> messages */
    ProtobufCMessage **queue; /* replies unpacked, not yet taken */
    size_t qhead, qlen, qcap;
    mvm_error final; /* the call's status once known */
    int have_final;
};

/* ---- nghttp2 callbacks ---- */

static int on_header(nghttp2_session *h2, const nghttp2_frame *fr,
                     const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen, uint8_t flags, void *ud) {
    mvmc_stream *s = nghttp2_session_get_stream_user_data(h2, fr->hd.stream_id);
    if (!s || fr->hd.type != NGHTTP2_HEADERS)
        return 0;
#define IS(lit) (nlen == sizeof lit - 1 && memcmp(name, lit, nlen) == 0)
    if (IS(":status")) {
        s->http_status = atoi((const char *)value);
    } else if (IS("content-type")) {
        snprintf(s->content_type, sizeof s->content_type, "%.*s", (int)vlen, value);
    } else if (IS("grpc-status")) {
        s->have_grpc_status = 1;
        s->grpc_status = atoi((const char *)value);
        if (vlen == 0 || strspn((const char *)value, "0123456789") != vlen ||
            s->grpc_status >= MVM_CODE_COUNT)
            s->grpc_status = MVM_UNKNOWN;
    } else if (IS("grpc-message")) {
        grpc_pct_decode((const char *)value, vlen, s->grpc_message,
                        sizeof s->grpc_message);
    }
#undef IS
    return 0;
}

/* grpc_msg_fn: one whole reply message; unpacks it onto the queue. */
static mvm_code on_message(void *arg, const uint8_t *data, uint32_t len, mvm_error *err) {
    mvmc_stream *s = arg;
    if (s->qlen == s->qcap) {
        size_t ncap = s->qcap ? s->qcap * 2 : 4;
        ProtobufCMessage **nq = realloc(s->queue, ncap * sizeof *nq);
        if (!nq)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        s->queue = nq;
        s->qcap = ncap;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(s->method->output, NULL, len, data);
    if (!m)
        return mvm_fail(err, MVM_INTERNAL, "cannot decode %s from the server",
                        s->method->output->name);
    s->queue[s->qlen++] = m;
    return MVM_OK;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *ud) {
    mvmc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    /* The body of a response that is not gRPC (an HTTP error page) is not
     * messages: drop it; the status comes from the HTTP status. */
    if (!s || s->have_final || s->http_status != 200 ||
        strncmp(s->content_type, "application/grpc", 16) != 0)
        return 0;
    if (grpc_msg_reader_feed(&s->reader, data, len, on_message, s, &s->final) == MVM_OK)
        return 0;
    mvm_error_context(&s->final, "reply from the server");
    s->have_final = 1;
    return nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL)
               ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t code, void *ud) {
    mvmc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    if (s) {
        s->closed = 1;
        s->rst_code = code;
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *h2, int32_t id, uint8_t *out,
                         size_t cap, uint32_t *flags, nghttp2_data_source *src,
                         void *ud) {
    mvmc_stream *s = src->ptr;
    size_t n = s->req_len - s->req_off;
    if (n > cap)
        n = cap;
    memcpy(out, s->req + s->req_off, n);
    s->req_off += n;
    if (s->req_off == s->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- the I/O loop ---- */

static mvm_code flush(mvmc_client *c, int64_t deadline, mvm_error *err) {
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0)
            return mvm_fail(err, MVM_INTERNAL, "HTTP/2: %s",
                            nghttp2_strerror((int)n));
        if (n == 0)
            return MVM_OK;
        mvm_code rc = mvmc_conn_write(&c->conn, data, (size_t)n, deadline, err);
        if (rc)
            return rc;
    }
}

static int have_message(const mvmc_stream *s) {
    return s->qhead < s->qlen;
}

static void mark_broken(mvmc_client *c, const mvm_error *e) {
    if (c->broken.code == MVM_OK)
        c->broken = *e;
}

/* Runs the session until s has a whole message or has closed. A local
 * failure (I/O error, deadline) becomes the stream's final status. */
static mvm_code pump(mvmc_stream *s) {
    mvmc_client *c = s->c;
    uint8_t buf[16384];
    while (!s->closed && !have_message(s) && !s->have_final) {
        mvm_error e = {0};
        mvm_code rc = flush(c, s->deadline, &e);
        if (!rc && !nghttp2_session_want_read(c->h2))
            rc = mvm_fail(&e, MVM_UNAVAILABLE, "connection closed (GOAWAY)");
        if (!rc) {
            ssize_t n = mvmc_conn_read(&c->conn, buf, sizeof buf, s->deadline, &e);
            if (n == 0)
                rc = mvm_fail(&e, MVM_UNAVAILABLE, "connection closed by the server");
            else if (n < 0)
                rc = e.code;
            else {
                ssize_t used = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
                if (used < 0)
                    rc = mvm_fail(&e, MVM_INTERNAL, "HTTP/2 protocol error: %s",
                                  nghttp2_strerror((int)used));
            }
        }
        if (rc) {
            if (rc != MVM_DEADLINE_EXCEEDED)
                mark_broken(c, &e);
            if (s->closed)
                break; /* the stream finished before the connection went */
            s->final = e;
            s->have_final = 1;
            if (rc == MVM_DEADLINE_EXCEEDED)
                mvm_fail(&s->final, rc, "deadline exceeded");
            return rc;
        }
    }
    return MVM_OK;
}

/* The call's status once the stream has closed. */
static void settle(mvmc_stream *s) {
    if (s->have_final)
        return;
    s->have_final = 1;
    mvm_error *f = &s->final;
    if (s->have_grpc_status) {
        f->code = (mvm_code)s->grpc_status;
        snprintf(f->msg, sizeof f->msg, "%s", s->grpc_message);
    } else if (s->rst_code != NGHTTP2_NO_ERROR) {
        mvm_code code = MVM_INTERNAL;
        if (s->rst_code == NGHTTP2_REFUSED_STREAM)
            code = MVM_UNAVAILABLE;
        else if (s->rst_code == NGHTTP2_CANCEL)
            code = MVM_CANCELLED;
        else if (s->rst_code == NGHTTP2_ENHANCE_YOUR_CALM)
            code = MVM_RESOURCE_EXHAUSTED;
        else if (s->rst_code == NGHTTP2_INADEQUATE_SECURITY)
            code = MVM_PERMISSION_DENIED;
        mvm_fail(f, code, "stream reset by the server: %s",
                 nghttp2_http2_strerror(s->rst_code));
    } else if (s->http_status != 200 && s->http_status != 0) {
        mvm_fail(f, mvmc_http_status_code(s->http_status),
                 "HTTP status %d without grpc-status", s->http_status);
    } else if (s->http_status == 0) {
        mvm_fail(f, MVM_INTERNAL, "stream ended without a response");
    } else if (strncmp(s->content_type, "application/grpc", 16) != 0) {
        mvm_fail(f, MVM_UNKNOWN, "unexpected content-type \"%s\"", s->content_type);
    } else {
        mvm_fail(f, MVM_INTERNAL, "response ended without grpc-status");
    }
    if (f->code == MVM_OK && grpc_msg_reader_partial(&s->reader))
        mvm_fail(f, MVM_INTERNAL, "response ended inside a message");
}

static mvm_code fail_with(const mvmc_stream *s, mvm_error *err) {
    if (err)
        *err = s->final;
    return s->final.code;
}

/* ---- public API ---- */

mvm_code mvmc_connect(const mvmc_options *o, mvmc_client **out, mvm_error *err) {
    *out = NULL;
    mvmc_client *c = calloc(1, sizeof *c);
    if (!c)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    int64_t deadline = mvmc_now_ms() +
                       (o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000);
    mvm_code rc = mvmc_conn_open(&c->conn, o, deadline, err);
    nghttp2_session_callbacks *cb = NULL;
    if (!rc && nghttp2_session_callbacks_new(&cb) != 0)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!rc) {
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
        if (nghttp2_session_client_new(&c->h2, cb, c) != 0)
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        nghttp2_session_callbacks_del(cb);
    }
    if (!rc) {
        nghttp2_settings_entry set[] = {
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
        };
        if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, set, 2) != 0)
            rc = mvm_fail(err, MVM_INTERNAL, "HTTP/2 settings");
        else
            rc = flush(c, deadline, err);
    }
    if (rc) {
        /* Out of time before any call: the server is not reachable in time.
         * The message keeps the step that ran out ("in the TLS handshake"). */
        if (rc == MVM_DEADLINE_EXCEEDED) {
            rc = MVM_UNAVAILABLE;
            if (err)
                err->code = rc;
            mvm_error_context(err, "connect to %s", o->endpoint);
        }
        mvmc_close(c);
        return rc;
    }
    *out = c;
    return MVM_OK;
}

void mvmc_close(mvmc_client *c) {
    if (!c)
        return;
    if (c->active)
        mvmc_stream_close(c->active);
    if (c->h2 && c->broken.code == MVM_OK && c->conn.fd >= 0) {
        nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
        flush(c, mvmc_now_ms() + 1000, NULL);
    }
    nghttp2_session_del(c->h2);
    mvmc_conn_close(&c->conn);
    free(c);
}

static mvm_code frame_request(mvmc_stream *s, const ProtobufCMessage *req,
                              mvm_error *err) {
    size_t n = protobuf_c_message_get_packed_size(req);
    s->req = malloc(n + 5);
    if (!s->req)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    grpc_msg_prefix(s->req, (uint32_t)n);
    protobuf_c_message_pack(req, s->req + 5);
    s->req_len = n + 5;
    return MVM_OK;
}

mvm_code mvmc_stream_open(mvmc_client *c, const ProtobufCServiceDescriptor *svc,
                          unsigned mi, const ProtobufCMessage *req,
                          int timeout_ms, mvmc_stream **out, mvm_error *err) {
    *out = NULL;
    if (c->broken.code != MVM_OK) {
        if (err)
            *err = c->broken;
        return c->broken.code;
    }
    if (c->active)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "a call is already running");
    if (mi >= svc->n_methods || req->descriptor != svc->methods[mi].input)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "bad method or request type");
    mvmc_stream *s = calloc(1, sizeof *s);
    if (!s)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    s->c = c;
    s->method = &svc->methods[mi];
    grpc_msg_reader_init(&s->reader, MVMC_MAX_MESSAGE);
    s->deadline = timeout_ms > 0 ? mvmc_now_ms() + timeout_ms : -1;
    mvm_code rc = frame_request(s, req, err);
    if (rc) {
        free(s);
        return rc;
    }
    char path[512], tmo[16];
    snprintf(path, sizeof path, "/%s/%s", svc->name, s->method->name);
    grpc_timeout_format((int64_t)timeout_ms * 1000000, tmo);
#define HDR(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME}
    nghttp2_nv hdrs[] = {
        HDR(":method", "POST"),
        HDR(":scheme", c->conn.tls ? "https" : "http"),
        HDR(":path", path),
        HDR(":authority", c->conn.authority),
        HDR("content-type", "application/grpc"),
        HDR("te", "trailers"),
        HDR("user-agent", "mvmc/0.1"),
        HDR("grpc-timeout", tmo),
    };
#undef HDR
    nghttp2_data_provider body = {.source.ptr = s, .read_callback = read_body};
    s->id = nghttp2_submit_request(c->h2, NULL, hdrs,
                                   sizeof hdrs / sizeof hdrs[0] - (timeout_ms > 0 ? 0 : 1),
                                   &body, s);
    if (s->id < 0) {
        rc = mvm_fail(err, MVM_UNAVAILABLE, "cannot start a call: %s",
                      nghttp2_strerror(s->id));
        grpc_msg_reader_free(&s->reader);
        free(s->req);
        free(s);
        return rc;
    }
    c->active = s;
    *out = s;
    return MVM_OK;
}

mvm_code mvmc_stream_next(mvmc_stream *s, ProtobufCMessage **msg, mvm_error *err) {
    *msg = NULL;
    for (;;) {
        if (s->have_final && s->final.code != MVM_OK)
            return fail_with(s, err);
        if (have_message(s)) {
            *msg = s->queue[s->qhead++];
            if (s->qhead == s->qlen)
                s->qhead = s->qlen = 0;
            return MVM_OK;
        }
        if (s->closed) {
            settle(s);
            return fail_with(s, err);
        }
        if (pump(s) != MVM_OK)
            return fail_with(s, err);
    }
}

void mvmc_stream_close(mvmc_stream *s) {
    if (!s)
        return;
    mvmc_client *c = s->c;
    if (c->h2) {
        if (!s->closed && c->broken.code == MVM_OK) {
            nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            mvm_error e;
            if (flush(c, mvmc_now_ms() + 1000, &e))
                mark_broken(c, &e);
        }
        nghttp2_session_set_stream_user_data(c->h2, s->id, NULL);
    }
    if (c->active == s)
        c->active = NULL;
    while (s->qhead < s->qlen)
        protobuf_c_message_free_unpacked(s->queue[s->qhead++], NULL);
    free(s->queue);
    grpc_msg_reader_free(&s->reader);
    free(s->req);
    free(s);
}

mvm_code mvmc_unary(mvmc_client *c, const ProtobufCServiceDescriptor *svc,
                    unsigned mi, const ProtobufCMessage *req,
                    ProtobufCMessage **resp, int timeout_ms, mvm_error *err) {
    mvmc_stream *s;
    ProtobufCMessage *extra = NULL;
    *resp = NULL;
    mvm_code rc = mvmc_stream_open(c, svc, mi, req, timeout_ms, &s, err);
    if (rc)
        return rc;
    rc = mvmc_stream_next(s, resp, err);
    if (!rc && !*resp)
        rc = mvm_fail(err, MVM_INTERNAL, "%s: the server sent no reply message",
                      s->method->name);
    if (!rc)
        rc = mvmc_stream_next(s, &extra, err);
    if (!rc && extra)
        rc = mvm_fail(err, MVM_INTERNAL, "%s: the server sent two reply messages",
                      s->method->name);
    if (extra)
        protobuf_c_message_free_unpacked(extra, NULL);
    if (rc && *resp) {
        protobuf_c_message_free_unpacked(*resp, NULL);
        *resp = NULL;
    }
    mvmc_stream_close(s);
    return rc;
}
