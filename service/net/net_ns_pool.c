/* net_ns_pool.c - a stock of ready, anonymous network namespaces that
 * net_ns_create takes one from instead of making a netns on the caller's
 * path (net.h, "netns pool"). Each is made by the pool's thread exactly as a
 * fresh instance netns is (net_ns_furnish: forwarding on, IPv6 off for its
 * devices, lo up, tap0 owned by the pool's uid/gid with its MAC, address and
 * up), given a veth whose peer is its eth0 (down, random MAC) and whose
 * host end is down, without IPv6 and named "mvp<pid><n>" (no mvm prefix:
 * net_list does not see it; it goes with its netns if the process dies),
 * and held only by an fd until taken; net_ns_create bind-mounts it under
 * the instance's name and net_instance_ensure renames, attaches and raises
 * the host end. The thread refills the stock after each take and
 * sleeps while it is full; net_ns_pool_stop ends it and closes the stock
 * (the kernel then destroys those namespaces). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net_internal.h"

#define SELF_NETNS "/proc/thread-self/ns/net"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the thread waits for room or the stop */
    pthread_t thread;
    bool running, stopping;
    uid_t uid;
    gid_t gid;
    unsigned size, n;
    int *fds;            /* the stock, n of size */
    net_ns_made *made;   /* with each, its veth and socket */
    unsigned counter;    /* for the veths' temporary names */
    int made_fail; /* consecutive failures making one (the thread backs off) */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One furnished anonymous netns with its veth, made on the calling (pool)
 * thread, which returns to `home` afterwards. *fd holds it. */
static mvm_code pool_make(int home, uid_t uid, gid_t gid, unsigned n, int *fd, net_ns_made *m,
                          mvm_error *err) {
    memset(m, 0, sizeof *m);
    *fd = -1;
    if (unshare(CLONE_NEWNET) != 0)
        return net_fail_errno(err, errno, "netns pool: unshare(CLONE_NEWNET)");
    mvm_code c = net_ns_settings(err);
    if (c == MVM_OK)
        c = net_ns_furnish(uid, gid, err);
    if (c == MVM_OK)
        c = net_nl_open(&m->inside, err);
    if (c == MVM_OK) {
        *fd = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
        if (*fd < 0)
            c = net_fail_errno(err, errno, "netns pool: opening " SELF_NETNS);
    }
    if (setns(home, CLONE_NEWNET) != 0) {
        perror("mvm_net: netns pool: returning the thread to its netns");
        abort();
    }
    struct nl_sock *sk = NULL;
    if (c == MVM_OK)
        c = net_nl_open(&sk, err);
    snprintf(m->veth, sizeof m->veth, "mvp%04x%08x", (unsigned)getpid() & 0xffffu, n);
    char key[64];
    snprintf(key, sizeof key, "ipv6/conf/%s/disable_ipv6", m->veth);
    const net_sysctl_value ipv6_off[] = {{key, "1"}};
    if (c == MVM_OK)
        c = net_link_add_veth(sk, m->veth, 0, NET_GUEST_IFNAME, *fd, NULL, false, err);
    net_link_info host = {0}, eth0 = {0};
    if (c == MVM_OK)
        c = net_sysctl_set(ipv6_off, 1, err);
    if (c == MVM_OK)
        c = net_link_get(sk, m->veth, &host, err);
    if (c == MVM_OK)
        c = net_link_get(m->inside, NET_GUEST_IFNAME, &eth0, err);
    if (c == MVM_OK && (!host.ifindex || !eth0.ifindex))
        c = mvm_fail(err, MVM_INTERNAL, "netns pool: veth %s gone after it was made", m->veth);
    m->veth_ifindex = host.ifindex;
    m->eth0_ifindex = eth0.ifindex;
    m->furnished = true;
    if (c != MVM_OK) {
        if (host.ifindex)
            net_link_delete(sk, m->veth, NULL);
        net_nl_close(m->inside);
        m->inside = NULL;
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
    }
    net_nl_close(sk);
    return c;
}

