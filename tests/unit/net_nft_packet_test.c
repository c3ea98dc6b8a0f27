/* net_nft_packet_test.c - real packets through the ruleset of table inet mvm.
 * In a network namespace of its own (the host's is never touched) the test
 * builds two tenant bridges, br-tenant-1 and br-tenant-2, with their gateways
 * 10.240.1.1 and 10.240.2.1, and three "guests", each a network namespace
 * wired by a veth (eth0 inside) to its tenant's bridge: g11 10.240.1.2 and
 * g12 10.240.1.3 in tenant 1, g21 10.240.2.2 in tenant 2. Links, addresses
 * and routes are made with libnl-route-3 (the test's own scaffolding; the
 * rules under test come from net_nft). Sockets are opened inside a guest's
 * namespace by a thread that setns()es into it.
 *
 * Proves, with UDP datagrams: before the ruleset the host routes g11 -> g21
 * (so a later loss is the ruleset's doing); with it, g11 -> g21 is dropped,
 * g11 -> g12 arrives, g11 -> the gateway's listed service (udp 53) arrives
 * and to an unlisted port (udp 54) is dropped; after net_nft_host_remove
 * g11 -> g21 arrives again. Root only (exit 77, skipped, without). */
#include "check.h"
#include "net_nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#define PORT 9999

/* ---- running a function inside a network namespace, on a thread ---- */

typedef struct ns_job {
    int nsfd;              /* -1: a new namespace, whose fd goes to newfd */
    int (*fn)(void *);
    void *arg;
    int rc;
    int newfd;
} ns_job;

static void *ns_thread(void *p)
{
    ns_job *j = p;
    j->rc = -1;
    if (j->nsfd < 0) {
        if (unshare(CLONE_NEWNET) != 0)
            return NULL;
        j->newfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (j->newfd < 0)
            return NULL;
    } else if (setns(j->nsfd, CLONE_NEWNET) != 0) {
        return NULL;
    }
    j->rc = j->fn ? j->fn(j->arg) : 0;
    return NULL;
}

static int in_ns(ns_job *j)
{
    pthread_t t;
    if (pthread_create(&t, NULL, ns_thread, j) != 0 || pthread_join(t, NULL) != 0)
        return -1;
    return j->rc;
}

static int new_ns(void)
{
    ns_job j = {.nsfd = -1, .newfd = -1};
    return in_ns(&j) == 0 ? j.newfd : -1;
}

/* ---- links, addresses, routes with libnl-route-3 ---- */

