/* rpc_conn.c - one client connection on an I/O loop: the TLS handshake (or
 * plaintext), reading into nghttp2, the nghttp2 server callbacks that feed
 * calls, batching nghttp2's output into one write per loop turn, GOAWAY on
 * drain, and closing. */
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc_internal.h"

#define RPC_WRITE_BATCH (64u << 10)

static rpc_call *stream_call(nghttp2_session *h2, int32_t id) {
    return nghttp2_session_get_stream_user_data(h2, id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user) {
    rpc_conn *conn = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    rpc_call *call = rpc_call_new(conn, frame->hd.stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, call);
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers carry nothing gRPC uses */
    rpc_call *call = stream_call(h2, frame->hd.stream_id);
    if (call)
        rpc_call_header(call, name, namelen, value, valuelen);
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    rpc_call *call = stream_call(h2, frame->hd.stream_id);
    if (!call)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        rpc_call_headers_done(call);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && call->conn)
        rpc_call_remote_end(call);
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user) {
    rpc_call *call = stream_call(h2, id);
    if (call)
        rpc_call_data(call, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user) {
    rpc_call *call = stream_call(h2, id);
    if (call) {
        nghttp2_session_set_stream_user_data(h2, id, NULL);
        rpc_call_stream_closed(call, error_code);
    }
    return 0;
}

ssize_t rpc_conn_data_read_cb(nghttp2_session *h2, int32_t stream_id, uint8_t *buf,
                              size_t length, uint32_t *flags, nghttp2_data_source *src,
                              void *user_data) {
    return rpc_call_read_data(src->ptr, buf, length, flags);
}

static nghttp2_session_callbacks *shared_cbs;
static nghttp2_option *shared_opts;

static void init_shared(void) {
    if (nghttp2_session_callbacks_new(&shared_cbs) != 0 || nghttp2_option_new(&shared_opts) != 0)
        return; /* start_h2 sees NULL and refuses connections */
    nghttp2_session_callbacks_set_on_begin_headers_callback(shared_cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(shared_cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(shared_cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(shared_cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(shared_cbs, on_stream_close);
    nghttp2_option_set_max_send_header_block_length(shared_opts, 64u << 10);
}

static bool start_h2(rpc_conn *conn) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_shared);
    if (!shared_cbs || !shared_opts)
        return false; /* out of memory at the first connection */
    if (nghttp2_session_server_new2(&conn->h2, shared_cbs, conn, shared_opts) != 0)
        return false;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conn->loop->srv->cfg.max_streams_per_conn},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16u << 10},
    };
    if (nghttp2_submit_settings(conn->h2, NGHTTP2_FLAG_NONE, settings, 3) != 0 ||
        nghttp2_session_set_local_window_size(conn->h2, NGHTTP2_FLAG_NONE, 0, 16u << 20) != 0) {
        nghttp2_session_del(conn->h2);
        conn->h2 = NULL;
        return false;
    }
    if (conn->loop->draining)
        rpc_conn_drain(conn);
    return true;
}

static void set_events(rpc_conn *conn, bool want_out) {
    if (conn->out_armed == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = &conn->ev};
    if (epoll_ctl(conn->loop->epfd, EPOLL_CTL_MOD, conn->ev.fd, &ev) != 0) {
        conn->closing = true; /* it could stall unseen: give it up */
        rpc_loop_mark_dirty(conn);
        return;
    }
    conn->out_armed = want_out;
}

static void hs_unlink(rpc_conn *conn) {
    rpc_loop *loop = conn->loop;
    if (conn->hs_prev)
        conn->hs_prev->hs_next = conn->hs_next;
    else
        loop->hs_head = conn->hs_next;
    if (conn->hs_next)
        conn->hs_next->hs_prev = conn->hs_prev;
    else
        loop->hs_tail = conn->hs_prev;
    conn->hs_prev = conn->hs_next = NULL;
    conn->handshaking = false;
    loop->nhandshaking--;
}

void rpc_conn_make_handshake_room(rpc_loop *loop) {
    while (loop->hs_head && loop->nhandshaking >= loop->srv->handshakes_per_loop)
        rpc_conn_close(loop->hs_head); /* the oldest: the newest may be a real client */
}