static void *pool_main(void *arg) {
    (void)arg;
    int home = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        perror("mvm_net: netns pool: opening " SELF_NETNS "; the pool stays empty");
        return NULL;
    }
    pthread_mutex_lock(&pool.mu);
    while (!pool.stopping) {
        if (pool.n >= pool.size) {
            pthread_cond_wait(&pool.cv, &pool.mu);
            continue;
        }
        uid_t uid = pool.uid;
        gid_t gid = pool.gid;
        unsigned k = pool.counter++;
        pthread_mutex_unlock(&pool.mu);
        int fd = -1;
        net_ns_made m;
        mvm_error e;
        mvm_code c = pool_make(home, uid, gid, k, &fd, &m, &e);
        pthread_mutex_lock(&pool.mu);
        if (c == MVM_OK) {
            pool.made_fail = 0;
            pool.made[pool.n] = m;
            pool.fds[pool.n++] = fd;
            continue;
        }
        /* the callers fall back to making their own; say so once, retry slowly */
        if (pool.made_fail++ == 0)
            fprintf(stderr, "mvm_net: netns pool: %s; retrying every second\n", e.msg);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&pool.cv, &pool.mu, &t);
    }
    pthread_mutex_unlock(&pool.mu);
    close(home);
    return NULL;
}

mvm_code net_ns_pool_start(unsigned size, uid_t tap_uid, gid_t tap_gid, mvm_error *err) {
    if (size == 0 || size > NET_NS_POOL_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "netns pool size %u: not in 1..%u", size,
                        (unsigned)NET_NS_POOL_MAX);
    mvm_code c = net_ns_dir_ready(err);
    if (c != MVM_OK)
        return c;
    pthread_mutex_lock(&pool.mu);
    if (pool.running) {
        pthread_mutex_unlock(&pool.mu);
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "the netns pool is already running");
    }
    pool.fds = calloc(size, sizeof *pool.fds);
    pool.made = calloc(size, sizeof *pool.made);
    if (!pool.fds || !pool.made) {
        free(pool.fds);
        free(pool.made);
        pool.fds = NULL;
        pool.made = NULL;
        pthread_mutex_unlock(&pool.mu);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "netns pool: out of memory");
    }
    pool.size = size;
    pool.n = 0;
    pool.uid = tap_uid;
    pool.gid = tap_gid;
    pool.stopping = false;
    pool.made_fail = 0;
    int r = pthread_create(&pool.thread, NULL, pool_main, NULL);
    if (r != 0) {
        free(pool.fds);
        free(pool.made);
        pool.fds = NULL;
        pool.made = NULL;
        pthread_mutex_unlock(&pool.mu);
        return net_fail_errno(err, r, "netns pool: starting its thread");
    }
    pool.running = true;
    pthread_mutex_unlock(&pool.mu);
    return MVM_OK;
}

void net_ns_pool_stop(void) {
    pthread_mutex_lock(&pool.mu);
    if (!pool.running) {
        pthread_mutex_unlock(&pool.mu);
        return;
    }
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    pthread_join(pool.thread, NULL);
    pthread_mutex_lock(&pool.mu);
    for (unsigned i = 0; i < pool.n; i++) { /* the kernel takes the veths with them */
        net_nl_close(pool.made[i].inside);
        close(pool.fds[i]);
    }
    free(pool.fds);
    free(pool.made);
    pool.fds = NULL;
    pool.made = NULL;
    pool.n = pool.size = 0;
    pool.running = false;
    pthread_mutex_unlock(&pool.mu);
}

unsigned net_ns_pool_stock(void) {
    pthread_mutex_lock(&pool.mu);
    unsigned n = pool.n;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

bool net_ns_pool_take(uid_t tap_uid, gid_t tap_gid, int *fd, net_ns_made *made) {
    bool got = false;
    pthread_mutex_lock(&pool.mu);
    if (pool.running && pool.n > 0 && pool.uid == tap_uid && pool.gid == tap_gid) {
        pool.n--;
        *fd = pool.fds[pool.n];
        *made = pool.made[pool.n];
        got = true;
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return got;
}
