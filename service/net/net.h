/* net.h - mvm_net: the node's tenant networking over rtnetlink (libnl-3,
 * libnl-route-3) and a few tun/namespace syscalls; never by running `ip`.
 *
 * The scheme (docs/networking.md), the same for every instance, clone or not:
 *   per tenant, in the host netns: bridge "br-tenant-<net_id>" holding the
 *     gateway address (.1/24 of the tenant's subnet), up;
 *   per instance: a named netns "mvm-<instance id>" (a bind mount under
 *     /run/netns, as `ip netns` makes them), holding a persistent TAP "tap0"
 *     owned by the Firecracker uid/gid with 172.16.0.1/30 (the guest is
 *     172.16.0.2), and "eth0", the peer of a veth whose host end
 *     (net_host_veth_name()) is a port of the tenant bridge; eth0 has the
 *     instance's tenant IP/24, its MAC and a default route via the gateway,
 *     and the netns forwards IPv4. The scheme is IPv4 only: the netns is
 *     made with IPv6 off for its devices (net.ipv6.conf.default), and the
 *     host veth gets disable_ipv6 before it goes up, so no link-local
 *     address, DAD or MLD traffic crosses the tenant bridge. (The 1:1 NAT
 *     between 172.16.0.2 and the tenant IP is nftables' part,
 *     service/net/net_nft*.c.)
 *
 * Errors: every function returns an mvm_code and fills *err (may be NULL)
 * with it and a message naming the device or netns and the step. Kernel
 * errors map as: EPERM/EACCES -> PERMISSION_DENIED, EEXIST/EADDRINUSE ->
 * ALREADY_EXISTS, ENODEV/ENOENT -> NOT_FOUND, EBUSY -> FAILED_PRECONDITION,
 * ENOMEM/ENOBUFS -> RESOURCE_EXHAUSTED, EINVAL/ERANGE -> INVALID_ARGUMENT,
 * anything else -> INTERNAL. Bad arguments (names too long for IFNAMSIZ,
 * ids with characters other than [A-Za-z0-9_.-], malformed addresses) are
 * INVALID_ARGUMENT and change nothing.
 *
 * Threads: every function may be called from any thread. Functions that
 * work inside an instance's netns switch the *calling thread* into it with
 * setns(2) and always switch it back before returning (other threads are
 * not affected). Calls for different instances may run concurrently; calls
 * for the same instance or tenant must be serialised by the caller.
 * Privileges: CAP_NET_ADMIN and CAP_SYS_ADMIN (mounts, setns). */
#ifndef MVM_NET_H
#define MVM_NET_H

#include <stdint.h>
#include <sys/types.h>

#include "mvm_error.h"

/* Where named network namespaces live (as for `ip netns`). */
#define NET_NETNS_DIR "/run/netns"
#define NET_NETNS_PREFIX "mvm-"
#define NET_BRIDGE_PREFIX "br-tenant-"
#define NET_HOST_VETH_PREFIX "vm"
#define NET_TAP_NAME "tap0"
#define NET_GUEST_IFNAME "eth0"
#define NET_TAP_ADDR "172.16.0.1"
/* tap0's MAC, the same in every netns: a clone's guest keeps the ARP entry
 * its template learned for 172.16.0.1, which stays right in every clone. */
#define NET_TAP_MAC {0x06, 0x00, 0xac, 0x10, 0x00, 0x01}
#define NET_TAP_PREFIXLEN 30
#define NET_GUEST_ADDR "172.16.0.2"
#define NET_INSTANCE_ID_MAX 64
#define NET_IFNAME_MAX 16 /* IFNAMSIZ, with the NUL */

/* ---- names (pure; no kernel access; any thread) ---- */

/* "br-tenant-<net_id>" into out[NET_IFNAME_MAX]. INVALID_ARGUMENT when it
 * would not fit in IFNAMSIZ (net_id > 99999). */
mvm_code net_bridge_name(uint32_t net_id, char *out, mvm_error *err);

/* "mvm-<id>" into out[NET_INSTANCE_ID_MAX + 8]. INVALID_ARGUMENT for an
 * empty id, one longer than NET_INSTANCE_ID_MAX, or with characters outside
 * [A-Za-z0-9_.-] (or "." / ".."). */
mvm_code net_netns_name(const char *instance_id, char *out, mvm_error *err);

