/* core_net_plan.c - the host table `inet mvm` as the store describes it:
 * one net_nft_host_plan built from every tenant (net_id, subnet, egress
 * allowlist) and every instance's port forwards, read in two read
 * snapshots (tenants, then instances: a forward whose tenant went between
 * the two is dropped by net_nft_plan_check's subnet rule and retried at the
 * next sync). The plan owns copies of every string. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

#include "net_nft.h"

/* A growable array of fixed-size items. */
static void *grow(void *items, size_t *cap, size_t n, size_t size) {
    if (n < *cap)
        return items;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(items, c * size);
    if (p)
        *cap = c;
    return p;
}

struct core_net_plan_build {
    core_net_plan *plan;
    size_t cap_tenants, cap_forwards, cap_strings;
    bool oom;
};

/* A copy of s kept until the plan is freed. */
static const char *keep(struct core_net_plan_build *b, const char *s) {
    core_net_plan *p = b->plan;
    char **st = grow(p->strings, &b->cap_strings, p->n_strings, sizeof *st);
    char *d = st ? strdup(s ? s : "") : NULL;
    if (st)
        p->strings = st;
    if (!d) {
        b->oom = true;
        return "";
    }
    p->strings[p->n_strings++] = d;
    return d;
}

static bool note_tenant(void *arg, const Mvm__V1__Tenant *t) {
    struct core_net_plan_build *b = arg;
    core_net_plan *p = b->plan;
    net_nft_tenant *ts = grow(p->tenants, &b->cap_tenants, p->n_tenants, sizeof *ts);
    const char **eg = t->n_egress_cidrs ? calloc(t->n_egress_cidrs, sizeof *eg) : NULL;
    if (ts)
        p->tenants = ts;
    if (!ts || (t->n_egress_cidrs && !eg)) {
        free(eg);
        b->oom = true;
        return false;
    }
    for (size_t i = 0; i < t->n_egress_cidrs; i++)
        eg[i] = keep(b, t->egress_cidrs[i]);
    p->tenants[p->n_tenants++] = (net_nft_tenant){.net_id = t->net_id,
                                                  .subnet = keep(b, t->subnet),
                                                  .egress = (const char *const *)eg,
                                                  .n_egress = t->n_egress_cidrs};
    return !b->oom;
}

static bool note_forwards(void *arg, const Mvm__V1__Instance *inst) {
    struct core_net_plan_build *b = arg;
    core_net_plan *p = b->plan;
    for (size_t i = 0; i < inst->n_port_forwards; i++) {
        const Mvm__V1__PortForward *f = inst->port_forwards[i];
        net_nft_forward *fs = grow(p->forwards, &b->cap_forwards, p->n_forwards, sizeof *fs);
        if (!fs) {
            b->oom = true;
            return false;
        }
        p->forwards = fs;
        p->forwards[p->n_forwards++] = (net_nft_forward){
            .proto = f->protocol == MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP ? NET_NFT_UDP
                                                                             : NET_NFT_TCP,
            .host_port = f->host_port, .tenant_ip = keep(b, inst->ip),
            .instance_port = f->instance_port};
    }
    return !b->oom;
}

mvm_code core_net_plan_read(core *c, core_net_plan *plan, mvm_error *err) {
    memset(plan, 0, sizeof *plan);
    struct core_net_plan_build b = {.plan = plan};
    mvm_code rc = store_tenant_foreach(c->st, note_tenant, &b, err);
    if (!rc && !b.oom)
        rc = store_instance_foreach(c->st, NULL, NULL, note_forwards, &b, NULL, err);
    if (!rc && b.oom)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory reading the network plan");
    if (rc)
        core_net_plan_free(plan);
    return rc;
}

void core_net_plan_free(core_net_plan *plan) {
    for (size_t i = 0; i < plan->n_tenants; i++)
        free((void *)plan->tenants[i].egress);
    for (size_t i = 0; i < plan->n_strings; i++)
        free(plan->strings[i]);
    free(plan->tenants);
    free(plan->forwards);
    free(plan->strings);
    memset(plan, 0, sizeof *plan);
}
