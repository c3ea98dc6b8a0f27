/* net_link.c - rtnetlink steps through libnl-route-3: look up, add (bridge,
 * veth with its peer made directly in another netns), configure (up,
 * master, MAC; read first, or set blind when the caller knows the state),
 * delete and list links; add IPv4 addresses; the default route. Each step works in the netns its socket was opened in;
 * every libnl return is checked and mapped (net_error.c). */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "net_internal.h"

mvm_code net_nl_open(struct nl_sock **sk, mvm_error *err) {
    struct nl_sock *s = nl_socket_alloc();
    if (!s)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "allocating a netlink socket");
    int r = nl_connect(s, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(s);
        return net_fail_nl(err, r, "connecting a NETLINK_ROUTE socket");
    }
    *sk = s;
    return MVM_OK;
}

void net_nl_close(struct nl_sock *sk) {
    if (sk)
        nl_socket_free(sk);
}

static bool nle_absent(int r) {
    return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV;
}

mvm_code net_link_get(struct nl_sock *sk, const char *name, net_link_info *info, mvm_error *err) {
    memset(info, 0, sizeof *info);
    struct rtnl_link *l = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &l);
    if (nle_absent(r))
        return MVM_OK;
    if (r < 0)
        return net_fail_nl(err, r, "looking up link %s", name);
    info->ifindex = rtnl_link_get_ifindex(l);
    info->master = rtnl_link_get_master(l);
    info->flags = rtnl_link_get_flags(l);
    const char *kind = rtnl_link_get_type(l);
    if (kind)
        snprintf(info->kind, sizeof info->kind, "%s", kind);
    struct nl_addr *a = rtnl_link_get_addr(l);
    if (a && nl_addr_get_len(a) == 6)
        memcpy(info->mac, nl_addr_get_binary_addr(a), 6);
    rtnl_link_put(l);
    return MVM_OK;
}

mvm_code net_link_add_bridge(struct nl_sock *sk, const char *name, mvm_error *err) {
    struct rtnl_link *l = rtnl_link_alloc();
    if (!l)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "creating bridge %s: out of memory", name);
    rtnl_link_set_name(l, name);
    int r = rtnl_link_set_type(l, "bridge");
    if (r >= 0) {
        rtnl_link_set_flags(l, IFF_UP);
        r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    }
    rtnl_link_put(l);
    return r < 0 ? net_fail_nl(err, r, "creating bridge %s", name) : MVM_OK;
}

mvm_code net_link_add_veth(struct nl_sock *sk, const char *host, int master, const char *peer,
                           int ns_fd, const uint8_t *mac, bool peer_up, mvm_error *err) {
    struct rtnl_link *l = rtnl_link_veth_alloc();
    if (!l)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "creating veth %s: out of memory", host);
    struct rtnl_link *p = rtnl_link_veth_get_peer(l);
    struct nl_addr *macaddr = mac ? nl_addr_build(AF_LLC, mac, 6) : NULL;
    int r = -NLE_NOMEM;
    if (p && (macaddr || !mac)) {
        rtnl_link_set_name(l, host);
        if (master > 0)
            rtnl_link_set_master(l, master);
        rtnl_link_set_name(p, peer);
        rtnl_link_set_ns_fd(p, ns_fd);
        if (macaddr)
            rtnl_link_set_addr(p, macaddr);
        if (peer_up) /* the kernel applies the peer's flags as it makes it */
            rtnl_link_set_flags(p, IFF_UP);
        r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    }
    if (macaddr)
        nl_addr_put(macaddr);
    if (p)
        rtnl_link_put(p);
    rtnl_link_put(l);
    return r < 0 ? net_fail_nl(err, r, "creating veth %s (peer %s in the instance netns)", host,
                               peer)
                 : MVM_OK;
}

mvm_code net_link_delete(struct nl_sock *sk, const char *name, mvm_error *err) {
    struct rtnl_link *l = rtnl_link_alloc();
    if (!l)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "deleting link %s: out of memory", name);
    rtnl_link_set_name(l, name);
    int r = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    if (r < 0 && !nle_absent(r))
        return net_fail_nl(err, r, "deleting link %s", name);
    return MVM_OK;
}

