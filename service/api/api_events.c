/* api_events.c - the watch event bus: the store's instance hook fans each
 * committed change out to WatchInstances subscribers (filtered by tenant and
 * pool). A subscriber that is still sending its initial listing holds its
 * events and, on release, gets only those newer than the listing. */
#include "api_internal.h"

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

struct api_sub {
    api_sub *next, *prev;
    char tenant[64], pool[64];
    bool hold;
    held_event *held, **held_tail;
    api_sub_fn fn;
    void *arg;
};

struct api_events {
    pthread_mutex_t mu;
    api_sub *subs;
    unsigned n;
};

api_events *api_events_new(void) {
    api_events *b = calloc(1, sizeof *b);
    if (b)
        pthread_mutex_init(&b->mu, NULL);
    return b;
}

static void held_free(api_sub *s) {
    while (s->held) {
        held_event *h = s->held;
        s->held = h->next;
        free(h);
    }
    s->held_tail = &s->held;
}

void api_events_free(api_events *b) {
    if (!b)
        return;
    while (b->subs) {
        api_sub *s = b->subs;
        b->subs = s->next;
        held_free(s);
        free(s);
    }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static bool sub_matches(const api_sub *s, const Mvm__V1__Instance *i) {
    return (!s->tenant[0] || strcmp(s->tenant, i->tenant) == 0) &&
           (!s->pool[0] || strcmp(s->pool, i->pool) == 0);
}

static void deliver(api_sub *s, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *i) {
    Mvm__V1__InstanceEvent ev = MVM__V1__INSTANCE_EVENT__INIT;
    ev.type = type;
    ev.instance = (Mvm__V1__Instance *)i;
    s->fn(s->arg, &ev);
}

static void hold(api_sub *s, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *i,
                 uint64_t rev) {
    size_t len = mvm__v1__instance__get_packed_size(i);
    held_event *h = malloc(sizeof *h + len);
    if (!h)
        return; /* out of memory: the event is lost to this watcher */
    h->next = NULL;
    h->type = type;
    h->rev = rev;
    h->len = len;
    mvm__v1__instance__pack(i, h->data);
    *s->held_tail = h;
    s->held_tail = &h->next;
}

void api_events_publish(void *bus, Mvm__V1__InstanceEvent__Type type,
                        const Mvm__V1__Instance *inst, uint64_t rev) {
    api_events *b = bus;
    pthread_mutex_lock(&b->mu);
    for (api_sub *s = b->subs; s; s = s->next) {
        if (!sub_matches(s, inst))
            continue;
        if (s->hold)
            hold(s, type, inst, rev);
        else
            deliver(s, type, inst);
    }
    pthread_mutex_unlock(&b->mu);
}

api_sub *api_events_subscribe(api_events *b, const char *tenant, const char *pool,
                              bool hold_events, api_sub_fn fn, void *arg) {
    api_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
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
    return s;
}

void api_events_release(api_events *b, api_sub *s, uint64_t after_rev) {
    pthread_mutex_lock(&b->mu);
    for (held_event *h = s->held; h; h = h->next) {
        if (h->rev <= after_rev)
            continue; /* already in the initial listing */
        Mvm__V1__Instance *i = mvm__v1__instance__unpack(NULL, h->len, h->data);
        if (i) {
            deliver(s, h->type, i);
            mvm__v1__instance__free_unpacked(i, NULL);
        }
    }
    held_free(s);
    s->hold = false;
    pthread_mutex_unlock(&b->mu);
}

void api_events_unsubscribe(api_events *b, api_sub *s) {
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

unsigned api_events_count(api_events *b) {
    pthread_mutex_lock(&b->mu);
    unsigned n = b->n;
    pthread_mutex_unlock(&b->mu);
    return n;
}
