/* net_link_test.c - service/net (mvm_net) against the real kernel, inside a
 * network and mount namespace of its own (nothing touches the host's
 * interfaces; /run/netns is a tmpfs private to the test). Every result is
 * read back through libnl-route-3, sysfs mounted inside the instance netns
 * (the TAP's owner) and /proc/sys (forwarding), never by running `ip`.
 * Exits 77 (SKIP) when not root or when namespaces cannot be made. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "check.h"
#include "net.h"

/* ---- read-back helpers (libnl directly, in the calling thread's netns) ---- */

typedef struct link_seen {
    int ifindex, master;
    unsigned flags;
    char kind[16];
    uint8_t mac[6];
} link_seen;

static struct nl_sock *nl(void) {
    struct nl_sock *sk = nl_socket_alloc();
    if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0) {
        fprintf(stderr, "netlink socket failed\n");
        exit(1);
    }
    return sk;
}

static link_seen seen(const char *name) {
    link_seen s;
    memset(&s, 0, sizeof s);
    struct nl_sock *sk = nl();
    struct rtnl_link *l = NULL;
    if (rtnl_link_get_kernel(sk, 0, name, &l) >= 0) {
        s.ifindex = rtnl_link_get_ifindex(l);
        s.master = rtnl_link_get_master(l);
        s.flags = rtnl_link_get_flags(l);
        if (rtnl_link_get_type(l))
            snprintf(s.kind, sizeof s.kind, "%s", rtnl_link_get_type(l));
        struct nl_addr *a = rtnl_link_get_addr(l);
        if (a && nl_addr_get_len(a) == 6)
            memcpy(s.mac, nl_addr_get_binary_addr(a), 6);
        rtnl_link_put(l);
    }
    nl_socket_free(sk);
    return s;
}

struct addr_q {
    int ifindex, plen, found;
    struct in_addr a;
};
static void addr_cb(struct nl_object *o, void *arg) {
    struct addr_q *q = arg;
    struct rtnl_addr *a = (struct rtnl_addr *)o;
    struct nl_addr *l = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) == q->ifindex && l && nl_addr_get_len(l) == 4 &&
        memcmp(nl_addr_get_binary_addr(l), &q->a, 4) == 0 && rtnl_addr_get_prefixlen(a) == q->plen)
        q->found = 1;
}
static int has_addr(const char *dev, const char *ip, int plen) {
    struct addr_q q = {.ifindex = seen(dev).ifindex, .plen = plen};
    inet_pton(AF_INET, ip, &q.a);
    struct nl_sock *sk = nl();
    struct nl_cache *c = NULL;
    if (q.ifindex && rtnl_addr_alloc_cache(sk, &c) >= 0) {
        nl_cache_foreach(c, addr_cb, &q);
        nl_cache_free(c);
    }
    nl_socket_free(sk);
    return q.found;
}

struct route_q {
    struct in_addr gw;
    int found;
};
static void nh_cb(struct rtnl_nexthop *nh, void *arg) {
    struct route_q *q = arg;
    struct nl_addr *g = rtnl_route_nh_get_gateway(nh);
    if (g && nl_addr_get_len(g) == 4 && memcmp(nl_addr_get_binary_addr(g), &q->gw, 4) == 0)
        q->found = 1;
}
static void route_cb(struct nl_object *o, void *arg) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    struct nl_addr *d = rtnl_route_get_dst(r);
    if (rtnl_route_get_table(r) == RT_TABLE_MAIN && (!d || nl_addr_get_prefixlen(d) == 0))
        rtnl_route_foreach_nexthop(r, nh_cb, arg);
}
static int has_default_via(const char *gw) {
    struct route_q q = {.found = 0};
    inet_pton(AF_INET, gw, &q.gw);
    struct nl_sock *sk = nl();
    struct nl_cache *c = NULL;
    if (rtnl_route_alloc_cache(sk, AF_INET, 0, &c) >= 0) {
        nl_cache_foreach(c, route_cb, &q);
        nl_cache_free(c);
    }
    nl_socket_free(sk);
    return q.found;
}

