/* store_instance.c - instance writes: creation (id, quota checks, lowest
 * free address of the tenant /24, MAC, TAP name and port forwards, whose
 * host ports must be free on the node), as a boot from the
 * pool's images or as a clone of one of its snapshots (the snapshot's
 * machine size, a CloneInstance operation recorded), recording lifecycle
 * state, replacing the port forwards (SetPortForwards), and deletion that
 * frees the address and the forwarded ports. Each queues a watch event.
 * Nothing is created in a deleting tenant or pool; an instance the node's
 * reconcile loop creates is recorded managed. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_FIRST 2   /* .1 is the tenant gateway */
#define IP_LAST 254
#define DESTROYED MVM__V1__INSTANCE_STATE__INSTANCE_STATE_DESTROYED

mvm_code store_check_instance_ref(const char *tenant, const char *id, mvm_error *err) {
    mvm_code c = store_check_name("tenant", tenant, err);
    return c ? c : store_check_id("instance id", id, 'i', err);
}

typedef struct {
    const Mvm__V1__CreateInstanceRequest *in;
    const char *clone_of; /* create: the snapshot a clone is made from */
    const char *tenant, *id;
    Mvm__V1__InstanceState expect, state;
    int32_t pid;
    const char *last_error;
    uint32_t deletable;
    const store_instance_change *change;
    Mvm__V1__PortForward *const *pf; /* SetPortForwards */
    size_t n_pf;
    uint64_t expect_version;
    ProtobufCAllocator *alloc;
    Mvm__V1__Instance *out;
} inst_args;

/* The machine a new instance gets and where its size comes from: the
 * pool's, or the snapshot it is cloned from (whose size it must keep). */
typedef struct {
    uint32_t vcpus, mem_mib;
    const char *source;          /* "pool web", "snapshot s-..." for messages */
    const char *clone_of;        /* the snapshot id, or NULL for a boot */
} inst_machine;

/* Refuses the instance if it would take the tenant past a quota. */
static mvm_code quota_check(const Mvm__V1__Tenant *t, const Mvm__V1__TenantUsage *u,
                            const inst_machine *m, mvm_error *err) {
    const Mvm__V1__TenantQuota *q = t->quota;
    if (!q)
        return MVM_OK;
    if (q->max_instances && u->instances + 1 > q->max_instances)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "tenant %s quota max_instances is %u and %u are in use", t->name,
                        q->max_instances, u->instances);
    if (q->max_vcpus && (uint64_t)u->vcpus + m->vcpus > q->max_vcpus)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "tenant %s quota max_vcpus is %u and %u are in use; %s needs %u more",
                        t->name, q->max_vcpus, u->vcpus, m->source, m->vcpus);
    if (q->max_mem_mib && u->mem_mib + m->mem_mib > q->max_mem_mib)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "tenant %s quota max_mem_mib is %llu and %llu are in use; %s needs %u "
                        "more",
                        t->name, (unsigned long long)q->max_mem_mib,
                        (unsigned long long)u->mem_mib, m->source, m->mem_mib);
    return MVM_OK;
}

