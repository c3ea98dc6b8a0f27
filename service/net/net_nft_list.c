/* net_nft_list.c - reads a table's rules back from the kernel with an
 * nftables GETRULE dump (chain, handle, and the userdata comment mvm tags
 * every rule with): what the tests check and what a restart reconciles
 * against. No command output is parsed. */
#include "net_nft.h"
#include "net_nft_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

typedef struct list_ctx {
    net_nft_rule_list *out;
    size_t cap;
    bool oom;
} list_ctx;

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
    if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
        char *tag = data;
        uint8_t len = nftnl_udata_len(attr);
        const char *v = nftnl_udata_get(attr);
        size_t n = len && v[len - 1] == '\0' ? (size_t)len - 1 : len;
        if (n >= sizeof ((net_nft_rule_info *)0)->tag)
            n = sizeof ((net_nft_rule_info *)0)->tag - 1;
        memcpy(tag, v, n);
        tag[n] = '\0';
    }
    return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
    list_ctx *ctx = data;
    struct nftnl_rule *r = nftnl_rule_alloc();
    if (!r) {
        ctx->oom = true;
        return MNL_CB_ERROR;
    }
    if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
        nftnl_rule_free(r);
        return MNL_CB_OK; /* not a rule we can read: skip it */
    }
    net_nft_rule_list *l = ctx->out;
    if (l->n == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 16;
        net_nft_rule_info *nr = realloc(l->rules, cap * sizeof *nr);
        if (!nr) {
            nftnl_rule_free(r);
            ctx->oom = true;
            return MNL_CB_ERROR;
        }
        l->rules = nr;
        ctx->cap = cap;
    }
    net_nft_rule_info *ri = &l->rules[l->n++];
    memset(ri, 0, sizeof *ri);
    const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
    snprintf(ri->chain, sizeof ri->chain, "%s", chain ? chain : "");
    ri->handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
    uint32_t ulen = 0;
    const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
    if (ud && ulen)
        nftnl_udata_parse(ud, ulen, comment_cb, ri->tag);
    nftnl_rule_free(r);
    return MNL_CB_OK;
}

/* Sends one request and runs cb over the answer until its end (the dump's
 * DONE or the ACK). Returns 0, or -1 with errno (the kernel's, for an error
 * answer; ENOMEM when the callback ran out of memory). */
static int request(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data,
                   const bool *oom)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -1;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        int rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
        if (rc == MNL_CB_STOP)
            return 0;
        if (rc < 0) {
            if (oom && *oom)
                errno = ENOMEM;
            return -1;
        }
    }
}

mvm_code net_nft_rules_list(uint32_t family, const char *table,
                            net_nft_rule_list *out, mvm_error *err)
{
    out->rules = NULL;
    out->n = 0;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nftnl_table *t = nftnl_table_alloc();
    struct nftnl_rule *filter = nftnl_rule_alloc();
    if (!t || !filter) {
        nftnl_table_free(t);
        nftnl_rule_free(filter);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "listing table %s: out of memory", table);
    }
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl) {
        int e = errno;
        nftnl_table_free(t);
        nftnl_rule_free(filter);
        return mvm_fail(err, net_nft_errno_code(e), "listing table %s: netlink socket: %s",
                        table, strerror(e));
    }
    mvm_code rc = MVM_OK;
    uint32_t seq = (uint32_t)time(NULL);
    list_ctx ctx = {.out = out};
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        rc = mvm_fail(err, net_nft_errno_code(e), "listing table %s: netlink bind: %s",
                      table, strerror(e));
        goto out;
    }
    /* the table first: a rule dump of a missing table is merely empty */
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
    nftnl_rule_set_u32(filter, NFTNL_RULE_FAMILY, family);
    if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0 ||
        nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, table) < 0) {
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "listing table %s: out of memory", table);
        goto out;
    }
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family,
                                                 NLM_F_ACK, seq++);
    nftnl_table_nlmsg_build_payload(nlh, t);
    if (request(nl, nlh, NULL, NULL, NULL) < 0) {
        int e = errno;
        if (e == ENOENT)
            rc = mvm_fail(err, MVM_NOT_FOUND, "table %s does not exist", table);
        else
            rc = mvm_fail(err, net_nft_errno_code(e), "looking up table %s: %s", table,
                          strerror(e));
        goto out;
    }
    nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP, seq++);
    nftnl_rule_nlmsg_build_payload(nlh, filter);
    if (request(nl, nlh, rule_cb, &ctx, &ctx.oom) < 0) {
        int e = errno;
        rc = mvm_fail(err, e == ENOENT ? MVM_NOT_FOUND : net_nft_errno_code(e),
                      "listing the rules of table %s: %s", table, strerror(e));
    }