static struct nl_sock *rtnl(void)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (sk && nl_connect(sk, NETLINK_ROUTE) < 0) {
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

static int link_index(struct nl_sock *sk, const char *name)
{
    struct rtnl_link *l;
    if (rtnl_link_get_kernel(sk, 0, name, &l) < 0)
        return 0;
    int i = rtnl_link_get_ifindex(l);
    rtnl_link_put(l);
    return i;
}

/* ifname up, with master when master > 0 */
static int link_up(struct nl_sock *sk, const char *name, int master)
{
    struct rtnl_link *l, *ch = rtnl_link_alloc();
    if (!ch || rtnl_link_get_kernel(sk, 0, name, &l) < 0) {
        rtnl_link_put(ch);
        return -1;
    }
    if (master > 0)
        rtnl_link_set_master(ch, master);
    rtnl_link_set_flags(ch, IFF_UP);
    int rc = rtnl_link_change(sk, l, ch, 0);
    rtnl_link_put(l);
    rtnl_link_put(ch);
    return rc;
}

static int addr_add(struct nl_sock *sk, const char *ifname, const char *cidr)
{
    struct nl_addr *local;
    struct rtnl_addr *a = rtnl_addr_alloc();
    int idx = link_index(sk, ifname);
    if (!a || idx <= 0 || nl_addr_parse(cidr, AF_INET, &local) < 0) {
        rtnl_addr_put(a);
        return -1;
    }
    rtnl_addr_set_ifindex(a, idx);
    int rc = rtnl_addr_set_local(a, local);
    if (rc == 0)
        rc = rtnl_addr_add(sk, a, 0);
    nl_addr_put(local);
    rtnl_addr_put(a);
    return rc;
}

static int default_route(struct nl_sock *sk, const char *ifname, const char *gw)
{
    struct nl_addr *dst = NULL, *via = NULL;
    struct rtnl_route *r = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    int idx = link_index(sk, ifname), rc = -1;
    if (!r || !nh || idx <= 0 || nl_addr_parse("0.0.0.0/0", AF_INET, &dst) < 0 ||
        nl_addr_parse(gw, AF_INET, &via) < 0)
        goto out;
    rtnl_route_set_family(r, AF_INET);
    if (rtnl_route_set_dst(r, dst) < 0)
        goto out;
    rtnl_route_nh_set_ifindex(nh, idx);
    rtnl_route_nh_set_gateway(nh, via);
    rtnl_route_add_nexthop(r, nh);
    nh = NULL; /* the route owns it */
    rc = rtnl_route_add(sk, r, NLM_F_CREATE);
out:
    if (nh)
        rtnl_route_nh_free(nh);
    nl_addr_put(dst);
    nl_addr_put(via);
    rtnl_route_put(r);
    return rc;
}

/* host side: veth <host_end> in this namespace, peer eth0 in guest_ns */
static int veth_to_guest(struct nl_sock *sk, const char *host_end, int guest_ns,
                         const char *bridge)
{
    struct rtnl_link *l = rtnl_link_veth_alloc();
    if (!l)
        return -1;
    struct rtnl_link *peer = rtnl_link_veth_get_peer(l);
    rtnl_link_set_name(l, host_end);
    rtnl_link_set_name(peer, "eth0");
    rtnl_link_set_ns_fd(peer, guest_ns);
    rtnl_link_put(peer);
    int rc = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_veth_release(l);
    if (rc < 0)
        return rc;
    return link_up(sk, host_end, link_index(sk, bridge));
}

typedef struct guest_cfg {
    const char *cidr, *gw;
} guest_cfg;

static int guest_setup(void *p)
{
    const guest_cfg *g = p;
    struct nl_sock *sk = rtnl();
    if (!sk)
        return -1;
    int rc = link_up(sk, "lo", 0);
    if (rc == 0)
        rc = addr_add(sk, "eth0", g->cidr);
    if (rc == 0)
        rc = link_up(sk, "eth0", 0);
    if (rc == 0)
        rc = default_route(sk, "eth0", g->gw);
    nl_socket_free(sk);
    return rc;
}

/* ---- sockets ---- */

typedef struct sock_req {
    uint16_t port; /* 0: unbound sender */
    int fd;
} sock_req;

static int udp_open(void *p)
{
    sock_req *s = p;
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    if (s->port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
        if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
            return -1;
    }
    return 0;
}

static int udp_in(int nsfd, uint16_t port)
{
    sock_req s = {.port = port, .fd = -1};
    ns_job j = {.nsfd = nsfd, .fn = udp_open, .arg = &s};
    if (nsfd < 0)
        return udp_open(&s) == 0 ? s.fd : -1;
    return in_ns(&j) == 0 ? s.fd : -1;
}

static int send_to(int fd, const char *ip, uint16_t port, const char *msg)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return -1;
    ssize_t n = sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a);
    return n == (ssize_t)strlen(msg) ? 0 : -1;
}

/* true when msg arrives on fd within wait_ms (other datagrams are skipped) */
static int arrives(int fd, const char *msg, int wait_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (poll(&pfd, 1, wait_ms) == 1) {
        char buf[128];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
            return 0;
        buf[n] = '\0';
        if (strcmp(buf, msg) == 0)
            return 1;
    }
    return 0;
}

