/* rpc_metrics.c - Prometheus text metrics: per-method call counters by status
 * code and latency histograms (recorded lock-free by the I/O threads), open
 * connections, plus whatever registered hooks add (e.g. instances by state);
 * served over plain HTTP/1.x on its own small thread, loopback by default. */
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
        if (!b)
            return;
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

static void serve_one(rpc_server *srv, int fd) {
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[2048];
    size_t have = 0;
    while (have < sizeof req - 1) {
        ssize_t n = recv(fd, req + have, sizeof req - 1 - have, 0);
        if (n <= 0)
            return;
        have += (size_t)n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    req[have] = '\0';
    sink body = {.buf = malloc(8192), .cap = 8192};
    if (!body.buf)
        return;
    const char *status = "200 OK";
    if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0)
        render(srv, &body);
    else {
        status = "404 Not Found";
        emit(&body, "only GET /metrics is served here\n");
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, body.len);
    send(fd, head, (size_t)hn, MSG_NOSIGNAL);
    for (size_t off = 0; off < body.len;) {
        ssize_t n = send(fd, body.buf + off, body.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(body.buf);
}

static void *metrics_main(void *arg) {
    rpc_server *srv = arg;
    struct pollfd pf[2] = {{.fd = srv->metrics_fd, .events = POLLIN},
                           {.fd = srv->metrics_stop_efd, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (pf[0].revents) {
            int fd = accept4(srv->metrics_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                serve_one(srv, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

mvm_code rpc_metrics_start(rpc_server *srv, mvm_error *err) {
    int port;
    if (rpc_listen_tcp(srv->cfg.metrics_listen, false, -1, &srv->metrics_fd, &port, err) != MVM_OK) {
        mvm_error_context(err, "--metrics-listen");
        return err->code;
    }
    /* this thread polls, then accepts: a blocking socket is what it wants */
    int flags = fcntl(srv->metrics_fd, F_GETFL);
    fcntl(srv->metrics_fd, F_SETFL, flags & ~O_NONBLOCK);
    char host[256];
    snprintf(host, sizeof host, "%s", srv->cfg.metrics_listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    snprintf(srv->metrics_addr, sizeof srv->metrics_addr, "%s:%d", host, port);
    srv->metrics_stop_efd = eventfd(0, EFD_CLOEXEC);
    if (pthread_create(&srv->metrics_thread, NULL, metrics_main, srv) != 0) {
        close(srv->metrics_fd);
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
