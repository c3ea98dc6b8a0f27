/* net_nft_test.c - mvm's nftables tables, checked by reading them back from
 * the kernel through libnftnl. Runs in a fresh network namespace of its own
 * (unshare(CLONE_NEWNET)), so the host's tables are never touched; needs root
 * (exit 77, skipped, without). Checks: every rule of a plan in its chain; a
 * table mvm does not own survives every apply and the remove; applying twice
 * gives the same rules; a changed plan gives exactly the new rules; bad plans
 * are INVALID_ARGUMENT and change nothing; a kernel refusal names what it
 * refused; a large plan goes through in one transaction; the instance NAT
 * table; remove. */
#include "check.h"
#include "net_nft.h"
#include "net_nft_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

typedef struct want {
    const char *chain;
    const char *tag;
} want;

/* The table holds exactly these (chain, tag) rules, each once. */
static void check_exact(uint32_t family, const char *table, const want *w, size_t n,
                        const char *when)
{
    net_nft_rule_list l;
    mvm_error err;
    mvm_code rc = net_nft_rules_list(family, table, &l, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK) {
        fprintf(stderr, "%s: %s\n", when, err.msg);
        return;
    }
    CHECK_EQ_INT(l.n, n);
    for (size_t i = 0; i < n; i++) {
        long at = net_nft_rule_list_find(&l, w[i].chain, w[i].tag);
        CHECK(at >= 0);
        if (at < 0)
            fprintf(stderr, "%s: missing rule %s in chain %s\n", when, w[i].tag, w[i].chain);
    }
    if (l.n != n)
        for (size_t i = 0; i < l.n; i++)
            fprintf(stderr, "%s: have %s %s\n", when, l.rules[i].chain, l.rules[i].tag);
    net_nft_rule_list_free(&l);
}

/* A table and rule of someone else's, made by the test through libnftnl. */
static void make_foreign_table(void)
{
    net_nft_batch b;
    mvm_error err;
    CHECK_EQ_INT(net_nft_batch_init(&b, &err), MVM_OK);
    net_nft_batch_table(&b, NFT_MSG_NEWTABLE, NFPROTO_INET, "other");
    net_nft_batch_base_chain(&b, NFPROTO_INET, "other", "input", "filter",
                             NF_INET_LOCAL_IN, 10);
    struct nftnl_rule *r = net_nft_rule_new(NFPROTO_INET, "other", "input", "other:keep");
    net_nft_match_ifname(&r, false, "lo");
    net_nft_verdict(&r, NF_ACCEPT);
    net_nft_batch_rule(&b, r);
    mvm_code rc = net_nft_batch_commit(&b, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "foreign table: %s\n", err.msg);
    net_nft_batch_free(&b);
}

static const want foreign[] = {{"input", "other:keep"}};
#define FOREIGN_OK(when) check_exact(NFPROTO_INET, "other", foreign, 1, when)

static const char *const egress1[] = {"192.0.2.0/24", "198.51.100.7/32"};
static const net_nft_tenant tenants_a[] = {
    {.net_id = 1, .subnet = "10.240.1.0/24", .egress = egress1, .n_egress = 2},
    {.net_id = 2, .subnet = "10.240.2.0/24"},
};
static const net_nft_forward forwards_a[] = {
    {NET_NFT_TCP, 8080, "10.240.1.10", 80},
    {NET_NFT_UDP, 5353, "10.240.2.20", 53},
};
static const net_nft_service services[] = {{NET_NFT_UDP, 53}};
static const net_nft_host_plan plan_a = {
    .uplink = "eth9",
    .tenants = tenants_a, .n_tenants = 2,
    .forwards = forwards_a, .n_forwards = 2,
    .services = services, .n_services = 1,
};
static const want want_a[] = {
    {"forward", "mvm:ct"},
    {"forward", "mvm:tenant:1:intra"},
    {"forward", "mvm:tenant:2:intra"},
    {"forward", "mvm:cross-tenant"},
    {"forward", "mvm:tenant:1:egress:192.0.2.0/24"},
    {"forward", "mvm:tenant:1:egress:198.51.100.7/32"},
    {"forward", "mvm:tenant:1:egress-drop"},
    {"input", "mvm:ct"},
    {"input", "mvm:service:udp:53"},
    {"input", "mvm:guest-input-drop"},
    {"prerouting", "mvm:forward:tcp:8080"},
    {"prerouting", "mvm:forward:udp:5353"},
    {"output", "mvm:forward:tcp:8080"},
    {"output", "mvm:forward:udp:5353"},
    {"postrouting", "mvm:tenant:1:masquerade"},
    {"postrouting", "mvm:tenant:2:masquerade"},
};

