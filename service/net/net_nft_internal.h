/* net_nft_internal.h - what the net_nft*.c files share: a growable nftables
 * batch (one transaction) that remembers what each message does so a kernel
 * error can name the table, chain and rule; rule builders for the few match
 * and action expressions mvm uses; address and CIDR parsing. Not for use
 * outside service/net/ (tests excepted). */
#ifndef MVM_NET_NFT_INTERNAL_H
#define MVM_NET_NFT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm_error.h"

struct nftnl_rule;

/* ---- rules as text (net_nft_list.c) ----
 * A rule rendered by libnftnl (family, table, chain, expressions), without
 * its handle or position, one line per rule: what a batch will add and what
 * the kernel holds, compared to tell whether a table already is what a batch
 * would make. */
typedef struct net_nft_text {
    char *s;
    size_t len, cap;
    bool failed; /* out of memory */
} net_nft_text;
/* Appends r's rendering; clears r's handle, position and id first. */
void net_nft_text_rule(net_nft_text *t, struct nftnl_rule *r);
void net_nft_text_free(net_nft_text *t);
struct mnl_socket;
/* On nl: *exists tells whether <family> <table> is there, and *rules gets
 * its rules rendered in kernel order. 0, or -1 with errno. */
int net_nft_table_read(struct mnl_socket *nl, uint32_t family, const char *table,
                       bool *exists, net_nft_text *rules);

/* ---- the batch (net_nft_batch.c) ---- */

#define NET_NFT_WHAT_MAX 192

typedef struct net_nft_batch {
    char *buf;
    size_t len, cap;
    uint32_t seq0;        /* seq of the batch-begin message */
    uint32_t seq;         /* next seq */
    char (*what)[NET_NFT_WHAT_MAX]; /* what[seq - seq0]: one line per message */
    size_t n_what, cap_what;
    bool failed;          /* an allocation failed while building */
    /* net_nft_batch_fresh_table's table, so the commit can leave out what is
     * not needed (see net_nft_batch_commit) */
    bool fresh;
    uint32_t fresh_family;
    char fresh_table[64];
    size_t del_off, del_len; /* the leading "add table, delete table" */
    net_nft_text want;       /* the batch's rules as net_nft_text_rule renders them */
} net_nft_batch;

/* Starts a batch (writes the batch-begin message). MVM_RESOURCE_EXHAUSTED on
 * allocation failure. */
mvm_code net_nft_batch_init(net_nft_batch *b, mvm_error *err);
void net_nft_batch_free(net_nft_batch *b);

/* Appends messages. Failures are remembered in b->failed and reported by
 * net_nft_batch_commit, so a builder need not check each append. */
void net_nft_batch_table(net_nft_batch *b, uint16_t msg_type, uint32_t family,
                         const char *table);
/* add table, delete it, add it again: in one batch this empties the table
 * whether or not it existed, so the messages after it build it afresh. The
 * commit then reads the table first: when it is absent the add and delete
 * are left out, and when its rules already are the batch's, nothing is sent
 * (a deletion costs an RCU grace period when the socket closes). */
void net_nft_batch_fresh_table(net_nft_batch *b, uint32_t family, const char *table);
/* Deletes <family> <table> in one transaction; MVM_OK when it was absent. */
mvm_code net_nft_table_remove(uint32_t family, const char *table, mvm_error *err);
/* A base chain: type "filter" or "nat", hook NF_INET_*, priority. */
void net_nft_batch_base_chain(net_nft_batch *b, uint32_t family, const char *table,
                              const char *chain, const char *type, uint32_t hook,
                              int32_t prio);
/* Appends rule r (NEWRULE, appended to its chain) and frees r; r may be NULL
 * (an earlier allocation failed), which marks the batch failed. */
void net_nft_batch_rule(net_nft_batch *b, struct nftnl_rule *r);

/* Ends the batch, sends it on a NETLINK_NETFILTER socket (for a fresh-table
 * batch, after reading the table: see net_nft_batch_fresh_table) and reads
 * the kernel's errors. MVM_OK when the transaction committed; otherwise the code
 * of the first refused message's errno with a message saying which one. */
mvm_code net_nft_batch_commit(net_nft_batch *b, mvm_error *err);

/* errno -> mvm_code, as documented in net_nft.h. */
mvm_code net_nft_errno_code(int e);

/* ---- rule building (net_nft_expr.c) ----
 * net_nft_rule_new allocates a rule with family, table, chain and the tag
 * as its userdata comment. The add helpers append expressions; on an
 * allocation failure they free the rule and set *r to NULL, and every later
 * helper is a no-op, so the whole rule is checked once, at
 * net_nft_batch_rule. */
struct nftnl_rule *net_nft_rule_new(uint32_t family, const char *table,
                                    const char *chain, const char *tag);
void net_nft_match_ifname(struct nftnl_rule **r, bool out, const char *name);
void net_nft_match_ifname_prefix(struct nftnl_rule **r, bool out, const char *prefix);
void net_nft_match_ct_established(struct nftnl_rule **r);
void net_nft_match_ipv4(struct nftnl_rule **r);  /* meta nfproto ipv4 */
/* ip saddr/daddr within addr/prefix (network byte order address) */
void net_nft_match_ip(struct nftnl_rule **r, bool daddr, uint32_t addr_be, int prefix);
void net_nft_match_l4_dport(struct nftnl_rule **r, uint8_t proto, uint16_t port);
void net_nft_match_daddr_local(struct nftnl_rule **r); /* fib daddr type local */
void net_nft_verdict(struct nftnl_rule **r, int verdict); /* NF_ACCEPT, NF_DROP */
/* NFT_NAT_DNAT / NFT_NAT_SNAT to addr (and port when port != 0) */
void net_nft_nat(struct nftnl_rule **r, int type, uint32_t addr_be, uint16_t port);
void net_nft_masquerade(struct nftnl_rule **r);

/* ---- parsing (net_nft_plan.c) ---- */
/* "a.b.c.d" -> network byte order. */
bool net_nft_parse_ip(const char *s, uint32_t *addr_be);
/* "a.b.c.d/n" with n in 0..32 and no host bits set. */
bool net_nft_parse_cidr(const char *s, uint32_t *addr_be, int *prefix);
/* "br-tenant-<id>" into buf (IFNAMSIZ); false when it would not fit. */
bool net_nft_bridge_name(uint32_t net_id, char *buf, size_t len);

#endif
