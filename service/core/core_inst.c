/* core_inst.c - the runtime entries of instances: a hash table by id of
 * what the node holds for each instance beyond its record (the operation
 * that holds it, its machine, its pumped logs, its console followers), the
 * one-operation-at-a-time claim, and the node's running capacity. */
#include "core_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned slot_of(const char *id) {
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % CORE_TABLE_SIZE;
}

/* The logs each instance keeps: FIFO, bounded file, cap (0: the host's
 * console cap), and whether console followers see it. */
static const struct {
    const char *fifo, *file;
    size_t max_bytes;
    bool followed;
} log_table[CORE_LOG_COUNT] = {
    [CORE_LOG_CONSOLE] = {"console.fifo", "console.log", 0, true},
    [CORE_LOG_FIRECRACKER] = {"fc.fifo", "firecracker.log", 0, false},
    [CORE_LOG_METRICS] = {"metrics.fifo", "metrics.json", 256u << 10, false},
};

static void inst_free(core_inst *in) {
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        vmm_logpipe_close(in->logs[l]);
    pthread_mutex_destroy(&in->mu);
    pthread_mutex_destroy(&in->con_mu);
    free(in);
}

core_inst *core_inst_find(core *c, const char *id) {
    pthread_mutex_lock(&c->tab_mu);
    core_inst *in = c->tab[slot_of(id)];
    while (in && strcmp(in->id, id) != 0)
        in = in->hnext;
    if (in)
        in->refs++;
    pthread_mutex_unlock(&c->tab_mu);
    return in;
}

core_inst *core_inst_get(core *c, const char *tenant, const char *id, mvm_error *err) {
    core_inst *in = core_inst_find(c, id);
    if (in)
        return in;
    core_inst *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    fresh->core = c;
    snprintf(fresh->id, sizeof fresh->id, "%s", id);
    snprintf(fresh->tenant, sizeof fresh->tenant, "%s", tenant);
    vmm_instance_dir(c->vmm, id, fresh->dir, sizeof fresh->dir);
    pthread_mutex_init(&fresh->mu, NULL);
    pthread_mutex_init(&fresh->con_mu, NULL);
    fresh->w_proc = (core_watch){CORE_WATCH_PROC, 0, fresh, -1};
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        fresh->w_logs[l] = (core_watch){CORE_WATCH_LOG, (core_log)l, fresh, -1};
    unsigned s = slot_of(id);
    pthread_mutex_lock(&c->tab_mu);
    for (in = c->tab[s]; in && strcmp(in->id, id) != 0; in = in->hnext)
        ;
    if (in) { /* another thread made it meanwhile */
        in->refs++;
        pthread_mutex_unlock(&c->tab_mu);
        inst_free(fresh);
        return in;
    }
    fresh->refs = 2; /* the table's and the caller's */
    fresh->in_table = true;
    fresh->hnext = c->tab[s];
    c->tab[s] = fresh;
    pthread_mutex_unlock(&c->tab_mu);
    return fresh;
}

void core_inst_unref(core_inst *in) {
    if (!in)
        return;
    core *c = in->core;
    pthread_mutex_lock(&c->tab_mu);
    bool last = --in->refs == 0;
    pthread_mutex_unlock(&c->tab_mu);
    if (last)
        inst_free(in);
}

void core_inst_forget(core_inst *in) {
    core *c = in->core;
    pthread_mutex_lock(&c->tab_mu);
    if (in->in_table) {
        core_inst **pp = &c->tab[slot_of(in->id)];
        while (*pp && *pp != in)
            pp = &(*pp)->hnext;
        if (*pp)
            *pp = in->hnext;
        in->in_table = false;
        in->refs--; /* the table's; the caller still holds one */
    }
    pthread_mutex_unlock(&c->tab_mu);
}

mvm_code core_inst_claim(core_inst *in, const char *op, mvm_error *err) {
    pthread_mutex_lock(&in->mu);
    const char *busy = in->busy;
    if (!busy) {
        in->busy = op;
        core_activity_note_locked(in); /* a lifecycle call is activity */
    }
    pthread_mutex_unlock(&in->mu);
    if (busy)
        return mvm_fail(err, MVM_ABORTED,
                        "instance %s is busy: %s is under way; retry when it has finished",
                        in->id, busy);
    return MVM_OK;
}

void core_inst_release(core_inst *in) {
    pthread_mutex_lock(&in->mu);
    in->busy = NULL;
    /* The supervisor stops watching a process that ended while an operation
     * held the instance: watch it again, so its end is recorded. */
    bool rearm = in->m && in->w_proc.fd < 0;
    if (rearm)
        in->w_proc.fd = vmm_machine_pidfd(in->m);
    pthread_mutex_unlock(&in->mu);
    if (rearm)
        core_sup_add(in->core, &in->w_proc);
}

/* ---- logs ---- */

mvm_code core_inst_open_logs(core_inst *in, mvm_error *err) {
    pthread_mutex_lock(&in->mu);
    bool have = in->logs[CORE_LOG_CONSOLE] != NULL;
    pthread_mutex_unlock(&in->mu);
    if (have)
        return MVM_OK;
    const vmm_host_config *hc = vmm_host_config_of(in->core->vmm);
    vmm_logpipe *lp[CORE_LOG_COUNT] = {0};
    for (int l = 0; l < CORE_LOG_COUNT; l++) {
        size_t max = log_table[l].max_bytes ? log_table[l].max_bytes : hc->console_max_bytes;
        mvm_code rc = vmm_logpipe_open(in->dir, log_table[l].fifo, log_table[l].file, max, &lp[l],
                                       err);
        if (rc) {
            for (int k = 0; k < l; k++)
                vmm_logpipe_close(lp[k]);
            return rc;
        }
    }
    pthread_mutex_lock(&in->mu);
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        in->logs[l] = lp[l];
    pthread_mutex_unlock(&in->mu);
    return MVM_OK;
}

