/* net_list.c - what mvm made that exists now (tenant bridges, host veths,
 * instance netns), found by name prefix, for the restart reconcile. */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "net_internal.h"

typedef struct list_ctx {
    net_list_fn fn;
    void *arg;
    net_object_kind kind;
} list_ctx;

static int visit(const char *name, void *arg) {
    list_ctx *l = arg;
    return l->fn(l->kind, name, l->arg);
}

mvm_code net_list(net_list_fn fn, void *arg, mvm_error *err) {
    struct nl_sock *sk;
    mvm_code c = net_nl_open(&sk, err);
    if (c != MVM_OK)
        return c;
    list_ctx l = {.fn = fn, .arg = arg, .kind = NET_OBJ_BRIDGE};
    bool stopped = false;
    c = net_link_each(sk, NET_BRIDGE_PREFIX, "bridge", visit, &l, &stopped, err);
    if (c == MVM_OK && !stopped) {
        l.kind = NET_OBJ_HOST_VETH;
        c = net_link_each(sk, NET_HOST_VETH_PREFIX, "veth", visit, &l, &stopped, err);
    }
    net_nl_close(sk);
    if (c != MVM_OK || stopped)
        return c;
    DIR *d = opendir(NET_NETNS_DIR);
    if (!d)
        return errno == ENOENT ? MVM_OK : net_fail_errno(err, errno, "listing " NET_NETNS_DIR);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, NET_NETNS_PREFIX, strlen(NET_NETNS_PREFIX)) != 0)
            continue;
        if (fn(NET_OBJ_NETNS, e->d_name, arg) != 0)
            break;
    }
    closedir(d);
    return MVM_OK;
}
