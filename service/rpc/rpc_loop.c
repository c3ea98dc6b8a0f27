/* rpc_loop.c - one I/O thread: an epoll loop over its listeners, its
 * connections and its mailbox (an eventfd other threads post rpc_ops to),
 * a min-heap of call deadlines, and the end-of-turn flush that writes each
 * touched connection's output in one go. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc_internal.h"

int64_t rpc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- mailbox ---- */

void rpc_loop_post(rpc_loop *loop, rpc_op *op) {
    op->next = NULL;
    pthread_mutex_lock(&loop->mbox_mu);
    if (loop->exited) {
        pthread_mutex_unlock(&loop->mbox_mu);
        if (op->call) {
            free(op->chunk);
            rpc_call_unref(op->call);
        }
        free(op->msg);
        free(op);
        return;
    }
    bool was_empty = loop->mbox_head == NULL;
    if (loop->mbox_tail)
        loop->mbox_tail->next = op;
    else
        loop->mbox_head = op;
    loop->mbox_tail = op;
    pthread_mutex_unlock(&loop->mbox_mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(loop->mailbox.fd, &one, sizeof one);
        (void)w;
    }
}

static void start_drain(rpc_loop *loop);

static void drain_mailbox(rpc_loop *loop) {
    uint64_t v;
    ssize_t r = read(loop->mailbox.fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&loop->mbox_mu);
    rpc_op *op = loop->mbox_head;
    loop->mbox_head = loop->mbox_tail = NULL;
    pthread_mutex_unlock(&loop->mbox_mu);
    while (op) {
        rpc_op *next = op->next;
        if (op->kind == RPC_OP_DRAIN) {
            start_drain(loop);
        } else {
            rpc_call_apply(op);
            rpc_call_unref(op->call);
        }
        free(op->msg);
        free(op);
        op = next;
    }
}

void rpc_loop_mark_dirty(rpc_conn *conn) {
    if (conn->dirty)
        return;
    conn->dirty = true;
    conn->dirty_next = conn->loop->dirty;
    conn->loop->dirty = conn;
}

/* ---- deadline heap ---- */