mvm_code core_inst_prepare_logs(core_inst *in, mvm_error *err) {
    mvm_code rc = core_inst_open_logs(in, err);
    for (int l = 0; !rc && l < CORE_LOG_COUNT; l++)
        rc = vmm_logpipe_prepare(in->logs[l], err);
    return rc;
}

mvm_code core_inst_start_logs(core_inst *in, mvm_error *err) {
    mvm_code rc = core_inst_open_logs(in, err);
    for (int l = 0; !rc && l < CORE_LOG_COUNT; l++)
        rc = vmm_logpipe_start(in->logs[l], err);
    if (rc)
        core_inst_stop_logs(in);
    return rc;
}

void core_inst_pump_log(core_inst *in, core_log log) {
    if (in->logs[log])
        vmm_logpipe_pump(in->logs[log], log_table[log].followed ? core_console_deliver : NULL,
                         in);
}

void core_inst_pump_logs(core_inst *in) {
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        core_inst_pump_log(in, (core_log)l);
}

void core_inst_stop_logs(core_inst *in) {
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        if (in->w_logs[l].fd >= 0)
            core_sup_del(in->core, &in->w_logs[l]);
    core_inst_pump_logs(in);
    for (int l = 0; l < CORE_LOG_COUNT; l++)
        if (in->logs[l])
            vmm_logpipe_stop(in->logs[l]);
    core_inst_drop_memory(in); /* the process has ended: so has its page server's work */
}

/* ---- the machine ---- */

mvm_code core_inst_attach(core_inst *in, vmm_machine *m, uint32_t vcpus, uint64_t mem_mib,
                          mvm_error *err) {
    mvm_code rc = core_inst_start_logs(in, err);
    if (rc)
        return rc;
    for (int l = 0; l < CORE_LOG_COUNT; l++) {
        in->w_logs[l].fd = vmm_logpipe_fd(in->logs[l]);
        core_sup_add(in->core, &in->w_logs[l]);
    }
    pthread_mutex_lock(&in->mu);
    in->m = m;
    in->vcpus = vcpus;
    in->mem_mib = mem_mib;
    in->w_proc.fd = vmm_machine_pidfd(m);
    pthread_mutex_unlock(&in->mu);
    core_sup_add(in->core, &in->w_proc);
    return MVM_OK;
}

vmm_machine *core_inst_detach(core_inst *in) {
    pthread_mutex_lock(&in->mu);
    bool watched = in->w_proc.fd >= 0;
    pthread_mutex_unlock(&in->mu);
    if (watched)
        core_sup_del(in->core, &in->w_proc);
    pthread_mutex_lock(&in->mu);
    vmm_machine *m = in->m;
    uint32_t vcpus = in->vcpus;
    uint64_t mem = in->mem_mib;
    in->m = NULL;
    in->vcpus = 0;
    in->mem_mib = 0;
    pthread_mutex_unlock(&in->mu);
    if (m)
        core_cap_release(in->core, vcpus, mem);
    return m;
}

/* ---- capacity ---- */

mvm_code core_cap_reserve(core *c, uint32_t vcpus, uint64_t mem_mib, const char *id,
                          mvm_error *err) {
    pthread_mutex_lock(&c->cap_mu);
    bool cpu_ok = (uint64_t)c->running_vcpus + vcpus <= c->offered_vcpus;
    bool mem_ok = c->running_mem_mib + mem_mib <= c->offered_mem_mib;
    if (cpu_ok && mem_ok) {
        c->running_vcpus += vcpus;
        c->running_mem_mib += mem_mib;
    }
    uint32_t rv = c->running_vcpus, ov = c->offered_vcpus;
    uint64_t rm = c->running_mem_mib, om = c->offered_mem_mib;
    pthread_mutex_unlock(&c->cap_mu);
    if (!cpu_ok)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "node capacity: instance %s needs %u vCPUs but %u of the %u offered "
                        "are in use",
                        id, vcpus, rv, ov);
    if (!mem_ok)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED,
                        "node capacity: instance %s needs %llu MiB but %llu of the %llu MiB "
                        "offered are in use",
                        id, (unsigned long long)mem_mib, (unsigned long long)rm,
                        (unsigned long long)om);
    return MVM_OK;
}

void core_cap_force(core *c, uint32_t vcpus, uint64_t mem_mib) {
    pthread_mutex_lock(&c->cap_mu);
    c->running_vcpus += vcpus;
    c->running_mem_mib += mem_mib;
    pthread_mutex_unlock(&c->cap_mu);
}

void core_cap_release(core *c, uint32_t vcpus, uint64_t mem_mib) {
    pthread_mutex_lock(&c->cap_mu);
    c->running_vcpus -= vcpus <= c->running_vcpus ? vcpus : c->running_vcpus;
    c->running_mem_mib -= mem_mib <= c->running_mem_mib ? mem_mib : c->running_mem_mib;
    pthread_mutex_unlock(&c->cap_mu);
}

void core_capacity_get(core *c, core_capacity *out) {
    pthread_mutex_lock(&c->cap_mu);
    out->offered_vcpus = c->offered_vcpus;
    out->offered_mem_mib = c->offered_mem_mib;
    out->running_vcpus = c->running_vcpus;
    out->running_mem_mib = c->running_mem_mib;
    pthread_mutex_unlock(&c->cap_mu);
}
