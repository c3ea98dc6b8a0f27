/* rpc_server.c - the server as a whole: configuration defaults, registering
 * services and hooks, binding listeners, starting the I/O loops, workers and
 * metrics thread, writing the ready file, and the ordered drain on shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpc_internal.h"

/* The TCP connection cap that leaves an eighth of the descriptor limit (at
 * least 32) to the Unix socket, LMDB, the metrics listener and the rest. */
static int default_tcp_cap(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
        return 1 << 20;
    long n = (long)rl.rlim_cur, reserve = n / 8 > 32 ? n / 8 : 32;
    return n - reserve > 1 ? (int)(n - reserve) : 1;
}

/* Fills in the defaults of rpc.h ("Limits") and refuses negative values. */
static mvm_code config_defaults(rpc_config *c, mvm_error *err) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    struct { const char *name; int *v; int def; } ints[] = {
        {"io_threads", &c->io_threads, (int)cpus},
        {"worker_threads", &c->worker_threads, cpus * 2 < 4 ? 4 : (int)cpus * 2},
        {"drain_seconds", &c->drain_seconds, 30},
        {"request_timeout_ms", &c->request_timeout_ms, 30000},
        {"handshake_timeout_ms", &c->handshake_timeout_ms, 10000},
        {"max_handshakes", &c->max_handshakes, 128},
        {"max_tcp_connections", &c->max_tcp_connections, default_tcp_cap()},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (*ints[i].v < 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "rpc: %s must not be negative (got %d)",
                            ints[i].name, *ints[i].v);
        if (*ints[i].v == 0)
            *ints[i].v = ints[i].def;
    }
    if (!c->max_message_bytes)
        c->max_message_bytes = 4u << 20;
    if (!c->max_streams_per_conn)
        c->max_streams_per_conn = 1000;
    if (!c->max_stream_queue_bytes)
        c->max_stream_queue_bytes = (size_t)16 << 20;
    if (!c->max_conn_queue_bytes)
        c->max_conn_queue_bytes = (size_t)32 << 20;
    if (!c->max_conn_input_bytes)
        c->max_conn_input_bytes = (size_t)32 << 20;
    if (!c->max_total_buffered_bytes)
        c->max_total_buffered_bytes = (size_t)256 << 20;
    return MVM_OK;
}

mvm_code rpc_server_new(const rpc_config *cfg, rpc_server **out, mvm_error *err) {
    rpc_server *srv = calloc(1, sizeof *srv);
    *out = srv;
    if (!srv)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "rpc: out of memory");
    srv->cfg = *cfg;
    srv->tcp_fd = srv->unix_fd = srv->metrics_fd = srv->shutdown_efd = -1;
    if (config_defaults(&srv->cfg, err) != MVM_OK)
        return err->code;
    srv->handshakes_per_loop =
        (unsigned)((srv->cfg.max_handshakes + srv->cfg.io_threads - 1) / srv->cfg.io_threads);
    if (!cfg->listen && !cfg->unix_socket)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "nothing to listen on: give --listen and/or --socket");
    if (rpc_descset_load(&srv->ds, cfg->descriptor_set, cfg->descriptor_set_len, err) != MVM_OK)
        return err->code;
    if (cfg->listen && !cfg->insecure && rpc_tls_ctx_new(cfg, &srv->ssl_ctx, err) != MVM_OK)
        return err->code;
    srv->shutdown_efd = eventfd(0, EFD_CLOEXEC);
    if (srv->shutdown_efd < 0)
        return mvm_fail(err, MVM_INTERNAL, "eventfd: %s", strerror(errno));
    if (rpc_health_register(srv, err) != MVM_OK || rpc_reflection_register(srv, err) != MVM_OK)
        return err->code;
    return MVM_OK;
}

mvm_code rpc_server_add_service(rpc_server *srv, ProtobufCService *service,
                                const rpc_method_rule *rules, size_t nrules, void *user_data,
                                mvm_error *err) {
    return rpc_registry_add(srv, service, rules, nrules, user_data, err);
}

static mvm_code add_hook(rpc_hook **list, void (*fn)(void *), rpc_metrics_fn mfn, void *arg,
                         mvm_error *err) {
    rpc_hook *h = calloc(1, sizeof *h);
    if (!h)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "rpc: out of memory registering a hook");
    h->fn = fn;
    h->mfn = mfn;
    h->arg = arg;
    rpc_hook **pp = list;
    while (*pp)
        pp = &(*pp)->next;
    *pp = h;
    return MVM_OK;
}

mvm_code rpc_server_add_metrics(rpc_server *srv, rpc_metrics_fn fn, void *arg, mvm_error *err) {
    return add_hook(&srv->metric_hooks, NULL, fn, arg, err);
}

mvm_code rpc_server_on_drain(rpc_server *srv, void (*fn)(void *arg), void *arg, mvm_error *err) {
    return add_hook(&srv->drain_hooks, fn, NULL, arg, err);
}

void rpc_server_shutdown(rpc_server *srv) {
    uint64_t one = 1;
    ssize_t w = write(srv->shutdown_efd, &one, sizeof one);
    (void)w;
}

