/* net_instance.c - one instance's network: its named netns with tap0 and
 * eth0, and the veth whose host end is a port of the tenant bridge (the
 * scheme in net.h). Ensure is idempotent and rolls back what the failing
 * call made; remove takes away exactly what ensure makes, leaving the
 * devices to the kernel's netns cleanup. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/msg.h>

#include "net_internal.h"

typedef struct inst_names {
    char netns[NET_INSTANCE_ID_MAX + 8];
    char veth[NET_IFNAME_MAX];
} inst_names;

static mvm_code names_of(const char *id, inst_names *n, mvm_error *err) {
    mvm_code c = net_netns_name(id, n->netns, err);
    return c == MVM_OK ? net_host_veth_name(id, n->veth, err) : c;
}

/* ---- inside the instance netns ---- */

typedef struct inside {
    const net_instance_spec *spec;
    struct in_addr tenant_ip, gateway, tap_ip;
    bool probe_only;  /* just look: does eth0 exist? */
    bool tap_only;    /* a sandbox: lo and tap0, no eth0 */
    bool fresh;       /* the netns was made by this call: lo down, no tap0,
                         eth0 (if any) just made with its MAC, forwarding on */
    bool furnished;   /* fresh from the netns pool: lo up, tap0 complete */
    int eth0_ifindex; /* furnished: known, no lookup */
    bool eth0_exists; /* probe's answer */
    bool tap_created; /* tap0 made by this call */
} inside;

static const net_sysctl_value forwarding[] = {{"ipv4/ip_forward", "1"}};

/* Up (and, for eth0, its MAC): blind in a fresh netns, where the state is
 * known; otherwise read first and change only what differs. */
static mvm_code link_up(struct nl_sock *sk, const inside *in, const char *name, int ifindex,
                        const uint8_t *mac, mvm_error *err) {
    return in->fresh ? net_link_set(sk, ifindex, name, true, -1, mac, err)
                     : net_link_configure(sk, name, -1, mac, err);
}

/* Requests sent together (net_nl_batch); a failed build frees the rest. */
typedef struct batch {
    struct nl_msg *m[4];
    const char *what[4];
    size_t n;
} batch;

static void batch_drop(batch *b) {
    for (size_t i = 0; i < b->n; i++)
        nlmsg_free(b->m[i]);
    b->n = 0;
}

/* A fresh netns: eth0 was made by this call, down; lo (unless pooled: up
 * already), eth0 up with its MAC, its address and the route in one batch. */
static mvm_code fresh_eth0(struct nl_sock *sk, const inside *in, int eth0, mvm_error *err) {
    batch b = {.n = 0};
    mvm_code c = MVM_OK;
    if (!in->furnished) {
        b.what[b.n] = "setting lo up";
        c = net_link_set_build(0, "lo", NULL, true, -1, NULL, &b.m[b.n], err);
        b.n += c == MVM_OK;
    }
    if (c == MVM_OK) {
        b.what[b.n] = "setting " NET_GUEST_IFNAME " up with its MAC";
        c = net_link_set_build(eth0, NET_GUEST_IFNAME, NULL, true, -1, in->spec->mac, &b.m[b.n],
                               err);
        b.n += c == MVM_OK;
    }
    if (c == MVM_OK) {
        b.what[b.n] = "adding the tenant address to " NET_GUEST_IFNAME;
        c = net_addr_build(NET_GUEST_IFNAME, eth0, in->tenant_ip, 24, &b.m[b.n], err);
        b.n += c == MVM_OK;
    }
    if (c == MVM_OK) {
        b.what[b.n] = "adding the default route";
        c = net_route_default_build(in->gateway, &b.m[b.n], err);
        b.n += c == MVM_OK;
    }
    if (c != MVM_OK) {
        batch_drop(&b);
        return c;
    }
    return net_nl_batch(sk, b.m, b.what, b.n, err);
}