void rpc_conn_expire_handshakes(rpc_loop *loop, int64_t now) {
    /* the list is in accept order, so in deadline order */
    while (loop->hs_head && loop->hs_head->handshake_deadline_ns <= now)
        rpc_conn_close(loop->hs_head);
}

rpc_conn *rpc_conn_new(rpc_loop *loop, int fd, bool tls, bool tcp, const char *peer) {
    if (tls)
        rpc_conn_make_handshake_room(loop);
    rpc_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return NULL;
    conn->ev.kind = RPC_EV_CONN;
    conn->ev.fd = fd;
    conn->loop = loop;
    conn->tcp = tcp;
    snprintf(conn->peer, sizeof conn->peer, "%s", peer);
    if (tls) {
        conn->ssl = SSL_new(loop->srv->ssl_ctx);
        if (!conn->ssl || SSL_set_fd(conn->ssl, fd) != 1) {
            SSL_free(conn->ssl);
            free(conn);
            return NULL;
        }
        SSL_set_accept_state(conn->ssl);
    } else if (!start_h2(conn)) {
        free(conn);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conn->ev};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (conn->h2)
            nghttp2_session_del(conn->h2);
        SSL_free(conn->ssl);
        free(conn);
        return NULL;
    }
    if (tls) {
        conn->handshaking = true;
        conn->handshake_deadline_ns =
            rpc_now_ns() + (int64_t)loop->srv->cfg.handshake_timeout_ms * 1000000LL;
        conn->hs_prev = loop->hs_tail;
        if (loop->hs_tail)
            loop->hs_tail->hs_next = conn;
        else
            loop->hs_head = conn;
        loop->hs_tail = conn;
        loop->nhandshaking++;
    }
    conn->next = loop->conns;
    if (loop->conns)
        loop->conns->prev = conn;
    loop->conns = conn;
    loop->nconns++;
    atomic_fetch_add(&loop->srv->connections, 1);
    if (tcp)
        atomic_fetch_add(&loop->srv->tcp_connections, 1);
    rpc_loop_mark_dirty(conn);
    return conn;
}

static void handshake(rpc_conn *conn) {
    ERR_clear_error();
    int r = SSL_do_handshake(conn->ssl);
    if (r != 1) {
        int e = SSL_get_error(conn->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            set_events(conn, false);
        else if (e == SSL_ERROR_WANT_WRITE)
            set_events(conn, true);
        else
            conn->closing = true; /* bad or missing client certificate, no h2, ... */
        return;
    }
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(conn->ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        conn->closing = true; /* gRPC needs HTTP/2, negotiated with ALPN */
        return;
    }
    rpc_tls_peer_identity(conn->ssl, conn->peer, sizeof conn->peer);
    hs_unlink(conn);
    set_events(conn, false);
    if (!start_h2(conn))
        conn->closing = true;
}

static void read_input(rpc_conn *conn) {
    rpc_loop *loop = conn->loop;
    for (;;) {
        ssize_t n;
        if (conn->ssl) {
            ERR_clear_error();
            int r = SSL_read(conn->ssl, loop->rbuf, sizeof loop->rbuf);
            if (r <= 0) {
                int e = SSL_get_error(conn->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    set_events(conn, true);
                    return;
                }
                conn->closing = true;
                return;
            }
            n = r;
        } else {
            n = recv(conn->ev.fd, loop->rbuf, sizeof loop->rbuf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n <= 0) {
                conn->closing = true;
                return;
            }
        }
        ssize_t used = nghttp2_session_mem_recv(conn->h2, loop->rbuf, (size_t)n);
        if (used < 0) {
            /* nghttp2 queued a GOAWAY where the protocol allows one; send it, then close */
            conn->closing = true;
            return;
        }
    }
}

void rpc_conn_on_event(rpc_conn *conn, uint32_t events) {
    rpc_loop_mark_dirty(conn);
    if (conn->closing)
        return;
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
        conn->closing = true;
        return;
    }
    if (conn->handshaking) {
        handshake(conn);
        if (conn->handshaking || conn->closing)
            return;
    }
    read_input(conn);
}

