/* bench_net.c - the mvm side of the networking benchmark (bench_net.py drives
 * it): N instances' networks made, reconciled and removed through mvm_net and
 * mvm_net_nft in the calling process's network namespace, each step timed
 * with CLOCK_MONOTONIC. It never creates namespaces for itself other than the
 * instances' own: bench_net.py runs it inside a fresh network and mount
 * namespace (tmpfs on /run/netns), so the host's interfaces are never touched.
 *
 *   bench_net setup     N PER_TENANT UID GID   tenants, N instances (ensure +
 *                                              instance NAT), one host apply
 *   bench_net reconcile N PER_TENANT UID GID   what a restarted mvmd does: net_list,
 *                                              ensure + NAT for all (no-ops), host apply
 *   bench_net leak      N PER_TENANT UID GID PCT
 *                                              the last PCT% of the instances are
 *                                              "unknown to the store": net_list
 *                                              finds them, net_instance_remove each
 *                                              (timed); then they are made again
 *   bench_net teardown  N PER_TENANT UID GID   net_instance_remove each, then the
 *                                              tenants and the host table, then
 *                                              waits (net_list) until the kernel's
 *                                              netns cleanup has taken every host
 *                                              veth away ("settled_us")
 *
 * Instance i is "bench-%05d" in tenant i / PER_TENANT (net_id 1 + t, subnet
 * 10.240.t.0/24, gateway .1), tenant IP 10.240.t.(2 + i % PER_TENANT), MAC
 * 02:00:0a:f0:t:host; the host plan forwards tcp 20000 + i to its port 22,
 * masquerades out of "uplink0", lets guests reach udp/tcp 53, and gives tenant
 * 1 an egress allowlist of two CIDRs. bench_net.py's command path makes the
 * same configuration with ip and nft.
 *
 * Output: one JSON object on stdout (times in microseconds). Exit 1 with the
 * mvm error on stderr if any call fails; 2 for bad arguments. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "net_nft.h"

#define MAX_PER_TENANT 253 /* hosts .2 .. .254 of a /24 */

typedef struct bench {
    int n, per_tenant, n_tenants;
    int pool; /* setup: netns pool size (0: none) */
    uid_t uid;
    gid_t gid;
} bench;

typedef struct inst {
    char id[32], ip[32], gw[32];
    uint32_t net_id;
    uint8_t mac[6];
} inst;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, const mvm_error *e) {
    fprintf(stderr, "bench_net: %s: %s (%s)\n", what, e->msg, mvm_code_name(e->code));
    exit(1);
}

static inst inst_of(const bench *b, int i) {
    inst x;
    int t = i / b->per_tenant, host = 2 + i % b->per_tenant;
    snprintf(x.id, sizeof x.id, "bench-%05d", i);
    snprintf(x.ip, sizeof x.ip, "10.240.%d.%d", t, host);
    snprintf(x.gw, sizeof x.gw, "10.240.%d.1", t);
    x.net_id = 1 + (uint32_t)t;
    const uint8_t mac[6] = {0x02, 0x00, 0x0a, 0xf0, (uint8_t)t, (uint8_t)host};
    memcpy(x.mac, mac, 6);
    return x;
}

/* ---- one instance: ensure + the NAT inside its netns ---- */

static mvm_code nat_inside(void *arg, mvm_error *err) {
    return net_nft_instance_apply(arg, err);
}

/* Times ensure and NAT separately into *ensure_us / *nat_us. */
static void instance_up(const bench *b, int i, double *ensure_us, double *nat_us) {
    inst x = inst_of(b, i);
    net_instance_spec s = {.instance_id = x.id, .net_id = x.net_id, .tenant_ip = x.ip,
                           .gateway = x.gw, .tap_uid = b->uid, .tap_gid = b->gid};
    memcpy(s.mac, x.mac, 6);
    char ns[NET_INSTANCE_ID_MAX + 8];
    mvm_error e;
    if (net_netns_name(x.id, ns, &e) != MVM_OK)
        die(x.id, &e);
    double t0 = now_us();
    if (net_instance_ensure(&s, &e) != MVM_OK)
        die("net_instance_ensure", &e);
    double t1 = now_us();
    if (net_ns_run(ns, nat_inside, x.ip, &e) != MVM_OK)
        die("net_nft_instance_apply", &e);
    double t2 = now_us();
    *ensure_us += t1 - t0;
    *nat_us += t2 - t1;
}