static void heap_swap(rpc_loop *l, size_t a, size_t b) {
    rpc_call *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(rpc_loop *l, size_t i) {
    while (i > 0 && l->heap[(i - 1) / 2]->deadline_ns > l->heap[i]->deadline_ns) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(rpc_loop *l, size_t i) {
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = a + 1;
        if (a < l->heap_len && l->heap[a]->deadline_ns < l->heap[m]->deadline_ns)
            m = a;
        if (b < l->heap_len && l->heap[b]->deadline_ns < l->heap[m]->deadline_ns)
            m = b;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void rpc_loop_deadline_add(rpc_loop *l, rpc_call *call) {
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
        rpc_call **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return; /* the call simply runs without a deadline */
        l->heap = h;
        l->heap_cap = cap;
    }
    call->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = call;
    heap_up(l, call->heap_idx);
}

void rpc_loop_deadline_remove(rpc_loop *l, rpc_call *call) {
    size_t i = call->heap_idx;
    if (i == SIZE_MAX)
        return;
    call->heap_idx = SIZE_MAX;
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

static void expire_deadlines(rpc_loop *l) {
    int64_t now = rpc_now_ns();
    while (l->heap_len > 0 && l->heap[0]->deadline_ns <= now) {
        rpc_call *call = l->heap[0];
        char msg[96];
        snprintf(msg, sizeof msg, "deadline of %lld ms exceeded",
                 (long long)(call->timeout_ns / 1000000));
        rpc_loop_deadline_remove(l, call);
        rpc_call_cancel(call, MVM_DEADLINE_EXCEEDED, msg);
    }
}

/* Closes connections whose TLS handshake has not finished in time. */
static void expire_handshakes(rpc_loop *l) {
    if (l->nhandshaking == 0)
        return;
    int64_t now = rpc_now_ns();
    for (rpc_conn *c = l->conns; c; c = c->next)
        if (c->handshaking && c->handshake_deadline_ns <= now && !c->closing) {
            c->closing = true;
            rpc_loop_mark_dirty(c);
        }
}

static int next_timeout_ms(rpc_loop *l) {
    int64_t next = INT64_MAX;
    if (l->nhandshaking > 0) /* swept once a second */
        next = rpc_now_ns() + 1000000000LL;
    if (l->heap_len > 0 && l->heap[0]->deadline_ns < next)
        next = l->heap[0]->deadline_ns;
    if (l->draining && l->drain_deadline_ns < next)
        next = l->drain_deadline_ns;
    if (next == INT64_MAX)
        return -1;
    int64_t ms = (next - rpc_now_ns() + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* ---- accepting ---- */

/* Accepts one connection per wake-up: listeners are shared by every loop
 * (EPOLLEXCLUSIVE, level-triggered), so the next pending connection wakes
 * the next idle loop and connections spread over the loops. */
static void accept_one(rpc_loop *loop, rpc_ev *ev) {
    rpc_server *srv = loop->srv;
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(ev->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: another loop took it */
        if (loop->draining) {
            close(fd);
            return;
        }
        char peer[RPC_PEER_MAX];
        bool tls = false;
        if (ev->kind == RPC_EV_UNIX) {
            struct ucred cred;
            socklen_t cl = sizeof cred;
            if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
                snprintf(peer, sizeof peer, "uid=%u", (unsigned)cred.uid);
            else
                snprintf(peer, sizeof peer, "uid=?");
        } else {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            char host[INET6_ADDRSTRLEN] = "?";
            int port = 0;
            if (ss.ss_family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
                port = ntohs(sin->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
                port = ntohs(sin6->sin6_port);
            }
            tls = srv->ssl_ctx != NULL;
            snprintf(peer, sizeof peer, "%s:%s:%d", tls ? "tls" : "insecure", host, port);
        }
        if (!rpc_conn_new(loop, fd, tls, peer))
            close(fd);
    }
}

/* ---- drain and the loop itself ---- */

static void start_drain(rpc_loop *loop) {
    if (loop->draining)
        return;
    loop->draining = true;
    loop->drain_deadline_ns = rpc_now_ns() + (int64_t)loop->srv->cfg.drain_seconds * 1000000000LL;
    rpc_ev *listeners[] = {&loop->tcp, &loop->unix_listen};
    for (size_t i = 0; i < 2; i++) {
        if (listeners[i]->fd >= 0) { /* shared; the server closes it */
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, listeners[i]->fd, NULL);
            listeners[i]->fd = -1;
        }
    }
    for (rpc_conn *c = loop->conns; c; c = c->next)
        rpc_conn_drain(c);
}

static void flush_dirty(rpc_loop *loop) {
    while (loop->dirty) {
        rpc_conn *c = loop->dirty;
        loop->dirty = c->dirty_next;
        c->dirty = false;
        rpc_conn_flush(c);
    }
}

mvm_code rpc_loop_init(rpc_loop *loop, rpc_server *srv, int idx, mvm_error *err) {
    memset(loop, 0, sizeof *loop);
    loop->srv = srv;
    loop->idx = idx;
    loop->tcp.fd = loop->unix_listen.fd = -1;
    loop->tcp.kind = RPC_EV_TCP;
    loop->unix_listen.kind = RPC_EV_UNIX;
    loop->mailbox.kind = RPC_EV_MAILBOX;
    pthread_mutex_init(&loop->mbox_mu, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->mailbox.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->mailbox.fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "creating I/O loop %d: %s", idx, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop->mailbox};
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->mailbox.fd, &ev);
    return MVM_OK;
}

/* Adds the listening sockets, shared by all loops (EPOLLEXCLUSIVE: one
 * loop is woken per pending connection). */
void rpc_loop_listen(rpc_loop *loop, int tcp_fd, int unix_fd) {
    int fds[2] = {tcp_fd, unix_fd};
    rpc_ev *evs[2] = {&loop->tcp, &loop->unix_listen};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        evs[i]->fd = fds[i];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = evs[i]};
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fds[i], &ev);
    }
}

void *rpc_loop_main(void *arg) {
    rpc_loop *loop = arg;
    rpc_current_loop = loop;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(loop->epfd, evs, 256, next_timeout_ms(loop));
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            rpc_ev *ev = evs[i].data.ptr;
            switch (ev->kind) {
            case RPC_EV_TCP:
            case RPC_EV_UNIX:
                accept_one(loop, ev);
                break;
            case RPC_EV_MAILBOX:
                drain_mailbox(loop);
                break;
            case RPC_EV_CONN:
                rpc_conn_on_event((rpc_conn *)ev, evs[i].events);
                break;
            }
        }
        expire_deadlines(loop);
        expire_handshakes(loop);
        flush_dirty(loop);
        if (loop->draining) {
            if (rpc_now_ns() >= loop->drain_deadline_ns)
                while (loop->conns)
                    rpc_conn_close(loop->conns);
            if (loop->nconns == 0)
                break;
        }
    }
    /* Late posts (a worker finishing a call that was cut) are dropped here. */
    pthread_mutex_lock(&loop->mbox_mu);
    rpc_op *op = loop->mbox_head;
    loop->mbox_head = loop->mbox_tail = NULL;
    loop->exited = true;
    pthread_mutex_unlock(&loop->mbox_mu);
    while (op) {
        rpc_op *next = op->next;
        if (op->call) {
            free(op->chunk);
            rpc_call_unref(op->call);
        }
        free(op->msg);
        free(op);
        op = next;
    }
    return NULL;
}

void rpc_loop_destroy(rpc_loop *loop) {
    while (loop->conns)
        rpc_conn_close(loop->conns);
    close(loop->mailbox.fd);
    close(loop->epfd);
    free(loop->heap);
    pthread_mutex_destroy(&loop->mbox_mu);
}
