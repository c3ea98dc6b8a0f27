/* store_net.c - the rules of a tenant's, a pool's and an instance's network
 * settings: egress allowlists (Tenant.egress_cidrs: canonical IPv4 CIDRs,
 * at most STORE_EGRESS_CIDRS_MAX, none twice), port forwards
 * (Instance.port_forwards: TCP or UDP, ports 1-65535, at most
 * STORE_PORT_FORWARDS_MAX, a (protocol, host_port) once in a list and once
 * on the node) and network limits (Pool.network_limits: at most
 * STORE_NETWORK_RATE_MAX each). The syntactic rules need no stored data;
 * the node-wide uniqueness of forwarded ports is checked inside the write
 * that stores them. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTO(x) MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_##x

/* ---- egress CIDRs ---- */

mvm_code store_cidr_parse(const char *s, uint32_t *addr, unsigned *prefix, mvm_error *err) {
    if (!s || !*s)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "egress CIDR is empty");
    unsigned o[4], len = 0;
    if (!store_parse_cidr(s, o, &len))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "egress CIDR \"%.40s\" is not an IPv4 CIDR in canonical form "
                        "(A.B.C.D/N, no leading zeros)",
                        s);
    if (len > 32)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "egress CIDR \"%.40s\": prefix length %u is out of range 0-32", s, len);
    uint32_t a = o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3];
    uint32_t host = len == 32 ? 0 : 0xffffffffu >> len;
    if (a & host) {
        uint32_t n = a & ~host;
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "egress CIDR \"%.40s\" has host bits set (expected %u.%u.%u.%u/%u)", s,
                        n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255, len);
    }
    if (addr)
        *addr = a;
    if (prefix)
        *prefix = len;
    return MVM_OK;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

mvm_code store_check_egress(const Mvm__V1__Tenant *t, mvm_error *err) {
    size_t n = t->n_egress_cidrs;
    if (n > STORE_EGRESS_CIDRS_MAX) /* first: bounds the work below */
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "tenant has %zu egress_cidrs; at most %d are allowed", n,
                        STORE_EGRESS_CIDRS_MAX);
    for (size_t i = 0; i < n; i++) {
        mvm_code c = store_cidr_parse(t->egress_cidrs[i], NULL, NULL, err);
        if (c) {
            mvm_error_context(err, "tenant egress_cidrs[%zu]", i);
            return c;
        }
    }
    /* Canonical forms are equal as strings exactly when the CIDRs are. */
    char *sorted[STORE_EGRESS_CIDRS_MAX];
    if (n)
        memcpy(sorted, t->egress_cidrs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "egress CIDR %s appears twice in egress_cidrs", sorted[i]);
    return MVM_OK;
}

/* ---- port forwards ---- */

const char *store_port_protocol_name(Mvm__V1__PortProtocol p) {
    return p == PROTO(TCP) ? "tcp" : p == PROTO(UDP) ? "udp" : "?";
}

/* The key two forwards clash on: protocol and host port. */
static uint32_t pf_key(const Mvm__V1__PortForward *f) {
    return (uint32_t)f->protocol << 16 | f->host_port;
}

static int key_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

mvm_code store_check_port_forwards(Mvm__V1__PortForward *const *pf, size_t n, mvm_error *err) {
    if (n > STORE_PORT_FORWARDS_MAX) /* first: bounds the work below */
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%zu port_forwards; at most %d per instance are allowed", n,
                        STORE_PORT_FORWARDS_MAX);
    uint32_t keys[STORE_PORT_FORWARDS_MAX];
    for (size_t i = 0; i < n; i++) {
        const Mvm__V1__PortForward *f = pf[i];
        if (!f)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "port_forwards[%zu] is missing", i);
        if (f->protocol != PROTO(TCP) && f->protocol != PROTO(UDP))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port_forwards[%zu]: protocol %d is not TCP or UDP", i,
                            (int)f->protocol);
        if (f->host_port < 1 || f->host_port > 65535)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port_forwards[%zu]: host_port %u is out of range 1-65535", i,
                            f->host_port);
        if (f->instance_port < 1 || f->instance_port > 65535)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port_forwards[%zu]: instance_port %u is out of range 1-65535", i,
                            f->instance_port);
        keys[i] = pf_key(f);
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    for (size_t i = 1; i < n; i++)
        if (keys[i - 1] == keys[i])
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "port_forwards: %s host_port %u is given twice",
                            store_port_protocol_name((Mvm__V1__PortProtocol)(keys[i] >> 16)),
                            keys[i] & 0xffffu);
    return MVM_OK;
}

typedef struct {
    const char *self;                  /* the instance being written; NULL: a new one */
    Mvm__V1__PortForward *const *want; /* its forwards */
    size_t n;
    mvm_error *err;
    mvm_code code;
} claim_ctx;

static bool claim_one(void *arg, const ProtobufCMessage *m) {
    claim_ctx *cx = arg;
    const Mvm__V1__Instance *i = (const Mvm__V1__Instance *)m;
    if (cx->self && i->id && strcmp(i->id, cx->self) == 0)
        return true; /* its own old list is being replaced */
    for (size_t k = 0; k < i->n_port_forwards; k++) {
        const Mvm__V1__PortForward *have = i->port_forwards[k];
        for (size_t j = 0; have && j < cx->n; j++) {
            if (pf_key(have) != pf_key(cx->want[j]))
                continue;
            cx->code = mvm_fail(cx->err, MVM_ALREADY_EXISTS,
                                "%s host port %u is already forwarded to instance %s (tenant "
                                "%s, its port %u)",
                                store_port_protocol_name(have->protocol), have->host_port,
                                i->id, i->tenant, have->instance_port);
            return false;
        }
    }
    return true;
}

mvm_code store_port_forwards_claim(store_wtx *w, const char *self,
                                   Mvm__V1__PortForward *const *pf, size_t n, mvm_error *err) {
    if (n == 0)
        return MVM_OK;
    /* A walk over every instance of the node in the write's own
     * transaction, so two writes can never both take a port: at most some
     * thousands of records per node, each a few hundred bytes, which is
     * cheap next to the commit's fsync. An index (protocol, port) ->
     * instance would make it O(n log N) if nodes ever hold far more. */
    claim_ctx cx = {self, pf, n, err, MVM_OK};
    mvm_code c = store_walk(w->txn, w->st->instances, "", 0, 0,
                            &mvm__v1__instance__descriptor, claim_one, &cx, err);
    return c ? c : cx.code;
}

/* ---- network limits ---- */

mvm_code store_check_network_limits(const Mvm__V1__NetworkLimits *l, mvm_error *err) {
    if (!l)
        return MVM_OK;
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {{"rx_bytes_per_second", l->rx_bytes_per_second},
             {"tx_bytes_per_second", l->tx_bytes_per_second},
             {"rx_packets_per_second", l->rx_packets_per_second},
             {"tx_packets_per_second", l->tx_packets_per_second}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v > STORE_NETWORK_RATE_MAX)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "pool network_limits.%s %llu is more than the maximum %llu (0 "
                            "means unlimited)",
                            f[i].name, (unsigned long long)f[i].v,
                            (unsigned long long)STORE_NETWORK_RATE_MAX);
    return MVM_OK;
}