static long read_long(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* net_instance_remove leaves the devices of the netns (and with eth0 the
 * host veth) to the kernel's asynchronous netns cleanup: true once link
 * `name` is gone, waiting for that cleanup up to 10 s. */
static int link_gone(const char *name) {
    for (int i = 0; i < 1000; i++) {
        if (seen(name).ifindex == 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- what an instance netns must hold, read from inside it ---- */

typedef struct inside_seen {
    link_seen tap, eth0, lo;
    int tap_addr, eth0_addr, route, forward;
    long owner, group;
} inside_seen;
typedef struct inside_q {
    const char *ip, *gw;
    inside_seen s;
} inside_q;

static mvm_code look_inside(void *arg, mvm_error *err) {
    inside_q *q = arg;
    q->s.tap = seen("tap0");
    q->s.eth0 = seen("eth0");
    q->s.lo = seen("lo");
    q->s.tap_addr = has_addr("tap0", "172.16.0.1", 30);
    q->s.eth0_addr = has_addr("eth0", q->ip, 24);
    q->s.route = has_default_via(q->gw);
    q->s.forward = (int)read_long("/proc/sys/net/ipv4/ip_forward");
    /* sysfs shows the netns of whoever mounts it: mount one here */
    q->s.owner = q->s.group = -2;
    char dir[] = "/tmp/mvm-net-sysXXXXXX";
    if (mkdtemp(dir)) {
        if (mount("sysfs", dir, "sysfs", 0, NULL) == 0) {
            char p[128];
            snprintf(p, sizeof p, "%s/class/net/tap0/owner", dir);
            q->s.owner = read_long(p);
            snprintf(p, sizeof p, "%s/class/net/tap0/group", dir);
            q->s.group = read_long(p);
            umount2(dir, MNT_DETACH);
        }
        rmdir(dir);
    }
    return MVM_OK;
}

static inside_seen inside(const char *netns, const char *ip, const char *gw) {
    inside_q q = {.ip = ip, .gw = gw};
    mvm_error err;
    if (net_ns_run(netns, look_inside, &q, &err) != MVM_OK)
        fprintf(stderr, "entering %s: %s\n", netns, err.msg);
    return q.s;
}

/* ---- foreign objects the library must leave alone ---- */

static void make_foreign_bridge(const char *name) {
    struct nl_sock *sk = nl();
    CHECK(rtnl_link_bridge_add(sk, name) >= 0);
    nl_socket_free(sk);
}
static void make_foreign_veth(const char *a, const char *b) {
    struct nl_sock *sk = nl();
    CHECK(rtnl_link_veth_add(sk, a, b, getpid()) >= 0);
    nl_socket_free(sk);
}
static void delete_link(const char *name) {
    struct nl_sock *sk = nl();
    struct rtnl_link *l = rtnl_link_alloc();
    rtnl_link_set_name(l, name);
    CHECK(rtnl_link_delete(sk, l) >= 0);
    rtnl_link_put(l);
    nl_socket_free(sk);
}

/* ---- net_list ---- */

typedef struct listed {
    char names[32][80];
    int n;
} listed;
static int list_cb(net_object_kind kind, const char *name, void *arg) {
    listed *l = arg;
    if (l->n < 32)
        snprintf(l->names[l->n++], sizeof l->names[0], "%d:%s", (int)kind, name);
    return 0;
}
static int listed_has(const listed *l, net_object_kind kind, const char *name) {
    char want[80];
    snprintf(want, sizeof want, "%d:%s", (int)kind, name);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], want) == 0)
            return 1;
    return 0;
}

/* ---- the cases ---- */

static net_instance_spec spec_of(const char *id, uint32_t net_id, const char *ip, uint8_t last) {
    net_instance_spec s = {.instance_id = id, .net_id = net_id, .tenant_ip = ip,
                           .gateway = "10.240.7.1", .tap_uid = 1234, .tap_gid = 2345};
    const uint8_t mac[6] = {0x02, 0x00, 0x0a, 0xf0, 0x07, last};
    memcpy(s.mac, mac, 6);
    return s;
}

static void veth_of(const char *id, char *out) {
    mvm_error err;
    if (net_host_veth_name(id, out, &err) != MVM_OK)
        out[0] = '\0';
}

static void test_names(void) {
    char b[NET_IFNAME_MAX], v[NET_IFNAME_MAX], ns[NET_INSTANCE_ID_MAX + 8];
    mvm_error err;
    CHECK_EQ_INT(net_bridge_name(99999, b, &err), MVM_OK);
    CHECK_EQ_STR(b, "br-tenant-99999");
    CHECK_EQ_INT(net_bridge_name(100000, b, &err), MVM_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "br-tenant-100000") != NULL);
    char longid[NET_INSTANCE_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    CHECK_EQ_INT(net_netns_name(longid, ns, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_host_veth_name("a/b", v, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_host_veth_name("..", v, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_host_veth_name(longid + 1, v, &err), MVM_OK); /* 64 chars: fine */
    CHECK(strlen(v) <= 15 && strncmp(v, "vm", 2) == 0);
    char v2[NET_IFNAME_MAX];
    CHECK_EQ_INT(net_host_veth_name(longid + 2, v2, &err), MVM_OK);
    CHECK(strcmp(v, v2) != 0);
    CHECK_EQ_INT(net_netns_name("inst-a", ns, &err), MVM_OK);
    CHECK_EQ_STR(ns, "mvm-inst-a");
}

static void test_tenant(void) {
    mvm_error err;
    CHECK_EQ_INT(net_tenant_ensure(7, "10.240.7.0/24", "10.240.7.1", &err), MVM_OK);
    link_seen br = seen("br-tenant-7");
    CHECK(br.ifindex > 0);
    CHECK_EQ_STR(br.kind, "bridge");
    CHECK(br.flags & IFF_UP);
    CHECK(has_addr("br-tenant-7", "10.240.7.1", 24));
    /* twice: nothing changes */
    CHECK_EQ_INT(net_tenant_ensure(7, "10.240.7.0/24", "10.240.7.1", &err), MVM_OK);
    CHECK_EQ_INT(seen("br-tenant-7").ifindex, br.ifindex);
    /* bad input changes nothing */
    CHECK_EQ_INT(net_tenant_ensure(9, "10.240.9.0/24", "10.240.8.1", &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_tenant_ensure(9, "10.240.9.0/33", "10.240.9.1", &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_tenant_ensure(100000, "10.240.9.0/24", "10.240.9.1", &err),
                 MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(seen("br-tenant-9").ifindex, 0);
    /* a device of the bridge's name that is no bridge: refused, left alone */
    make_foreign_veth("br-tenant-5", "fpeer5");
    CHECK_EQ_INT(net_tenant_ensure(5, "10.240.5.0/24", "10.240.5.1", &err), MVM_ALREADY_EXISTS);
    CHECK_EQ_INT(net_tenant_remove(5, &err), MVM_FAILED_PRECONDITION);
    CHECK_EQ_STR(seen("br-tenant-5").kind, "veth");
    delete_link("br-tenant-5");
}

static void check_instance(const char *id, const char *ip, uint8_t last, link_seen *host,
                           inside_seen *in) {
    char veth[NET_IFNAME_MAX], ns[NET_INSTANCE_ID_MAX + 8], path[128];
    veth_of(id, veth);
    snprintf(ns, sizeof ns, "mvm-%s", id);
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    CHECK(exists(path));
    *host = seen(veth);
    CHECK(host->ifindex > 0);
    CHECK_EQ_STR(host->kind, "veth");
    CHECK_EQ_INT(host->master, seen("br-tenant-7").ifindex);
    CHECK(host->flags & IFF_UP);
    *in = inside(ns, ip, "10.240.7.1");
    CHECK(in->tap.ifindex > 0);
    CHECK_EQ_STR(in->tap.kind, "tun");
    CHECK(in->tap.flags & IFF_UP);
    CHECK(in->tap_addr);
    CHECK_EQ_INT(in->owner, 1234);
    CHECK_EQ_INT(in->group, 2345);
    CHECK(in->eth0.ifindex > 0);
    CHECK_EQ_STR(in->eth0.kind, "veth");
    CHECK(in->eth0.flags & IFF_UP);
    const uint8_t mac[6] = {0x02, 0x00, 0x0a, 0xf0, 0x07, last};
    CHECK(memcmp(in->eth0.mac, mac, 6) == 0);
    CHECK(in->eth0_addr);
    CHECK(in->route);
    CHECK_EQ_INT(in->forward, 1);
    CHECK(in->lo.flags & IFF_UP);
    /* nothing of it leaked into the host netns */
    CHECK_EQ_INT(seen("tap0").ifindex, 0);
}

static void test_instances(void) {
    mvm_error err;
    make_foreign_bridge("br-other");
    make_foreign_veth("fveth0", "fveth1");
    int other = seen("br-other").ifindex, fveth = seen("fveth0").ifindex;

    net_instance_spec a = spec_of("inst-a", 7, "10.240.7.10", 10);
    mvm_code rc = net_instance_ensure(&a, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "ensure inst-a: %s\n", err.msg);
    link_seen ha, ha2, hb;
    inside_seen ia, ia2, ib;
    check_instance("inst-a", "10.240.7.10", 10, &ha, &ia);

    /* twice: the same devices */
    CHECK_EQ_INT(net_instance_ensure(&a, &err), MVM_OK);
    check_instance("inst-a", "10.240.7.10", 10, &ha2, &ia2);
    CHECK_EQ_INT(ha2.ifindex, ha.ifindex);
    CHECK_EQ_INT(ia2.tap.ifindex, ia.tap.ifindex);
    CHECK_EQ_INT(ia2.eth0.ifindex, ia.eth0.ifindex);

    /* a second instance of the tenant: its own tap0 and eth0 */
    net_instance_spec b = spec_of("inst-b", 7, "10.240.7.11", 11);
    CHECK_EQ_INT(net_instance_ensure(&b, &err), MVM_OK);
    check_instance("inst-b", "10.240.7.11", 11, &hb, &ib);
    CHECK(hb.ifindex != ha.ifindex);

    /* the listing for reconcile: ours, by kind; not the foreign ones */
    listed l = {.n = 0};
    char va[NET_IFNAME_MAX], vb[NET_IFNAME_MAX];
    veth_of("inst-a", va);
    veth_of("inst-b", vb);
    CHECK_EQ_INT(net_list(list_cb, &l, &err), MVM_OK);
    CHECK(listed_has(&l, NET_OBJ_BRIDGE, "br-tenant-7"));
    CHECK(listed_has(&l, NET_OBJ_HOST_VETH, va));
    CHECK(listed_has(&l, NET_OBJ_HOST_VETH, vb));
    CHECK(listed_has(&l, NET_OBJ_NETNS, "mvm-inst-a"));
    CHECK(listed_has(&l, NET_OBJ_NETNS, "mvm-inst-b"));
    CHECK(!listed_has(&l, NET_OBJ_BRIDGE, "br-other"));
    CHECK_EQ_INT(l.n, 5);

    /* the tenant bridge is not removed under its instances */
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_FAILED_PRECONDITION);
    CHECK(seen("br-tenant-7").ifindex > 0);

    /* a lost host veth (crash between steps) is made again */
    delete_link(va);
    CHECK_EQ_INT(seen(va).ifindex, 0);
    CHECK_EQ_INT(net_instance_ensure(&a, &err), MVM_OK);
    check_instance("inst-a", "10.240.7.10", 10, &ha2, &ia2);
    CHECK_EQ_INT(ia2.tap.ifindex, ia.tap.ifindex); /* tap0 kept */

    /* remove a: exactly a */
    CHECK_EQ_INT(net_instance_remove("inst-a", &err), MVM_OK);
    link_seen detached = seen(va); /* until the kernel's cleanup: off the bridge, down */
    CHECK(detached.ifindex == 0 || (detached.master == 0 && !(detached.flags & IFF_UP)));
    CHECK(link_gone(va));
    CHECK(!exists("/run/netns/mvm-inst-a"));
    CHECK_EQ_INT(seen(vb).ifindex, hb.ifindex);
    CHECK(exists("/run/netns/mvm-inst-b"));
    CHECK_EQ_INT(seen("br-other").ifindex, other);
    CHECK_EQ_INT(seen("fveth0").ifindex, fveth);
    CHECK_EQ_INT(net_instance_remove("inst-a", &err), MVM_OK); /* gone already */

    CHECK_EQ_INT(net_instance_remove("inst-b", &err), MVM_OK);
    CHECK(link_gone(vb));
    CHECK(!exists("/run/netns/mvm-inst-b"));
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_OK);
    CHECK_EQ_INT(seen("br-tenant-7").ifindex, 0);
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_OK); /* gone already */
    CHECK_EQ_INT(seen("br-other").ifindex, other);
    CHECK_EQ_INT(seen("fveth0").ifindex, fveth);
    CHECK(seen("fveth1").ifindex > 0);

    l.n = 0;
    CHECK_EQ_INT(net_list(list_cb, &l, &err), MVM_OK);
    CHECK_EQ_INT(l.n, 0);
}

static mvm_code tap_to_bridge(void *arg, mvm_error *err) {
    struct nl_sock *sk = nl();
    struct rtnl_link *l = rtnl_link_alloc();
    rtnl_link_set_name(l, "tap0");
    int r = rtnl_link_delete(sk, l); /* a persistent TAP goes by RTM_DELLINK too */
    rtnl_link_put(l);
    nl_socket_free(sk);
    if (r < 0)
        return mvm_fail(err, MVM_INTERNAL, "deleting tap0: %s", nl_geterror(r));
    make_foreign_bridge("tap0");
    return seen("tap0").ifindex > 0 ? MVM_OK : mvm_fail(err, MVM_INTERNAL, "no bridge tap0");
}

static mvm_code fail_inside(void *arg, mvm_error *err) {
    return mvm_fail(err, MVM_ABORTED, "failing on purpose");
}

static void test_errors_roll_back(void) {
    mvm_error err;
    CHECK_EQ_INT(net_tenant_ensure(7, "10.240.7.0/24", "10.240.7.1", &err), MVM_OK);
    char v[NET_IFNAME_MAX];

    /* bad specs change nothing */
    net_instance_spec s = spec_of("inst-c", 7, "10.240.7.12", 12);
    s.mac[0] = 0x01; /* multicast */
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_INVALID_ARGUMENT);
    s = spec_of("inst-c", 7, "10.240.8.12", 12); /* outside the gateway's /24 */
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_INVALID_ARGUMENT);
    s = spec_of("inst-c", 7, "10.240.7.300", 12);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_INVALID_ARGUMENT);
    char longid[NET_INSTANCE_ID_MAX + 2];
    memset(longid, 'y', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    s = spec_of(longid, 7, "10.240.7.12", 12);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_instance_remove(longid, &err), MVM_INVALID_ARGUMENT);
    CHECK(!exists("/run/netns/mvm-inst-c"));

    /* no tenant bridge: refused after the netns was made; the netns goes */
    s = spec_of("inst-c", 8, "10.240.7.12", 12);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "br-tenant-8") != NULL);
    CHECK(!exists("/run/netns/mvm-inst-c"));
    veth_of("inst-c", v);
    CHECK_EQ_INT(seen(v).ifindex, 0);

    /* the netns name held by a file mvm did not make: refused, file kept */
    int f = open("/run/netns/mvm-inst-d", O_CREAT | O_WRONLY, 0644);
    CHECK(f >= 0);
    if (f >= 0)
        close(f);
    s = spec_of("inst-d", 7, "10.240.7.13", 13);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "mvm-inst-d") != NULL);
    CHECK(exists("/run/netns/mvm-inst-d"));
    veth_of("inst-d", v);
    CHECK_EQ_INT(seen(v).ifindex, 0);
    CHECK_EQ_INT(net_instance_remove("inst-d", &err), MVM_FAILED_PRECONDITION);
    CHECK(exists("/run/netns/mvm-inst-d"));
    unlink("/run/netns/mvm-inst-d");

    /* the host veth name held by a bridge: refused after the netns was made;
     * the netns is rolled back, the bridge kept */
    veth_of("inst-e", v);
    make_foreign_bridge(v);
    int fb = seen(v).ifindex;
    s = spec_of("inst-e", 7, "10.240.7.14", 14);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, v) != NULL);
    CHECK(!exists("/run/netns/mvm-inst-e"));
    CHECK_EQ_INT(seen(v).ifindex, fb);
    CHECK_EQ_INT(net_instance_remove("inst-e", &err), MVM_FAILED_PRECONDITION);
    CHECK_EQ_INT(seen(v).ifindex, fb);
    delete_link(v);

    /* a failure inside the netns (tap0's name held by a bridge) after this
     * call made the host veth: the veth goes, the netns made earlier stays */
    s = spec_of("inst-g", 7, "10.240.7.16", 16);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_OK);
    CHECK_EQ_INT(net_ns_run("mvm-inst-g", tap_to_bridge, NULL, &err), MVM_OK);
    veth_of("inst-g", v);
    delete_link(v);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_ALREADY_EXISTS);
    CHECK(strstr(err.msg, "tap0") != NULL);
    CHECK_EQ_INT(seen(v).ifindex, 0);
    CHECK(exists("/run/netns/mvm-inst-g"));
    CHECK_EQ_INT(net_instance_remove("inst-g", &err), MVM_OK);
    CHECK(!exists("/run/netns/mvm-inst-g"));

    /* net_ns_run brings the thread home also when the callback fails */
    struct stat before, after;
    CHECK(stat("/proc/thread-self/ns/net", &before) == 0);
    s = spec_of("inst-h", 7, "10.240.7.17", 17);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_OK);
    CHECK_EQ_INT(net_ns_run("mvm-inst-h", fail_inside, NULL, &err), MVM_ABORTED);
    CHECK(stat("/proc/thread-self/ns/net", &after) == 0);
    CHECK_EQ_INT(after.st_ino, before.st_ino);
    CHECK_EQ_INT(net_ns_run("mvm-absent", fail_inside, NULL, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(net_instance_remove("inst-h", &err), MVM_OK);

    /* the netns file gone while something still holds the namespace: no
     * netns cleanup will take the host veth away, so remove deletes it */
    s = spec_of("inst-k", 7, "10.240.7.18", 18);
    CHECK_EQ_INT(net_instance_ensure(&s, &err), MVM_OK);
    int hold = open("/run/netns/mvm-inst-k", O_RDONLY | O_CLOEXEC);
    CHECK(hold >= 0);
    CHECK(umount2("/run/netns/mvm-inst-k", MNT_DETACH) == 0);
    CHECK(unlink("/run/netns/mvm-inst-k") == 0);
    veth_of("inst-k", v);
    CHECK(seen(v).ifindex > 0);
    CHECK_EQ_INT(net_instance_remove("inst-k", &err), MVM_OK);
    CHECK_EQ_INT(seen(v).ifindex, 0);
    if (hold >= 0)
        close(hold);

    /* removing what never existed */
    CHECK_EQ_INT(net_instance_remove("never-made", &err), MVM_OK);
    CHECK_EQ_INT(net_tenant_remove(4242, &err), MVM_OK);
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_OK);
}

