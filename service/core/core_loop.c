/* core_loop.c - a named background thread that runs one round of work
 * every interval, or sooner when kicked (the janitor, the reconcile loop).
 * Kicks that come while a round runs make one more round right after it,
 * no sooner than min_gap_ms after the previous one started, so a burst of
 * kicks costs a few rounds, not one each; an urgent kick (a caller asked
 * for something) skips that wait. */
/* pthread_setname_np needs _GNU_SOURCE, which the build defines */
#include "core_internal.h"

#include <errno.h>
#include <time.h>

static void deadline_after(struct timespec *t, uint32_t ms) {
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Waits on l->cv until `until` or until stop, or a kick (kicks) or an
 * urgent one. */
static void wait_until(core_loop *l, const struct timespec *until, bool kicks) {
    while (!l->stop && !(kicks && l->kick) && !l->urgent &&
           pthread_cond_timedwait(&l->cv, &l->mu, until) != ETIMEDOUT)
        ;
}

static void *loop_main(void *arg) {
    core_loop *l = arg;
    pthread_setname_np(pthread_self(), l->name);
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        l->kick = l->urgent = false;
        struct timespec gap, next;
        deadline_after(&gap, l->min_gap_ms);
        deadline_after(&next, l->interval_ms);
        pthread_mutex_unlock(&l->mu);
        l->round(l->core);
        pthread_mutex_lock(&l->mu);
        wait_until(l, &next, true);
        if (l->kick)
            wait_until(l, &gap, false); /* kicked: still no sooner than the gap */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

mvm_code core_loop_start(core_loop *l, core *c, mvm_error *err) {
    if (l->running)
        return MVM_OK;
    l->core = c;
    l->stop = false;
    if (pthread_create(&l->th, NULL, loop_main, l) != 0)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "cannot start the %s thread", l->name);
    l->running = true;
    return MVM_OK;
}

void core_loop_stop(core_loop *l) {
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    l->running = false;
}

void core_loop_kick(core_loop *l, bool urgent) {
    pthread_mutex_lock(&l->mu);
    l->kick = true;
    l->urgent |= urgent;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void core_loop_init(core_loop *l, const char *name, void (*round)(core *c), uint32_t interval_ms,
                    uint32_t min_gap_ms) {
    l->name = name;
    l->round = round;
    l->interval_ms = interval_ms;
    l->min_gap_ms = min_gap_ms;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void core_loop_destroy(core_loop *l) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}
