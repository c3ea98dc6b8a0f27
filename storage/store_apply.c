/* store_apply.c - NodeService.Apply in the store: the tenants and pools a
 * request lists become the stored ones in one write transaction (missing
 * ones created, differing ones updated as with mask "*", with prune the
 * unlisted ones marked deleting), ordered by a generation number recorded
 * in the meta db; and the FAILED_PRECONDITION that creating something in a
 * deleting tenant or pool gets. The request's own rules are checked before
 * the write lock (CreateTenant's and CreatePool's, duplicates), listed names
 * are looked up in sorted copies, so the work is O(n log n). */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPLY_GEN_KEY "apply_gen"
#define APPLY_TIME_KEY "apply_time_us"
#define ACTION(x) MVM__V1__APPLY_ACTION__APPLY_ACTION_##x

/* A listed object, for the sorted lookups. */
typedef struct {
    const char *tenant;
    const char *name; /* a pool's; NULL for a tenant */
    size_t idx;       /* in the request */
} apply_ref;

/* A stored object prune marks: its record (malloc). */
typedef struct {
    ProtobufCMessage *m;
    bool was_deleting;
} apply_pruned;

typedef struct {
    const Mvm__V1__ApplyRequest *req;
    apply_ref *tenants, *pools; /* req's, sorted */
    uint64_t applied;           /* the generation applied before */
    bool changed;
    unsigned created, updated, marked;
    Mvm__V1__ApplyResponse *resp; /* malloc'd throughout */
    size_t cap;
    apply_pruned *pruned; /* the walk's finds */
    size_t n_pruned, cap_pruned;
    mvm_code walk_code; /* a failure inside a walk callback */
    mvm_error *walk_err;
} apply_args;

static int ref_cmp(const void *x, const void *y) {
    const apply_ref *a = x, *b = y;
    int r = strcmp(a->tenant, b->tenant);
    if (!r && a->name)
        r = strcmp(a->name, b->name);
    return r ? r : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Is tenant (/ name) listed? refs sorted, n of them. */
static bool listed(const apply_ref *refs, size_t n, const char *tenant, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(refs[mid].tenant, tenant);
        if (!r && name)
            r = strcmp(refs[mid].name, name);
        if (!r)
            return true;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* "tenants[3] (acme)" / "pools[2] (acme/web)": the context of a message. */
static void tenant_context(mvm_error *err, size_t i, const Mvm__V1__Tenant *t) {
    if (t && store_name_valid(t->name))
        mvm_error_context(err, "tenants[%zu] (%s)", i, t->name);
    else
        mvm_error_context(err, "tenants[%zu]", i);
}

static void pool_context(mvm_error *err, size_t i, const Mvm__V1__Pool *p) {
    if (p && store_name_valid(p->tenant) && store_name_valid(p->name))
        mvm_error_context(err, "pools[%zu] (%s/%s)", i, p->tenant, p->name);
    else
        mvm_error_context(err, "pools[%zu]", i);
}

/* Sorts the n refs and refuses a name listed twice (kind "tenants"/"pools"). */
static mvm_code no_duplicates(apply_ref *refs, size_t n, const char *kind, mvm_error *err) {
    qsort(refs, n, sizeof *refs, ref_cmp);
    for (size_t i = 1; i < n; i++) {
        const apply_ref *a = &refs[i - 1], *b = &refs[i];
        if (strcmp(a->tenant, b->tenant) || (a->name && strcmp(a->name, b->name)))
            continue;
        if (a->name)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "%s[%zu] (%s/%s) is listed twice (also %s[%zu]); list each once",
                            kind, b->idx, b->tenant, b->name, kind, a->idx);
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s[%zu] (%s) is listed twice (also %s[%zu]); list each once", kind,
                        b->idx, b->tenant, kind, a->idx);
    }
    return MVM_OK;
}

/* The request's own rules (no lock held): CreateTenant's and CreatePool's
 * on every listed object, no duplicates, with prune every pool's tenant
 * listed. */
