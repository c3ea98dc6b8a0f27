/* event_bus.c - the instance event bus (event_bus.h): a list of
 * subscribers under one lock, each with its tenant/pool filter and, while
 * held, a queue of packed events waiting for event_bus_release(). */
#include "event_bus.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct held_event {
    struct held_event *next;
    Mvm__V1__InstanceEvent__Type type;
    uint64_t rev;
    size_t len;
    uint8_t data[]; /* packed Instance */
} held_event;

struct event_sub {
    event_sub *next, *prev;
    char tenant[64], pool[64];
    bool hold;
    bool lost; /* an event could not be kept (out of memory) */
    held_event *held, **held_tail;
    event_fn fn;
    void *arg;
};

struct event_bus {
    pthread_mutex_t mu;
    event_sub *subs;
    unsigned n;
};

event_bus *event_bus_new(void) {
    event_bus *b = calloc(1, sizeof *b);
    if (b)
        pthread_mutex_init(&b->mu, NULL);
    return b;
}

static void held_free(event_sub *s) {
    while (s->held) {
        held_event *h = s->held;
        s->held = h->next;
        free(h);
    }
    s->held_tail = &s->held;
}

void event_bus_free(event_bus *b) {
    if (!b)
        return;
    while (b->subs) {
        event_sub *s = b->subs;
        b->subs = s->next;
        held_free(s);
        free(s);
    }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static bool sub_matches(const event_sub *s, const Mvm__V1__Instance *i) {
    return (!s->tenant[0] || strcmp(s->tenant, i->tenant) == 0) &&
           (!s->pool[0] || strcmp(s->pool, i->pool) == 0);
}

static void deliver(event_sub *s, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *i) {
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = type;
    ev.instance = (Mvm__V1__Instance *)i;
    s->fn(s->arg, &ev);
}

static void hold(event_sub *s, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *i,
                 uint64_t rev) {
    size_t len = mvm__v1__instance__get_packed_size(i);
    held_event *h = malloc(sizeof *h + len);
    if (!h) {
        s->lost = true; /* reported by event_bus_release */
        return;
    }
    h->next = NULL;
    h->type = type;
    h->rev = rev;
    h->len = len;
    mvm__v1__instance__pack(i, h->data);
    *s->held_tail = h;
    s->held_tail = &h->next;
}

void event_bus_publish(void *bus, Mvm__V1__InstanceEvent__Type type,
                       const Mvm__V1__Instance *inst, uint64_t rev) {
    event_bus *b = bus;
    pthread_mutex_lock(&b->mu);
    for (event_sub *s = b->subs; s; s = s->next) {
        if (!sub_matches(s, inst))
            continue;
        if (s->hold)
            hold(s, type, inst, rev);
        else
            deliver(s, type, inst);
    }
    pthread_mutex_unlock(&b->mu);
}

mvm_code event_bus_subscribe(event_bus *b, const char *tenant, const char *pool, bool hold_events,
                             event_fn fn, void *arg, event_sub **out, mvm_error *err) {
    *out = NULL;
    event_sub *s = calloc(1, sizeof *s);
    if (!s)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory subscribing to instance events");
    snprintf(s->tenant, sizeof s->tenant, "%s", tenant ? tenant : "");
    snprintf(s->pool, sizeof s->pool, "%s", pool ? pool : "");
    s->hold = hold_events;
    s->held_tail = &s->held;
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_lock(&b->mu);
    s->next = b->subs;
    if (b->subs)
        b->subs->prev = s;
    b->subs = s;
    b->n++;
    pthread_mutex_unlock(&b->mu);
    *out = s;
    return MVM_OK;
}

mvm_code event_bus_release(event_bus *b, event_sub *s, uint64_t after_rev, mvm_error *err) {
    pthread_mutex_lock(&b->mu);
    for (held_event *h = s->held; h && !s->lost; h = h->next) {
        if (h->rev <= after_rev)
            continue; /* already in the initial listing */
        Mvm__V1__Instance *i = mvm__v1__instance__unpack(NULL, h->len, h->data);
        if (!i) { /* it packed, so it parses: out of memory */
            s->lost = true;
            break;
        }
        deliver(s, h->type, i);
        mvm__v1__instance__free_unpacked(i, NULL);
    }
    held_free(s);
    s->hold = false;
    bool lost = s->lost;
    pthread_mutex_unlock(&b->mu);
    if (lost)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "out of memory keeping instance events while listing: events were "
                        "lost; watch again");
    return MVM_OK;
}

void event_bus_unsubscribe(event_bus *b, event_sub *s) {
    pthread_mutex_lock(&b->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        b->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    b->n--;
    pthread_mutex_unlock(&b->mu);
    held_free(s);
    free(s);
}

unsigned event_bus_count(event_bus *b) {
    pthread_mutex_lock(&b->mu);
    unsigned n = b->n;
    pthread_mutex_unlock(&b->mu);
    return n;
}