/* two instances set up at once from two threads: each thread's setns is
 * its own, so neither lands in the other's netns */
typedef struct racer {
    net_instance_spec spec;
    mvm_code rc;
} racer;
static void *race(void *arg) {
    racer *r = arg;
    mvm_error err;
    r->rc = net_instance_ensure(&r->spec, &err);
    return NULL;
}
static void test_threads(void) {
    mvm_error err;
    CHECK_EQ_INT(net_tenant_ensure(7, "10.240.7.0/24", "10.240.7.1", &err), MVM_OK);
    racer r[2] = {{.spec = spec_of("inst-t1", 7, "10.240.7.21", 21)},
                  {.spec = spec_of("inst-t2", 7, "10.240.7.22", 22)}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    link_seen h;
    inside_seen in;
    CHECK_EQ_INT(r[0].rc, MVM_OK);
    CHECK_EQ_INT(r[1].rc, MVM_OK);
    check_instance("inst-t1", "10.240.7.21", 21, &h, &in);
    check_instance("inst-t2", "10.240.7.22", 22, &h, &in);
    CHECK_EQ_INT(net_instance_remove("inst-t1", &err), MVM_OK);
    CHECK_EQ_INT(net_instance_remove("inst-t2", &err), MVM_OK);
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_OK);
}