static mvm_code apply_check(store_wtx *w, void *arg, mvm_error *err) {
    apply_args *a = arg;
    const Mvm__V1__ApplyRequest *req = a->req;
    store_wtx_audit(w, "", "apply/generation %llu",
                    (unsigned long long)(req ? req->generation : 0));
    if (!req)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "request is required");
    if (req->generation == 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "generation must be greater than 0 (and at least the applied one)");
    a->tenants = calloc(req->n_tenants + 1, sizeof *a->tenants);
    a->pools = calloc(req->n_pools + 1, sizeof *a->pools);
    if (!a->tenants || !a->pools)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm_code c = MVM_OK;
    for (size_t i = 0; i < req->n_tenants && !c; i++) {
        const Mvm__V1__Tenant *t = req->tenants[i];
        c = t ? store_tenant_check_new(t, err)
              : mvm_fail(err, MVM_INVALID_ARGUMENT, "the tenant is empty");
        if (c)
            tenant_context(err, i, t);
        else
            a->tenants[i] = (apply_ref){t->name, NULL, i};
    }
    for (size_t i = 0; i < req->n_pools && !c; i++) {
        const Mvm__V1__Pool *p = req->pools[i];
        c = p ? store_pool_check_new(p, err)
              : mvm_fail(err, MVM_INVALID_ARGUMENT, "the pool is empty");
        if (c)
            pool_context(err, i, p);
        else
            a->pools[i] = (apply_ref){p->tenant, p->name, i};
    }
    if (c || (c = no_duplicates(a->tenants, req->n_tenants, "tenants", err)) ||
        (c = no_duplicates(a->pools, req->n_pools, "pools", err)))
        return c;
    for (size_t i = 0; i < req->n_pools && req->prune; i++) {
        const Mvm__V1__Pool *p = req->pools[i];
        if (!listed(a->tenants, req->n_tenants, p->tenant, NULL))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "pools[%zu] (%s/%s): tenant %s is not listed, and prune removes "
                            "the tenants not listed; list it in tenants",
                            i, p->tenant, p->name, p->tenant);
    }
    return MVM_OK;
}

/* ---- the response (malloc'd; handed out as a copy made with alloc) ---- */

static mvm_code change_add(apply_args *a, const char *kind, const char *tenant, const char *name,
                           Mvm__V1__ApplyAction action, Mvm__V1__ApplyChange **out,
                           mvm_error *err) {
    Mvm__V1__ApplyResponse *r = a->resp;
    if (r->n_changes == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        Mvm__V1__ApplyChange **grown = realloc(r->changes, cap * sizeof *grown);
        if (!grown)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        r->changes = grown;
        a->cap = cap;
    }
    Mvm__V1__ApplyChange *ch = malloc(sizeof *ch);
    if (!ch)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    mvm__v1__apply_change__init(ch);
    r->changes[r->n_changes++] = ch;
    ch->action = action;
    ch->kind = strdup(kind);
    ch->tenant = strdup(tenant);
    ch->name = strdup(name ? name : "");
    if (!ch->kind || !ch->tenant || !ch->name)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (out)
        *out = ch;
    return MVM_OK;
}

/* store_diff_fn: a changed field's path into the change's fields. */
static mvm_code field_add(void *arg, const char *path, mvm_error *err) {
    Mvm__V1__ApplyChange *ch = arg;
    char **grown = realloc(ch->fields, (ch->n_fields + 1) * sizeof *grown);
    if (!grown)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    ch->fields = grown;
    if (!(ch->fields[ch->n_fields] = strdup(path)))
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    ch->n_fields++;
    return MVM_OK;
}

/* The audit record of one object the apply changes (named already with
 * store_wtx_audit): "generation 7: updated vcpus, labels". */
static mvm_code audit_change(store_wtx *w, const apply_args *a, const Mvm__V1__ApplyChange *ch,
                             mvm_error *err) {
    char msg[512];
    static const char *const verb[] = {"", "created", "updated", "unchanged",
                                       "marked deleting (pruned)"};
    int n = snprintf(msg, sizeof msg, "generation %llu: %s",
                     (unsigned long long)a->req->generation, verb[ch->action]);
    for (size_t i = 0; i < ch->n_fields && n > 0 && (size_t)n < sizeof msg; i++)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s", i ? ", " : " ", ch->fields[i]);
    return store_wtx_audit_put(w, msg, err);
}

/* ---- listed tenants and pools ---- */

/* UpdateTenant's and UpdatePool's mask "*": every mutable field replaced. */
static char *replace_all_paths[] = {"*"};
static const Google__Protobuf__FieldMask replace_all = {
    PROTOBUF_C_MESSAGE_INIT(&google__protobuf__field_mask__descriptor), 1, replace_all_paths};

