/* mvmc_conn.c - the byte transport under the HTTP/2 session: parses the
 * endpoint, connects a non-blocking TCP or Unix socket within a deadline,
 * and reads and writes it (through TLS when there is some), waiting with
 * poll() so that every operation honours the call's deadline. */
#include "mvmc_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

int64_t mvmc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mvmc_left_ms(int64_t deadline) {
    if (deadline < 0)
        return -1;
    int64_t left = deadline - mvmc_now_ms();
    if (left < 0)
        return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

mvm_code mvmc_wait_fd(int fd, short events, int64_t deadline, const char *what,
                      mvm_error *err) {
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, mvmc_left_ms(deadline));
        if (n > 0)
            return MVM_OK;
        if (n == 0)
            return mvm_fail(err, MVM_DEADLINE_EXCEEDED,
                            "deadline exceeded while %s", what);
        if (errno != EINTR)
            return mvm_fail(err, MVM_UNAVAILABLE, "poll: %s", strerror(errno));
    }
}

mvm_code mvmc_ssl_fail(mvm_error *err, mvm_code code, const char *what) {
    char buf[256] = "";
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e; /* the last one queued is the most specific */
    if (last)
        ERR_error_string_n(last, buf, sizeof buf);
    return mvm_fail(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* Connects fd to sa, waiting for a non-blocking connect to complete. */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len,
                        int64_t deadline) {
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN)
        return errno;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do
        n = poll(&p, 1, mvmc_left_ms(deadline));
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return ETIMEDOUT;
    if (n < 0)
        return errno;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    return soerr;
}

static mvm_code open_unix(mvmc_conn *cn, const char *path, int64_t deadline,
                          mvm_error *err) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path || !path[0])
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "bad unix socket path \"%s\"", path);
    strcpy(sa.sun_path, path);
    cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cn->fd < 0)
        return mvm_fail(err, MVM_UNAVAILABLE, "socket: %s", strerror(errno));
    int e = connect_wait(cn->fd, (struct sockaddr *)&sa, sizeof sa, deadline);
    if (e)
        return mvm_fail(err, MVM_UNAVAILABLE, "connect to unix:%s: %s", path,
                        strerror(e));
    snprintf(cn->authority, sizeof cn->authority, "localhost");
    return MVM_OK;
}

/* Splits "host:port" or "[v6]:port" into host and port. */
static mvm_code split_host_port(const char *ep, char *host, size_t hcap,
                                char *port, size_t pcap, mvm_error *err) {
    const char *colon, *hs = ep, *he;
    if (ep[0] == '[') {
        he = strchr(ep, ']');
        if (!he || he[1] != ':')
            goto bad;
        hs = ep + 1;
        colon = he + 1;
    } else {
        colon = strrchr(ep, ':');
        if (!colon || memchr(ep, ':', (size_t)(colon - ep)))
            goto bad;
        he = colon;
    }
    size_t hl = (size_t)(he - hs), pl = strlen(colon + 1);
    if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap ||
        strspn(colon + 1, "0123456789") != pl)
        goto bad;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return MVM_OK;
bad:
    return mvm_fail(err, MVM_INVALID_ARGUMENT,
                    "bad endpoint \"%s\": want unix:PATH or HOST:PORT", ep);
}

static mvm_code open_tcp(mvmc_conn *cn, const mvmc_options *o, int64_t deadline,
                         mvm_error *err) {
    char host[256], port[16];
    mvm_code rc = split_host_port(o->endpoint, host, sizeof host, port,
                                  sizeof port, err);
    if (rc)
        return rc;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g)
        return mvm_fail(err, MVM_UNAVAILABLE, "resolve %s: %s", host,
                        gai_strerror(g));
    int e = ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        cn->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (cn->fd < 0) {
            e = errno;
            continue;
        }
        e = connect_wait(cn->fd, a->ai_addr, a->ai_addrlen, deadline);
        if (!e)
            break;
        close(cn->fd);
        cn->fd = -1;
    }
    freeaddrinfo(res);
    if (cn->fd < 0)
        return mvm_fail(err, MVM_UNAVAILABLE, "connect to %s: %s",
                        o->endpoint, strerror(e));
    int one = 1;
    setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    snprintf(cn->authority, sizeof cn->authority, "%s", o->endpoint);
    if (o->insecure)
        return MVM_OK;
    cn->tls = 1;
    return mvmc_tls_start(cn, o, o->server_name ? o->server_name : host,
                          deadline, err);
}

