/* core_net.c - mvmd's side of tenant networking (service/net/): whether the
 * node does networking at all (--network), IPv4 forwarding, one bridge per
 * tenant and the host table `inet mvm` kept in step with the store, each
 * instance's netns made before its process starts and removed with the
 * instance, and at start a pass that makes the kernel match the store
 * (leaked devices, namespaces and rules removed, missing ones made).
 *
 * The scheme is docs/networking.md's: Firecracker runs inside the netns
 * "mvm-<instance id>", its interface is tap0 there, the guest is always
 * 172.16.0.2 behind it, and the netns NATs that 1:1 to the instance's tenant
 * address on its eth0, a veth into the tenant's bridge.
 *
 * Threads: core_net_sync and core_net_recover serialise on net->mu (host
 * objects: bridges, the host table); the per-instance functions run under
 * the instance's claim (one operation per instance) and touch only that
 * instance's netns and veth, so they run in parallel. */
#include "core_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "net_nft.h"

/* The guest's side of tap0, as the kernel learns it from its command line
 * (ip=client::gateway:netmask::device:autoconf). */
#define GUEST_IP_ARG "ip=" NET_GUEST_ADDR "::" NET_TAP_ADDR ":255.255.255.252::eth0:off"

/* Namespaces made ahead when --net-pool is not given: a burst of clones
 * this large is set up without making a netns on its path. */
#define CORE_NET_POOL_DEFAULT 16u

/* The MAC the template of a base snapshot boots with: every clone's guest
 * keeps it, behind its own netns (locally administered, unicast). */
#define TEMPLATE_MAC "06:00:ac:10:00:02"

struct core_net {
    bool on;
    char uplink[NET_IFNAME_MAX];
    net_nft_service *services; /* guests may reach these host ports */
    size_t n_services;
    pthread_mutex_t mu;        /* bridges and the host table */
    bool dirty;                /* under mu: the last sync failed or was asked
                                  for; the reconcile loop runs one */
};

bool core_net_on(const core *c) {
    return c->net && c->net->on;
}

/* ---- options ---- */

/* "tcp:53,udp:53" into net->services. */
static mvm_code parse_services(core_net *n, const char *text, mvm_error *err) {
    if (!text || !*text)
        return MVM_OK;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    n->services = calloc(cap, sizeof *n->services);
    if (!n->services)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[32];
        unsigned port = 0;
        char proto[8], extra;
        if (len >= sizeof item)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "--net-host-services: \"%.*s\" is not "
                            "PROTO:PORT", (int)len, p);
        memcpy(item, p, len);
        item[len] = '\0';
        if (sscanf(item, "%7[a-z]:%u%c", proto, &port, &extra) != 2 || port < 1 ||
            port > 65535 || (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "--net-host-services: \"%s\" is not tcp:PORT or udp:PORT with PORT "
                            "1-65535",
                            item);
        net_nft_service *s = &n->services[n->n_services++];
        s->proto = strcmp(proto, "tcp") == 0 ? NET_NFT_TCP : NET_NFT_UDP;
        s->port = port;
        p += len;
        if (*p == ',')
            p++;
    }
    return MVM_OK;
}

static mvm_code enable_forwarding(mvm_error *err) {
    const char *path = "/proc/sys/net/ipv4/ip_forward";
    char was = '?';
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return mvm_fail(err, MVM_PERMISSION_DENIED, "networking: cannot open %s: %s", path,
                        strerror(errno));
    ssize_t r = read(fd, &was, 1);
    mvm_code c = MVM_OK;
    if (r == 1 && was != '1' &&
        (lseek(fd, 0, SEEK_SET) != 0 || write(fd, "1\n", 2) != 2))
        c = mvm_fail(err, MVM_PERMISSION_DENIED, "networking: cannot enable IPv4 forwarding "
                     "(%s): %s", path, strerror(errno));
    close(fd);
    if (!c)
        fprintf(stderr, "mvmd: networking: IPv4 forwarding %s (net.ipv4.ip_forward = 1)\n",
                was == '1' ? "was already enabled" : "enabled");
    return c;
}

