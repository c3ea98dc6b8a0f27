/* rpc_metrics.c - Prometheus text metrics: per-method call counters by status
 * code and latency histograms (recorded lock-free by the I/O threads), open
 * connections, plus whatever registered hooks add (e.g. instances by state);
 * served over plain HTTP/1.x on its own small thread (one poll loop over up
 * to 16 scrapers), loopback by default. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc_internal.h"

static const double bucket_le[RPC_HIST_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void rpc_stats_record(rpc_stats *st, mvm_code code, int64_t elapsed_ns) {
    if ((int)code < 0 || code >= MVM_CODE_COUNT)
        code = MVM_UNKNOWN;
    atomic_fetch_add_explicit(&st->codes[code], 1, memory_order_relaxed);
    double s = (double)elapsed_ns / 1e9;
    for (int i = 0; i < RPC_HIST_BUCKETS; i++) {
        if (s <= bucket_le[i]) {
            atomic_fetch_add_explicit(&st->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&st->sum_us, (uint64_t)(elapsed_ns / 1000), memory_order_relaxed);
}

typedef struct sink {
    char *buf;
    size_t len, cap;
    bool oom; /* a line did not fit and the buffer could not grow */
} sink;

static void emit(void *arg, const char *fmt, ...) {
    sink *s = arg;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap * 2 + (size_t)n;
        char *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = true;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
}

static void emit_stats(sink *s, const char *method, rpc_stats *st) {
    uint64_t total = 0;
    for (int c = 0; c < MVM_CODE_COUNT; c++) {
        uint64_t v = atomic_load(&st->codes[c]);
        total += v;
        if (v)
            emit(s, "mvm_grpc_requests_total{method=\"%s\",code=\"%s\"} %llu\n", method,
                 mvm_code_name((mvm_code)c), (unsigned long long)v);
    }
    if (!total)
        return;
    uint64_t cum = 0;
    for (int i = 0; i < RPC_HIST_BUCKETS; i++) {
        cum += atomic_load(&st->buckets[i]);
        emit(s, "mvm_grpc_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
             method, bucket_le[i], (unsigned long long)cum);
    }
    emit(s, "mvm_grpc_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n", method,
         (unsigned long long)total);
    emit(s, "mvm_grpc_request_duration_seconds_sum{method=\"%s\"} %.6f\n", method,
         (double)atomic_load(&st->sum_us) / 1e6);
    emit(s, "mvm_grpc_request_duration_seconds_count{method=\"%s\"} %llu\n", method,
         (unsigned long long)total);
}

static void render(rpc_server *srv, sink *s) {
    emit(s, "# HELP mvm_grpc_requests_total gRPC calls finished, by method and status code.\n"
            "# TYPE mvm_grpc_requests_total counter\n"
            "# HELP mvm_grpc_request_duration_seconds Time from request headers to status.\n"
            "# TYPE mvm_grpc_request_duration_seconds histogram\n");
    for (size_t i = 0; i < srv->reg.nmethods; i++)
        emit_stats(s, srv->reg.methods[i]->path, &srv->reg.methods[i]->stats);
    emit_stats(s, "unknown", &srv->reg.unknown);
    emit(s, "# HELP mvm_grpc_connections Open client connections.\n"
            "# TYPE mvm_grpc_connections gauge\nmvm_grpc_connections %d\n",
         atomic_load(&srv->connections));
    for (rpc_hook *h = srv->metric_hooks; h; h = h->next)
        h->mfn(h->arg, emit, s);
}

/* A scrape connection being read. Requests are small; a client that has not
 * sent a whole request head within RPC_METRICS_CLIENT_NS is dropped, and
 * slow clients never hold up others: all are polled together. */
#define RPC_METRICS_CLIENTS 16
#define RPC_METRICS_CLIENT_NS (5LL * 1000000000LL)

typedef struct scrape {
    int fd;
    int64_t deadline_ns;
    size_t have;
    char req[2048];
} scrape;

