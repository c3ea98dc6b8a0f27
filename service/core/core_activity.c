/* core_activity.c - when each instance was last active, for the sleep
 * policy: a lifecycle operation on it (noted when the operation claims the
 * instance), or network traffic in or out of its guest, read from the
 * metrics line Firecracker writes when asked (FlushMetrics; each line
 * counts since the previous one). Kept in the runtime entry, in memory: a
 * restarted mvmd counts idle time from its own start. */
#include "core_internal.h"

#include <stdio.h>
#include <time.h>

#define METRICS_CHUNK (64u << 10) /* a metrics line is a few KiB */

static int64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

void core_activity_note_locked(core_inst *in) {
    in->activity_us = now_us();
}

int64_t core_activity_get(core *c, const char *id) {
    core_inst *in = core_inst_find(c, id);
    if (!in)
        return 0;
    pthread_mutex_lock(&in->mu);
    int64_t t = in->activity_us;
    pthread_mutex_unlock(&in->mu);
    core_inst_unref(in);
    return t;
}

/* Reads the metrics lines written since the last call: the bytes the
 * guest's network moved. */
static uint64_t new_traffic(core_inst *in, uint8_t *buf) {
    vmm_logpipe *lp = in->logs[CORE_LOG_METRICS];
    uint64_t bytes = 0;
    if (!lp)
        return 0;
    for (;;) {
        uint64_t first = 0;
        size_t n = vmm_logpipe_read(lp, in->metrics_off, buf, METRICS_CHUNK, &first);
        if (n == 0)
            break;
        size_t used = vmm_metrics_traffic((const char *)buf, n, &bytes);
        if (used == 0 && n < METRICS_CHUNK)
            break; /* a line still being written */
        in->metrics_off = first + (used ? used : n); /* an over-long line: skipped */
    }
    return bytes;
}

void core_activity_sample(core *c, const char *id) {
    core_inst *in = core_inst_find(c, id);
    if (!in)
        return;
    static uint8_t buf[METRICS_CHUNK]; /* the reconcile thread's alone */
    mvm_error e;
    /* mu held: no operation can claim the instance (and use its machine)
     * meanwhile; one that tries waits for this call, it does not fail */
    pthread_mutex_lock(&in->mu);
    if (!in->busy && in->m) {
        if (!in->metrics_off && in->logs[CORE_LOG_METRICS]) /* first sample: from now on */
            in->metrics_off = vmm_logpipe_end(in->logs[CORE_LOG_METRICS]);
        if (vmm_machine_flush_metrics(in->m, &e) == MVM_OK) {
            core_inst_pump_log(in, CORE_LOG_METRICS);
            if (new_traffic(in, buf) > 0)
                core_activity_note_locked(in);
        }
    }
    pthread_mutex_unlock(&in->mu);
    core_inst_unref(in);
}