mvm_code core_net_init(core *c, mvm_error *err) {
    core_net *n = calloc(1, sizeof *n);
    if (!n)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_init(&n->mu, NULL);
    c->net = n;
    mvm_code rc = parse_services(n, c->opt.net_host_services, err);
    if (rc)
        return rc;
    if (c->opt.network == CORE_NETWORK_OFF) {
        fprintf(stderr, "mvmd: networking: off (--network off): instances get no network "
                        "interface\n");
        return MVM_OK;
    }
    /* auto: on where mvmd runs as root with /dev/net/tun; on: tried with
     * whatever capabilities mvmd has (CAP_NET_ADMIN and CAP_SYS_ADMIN are
     * what it needs), and a node that cannot is an error */
    mvm_error probe;
    mvm_code pc = MVM_OK;
    if (access("/dev/net/tun", R_OK | W_OK) != 0)
        pc = mvm_fail(&probe, MVM_FAILED_PRECONDITION, "/dev/net/tun: %s", strerror(errno));
    else if (c->opt.network == CORE_NETWORK_AUTO && geteuid() != 0)
        pc = mvm_fail(&probe, MVM_PERMISSION_DENIED,
                      "not root (--network on tries with mvmd's capabilities)");
    if (!pc)
        pc = enable_forwarding(&probe);
    if (pc) {
        if (c->opt.network == CORE_NETWORK_ON)
            return mvm_fail(err, pc, "--network on: %s", probe.msg);
        fprintf(stderr, "mvmd: networking: off (%s); instances get no network interface\n",
                probe.msg);
        return MVM_OK;
    }
    const char *up = c->opt.net_uplink;
    if (!up || !*up || strcmp(up, "auto") == 0) {
        mvm_error e;
        if (net_uplink_find(n->uplink, &e) != MVM_OK)
            n->uplink[0] = '\0';
        if (!n->uplink[0])
            fprintf(stderr, "mvmd: networking: %s; guests reach only their tenant network\n",
                    e.msg);
    } else if (strcmp(up, "none") != 0) {
        snprintf(n->uplink, sizeof n->uplink, "%s", up);
    }
    unsigned pool = c->opt.net_pool < 0 ? CORE_NET_POOL_DEFAULT : (unsigned)c->opt.net_pool;
    mvm_error pe;
    if (pool && net_ns_pool_start(pool, geteuid(), getegid(), &pe) != MVM_OK)
        fprintf(stderr, "mvmd: networking: no pool of namespaces made ahead (%s); each is made "
                        "when its instance is\n", pe.msg);
    n->on = true;
    fprintf(stderr, "mvmd: networking: on; tenant subnets masqueraded out of %s; %zu host "
                    "service(s) open to guests\n",
            n->uplink[0] ? n->uplink : "(no uplink)", n->n_services);
    return MVM_OK;
}

void core_net_free(core *c) {
    if (!c->net)
        return;
    if (c->net->on)
        net_ns_pool_stop(); /* the stock's namespaces go with their fds */
    pthread_mutex_destroy(&c->net->mu);
    free(c->net->services);
    free(c->net);
    c->net = NULL;
}

/* ---- addresses ---- */

/* The gateway (.1) of a canonical "a.b.c.0/24" subnet. */
static mvm_code gateway_of(const char *subnet, char *out, size_t cap, mvm_error *err) {
    unsigned a, b, d, len;
    char extra;
    if (!subnet || sscanf(subnet, "%u.%u.%u.0/%u%c", &a, &b, &d, &len, &extra) != 4 || a > 255 ||
        b > 255 || d > 255 || len != 24)
        return mvm_fail(err, MVM_DATA_LOSS, "stored subnet \"%s\" is not a /24",
                        subnet ? subnet : "");
    snprintf(out, cap, "%u.%u.%u.1", a, b, d);
    return MVM_OK;
}

static mvm_code parse_mac(const char *text, uint8_t mac[6], mvm_error *err) {
    unsigned v[6];
    char extra;
    if (!text || sscanf(text, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                        &extra) != 6)
        return mvm_fail(err, MVM_DATA_LOSS, "stored MAC \"%s\" is malformed", text ? text : "");
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return MVM_OK;
}

/* ---- per instance ---- */

static void netns_path(const char *id, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s%s", NET_NETNS_DIR, NET_NETNS_PREFIX, id);
}

static mvm_code nat_apply(void *arg, mvm_error *err) {
    return net_nft_instance_apply(arg, err);
}