static mvm_code inside_with(struct nl_sock *sk, inside *in, mvm_error *err) {
    mvm_code c = MVM_OK;
    net_link_info eth0 = {.ifindex = in->eth0_ifindex}, tap = {0};
    if (!in->tap_only && !eth0.ifindex) {
        c = net_link_get(sk, NET_GUEST_IFNAME, &eth0, err);
        if (c != MVM_OK || in->probe_only) {
            in->eth0_exists = c == MVM_OK && eth0.ifindex != 0;
            return c;
        }
        if (!eth0.ifindex)
            c = mvm_fail(err, MVM_INTERNAL, NET_GUEST_IFNAME " missing after the veth was made");
    }
    if (c == MVM_OK && in->fresh && !in->tap_only) {
        c = fresh_eth0(sk, in, eth0.ifindex, err);
    } else if (c == MVM_OK) {
        c = link_up(sk, in, "lo", 0, NULL, err);
        if (c == MVM_OK && !in->tap_only)
            c = link_up(sk, in, NET_GUEST_IFNAME, eth0.ifindex, in->spec->mac, err);
        if (c == MVM_OK && !in->tap_only)
            c = net_addr_ensure(sk, NET_GUEST_IFNAME, eth0.ifindex, in->tenant_ip, 24, err);
        if (c == MVM_OK && !in->tap_only)
            c = net_route_default_ensure(sk, in->gateway, err);
    }
    if (in->furnished) /* tap0 and forwarding came with the netns */
        return c;
    if (c == MVM_OK && !in->fresh)
        c = net_link_get(sk, NET_TAP_NAME, &tap, err);
    /* an existing tap0 is left as it is: Firecracker may hold it open
     * (attaching again would be EBUSY), and it was made with its owner */
    if (c == MVM_OK && tap.ifindex && strcmp(tap.kind, "tun") != 0)
        c = mvm_fail(err, MVM_ALREADY_EXISTS,
                     NET_TAP_NAME " in the netns is a \"%s\" device mvm did not make",
                     tap.kind[0] ? tap.kind : "kindless");
    if (c == MVM_OK && !tap.ifindex) {
        c = net_tap_ensure(NET_TAP_NAME, in->spec->tap_uid, in->spec->tap_gid, err);
        in->tap_created = c == MVM_OK;
    }
    if (c == MVM_OK)
        c = net_link_get(sk, NET_TAP_NAME, &tap, err);
    static const uint8_t tap_mac[6] = NET_TAP_MAC;
    if (c == MVM_OK)
        c = link_up(sk, in, NET_TAP_NAME, tap.ifindex, tap_mac, err);
    if (c == MVM_OK)
        c = net_addr_ensure(sk, NET_TAP_NAME, tap.ifindex, in->tap_ip, NET_TAP_PREFIXLEN, err);
    if (c == MVM_OK && !in->fresh) /* a fresh netns was made forwarding */
        c = net_sysctl_set(forwarding, 1, err);
    if (c != MVM_OK && in->tap_created) {
        net_tap_delete(NET_TAP_NAME, NULL);
        in->tap_created = false;
    }
    return c;
}

static mvm_code inside_ensure(void *arg, mvm_error *err) {
    struct nl_sock *sk;
    mvm_code c = net_nl_open(&sk, err);
    if (c == MVM_OK)
        c = inside_with(sk, arg, err);
    net_nl_close(sk);
    return c;
}

mvm_code net_ns_furnish(uid_t uid, gid_t gid, mvm_error *err) {
    net_instance_spec spec = {.tap_uid = uid, .tap_gid = gid};
    inside in = {.spec = &spec, .tap_only = true, .fresh = true};
    mvm_code c = net_parse_ipv4(NET_TAP_ADDR, "TAP address", &in.tap_ip, err);
    return c == MVM_OK ? inside_ensure(&in, err) : c;
}

/* ---- the composite ---- */

static mvm_code check_spec(const net_instance_spec *s, inst_names *n, inside *in,
                           mvm_error *err) {
    if (!s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "no instance spec");
    mvm_code c = names_of(s->instance_id, n, err);
    if (c == MVM_OK)
        c = net_parse_ipv4(s->tenant_ip, "tenant IP", &in->tenant_ip, err);
    if (c == MVM_OK)
        c = net_parse_ipv4(s->gateway, "gateway", &in->gateway, err);
    if (c == MVM_OK)
        c = net_parse_ipv4(NET_TAP_ADDR, "TAP address", &in->tap_ip, err);
    if (c != MVM_OK)
        return c;
    static const uint8_t zero[6];
    if ((s->mac[0] & 1) || memcmp(s->mac, zero, 6) == 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "instance %s: MAC %02x:%02x:%02x:%02x:%02x:%02x is not a unicast address",
                        s->instance_id, s->mac[0], s->mac[1], s->mac[2], s->mac[3], s->mac[4],
                        s->mac[5]);
    uint32_t m24 = htonl(0xffffff00u);
    if ((in->tenant_ip.s_addr & m24) != (in->gateway.s_addr & m24) ||
        in->tenant_ip.s_addr == in->gateway.s_addr)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "instance %s: tenant IP %s and gateway %s are not two hosts of one /24",
                        s->instance_id, s->tenant_ip, s->gateway);
    return MVM_OK;
}

