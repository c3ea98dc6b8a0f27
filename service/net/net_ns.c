/* net_ns.c - named network namespaces, as `ip netns` keeps them: a netns
 * bind-mounted on NET_NETNS_DIR/<name> (made with unshare(2) and mount(2)
 * on the calling thread, which then goes back to its own netns; IPv4
 * forwarding on and IPv6 off for the devices made in it), opened,
 * entered for a callback with setns(2) and left again, and deleted. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "net_internal.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define SELF_NETNS "/proc/thread-self/ns/net"

static void ns_path(const char *name, char *out, size_t n) {
    snprintf(out, n, NET_NETNS_DIR "/%s", name);
}

static bool fd_is_netns(int fd) {
    struct statfs sfs;
    return fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)NSFS_MAGIC;
}

mvm_code net_ns_open(const char *name, int *fd, mvm_error *err) {
    char path[256];
    ns_path(name, path, sizeof path);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return net_fail_errno(err, errno, "opening netns %s", path);
    if (!fd_is_netns(f)) {
        close(f);
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "%s is not a network namespace (a file mvm did not make)", path);
    }
    *fd = f;
    return MVM_OK;
}

/* NET_NETNS_DIR exists and is a shared mount, so that netns mounts in it
 * show in every mount namespace (what iproute2 does too). Done once per
 * process: remounting it shared with MS_REC walks every netns mount under
 * it, O(instances) per call. */
static atomic_bool ns_dir_done;

static mvm_code ns_dir_prepare(mvm_error *err) {
    if (mkdir(NET_NETNS_DIR, 0755) != 0 && errno != EEXIST)
        return net_fail_errno(err, errno, "creating " NET_NETNS_DIR);
    if (mount("", NET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
        return MVM_OK;
    if (errno != EINVAL)
        return net_fail_errno(err, errno, "making " NET_NETNS_DIR " a shared mount");
    if (mount(NET_NETNS_DIR, NET_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) != 0)
        return net_fail_errno(err, errno, "bind-mounting " NET_NETNS_DIR " on itself");
    if (mount("", NET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) != 0)
        return net_fail_errno(err, errno, "making " NET_NETNS_DIR " a shared mount");
    return MVM_OK;
}

mvm_code net_ns_dir_ready(mvm_error *err) {
    if (atomic_load(&ns_dir_done))
        return MVM_OK;
    mvm_code c = ns_dir_prepare(err); /* two threads at once: both do it, harmless */
    if (c == MVM_OK)
        atomic_store(&ns_dir_done, true);
    return c;
}

static void back_home(int home) {
    if (setns(home, CLONE_NEWNET) != 0) {
        /* this thread would do every later netlink call in the wrong netns */
        perror("mvm_net: returning the thread to its netns");
        abort();
    }
}

/* Written inside every netns this file makes, before any device is:
 * devices made in it later (eth0, tap0) get no IPv6 (the scheme is IPv4;
 * link-local addresses, DAD and MLD reports would cost every setup and
 * flood the tenant bridge for nothing), and it forwards IPv4. */
static const net_sysctl_value settings[] = {
    {"ipv6/conf/default/disable_ipv6", "1"},
    {"ipv4/ip_forward", "1"},
};

mvm_code net_ns_settings(mvm_error *err) {
    return net_sysctl_set(settings, sizeof settings / sizeof settings[0], err);
}

/* A netns from the pool (net_ns_pool.c) bind-mounted on path; the fd is
 * closed either way. */
static mvm_code ns_mount_pooled(const char *name, const char *path, int fd, mvm_error *err) {
    char src[64];
    snprintf(src, sizeof src, "/proc/thread-self/fd/%d", fd);
    mvm_code c = MVM_OK;
    if (mount(src, path, "none", MS_BIND, NULL) != 0)
        c = net_fail_errno(err, errno, "creating netns %s: bind-mounting a pooled netns on %s",
                           name, path);
    close(fd);
    return c;
}

mvm_code net_ns_create(const char *name, uid_t tap_uid, gid_t tap_gid, bool from_pool,
                       net_ns_made *made, mvm_error *err) {
    memset(made, 0, sizeof *made);
    mvm_code c = net_ns_dir_ready(err);
    if (c != MVM_OK)
        return c;
    char path[256];
    ns_path(name, path, sizeof path);
    int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (f < 0 && errno == EEXIST) {
        int nsfd = -1;
        mvm_error e;
        c = net_ns_open(name, &nsfd, &e);
        if (c == MVM_OK) {
            close(nsfd);
            return MVM_OK; /* already there */
        }
        if (c == MVM_FAILED_PRECONDITION)
            return mvm_fail(err, MVM_ALREADY_EXISTS, "creating netns %s: %s; left alone", name,
                            e.msg);
        if (err)
            *err = e;
        return c;
    }
    if (f < 0)
        return net_fail_errno(err, errno, "creating netns file %s", path);
    close(f);
    int pooled = -1;
    if (from_pool && net_ns_pool_take(tap_uid, tap_gid, &pooled, made)) {
        c = ns_mount_pooled(name, path, pooled, err);
        if (c != MVM_OK) { /* the netns goes, and its veth with it */
            net_nl_close(made->inside);
            memset(made, 0, sizeof *made);
            unlink(path);
            return c;
        }
        made->created = true;
        return MVM_OK;
    }
    int home = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        c = net_fail_errno(err, errno, "creating netns %s: opening " SELF_NETNS, name);
        unlink(path);
        return c;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        c = net_fail_errno(err, errno, "creating netns %s: unshare(CLONE_NEWNET)", name);
        close(home);
        unlink(path);
        return c;
    }
    c = net_ns_settings(err);
    if (c != MVM_OK) {
        mvm_error_context(err, "creating netns %s", name);
        back_home(home);
        close(home);
        unlink(path);
        return c;
    }
    if (mount(SELF_NETNS, path, "none", MS_BIND, NULL) != 0) {
        c = net_fail_errno(err, errno, "creating netns %s: bind-mounting it on %s", name, path);
        back_home(home);
        close(home);
        unlink(path);
        return c;
    }
    back_home(home);
    close(home);
    made->created = true;
    return MVM_OK;
}

mvm_code net_ns_delete(const char *name, mvm_error *err) {
    char path[256];
    ns_path(name, path, sizeof path);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0 && (errno == ENOENT || errno == ENOTDIR))
        return MVM_OK;
    if (f < 0)
        return net_fail_errno(err, errno, "deleting netns: opening %s", path);
    bool is_ns = fd_is_netns(f);
    close(f);
    if (!is_ns)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "deleting netns %s: %s is not a network namespace mount; left alone",
                        name, path);
    if (umount2(path, MNT_DETACH) != 0)
        return net_fail_errno(err, errno, "deleting netns %s: unmounting %s", name, path);
    if (unlink(path) != 0 && errno != ENOENT)
        return net_fail_errno(err, errno, "deleting netns %s: removing %s", name, path);
    return MVM_OK;
}

mvm_code net_ns_run(const char *name, net_ns_fn fn, void *arg, mvm_error *err) {
    int nsfd = -1;
    mvm_code c = net_ns_open(name, &nsfd, err);
    if (c != MVM_OK)
        return c;
    int home = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        c = net_fail_errno(err, errno, "entering netns %s: opening " SELF_NETNS, name);
        close(nsfd);
        return c;
    }
    if (setns(nsfd, CLONE_NEWNET) != 0) {
        c = net_fail_errno(err, errno, "entering netns %s: setns", name);
        close(nsfd);
        close(home);
        return c;
    }
    close(nsfd);
    c = fn(arg, err);
    back_home(home);
    close(home);
    return c;
}
