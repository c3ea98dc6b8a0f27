/* net_sysctl.c - one value written under /proc/sys/net in the calling
 * thread's netns (the files there show the netns of the thread that opens
 * them): IPv4 forwarding in an instance netns, IPv6 off on the devices mvm
 * makes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net_internal.h"

mvm_code net_sysctl_write(const char *key, const char *value, mvm_error *err) {
    char path[128];
    if (snprintf(path, sizeof path, "/proc/sys/net/%s", key) >= (int)sizeof path)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "sysctl net/%s: name too long", key);
    int f = open(path, O_WRONLY | O_CLOEXEC);
    if (f < 0)
        return net_fail_errno(err, errno, "writing %s", path);
    size_t len = strlen(value);
    ssize_t w = write(f, value, len);
    int e = errno;
    close(f);
    if (w != (ssize_t)len)
        return net_fail_errno(err, w < 0 ? e : EIO, "writing %s", path);
    return MVM_OK;
}