/* The instance's netns, veth and NAT, given its tenant's record. */
static mvm_code instance_up(const Mvm__V1__Tenant *t, const Mvm__V1__Instance *rec,
                            mvm_error *err) {
    char gw[16], ns[NET_INSTANCE_ID_MAX + 8];
    net_instance_spec spec = {.instance_id = rec->id, .net_id = t->net_id,
                              .tenant_ip = rec->ip, .gateway = gw,
                              .tap_uid = geteuid(), .tap_gid = getegid()};
    mvm_code rc = gateway_of(t->subnet, gw, sizeof gw, err);
    if (!rc)
        rc = parse_mac(rec->mac, spec.mac, err);
    if (!rc)
        rc = net_tenant_ensure(t->net_id, t->subnet, gw, err);
    if (!rc)
        rc = net_instance_ensure(&spec, err);
    if (!rc && !(rc = net_netns_name(rec->id, ns, err)))
        rc = net_ns_run(ns, nat_apply, rec->ip, err);
    return rc;
}

mvm_code core_net_instance_up(core *c, const Mvm__V1__Instance *rec, char *path, size_t cap,
                              mvm_error *err) {
    path[0] = '\0';
    if (!core_net_on(c))
        return MVM_OK;
    Mvm__V1__Tenant *t = NULL;
    mvm_code rc = store_tenant_get(c->st, rec->tenant, NULL, &t, err);
    if (!rc)
        rc = instance_up(t, rec, err);
    core_free_msg(t);
    if (rc) {
        mvm_error_context(err, "the network of instance %s", rec->id);
        return rc;
    }
    netns_path(rec->id, path, cap);
    return MVM_OK;
}

mvm_code core_net_sandbox_up(core *c, const char *id, char *path, size_t cap, mvm_error *err) {
    path[0] = '\0';
    if (!core_net_on(c))
        return MVM_OK;
    mvm_code rc = net_sandbox_ensure(id, geteuid(), getegid(), err);
    if (rc)
        return rc;
    netns_path(id, path, cap);
    return MVM_OK;
}

void core_net_instance_down(core *c, const char *id) {
    if (!core_net_on(c))
        return;
    mvm_error e;
    if (net_instance_remove(id, &e) != MVM_OK)
        fprintf(stderr, "mvmd: %s (the next start of mvmd tries again)\n", e.msg);
}

void core_net_boot_spec(core *c, const char *mac, const Mvm__V1__Pool *pool, vmm_boot_spec *spec,
                        char *args, size_t cap) {
    const char *given = pool && pool->boot_args ? pool->boot_args : "";
    if (!core_net_on(c)) {
        snprintf(args, cap, "%s", given);
        spec->boot_args = args;
        return;
    }
    /* the pool's own ip= wins (a guest configured some other way) */
    bool has_ip = strncmp(given, "ip=", 3) == 0 || strstr(given, " ip=") != NULL;
    snprintf(args, cap, "%s%s%s", given, *given && !has_ip ? " " : "", has_ip ? "" : GUEST_IP_ARG);
    spec->boot_args = args;
    spec->tap = NET_TAP_NAME;
    spec->guest_mac = mac ? mac : TEMPLATE_MAC;
    core_net_limits_of(pool, &spec->net_limits);
}

void core_net_limits_of(const Mvm__V1__Pool *pool, vmm_net_limits *out) {
    memset(out, 0, sizeof *out);
    const Mvm__V1__NetworkLimits *l = pool ? pool->network_limits : NULL;
    if (!l)
        return;
    out->rx_bytes_per_s = l->rx_bytes_per_second;
    out->tx_bytes_per_s = l->tx_bytes_per_second;
    out->rx_packets_per_s = l->rx_packets_per_second;
    out->tx_packets_per_s = l->tx_packets_per_second;
}

mvm_code core_net_restored(core *c, vmm_machine *m, const Mvm__V1__Pool *pool, mvm_error *err) {
    if (!core_net_on(c) || !pool || !pool->network_limits)
        return MVM_OK; /* the snapshot's own limits stay */
    vmm_net_limits l;
    core_net_limits_of(pool, &l);
    mvm_code rc = vmm_machine_net_limits(m, &l, err);
    if (rc)
        mvm_error_context(err, "applying pool %s/%s's network limits", pool->tenant, pool->name);
    return rc;
}

