/* net_tenant.c - a tenant's bridge in the host netns: br-tenant-<net_id>,
 * up, holding the gateway address of the tenant's subnet. */
#include <arpa/inet.h>
#include <string.h>

#include "net_internal.h"

mvm_code net_tenant_ensure(uint32_t net_id, const char *subnet_cidr, const char *gateway,
                           mvm_error *err) {
    char br[NET_IFNAME_MAX];
    struct in_addr net, gw;
    int plen;
    mvm_code c = net_bridge_name(net_id, br, err);
    if (c == MVM_OK)
        c = net_parse_cidr(subnet_cidr, &net, &plen, err);
    if (c == MVM_OK)
        c = net_parse_ipv4(gateway, "gateway", &gw, err);
    if (c != MVM_OK)
        return c;
    uint32_t mask = plen == 0 ? 0 : htonl(~0u << (32 - plen));
    if (plen > 30 || (gw.s_addr & mask) != (net.s_addr & mask) ||
        (gw.s_addr & ~mask) == 0 || (gw.s_addr & ~mask) == ~mask)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "tenant bridge %s: gateway %s is not a host address of subnet %s", br,
                        gateway, subnet_cidr);

    struct nl_sock *sk;
    if ((c = net_nl_open(&sk, err)) != MVM_OK)
        return c;
    net_link_info li;
    bool created = false;
    c = net_link_get(sk, br, &li, err);
    if (c == MVM_OK && li.ifindex && strcmp(li.kind, "bridge") != 0)
        c = mvm_fail(err, MVM_ALREADY_EXISTS,
                     "tenant bridge %s: a device of that name exists and is a \"%s\", not a "
                     "bridge; left alone",
                     br, li.kind[0] ? li.kind : "device without a kind");
    if (c == MVM_OK && !li.ifindex) {
        c = net_link_add_bridge(sk, br, err);
        created = c == MVM_OK;
        if (c == MVM_OK)
            c = net_link_get(sk, br, &li, err);
    }
    if (c == MVM_OK)
        c = net_link_configure(sk, br, -1, NULL, err);
    if (c == MVM_OK)
        c = net_addr_ensure(sk, br, li.ifindex, gw, plen, err);
    if (c != MVM_OK && created)
        net_link_delete(sk, br, NULL); /* roll back; the first error is the one reported */
    net_nl_close(sk);
    return c;
}

mvm_code net_tenant_remove(uint32_t net_id, mvm_error *err) {
    char br[NET_IFNAME_MAX];
    mvm_code c = net_bridge_name(net_id, br, err);
    if (c != MVM_OK)
        return c;
    struct nl_sock *sk;
    if ((c = net_nl_open(&sk, err)) != MVM_OK)
        return c;
    net_link_info li;
    int ports = 0;
    c = net_link_get(sk, br, &li, err);
    if (c == MVM_OK && li.ifindex && strcmp(li.kind, "bridge") != 0)
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "removing tenant bridge %s: it is a \"%s\", not a bridge mvm made; left "
                     "alone",
                     br, li.kind);
    if (c == MVM_OK && li.ifindex)
        c = net_link_count_ports(sk, li.ifindex, &ports, err);
    if (c == MVM_OK && ports > 0)
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "removing tenant bridge %s: %d instance veth(s) are still its ports; "
                     "remove the instances first",
                     br, ports);
    if (c == MVM_OK && li.ifindex)
        c = net_link_delete(sk, br, err);
    net_nl_close(sk);
    return c;
}
