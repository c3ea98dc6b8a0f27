/* net_nft_host.c - the host's table `inet mvm`, built from a plan and put in
 * place in one transaction (add table, delete it, add it again with its
 * chains and rules: the first add makes the delete valid when the table is
 * absent, and the kernel commits all or nothing).
 *
 * Chains and rules, in order (tags in quotes; N a tenant's net_id):
 *   forward     filter hook forward    ct established,related accept  "mvm:ct"
 *                                      br-tenant-N -> br-tenant-N accept "mvm:tenant:N:intra"
 *                                      br-tenant-* -> br-tenant-* drop  "mvm:cross-tenant"
 *                                      per allowlisted CIDR: from br-tenant-N
 *                                        ip daddr CIDR accept  "mvm:tenant:N:egress:CIDR"
 *                                        then from br-tenant-N drop "mvm:tenant:N:egress-drop"
 *   input       filter hook input      from br-tenant-*: ct established,related
 *                                        accept "mvm:ct"; each host service
 *                                        accept "mvm:service:PROTO:PORT"; drop
 *                                        "mvm:guest-input-drop"
 *   prerouting  nat hook prerouting    per forward: fib daddr type local, ip,
 *   output      nat hook output          PROTO dport HOST_PORT dnat to
 *                                        TENANT_IP:PORT  "mvm:forward:PROTO:HOST_PORT"
 *   postrouting nat hook postrouting   with an uplink, per tenant: ip saddr SUBNET
 *                                        oifname UPLINK masquerade "mvm:tenant:N:masquerade"
 * Forwards match only packets addressed to the host itself (fib daddr type
 * local), so a guest's connection to some remote host on a forwarded port
 * is not captured. */
#include "net_nft.h"
#include "net_nft_internal.h"

#include <net/if.h>
#include <stdio.h>

#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#define FAM NFPROTO_INET
#define TBL NET_NFT_HOST_TABLE

static const char *proto_name(net_nft_proto p)
{
    return p == NET_NFT_TCP ? "tcp" : "udp";
}

static struct nftnl_rule *rule(const char *chain, const char *fmt_tag)
{
    return net_nft_rule_new(FAM, TBL, chain, fmt_tag);
}

static void forward_chain(net_nft_batch *b, const net_nft_host_plan *plan)
{
    char tag[128], br[IFNAMSIZ];
    struct nftnl_rule *r = rule("forward", "mvm:ct");
    net_nft_match_ct_established(&r);
    net_nft_verdict(&r, NF_ACCEPT);
    net_nft_batch_rule(b, r);

    for (size_t i = 0; i < plan->n_tenants; i++) {
        const net_nft_tenant *t = &plan->tenants[i];
        net_nft_bridge_name(t->net_id, br, sizeof br);
        snprintf(tag, sizeof tag, "mvm:tenant:%u:intra", t->net_id);
        r = rule("forward", tag);
        net_nft_match_ifname(&r, false, br);
        net_nft_match_ifname(&r, true, br);
        net_nft_verdict(&r, NF_ACCEPT);
        net_nft_batch_rule(b, r);
    }

    r = rule("forward", "mvm:cross-tenant");
    net_nft_match_ifname_prefix(&r, false, NET_NFT_BRIDGE_PREFIX);
    net_nft_match_ifname_prefix(&r, true, NET_NFT_BRIDGE_PREFIX);
    net_nft_verdict(&r, NF_DROP);
    net_nft_batch_rule(b, r);

    for (size_t i = 0; i < plan->n_tenants; i++) {
        const net_nft_tenant *t = &plan->tenants[i];
        if (t->n_egress == 0)
            continue;
        net_nft_bridge_name(t->net_id, br, sizeof br);
        for (size_t k = 0; k < t->n_egress; k++) {
            uint32_t a;
            int n;
            net_nft_parse_cidr(t->egress[k], &a, &n); /* checked by the plan */
            snprintf(tag, sizeof tag, "mvm:tenant:%u:egress:%s", t->net_id, t->egress[k]);
            r = rule("forward", tag);
            net_nft_match_ifname(&r, false, br);
            net_nft_match_ipv4(&r);
            net_nft_match_ip(&r, true, a, n);
            net_nft_verdict(&r, NF_ACCEPT);
            net_nft_batch_rule(b, r);
        }
        snprintf(tag, sizeof tag, "mvm:tenant:%u:egress-drop", t->net_id);
        r = rule("forward", tag);
        net_nft_match_ifname(&r, false, br);
        net_nft_verdict(&r, NF_DROP);
        net_nft_batch_rule(b, r);
    }
}