/* Gathers what nghttp2 has to send into conn->wbuf. */
static bool gather(rpc_conn *conn) {
    conn->wlen = conn->woff = 0;
    while (conn->wlen < RPC_WRITE_BATCH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(conn->h2, &p);
        if (n < 0)
            return false;
        if (n == 0)
            break;
        if (conn->wlen + (size_t)n > conn->wcap) {
            size_t cap = conn->wcap ? conn->wcap : RPC_WRITE_BATCH;
            while (cap < conn->wlen + (size_t)n)
                cap *= 2;
            uint8_t *b = realloc(conn->wbuf, cap);
            if (!b)
                return false;
            conn->wbuf = b;
            conn->wcap = cap;
        }
        memcpy(conn->wbuf + conn->wlen, p, (size_t)n);
        conn->wlen += (size_t)n;
    }
    return true;
}

/* Writes wbuf; returns 1 when all written, 0 when the socket is full, -1 on error. */
static int write_out(rpc_conn *conn) {
    while (conn->woff < conn->wlen) {
        size_t left = conn->wlen - conn->woff;
        if (conn->ssl) {
            ERR_clear_error();
            int r = SSL_write(conn->ssl, conn->wbuf + conn->woff, (int)left);
            if (r <= 0) {
                int e = SSL_get_error(conn->ssl, r);
                return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -1;
            }
            conn->woff += (size_t)r;
        } else {
            ssize_t r = send(conn->ev.fd, conn->wbuf + conn->woff, left, MSG_NOSIGNAL);
            if (r < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            conn->woff += (size_t)r;
        }
    }
    return 1;
}

void rpc_conn_flush(rpc_conn *conn) {
    if (conn->h2) {
        for (;;) {
            if (conn->woff == conn->wlen) {
                if (!gather(conn)) {
                    rpc_conn_close(conn);
                    return;
                }
                if (conn->wlen == 0)
                    break;
            }
            int r = write_out(conn);
            if (r < 0) {
                rpc_conn_close(conn);
                return;
            }
            if (r == 0) {
                set_events(conn, true);
                return;
            }
        }
        if (!conn->handshaking)
            set_events(conn, false);
        bool idle = !nghttp2_session_want_read(conn->h2) && !nghttp2_session_want_write(conn->h2);
        bool drained = conn->loop->draining && conn->ncalls == 0;
        if (idle || drained || conn->closing)
            rpc_conn_close(conn);
        return;
    }
    if (conn->closing)
        rpc_conn_close(conn);
}

void rpc_conn_drain(rpc_conn *conn) {
    if (!conn->h2) {
        conn->closing = true;
    } else if (!conn->goaway_sent) {
        conn->goaway_sent = true;
        if (nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(conn->h2),
                                  NGHTTP2_NO_ERROR, (const uint8_t *)"draining", 8) != 0)
            conn->closing = true; /* no GOAWAY: the client sees the connection close */
        for (rpc_call *c = conn->calls, *n; c; c = n) {
            n = c->next;
            if (rpc_call_is_stream(c))
                rpc_call_cancel(c, MVM_UNAVAILABLE, "mvmd is shutting down; reconnect to another node or retry later");
        }
    }
    rpc_loop_mark_dirty(conn);
}

void rpc_conn_close(rpc_conn *conn) {
    rpc_loop *loop = conn->loop;
    while (conn->calls) {
        rpc_call *c = conn->calls;
        if (conn->h2)
            nghttp2_session_set_stream_user_data(conn->h2, c->stream_id, NULL);
        rpc_call_stream_closed(c, NGHTTP2_CANCEL);
    }
    if (conn->h2)
        nghttp2_session_del(conn->h2);
    bool was_handshaking = conn->handshaking;
    if (was_handshaking)
        hs_unlink(conn);
    if (conn->ssl) {
        if (!was_handshaking)
            SSL_shutdown(conn->ssl);
        SSL_free(conn->ssl);
    }
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, conn->ev.fd, NULL);
    close(conn->ev.fd);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        loop->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    loop->nconns--;
    atomic_fetch_sub(&loop->srv->connections, 1);
    if (conn->tcp)
        atomic_fetch_sub(&loop->srv->tcp_connections, 1);
    rpc_loop_conn_closed(loop, conn->tcp);
    /* the dirty list may still name it: unlink */
    for (rpc_conn **pp = &loop->dirty; *pp; pp = &(*pp)->dirty_next) {
        if (*pp == conn) {
            *pp = conn->dirty_next;
            break;
        }
    }
    free(conn->wbuf);
    free(conn);
}