/* *off: lowest free host offset of the tenant's /24, or 0 when it is full. */
static mvm_code ip_lowest_free(MDB_txn *txn, MDB_dbi allocs, const char *tenant, unsigned *off,
                               mvm_error *err) {
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = store_key2(prefix, tenant, "", NULL);
    MDB_cursor *cur;
    *off = 0;
    int rc = mdb_cursor_open(txn, allocs, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    unsigned want = IP_FIRST;
    MDB_val k = {plen, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && k.mv_size == plen + 1 && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned o = ((const uint8_t *)k.mv_data)[plen];
        if (o > want)
            break;
        if (o == want)
            want++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_lmdb_fail(err, rc, "address allocations");
    *off = want <= IP_LAST ? want : 0;
    return MVM_OK;
}

/* Writes the instance record and its indexes (not the usage counters). */
static mvm_code inst_put(store_wtx *w, Mvm__V1__Instance *i, unsigned off, mvm_error *err) {
    store *st = w->st;
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, i->tenant, i->id, NULL);
    mvm_code c = store_put_msg(w->txn, st->instances, key, klen, &i->base, err);
    if (c || !off)
        return c;
    size_t tlen = strlen(i->tenant);
    if ((c = store_put_raw(w->txn, st->inst_ids, i->id, STORE_ID_LEN, i->tenant, tlen, 0,
                           err)))
        return c;
    klen = store_key2(key, i->tenant, i->pool, i->id);
    if ((c = store_put_raw(w->txn, st->pool_inst, key, klen, "", 0, 0, err)))
        return c;
    klen = store_key2(key, i->tenant, "", NULL);
    key[klen++] = (uint8_t)off;
    return store_put_raw(w->txn, st->allocs, key, klen, i->id, STORE_ID_LEN, 0, err);
}

static mvm_code inst_create_locked(store_wtx *w, inst_args *a, const Mvm__V1__Tenant *t,
                                   const Mvm__V1__Pool *p, const inst_machine *m,
                                   mvm_error *err) {
    const Mvm__V1__CreateInstanceRequest *in = a->in;
    Mvm__V1__TenantUsage *u = NULL;
    mvm_code c = store_usage_get(w->txn, w->st, t->name, NULL, &u, err);
    if (!c)
        c = quota_check(t, u, m, err);
    store_msg_free(u ? &u->base : NULL, NULL);
    if (c)
        return c;
    unsigned off;
    if ((c = ip_lowest_free(w->txn, w->st->allocs, t->name, &off, err)))
        return c;
    if (!off)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "tenant %s subnet %s is full (%d addresses in use)", t->name, t->subnet,
                        IP_LAST - IP_FIRST + 1);
    if ((c = store_port_forwards_claim(w, NULL, in->port_forwards, in->n_port_forwards, err)))
        return c;
    uint8_t net[2];
    /* Sized for any unsigned, so no compiler sees a possible truncation;
     * the values are small (off <= 254, net_id < 4096). */
    char id[STORE_ID_LEN + 1], ip[48], mac[48];
    if ((c = store_tenant_net(t, net, err)) || (c = store_id_draw(w, 'i', id, err)))
        return c;
    snprintf(ip, sizeof ip, "10.%u.%u.%u", (unsigned)net[0], (unsigned)net[1], off);
    snprintf(mac, sizeof mac, "06:00:0a:%02x:%02x:%02x", (unsigned)net[0], (unsigned)net[1], off);
    store_wtx_audit(w, t->name, "instance/%s", id);
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    Mvm__V1__Instance i = MVM__V1__INSTANCE__INIT;
    i.tenant = t->name;
    i.pool = p->name;
    i.id = id;
    i.state = MVM__V1__INSTANCE_STATE__INSTANCE_STATE_CREATED;
    i.ip = ip;
    i.mac = mac;
    i.tap = (char *)STORE_INSTANCE_TAP; /* inside its netns, mvm-<id> */
    i.vcpus = m->vcpus;
    i.mem_mib = m->mem_mib;
    i.create_time = i.update_time = i.state_time = &now;
    /* A clone: CREATED, with the clone recorded as under way (recovery
     * finishes or undoes it) until the caller records it RUNNING. */
    Mvm__V1__InstanceOperation op = MVM__V1__INSTANCE_OPERATION__INIT;
    if (m->clone_of) {
        i.base_snapshot_id = (char *)m->clone_of;
        op.name = STORE_OP_CLONE;
        op.from_state = MVM__V1__INSTANCE_STATE__INSTANCE_STATE_CREATED;
        op.start_time = &now;
        op.target = (char *)m->clone_of;
        i.operation = &op;
    }
    /* Map entries of the request and of Instance pack identically. */
    i.n_labels = in->n_labels;
    i.labels = (Mvm__V1__Instance__LabelsEntry **)in->labels;
    i.n_port_forwards = in->n_port_forwards;
    i.port_forwards = in->port_forwards;
    i.resource_version = w->rev;
    /* Output only, and kept by every later write (they rewrite the record
     * read from the store). */
    i.managed = w->who && w->who->node_managed;
    if ((c = inst_put(w, &i, off, err)) ||
        (c = store_usage_add(w, t->name, 1, m->vcpus, m->mem_mib, 0, err)) ||
        (c = store_wtx_event(w, MVM__V1__INSTANCE_EVENT__TYPE__ADDED, &i, err)))
        return c;
    a->out = (Mvm__V1__Instance *)store_msg_dup(&i.base, a->alloc);
    return a->out ? MVM_OK : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
}

