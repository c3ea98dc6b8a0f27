/* api_events_test.c - the watch event bus on a real store: filters by
 * tenant and pool, held subscriptions releasing only events newer than a
 * snapshot revision (no loss, no duplicates), unsubscribe, and the reply
 * arena used by the handlers. */
#include "api_internal.h"
#include "check.h"
#include "store_testlib.c"

typedef struct {
    int n;
    Mvm__V1__InstanceEvent__Type type[16];
    char id[16][19];
} got;

static void on_event(void *arg, const Mvm__V1__InstanceEvent *ev) {
    got *g = arg;
    if (g->n < 16) {
        g->type[g->n] = ev->type;
        snprintf(g->id[g->n], 19, "%s", ev->instance->id);
        g->n++;
    }
}

static void test_filters(store *st, api_events *bus) {
    mvm_error err;
    got all = {0}, acme = {0}, web = {0};
    api_sub *s1 = api_events_subscribe(bus, NULL, NULL, false, on_event, &all);
    api_sub *s2 = api_events_subscribe(bus, "acme", "", false, on_event, &acme);
    api_sub *s3 = api_events_subscribe(bus, "acme", "web", false, on_event, &web);
    CHECK_EQ_INT(api_events_count(bus), 3);
    char a1[19], a2[19], b1[19];
    CHECK_EQ_INT(mk_inst(st, "acme", "web", a1, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "acme", "api", a2, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "beta", "web", b1, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "acme", a1, 0xffff, &err), MVM_OK);
    CHECK_EQ_INT(all.n, 4);
    CHECK_EQ_INT(acme.n, 3);
    CHECK_EQ_INT(web.n, 2);
    CHECK_EQ_STR(web.id[0], a1);
    CHECK_EQ_INT(web.type[0], MVM__V1__INSTANCE_EVENT__TYPE__ADDED);
    CHECK_EQ_INT(web.type[1], MVM__V1__INSTANCE_EVENT__TYPE__DELETED);
    CHECK_EQ_STR(all.id[2], b1);
    api_events_unsubscribe(bus, s2);
    api_events_unsubscribe(bus, s3);
    CHECK_EQ_INT(mk_inst(st, "acme", "web", NULL, &err), MVM_OK);
    CHECK_EQ_INT(acme.n, 3); /* unsubscribed: nothing more */
    CHECK_EQ_INT(all.n, 5);
    api_events_unsubscribe(bus, s1);
    CHECK_EQ_INT(api_events_count(bus), 0);
}

static bool list_cb(void *arg, const Mvm__V1__Instance *i) {
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = MVM__V1__INSTANCE_EVENT__TYPE__ADDED;
    ev.instance = (Mvm__V1__Instance *)i;
    on_event(arg, &ev);
    return true;
}

/* The WatchInstances send_initial sequence, with writes racing it: one
 * before the snapshot (seen in the listing, and held, but not re-sent) and
 * one after it (held, then released). */
static void test_hold_release(store *st, api_events *bus) {
    mvm_error err;
    got g = {0};
    api_sub *s = api_events_subscribe(bus, "beta", NULL, true, on_event, &g);
    char before[19], after[19];
    CHECK_EQ_INT(mk_inst(st, "beta", "web", before, &err), MVM_OK);
    uint64_t rev = 0;
    CHECK_EQ_INT(store_instance_foreach(st, "beta", NULL, list_cb, &g, &rev, &err), MVM_OK);
    int listed = g.n;
    CHECK_EQ_INT(listed, 2); /* b1 from test_filters and `before` */
    CHECK_EQ_INT(mk_inst(st, "beta", "web", after, &err), MVM_OK);
    CHECK_EQ_INT(g.n, listed); /* held */
    api_events_release(bus, s, rev);
    CHECK_EQ_INT(g.n, listed + 1);
    CHECK_EQ_STR(g.id[listed], after);
    int dups = 0;
    for (int i = 0; i < g.n; i++)
        for (int j = i + 1; j < g.n; j++)
            dups += strcmp(g.id[i], g.id[j]) == 0;
    CHECK_EQ_INT(dups, 0);
    /* live now */
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "beta", after, 0xffff, &err), MVM_OK);
    CHECK_EQ_INT(g.n, listed + 2);
    CHECK_EQ_INT(g.type[listed + 1], MVM__V1__INSTANCE_EVENT__TYPE__DELETED);
    api_events_unsubscribe(bus, s);
    /* a held subscription dropped before release frees its queue */
    got h = {0};
    s = api_events_subscribe(bus, NULL, NULL, true, on_event, &h);
    CHECK_EQ_INT(mk_inst(st, "beta", "web", NULL, &err), MVM_OK);
    api_events_unsubscribe(bus, s);
    CHECK_EQ_INT(h.n, 0);
    /* one left open is freed with the bus */
    api_events_subscribe(bus, NULL, NULL, true, on_event, &h);
    CHECK_EQ_INT(mk_inst(st, "beta", "web", NULL, &err), MVM_OK);
}

static void test_arena(void) {
    ProtobufCAllocator *a = api_arena();
    CHECK(a != NULL);
    if (!a)
        return;
    void *p1 = a->alloc(a->allocator_data, 10);
    void *p2 = a->alloc(a->allocator_data, 10);
    CHECK(p1 && p2 && p1 != p2);
    CHECK(((uintptr_t)p2 % sizeof(max_align_t)) == 0 || ((uintptr_t)p2 % 16) == 0);
    void *big = a->alloc(a->allocator_data, 1 << 20); /* overflow block */
    CHECK(big != NULL);
    if (big)
        memset(big, 1, 1 << 20);
    api_arena_reset();
    void *p3 = a->alloc(a->allocator_data, 10);
    CHECK(p3 == p1); /* reset starts over */
    api_arena_reset();
    CHECK(api_arena() == a);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    api_events *bus = api_events_new();
    store_set_instance_hook(st, api_events_publish, bus);
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "acme", 1, "10.240.1.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "beta", 2, "10.240.2.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "web", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "api", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "beta", "web", &err), MVM_OK);
    test_filters(st, bus);
    test_hold_release(st, bus);
    test_arena();
    store_set_instance_hook(st, NULL, NULL);
    api_events_free(bus);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
