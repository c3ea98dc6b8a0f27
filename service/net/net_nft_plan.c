/* net_nft_plan.c - checks a host plan before anything is sent to the kernel
 * (addresses, CIDRs, ports, protocols, duplicates), and the parsing of IPv4
 * addresses and CIDRs the rule builders use. A plan that fails here is
 * INVALID_ARGUMENT and the kernel's ruleset is left as it was. */
#include "net_nft.h"
#include "net_nft_internal.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool net_nft_parse_ip(const char *s, uint32_t *addr_be)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *addr_be = a.s_addr;
    return true;
}

bool net_nft_parse_cidr(const char *s, uint32_t *addr_be, int *prefix)
{
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= INET_ADDRSTRLEN)
        return false;
    char ip[INET_ADDRSTRLEN];
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    const char *p = slash + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 2 || (p[1] && (p[1] < '0' || p[1] > '9')))
        return false;
    int n = atoi(p);
    uint32_t a;
    if (n > 32 || !net_nft_parse_ip(ip, &a))
        return false;
    uint32_t mask = n == 0 ? 0 : ~(uint32_t)0 << (32 - n);
    if ((ntohl(a) & ~mask) != 0)
        return false; /* host bits set: not a network address */
    *addr_be = a;
    *prefix = n;
    return true;
}

bool net_nft_bridge_name(uint32_t net_id, char *buf, size_t len)
{
    int n = snprintf(buf, len, NET_NFT_BRIDGE_PREFIX "%u", net_id);
    return n > 0 && (size_t)n < len && n < IFNAMSIZ;
}

/* What the kernel accepts as an interface name (dev_valid_name): 1..15
 * bytes, not "." or "..", no '/', ':' or white space. */
static bool ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c; c++)
        if (*c == '/' || *c == ':' || *c <= ' ' || *c == 0x7f)
            return false;
    return true;
}

static bool port_ok(uint32_t port)
{
    return port >= 1 && port <= 65535;
}

static bool proto_ok(net_nft_proto p)
{
    return p == NET_NFT_TCP || p == NET_NFT_UDP;
}

static const char *proto_name(net_nft_proto p)
{
    return p == NET_NFT_TCP ? "tcp" : p == NET_NFT_UDP ? "udp" : "?";
}

static mvm_code check_tenants(const net_nft_host_plan *plan, mvm_error *err)
{
    for (size_t i = 0; i < plan->n_tenants; i++) {
        const net_nft_tenant *t = &plan->tenants[i];
        char br[IFNAMSIZ];
        uint32_t a;
        int n;
        if (!net_nft_bridge_name(t->net_id, br, sizeof br))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "tenant %zu: net_id %u makes a bridge name longer than %d "
                            "characters", i, t->net_id, IFNAMSIZ - 1);
        if (!net_nft_parse_cidr(t->subnet, &a, &n))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "tenant net_id %u: subnet \"%s\" is not an IPv4 CIDR "
                            "a.b.c.d/n with the host bits zero", t->net_id,
                            t->subnet ? t->subnet : "(null)");
        if (t->n_egress && !t->egress)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "tenant net_id %u: %zu egress CIDRs but no list", t->net_id,
                            t->n_egress);
        for (size_t k = 0; k < t->n_egress; k++)
            if (!net_nft_parse_cidr(t->egress[k], &a, &n))
                return mvm_fail(err, MVM_INVALID_ARGUMENT,
                                "tenant net_id %u: egress \"%s\" is not an IPv4 CIDR "
                                "a.b.c.d/n with the host bits zero", t->net_id,
                                t->egress[k] ? t->egress[k] : "(null)");
        for (size_t j = 0; j < i; j++)
            if (plan->tenants[j].net_id == t->net_id)
                return mvm_fail(err, MVM_INVALID_ARGUMENT,
                                "tenant net_id %u appears twice in the plan", t->net_id);
    }
    return MVM_OK;
}

/* true when addr lies inside some tenant's subnet */
static bool in_a_tenant(const net_nft_host_plan *plan, uint32_t addr_be)
{
    for (size_t i = 0; i < plan->n_tenants; i++) {
        uint32_t net;
        int n;
        if (!net_nft_parse_cidr(plan->tenants[i].subnet, &net, &n))
            continue;
        uint32_t mask = n == 0 ? 0 : ~(uint32_t)0 << (32 - n);
        if ((ntohl(addr_be) & mask) == ntohl(net))
            return true;
    }
    return false;
}

static mvm_code check_forwards(const net_nft_host_plan *plan, mvm_error *err)
{
    for (size_t i = 0; i < plan->n_forwards; i++) {
        const net_nft_forward *f = &plan->forwards[i];
        uint32_t a;
        if (!proto_ok(f->proto))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port forward %zu: protocol %d is neither tcp nor udp", i,
                            (int)f->proto);
        if (!port_ok(f->host_port) || !port_ok(f->instance_port))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port forward %s %u -> %u: ports must be 1..65535",
                            proto_name(f->proto), f->host_port, f->instance_port);
        if (!net_nft_parse_ip(f->tenant_ip, &a))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port forward %s %u: \"%s\" is not an IPv4 address",
                            proto_name(f->proto), f->host_port,
                            f->tenant_ip ? f->tenant_ip : "(null)");
        if (!in_a_tenant(plan, a))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port forward %s %u: %s is in no tenant's subnet",
                            proto_name(f->proto), f->host_port, f->tenant_ip);
        for (size_t j = 0; j < i; j++)
            if (plan->forwards[j].proto == f->proto &&
                plan->forwards[j].host_port == f->host_port)
                return mvm_fail(err, MVM_INVALID_ARGUMENT,
                                "host port %s %u is forwarded twice (to %s and %s)",
                                proto_name(f->proto), f->host_port,
                                plan->forwards[j].tenant_ip, f->tenant_ip);
    }
    return MVM_OK;
}

static mvm_code check_services(const net_nft_host_plan *plan, mvm_error *err)
{
    for (size_t i = 0; i < plan->n_services; i++) {
        const net_nft_service *s = &plan->services[i];
        if (!proto_ok(s->proto))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "host service %zu: protocol %d is neither tcp nor udp", i,
                            (int)s->proto);
        if (!port_ok(s->port))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "host service %s %u: port must be 1..65535",
                            proto_name(s->proto), s->port);
    }
    return MVM_OK;
}

mvm_code net_nft_plan_check(const net_nft_host_plan *plan, mvm_error *err)
{
    if (!plan)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "no network plan");
    if ((plan->n_tenants && !plan->tenants) || (plan->n_forwards && !plan->forwards) ||
        (plan->n_services && !plan->services))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "network plan: a count is set but its list is missing");
    if (plan->uplink && plan->uplink[0] && !ifname_ok(plan->uplink))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "uplink \"%s\" is not an interface name (1 to %d characters, no "
                        "'/', ':' or spaces)", plan->uplink, IFNAMSIZ - 1);
    mvm_code rc = check_tenants(plan, err);
    if (rc == MVM_OK)
        rc = check_forwards(plan, err);
    if (rc == MVM_OK)
        rc = check_services(plan, err);
    return rc;
}