/* plan B: tenant 2 gone (and its forward), a forward added, no uplink */
static const net_nft_forward forwards_b[] = {
    {NET_NFT_TCP, 8080, "10.240.1.10", 80},
    {NET_NFT_TCP, 2222, "10.240.1.11", 22},
};
static const net_nft_host_plan plan_b = {
    .uplink = "",
    .tenants = tenants_a, .n_tenants = 1,
    .forwards = forwards_b, .n_forwards = 2,
    .services = services, .n_services = 1,
};
static const want want_b[] = {
    {"forward", "mvm:ct"},
    {"forward", "mvm:tenant:1:intra"},
    {"forward", "mvm:cross-tenant"},
    {"forward", "mvm:tenant:1:egress:192.0.2.0/24"},
    {"forward", "mvm:tenant:1:egress:198.51.100.7/32"},
    {"forward", "mvm:tenant:1:egress-drop"},
    {"input", "mvm:ct"},
    {"input", "mvm:service:udp:53"},
    {"input", "mvm:guest-input-drop"},
    {"prerouting", "mvm:forward:tcp:8080"},
    {"prerouting", "mvm:forward:tcp:2222"},
    {"output", "mvm:forward:tcp:8080"},
    {"output", "mvm:forward:tcp:2222"},
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_apply_and_change(void)
{
    mvm_error err;
    mvm_code rc = net_nft_host_apply(&plan_a, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "apply plan A: %s\n", err.msg);
    check_exact(NFPROTO_INET, "mvm", want_a, N(want_a), "plan A");
    FOREIGN_OK("after plan A");

    CHECK_EQ_INT(net_nft_host_apply(&plan_a, &err), MVM_OK);
    check_exact(NFPROTO_INET, "mvm", want_a, N(want_a), "plan A twice");
    FOREIGN_OK("after plan A twice");

    rc = net_nft_host_apply(&plan_b, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "apply plan B: %s\n", err.msg);
    check_exact(NFPROTO_INET, "mvm", want_b, N(want_b), "plan B");
    FOREIGN_OK("after plan B");
}

/* Each bad plan: INVALID_ARGUMENT, a message, plan B's rules untouched. */
static void test_bad_plans(void)
{
    static const char *const bad_egress[] = {"192.0.2.0/24", "192.0.2.1/24"};
    net_nft_tenant bad_t[2] = {tenants_a[0], tenants_a[1]};
    net_nft_forward bad_f[2] = {forwards_a[0], forwards_a[1]};
    net_nft_service bad_s[1] = {services[0]};
    net_nft_host_plan p;
    const char *subnets[] = {"10.240.3.0/33", "10.240.3.1/24", "10.240.3.0", "abc/24",
                             "10.240.3.0/2x", "", NULL};
    for (size_t i = 0; i < N(subnets); i++) {
        p = plan_a;
        bad_t[1] = tenants_a[1];
        bad_t[1].subnet = subnets[i];
        p.tenants = bad_t;
        p.n_forwards = 1; /* the udp forward points into tenant 2 */
        mvm_error err = {0};
        CHECK_EQ_INT(net_nft_host_apply(&p, &err), MVM_INVALID_ARGUMENT);
        CHECK(strstr(err.msg, "subnet") != NULL);
    }
    for (int k = 0; k < 10; k++) {
        p = plan_a;
        bad_t[0] = tenants_a[0];
        bad_t[1] = tenants_a[1];
        bad_f[0] = forwards_a[0];
        bad_f[1] = forwards_a[1];
        bad_s[0] = services[0];
        p.tenants = bad_t;
        p.forwards = bad_f;
        p.services = bad_s;
        const char *name = "";
        switch (k) {
        case 0: bad_f[0].host_port = 0; name = "host port 0"; break;
        case 1: bad_f[0].instance_port = 65536; name = "instance port 65536"; break;
        case 2: bad_s[0].port = 70000; name = "service port 70000"; break;
        case 3: bad_f[1].proto = NET_NFT_TCP; bad_f[1].host_port = 8080;
                name = "tcp 8080 forwarded twice"; break;
        case 4: bad_t[0].egress = bad_egress; name = "egress with host bits"; break;
        case 5: bad_f[1].tenant_ip = "10.9.9.9"; name = "forward outside tenants"; break;
        case 6: bad_t[1].net_id = 1; name = "net_id twice"; break;
        case 7: bad_t[1].net_id = 123456; name = "net_id too long"; break;
        case 8: p.uplink = "eth/0"; name = "uplink with a slash"; break;
        case 9: p.uplink = "uplink-name-of-16"; name = "uplink too long"; break;
        }
        mvm_error err = {0};
        CHECK_EQ_INT(net_nft_host_apply(&p, &err), MVM_INVALID_ARGUMENT);
        CHECK(err.msg[0] != '\0');
        if (err.code != MVM_INVALID_ARGUMENT)
            fprintf(stderr, "bad plan \"%s\" was accepted\n", name);
    }
    check_exact(NFPROTO_INET, "mvm", want_b, N(want_b), "after bad plans");
    FOREIGN_OK("after bad plans");
}

/* A kernel refusal maps to the errno's code and names the message. */
static void test_kernel_error(void)
{
    net_nft_batch b;
    mvm_error err = {0};
    CHECK_EQ_INT(net_nft_batch_init(&b, &err), MVM_OK);
    net_nft_batch_table(&b, NFT_MSG_DELTABLE, NFPROTO_INET, "nosuch");
    CHECK_EQ_INT(net_nft_batch_commit(&b, &err), MVM_NOT_FOUND);
    CHECK(strstr(err.msg, "delete table inet nosuch") != NULL);
    net_nft_batch_free(&b);
    check_exact(NFPROTO_INET, "mvm", want_b, N(want_b), "after a refused batch");

    /* all or nothing: a batch that empties table inet mvm and then fails
     * leaves the table as it was */
    CHECK_EQ_INT(net_nft_batch_init(&b, &err), MVM_OK);
    net_nft_batch_fresh_table(&b, NFPROTO_INET, "mvm");
    net_nft_batch_table(&b, NFT_MSG_DELTABLE, NFPROTO_INET, "nosuch");
    CHECK_EQ_INT(net_nft_batch_commit(&b, &err), MVM_NOT_FOUND);
    net_nft_batch_free(&b);
    check_exact(NFPROTO_INET, "mvm", want_b, N(want_b), "after a failed replacement");
    FOREIGN_OK("after a failed replacement");
}

/* 1000 tenants with an egress CIDR each: ~4000 rules, a batch far larger
 * than a netlink socket's default send buffer, still one transaction. */
static void test_large_plan(void)
{
    enum { NT = 1000 };
    net_nft_tenant *t = calloc(NT, sizeof *t);
    char (*subnet)[32] = calloc(NT, sizeof *subnet);
    static const char *const eg[] = {"203.0.113.0/24"};
    CHECK(t && subnet);
    if (!t || !subnet) {
        free(t);
        free(subnet);
        return;
    }
    for (int i = 0; i < NT; i++) {
        snprintf(subnet[i], sizeof subnet[i], "10.%d.%d.0/24", 240 + i / 256, i % 256);
        t[i] = (net_nft_tenant){.net_id = (uint32_t)i + 1, .subnet = subnet[i],
                                .egress = eg, .n_egress = 1};
    }
    net_nft_host_plan p = {.uplink = "eth9", .tenants = t, .n_tenants = NT};
    mvm_error err;
    mvm_code rc = net_nft_host_apply(&p, &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "large plan: %s\n", err.msg);
    net_nft_rule_list l;
    CHECK_EQ_INT(net_nft_rules_list(NFPROTO_INET, "mvm", &l, &err), MVM_OK);
    /* per tenant intra, egress, egress-drop, masquerade; plus ct x2,
     * cross-tenant, guest-input-drop */
    CHECK_EQ_INT(l.n, NT * 4 + 4);
    CHECK(net_nft_rule_list_find(&l, "postrouting", "mvm:tenant:1000:masquerade") >= 0);
    net_nft_rule_list_free(&l);
    free(t);
    free(subnet);
}

static void test_remove(void)
{
    mvm_error err;
    net_nft_rule_list l;
    CHECK_EQ_INT(net_nft_host_remove(&err), MVM_OK);
    CHECK_EQ_INT(net_nft_rules_list(NFPROTO_INET, "mvm", &l, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(l.n, 0);
    FOREIGN_OK("after remove");
    CHECK_EQ_INT(net_nft_host_remove(&err), MVM_OK); /* absent: fine */
    FOREIGN_OK("after a second remove");
}

static void test_instance_nat(void)
{
    static const want w[] = {{"prerouting", "mvm:instance:dnat"},
                             {"postrouting", "mvm:instance:snat"}};
    mvm_error err;
    mvm_code rc = net_nft_instance_apply("10.240.1.10", &err);
    CHECK_EQ_INT(rc, MVM_OK);
    if (rc != MVM_OK)
        fprintf(stderr, "instance NAT: %s\n", err.msg);
    check_exact(NFPROTO_IPV4, "mvm-nat", w, 2, "instance NAT");
    CHECK_EQ_INT(net_nft_instance_apply("10.240.1.10", &err), MVM_OK);
    check_exact(NFPROTO_IPV4, "mvm-nat", w, 2, "instance NAT twice");
    CHECK_EQ_INT(net_nft_instance_apply("10.240.1.300", &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(net_nft_instance_apply(NULL, &err), MVM_INVALID_ARGUMENT);
    check_exact(NFPROTO_IPV4, "mvm-nat", w, 2, "instance NAT after bad input");
    FOREIGN_OK("after instance NAT");
    net_nft_rule_list l;
    CHECK_EQ_INT(net_nft_instance_remove(&err), MVM_OK);
    CHECK_EQ_INT(net_nft_rules_list(NFPROTO_IPV4, "mvm-nat", &l, &err), MVM_NOT_FOUND);
    CHECK_EQ_INT(net_nft_instance_remove(&err), MVM_OK);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: net_nft_test needs root (network namespaces, nftables)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        printf("SKIP: net_nft_test: unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 77;
    }
    make_foreign_table();
    test_apply_and_change();
    test_bad_plans();
    test_kernel_error();
    test_large_plan();
    test_remove();
    test_instance_nat();
    return check_done();
}
