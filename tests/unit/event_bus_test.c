/* event_bus_test.c - the instance event bus (service/core/event_bus.h) on a
 * real store: filters by tenant and pool, held subscriptions releasing only
 * events newer than a snapshot revision (no loss, no duplicates), and
 * unsubscribe. */
#include "event_bus.h"
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

static void test_filters(store *st, event_bus *bus) {
    mvm_error err;
    got all = {0}, acme = {0}, web = {0};
    event_sub *s1, *s2, *s3;
    CHECK_EQ_INT(event_bus_subscribe(bus, NULL, NULL, false, on_event, &all, &s1, &err), MVM_OK);
    CHECK_EQ_INT(event_bus_subscribe(bus, "acme", "", false, on_event, &acme, &s2, &err), MVM_OK);
    CHECK_EQ_INT(event_bus_subscribe(bus, "acme", "web", false, on_event, &web, &s3, &err), MVM_OK);
    CHECK_EQ_INT(event_bus_count(bus), 3);
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
    event_bus_unsubscribe(bus, s2);
    event_bus_unsubscribe(bus, s3);
    CHECK_EQ_INT(mk_inst(st, "acme", "web", NULL, &err), MVM_OK);
    CHECK_EQ_INT(acme.n, 3); /* unsubscribed: nothing more */
    CHECK_EQ_INT(all.n, 5);
    event_bus_unsubscribe(bus, s1);
    CHECK_EQ_INT(event_bus_count(bus), 0);
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
static void test_hold_release(store *st, event_bus *bus) {
    mvm_error err;
    got g = {0};
    event_sub *s;
    CHECK_EQ_INT(event_bus_subscribe(bus, "beta", NULL, true, on_event, &g, &s, &err), MVM_OK);
    char before[19], after[19];
    CHECK_EQ_INT(mk_inst(st, "beta", "web", before, &err), MVM_OK);
    uint64_t rev = 0;
    CHECK_EQ_INT(store_instance_foreach(st, "beta", NULL, list_cb, &g, &rev, &err), MVM_OK);
    int listed = g.n;
    CHECK_EQ_INT(listed, 2); /* b1 from test_filters and `before` */
    CHECK_EQ_INT(mk_inst(st, "beta", "web", after, &err), MVM_OK);
    CHECK_EQ_INT(g.n, listed); /* held */
    CHECK_EQ_INT(event_bus_release(bus, s, rev, &err), MVM_OK);
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
    event_bus_unsubscribe(bus, s);
    /* a held subscription dropped before release frees its queue */
    got h = {0};
    CHECK_EQ_INT(event_bus_subscribe(bus, NULL, NULL, true, on_event, &h, &s, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "beta", "web", NULL, &err), MVM_OK);
    event_bus_unsubscribe(bus, s);
    CHECK_EQ_INT(h.n, 0);
    /* one left open is freed with the bus */
    CHECK_EQ_INT(event_bus_subscribe(bus, NULL, NULL, true, on_event, &h, &s, &err), MVM_OK);
    CHECK_EQ_INT(mk_inst(st, "beta", "web", NULL, &err), MVM_OK);
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    event_bus *bus = event_bus_new();
    store_set_instance_hook(st, event_bus_publish, bus);
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "acme", 1, "10.240.1.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_tenant(st, "beta", 2, "10.240.2.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "web", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "acme", "api", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "beta", "web", &err), MVM_OK);
    test_filters(st, bus);
    test_hold_release(st, bus);
    store_set_instance_hook(st, NULL, NULL);
    event_bus_free(bus);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