static void instance_down(const bench *b, int i) {
    inst x = inst_of(b, i);
    mvm_error e;
    if (net_instance_remove(x.id, &e) != MVM_OK)
        die("net_instance_remove", &e);
}

/* ---- the host plan ---- */

typedef struct plan_store {
    net_nft_tenant *tenants;
    char (*subnets)[32];
    net_nft_forward *forwards;
    char (*ips)[32];
    net_nft_host_plan plan;
} plan_store;

static const char *const egress[] = {"203.0.113.0/24", "198.51.100.7/32"};
static const net_nft_service services[] = {{NET_NFT_UDP, 53}, {NET_NFT_TCP, 53}};

static void plan_build(const bench *b, plan_store *p) {
    p->tenants = calloc((size_t)b->n_tenants, sizeof *p->tenants);
    p->subnets = calloc((size_t)b->n_tenants, sizeof *p->subnets);
    p->forwards = calloc((size_t)b->n, sizeof *p->forwards);
    p->ips = calloc((size_t)b->n, sizeof *p->ips);
    if (!p->tenants || !p->subnets || !p->forwards || !p->ips) {
        fprintf(stderr, "bench_net: out of memory\n");
        exit(1);
    }
    for (int t = 0; t < b->n_tenants; t++) {
        snprintf(p->subnets[t], sizeof p->subnets[t], "10.240.%d.0/24", t);
        p->tenants[t] = (net_nft_tenant){.net_id = 1 + (uint32_t)t, .subnet = p->subnets[t]};
        if (t == 0) {
            p->tenants[t].egress = egress;
            p->tenants[t].n_egress = 2;
        }
    }
    for (int i = 0; i < b->n; i++) {
        inst x = inst_of(b, i);
        snprintf(p->ips[i], sizeof p->ips[i], "%s", x.ip);
        p->forwards[i] = (net_nft_forward){.proto = NET_NFT_TCP, .host_port = 20000 + (uint32_t)i,
                                           .tenant_ip = p->ips[i], .instance_port = 22};
    }
    p->plan = (net_nft_host_plan){.uplink = "uplink0", .tenants = p->tenants,
                                  .n_tenants = (size_t)b->n_tenants, .forwards = p->forwards,
                                  .n_forwards = (size_t)b->n, .services = services,
                                  .n_services = 2};
}

static void plan_free(plan_store *p) {
    free(p->tenants);
    free(p->subnets);
    free(p->forwards);
    free(p->ips);
}

static double host_apply(const bench *b) {
    plan_store p;
    plan_build(b, &p);
    mvm_error e;
    double t0 = now_us();
    if (net_nft_host_apply(&p.plan, &e) != MVM_OK)
        die("net_nft_host_apply", &e);
    double t = now_us() - t0;
    plan_free(&p);
    return t;
}

/* ---- phases ---- */

static void tenants_up(const bench *b) {
    for (int t = 0; t < b->n_tenants; t++) {
        char subnet[32], gw[32];
        snprintf(subnet, sizeof subnet, "10.240.%d.0/24", t);
        snprintf(gw, sizeof gw, "10.240.%d.1", t);
        mvm_error e;
        if (net_tenant_ensure(1 + (uint32_t)t, subnet, gw, &e) != MVM_OK)
            die("net_tenant_ensure", &e);
    }
}

/* With a pool: started and waited for until its stock is full (the time
 * that takes, per netns, is off the instances' path: *fill_us). */
