/* net_nft.h - mvm's nftables rules, made through libnftnl and sent to the
 * kernel as one nftables transaction (one netlink batch) per change. Never by
 * running `nft` or `iptables`, and never touching a table mvm does not own.
 *
 * Two rulesets:
 *
 *  - The host's table `inet mvm` (net_nft_host_apply): tenant isolation,
 *    egress allowlists, masquerade out of the uplink, port forwards by DNAT,
 *    and which host services guests may reach. The whole table is replaced
 *    by the plan in one transaction: the kernel holds either the old ruleset
 *    or the new one, never a mix, and a failed apply changes nothing.
 *
 *  - An instance's table `ip mvm-nat` inside the instance's own network
 *    namespace (net_nft_instance_apply): the 1:1 NAT between the guest's
 *    internal address (172.16.0.2, the same in every clone of a snapshot) and
 *    the instance's tenant address on the namespace's eth0.
 *
 * Every rule carries a comment in its userdata (NFTNL_UDATA_RULE_COMMENT, the
 * one `nft list ruleset` shows) naming what it is for: "mvm:tenant:7:intra",
 * "mvm:forward:tcp:8080" and so on (the full list is at the top of
 * net_nft_host.c and net_nft_instance.c). net_nft_rules_list() reads them
 * back, for tests and for the reconcile after a restart.
 *
 * Threads: every function opens its own netlink socket and keeps no state,
 * so any thread may call any of them. Two concurrent applies are each atomic;
 * the later one wins. The functions act on the network namespace of the
 * calling thread (setns(2) on a thread changes only that thread).
 *
 * Errors (the mvm_error convention, common/mvm_error.h): a plan that does not
 * hold together is INVALID_ARGUMENT before anything is sent. Kernel errors map
 * to EPERM/EACCES -> PERMISSION_DENIED, ENOENT -> NOT_FOUND, EEXIST ->
 * ALREADY_EXISTS, ENOMEM/ENOBUFS/ENOSPC -> RESOURCE_EXHAUSTED, EINVAL and
 * EOPNOTSUPP -> INTERNAL (a rule the kernel does not accept is mvm's bug),
 * anything else -> UNAVAILABLE; the message names the table, chain and rule
 * tag the kernel refused.
 */
#ifndef MVM_NET_NFT_H
#define MVM_NET_NFT_H

#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"

/* The names mvm owns. */
#define NET_NFT_HOST_TABLE "mvm"          /* family inet */
#define NET_NFT_INSTANCE_TABLE "mvm-nat"  /* family ip, in an instance's netns */
#define NET_NFT_BRIDGE_PREFIX "br-tenant-"
#define NET_NFT_GUEST_IP "172.16.0.2"     /* the guest's address behind tap0 */
#define NET_NFT_INSTANCE_IFACE "eth0"     /* the netns side facing the tenant */

typedef enum net_nft_proto {
    NET_NFT_TCP = 6,  /* IPPROTO_TCP */
    NET_NFT_UDP = 17, /* IPPROTO_UDP */
} net_nft_proto;

typedef struct net_nft_tenant {
    uint32_t net_id;            /* bridge br-tenant-<net_id>; at most 5 digits */
    const char *subnet;         /* "10.240.7.0/24": address with host bits 0 */
    const char *const *egress;  /* allowed destination CIDRs */
    size_t n_egress;            /* 0: egress open */
} net_nft_tenant;

typedef struct net_nft_forward {
    net_nft_proto proto;
    uint32_t host_port;         /* 1..65535; once per proto in a plan */
    const char *tenant_ip;      /* the instance's tenant address, in a tenant subnet */
    uint32_t instance_port;     /* 1..65535 */
} net_nft_forward;

typedef struct net_nft_service {
    net_nft_proto proto;
    uint32_t port;              /* 1..65535: a host port guests may reach */
} net_nft_service;

typedef struct net_nft_host_plan {
    const char *uplink;         /* NULL or "": no masquerade */
    const net_nft_tenant *tenants;
    size_t n_tenants;
    const net_nft_forward *forwards;
    size_t n_forwards;
    const net_nft_service *services;
    size_t n_services;
} net_nft_host_plan;

/* Checks a plan without sending anything: CIDRs and addresses well formed,
 * ports 1..65535, protocols tcp or udp, net_ids unique and short enough for
 * an interface name, no (proto, host_port) forwarded twice, every forward's
 * tenant_ip inside some tenant's subnet, the uplink (when set) a name the
 * kernel would accept for an interface.
 * Returns MVM_OK or MVM_INVALID_ARGUMENT naming the offending entry. */
mvm_code net_nft_plan_check(const net_nft_host_plan *plan, mvm_error *err);

/* Makes table inet mvm exactly what the plan says, in one transaction: the
 * table is created if absent, deleted and added again with its chains
 * (forward, input: filter; prerouting, output, postrouting: nat) and rules.
 * Idempotent. Other tables are never touched. On any error the kernel keeps
 * the previous ruleset. Errors: see the top of this file. */
mvm_code net_nft_host_apply(const net_nft_host_plan *plan, mvm_error *err);

/* Deletes table inet mvm in one transaction; MVM_OK if it was absent. */
mvm_code net_nft_host_remove(mvm_error *err);

/* In the calling thread's network namespace (an instance's), makes table
 * ip mvm-nat hold exactly: prerouting "iifname eth0 ip daddr <tenant_ip>
 * dnat to 172.16.0.2" (tag mvm:instance:dnat) and postrouting "oifname eth0
 * ip saddr 172.16.0.2 snat to <tenant_ip>" (tag mvm:instance:snat). One
 * transaction, idempotent. INVALID_ARGUMENT for a malformed tenant_ip. */
mvm_code net_nft_instance_apply(const char *tenant_ip, mvm_error *err);

/* Deletes table ip mvm-nat in the calling thread's namespace (OK if absent). */
mvm_code net_nft_instance_remove(mvm_error *err);

/* One rule as read back from the kernel. */
typedef struct net_nft_rule_info {
    char chain[64];
    char tag[128];   /* the userdata comment; "" when the rule has none */
    uint64_t handle;
} net_nft_rule_info;

typedef struct net_nft_rule_list {
    net_nft_rule_info *rules;  /* in kernel order (chain by chain) */
    size_t n;
} net_nft_rule_list;

/* Reads every rule of table <family> <table> (family: NFPROTO_INET,
 * NFPROTO_IPV4 ...) through an nftables GETRULE dump. Fills *out (free with
 * net_nft_rule_list_free). NOT_FOUND when the table does not exist. */
mvm_code net_nft_rules_list(uint32_t family, const char *table,
                            net_nft_rule_list *out, mvm_error *err);

/* Frees the rules of a list and empties it; safe on an empty list. */
void net_nft_rule_list_free(net_nft_rule_list *list);

/* Index of the first rule with that chain and tag, or -1. */
long net_nft_rule_list_find(const net_nft_rule_list *list, const char *chain,
                            const char *tag);

#endif
