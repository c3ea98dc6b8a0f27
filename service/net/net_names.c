/* net_names.c - the names mvm gives its bridges, veths and netns, derived
 * from tenant and instance ids the same way on every call (so a restarted
 * mvmd finds its objects again), checked against IFNAMSIZ. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

mvm_code net_bridge_name(uint32_t net_id, char *out, mvm_error *err) {
    int n = snprintf(out, NET_IFNAME_MAX, NET_BRIDGE_PREFIX "%" PRIu32, net_id);
    if (n < 0 || n >= NET_IFNAME_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "net_id %" PRIu32 ": bridge name " NET_BRIDGE_PREFIX "%" PRIu32
                        " is longer than the kernel's %d characters",
                        net_id, net_id, NET_IFNAME_MAX - 1);
    return MVM_OK;
}

static mvm_code check_id(const char *id, mvm_error *err) {
    if (!id || !*id)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "instance id is empty");
    size_t n = strlen(id);
    if (n > NET_INSTANCE_ID_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "instance id \"%.32s...\" is %zu characters; at most %d", id, n,
                        NET_INSTANCE_ID_MAX);
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "instance id \"%s\" is not a name", id);
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "instance id \"%s\" has '%c'; only A-Z a-z 0-9 _ . - are allowed", id,
                            c);
    }
    return MVM_OK;
}

mvm_code net_netns_name(const char *instance_id, char *out, mvm_error *err) {
    mvm_code c = check_id(instance_id, err);
    if (c != MVM_OK)
        return c;
    snprintf(out, NET_INSTANCE_ID_MAX + 8, NET_NETNS_PREFIX "%s", instance_id);
    return MVM_OK;
}

mvm_code net_host_veth_name(const char *instance_id, char *out, mvm_error *err) {
    mvm_code c = check_id(instance_id, err);
    if (c != MVM_OK)
        return c;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)instance_id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    snprintf(out, NET_IFNAME_MAX, NET_HOST_VETH_PREFIX "%012" PRIx64, (uint64_t)(h & 0xffffffffffffull));
    return MVM_OK;
}