static void pool_up(const bench *b, double *fill_us) {
    mvm_error e;
    double t0 = now_us();
    if (net_ns_pool_start((unsigned)b->pool, b->uid, b->gid, &e) != MVM_OK)
        die("net_ns_pool_start", &e);
    while (net_ns_pool_stock() < (unsigned)b->pool) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    *fill_us = now_us() - t0;
}

static int phase_setup(const bench *b) {
    double fill = 0;
    if (b->pool)
        pool_up(b, &fill);
    double t0 = now_us();
    tenants_up(b);
    double tenants = now_us() - t0, ensure = 0, nat = 0;
    double *each = calloc((size_t)b->n, sizeof *each);
    if (!each)
        return 1;
    t0 = now_us();
    for (int i = 0; i < b->n; i++) {
        double s = now_us();
        instance_up(b, i, &ensure, &nat);
        each[i] = now_us() - s;
    }
    double instances = now_us() - t0;
    net_ns_pool_stop();
    double host = host_apply(b);
    double max = 0;
    for (int i = 0; i < b->n; i++)
        max = each[i] > max ? each[i] : max;
    /* the first and last tenth, to show whether the cost grows with N */
    int tenth = b->n / 10 > 0 ? b->n / 10 : 1;
    double first = 0, last = 0;
    for (int i = 0; i < tenth; i++) {
        first += each[i];
        last += each[b->n - 1 - i];
    }
    printf("{\"tenants_us\": %.0f, \"instances_us\": %.0f, \"ensure_us\": %.0f, "
           "\"nat_us\": %.0f, \"host_apply_us\": %.0f, \"max_instance_us\": %.0f, "
           "\"first_tenth_mean_us\": %.1f, \"last_tenth_mean_us\": %.1f, \"pool\": %d, "
           "\"pool_fill_us\": %.0f}\n",
           tenants, instances, ensure, nat, host, max, first / tenth, last / tenth, b->pool, fill);
    free(each);
    return 0;
}

typedef struct seen {
    int bridges, veths, netns;
} seen;

static int count_obj(net_object_kind kind, const char *name, void *arg) {
    seen *s = arg;
    (void)name;
    if (kind == NET_OBJ_BRIDGE)
        s->bridges++;
    else if (kind == NET_OBJ_HOST_VETH)
        s->veths++;
    else
        s->netns++;
    return 0;
}

static int phase_reconcile(const bench *b) {
    seen s = {0};
    mvm_error e;
    double t0 = now_us();
    if (net_list(count_obj, &s, &e) != MVM_OK)
        die("net_list", &e);
    double list = now_us() - t0, ensure = 0, nat = 0;
    double t1 = now_us();
    tenants_up(b);
    double tenants = now_us() - t1;
    for (int i = 0; i < b->n; i++)
        instance_up(b, i, &ensure, &nat);
    double host = host_apply(b);
    double total = now_us() - t0;
    printf("{\"total_us\": %.0f, \"list_us\": %.0f, \"tenants_us\": %.0f, \"ensure_us\": %.0f, "
           "\"nat_us\": %.0f, \"host_apply_us\": %.0f, \"listed_bridges\": %d, "
           "\"listed_veths\": %d, \"listed_netns\": %d}\n",
           total, list, tenants, ensure, nat, host, s.bridges, s.veths, s.netns);
    return 0;
}

/* The store knows instances [0, known); net_list's netns beyond that are
 * leaked. */
typedef struct leaks {
    int known;
    char (*ids)[NET_INSTANCE_ID_MAX + 1];
    int n, cap;
} leaks;

static int find_leak(net_object_kind kind, const char *name, void *arg) {
    leaks *l = arg;
    if (kind != NET_OBJ_NETNS)
        return 0;
    const char *id = name + strlen(NET_NETNS_PREFIX);
    int i = -1;
    if (sscanf(id, "bench-%d", &i) != 1 || i < l->known) /* bench ids only */
        return 0;
    if (l->n < l->cap)
        snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", id);
    return 0;
}