mvm_code net_link_configure(struct nl_sock *sk, const char *name, int master, const uint8_t *mac,
                            mvm_error *err) {
    struct rtnl_link *orig = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &orig);
    if (r < 0)
        return net_fail_nl(err, r, "configuring link %s: looking it up", name);
    struct rtnl_link *ch = rtnl_link_alloc();
    struct nl_addr *macaddr = mac ? nl_addr_build(AF_LLC, mac, 6) : NULL;
    if (!ch || (mac && !macaddr)) {
        r = -NLE_NOMEM;
        goto out;
    }
    bool change = false;
    if (!(rtnl_link_get_flags(orig) & IFF_UP)) {
        rtnl_link_set_flags(ch, IFF_UP);
        change = true;
    }
    if (master >= 0 && rtnl_link_get_master(orig) != master) {
        rtnl_link_set_master(ch, master);
        change = true;
    }
    struct nl_addr *cur = rtnl_link_get_addr(orig);
    if (macaddr && (!cur || nl_addr_cmp(cur, macaddr) != 0)) {
        rtnl_link_set_addr(ch, macaddr);
        change = true;
    }
    r = change ? rtnl_link_change(sk, orig, ch, 0) : 0;
out:
    if (macaddr)
        nl_addr_put(macaddr);
    if (ch)
        rtnl_link_put(ch);
    rtnl_link_put(orig);
    return r < 0 ? net_fail_nl(err, r, "configuring link %s (up, master, MAC)", name) : MVM_OK;
}

mvm_code net_link_set_build(int ifindex, const char *name, const char *newname, bool up,
                            int master, const uint8_t *mac, struct nl_msg **out, mvm_error *err) {
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex,
                            .ifi_flags = up ? IFF_UP : 0, .ifi_change = IFF_UP};
    struct nl_msg *m = nlmsg_alloc_simple(RTM_SETLINK, 0);
    if (!m)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "setting link %s: out of memory", name);
    int r = nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    if (r >= 0 && ifindex == 0)
        r = nla_put_string(m, IFLA_IFNAME, name);
    else if (r >= 0 && newname)
        r = nla_put_string(m, IFLA_IFNAME, newname);
    if (r >= 0 && master >= 0)
        r = nla_put_u32(m, IFLA_MASTER, (uint32_t)master);
    if (r >= 0 && mac)
        r = nla_put(m, IFLA_ADDRESS, 6, mac);
    if (r < 0) {
        nlmsg_free(m);
        return net_fail_nl(err, r, "setting link %s: building the request", name);
    }
    *out = m;
    return MVM_OK;
}

mvm_code net_link_set(struct nl_sock *sk, int ifindex, const char *name, bool up, int master,
                      const uint8_t *mac, mvm_error *err) {
    struct nl_msg *m = NULL;
    mvm_code c = net_link_set_build(ifindex, name, NULL, up, master, mac, &m, err);
    if (c != MVM_OK)
        return c;
    int r = nl_send_sync(sk, m); /* frees m */
    return r < 0 ? net_fail_nl(err, r, "setting link %s %s%s", name, up ? "up" : "down",
                               master > 0 ? " with its master" : master == 0 ? " without a master" : "")
                 : MVM_OK;
}

mvm_code net_nl_batch(struct nl_sock *sk, struct nl_msg *const *msgs, const char *const *what,
                      size_t n, mvm_error *err) {
    size_t sent = 0;
    int r = 0;
    for (; sent < n; sent++) {
        r = nl_send_auto(sk, msgs[sent]);
        if (r < 0)
            break;
    }
    mvm_code c = r < 0 ? net_fail_nl(err, r, "%s: sending the request", what[sent]) : MVM_OK;
    for (size_t i = 0; i < n; i++)
        nlmsg_free(msgs[i]);
    /* every sent request is answered, in order, by its own ack */
    for (size_t i = 0; i < sent; i++) {
        r = nl_wait_for_ack(sk);
        if (r < 0 && c == MVM_OK)
            c = net_fail_nl(err, r, "%s", what[i]);
    }
    return c;
}

/* a in dotted quad, for messages */
static const char *ip4(struct in_addr a, char s[INET_ADDRSTRLEN]) {
    return inet_ntop(AF_INET, &a, s, INET_ADDRSTRLEN) ? s : "(address)";
}

mvm_code net_addr_build(const char *dev, int ifindex, struct in_addr addr, int prefixlen,
                        struct nl_msg **out, mvm_error *err) {
    struct rtnl_addr *a = rtnl_addr_alloc();
    struct nl_addr *local = nl_addr_build(AF_INET, &addr, 4);
    int r = -NLE_NOMEM;
    if (a && local) {
        nl_addr_set_prefixlen(local, prefixlen);
        rtnl_addr_set_ifindex(a, ifindex);
        rtnl_addr_set_family(a, AF_INET);
        r = rtnl_addr_set_local(a, local);
        if (r >= 0) {
            rtnl_addr_set_prefixlen(a, prefixlen);
            /* NLM_F_REPLACE: an address already there is kept as it is (no
             * read of the address list first, no EEXIST) */
            r = rtnl_addr_build_add_request(a, NLM_F_REPLACE, out);
        }
    }
    if (local)
        nl_addr_put(local);
    if (a)
        rtnl_addr_put(a);
    char s[INET_ADDRSTRLEN];
    return r < 0 ? net_fail_nl(err, r, "adding address %s/%d to %s", ip4(addr, s), prefixlen, dev)
                 : MVM_OK;
}

