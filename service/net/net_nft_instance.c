/* net_nft_instance.c - the 1:1 NAT inside an instance's network namespace,
 * table `ip mvm-nat`: packets arriving on eth0 for the instance's tenant
 * address go to the guest (172.16.0.2, the address every clone of a snapshot
 * wakes up with), and the guest's packets leave eth0 with the tenant address.
 * Replaced whole in one transaction, so applying twice is the same as once. */
#include "net_nft.h"
#include "net_nft_internal.h"

#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#define FAM NFPROTO_IPV4
#define TBL NET_NFT_INSTANCE_TABLE

mvm_code net_nft_instance_apply(const char *tenant_ip, mvm_error *err)
{
    uint32_t tenant, guest;
    if (!net_nft_parse_ip(tenant_ip, &tenant))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "instance NAT: tenant address \"%s\" is not an IPv4 address",
                        tenant_ip ? tenant_ip : "(null)");
    if (!net_nft_parse_ip(NET_NFT_GUEST_IP, &guest))
        return mvm_fail(err, MVM_INTERNAL, "instance NAT: bad guest address constant");
    net_nft_batch b;
    mvm_code rc = net_nft_batch_init(&b, err);
    if (rc != MVM_OK)
        return rc;
    net_nft_batch_fresh_table(&b, FAM, TBL);
    net_nft_batch_base_chain(&b, FAM, TBL, "prerouting", "nat", NF_INET_PRE_ROUTING, -100);
    net_nft_batch_base_chain(&b, FAM, TBL, "postrouting", "nat", NF_INET_POST_ROUTING, 100);

    struct nftnl_rule *r = net_nft_rule_new(FAM, TBL, "prerouting", "mvm:instance:dnat");
    net_nft_match_ifname(&r, false, NET_NFT_INSTANCE_IFACE);
    net_nft_match_ip(&r, true, tenant, 32);
    net_nft_nat(&r, NFT_NAT_DNAT, guest, 0);
    net_nft_batch_rule(&b, r);

    r = net_nft_rule_new(FAM, TBL, "postrouting", "mvm:instance:snat");
    net_nft_match_ifname(&r, true, NET_NFT_INSTANCE_IFACE);
    net_nft_match_ip(&r, false, guest, 32);
    net_nft_nat(&r, NFT_NAT_SNAT, tenant, 0);
    net_nft_batch_rule(&b, r);

    rc = net_nft_batch_commit(&b, err);
    net_nft_batch_free(&b);
    if (rc != MVM_OK)
        mvm_error_context(err, "instance NAT for %s", tenant_ip);
    return rc;
}

mvm_code net_nft_instance_remove(mvm_error *err)
{
    return net_nft_table_remove(FAM, TBL, err);
}
