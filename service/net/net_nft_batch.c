/* net_nft_batch.c - one nftables transaction: messages appended to a growable
 * netlink batch, sent in one sendmsg on a NETLINK_NETFILTER socket, and the
 * kernel's answer read back. The kernel applies a batch atomically: if any
 * message fails, none takes effect. Messages are sent without NLM_F_ACK, so
 * the kernel answers only with errors, and it answers before sendmsg returns
 * (netlink input to the kernel is processed synchronously), so after the send
 * every error is already queued on the socket. */
#include "net_nft_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

/* Room kept free before each message; mvm's largest rule is well under 1 KiB. */
#define NET_NFT_MSG_ROOM 4096

mvm_code net_nft_errno_code(int e)
{
    switch (e) {
    case EPERM:
    case EACCES: return MVM_PERMISSION_DENIED;
    case ENOENT: return MVM_NOT_FOUND;
    case EEXIST: return MVM_ALREADY_EXISTS;
    case ENOMEM:
    case ENOBUFS:
    case ENOSPC: return MVM_RESOURCE_EXHAUSTED;
    case EINVAL:
    case EOPNOTSUPP:
    case ERANGE: return MVM_INTERNAL;
    default: return MVM_UNAVAILABLE;
    }
}

static const char *family_name(uint32_t family)
{
    switch (family) {
    case NFPROTO_INET: return "inet";
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    default: return "?";
    }
}

/* Makes room for one more message; returns its start, or NULL (b->failed). */
static char *reserve(net_nft_batch *b, const char *what)
{
    if (b->failed)
        return NULL;
    if (b->cap - b->len < NET_NFT_MSG_ROOM) {
        size_t cap = b->cap * 2 + NET_NFT_MSG_ROOM;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = true;
            return NULL;
        }
        b->buf = nb;
        b->cap = cap;
    }
    if (b->n_what == b->cap_what) {
        size_t cap = b->cap_what ? b->cap_what * 2 : 32;
        char (*nw)[NET_NFT_WHAT_MAX] = realloc(b->what, cap * sizeof *nw);
        if (!nw) {
            b->failed = true;
            return NULL;
        }
        b->what = nw;
        b->cap_what = cap;
    }
    snprintf(b->what[b->n_what++], NET_NFT_WHAT_MAX, "%s", what);
    return b->buf + b->len;
}

static void advance(net_nft_batch *b, const struct nlmsghdr *nlh)
{
    b->len += nlh->nlmsg_len;
    b->seq++;
}

mvm_code net_nft_batch_init(net_nft_batch *b, mvm_error *err)
{
    memset(b, 0, sizeof *b);
    b->seq0 = b->seq = 1;
    char *p = reserve(b, "batch begin");
    if (!p) {
        net_nft_batch_free(b);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "nftables batch: out of memory");
    }
    advance(b, nftnl_batch_begin(p, b->seq));
    return MVM_OK;
}

void net_nft_batch_free(net_nft_batch *b)
{
    free(b->buf);
    free(b->what);
    net_nft_text_free(&b->want);
    memset(b, 0, sizeof *b);
}

void net_nft_batch_table(net_nft_batch *b, uint16_t msg_type, uint32_t family,
                         const char *table)
{
    char what[NET_NFT_WHAT_MAX];
    snprintf(what, sizeof what, "%s table %s %s",
             msg_type == NFT_MSG_DELTABLE ? "delete" : "add", family_name(family), table);
    char *p = reserve(b, what);
    if (!p)
        return;
    struct nftnl_table *t = nftnl_table_alloc();
    if (!t) {
        b->failed = true;
        return;
    }
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
    if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0) {
        nftnl_table_free(t);
        b->failed = true;
        return;
    }
    uint16_t flags = msg_type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0;
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(p, msg_type, family, flags, b->seq);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    advance(b, nlh);
}

void net_nft_batch_fresh_table(net_nft_batch *b, uint32_t family, const char *table)
{
    size_t off = b->len;
    net_nft_batch_table(b, NFT_MSG_NEWTABLE, family, table);
    net_nft_batch_table(b, NFT_MSG_DELTABLE, family, table);
    b->del_off = off;
    b->del_len = b->len - off;
    net_nft_batch_table(b, NFT_MSG_NEWTABLE, family, table);
    b->fresh = snprintf(b->fresh_table, sizeof b->fresh_table, "%s", table) <
               (int)sizeof b->fresh_table;
    b->fresh_family = family;
}

mvm_code net_nft_table_remove(uint32_t family, const char *table, mvm_error *err)
{
    net_nft_batch b;
    mvm_code rc = net_nft_batch_init(&b, err);
    if (rc != MVM_OK)
        return rc;
    net_nft_batch_table(&b, NFT_MSG_NEWTABLE, family, table); /* so that absent is fine */
    net_nft_batch_table(&b, NFT_MSG_DELTABLE, family, table);
    rc = net_nft_batch_commit(&b, err);
    net_nft_batch_free(&b);
    if (rc != MVM_OK)
        mvm_error_context(err, "removing table %s %s", family_name(family), table);
    return rc;
}