/* ---- the host: bridges and the table inet mvm ---- */

typedef struct stale_bridges {
    const core_net_plan *plan;
    unsigned removed;
} stale_bridges;

static int drop_stale_bridge(net_object_kind kind, const char *name, void *arg) {
    stale_bridges *s = arg;
    if (kind != NET_OBJ_BRIDGE)
        return 0;
    for (size_t i = 0; i < s->plan->n_tenants; i++) {
        char br[NET_IFNAME_MAX];
        if (net_bridge_name(s->plan->tenants[i].net_id, br, NULL) == MVM_OK &&
            strcmp(br, name) == 0)
            return 0;
    }
    unsigned long id = strtoul(name + strlen(NET_BRIDGE_PREFIX), NULL, 10);
    mvm_error e;
    if (net_tenant_remove((uint32_t)id, &e) == MVM_OK)
        s->removed++;
    else
        fprintf(stderr, "mvmd: networking: leaving %s: %s\n", name, e.msg);
    return 0;
}

/* With n->mu held. */
static mvm_code sync_locked(core *c, mvm_error *err) {
    core_net_plan p;
    mvm_code rc = core_net_plan_read(c, &p, err);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < p.n_tenants; i++) {
        char gw[16];
        if (!(rc = gateway_of(p.tenants[i].subnet, gw, sizeof gw, err)))
            rc = net_tenant_ensure(p.tenants[i].net_id, p.tenants[i].subnet, gw, err);
    }
    if (!rc) {
        net_nft_host_plan plan = {.uplink = c->net->uplink, .tenants = p.tenants,
                                  .n_tenants = p.n_tenants, .forwards = p.forwards,
                                  .n_forwards = p.n_forwards, .services = c->net->services,
                                  .n_services = c->net->n_services};
        rc = net_nft_host_apply(&plan, err);
    }
    if (!rc) {
        stale_bridges s = {&p, 0};
        rc = net_list(drop_stale_bridge, &s, err);
    }
    core_net_plan_free(&p);
    return rc;
}

mvm_code core_net_sync(core *c, mvm_error *err) {
    if (!core_net_on(c))
        return MVM_OK;
    pthread_mutex_lock(&c->net->mu);
    mvm_code rc = sync_locked(c, err);
    c->net->dirty = rc != MVM_OK;
    pthread_mutex_unlock(&c->net->mu);
    if (rc)
        mvm_error_context(err, "bringing the host network in line with the tenants");
    return rc;
}

void core_net_mark_dirty(core *c) {
    if (!core_net_on(c))
        return;
    pthread_mutex_lock(&c->net->mu);
    c->net->dirty = true;
    pthread_mutex_unlock(&c->net->mu);
}

void core_net_sync_if_dirty(core *c) {
    if (!core_net_on(c))
        return;
    pthread_mutex_lock(&c->net->mu);
    bool dirty = c->net->dirty;
    pthread_mutex_unlock(&c->net->mu);
    mvm_error e;
    if (dirty && core_net_sync(c, &e) != MVM_OK)
        fprintf(stderr, "mvmd: networking: %s (tried again next round)\n", e.msg);
}

/* ---- at start: the kernel made to match the store ---- */

typedef struct known_inst {
    char (*ids)[24];
    char (*veths)[NET_IFNAME_MAX];
    size_t n, cap;
    bool live_only; /* only instances with a process (RUNNING, WARM) */
    bool oom;
} known_inst;

static bool note_inst(void *arg, const Mvm__V1__Instance *i) {
    known_inst *k = arg;
    if (k->live_only && i->state != MVM__V1__INSTANCE_STATE__INSTANCE_STATE_RUNNING &&
        i->state != MVM__V1__INSTANCE_STATE__INSTANCE_STATE_WARM)
        return true;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        char(*ids)[24] = realloc(k->ids, cap * sizeof *ids);
        if (ids)
            k->ids = ids;
        char(*veths)[NET_IFNAME_MAX] = ids ? realloc(k->veths, cap * sizeof *veths) : NULL;
        if (veths)
            k->veths = veths;
        if (!ids || !veths) {
            k->oom = true;
            return false;
        }
        k->cap = cap;
    }
    snprintf(k->ids[k->n], sizeof k->ids[k->n], "%s", i->id);
    if (net_host_veth_name(i->id, k->veths[k->n], NULL) != MVM_OK)
        k->veths[k->n][0] = '\0';
    k->n++;
    return true;
}

