/* net_nft_expr.c - builds mvm's rules from libnftnl expressions: interface
 * name matches (exact and prefix), conntrack state, IPv4 address and prefix,
 * transport destination port, "destination is a local address" (fib), the
 * accept/drop verdicts, DNAT/SNAT and masquerade. Each helper writes the same
 * register program `nft` would for the equivalent rule text, so the rules
 * read back sensibly with `nft list ruleset`. */
#include "net_nft_internal.h"

#include <net/if.h>
#include <string.h>

#include <stdio.h> /* libnftnl/expr.h uses FILE */
#include <arpa/inet.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

struct nftnl_rule *net_nft_rule_new(uint32_t family, const char *table,
                                    const char *chain, const char *tag)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    if (!r)
        return NULL;
    struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
    if (!ud)
        goto fail;
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
    if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0 ||
        !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, tag) ||
        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
                            nftnl_udata_buf_len(ud)) < 0) {
        nftnl_udata_buf_free(ud);
        goto fail;
    }
    nftnl_udata_buf_free(ud);
    return r;
fail:
    nftnl_rule_free(r);
    return NULL;
}

/* Allocates expression `name` for *r; NULL (and *r freed) on failure. */
static struct nftnl_expr *expr(struct nftnl_rule **r, const char *name)
{
    if (!*r)
        return NULL;
    struct nftnl_expr *e = nftnl_expr_alloc(name);
    if (!e) {
        nftnl_rule_free(*r);
        *r = NULL;
    }
    return e;
}

static void add(struct nftnl_rule **r, struct nftnl_expr *e)
{
    nftnl_rule_add_expr(*r, e);
}

/* A data attribute that did not fit: the expression and the rule are dropped. */
static bool set_ok(struct nftnl_rule **r, struct nftnl_expr *e, int rc)
{
    if (rc >= 0)
        return true;
    nftnl_expr_free(e);
    nftnl_rule_free(*r);
    *r = NULL;
    return false;
}

static void load_meta(struct nftnl_rule **r, uint32_t key)
{
    struct nftnl_expr *e = expr(r, "meta");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    add(r, e);
}

static void cmp(struct nftnl_rule **r, uint32_t op, const void *data, uint32_t len)
{
    struct nftnl_expr *e = expr(r, "cmp");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    if (set_ok(r, e, nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len)))
        add(r, e);
}

static void bitwise_and(struct nftnl_rule **r, const void *mask, uint32_t len)
{
    static const uint8_t zero[16];
    struct nftnl_expr *e = expr(r, "bitwise");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
    if (set_ok(r, e, nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len)) &&
        set_ok(r, e, nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len)))
        add(r, e);
}

static void load_payload(struct nftnl_rule **r, uint32_t base, uint32_t offset,
                         uint32_t len)
{
    struct nftnl_expr *e = expr(r, "payload");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    add(r, e);
}

static void immediate_data(struct nftnl_rule **r, uint32_t reg, const void *data,
                           uint32_t len)
{
    struct nftnl_expr *e = expr(r, "immediate");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
    if (set_ok(r, e, nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len)))
        add(r, e);
}

void net_nft_match_ifname(struct nftnl_rule **r, bool out, const char *name)
{
    char buf[IFNAMSIZ] = {0};
    strncpy(buf, name, IFNAMSIZ - 1);
    load_meta(r, out ? NFT_META_OIFNAME : NFT_META_IIFNAME);
    cmp(r, NFT_CMP_EQ, buf, IFNAMSIZ);
}

void net_nft_match_ifname_prefix(struct nftnl_rule **r, bool out, const char *prefix)
{
    /* comparing fewer bytes than the register holds matches a prefix, as
     * `iifname "br-tenant-*"` does */
    load_meta(r, out ? NFT_META_OIFNAME : NFT_META_IIFNAME);
    cmp(r, NFT_CMP_EQ, prefix, (uint32_t)strlen(prefix));
}

void net_nft_match_ct_established(struct nftnl_rule **r)
{
    uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
    uint32_t zero = 0;
    struct nftnl_expr *e = expr(r, "ct");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    add(r, e);
    bitwise_and(r, &mask, sizeof mask);
    cmp(r, NFT_CMP_NEQ, &zero, sizeof zero);
}

void net_nft_match_ipv4(struct nftnl_rule **r)
{
    uint8_t proto = NFPROTO_IPV4;
    load_meta(r, NFT_META_NFPROTO);
    cmp(r, NFT_CMP_EQ, &proto, sizeof proto);
}

void net_nft_match_ip(struct nftnl_rule **r, bool daddr, uint32_t addr_be, int prefix)
{
    if (prefix <= 0)
        return; /* /0 matches every address */
    load_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr ? 16 : 12, 4);
    if (prefix < 32) {
        uint32_t mask = htonl(~(uint32_t)0 << (32 - prefix));
        bitwise_and(r, &mask, sizeof mask);
    }
    cmp(r, NFT_CMP_EQ, &addr_be, sizeof addr_be);
}

void net_nft_match_l4_dport(struct nftnl_rule **r, uint8_t proto, uint16_t port)
{
    uint16_t port_be = htons(port);
    load_meta(r, NFT_META_L4PROTO);
    cmp(r, NFT_CMP_EQ, &proto, sizeof proto);
    load_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
    cmp(r, NFT_CMP_EQ, &port_be, sizeof port_be);
}

void net_nft_match_daddr_local(struct nftnl_rule **r)
{
    uint32_t local = RTN_LOCAL;
    struct nftnl_expr *e = expr(r, "fib");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
    add(r, e);
    cmp(r, NFT_CMP_EQ, &local, sizeof local);
}

void net_nft_verdict(struct nftnl_rule **r, int verdict)
{
    struct nftnl_expr *e = expr(r, "immediate");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
    add(r, e);
}

void net_nft_nat(struct nftnl_rule **r, int type, uint32_t addr_be, uint16_t port)
{
    uint16_t port_be = htons(port);
    immediate_data(r, NFT_REG_1, &addr_be, sizeof addr_be);
    if (port)
        immediate_data(r, NFT_REG_2, &port_be, sizeof port_be);
    struct nftnl_expr *e = expr(r, "nat");
    if (!e)
        return;
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, (uint32_t)type);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
    /* spelled out as the kernel reports it back (max = min, the flags it
     * would infer), so a table read back compares equal to a batch */
    uint32_t flags = NF_NAT_RANGE_MAP_IPS;
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
    if (port) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, NFT_REG_2);
        flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
    }
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
    add(r, e);
}

void net_nft_masquerade(struct nftnl_rule **r)
{
    struct nftnl_expr *e = expr(r, "masq");
    if (!e)
        return;
    add(r, e);
}