mvm_code mvmc_conn_open(mvmc_conn *cn, const mvmc_options *o, int64_t deadline,
                        mvm_error *err) {
    memset(cn, 0, sizeof *cn);
    cn->fd = -1;
    if (!o->endpoint || !o->endpoint[0])
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "no endpoint given");
    if (strncmp(o->endpoint, "unix://", 7) == 0) /* gRPC's unix:///abs/path */
        return open_unix(cn, o->endpoint + 7, deadline, err);
    if (strncmp(o->endpoint, "unix:", 5) == 0)
        return open_unix(cn, o->endpoint + 5, deadline, err);
    return open_tcp(cn, o, deadline, err);
}

ssize_t mvmc_conn_read(mvmc_conn *cn, uint8_t *buf, size_t cap,
                       int64_t deadline, mvm_error *err) {
    for (;;) {
        short want = POLLIN;
        if (cn->ssl) {
            ERR_clear_error();
            int n = SSL_read(cn->ssl, buf, (int)(cap > 0x40000000 ? 0x40000000 : cap));
            if (n > 0)
                return n;
            int se = SSL_get_error(cn->ssl, n);
            if (se == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (se == SSL_ERROR_WANT_WRITE)
                want = POLLOUT;
            else if (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                return errno && errno != EPIPE && errno != ECONNRESET
                           ? (mvm_fail(err, MVM_UNAVAILABLE, "read: %s",
                                       strerror(errno)), -1)
                           : 0;
            else if (se != SSL_ERROR_WANT_READ) {
                mvmc_ssl_fail(err, MVM_UNAVAILABLE, "TLS connection failed");
                return -1;
            }
        } else {
            ssize_t n = read(cn->fd, buf, cap);
            if (n >= 0)
                return n;
            if (errno == ECONNRESET)
                return 0;
            if (errno != EAGAIN && errno != EINTR) {
                mvm_fail(err, MVM_UNAVAILABLE, "read: %s", strerror(errno));
                return -1;
            }
        }
        if (mvmc_wait_fd(cn->fd, want, deadline, "waiting for the server", err))
            return -1;
    }
}

/* A failed TLS write is often the server refusing us (a bad client
 * certificate under TLS 1.3 shows only after the handshake): read what the
 * server sent last, so its alert lands in the error queue. */
static mvm_code tls_write_failed(mvmc_conn *cn, mvm_error *err) {
    int saved = errno;
    uint8_t scratch[512];
    if (ERR_peek_error() == 0)
        (void)SSL_read(cn->ssl, scratch, sizeof scratch);
    if (ERR_peek_error() == 0)
        return mvm_fail(err, MVM_UNAVAILABLE, "TLS write failed: %s",
                        saved ? strerror(saved) : "connection closed");
    return mvmc_ssl_fail(err, MVM_UNAVAILABLE, "TLS connection refused");
}

mvm_code mvmc_conn_write(mvmc_conn *cn, const uint8_t *buf, size_t len,
                         int64_t deadline, mvm_error *err) {
    while (len > 0) {
        short want = POLLOUT;
        if (cn->ssl) {
            ERR_clear_error();
            int n = SSL_write(cn->ssl, buf, (int)(len > 0x40000000 ? 0x40000000 : len));
            if (n > 0) {
                buf += n;
                len -= (size_t)n;
                continue;
            }
            int se = SSL_get_error(cn->ssl, n);
            if (se == SSL_ERROR_WANT_READ)
                want = POLLIN;
            else if (se != SSL_ERROR_WANT_WRITE)
                return tls_write_failed(cn, err);
        } else {
            ssize_t n = send(cn->fd, buf, len, MSG_NOSIGNAL);
            if (n > 0) {
                buf += n;
                len -= (size_t)n;
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return mvm_fail(err, MVM_UNAVAILABLE, "write: %s",
                                strerror(errno));
        }
        mvm_code rc = mvmc_wait_fd(cn->fd, want, deadline, "sending", err);
        if (rc)
            return rc;
    }
    return MVM_OK;
}

void mvmc_conn_close(mvmc_conn *cn) {
    if (cn->ssl) {
        SSL_shutdown(cn->ssl);
        SSL_free(cn->ssl);
    }
    if (cn->ctx)
        SSL_CTX_free(cn->ctx);
    if (cn->fd >= 0)
        close(cn->fd);
    cn->ssl = NULL;
    cn->ctx = NULL;
    cn->fd = -1;
}