out:
    mnl_socket_close(nl);
    nftnl_table_free(t);
    nftnl_rule_free(filter);
    if (rc != MVM_OK)
        net_nft_rule_list_free(out);
    return rc;
}

void net_nft_rule_list_free(net_nft_rule_list *list)
{
    free(list->rules);
    list->rules = NULL;
    list->n = 0;
}

long net_nft_rule_list_find(const net_nft_rule_list *list, const char *chain,
                            const char *tag)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->rules[i].chain, chain) == 0 && strcmp(list->rules[i].tag, tag) == 0)
            return (long)i;
    return -1;
}

/* ---- rules as text, to compare a table with a batch ---- */

void net_nft_text_rule(net_nft_text *t, struct nftnl_rule *c)
{
    if (t->failed)
        return;
    nftnl_rule_unset(c, NFTNL_RULE_HANDLE);
    nftnl_rule_unset(c, NFTNL_RULE_POSITION);
    nftnl_rule_unset(c, NFTNL_RULE_ID);
    for (;;) {
        size_t room = t->cap - t->len;
        int n = room ? nftnl_rule_snprintf(t->s + t->len, room, c, NFTNL_OUTPUT_DEFAULT, 0)
                     : 0;
        if (n < 0) {
            t->failed = true;
            break;
        }
        if (room && (size_t)n + 1 < room) { /* the line and its '\n' fit */
            t->len += (size_t)n;
            t->s[t->len++] = '\n';
            t->s[t->len] = '\0';
            break;
        }
        size_t cap = t->cap * 2 + (size_t)n + 512;
        char *ns = realloc(t->s, cap);
        if (!ns) {
            t->failed = true;
            break;
        }
        t->s = ns;
        t->cap = cap;
    }
}

void net_nft_text_free(net_nft_text *t)
{
    free(t->s);
    memset(t, 0, sizeof *t);
}

static int rule_text_cb(const struct nlmsghdr *nlh, void *data)
{
    net_nft_text *t = data;
    struct nftnl_rule *r = nftnl_rule_alloc();
    if (!r) {
        t->failed = true;
        return MNL_CB_ERROR;
    }
    if (nftnl_rule_nlmsg_parse(nlh, r) == 0)
        net_nft_text_rule(t, r);
    else
        t->failed = true; /* unreadable: never equal to a batch */
    nftnl_rule_free(r);
    return MNL_CB_OK;
}

int net_nft_table_read(struct mnl_socket *nl, uint32_t family, const char *table,
                       bool *exists, net_nft_text *rules)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    *exists = false;
    struct nftnl_table *t = nftnl_table_alloc();
    struct nftnl_rule *filter = nftnl_rule_alloc();
    int rc = -1;
    if (!t || !filter || nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0 ||
        nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, table) < 0) {
        errno = ENOMEM;
        goto out;
    }
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
    nftnl_rule_set_u32(filter, NFTNL_RULE_FAMILY, family);
    uint32_t seq = (uint32_t)time(NULL) | 0x80000000u; /* apart from a batch's 1, 2 ... */
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family,
                                                 NLM_F_ACK, seq++);
    nftnl_table_nlmsg_build_payload(nlh, t);
    if (request(nl, nlh, NULL, NULL, NULL) < 0) {
        if (errno == ENOENT)
            rc = 0; /* absent */
        goto out;
    }
    *exists = true;
    nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP, seq);
    nftnl_rule_nlmsg_build_payload(nlh, filter);
    if (request(nl, nlh, rule_text_cb, rules, &rules->failed) < 0)
        goto out;
    rc = rules->failed ? (errno = ENOMEM, -1) : 0;
out:
    nftnl_table_free(t);
    nftnl_rule_free(filter);
    return rc;
}
