/* net_internal.h - what the files of service/net share and no caller sees:
 * error mapping (net_error.c), netlink link/address/route steps
 * (net_link.c), the TAP ioctls (net_tap.c), named-netns files (net_ns.c). */
#ifndef MVM_NET_INTERNAL_H
#define MVM_NET_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "net.h"

struct nl_sock;
struct nl_msg;

/* ---- net_error.c ---- */
/* errno -> mvm_code (see net.h); libnl's NLE_* (positive) -> mvm_code. */
mvm_code net_code_from_errno(int errnum);
mvm_code net_code_from_nle(int nle);
/* mvm_fail with "<step>: <strerror>" and the mapped code. */
mvm_code net_fail_errno(mvm_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* nle is libnl's (negative) return value. */
mvm_code net_fail_nl(mvm_error *err, int nle, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- net_addr.c ---- */
/* "a.b.c.d" -> *out (network order). INVALID_ARGUMENT names `what`. */
mvm_code net_parse_ipv4(const char *s, const char *what, struct in_addr *out, mvm_error *err);
/* "a.b.c.d/len" -> address and prefix length (0..32). */
mvm_code net_parse_cidr(const char *s, struct in_addr *addr, int *prefixlen, mvm_error *err);

/* ---- net_link.c: one netlink socket per call (net_nl_open/close) ---- */
mvm_code net_nl_open(struct nl_sock **sk, mvm_error *err);
void net_nl_close(struct nl_sock *sk);
typedef struct net_link_info {
    int ifindex;       /* 0: no such link */
    int master;        /* ifindex of the master, 0 when none */
    unsigned flags;    /* IFF_* */
    char kind[16];     /* "bridge", "veth", "tun", "" */
    uint8_t mac[6];
} net_link_info;
/* Looks up link `name` in the socket's netns; info->ifindex 0 when absent. */
mvm_code net_link_get(struct nl_sock *sk, const char *name, net_link_info *info, mvm_error *err);
mvm_code net_link_add_bridge(struct nl_sock *sk, const char *name, mvm_error *err);
/* veth `host` (port of master when master > 0; down) + `peer` made directly
 * in netns ns_fd, with MAC mac (NULL: the kernel's random one) and up when
 * peer_up. */
mvm_code net_link_add_veth(struct nl_sock *sk, const char *host, int master, const char *peer,
                           int ns_fd, const uint8_t *mac, bool peer_up, mvm_error *err);
mvm_code net_link_delete(struct nl_sock *sk, const char *name, mvm_error *err);
/* Sets IFF_UP, and (when master >= 0) the master, and (when mac) the MAC,
 * reading the link first and changing only what differs. */
mvm_code net_link_configure(struct nl_sock *sk, const char *name, int master,
                            const uint8_t *mac, mvm_error *err);
/* One RTM_SETLINK of ifindex (0: of the link named name), nothing read
 * first: up or down, the master (master > 0), no master (0) or left as it
 * is (-1), and the MAC (NULL: left as it is). */
mvm_code net_link_set(struct nl_sock *sk, int ifindex, const char *name, bool up, int master,
                      const uint8_t *mac, mvm_error *err);
/* The same RTM_SETLINK built into *out for net_nl_batch; with ifindex > 0
 * and newname, the link is renamed to newname (it must be down before). */
mvm_code net_link_set_build(int ifindex, const char *name, const char *newname, bool up,
                            int master, const uint8_t *mac, struct nl_msg **out, mvm_error *err);
/* Requests of one setup step made of several: all sent at once, then their
 * acks read (one round trip instead of n). Frees every msgs[i]. The first
 * failure is reported with its what[i]; later requests may have been
 * applied (callers roll back the whole step). */
mvm_code net_nl_batch(struct nl_sock *sk, struct nl_msg *const *msgs, const char *const *what,
                      size_t n, mvm_error *err);
/* Builders for net_nl_batch: net_addr_ensure's and net_route_default_ensure's
 * requests. */
mvm_code net_addr_build(const char *dev, int ifindex, struct in_addr addr, int prefixlen,
                        struct nl_msg **out, mvm_error *err);
mvm_code net_route_default_build(struct in_addr gw, struct nl_msg **out, mvm_error *err);
/* Adds addr/prefixlen to ifindex; an address already there is fine (kept). */
mvm_code net_addr_ensure(struct nl_sock *sk, const char *dev, int ifindex, struct in_addr addr,
                         int prefixlen, mvm_error *err);
/* Default route via gw (replaced if one exists). */
mvm_code net_route_default_ensure(struct nl_sock *sk, struct in_addr gw, mvm_error *err);
/* Number of links whose master is ifindex. */
mvm_code net_link_count_ports(struct nl_sock *sk, int ifindex, int *count, mvm_error *err);
/* fn(kind, name) for links whose name starts with prefix and whose kind is
 * `kind`. */
typedef int (*net_link_each_fn)(const char *name, void *arg);
mvm_code net_link_each(struct nl_sock *sk, const char *prefix, const char *kind,
                       net_link_each_fn fn, void *arg, bool *stopped, mvm_error *err);

/* ---- net_tap.c ---- */
/* Makes (or re-attaches to) persistent TAP `name` owned by uid/gid in the
 * calling thread's netns. */
mvm_code net_tap_ensure(const char *name, uid_t uid, gid_t gid, mvm_error *err);
/* Makes the (existing) TAP non-persistent and so removes it. */
mvm_code net_tap_delete(const char *name, mvm_error *err);

/* ---- net_sysctl.c ---- */
typedef struct net_sysctl_value {
    const char *key;   /* under /proc/sys/net: "ipv4/ip_forward" */
    const char *value; /* "1" */
} net_sysctl_value;
/* Writes each value, in order, in the calling thread's netns; stops at the
 * first failure. */
mvm_code net_sysctl_set(const net_sysctl_value *values, size_t n, mvm_error *err);

/* ---- net_ns.c ---- */
/* What net_ns_create did. From the pool (net_ns_pool.c), the netns comes
 * furnished (lo up, tap0 complete, as net_ns_furnish makes it) and with a
 * veth: its host end, down with IPv6 off and no master, is `veth` (a
 * temporary name, not NET_HOST_VETH_PREFIX) in the caller's netns; its peer
 * is eth0, down, with a random MAC; and `inside` is a NETLINK_ROUTE socket
 * of the netns (the caller frees it with net_nl_close). */
typedef struct net_ns_made {
    bool created;   /* false: a netns was there already; the rest is unset */
    bool furnished; /* from the pool */
    char veth[NET_IFNAME_MAX];
    int veth_ifindex, eth0_ifindex;
    struct nl_sock *inside;
} net_ns_made;
/* Creates NET_NETNS_DIR/<name> as a new netns (IPv4 forwarding on, IPv6 off
 * for devices made in it), from the pool when from_pool and it has one
 * for tap_uid/tap_gid. made->created false when a netns already is there.
 * ALREADY_EXISTS when a non-netns file is. */
mvm_code net_ns_create(const char *name, uid_t tap_uid, gid_t tap_gid, bool from_pool,
                       net_ns_made *made, mvm_error *err);
/* NET_NETNS_DIR exists and is a shared mount (once per process). */
mvm_code net_ns_dir_ready(mvm_error *err);
/* Forwarding on and IPv6 off for new devices, in the calling thread's
 * (new) netns. */
mvm_code net_ns_settings(mvm_error *err);

/* ---- net_ns_pool.c ---- */
/* A pooled netns for tap_uid/tap_gid into *fd and *made (the caller owns
 * both); false when the pool is not running, is empty or is for another
 * owner. Never blocks on the pool's thread making one. */
bool net_ns_pool_take(uid_t tap_uid, gid_t tap_gid, int *fd, net_ns_made *made);

/* ---- net_instance.c ---- */
/* In the calling thread's fresh netns (net_ns_settings done): lo up, tap0
 * made persistent for uid/gid with NET_TAP_MAC, NET_TAP_ADDR and up. */
mvm_code net_ns_furnish(uid_t uid, gid_t gid, mvm_error *err);
/* Unmounts and removes it; MVM_OK when absent; FAILED_PRECONDITION (file
 * left alone) when it is not a netns. */
mvm_code net_ns_delete(const char *name, mvm_error *err);

#endif