static void input_chain(net_nft_batch *b, const net_nft_host_plan *plan)
{
    char tag[128];
    struct nftnl_rule *r = rule("input", "mvm:ct");
    net_nft_match_ifname_prefix(&r, false, NET_NFT_BRIDGE_PREFIX);
    net_nft_match_ct_established(&r);
    net_nft_verdict(&r, NF_ACCEPT);
    net_nft_batch_rule(b, r);

    for (size_t i = 0; i < plan->n_services; i++) {
        const net_nft_service *s = &plan->services[i];
        snprintf(tag, sizeof tag, "mvm:service:%s:%u", proto_name(s->proto), s->port);
        r = rule("input", tag);
        net_nft_match_ifname_prefix(&r, false, NET_NFT_BRIDGE_PREFIX);
        net_nft_match_l4_dport(&r, (uint8_t)s->proto, (uint16_t)s->port);
        net_nft_verdict(&r, NF_ACCEPT);
        net_nft_batch_rule(b, r);
    }

    r = rule("input", "mvm:guest-input-drop");
    net_nft_match_ifname_prefix(&r, false, NET_NFT_BRIDGE_PREFIX);
    net_nft_verdict(&r, NF_DROP);
    net_nft_batch_rule(b, r);
}

static void dnat_chain(net_nft_batch *b, const net_nft_host_plan *plan, const char *chain)
{
    char tag[128];
    for (size_t i = 0; i < plan->n_forwards; i++) {
        const net_nft_forward *f = &plan->forwards[i];
        uint32_t a;
        net_nft_parse_ip(f->tenant_ip, &a); /* checked by the plan */
        snprintf(tag, sizeof tag, "mvm:forward:%s:%u", proto_name(f->proto), f->host_port);
        struct nftnl_rule *r = rule(chain, tag);
        net_nft_match_ipv4(&r);
        net_nft_match_daddr_local(&r);
        net_nft_match_l4_dport(&r, (uint8_t)f->proto, (uint16_t)f->host_port);
        net_nft_nat(&r, NFT_NAT_DNAT, a, (uint16_t)f->instance_port);
        net_nft_batch_rule(b, r);
    }
}

static void postrouting_chain(net_nft_batch *b, const net_nft_host_plan *plan)
{
    char tag[128];
    if (!plan->uplink || !plan->uplink[0])
        return;
    for (size_t i = 0; i < plan->n_tenants; i++) {
        const net_nft_tenant *t = &plan->tenants[i];
        uint32_t a;
        int n;
        net_nft_parse_cidr(t->subnet, &a, &n); /* checked by the plan */
        snprintf(tag, sizeof tag, "mvm:tenant:%u:masquerade", t->net_id);
        struct nftnl_rule *r = rule("postrouting", tag);
        net_nft_match_ipv4(&r);
        net_nft_match_ip(&r, false, a, n);
        net_nft_match_ifname(&r, true, plan->uplink);
        net_nft_masquerade(&r);
        net_nft_batch_rule(b, r);
    }
}

mvm_code net_nft_host_apply(const net_nft_host_plan *plan, mvm_error *err)
{
    mvm_code rc = net_nft_plan_check(plan, err);
    if (rc != MVM_OK)
        return rc;
    net_nft_batch b;
    if ((rc = net_nft_batch_init(&b, err)) != MVM_OK)
        return rc;
    net_nft_batch_fresh_table(&b, FAM, TBL);
    net_nft_batch_base_chain(&b, FAM, TBL, "forward", "filter", NF_INET_FORWARD, 0);
    net_nft_batch_base_chain(&b, FAM, TBL, "input", "filter", NF_INET_LOCAL_IN, 0);
    net_nft_batch_base_chain(&b, FAM, TBL, "prerouting", "nat", NF_INET_PRE_ROUTING, -100);
    net_nft_batch_base_chain(&b, FAM, TBL, "output", "nat", NF_INET_LOCAL_OUT, -100);
    net_nft_batch_base_chain(&b, FAM, TBL, "postrouting", "nat", NF_INET_POST_ROUTING, 100);
    forward_chain(&b, plan);
    input_chain(&b, plan);
    dnat_chain(&b, plan, "prerouting");
    dnat_chain(&b, plan, "output");
    postrouting_chain(&b, plan);
    rc = net_nft_batch_commit(&b, err);
    net_nft_batch_free(&b);
    if (rc != MVM_OK)
        mvm_error_context(err, "applying table inet " TBL);
    return rc;
}

mvm_code net_nft_host_remove(mvm_error *err)
{
    return net_nft_table_remove(FAM, TBL, err);
}