static int phase_leak(const bench *b, int pct) {
    int n_leaked = b->n * pct / 100;
    leaks l = {.known = b->n - n_leaked, .cap = n_leaked};
    l.ids = calloc((size_t)(n_leaked > 0 ? n_leaked : 1), sizeof *l.ids);
    if (!l.ids)
        return 1;
    mvm_error e;
    double t0 = now_us();
    if (net_list(find_leak, &l, &e) != MVM_OK)
        die("net_list", &e);
    double list = now_us() - t0;
    for (int k = 0; k < l.n; k++)
        if (net_instance_remove(l.ids[k], &e) != MVM_OK)
            die("net_instance_remove (leaked)", &e);
    double total = now_us() - t0;
    seen s = {0};
    if (net_list(count_obj, &s, &e) != MVM_OK)
        die("net_list", &e);
    int after_veths = s.veths, after_netns = s.netns;
    double ensure = 0, nat = 0; /* put them back for the teardown */
    for (int i = l.known; i < b->n; i++)
        instance_up(b, i, &ensure, &nat);
    printf("{\"leaked\": %d, \"found\": %d, \"total_us\": %.0f, \"list_us\": %.0f, "
           "\"veths_after\": %d, \"netns_after\": %d}\n",
           n_leaked, l.n, total, list, after_veths, after_netns);
    free(l.ids);
    return 0;
}

static int phase_teardown(const bench *b) {
    double t0 = now_us();
    for (int i = 0; i < b->n; i++)
        instance_down(b, i);
    double instances = now_us() - t0;
    mvm_error e;
    t0 = now_us();
    for (int t = 0; t < b->n_tenants; t++)
        if (net_tenant_remove(1 + (uint32_t)t, &e) != MVM_OK)
            die("net_tenant_remove", &e);
    if (net_nft_host_remove(&e) != MVM_OK)
        die("net_nft_host_remove", &e);
    double rest = now_us() - t0;
    /* the kernel frees the instances' netns (and their veths) in the
     * background: how long until no host veth is left (bounded) */
    seen s = {.veths = 1};
    while (s.veths > 0 && now_us() - t0 < 120e6) {
        s = (seen){0};
        if (net_list(count_obj, &s, &e) != MVM_OK)
            die("net_list", &e);
        if (s.veths > 0)
            nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    double settled = now_us() - t0 + instances;
    printf("{\"instances_us\": %.0f, \"tenants_and_host_us\": %.0f, \"settled_us\": %.0f, "
           "\"veths_left\": %d}\n",
           instances, rest, settled, s.veths);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_net setup N PER_TENANT UID GID [POOL]\n"
                    "       bench_net reconcile|teardown N PER_TENANT UID GID\n"
                    "       bench_net leak N PER_TENANT UID GID PCT\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 6)
        return usage();
    bench b = {.n = atoi(argv[2]), .per_tenant = atoi(argv[3]),
               .uid = (uid_t)strtoul(argv[4], NULL, 10), .gid = (gid_t)strtoul(argv[5], NULL, 10)};
    if (b.n < 1 || b.per_tenant < 1 || b.per_tenant > MAX_PER_TENANT)
        return usage();
    b.n_tenants = (b.n + b.per_tenant - 1) / b.per_tenant;
    if (b.n_tenants > 256 || b.n > 45535) /* 10.240.t.0/24, ports 20000 + i */
        return usage();
    const char *phase = argv[1];
    if (strcmp(phase, "setup") == 0) {
        b.pool = argc >= 7 ? atoi(argv[6]) : 0;
        if (b.pool < 0 || b.pool > (int)NET_NS_POOL_MAX)
            return usage();
        return phase_setup(&b);
    }
    if (strcmp(phase, "reconcile") == 0)
        return phase_reconcile(&b);
    if (strcmp(phase, "teardown") == 0)
        return phase_teardown(&b);
    if (strcmp(phase, "leak") == 0 && argc >= 7)
        return phase_leak(&b, atoi(argv[6]));
    return usage();
}