/* The request's own rules (no lock held). */
static mvm_code inst_create_check(store_wtx *w, void *arg, mvm_error *err) {
    const inst_args *a = arg;
    const Mvm__V1__CreateInstanceRequest *in = a->in;
    if (a->clone_of)
        store_wtx_audit(w, in->tenant, "instance/(new clone of %.40s in %.63s/%.63s)",
                        a->clone_of, in->tenant ? in->tenant : "", in->pool ? in->pool : "");
    else
        store_wtx_audit(w, in->tenant, "instance/(new in %.63s/%.63s)",
                        in->tenant ? in->tenant : "", in->pool ? in->pool : "");
    mvm_code c;
    if ((c = store_check_name("tenant", in->tenant, err)) ||
        (c = store_check_name("pool", in->pool, err)) ||
        (a->clone_of && (c = store_check_id("snapshot id", a->clone_of, 's', err))) ||
        (c = store_check_port_forwards(in->port_forwards, in->n_port_forwards, err)))
        return c;
    return store_check_labels(&in->base, err);
}

/* A clone's machine: the snapshot's, if it may be cloned into pool p. */
static mvm_code clone_machine(store_wtx *w, const Mvm__V1__Pool *p, const char *id,
                              Mvm__V1__Snapshot **snap, inst_machine *m, mvm_error *err) {
    mvm_code c = store_snapshot_load(w->txn, w->st, p->tenant, id, NULL, snap, err);
    if (c)
        return c;
    const Mvm__V1__Snapshot *s = *snap;
    if (strcmp(s->pool, p->name) != 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "snapshot %s belongs to pool %s/%s, not %s/%s: clone it into its own "
                        "pool",
                        id, s->tenant, s->pool, p->tenant, p->name);
    if (s->state != MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_READY)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot %s/%s is retired (%s) and makes no new clones", s->tenant, id,
                        s->retire_reason && *s->retire_reason ? s->retire_reason
                                                              : "no reason recorded");
    m->vcpus = s->vcpus;
    m->mem_mib = s->mem_mib;
    m->clone_of = id;
    return MVM_OK;
}

static mvm_code inst_create_fn(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    const Mvm__V1__CreateInstanceRequest *in = a->in;
    ProtobufCMessage *tm = NULL;
    Mvm__V1__Pool *p = NULL;
    Mvm__V1__Snapshot *snap = NULL;
    mvm_code c = store_get_msg(w->txn, w->st->tenants, in->tenant, strlen(in->tenant),
                               &mvm__v1__tenant__descriptor, NULL, &tm, err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "tenant %s not found", in->tenant);
    if (!c && ((Mvm__V1__Tenant *)tm)->deleting)
        c = store_deleting_fail(w, "tenant", in->tenant, NULL, err);
    if (!c)
        c = store_pool_load(w->txn, w->st, in->tenant, in->pool, &p, err);
    if (!c && p->deleting)
        c = store_deleting_fail(w, "pool", in->tenant, in->pool, err);
    char source[80];
    inst_machine m = {0, 0, source, NULL};
    if (!c && a->clone_of) {
        c = clone_machine(w, p, a->clone_of, &snap, &m, err);
        snprintf(source, sizeof source, "snapshot %s", a->clone_of);
    } else if (!c) {
        m.vcpus = p->vcpus;
        m.mem_mib = p->mem_mib;
        snprintf(source, sizeof source, "pool %s", p->name);
    }
    if (!c)
        c = inst_create_locked(w, a, (Mvm__V1__Tenant *)tm, p, &m, err);
    store_msg_free(tm, NULL);
    store_msg_free(p ? &p->base : NULL, NULL);
    store_msg_free(snap ? &snap->base : NULL, NULL);
    return c;
}

