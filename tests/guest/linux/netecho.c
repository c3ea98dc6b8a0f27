/* netecho.c - the network responder of mvm's Linux test guest: the guest
 * side of the network tests (tests/guest/README.md, "Network responder").
 *
 *   UDP 7  echo: each datagram goes back, unchanged, to its sender.
 *   UDP 9  control: "send A.B.C.D PORT TEXT" makes the guest send TEXT as one
 *          UDP datagram from this socket (source port 9) to A.B.C.D:PORT and
 *          answer "sent" to the requester, or "error <why>" when the request
 *          is malformed or the send fails.
 *   TCP 7  echo: each connection gets back what it sends until it closes.
 *
 * ICMP echo is the kernel's. One thread, one poll() loop; prints
 * "mvm-linux-guest: netecho up" on stdout (the console) once every socket
 * listens. Built static (tests/guest/linux.cmake) and put into the
 * initramfs as /bin/netecho, which /init starts in the background. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_PORT 7
#define CONTROL_PORT 9
#define MAX_TCP_CLIENTS 16
#define DATAGRAM_MAX 65536

enum { SLOT_UDP_ECHO, SLOT_UDP_CONTROL, SLOT_TCP_LISTEN, SLOT_FIRST_CLIENT };

static unsigned char buffer[DATAGRAM_MAX + 1];

static void complain(const char *what)
{
    fprintf(stderr, "netecho: %s: %s\n", what, strerror(errno));
}

/* A socket of `type` bound to 0.0.0.0:port (listening for TCP), or -1. */
static int bound_socket(int type, unsigned port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        complain("socket");
        return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        complain("SO_REUSEADDR");
        close(fd);
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        complain("bind");
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, MAX_TCP_CLIENTS) != 0) {
        complain("listen");
        close(fd);
        return -1;
    }
    return fd;
}

static void reply(int fd, const char *text, const struct sockaddr_in *to)
{
    if (sendto(fd, text, strlen(text), 0, (const struct sockaddr *)to, sizeof *to) < 0)
        complain("sendto (reply)");
}

/* One datagram into buffer (a NUL after it) and its sender; -1 on error. */
static ssize_t receive(int fd, struct sockaddr_in *from)
{
    socklen_t len = sizeof *from;
    ssize_t n = recvfrom(fd, buffer, DATAGRAM_MAX, 0, (struct sockaddr *)from, &len);
    if (n < 0) {
        complain("recvfrom");
        return -1;
    }
    buffer[n] = '\0';
    return n;
}

static void udp_echo(int fd)
{
    struct sockaddr_in from;
    ssize_t n = receive(fd, &from);
    if (n >= 0 && sendto(fd, buffer, (size_t)n, 0, (struct sockaddr *)&from, sizeof from) < 0)
        complain("sendto (echo)");
}

/* "send A.B.C.D PORT TEXT": TEXT is everything after the one space that
 * follows PORT (it may hold spaces, it may be empty). */
static void udp_control(int fd)
{
    struct sockaddr_in from;
    ssize_t n = receive(fd, &from);
    if (n < 0)
        return;
    char *request = (char *)buffer;
    if (strncmp(request, "send ", 5) != 0) {
        reply(fd, "error usage: send A.B.C.D PORT TEXT", &from);
        return;
    }
    char *address = request + 5;
    char *port_text = strchr(address, ' ');
    if (!port_text) {
        reply(fd, "error usage: send A.B.C.D PORT TEXT", &from);
        return;
    }
    *port_text++ = '\0';
    char *text = strchr(port_text, ' ');
    if (!text) {
        reply(fd, "error usage: send A.B.C.D PORT TEXT", &from);
        return;
    }
    *text++ = '\0';
    struct sockaddr_in to = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, address, &to.sin_addr) != 1) {
        reply(fd, "error bad address", &from);
        return;
    }
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(port_text, &end, 10);
    if (errno != 0 || end == port_text || *end != '\0' || port < 1 || port > 65535) {
        reply(fd, "error bad port", &from);
        return;
    }
    to.sin_port = htons((uint16_t)port);
    size_t text_len = (size_t)n - (size_t)(text - request);
    if (sendto(fd, text, text_len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
        char why[160];
        snprintf(why, sizeof why, "error %s", strerror(errno));
        reply(fd, why, &from);
        return;
    }
    reply(fd, "sent", &from);
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One read from a client echoed back; returns 0 to keep it, -1 to close it. */
static int tcp_echo(int fd)
{
    ssize_t n = read(fd, buffer, DATAGRAM_MAX);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return -1;
    return write_all(fd, buffer, (size_t)n);
}

int main(void)
{
    struct pollfd slots[SLOT_FIRST_CLIENT + MAX_TCP_CLIENTS];
    int count = SLOT_FIRST_CLIENT;
    slots[SLOT_UDP_ECHO].fd = bound_socket(SOCK_DGRAM, ECHO_PORT);
    slots[SLOT_UDP_CONTROL].fd = bound_socket(SOCK_DGRAM, CONTROL_PORT);
    slots[SLOT_TCP_LISTEN].fd = bound_socket(SOCK_STREAM, ECHO_PORT);
    for (int i = 0; i < SLOT_FIRST_CLIENT; i++) {
        if (slots[i].fd < 0)
            return 1;
        slots[i].events = POLLIN;
    }
    if (printf("mvm-linux-guest: netecho up\n") < 0 || fflush(stdout) != 0)
        return 1;
    for (;;) {
        if (poll(slots, (nfds_t)count, -1) < 0) {
            if (errno == EINTR)
                continue;
            complain("poll");
            return 1;
        }
        if (slots[SLOT_UDP_ECHO].revents & POLLIN)
            udp_echo(slots[SLOT_UDP_ECHO].fd);
        if (slots[SLOT_UDP_CONTROL].revents & POLLIN)
            udp_control(slots[SLOT_UDP_CONTROL].fd);
        for (int i = SLOT_FIRST_CLIENT; i < count; i++) {
            if (!slots[i].revents)
                continue;
            if (tcp_echo(slots[i].fd) != 0) {
                if (close(slots[i].fd) != 0)
                    complain("close");
                slots[i--] = slots[--count];  /* the moved slot is looked at next */
            }
        }
        if (slots[SLOT_TCP_LISTEN].revents & POLLIN) {
            int client = accept4(slots[SLOT_TCP_LISTEN].fd, NULL, NULL, SOCK_CLOEXEC);
            if (client < 0) {
                complain("accept");
            } else if (count == SLOT_FIRST_CLIENT + MAX_TCP_CLIENTS) {
                if (close(client) != 0)  /* full: the client sees its connection closed */
                    complain("close");
            } else {
                slots[count].fd = client;
                slots[count].events = POLLIN;
                slots[count].revents = 0;
                count++;
            }
        }
    }
}
