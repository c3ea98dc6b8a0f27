/* net_uplink.c - which interface leads out of the node: the device of the
 * IPv4 default route in the calling thread's netns (the main table, lowest
 * metric first), read through a libnl route cache. mvmd masquerades tenant
 * subnets out of it when its configuration does not name one. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "net_internal.h"

typedef struct best_route {
    int ifindex;
    uint32_t priority;
} best_route;

static void consider(struct nl_object *obj, void *arg) {
    struct rtnl_route *rt = (struct rtnl_route *)obj;
    best_route *b = arg;
    struct nl_addr *dst = rtnl_route_get_dst(rt);
    if (rtnl_route_get_family(rt) != AF_INET || rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
        rtnl_route_get_type(rt) != RTN_UNICAST || (dst && nl_addr_get_prefixlen(dst) != 0) ||
        rtnl_route_get_nnexthops(rt) < 1)
        return;
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
    int ifindex = nh ? rtnl_route_nh_get_ifindex(nh) : 0;
    uint32_t prio = rtnl_route_get_priority(rt);
    if (ifindex > 0 && (!b->ifindex || prio < b->priority)) {
        b->ifindex = ifindex;
        b->priority = prio;
    }
}

mvm_code net_uplink_find(char out[NET_IFNAME_MAX], mvm_error *err) {
    out[0] = '\0';
    struct nl_sock *sk;
    mvm_code c = net_nl_open(&sk, err);
    if (c != MVM_OK)
        return c;
    struct nl_cache *cache = NULL;
    int r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
    if (r < 0) {
        net_nl_close(sk);
        return net_fail_nl(err, r, "reading the IPv4 routes");
    }
    best_route b = {0, 0};
    nl_cache_foreach(cache, consider, &b);
    nl_cache_free(cache);
    net_nl_close(sk);
    if (!b.ifindex)
        return mvm_fail(err, MVM_NOT_FOUND, "no IPv4 default route: no uplink to masquerade to");
    char name[IF_NAMESIZE];
    if (!if_indextoname((unsigned)b.ifindex, name))
        return net_fail_errno(err, errno, "naming interface %d of the default route", b.ifindex);
    snprintf(out, NET_IFNAME_MAX, "%s", name);
    return MVM_OK;
}
