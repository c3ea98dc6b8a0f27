/* net_tap.c - the persistent TAP device Firecracker opens, made with the
 * tun driver's ioctls on /dev/net/tun in the calling thread's netns:
 * TUNSETIFF (create or attach), TUNSETOWNER/TUNSETGROUP, TUNSETPERSIST. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net_internal.h"

static mvm_code tap_attach(const char *name, int *fd, mvm_error *err) {
    int f = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (f < 0)
        return net_fail_errno(err, errno, "TAP %s: opening /dev/net/tun", name);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(f, TUNSETIFF, &ifr) != 0) {
        int e = errno;
        close(f);
        if (e == EINVAL)
            return mvm_fail(err, MVM_ALREADY_EXISTS,
                            "TAP %s: TUNSETIFF refused (a device of that name that is not a "
                            "TAP?): %s",
                            name, strerror(e));
        return net_fail_errno(err, e, "TAP %s: TUNSETIFF", name);
    }
    *fd = f;
    return MVM_OK;
}

mvm_code net_tap_ensure(const char *name, uid_t uid, gid_t gid, mvm_error *err) {
    int f = -1;
    mvm_code c = tap_attach(name, &f, err);
    if (c != MVM_OK)
        return c;
    if (ioctl(f, TUNSETOWNER, (unsigned long)uid) != 0)
        c = net_fail_errno(err, errno, "TAP %s: TUNSETOWNER %u", name, (unsigned)uid);
    else if (ioctl(f, TUNSETGROUP, (unsigned long)gid) != 0)
        c = net_fail_errno(err, errno, "TAP %s: TUNSETGROUP %u", name, (unsigned)gid);
    else if (ioctl(f, TUNSETPERSIST, 1UL) != 0)
        c = net_fail_errno(err, errno, "TAP %s: TUNSETPERSIST", name);
    close(f); /* not persistent (an error above): the device goes with it */
    return c;
}

mvm_code net_tap_delete(const char *name, mvm_error *err) {
    int f = -1;
    mvm_code c = tap_attach(name, &f, err);
    if (c != MVM_OK)
        return c;
    if (ioctl(f, TUNSETPERSIST, 0UL) != 0)
        c = net_fail_errno(err, errno, "TAP %s: clearing TUNSETPERSIST", name);
    close(f);
    return c;
}
