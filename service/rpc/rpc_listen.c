/* rpc_listen.c - opening the listening sockets: TCP from "HOST:PORT"
 * (plaintext only on loopback), and the Unix socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc_internal.h"

/* Splits "host:port" or "[v6]:port". */
static mvm_code split_hostport(const char *in, char *host, size_t hcap, char *port,
                               size_t pcap, mvm_error *err) {
    const char *colon;
    if (in[0] == '[') {
        const char *end = strchr(in, ']');
        if (!end || end[1] != ':')
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "bad address \"%s\": want [IPv6]:PORT", in);
        snprintf(host, hcap, "%.*s", (int)(end - in - 1), in + 1);
        colon = end + 1;
    } else {
        colon = strrchr(in, ':');
        if (!colon)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "bad address \"%s\": want HOST:PORT", in);
        snprintf(host, hcap, "%.*s", (int)(colon - in), in);
    }
    snprintf(port, pcap, "%s", colon + 1);
    if (!port[0] || strspn(port, "0123456789") != strlen(port))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "bad port in \"%s\"", in);
    return MVM_OK;
}

static bool is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

mvm_code rpc_listen_tcp(const char *hostport, bool insecure, int *fd_out, int *port_out,
                        mvm_error *err) {
    char host[256], portstr[16];
    if (split_hostport(hostport, host, sizeof host, portstr, sizeof portstr, err) != MVM_OK)
        return err->code;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (rc != 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "cannot resolve listen address \"%s\": %s",
                        hostport, gai_strerror(rc));
    if (insecure && !is_loopback(ai->ai_addr)) {
        freeaddrinfo(ai);
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "--insecure serves plaintext without client authentication and is "
                        "refused on the non-loopback address %s; use TLS (--tls-cert, "
                        "--tls-key, --client-ca) or listen on 127.0.0.1", hostport);
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        /* SO_REUSEADDR only: no SO_REUSEPORT, so no other process can join the port */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return mvm_fail(err, MVM_UNAVAILABLE, "cannot listen on %s: %s", hostport, strerror(e));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return MVM_OK;
}

mvm_code rpc_listen_unix(const char *path, int *fd_out, mvm_error *err) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "--socket path is too long (max %zu bytes): %s",
                        sizeof sun.sun_path - 1, path);
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "socket: %s", strerror(errno));
    /* A socket file left by a crashed mvmd is stale only if nobody answers on it. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            close(fd);
            return mvm_fail(err, MVM_UNAVAILABLE, "another process is serving on %s", path);
        }
        unlink(path);
    }
    mode_t old = umask(0117); /* socket file 0660: its permissions are the access control */
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return mvm_fail(err, MVM_UNAVAILABLE, "cannot listen on %s: %s", path, strerror(e));
    }
    *fd_out = fd;
    return MVM_OK;
}