static mvm_code inst_create(store *st, const store_actor *who,
                            const Mvm__V1__CreateInstanceRequest *in, const char *clone_of,
                            ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err) {
    if (!in) {
        if (out)
            *out = NULL;
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "request is required");
    }
    inst_args a = {.in = in, .clone_of = clone_of, .alloc = alloc};
    mvm_code c = store_write(st, who, inst_create_check, inst_create_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

mvm_code store_instance_create(store *st, const store_actor *who,
                               const Mvm__V1__CreateInstanceRequest *in,
                               ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                               mvm_error *err) {
    return inst_create(st, who, in, NULL, alloc, out, err);
}

mvm_code store_instance_create_clone(store *st, const store_actor *who,
                                     const Mvm__V1__CreateInstanceRequest *in,
                                     const char *clone_of, ProtobufCAllocator *alloc,
                                     Mvm__V1__Instance **out, mvm_error *err) {
    if (!clone_of) {
        if (out)
            *out = NULL;
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "snapshot id is required for a clone");
    }
    return inst_create(st, who, in, clone_of, alloc, out, err);
}

/* Names the instance in the audit record and checks the reference (no
 * lock held). */
static mvm_code inst_ref_check(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    store_wtx_audit(w, a->tenant, "instance/%.40s", a->id ? a->id : "");
    return store_check_instance_ref(a->tenant, a->id, err);
}

/* Loads the instance a->tenant/a->id for a write (NOT_FOUND with a message). */
static mvm_code inst_load(store_wtx *w, inst_args *a, Mvm__V1__Instance **out,
                          mvm_error *err) {
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, a->tenant, a->id, NULL);
    mvm_code c = store_get_msg(w->txn, w->st->instances, key, klen,
                               &mvm__v1__instance__descriptor, NULL, (ProtobufCMessage **)out,
                               err);
    if (c == MVM_NOT_FOUND)
        mvm_fail(err, c, "instance %s/%s not found", a->tenant, a->id);
    return c;
}

/* Stores the changed record i, queues its MODIFIED event and hands a copy
 * to a->out. */
static mvm_code inst_put_modified(store_wtx *w, inst_args *a, Mvm__V1__Instance *i,
                                  mvm_error *err) {
    mvm_code c = inst_put(w, i, 0, err);
    if (c || (c = store_wtx_event(w, MVM__V1__INSTANCE_EVENT__TYPE__MODIFIED, i, err)))
        return c;
    a->out = (Mvm__V1__Instance *)store_msg_dup(&i->base, a->alloc);
    return a->out ? MVM_OK : mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
}

static const char *state_name(Mvm__V1__InstanceState st) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mvm__v1__instance_state__descriptor, st);
    return v ? v->name : "?";
}