static mvm_code apply_tenant(store_wtx *w, apply_args *a, size_t i, mvm_error *err) {
    const Mvm__V1__Tenant *in = a->req->tenants[i];
    store_wtx_audit(w, in->name, "tenant/%s", in->name);
    ProtobufCMessage *m = NULL, *upd = NULL;
    Mvm__V1__ApplyChange *ch = NULL;
    mvm_code c = store_get_msg(w->txn, w->st->tenants, in->name, strlen(in->name),
                               &mvm__v1__tenant__descriptor, NULL, &m, err);
    if (c == MVM_NOT_FOUND) {
        mvm_error_clear(err);
        if (!(c = change_add(a, "tenant", in->name, NULL, ACTION(CREATED), &ch, err)) &&
            !(c = store_tenant_insert(w, in, NULL, NULL, err)))
            c = audit_change(w, a, ch, err);
        if (c)
            tenant_context(err, i, in);
        return c;
    }
    if (c)
        return c;
    const Mvm__V1__Tenant *old = (const Mvm__V1__Tenant *)m;
    if (in->net_id != old->net_id)
        c = mvm_fail(err, MVM_INVALID_ARGUMENT,
                     "net_id %u differs from the stored %u, and net_id is immutable (delete "
                     "the tenant to give it another)",
                     in->net_id, old->net_id);
    else if (strcmp(in->subnet, old->subnet ? old->subnet : "") != 0)
        c = mvm_fail(err, MVM_INVALID_ARGUMENT,
                     "subnet %s differs from the stored %s, and subnet is immutable (delete the "
                     "tenant to give it another)",
                     in->subnet, old->subnet ? old->subnet : "");
    if (!c)
        c = store_mask_apply(m, &in->base, &replace_all, &store_tenant_rules, &upd, err);
    if (!c)
        c = change_add(a, "tenant", in->name, NULL, ACTION(UNCHANGED), &ch, err);
    if (!c)
        c = store_mask_diff(m, upd, &store_tenant_rules, field_add, ch, err);
    if (!c && old->deleting) {
        ((Mvm__V1__Tenant *)upd)->deleting = false;
        c = field_add(ch, "deleting", err);
    }
    if (!c && ch->n_fields) {
        ch->action = ACTION(UPDATED);
        if (!(c = store_tenant_put(w, (Mvm__V1__Tenant *)upd, NULL, NULL, err)))
            c = audit_change(w, a, ch, err);
    }
    if (c)
        tenant_context(err, i, in);
    store_msg_free(m, NULL);
    store_msg_free(upd, NULL);
    return c;
}

static mvm_code apply_pool(store_wtx *w, apply_args *a, size_t i, mvm_error *err) {
    const Mvm__V1__Pool *in = a->req->pools[i];
    store_wtx_audit(w, in->tenant, "pool/%s/%s", in->tenant, in->name);
    Mvm__V1__Pool *old = NULL;
    ProtobufCMessage *upd = NULL;
    Mvm__V1__ApplyChange *ch = NULL;
    bool tenant_found;
    mvm_code c = store_exists(w->txn, w->st->tenants, in->tenant, strlen(in->tenant),
                              &tenant_found, NULL, err);
    if (c)
        return c;
    if (!tenant_found)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pools[%zu] (%s/%s): tenant %s is neither listed nor on the node; "
                        "list it in tenants",
                        i, in->tenant, in->name, in->tenant);
    c = store_pool_load(w->txn, w->st, in->tenant, in->name, &old, err);
    if (c == MVM_NOT_FOUND) {
        mvm_error_clear(err);
        if (!(c = change_add(a, "pool", in->tenant, in->name, ACTION(CREATED), &ch, err)) &&
            !(c = store_pool_insert(w, in, NULL, NULL, err)))
            c = audit_change(w, a, ch, err);
    } else if (!c) {
        if (!(c = store_mask_apply(&old->base, &in->base, &replace_all, &store_pool_rules, &upd,
                                   err)))
            c = change_add(a, "pool", in->tenant, in->name, ACTION(UNCHANGED), &ch, err);
        if (!c)
            c = store_mask_diff(&old->base, upd, &store_pool_rules, field_add, ch, err);
        if (!c && old->deleting) {
            ((Mvm__V1__Pool *)upd)->deleting = false;
            c = field_add(ch, "deleting", err);
        }
        if (!c && ch->n_fields) {
            ch->action = ACTION(UPDATED);
            if (!(c = store_pool_replace(w, old, (Mvm__V1__Pool *)upd, NULL, NULL, err)))
                c = audit_change(w, a, ch, err);
        }
    }
    if (c)
        pool_context(err, i, in);
    store_msg_free(old ? &old->base : NULL, NULL);
    store_msg_free(upd, NULL);
    return c;
}