typedef struct leak_pass {
    const known_inst *k;
    core_net_report *r;
} leak_pass;

static bool known_id(const known_inst *k, const char *id) {
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->ids[i], id) == 0)
            return true;
    return false;
}

static bool known_veth(const known_inst *k, const char *name) {
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->veths[i], name) == 0)
            return true;
    return false;
}

static int drop_leak(net_object_kind kind, const char *name, void *arg) {
    leak_pass *p = arg;
    mvm_error e;
    mvm_code rc = MVM_OK;
    if (kind == NET_OBJ_NETNS) {
        const char *id = name + strlen(NET_NETNS_PREFIX);
        if (known_id(p->k, id))
            return 0;
        if ((rc = net_instance_remove(id, &e)) == MVM_OK)
            p->r->netns_removed++;
    } else if (kind == NET_OBJ_HOST_VETH) {
        if (known_veth(p->k, name))
            return 0;
        /* a veth whose netns file went first (a process still holds the
         * namespace): only its name is known */
        if ((rc = net_host_veth_remove(name, &e)) == MVM_OK)
            p->r->veths_removed++;
    }
    if (rc)
        fprintf(stderr, "mvmd: networking: cannot remove leaked %s: %s\n", name, e.msg);
    return 0;
}

mvm_code core_net_recover(core *c, core_net_report *report, mvm_error *err) {
    memset(report, 0, sizeof *report);
    if (!core_net_on(c))
        return MVM_OK;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    known_inst k = {0};
    mvm_code rc = store_instance_foreach(c->st, NULL, NULL, note_inst, &k, NULL, err);
    if (!rc && k.oom)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!rc) {
        leak_pass p = {&k, report};
        rc = net_list(drop_leak, &p, err);
    }
    if (!rc)
        rc = core_net_sync(c, err);
    /* every instance's network, made where missing (idempotent where not) */
    for (size_t i = 0; !rc && i < k.n; i++) {
        Mvm__V1__Instance *rec = NULL;
        mvm_error e;
        char path[PATH_MAX];
        if (store_instance_find(c->st, k.ids[i], NULL, &rec, &e) != MVM_OK)
            continue; /* deleted meanwhile */
        if (core_net_instance_up(c, rec, path, sizeof path, &e) == MVM_OK)
            report->instances_ensured++;
        else {
            report->instances_failed++;
            fprintf(stderr, "mvmd: networking: %s\n", e.msg);
        }
        core_free_msg(rec);
    }
    free(k.ids);
    free(k.veths);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report->elapsed_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    return rc;
}

/* ---- a pool's rate limits changed ---- */

unsigned core_net_limits_changed(core *c, const Mvm__V1__Pool *pool) {
    if (!core_net_on(c))
        return 0;
    vmm_net_limits l;
    core_net_limits_of(pool, &l);
    known_inst k = {.live_only = true};
    mvm_error e;
    if (store_instance_foreach(c->st, pool->tenant, pool->name, note_inst, &k, NULL, &e) !=
        MVM_OK)
        fprintf(stderr, "mvmd: pool %s/%s: cannot list its instances for their new network "
                        "limits: %s\n", pool->tenant, pool->name, e.msg);
    unsigned applied = 0;
    for (size_t i = 0; i < k.n; i++) {
        core_inst *in = core_inst_find(c, k.ids[i]);
        if (!in)
            continue;
        mvm_code rc = core_inst_claim(in, "SetNetworkLimits", &e);
        if (rc == MVM_OK) { /* the claim owns in->m */
            if (in->m && (rc = vmm_machine_net_limits(in->m, &l, &e)) == MVM_OK)
                applied++;
            core_inst_release(in);
        }
        if (rc != MVM_OK)
            fprintf(stderr, "mvmd: pool %s/%s: instance %s keeps its network limits until its "
                            "next start, wake or clone: %s\n",
                    pool->tenant, pool->name, k.ids[i], e.msg);
        core_inst_unref(in);
    }
    free(k.ids);
    free(k.veths);
    return applied;
}