static mvm_code inst_change_fn(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    const store_instance_change *ch = a->change;
    Mvm__V1__Instance *i;
    mvm_code c = inst_load(w, a, &i, err);
    if (c)
        return c;
    if (ch->expect_states && !((ch->expect_states >> i->state) & 1u)) {
        bool one = (ch->expect_states & (ch->expect_states - 1)) == 0;
        int want = one ? __builtin_ctz(ch->expect_states) : 0;
        c = mvm_fail(err, MVM_FAILED_PRECONDITION, "instance %s is %s%s%s", a->id,
                     state_name(i->state), one ? ", not " : "",
                     one ? state_name((Mvm__V1__InstanceState)want) : "");
    }
    else if (ch->expect_idle && i->operation)
        c = mvm_fail(err, MVM_ABORTED, "instance %s is busy: %s is under way", a->id,
                     i->operation->name ? i->operation->name : "?");
    else if (ch->set_state &&
             (!protobuf_c_enum_descriptor_get_value(&mvm__v1__instance_state__descriptor,
                                                    ch->state) ||
              !ch->state))
        c = mvm_fail(err, MVM_INVALID_ARGUMENT, "bad instance state %d", (int)ch->state);
    Google__Protobuf__Timestamp *now = c ? NULL : store_wtx_time(w);
    Google__Protobuf__Timestamp *state_now = !c && ch->set_state && ch->state != i->state
                                                 ? store_wtx_time(w) : NULL;
    if (!c && (!now || (ch->set_state && ch->state != i->state && !state_now)))
        c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!c) {
        /* The record's own pointers are put back before it is freed. */
        Google__Protobuf__Timestamp *old_update = i->update_time, *old_state_time = i->state_time;
        Mvm__V1__InstanceProcess *old_proc = i->process;
        Mvm__V1__InstanceOperation *old_op = i->operation;
        Mvm__V1__InstanceSnapshot *old_snap = i->snapshot;
        char *old_err = i->last_error;
        int32_t old_pid = i->pid;
        i->update_time = now;
        if (state_now)
            i->state_time = state_now;
        if (ch->set_state) {
            /* Quotas and usage count instances in any state but DESTROYED. */
            int gone = (ch->state == DESTROYED) - (i->state == DESTROYED);
            if (gone)
                c = store_usage_add(w, i->tenant, -gone, -gone * (int64_t)i->vcpus,
                                    -gone * (int64_t)i->mem_mib, 0, err);
            i->state = ch->state;
        }
        if (ch->set_process) {
            i->process = (Mvm__V1__InstanceProcess *)ch->process;
            i->pid = ch->process ? ch->process->pid : 0;
        }
        if (ch->set_operation)
            i->operation = (Mvm__V1__InstanceOperation *)ch->operation;
        if (ch->set_snapshot)
            i->snapshot = (Mvm__V1__InstanceSnapshot *)ch->snapshot;
        if (ch->last_error)
            i->last_error = (char *)ch->last_error;
        i->resource_version = w->rev;
        if (!c)
            c = inst_put_modified(w, a, i, err);
        i->update_time = old_update;
        i->state_time = old_state_time;
        i->process = old_proc;
        i->operation = old_op;
        i->snapshot = old_snap;
        i->last_error = old_err;
        i->pid = old_pid;
        store_msg_free(&now->base, NULL);
        store_msg_free(state_now ? &state_now->base : NULL, NULL);
    }
    store_msg_free(&i->base, NULL);
    return c;
}