/* "vm" + 12 hex digits of a 64-bit FNV-1a hash of the id into
 * out[NET_IFNAME_MAX]: fits IFNAMSIZ for any id, the same on every call, so a
 * restarted mvmd finds the device again. Same validation as net_netns_name. */
mvm_code net_host_veth_name(const char *instance_id, char *out, mvm_error *err);

/* ---- tenants ---- */

/* Makes sure bridge br-tenant-<net_id> exists, is up and holds gateway with
 * subnet_cidr's prefix length ("10.240.1.0/24", "10.240.1.1"). Idempotent:
 * with everything in place it changes nothing. A failure removes what this
 * call created. INVALID_ARGUMENT: bad CIDR, gateway outside it or equal to
 * its network address; ALREADY_EXISTS: a device of that name that is not a
 * bridge. */
mvm_code net_tenant_ensure(uint32_t net_id, const char *subnet_cidr, const char *gateway,
                           mvm_error *err);

/* Removes bridge br-tenant-<net_id>. MVM_OK when it does not exist.
 * FAILED_PRECONDITION while instances' veths are still its ports, or when
 * the name belongs to a device that is not a bridge (left alone). */
mvm_code net_tenant_remove(uint32_t net_id, mvm_error *err);

/* ---- instances ---- */

typedef struct net_instance_spec {
    const char *instance_id; /* [A-Za-z0-9_.-], 1..NET_INSTANCE_ID_MAX */
    uint32_t net_id;         /* the tenant; its bridge must exist */
    const char *tenant_ip;   /* "10.240.1.7": eth0's address, /24 */
    const char *gateway;     /* "10.240.1.1": eth0's default route */
    uint8_t mac[6];          /* eth0's MAC: unicast, not all zero */
    uid_t tap_uid;           /* owner of tap0 (the uid Firecracker runs as) */
    gid_t tap_gid;           /* its group */
} net_instance_spec;

/* Makes sure the instance's netns, tap0, veth pair, addresses, route and
 * forwarding exist as described at the top. Idempotent: a second call with
 * the same spec keeps every device (same ifindexes) and succeeds; missing
 * parts (e.g. after a crash) are made. A failed step removes what this call
 * created and leaves what existed before. Errors: INVALID_ARGUMENT (spec),
 * FAILED_PRECONDITION (the tenant bridge is missing), ALREADY_EXISTS (the
 * netns path or the host veth name is held by something mvm did not make:
 * a file that is not a netns, a device that is not a veth), kernel errors as
 * above. Switches the calling thread's netns for a while (see Threads). */
mvm_code net_instance_ensure(const net_instance_spec *spec, mvm_error *err);

/* Removes what net_instance_ensure made: the named netns (unmounted and
 * unlinked) and with it tap0, eth0 and eth0's peer, the host veth. MVM_OK
 * when already gone. On return the netns path is gone and the host veth is
 * no port of the bridge and down (net_tenant_remove may follow at once);
 * the devices themselves are destroyed by the kernel's netns cleanup, in the
 * background, as soon as no process holds the netns (normally within
 * milliseconds; for as long as e.g. a Firecracker still runs in it). Until
 * then net_list may still show the host veth; net_host_veth_remove takes it
 * away, and a new ensure of the instance replaces it. When the netns path is
 * gone but the host veth is not, the veth is deleted here. A netns path that
 * is not a netns mount and a host-veth name held by a non-veth device are
 * left alone (FAILED_PRECONDITION). */
mvm_code net_instance_remove(const char *instance_id, mvm_error *err);

/* A sandbox: the netns "mvm-<id>" with only lo and tap0 (172.16.0.1/30,
 * owned by tap_uid/tap_gid), no veth, no way out. For a machine whose guest
 * must see tap0 but talk to no one: the template a base snapshot is taken
 * of. Idempotent; rolls back a netns it made when a later step fails.
 * net_instance_remove removes it. Errors as net_instance_ensure. */
mvm_code net_sandbox_ensure(const char *id, uid_t tap_uid, gid_t tap_gid, mvm_error *err);

/* The device of the IPv4 default route in the calling thread's netns (the
 * lowest metric's, main table) into out. NOT_FOUND when there is none. */
mvm_code net_uplink_find(char out[NET_IFNAME_MAX], mvm_error *err);

/* ---- netns pool ---- */

