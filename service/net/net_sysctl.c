/* net_sysctl.c - values written under /proc/sys/net in the calling thread's
 * netns (the files there show the netns of the thread that opens them):
 * IPv4 forwarding in an instance netns, IPv6 off on the devices mvm makes.
 * The directory is opened once per call: the kernel's lookup of "net"
 * compares the name against every live netns's entry, so each path walk
 * from /proc/sys costs O(netns on the node). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "net_internal.h"

static mvm_code write_one(int dir, const net_sysctl_value *v, mvm_error *err) {
    int f = openat(dir, v->key, O_WRONLY | O_CLOEXEC);
    if (f < 0)
        return net_fail_errno(err, errno, "writing /proc/sys/net/%s", v->key);
    size_t len = strlen(v->value);
    ssize_t w = write(f, v->value, len);
    int e = errno;
    close(f);
    if (w != (ssize_t)len)
        return net_fail_errno(err, w < 0 ? e : EIO, "writing /proc/sys/net/%s", v->key);
    return MVM_OK;
}

mvm_code net_sysctl_set(const net_sysctl_value *values, size_t n, mvm_error *err) {
    int dir = open("/proc/sys/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return net_fail_errno(err, errno, "opening /proc/sys/net");
    mvm_code c = MVM_OK;
    for (size_t i = 0; i < n && c == MVM_OK; i++)
        c = write_one(dir, &values[i], err);
    close(dir);
    return c;
}