mvm_code store_instance_change_apply(store *st, const store_actor *who, const char *tenant,
                                     const char *id, const store_instance_change *ch,
                                     ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                                     mvm_error *err) {
    inst_args a = {.tenant = tenant, .id = id, .change = ch, .alloc = alloc};
    mvm_code c = store_write(st, who, inst_ref_check, inst_change_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

mvm_code store_instance_set_state(store *st, const store_actor *who, const char *tenant,
                                  const char *id, Mvm__V1__InstanceState expect_state,
                                  Mvm__V1__InstanceState state, int32_t pid,
                                  const char *last_error, ProtobufCAllocator *alloc,
                                  Mvm__V1__Instance **out, mvm_error *err) {
    Mvm__V1__InstanceProcess proc = MVM__V1__INSTANCE_PROCESS__INIT;
    proc.pid = pid;
    store_instance_change ch = {.expect_states = expect_state ? 1u << expect_state : 0,
                                .set_state = true, .state = state, .set_process = true,
                                .process = pid ? &proc : NULL, .last_error = last_error};
    return store_instance_change_apply(st, who, tenant, id, &ch, alloc, out, err);
}

/* The request's own rules (no lock held). */
static mvm_code inst_forwards_check(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    mvm_code c = inst_ref_check(w, arg, err);
    return c ? c : store_check_port_forwards(a->pf, a->n_pf, err);
}

static mvm_code inst_forwards_fn(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    Mvm__V1__Instance *i;
    mvm_code c = inst_load(w, a, &i, err);
    if (c)
        return c;
    if (a->expect_version && a->expect_version != i->resource_version)
        c = mvm_fail(err, MVM_ABORTED,
                     "instance %s was changed since it was read (resource_version %llu, "
                     "request has %llu); read it again and retry",
                     a->id, (unsigned long long)i->resource_version,
                     (unsigned long long)a->expect_version);
    if (!c)
        c = store_port_forwards_claim(w, i->id, a->pf, a->n_pf, err);
    Google__Protobuf__Timestamp now;
    store_wtx_stamp(w, &now);
    /* The record's own pointers are put back before it is freed. */
    Google__Protobuf__Timestamp *old_update = i->update_time;
    Mvm__V1__PortForward **old_pf = i->port_forwards;
    size_t old_n = i->n_port_forwards;
    i->update_time = &now;
    i->port_forwards = (Mvm__V1__PortForward **)a->pf;
    i->n_port_forwards = a->n_pf;
    i->resource_version = w->rev;
    if (!c)
        c = inst_put_modified(w, a, i, err);
    i->update_time = old_update;
    i->port_forwards = old_pf;
    i->n_port_forwards = old_n;
    store_msg_free(&i->base, NULL);
    return c;
}

mvm_code store_instance_set_port_forwards(store *st, const store_actor *who, const char *tenant,
                                          const char *id, Mvm__V1__PortForward *const *pf,
                                          size_t n, uint64_t expect_version,
                                          ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                                          mvm_error *err) {
    inst_args a = {.tenant = tenant, .id = id, .pf = pf, .n_pf = pf ? n : 0,
                   .expect_version = expect_version, .alloc = alloc};
    mvm_code c = store_write(st, who, inst_forwards_check, inst_forwards_fn, &a, err);
    return store_hand_out(c, a.out ? &a.out->base : NULL, alloc, out);
}

/* The host offset of an instance's address (its last octet). */
static unsigned ip_offset(const char *ip) {
    const char *dot = ip ? strrchr(ip, '.') : NULL;
    return dot ? (unsigned)atoi(dot + 1) : 0;
}

static mvm_code inst_delete_fn(store_wtx *w, void *arg, mvm_error *err) {
    inst_args *a = arg;
    store *st = w->st;
    Mvm__V1__Instance *i;
    mvm_code c = inst_load(w, a, &i, err);
    if (c)
        return c;
    if (!((a->deletable >> i->state) & 1u)) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&mvm__v1__instance_state__descriptor, i->state);
        c = mvm_fail(err, MVM_FAILED_PRECONDITION,
                     "instance %s is %s and has a process; stop it before deleting it", a->id,
                     v ? v->name : "?");
    }
    uint8_t key[STORE_KEY_MAX];
    size_t klen = store_key2(key, i->tenant, i->id, NULL);
    if (!c)
        c = store_del(w->txn, st->instances, key, klen, err);
    if (!c)
        c = store_del(w->txn, st->inst_ids, i->id, strlen(i->id), err);
    klen = store_key2(key, i->tenant, i->pool, i->id);
    if (!c)
        c = store_del(w->txn, st->pool_inst, key, klen, err);
    klen = store_key2(key, i->tenant, "", NULL);
    key[klen++] = (uint8_t)ip_offset(i->ip);
    if (!c)
        c = store_del(w->txn, st->allocs, key, klen, err);
    if (!c && i->state != DESTROYED) /* a DESTROYED one is already off the usage */
        c = store_usage_add(w, i->tenant, -1, -(int64_t)i->vcpus, -(int64_t)i->mem_mib, 0, err);
    if (!c) {
        i->resource_version = w->rev;
        c = store_wtx_event(w, MVM__V1__INSTANCE_EVENT__TYPE__DELETED, i, err);
    }
    store_msg_free(&i->base, NULL);
    return c;
}

mvm_code store_instance_delete(store *st, const store_actor *who, const char *tenant,
                               const char *id, uint32_t deletable_states, mvm_error *err) {
    inst_args a = {.tenant = tenant, .id = id, .deletable = deletable_states};
    return store_write(st, who, inst_ref_check, inst_delete_fn, &a, err);
}