/* Most of an instance's setup is the kernel making its netns, tap0 and veth
 * (unshare, the sysctls, lo, the TAP, the veth pair), the same for every
 * instance. The pool makes them ahead: a thread of its own keeps a stock of
 * `size` anonymous network namespaces (held by fds only, not in
 * NET_NETNS_DIR, invisible to net_list), each what a fresh instance netns is
 * (forwarding on, IPv6 off for its devices, lo up, tap0 persistent and owned
 * by tap_uid/tap_gid with NET_TAP_MAC, NET_TAP_ADDR/NET_TAP_PREFIXLEN, up)
 * plus a veth whose peer is its eth0 (down) and whose host end is down,
 * without IPv6, under a temporary name "mvp<pid>..." (not
 * NET_HOST_VETH_PREFIX: net_list does not see it; it goes with its netns if
 * the process ends). net_instance_ensure, when it must make a netns for a
 * spec with the same tap_uid/tap_gid, takes one from the stock, bind-mounts
 * it under the instance's name and renames, attaches and raises the host
 * end; the thread then makes a new one. Sandboxes (no veth) never take one.
 * An empty stock (a burst larger than the pool), another owner or no
 * started pool: the netns is made on the caller's path, as without a pool.
 * Results (names, devices, owners, addresses) are the same either way.
 *
 * Threads: start and stop from one thread (mvmd's init and shutdown), not
 * concurrently with each other; ensure calls on any thread meanwhile. The
 * pool's thread runs from start until stop; it switches only its own netns
 * (unshare, then back), makes one netns at a time and sleeps while the stock
 * is full; a failure to make one is printed once to stderr and retried every
 * second (callers fall back meanwhile). Stop wakes it, waits for it to end
 * (at most the time to make one netns) and closes the stock, whose
 * namespaces (and their veths) the kernel then destroys.
 * Errors (start): INVALID_ARGUMENT (size 0 or > NET_NS_POOL_MAX),
 * FAILED_PRECONDITION (already running), RESOURCE_EXHAUSTED, and the errors
 * of preparing NET_NETNS_DIR. Privileges as net_instance_ensure. */
#define NET_NS_POOL_MAX 1024u
mvm_code net_ns_pool_start(unsigned size, uid_t tap_uid, gid_t tap_gid, mvm_error *err);
/* Ends the pool (see above); a no-op when it is not running. */
void net_ns_pool_stop(void);
/* How many namespaces are in the stock now (0 without a pool), for tests
 * and benchmarks. */
unsigned net_ns_pool_stock(void);

/* ---- restart reconcile ---- */

/* Removes the host veth `name` (NET_HOST_VETH_PREFIX...) when its instance
 * is unknown (e.g. its netns file is gone while a process holds the
 * namespace). MVM_OK when absent; FAILED_PRECONDITION for a device of that
 * name that is not a veth (left alone). */
mvm_code net_host_veth_remove(const char *name, mvm_error *err);

typedef enum net_object_kind {
    NET_OBJ_BRIDGE,    /* a bridge named br-tenant-* in the host netns */
    NET_OBJ_HOST_VETH, /* a veth named vm* in the host netns */
    NET_OBJ_NETNS,     /* NET_NETNS_DIR/mvm-* (the name given without the dir) */
} net_object_kind;

/* Called once per object; return 0 to go on, non-zero to stop (net_list
 * then returns MVM_OK). Runs on the calling thread, in the host netns; it
 * may call net_* functions (e.g. to remove a leaked object). */
typedef int (*net_list_fn)(net_object_kind kind, const char *name, void *arg);

/* Lists the mvm-made objects that exist (by their name prefixes), so a
 * caller can remove the ones its store does not know. A missing
 * NET_NETNS_DIR lists no netns. */
mvm_code net_list(net_list_fn fn, void *arg, mvm_error *err);

/* ---- building blocks, for callers that need them (net_nft*.c, tests) ---- */

/* Opens NET_NETNS_DIR/<name> (O_RDONLY|O_CLOEXEC) into *fd. NOT_FOUND when
 * absent, FAILED_PRECONDITION when the file is not a netns. */
mvm_code net_ns_open(const char *name, int *fd, mvm_error *err);

/* Runs fn(arg, err) with the calling thread inside netns `name`, then
 * switches back to the thread's original netns, also when fn fails. Returns
 * fn's code. If switching back fails the process is in an unknown state and
 * is aborted (a thread in the wrong netns would corrupt later calls). */
typedef mvm_code (*net_ns_fn)(void *arg, mvm_error *err);
mvm_code net_ns_run(const char *name, net_ns_fn fn, void *arg, mvm_error *err);

#endif
