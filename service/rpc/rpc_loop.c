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
        (void)w; /* the counter cannot overflow: the reader resets it */
    }
}

static void start_drain(rpc_loop *loop);

/* Takes every posted op and, on the loop thread, applies it (apply) or,
 * once the loop has stopped, only queues due hooks and frees the rest. */
static void take_mailbox(rpc_loop *loop, bool apply) {
    uint64_t v;
    ssize_t r = read(loop->mailbox.fd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing was signalled, the list may still hold ops */
    pthread_mutex_lock(&loop->mbox_mu);
    rpc_op *op = loop->mbox_head;
    loop->mbox_head = loop->mbox_tail = NULL;
    pthread_mutex_unlock(&loop->mbox_mu);
    while (op) {
        rpc_op *next = op->next;
        if (op->kind == RPC_OP_DRAIN) {
            if (apply)
                start_drain(loop);
        } else if (apply || op->kind == RPC_OP_HOOK) {
            rpc_call_apply(op);
        }
        rpc_op_free(op);
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

/* ---- end hooks, run at the end of a loop turn ---- */

void rpc_loop_queue_hook(rpc_loop *loop, rpc_call *call) {
    if (call->hook_queued)
        return;
    call->hook_queued = true;
    rpc_call_ref(call);
    call->hook_next = loop->hooks;
    loop->hooks = call;
}

static void run_hooks(rpc_loop *loop) {
    while (loop->hooks) { /* a hook may cancel other calls: they join the list */
        rpc_call *call = loop->hooks;
        loop->hooks = call->hook_next;
        call->hook_queued = false;
        rpc_call_run_hook(call);
        rpc_call_unref(call);
    }
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
    while (i > 0 && l->heap[(i - 1) / 2]->due_ns > l->heap[i]->due_ns) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(rpc_loop *l, size_t i) {
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = a + 1;
        if (a < l->heap_len && l->heap[a]->due_ns < l->heap[m]->due_ns)
            m = a;
        if (b < l->heap_len && l->heap[b]->due_ns < l->heap[m]->due_ns)
            m = b;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

static bool deadline_add(rpc_loop *l, rpc_call *call) {
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
        rpc_call **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return false;
        l->heap = h;
        l->heap_cap = cap;
    }
    call->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = call;
    heap_up(l, call->heap_idx);
    return true;
}

bool rpc_loop_deadline_update(rpc_loop *l, rpc_call *call) {
    int64_t due = call->deadline_ns;
    if (call->read_deadline_ns && (!due || call->read_deadline_ns < due))
        due = call->read_deadline_ns;
    rpc_loop_deadline_remove(l, call);
    call->due_ns = due;
    return !due || deadline_add(l, call);
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
    while (l->heap_len > 0 && l->heap[0]->due_ns <= now) {
        rpc_call *call = l->heap[0];
        rpc_loop_deadline_remove(l, call);
        rpc_call_expire(call, now);
    }
}

static int64_t min_ns(int64_t a, int64_t b) {
    return a < b ? a : b;
}

static int next_timeout_ms(rpc_loop *l) {
    int64_t next = INT64_MAX;
    if (l->hs_head) /* the oldest handshake is the first to be overdue */
        next = l->hs_head->handshake_deadline_ns;
    if (l->heap_len > 0)
        next = min_ns(next, l->heap[0]->due_ns);
    if (l->draining)
        next = min_ns(next, l->drain_deadline_ns);
    rpc_listener *ls[] = {&l->tcp, &l->unix_listen};
    for (size_t i = 0; i < 2; i++)
        if (ls[i]->resume_ns)
            next = min_ns(next, ls[i]->resume_ns);
    if (next == INT64_MAX)
        return -1;
    int64_t ms = (next - rpc_now_ns() + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* ---- accepting ---- */

/* Adds the listener to, or takes it out of, this loop's epoll set. */
static void listener_arm(rpc_loop *loop, rpc_listener *l, bool on) {
    if (l->ev.fd < 0 || l->armed == on)
        return;
    if (on) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->ev};
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, l->ev.fd, &ev) != 0) {
            l->resume_ns = rpc_now_ns() + RPC_ACCEPT_PAUSE_NS; /* try again later */
            return;
        }
    } else {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, l->ev.fd, NULL);
    }
    l->armed = on;
}

/* Stops accepting on l for a while: pending connections wait in the
 * kernel's backlog instead of waking this loop again and again. */
static void listener_pause(rpc_loop *loop, rpc_listener *l) {
    listener_arm(loop, l, false);
    l->resume_ns = rpc_now_ns() + RPC_ACCEPT_PAUSE_NS;
}

static void listeners_resume(rpc_loop *loop, int64_t now) {
    rpc_listener *ls[] = {&loop->tcp, &loop->unix_listen};
    for (size_t i = 0; i < 2; i++) {
        if (ls[i]->resume_ns && ls[i]->resume_ns <= now) {
            ls[i]->resume_ns = 0;
            listener_arm(loop, ls[i], true);
        }
    }
}

void rpc_loop_conn_closed(rpc_loop *loop, bool tcp) {
    (void)tcp; /* a descriptor is free again, and maybe a TCP slot */
    if (loop->tcp.resume_ns)
        loop->tcp.resume_ns = 1;
    if (loop->unix_listen.resume_ns)
        loop->unix_listen.resume_ns = 1;
}

bool rpc_accept_starved(int err) {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void peer_name(rpc_server *srv, rpc_ev_kind kind, int fd, const struct sockaddr_storage *ss,
                      char *peer, size_t cap) {
    if (kind == RPC_EV_UNIX) {
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            snprintf(peer, cap, "uid=%u", (unsigned)cred.uid);
        else
            snprintf(peer, cap, "uid=?");
        return;
    }
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        port = ntohs(sin->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        port = ntohs(sin6->sin6_port);
    }
    snprintf(peer, cap, "%s:%s:%d", srv->ssl_ctx ? "tls" : "insecure", host, port);
}

/* Accepts one connection per wake-up: listeners are shared by every loop
 * (EPOLLEXCLUSIVE, level-triggered), so the next pending connection wakes
 * the next idle loop and connections spread over the loops. At the TCP
 * connection cap, or when the process is out of descriptors or memory, the
 * listener is paused (see rpc.h, "Limits") rather than spun on. */
static void accept_one(rpc_loop *loop, rpc_listener *l) {
    rpc_server *srv = loop->srv;
    bool tcp = l->ev.kind == RPC_EV_TCP;
    if (tcp && atomic_load(&srv->tcp_connections) >= srv->cfg.max_tcp_connections) {
        listener_pause(loop, l);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (rpc_accept_starved(errno))
            listener_pause(loop, l);
        return; /* EAGAIN: another loop took it; ECONNABORTED & co.: that one is gone */
    }
    if (loop->draining) {
        close(fd);
        return;
    }
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char peer[RPC_PEER_MAX];
    peer_name(srv, l->ev.kind, fd, &ss, peer, sizeof peer);
    if (!rpc_conn_new(loop, fd, tcp && srv->ssl_ctx != NULL, tcp, peer))
        close(fd); /* out of memory: the client sees the connection close */
}

/* ---- drain and the loop itself ---- */

static void start_drain(rpc_loop *loop) {
    if (loop->draining)
        return;
    loop->draining = true;
    loop->drain_deadline_ns = rpc_now_ns() + (int64_t)loop->srv->cfg.drain_seconds * 1000000000LL;
    rpc_listener *ls[] = {&loop->tcp, &loop->unix_listen};
    for (size_t i = 0; i < 2; i++) { /* shared; the server closes them */
        listener_arm(loop, ls[i], false);
        ls[i]->ev.fd = -1;
        ls[i]->resume_ns = 0;
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

/* The end of a turn: hooks of calls cancelled during it (none runs inside
 * a handler or an rpc_* call), then one write per touched connection;
 * closing a connection cancels its calls, so repeat until both are done. */
static void end_turn(rpc_loop *loop) {
    while (loop->hooks || loop->dirty) {
        run_hooks(loop);
        flush_dirty(loop);
    }
}

mvm_code rpc_loop_init(rpc_loop *loop, rpc_server *srv, int idx, mvm_error *err) {
    memset(loop, 0, sizeof *loop);
    loop->srv = srv;
    loop->idx = idx;
    loop->tcp.ev.fd = loop->unix_listen.ev.fd = -1;
    loop->tcp.ev.kind = RPC_EV_TCP;
    loop->unix_listen.ev.kind = RPC_EV_UNIX;
    loop->mailbox.kind = RPC_EV_MAILBOX;
    loop->mailbox.fd = -1;
    loop->drain_op.kind = RPC_OP_DRAIN;
    loop->drain_op.embedded = true;
    pthread_mutex_init(&loop->mbox_mu, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return mvm_fail(err, MVM_INTERNAL, "creating I/O loop %d: epoll: %s", idx, strerror(errno));
    loop->mailbox.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->mailbox.fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "creating I/O loop %d: eventfd: %s", idx, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop->mailbox};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->mailbox.fd, &ev) != 0)
        return mvm_fail(err, MVM_INTERNAL, "creating I/O loop %d: epoll_ctl: %s", idx, strerror(errno));
    return MVM_OK;
}

/* Adds the listening sockets, shared by all loops (EPOLLEXCLUSIVE: one
 * loop is woken per pending connection). */
void rpc_loop_listen(rpc_loop *loop, int tcp_fd, int unix_fd) {
    loop->tcp.ev.fd = tcp_fd;
    loop->unix_listen.ev.fd = unix_fd;
    listener_arm(loop, &loop->tcp, true);
    listener_arm(loop, &loop->unix_listen, true);
}

void *rpc_loop_main(void *arg) {
    rpc_loop *loop = arg;
    rpc_current_loop = loop;
    pthread_setname_np(pthread_self(), "mvmd-io");
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
                if (!loop->draining)
                    accept_one(loop, (rpc_listener *)ev);
                break;
            case RPC_EV_MAILBOX:
                take_mailbox(loop, true);
                break;
            case RPC_EV_CONN:
                rpc_conn_on_event((rpc_conn *)ev, evs[i].events);
                break;
            }
        }
        int64_t now = rpc_now_ns();
        listeners_resume(loop, now);
        expire_deadlines(loop);
        rpc_conn_expire_handshakes(loop, now);
        end_turn(loop);
        if (loop->draining) {
            if (rpc_now_ns() >= loop->drain_deadline_ns) {
                while (loop->conns)
                    rpc_conn_close(loop->conns);
                end_turn(loop);
            }
            if (loop->nconns == 0)
                break;
        }
    }
    return NULL;
}

void rpc_loop_destroy(rpc_loop *loop) {
    if (loop->mailbox.fd >= 0)
        take_mailbox(loop, false); /* posted after the loop stopped */
    while (loop->conns)
        rpc_conn_close(loop->conns);
    run_hooks(loop);
    if (loop->mailbox.fd >= 0) {
        take_mailbox(loop, false);
        close(loop->mailbox.fd);
    }
    if (loop->epfd >= 0)
        close(loop->epfd);
    free(loop->heap);
    pthread_mutex_destroy(&loop->mbox_mu);
}