mvm_code net_addr_ensure(struct nl_sock *sk, const char *dev, int ifindex, struct in_addr addr,
                         int prefixlen, mvm_error *err) {
    struct nl_msg *m = NULL;
    mvm_code c = net_addr_build(dev, ifindex, addr, prefixlen, &m, err);
    if (c != MVM_OK)
        return c;
    char s[INET_ADDRSTRLEN], what[96];
    snprintf(what, sizeof what, "adding address %s/%d to %s", ip4(addr, s), prefixlen, dev);
    const char *w = what;
    return net_nl_batch(sk, &m, &w, 1, err);
}

mvm_code net_route_default_build(struct in_addr gw, struct nl_msg **out, mvm_error *err) {
    static const uint8_t any[4];
    struct rtnl_route *rt = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    struct nl_addr *dst = nl_addr_build(AF_INET, any, 4);
    struct nl_addr *via = nl_addr_build(AF_INET, &gw, 4);
    int r = -NLE_NOMEM;
    if (rt && nh && dst && via) {
        nl_addr_set_prefixlen(dst, 0);
        rtnl_route_set_family(rt, AF_INET);
        rtnl_route_set_table(rt, RT_TABLE_MAIN);
        rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
        rtnl_route_set_protocol(rt, RTPROT_STATIC);
        rtnl_route_set_type(rt, RTN_UNICAST);
        r = rtnl_route_set_dst(rt, dst);
        if (r >= 0) {
            rtnl_route_nh_set_gateway(nh, via);
            rtnl_route_add_nexthop(rt, nh);
            nh = NULL; /* the route owns it now */
            r = rtnl_route_build_add_request(rt, NLM_F_CREATE | NLM_F_REPLACE, out);
        }
    }
    if (nh)
        rtnl_route_nh_free(nh);
    if (dst)
        nl_addr_put(dst);
    if (via)
        nl_addr_put(via);
    if (rt)
        rtnl_route_put(rt);
    char s[INET_ADDRSTRLEN];
    return r < 0 ? net_fail_nl(err, r, "adding default route via %s", ip4(gw, s)) : MVM_OK;
}

mvm_code net_route_default_ensure(struct nl_sock *sk, struct in_addr gw, mvm_error *err) {
    struct nl_msg *m = NULL;
    mvm_code c = net_route_default_build(gw, &m, err);
    if (c != MVM_OK)
        return c;
    char s[INET_ADDRSTRLEN], what[64];
    snprintf(what, sizeof what, "adding default route via %s", ip4(gw, s));
    const char *w = what;
    return net_nl_batch(sk, &m, &w, 1, err);
}

struct link_walk {
    const char *prefix, *kind;
    int master;
    int count;
    net_link_each_fn fn;
    void *arg;
    bool stopped;
};

static void link_visit(struct nl_object *obj, void *arg) {
    struct link_walk *w = arg;
    struct rtnl_link *l = (struct rtnl_link *)obj;
    if (w->stopped)
        return;
    if (w->master > 0) {
        if (rtnl_link_get_master(l) == w->master)
            w->count++;
        return;
    }
    const char *name = rtnl_link_get_name(l);
    const char *kind = rtnl_link_get_type(l);
    if (!name || strncmp(name, w->prefix, strlen(w->prefix)) != 0)
        return;
    if (!kind || strcmp(kind, w->kind) != 0)
        return;
    if (w->fn(name, w->arg) != 0)
        w->stopped = true;
}

static mvm_code link_walk_run(struct nl_sock *sk, struct link_walk *w, mvm_error *err) {
    struct nl_cache *cache = NULL;
    int r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
    if (r < 0)
        return net_fail_nl(err, r, "listing links");
    nl_cache_foreach(cache, link_visit, w);
    nl_cache_free(cache);
    return MVM_OK;
}

mvm_code net_link_count_ports(struct nl_sock *sk, int ifindex, int *count, mvm_error *err) {
    struct link_walk w = {.master = ifindex};
    mvm_code c = link_walk_run(sk, &w, err);
    *count = w.count;
    return c;
}

mvm_code net_link_each(struct nl_sock *sk, const char *prefix, const char *kind,
                       net_link_each_fn fn, void *arg, bool *stopped, mvm_error *err) {
    struct link_walk w = {.prefix = prefix, .kind = kind, .master = 0, .fn = fn, .arg = arg};
    mvm_code c = link_walk_run(sk, &w, err);
    *stopped = w.stopped;
    return c;
}