static mvm_code write_ready(rpc_server *srv, mvm_error *err) {
    if (!srv->cfg.ready_file)
        return MVM_OK;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", srv->cfg.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "cannot write --ready-file %s: %s",
                        srv->cfg.ready_file, strerror(errno));
    if (srv->cfg.listen) {
        char host[256];
        snprintf(host, sizeof host, "%s", srv->cfg.listen);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        fprintf(f, "%s %s:%d\n", srv->ssl_ctx ? "tls" : "insecure", host, srv->tcp_port);
    }
    if (srv->cfg.unix_socket)
        fprintf(f, "unix %s\n", srv->cfg.unix_socket);
    if (srv->metrics_running)
        fprintf(f, "metrics %s\n", srv->metrics_addr);
    fprintf(f, "pid %d\n", (int)getpid());
    if (fclose(f) != 0 || rename(tmp, srv->cfg.ready_file) != 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "cannot write --ready-file %s: %s",
                        srv->cfg.ready_file, strerror(errno));
    return MVM_OK;
}

static mvm_code bind_all(rpc_server *srv, mvm_error *err) {
    if (srv->cfg.listen &&
        rpc_listen_tcp(srv->cfg.listen, srv->cfg.insecure, &srv->tcp_fd, &srv->tcp_port, err) != MVM_OK) {
        mvm_error_context(err, "--listen");
        return err->code;
    }
    if (srv->cfg.unix_socket && rpc_listen_unix(srv->cfg.unix_socket, &srv->unix_fd, err) != MVM_OK) {
        mvm_error_context(err, "--socket");
        return err->code;
    }
    if (srv->cfg.metrics_listen && rpc_metrics_start(srv, err) != MVM_OK)
        return err->code;
    return MVM_OK;
}

mvm_code rpc_server_run(rpc_server *srv, mvm_error *err) {
    srv->nloops = srv->cfg.io_threads;
    srv->loops = calloc((size_t)srv->nloops, sizeof *srv->loops);
    mvm_code rc = MVM_OK;
    int started = 0;
    if (!srv->loops) {
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "rpc: out of memory for %d I/O loops", srv->nloops);
        goto out;
    }
    if ((rc = bind_all(srv, err)) != MVM_OK)
        goto out;
    if ((rc = rpc_workers_start(srv->cfg.worker_threads, &srv->workers, err)) != MVM_OK)
        goto out;
    for (; started < srv->nloops; started++) {
        rpc_loop *l = &srv->loops[started];
        if ((rc = rpc_loop_init(l, srv, started, err)) != MVM_OK) {
            rpc_loop_destroy(l);
            goto out;
        }
        rpc_loop_listen(l, srv->tcp_fd, srv->unix_fd);
        if (pthread_create(&l->thread, NULL, rpc_loop_main, l) != 0) {
            rpc_loop_destroy(l);
            rc = mvm_fail(err, MVM_INTERNAL, "cannot start I/O thread %d", started);
            goto out;
        }
    }
    if ((rc = write_ready(srv, err)) != MVM_OK)
        goto out;
    if (srv->cfg.on_ready)
        srv->cfg.on_ready(srv->cfg.on_ready_arg);
    for (;;) { /* wait for rpc_server_shutdown() */
        uint64_t v;
        ssize_t r = read(srv->shutdown_efd, &v, sizeof v);
        if (r == sizeof v || (r < 0 && errno != EINTR))
            break;
    }
out:
    /* Drain: hooks first (health goes NOT_SERVING), then every loop sends
     * GOAWAY, ends streams, lets unary calls finish and exits when idle. */
    atomic_store(&srv->draining, true);
    rpc_health_set_all(srv->health, false);
    for (rpc_hook *h = srv->drain_hooks; h; h = h->next)
        h->fn(h->arg);
    for (int i = 0; i < started; i++)
        rpc_loop_post(&srv->loops[i], &srv->loops[i].drain_op);
    for (int i = 0; i < started; i++)
        pthread_join(srv->loops[i].thread, NULL);
    /* Workers finish what they run (their posts to the stopped loops wait
     * in the mailboxes); then no handler runs and the remaining cancel
     * hooks can run, here, as the loops are freed. */
    rpc_workers_stop(srv->workers);
    srv->workers = NULL;
    for (int i = 0; i < started; i++)
        rpc_loop_destroy(&srv->loops[i]);
    rpc_metrics_stop(srv);
    if (srv->unix_fd >= 0) {
        close(srv->unix_fd);
        srv->unix_fd = -1;
        unlink(srv->cfg.unix_socket);
    }
    if (srv->tcp_fd >= 0) {
        close(srv->tcp_fd);
        srv->tcp_fd = -1;
    }
    return rc;
}

void rpc_server_free(rpc_server *srv) {
    if (!srv)
        return;
    rpc_registry_free(&srv->reg);
    rpc_descset_free(&srv->ds);
    rpc_health_free(srv->health);
    if (srv->ssl_ctx)
        SSL_CTX_free(srv->ssl_ctx);
    for (rpc_hook *h = srv->drain_hooks, *n; h; h = n) {
        n = h->next;
        free(h);
    }
    for (rpc_hook *h = srv->metric_hooks, *n; h; h = n) {
        n = h->next;
        free(h);
    }
    if (srv->shutdown_efd >= 0)
        close(srv->shutdown_efd);
    free(srv->loops);
    free(srv);
}