/* a datagram that should arrive gets 5 s, one that should not 1 s */
#define ARRIVES(fd, msg) arrives(fd, msg, 5000)
#define DROPPED(fd, msg) (!arrives(fd, msg, 1000))

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -1;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: net_nft_packet_test needs root (network namespaces, nftables)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        printf("SKIP: net_nft_packet_test: unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 77;
    }
    int g11 = new_ns(), g12 = new_ns(), g21 = new_ns();
    CHECK(g11 >= 0 && g12 >= 0 && g21 >= 0);
    struct nl_sock *sk = rtnl();
    CHECK(sk != NULL);
    if (!sk || g11 < 0 || g12 < 0 || g21 < 0)
        return check_done();

    /* the node side: bridges with gateways, forwarding on */
    CHECK_EQ_INT(link_up(sk, "lo", 0), 0);
    CHECK_EQ_INT(rtnl_link_bridge_add(sk, "br-tenant-1"), 0);
    CHECK_EQ_INT(rtnl_link_bridge_add(sk, "br-tenant-2"), 0);
    CHECK_EQ_INT(addr_add(sk, "br-tenant-1", "10.240.1.1/24"), 0);
    CHECK_EQ_INT(addr_add(sk, "br-tenant-2", "10.240.2.1/24"), 0);
    CHECK_EQ_INT(link_up(sk, "br-tenant-1", 0), 0);
    CHECK_EQ_INT(link_up(sk, "br-tenant-2", 0), 0);
    CHECK_EQ_INT(veth_to_guest(sk, "vg11", g11, "br-tenant-1"), 0);
    CHECK_EQ_INT(veth_to_guest(sk, "vg12", g12, "br-tenant-1"), 0);
    CHECK_EQ_INT(veth_to_guest(sk, "vg21", g21, "br-tenant-2"), 0);
    CHECK_EQ_INT(write_file("/proc/sys/net/ipv4/ip_forward", "1"), 0);

    guest_cfg c11 = {"10.240.1.2/24", "10.240.1.1"}, c12 = {"10.240.1.3/24", "10.240.1.1"},
              c21 = {"10.240.2.2/24", "10.240.2.1"};
    ns_job j11 = {.nsfd = g11, .fn = guest_setup, .arg = &c11};
    ns_job j12 = {.nsfd = g12, .fn = guest_setup, .arg = &c12};
    ns_job j21 = {.nsfd = g21, .fn = guest_setup, .arg = &c21};
    CHECK_EQ_INT(in_ns(&j11), 0);
    CHECK_EQ_INT(in_ns(&j12), 0);
    CHECK_EQ_INT(in_ns(&j21), 0);

    int tx = udp_in(g11, 0), rx12 = udp_in(g12, PORT), rx21 = udp_in(g21, PORT);
    int svc53 = udp_in(-1, 53), svc54 = udp_in(-1, 54); /* on the node */
    CHECK(tx >= 0 && rx12 >= 0 && rx21 >= 0 && svc53 >= 0 && svc54 >= 0);

    /* without mvm's table the node routes between tenants */
    CHECK_EQ_INT(send_to(tx, "10.240.2.2", PORT, "before"), 0);
    CHECK(ARRIVES(rx21, "before"));
    CHECK_EQ_INT(send_to(tx, "10.240.1.1", 54, "before-54"), 0);
    CHECK(ARRIVES(svc54, "before-54"));

    const net_nft_tenant tenants[] = {{.net_id = 1, .subnet = "10.240.1.0/24"},
                                      {.net_id = 2, .subnet = "10.240.2.0/24"}};
    const net_nft_service services[] = {{NET_NFT_UDP, 53}};
    net_nft_host_plan plan = {.tenants = tenants, .n_tenants = 2,
                              .services = services, .n_services = 1};
    mvm_error err;
    mvm_code rc = net_nft_host_apply(&plan, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "apply: %s\n", err.msg);

    CHECK_EQ_INT(send_to(tx, "10.240.2.2", PORT, "cross"), 0);
    CHECK(DROPPED(rx21, "cross"));
    CHECK_EQ_INT(send_to(tx, "10.240.1.3", PORT, "intra"), 0);
    CHECK(ARRIVES(rx12, "intra"));
    CHECK_EQ_INT(send_to(tx, "10.240.1.1", 53, "service"), 0);
    CHECK(ARRIVES(svc53, "service"));
    CHECK_EQ_INT(send_to(tx, "10.240.1.1", 54, "not-a-service"), 0);
    CHECK(DROPPED(svc54, "not-a-service"));

    CHECK_EQ_INT(net_nft_host_remove(&err), MVM_OK);
    CHECK_EQ_INT(send_to(tx, "10.240.2.2", PORT, "after"), 0);
    CHECK(ARRIVES(rx21, "after"));

    int fds[] = {tx, rx12, rx21, svc53, svc54, g11, g12, g21};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    nl_socket_free(sk);
    return check_done();
}