void net_nft_batch_base_chain(net_nft_batch *b, uint32_t family, const char *table,
                              const char *chain, const char *type, uint32_t hook,
                              int32_t prio)
{
    char what[NET_NFT_WHAT_MAX];
    snprintf(what, sizeof what, "add chain %s of table %s %s", chain,
             family_name(family), table);
    char *p = reserve(b, what);
    if (!p)
        return;
    struct nftnl_chain *c = nftnl_chain_alloc();
    if (!c) {
        b->failed = true;
        return;
    }
    nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
    if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain) < 0 ||
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0) {
        nftnl_chain_free(c);
        b->failed = true;
        return;
    }
    struct nlmsghdr *nlh =
        nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, b->seq);
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    advance(b, nlh);
}

void net_nft_batch_rule(net_nft_batch *b, struct nftnl_rule *r)
{
    if (!r) {
        b->failed = true;
        return;
    }
    char what[NET_NFT_WHAT_MAX];
    uint32_t family = nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY);
    const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
    const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
    uint32_t ulen = 0;
    const void *udata = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
    /* the comment TLV: type, length, then the string (with its NUL) */
    const char *tag = udata && ulen > 2 ? (const char *)udata + 2 : "";
    snprintf(what, sizeof what, "add rule \"%.*s\" to chain %s of table %s %s",
             (int)(ulen > 2 ? ulen - 2 : 0), tag, chain ? chain : "?",
             family_name(family), table ? table : "?");
    char *p = reserve(b, what);
    if (!p) {
        nftnl_rule_free(r);
        return;
    }
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, family,
                                                 NLM_F_CREATE | NLM_F_APPEND, b->seq);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    if (b->fresh)
        net_nft_text_rule(&b->want, r);
    nftnl_rule_free(r);
    advance(b, nlh);
}

/* Reads what the kernel queued; the earliest error goes to first_seq and first_errno. */
static int drain_errors(struct mnl_socket *nl, uint32_t *first_seq, int *first_errno)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        int len = (int)n;
        for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, len);
             h = mnl_nlmsg_next(h, &len)) {
            if (h->nlmsg_type != NLMSG_ERROR)
                continue;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
            if (e->error != 0 && (*first_errno == 0 || e->msg.nlmsg_seq < *first_seq)) {
                *first_seq = e->msg.nlmsg_seq;
                *first_errno = -e->error;
            }
        }
    }
}

mvm_code net_nft_batch_commit(net_nft_batch *b, mvm_error *err)
{
    char *p = reserve(b, "batch end");
    if (!p || b->failed)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "nftables batch: out of memory while building it");
    advance(b, nftnl_batch_end(p, b->seq));

    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl) {
        int e = errno;
        return mvm_fail(err, net_nft_errno_code(e), "nftables: netlink socket: %s",
                        strerror(e));
    }
    mvm_code rc = MVM_OK;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        rc = mvm_fail(err, net_nft_errno_code(e), "nftables: bind netlink socket: %s",
                      strerror(e));
        goto out;
    }
    if (b->fresh && !b->want.failed) {
        bool exists = false;
        net_nft_text have = {0};
        int r = net_nft_table_read(nl, b->fresh_family, b->fresh_table, &exists, &have);
        bool same = r == 0 && exists && have.len == b->want.len &&
                    (have.len == 0 || memcmp(have.s, b->want.s, have.len) == 0);
        net_nft_text_free(&have);
        if (same)
            goto out; /* the table already holds exactly this batch's rules */
        if (r == 0 && !exists) { /* nothing to delete: leave out "add, delete" */
            memmove(b->buf + b->del_off, b->buf + b->del_off + b->del_len,
                    b->len - b->del_off - b->del_len);
            b->len -= b->del_len;
            b->del_len = 0;
        }
        /* on a read error: the whole batch, which is right in every case */
    }
    int fd = mnl_socket_get_fd(nl);
    /* A large ruleset goes in one sendmsg: the send buffer must hold it. */
    int sndbuf = (int)(b->len + 4096);
    if (b->len > 128 * 1024 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) {
        int e = errno;
        rc = mvm_fail(err, net_nft_errno_code(e), "nftables: send buffer of %d bytes: %s",
                      sndbuf, strerror(e));
        goto out;
    }
    ssize_t sent = mnl_socket_sendto(nl, b->buf, b->len);
    if (sent < 0 || (size_t)sent != b->len) {
        int e = sent < 0 ? errno : EIO;
        rc = mvm_fail(err, net_nft_errno_code(e),
                      "nftables: sending a batch of %zu bytes: %s", b->len, strerror(e));
        goto out;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        rc = mvm_fail(err, MVM_INTERNAL, "nftables: netlink socket non-blocking: %s",
                      strerror(e));
        goto out;
    }
    uint32_t seq = 0;
    int kerr = 0;
    if (drain_errors(nl, &seq, &kerr) < 0) {
        int e = errno;
        rc = mvm_fail(err, net_nft_errno_code(e),
                      "nftables: reading the kernel's answer: %s (transaction state "
                      "unknown; read the ruleset back)", strerror(e));
        goto out;
    }
    if (kerr) {
        size_t i = seq - b->seq0;
        const char *what = seq >= b->seq0 && i < b->n_what ? b->what[i] : "a message";
        rc = mvm_fail(err, net_nft_errno_code(kerr),
                      "nftables refused the transaction at \"%s\": %s (nothing changed)",
                      what, strerror(kerr));
    }
out:
    mnl_socket_close(nl);
    return rc;
}