static void respond(rpc_server *srv, scrape *c) {
    static const char oom_text[] = "out of memory rendering the metrics page; retry\n";
    sink body = {.buf = malloc(8192), .cap = 8192};
    const char *status = "200 OK";
    if (!body.buf) {
        body.oom = true;
    } else if (strncmp(c->req, "GET /metrics ", 13) == 0 || strncmp(c->req, "GET /metrics?", 13) == 0) {
        render(srv, &body);
    } else {
        status = "404 Not Found";
        emit(&body, "only GET /metrics is served here\n");
    }
    if (body.oom) { /* a truncated page would read as a lie: say so instead */
        free(body.buf);
        body.buf = (char *)oom_text;
        body.len = sizeof oom_text - 1;
        status = "503 Service Unavailable";
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, body.len);
    struct timeval tv = {.tv_sec = 2}; /* a client that stops reading is cut */
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int flags = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
    send(c->fd, head, (size_t)hn, MSG_NOSIGNAL);
    for (size_t off = 0; off < body.len;) {
        ssize_t n = send(c->fd, body.buf + off, body.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (body.buf != oom_text)
        free(body.buf);
}

/* Reads what is there; returns true when the client is done with. */
static bool scrape_read(rpc_server *srv, scrape *c) {
    ssize_t n = recv(c->fd, c->req + c->have, sizeof c->req - 1 - c->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (n <= 0)
        return true;
    c->have += (size_t)n;
    c->req[c->have] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") || c->have == sizeof c->req - 1) {
        respond(srv, c);
        return true;
    }
    return false;
}

static void *metrics_main(void *arg) {
    rpc_server *srv = arg;
    pthread_setname_np(pthread_self(), "mvmd-metrics");
    scrape clients[RPC_METRICS_CLIENTS];
    size_t nclients = 0;
    int64_t accept_resume_ns = 0; /* out of descriptors: accept again then */
    for (;;) {
        struct pollfd pf[2 + RPC_METRICS_CLIENTS];
        int64_t start = rpc_now_ns();
        bool paused = accept_resume_ns > start;
        /* a negative fd is skipped by poll: no spinning on a listener we cannot accept from */
        pf[0] = (struct pollfd){.fd = paused ? -1 : srv->metrics_fd, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = srv->metrics_stop_efd, .events = POLLIN};
        for (size_t i = 0; i < nclients; i++)
            pf[2 + i] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        int timeout = nclients ? 500 : paused ? (int)((accept_resume_ns - start) / 1000000) + 1 : -1;
        if (poll(pf, 2 + nclients, timeout) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        int64_t now = rpc_now_ns();
        for (size_t i = nclients; i-- > 0;) {
            if ((pf[2 + i].revents && scrape_read(srv, &clients[i])) ||
                now >= clients[i].deadline_ns) {
                close(clients[i].fd);
                clients[i] = clients[--nclients];
            }
        }
        if (pf[0].revents) {
            int fd = accept4(srv->metrics_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0 && rpc_accept_starved(errno)) {
                accept_resume_ns = now + RPC_ACCEPT_PAUSE_NS;
            } else if (fd >= 0 && nclients == RPC_METRICS_CLIENTS) {
                close(fd); /* full: the scraper retries */
            } else if (fd >= 0) {
                clients[nclients] = (scrape){.fd = fd, .deadline_ns = now + RPC_METRICS_CLIENT_NS};
                nclients++;
            }
        }
    }
    for (size_t i = 0; i < nclients; i++)
        close(clients[i].fd);
    return NULL;
}

mvm_code rpc_metrics_start(rpc_server *srv, mvm_error *err) {
    int port;
    if (rpc_listen_tcp(srv->cfg.metrics_listen, false, &srv->metrics_fd, &port, err) != MVM_OK) {
        mvm_error_context(err, "--metrics-listen");
        return err->code;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", srv->cfg.metrics_listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    snprintf(srv->metrics_addr, sizeof srv->metrics_addr, "%s:%d", host, port);
    srv->metrics_stop_efd = eventfd(0, EFD_CLOEXEC);
    if (srv->metrics_stop_efd < 0) {
        int e = errno;
        close(srv->metrics_fd);
        srv->metrics_fd = -1;
        return mvm_fail(err, MVM_INTERNAL, "metrics: eventfd: %s", strerror(e));
    }
    if (pthread_create(&srv->metrics_thread, NULL, metrics_main, srv) != 0) {
        close(srv->metrics_fd);
        close(srv->metrics_stop_efd);
        srv->metrics_fd = srv->metrics_stop_efd = -1;
        return mvm_fail(err, MVM_INTERNAL, "cannot start the metrics thread");
    }
    srv->metrics_running = true;
    return MVM_OK;
}

void rpc_metrics_stop(rpc_server *srv) {
    if (!srv->metrics_running)
        return;
    uint64_t one = 1;
    ssize_t w = write(srv->metrics_stop_efd, &one, sizeof one);
    (void)w;
    pthread_join(srv->metrics_thread, NULL);
    close(srv->metrics_fd);
    close(srv->metrics_stop_efd);
    srv->metrics_running = false;
}