/* without the privileges: the kernel's EPERM comes back as PERMISSION_DENIED
 * (in a child that gives up root) */
static void test_no_permission(void) {
    pid_t pid = fork();
    if (pid == 0) {
        mvm_error err;
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(100);
        mvm_code c = net_tenant_ensure(3, "10.240.3.0/24", "10.240.3.1", &err);
        if (c != MVM_PERMISSION_DENIED)
            fprintf(stderr, "unprivileged net_tenant_ensure: %s %s\n", mvm_code_name(c),
                    c ? err.msg : "");
        else if (!strstr(err.msg, "br-tenant-3"))
            _exit(101);
        _exit((int)c);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), MVM_PERMISSION_DENIED);
    CHECK_EQ_INT(seen("br-tenant-3").ifindex, 0);
}

/* The netns pool: an ensure that takes a pooled netns makes what an
 * unpooled one does (check_instance), the stock refills, another owner falls
 * back to making its own, and stop empties the stock. */
static int wait_stock(unsigned want) {
    for (int i = 0; i < 200; i++) { /* a hang guard of 10 s, not a timing check */
        if (net_ns_pool_stock() == want)
            return 1;
        usleep(50000);
    }
    return 0;
}

static void test_pool(void) {
    mvm_error err;
    CHECK_EQ_INT(net_tenant_ensure(7, "10.240.7.0/24", "10.240.7.1", &err), MVM_OK);
    CHECK_EQ_INT(net_ns_pool_start(0, 1234, 2345, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_ns_pool_start(2, 1234, 2345, &err), MVM_OK);
    CHECK_EQ_INT(net_ns_pool_start(2, 1234, 2345, &err), MVM_FAILED_PRECONDITION);
    CHECK(wait_stock(2));
    net_instance_spec p = spec_of("inst-p", 7, "10.240.7.40", 40);
    mvm_code pc = net_instance_ensure(&p, &err);
    if (pc != MVM_OK)
        fprintf(stderr, "pooled ensure: %s\n", err.msg);
    CHECK_EQ_INT(pc, MVM_OK);
    link_seen host;
    inside_seen in;
    check_instance("inst-p", "10.240.7.40", 40, &host, &in);
    const uint8_t tap_mac[6] = NET_TAP_MAC;
    CHECK(memcmp(in.tap.mac, tap_mac, 6) == 0);
    CHECK(wait_stock(2)); /* refilled */
    /* idempotent on a pooled netns too */
    CHECK_EQ_INT(net_instance_ensure(&p, &err), MVM_OK);
    char veth[NET_IFNAME_MAX];
    veth_of("inst-p", veth);
    link_seen again = seen(veth);
    CHECK_EQ_INT(again.ifindex, host.ifindex);
    /* another owner: not from the pool, the same result for its owner */
    net_instance_spec q = spec_of("inst-q", 7, "10.240.7.41", 41);
    q.tap_uid = 4321;
    CHECK_EQ_INT(net_instance_ensure(&q, &err), MVM_OK);
    CHECK(wait_stock(2));
    /* the pool's temporary veths are not mvm's: net_list does not see them */
    listed l = {0};
    CHECK_EQ_INT(net_list(list_cb, &l, &err), MVM_OK);
    for (int i = 0; i < l.n; i++)
        CHECK(strstr(l.names[i], ":mvp") == NULL);
    CHECK_EQ_INT(net_instance_remove("inst-p", &err), MVM_OK);
    CHECK_EQ_INT(net_instance_remove("inst-q", &err), MVM_OK);
    CHECK(!exists("/run/netns/mvm-inst-p"));
    CHECK_EQ_INT(net_tenant_remove(7, &err), MVM_OK);
    net_ns_pool_stop();
    CHECK_EQ_INT(net_ns_pool_stock(), 0u);
    net_ns_pool_stop(); /* a no-op when stopped */
}

int main(void) {
    if (geteuid() != 0) {
        printf("SKIP: net_link_test needs root (network namespaces, netlink)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        printf("SKIP: net_link_test: unshare(CLONE_NEWNET|CLONE_NEWNS): %s\n", strerror(errno));
        return 77;
    }
    /* mounts made from here on stay in this test's mount namespace */
    if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        (mkdir("/run/netns", 0755) != 0 && errno != EEXIST) ||
        mount("tmpfs", "/run/netns", "tmpfs", 0, "mode=0755") != 0) {
        printf("SKIP: net_link_test: private /run/netns: %s\n", strerror(errno));
        return 77;
    }
    test_names();
    test_tenant();
    test_instances();
    test_errors_roll_back();
    test_threads();
    test_no_permission();
    test_pool();
    return check_done();
}