/* ---- prune ---- */

/* store_msg_fn: keeps a copy of each stored tenant or pool not listed. */
static bool prune_find(void *arg, const ProtobufCMessage *m) {
    apply_args *a = arg;
    bool is_pool = m->descriptor == &mvm__v1__pool__descriptor;
    const char *tenant = is_pool ? ((const Mvm__V1__Pool *)m)->tenant
                                 : ((const Mvm__V1__Tenant *)m)->name;
    const char *name = is_pool ? ((const Mvm__V1__Pool *)m)->name : NULL;
    if (is_pool ? listed(a->pools, a->req->n_pools, tenant, name)
                : listed(a->tenants, a->req->n_tenants, tenant, NULL))
        return true;
    if (a->n_pruned == a->cap_pruned) {
        size_t cap = a->cap_pruned ? 2 * a->cap_pruned : 16;
        apply_pruned *grown = realloc(a->pruned, cap * sizeof *grown);
        if (!grown)
            goto oom;
        a->pruned = grown;
        a->cap_pruned = cap;
    }
    apply_pruned *p = &a->pruned[a->n_pruned];
    if (!(p->m = store_msg_dup(m, NULL)))
        goto oom;
    p->was_deleting = is_pool ? ((const Mvm__V1__Pool *)m)->deleting
                              : ((const Mvm__V1__Tenant *)m)->deleting;
    a->n_pruned++;
    return true;
oom:
    a->walk_code = mvm_fail(a->walk_err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    return false;
}

static void pruned_free(apply_args *a) {
    for (size_t i = 0; i < a->n_pruned; i++)
        store_msg_free(a->pruned[i].m, NULL);
    a->n_pruned = 0;
}

/* Marks every stored object of dbi (desc) that is not listed deleting. */
static mvm_code prune_db(store_wtx *w, apply_args *a, MDB_dbi dbi,
                         const ProtobufCMessageDescriptor *desc, mvm_error *err) {
    a->walk_code = MVM_OK;
    a->walk_err = err;
    mvm_code c = store_walk(w->txn, dbi, "", 0, 0, desc, prune_find, a, err);
    if (!c)
        c = a->walk_code;
    bool is_pool = desc == &mvm__v1__pool__descriptor;
    for (size_t i = 0; i < a->n_pruned && !c; i++) {
        ProtobufCMessage *m = a->pruned[i].m;
        Mvm__V1__Pool *p = is_pool ? (Mvm__V1__Pool *)m : NULL;
        Mvm__V1__Tenant *t = is_pool ? NULL : (Mvm__V1__Tenant *)m;
        const char *tenant = p ? p->tenant : t->name;
        Mvm__V1__ApplyChange *ch;
        if ((c = change_add(a, p ? "pool" : "tenant", tenant, p ? p->name : NULL,
                            ACTION(DELETING), &ch, err)) ||
            a->pruned[i].was_deleting)
            continue;
        if (p) {
            store_wtx_audit(w, tenant, "pool/%s/%s", tenant, p->name);
            p->deleting = true;
            c = store_pool_put(w, p, NULL, NULL, err);
        } else {
            store_wtx_audit(w, tenant, "tenant/%s", tenant);
            t->deleting = true;
            c = store_tenant_put(w, t, NULL, NULL, err);
        }
        if (!c)
            c = audit_change(w, a, ch, err);
        a->marked++;
    }
    pruned_free(a);
    return c;
}

/* ---- the write ---- */

static mvm_code apply_fn(store_wtx *w, void *arg, mvm_error *err) {
    apply_args *a = arg;
    const Mvm__V1__ApplyRequest *req = a->req;
    mvm_code c = store_get_u64(w->txn, w->st->meta, APPLY_GEN_KEY, &a->applied, err);
    if (c)
        return c;
    if (req->generation < a->applied)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "generation %llu is older than the applied generation %llu; send a "
                        "newer one",
                        (unsigned long long)req->generation, (unsigned long long)a->applied);
    for (size_t i = 0; i < req->n_tenants && !c; i++)
        c = apply_tenant(w, a, i, err);
    for (size_t i = 0; i < req->n_pools && !c; i++)
        c = apply_pool(w, a, i, err);
    if (!c && req->prune)
        c = prune_db(w, a, w->st->tenants, &mvm__v1__tenant__descriptor, err);
    if (!c && req->prune)
        c = prune_db(w, a, w->st->pools, &mvm__v1__pool__descriptor, err);
    if (c)
        return c;
    for (size_t i = 0; i < a->resp->n_changes; i++) {
        Mvm__V1__ApplyAction act = a->resp->changes[i]->action;
        a->created += act == ACTION(CREATED);
        a->updated += act == ACTION(UPDATED);
    }
    a->changed = a->created || a->updated || a->marked;
    store_wtx_audit(w, "", "apply/generation %llu", (unsigned long long)req->generation);
    if (req->generation == a->applied && a->changed)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "generation %llu was already applied with a different content; send a "
                        "newer generation",
                        (unsigned long long)req->generation);
    if (req->dry_run || req->generation == a->applied) {
        w->discard = true; /* a dry run, or a replay: nothing to write */
        return MVM_OK;
    }
    snprintf(w->note, sizeof w->note,
             "generation %llu applied: %u created, %u updated, %u marked deleting%s",
             (unsigned long long)req->generation, a->created, a->updated, a->marked,
             req->prune ? " (prune)" : "");
    int64_t us = w->now_sec * 1000000 + w->now_nsec / 1000;
    if ((c = store_put_u64(w->txn, w->st->meta, APPLY_GEN_KEY, req->generation, err)))
        return c;
    return store_put_u64(w->txn, w->st->meta, APPLY_TIME_KEY, (uint64_t)us, err);
}