mvm_code net_instance_ensure(const net_instance_spec *spec, mvm_error *err) {
    inst_names n;
    inside in = {.spec = spec};
    mvm_code c = check_spec(spec, &n, &in, err);
    if (c != MVM_OK)
        return c;
    char br[NET_IFNAME_MAX];
    if ((c = net_bridge_name(spec->net_id, br, err)) != MVM_OK)
        return c;
    struct nl_sock *sk;
    if ((c = net_nl_open(&sk, err)) != MVM_OK)
        return c;
    bool veth_created = false;
    net_ns_made made = {.created = false};
    int nsfd = -1;
    net_link_info bri, veth;

    c = net_link_get(sk, br, &bri, err);
    if (c == MVM_OK && (!bri.ifindex || strcmp(bri.kind, "bridge") != 0))
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "tenant bridge %s does not exist; net_tenant_ensure(%u) first", br,
                     (unsigned)spec->net_id);
    if (c == MVM_OK)
        c = net_ns_create(n.netns, spec->tap_uid, spec->tap_gid, true, &made, err);
    bool ns_created = made.created;
    if (c == MVM_OK)
        c = net_link_get(sk, n.veth, &veth, err);
    if (c == MVM_OK && veth.ifindex && strcmp(veth.kind, "veth") != 0)
        c = mvm_fail(err, MVM_ALREADY_EXISTS,
                     "instance %s: host veth name %s is taken by a \"%s\" device mvm did not "
                     "make; left alone",
                     spec->instance_id, n.veth, veth.kind[0] ? veth.kind : "kindless");
    if (c == MVM_OK && veth.ifindex && !ns_created) {
        /* ours from before; keep it when its peer is the netns' eth0 */
        in.probe_only = true;
        c = net_ns_run(n.netns, inside_ensure, &in, err);
        in.probe_only = false;
    }
    if (c == MVM_OK && veth.ifindex && !in.eth0_exists) {
        /* a veth whose peer is not in the netns (a new netns has no eth0) */
        c = net_link_delete(sk, n.veth, err);
        veth.ifindex = 0;
    }
    if (c == MVM_OK && !veth.ifindex && made.veth[0]) {
        /* the pool's veth: renamed, made a port of the bridge and up at once
         * (it has IPv6 off already) */
        struct nl_msg *m = NULL;
        c = net_link_set_build(made.veth_ifindex, made.veth, n.veth, true, bri.ifindex, NULL, &m,
                               err);
        char what[128];
        snprintf(what, sizeof what, "renaming the pooled veth %s to %s, a port of %s, up",
                 made.veth, n.veth, br);
        const char *w = what;
        if (c == MVM_OK)
            c = net_nl_batch(sk, &m, &w, 1, err);
        veth_created = c == MVM_OK;
    } else if (c == MVM_OK && !veth.ifindex) {
        c = net_ns_open(n.netns, &nsfd, err);
        if (c == MVM_OK) /* eth0 made with its MAC, down */
            c = net_link_add_veth(sk, n.veth, bri.ifindex, NET_GUEST_IFNAME, nsfd, spec->mac,
                                  false, err);
        veth_created = c == MVM_OK;
        /* made down, so it goes up without IPv6 */
        char key[64];
        snprintf(key, sizeof key, "ipv6/conf/%s/disable_ipv6", n.veth);
        const net_sysctl_value ipv6_off[] = {{key, "1"}};
        if (c == MVM_OK)
            c = net_sysctl_set(ipv6_off, 1, err);
        if (c == MVM_OK)
            c = net_link_set(sk, 0, n.veth, true, -1, NULL, err);
    } else if (c == MVM_OK) {
        c = net_link_configure(sk, n.veth, bri.ifindex, NULL, err);
    }
    in.fresh = ns_created;
    in.furnished = made.furnished;
    in.eth0_ifindex = made.eth0_ifindex;
    if (c == MVM_OK && made.inside) /* the pool's socket is in the netns already */
        c = inside_with(made.inside, &in, err);
    else if (c == MVM_OK)
        c = net_ns_run(n.netns, inside_ensure, &in, err);
    net_nl_close(made.inside);

    if (c != MVM_OK) { /* roll back what this call made, newest first */
        if (veth_created)
            net_link_delete(sk, n.veth, NULL);
        if (ns_created)
            net_ns_delete(n.netns, NULL);
        mvm_error_context(err, "setting up the network of instance %s (netns %s, veth %s)",
                          spec->instance_id, n.netns, n.veth);
    }
    if (nsfd >= 0)
        close(nsfd);
    net_nl_close(sk);
    return c;
}