mvm_code store_apply(store *st, const store_actor *who, const Mvm__V1__ApplyRequest *req,
                     ProtobufCAllocator *alloc, Mvm__V1__ApplyResponse **out, mvm_error *err) {
    mvm_error local;
    if (!err)
        err = &local;
    apply_args a = {.req = req};
    a.resp = malloc(sizeof *a.resp);
    if (!a.resp) {
        if (out)
            *out = NULL;
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    mvm__v1__apply_response__init(a.resp);
    mvm_code c = store_write(st, who, apply_check, apply_fn, &a, err);
    pruned_free(&a);
    free(a.pruned);
    free(a.tenants);
    free(a.pools);
    ProtobufCMessage *r = NULL;
    if (!c) {
        a.resp->generation = req->dry_run ? a.applied : req->generation;
        a.resp->changed = a.changed;
        if (!(r = store_msg_dup(&a.resp->base, alloc)))
            c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    protobuf_c_message_free_unpacked(&a.resp->base, NULL);
    return store_hand_out(c, r, alloc, out);
}

mvm_code store_apply_state(store *st, uint64_t *generation, int64_t *apply_time_unix_us,
                           mvm_error *err) {
    uint64_t gen = 0, us = 0;
    MDB_txn *txn;
    mvm_code c = store_rd_begin(st, &txn, err);
    if (c)
        return c;
    if (!(c = store_get_u64(txn, st->meta, APPLY_GEN_KEY, &gen, err)))
        c = store_get_u64(txn, st->meta, APPLY_TIME_KEY, &us, err);
    store_rd_end(st, txn);
    if (generation)
        *generation = c ? 0 : gen;
    if (apply_time_unix_us)
        *apply_time_unix_us = c ? 0 : (int64_t)us;
    return c;
}

/* ---- creating in a deleting tenant or pool ---- */

mvm_code store_deleting_fail(store_wtx *w, const char *kind, const char *tenant,
                             const char *pool, mvm_error *err) {
    uint64_t gen = 0;
    mvm_code c = store_get_u64(w->txn, w->st->meta, APPLY_GEN_KEY, &gen, err);
    if (c)
        return c;
    if (pool)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "%s %s/%s is being deleted (pruned: Apply generation %llu does not list "
                        "it); list it in a newer Apply to keep it",
                        kind, tenant, pool, (unsigned long long)gen);
    return mvm_fail(err, MVM_FAILED_PRECONDITION,
                    "%s %s is being deleted (pruned: Apply generation %llu does not list it); "
                    "list it in a newer Apply to keep it",
                    kind, tenant, (unsigned long long)gen);
}