mvm_code net_sandbox_ensure(const char *id, uid_t tap_uid, gid_t tap_gid, mvm_error *err) {
    inst_names n;
    mvm_code c = names_of(id, &n, err);
    if (c != MVM_OK)
        return c;
    net_instance_spec spec = {.instance_id = id, .tap_uid = tap_uid, .tap_gid = tap_gid};
    inside in = {.spec = &spec, .tap_only = true};
    if ((c = net_parse_ipv4(NET_TAP_ADDR, "TAP address", &in.tap_ip, err)) != MVM_OK)
        return c;
    /* not from the pool: a sandbox has no veth */
    net_ns_made made;
    c = net_ns_create(n.netns, tap_uid, tap_gid, false, &made, err);
    bool ns_created = made.created;
    in.fresh = ns_created;
    if (c == MVM_OK)
        c = net_ns_run(n.netns, inside_ensure, &in, err);
    if (c != MVM_OK) {
        if (ns_created)
            net_ns_delete(n.netns, NULL);
        mvm_error_context(err, "setting up the sandbox network of %s (netns %s)", id, n.netns);
    }
    return c;
}

mvm_code net_host_veth_remove(const char *name, mvm_error *err) {
    if (!name || strncmp(name, NET_HOST_VETH_PREFIX, strlen(NET_HOST_VETH_PREFIX)) != 0 ||
        strlen(name) >= NET_IFNAME_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "\"%s\" is not an mvm host veth name",
                        name ? name : "");
    struct nl_sock *sk;
    mvm_code c = net_nl_open(&sk, err);
    if (c != MVM_OK)
        return c;
    net_link_info veth;
    c = net_link_get(sk, name, &veth, err);
    if (c == MVM_OK && veth.ifindex && strcmp(veth.kind, "veth") != 0)
        c = mvm_fail(err, MVM_FAILED_PRECONDITION, "%s is a \"%s\" device mvm did not make; "
                     "left alone", name, veth.kind);
    if (c == MVM_OK && veth.ifindex)
        c = net_link_delete(sk, name, err);
    net_nl_close(sk);
    return c;
}

/* The netns goes by its mount alone: once no process holds it, the kernel
 * (cleanup_net) destroys tap0 and eth0 and, with eth0, its peer the host
 * veth, many netns in one batch. Deleting each device here would wait for
 * RCU grace periods every time (20-70 ms a device). The host veth is only
 * detached from its bridge and set down now, so the bridge has no port of
 * this instance when this returns; it is deleted here only when no netns
 * is left to take it away. */
mvm_code net_instance_remove(const char *instance_id, mvm_error *err) {
    inst_names n;
    mvm_code c = names_of(instance_id, &n, err);
    if (c != MVM_OK)
        return c;
    struct nl_sock *sk;
    if ((c = net_nl_open(&sk, err)) != MVM_OK)
        return c;
    net_link_info veth;
    int nsfd = -1;
    bool has_ns = false;
    c = net_link_get(sk, n.veth, &veth, err);
    if (c == MVM_OK && veth.ifindex && strcmp(veth.kind, "veth") != 0)
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "removing instance %s: %s is a \"%s\" device mvm did not make; left alone",
                     instance_id, n.veth, veth.kind);
    if (c == MVM_OK) {
        c = net_ns_open(n.netns, &nsfd, err);
        has_ns = c == MVM_OK;
        if (c == MVM_NOT_FOUND)
            c = MVM_OK;
        if (nsfd >= 0)
            close(nsfd);
    }
    if (c == MVM_OK && veth.ifindex)
        c = has_ns ? net_link_set(sk, veth.ifindex, n.veth, false, 0, NULL, err)
                   : net_link_delete(sk, n.veth, err);
    net_nl_close(sk);
    if (c == MVM_OK && has_ns)
        c = net_ns_delete(n.netns, err);
    if (c != MVM_OK)
        mvm_error_context(err, "removing the network of instance %s", instance_id);
    return c;
}
