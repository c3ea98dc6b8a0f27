/* core_snapshot_ops.c - the operations that keep a guest's state without
 * running it, as recorded steps:
 *
 *   Pause (RUNNING -> WARM): claim; record the intent; PATCH /vm Paused;
 *       record WARM. The process and its memory stay.
 *   Sleep (RUNNING or WARM -> SLEEPING): claim; record the intent with the
 *       id of the snapshot it makes; pause; Firecracker writes a full
 *       snapshot into snapshots/<id>.tmp/; sync, hash and rename it to
 *       snapshots/<id>/; end the process; record SLEEPING with the
 *       snapshot (versions, sizes, state hash, lineage, expiry); remove
 *       older snapshots. A crash before the rename leaves only a .tmp that
 *       recovery removes; after it, recovery finishes the sleep.
 *   Wake (WARM -> RUNNING): claim; record the intent; PATCH /vm Resumed;
 *       record RUNNING.
 *   Wake (SLEEPING -> RUNNING): claim; check that this node's Firecracker
 *       reads the snapshot's data format and that its files are whole;
 *       record the intent; a new process loads the snapshot and resumes;
 *       the MMDS identity (not kept in a snapshot) is put back; record
 *       RUNNING. The snapshot's files stay while the process runs: its
 *       memory is mapped from them.
 * Snapshot files live in the instance's directory, named relative to it,
 * so the disk and vsock paths a snapshot records are the instance's own. */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define SNAP_DIR "snapshots"

mvm_code core_new_snapshot_id(char id[19], mvm_error *err) {
    uint8_t r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return mvm_fail(err, MVM_INTERNAL, "getrandom failed");
    snprintf(id, 19, "s-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
             r[6], r[7]);
    return MVM_OK;
}

/* Records the new state with nothing under way. */
static mvm_code record_state(core *c, const store_actor *who, core_inst *in,
                             Mvm__V1__InstanceState state, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err) {
    store_instance_change ch = {.set_state = true, .state = state, .set_operation = true,
                                .operation = NULL};
    return store_instance_change_apply(c->st, who, in->tenant, in->id, &ch, alloc, out, err);
}

/* The machine of a live instance, which an operation holding the claim
 * may use; FAILED_PRECONDITION when there is none (the process ended and
 * the supervisor has not recorded it yet). */
static vmm_machine *machine_of(core_inst *in, mvm_error *err) {
    pthread_mutex_lock(&in->mu);
    vmm_machine *m = in->m;
    pthread_mutex_unlock(&in->mu);
    if (!m || vmm_machine_exited(m, NULL)) {
        mvm_fail(err, MVM_FAILED_PRECONDITION,
                 "instance %s has no running Firecracker process (it ended; its record is "
                 "being updated)",
                 in->id);
        return NULL;
    }
    return m;
}

/* ---- pause ---- */

mvm_code core_instance_pause(core *c, const store_actor *who, const char *tenant,
                             const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "PauseInstance";
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_PAUSE, op, &rec, &in, err);
    if (rc)
        return rc;
    vmm_machine *m = machine_of(in, err);
    rc = m ? core_record_intent(c, who, in, op, rec, false, NULL, err) : err->code;
    bool intent = rc == MVM_OK;
    if (!rc)
        rc = vmm_machine_pause(m, err);
    if (!rc)
        rc = record_state(c, who, in, S(WARM), alloc, out, err);
    if (rc) {
        if (intent)
            core_record_rollback(c, who, in, op, err);
        mvm_error_context(err, "%s %s", op, id);
    }
    core_end_op(in, rec);
    return rc;
}

/* ---- sleep ---- */

mvm_code core_instance_sleep(core *c, const store_actor *who, const char *tenant,
                             const char *id, uint32_t ttl_seconds, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "SleepInstance";
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_SLEEP, op, &rec, &in, err);
    if (rc)
        return rc;
    char sid[19], parent[PATH_MAX + 16], tmp[PATH_MAX + 48], state[64], mem[64];
    vmm_machine *m = machine_of(in, err);
    rc = m ? core_new_snapshot_id(sid, err) : err->code;
    bool intent = false, paused = false;
    if (!rc && !(rc = core_record_intent(c, who, in, op, rec, false, sid, err))) {
        intent = true;
        core_failpoint("sleep.intent");
    }
    snprintf(parent, sizeof parent, "%s/%s", in->dir, SNAP_DIR);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", parent, sid);
    if (!rc && rec->state == S(RUNNING) && !(rc = vmm_machine_pause(m, err)))
        paused = true;
    if (!rc && ((mkdir(parent, 0700) != 0 && errno != EEXIST) || mkdir(tmp, 0700) != 0))
        rc = mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", tmp, strerror(errno));
    snprintf(state, sizeof state, "%s/%s.tmp/%s", SNAP_DIR, sid, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "%s/%s.tmp/%s", SNAP_DIR, sid, VMM_SNAPSHOT_MEM);
    if (!rc && !(rc = vmm_machine_snapshot_create(m, state, mem, err)))
        core_failpoint("sleep.written");
    vmm_snapshot_info info = {0};
    if (!rc && !(rc = vmm_snapshot_seal(parent, sid, &info, err)))
        core_failpoint("sleep.sealed");
    if (rc) { /* the guest goes on as it was */
        vmm_dir_remove(tmp, NULL);
        mvm_error ignored;
        if (paused)
            vmm_machine_resume(m, &ignored);
        if (intent)
            core_record_rollback(c, who, in, op, err);
        mvm_error_context(err, "%s %s", op, id);
        core_end_op(in, rec);
        return rc;
    }
    /* The snapshot is whole: from here the sleep only goes forward. */
    m = core_inst_detach(in);
    vmm_machine_kill(m);
    vmm_machine_free(m);
    core_inst_stop_logs(in);
    vmm_dir_clean_runtime(in->dir);
    Google__Protobuf__Timestamp now, expire;
    core_now(&now);
    Mvm__V1__InstanceSnapshot snap = MVM__V1__INSTANCE_SNAPSHOT__INIT;
    snap.id = sid;
    snap.create_time = &now;
    const vmm_probe *p = vmm_host_probe(c->vmm);
    snap.firecracker_version = (char *)p->fc_version;
    snap.snapshot_version = (char *)p->snapshot_version;
    snap.mem_bytes = info.mem_bytes;
    snap.state_bytes = info.state_bytes;
    snap.state_sha256 = info.state_sha256;
    if (ttl_seconds) {
        expire = now;
        expire.seconds += ttl_seconds;
        snap.expire_time = &expire;
    }
    /* lineage: what this guest's memory came from */
    snap.parent_id = rec->snapshot && rec->snapshot->id ? rec->snapshot->id
                     : rec->base_snapshot_id             ? rec->base_snapshot_id
                                                         : "";
    store_instance_change ch = {.set_state = true, .state = S(SLEEPING), .set_process = true,
                                .process = NULL, .set_operation = true, .operation = NULL,
                                .set_snapshot = true, .snapshot = &snap};
    rc = store_instance_change_apply(c->st, who, tenant, id, &ch, alloc, out, err);
    if (rc) { /* recovery finishes it: the intent names the sealed snapshot */
        mvm_error_context(err, "%s %s: the snapshot was written but not recorded", op, id);
    } else {
        /* the pages the last wake touched first are the best guess for the
         * next one (the page server ignores a list that does not fit) */
        if (rec->snapshot && rec->snapshot->id && *rec->snapshot->id) {
            char from[PATH_MAX + 64], to[PATH_MAX + 64];
            snprintf(from, sizeof from, "%s/%s/%s", parent, rec->snapshot->id, VMM_SNAPSHOT_WS);
            snprintf(to, sizeof to, "%s/%s/%s", parent, sid, VMM_SNAPSHOT_WS);
            rename(from, to);
        }
        vmm_snapshot_prune(parent, sid);
    }
    core_end_op(in, rec);
    return rc;
}

/* ---- wake ---- */

static mvm_code resume_warm(core *c, const store_actor *who, core_inst *in,
                            const Mvm__V1__Instance *rec, ProtobufCAllocator *alloc,
                            Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "WakeInstance";
    vmm_machine *m = machine_of(in, err);
    mvm_code rc = m ? core_record_intent(c, who, in, op, rec, false, NULL, err) : err->code;
    bool intent = rc == MVM_OK;
    if (!rc)
        rc = vmm_machine_resume(m, err);
    if (!rc)
        rc = record_state(c, who, in, S(RUNNING), alloc, out, err);
    if (rc && intent)
        core_record_rollback(c, who, in, op, err);
    return rc;
}

/* Checks that a sleeping instance's snapshot can be loaded here. */
static mvm_code check_snapshot(core *c, core_inst *in, const Mvm__V1__Instance *rec,
                               mvm_error *err) {
    const Mvm__V1__InstanceSnapshot *s = rec->snapshot;
    if (!s || !s->id || !*s->id)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "instance %s is SLEEPING but no snapshot is recorded: stop it to boot "
                        "it fresh",
                        rec->id);
    const vmm_probe *p = vmm_host_probe(c->vmm);
    if (!vmm_snapshot_compatible(s->snapshot_version, p->snapshot_version))
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot %s was written by Firecracker %s (snapshot data format %s); "
                        "this node's Firecracker %s reads %s, so it cannot be loaded: stop the "
                        "instance to boot it fresh",
                        s->id, s->firecracker_version, s->snapshot_version, p->fc_version,
                        p->snapshot_version);
    char dir[PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/%s/%s", in->dir, SNAP_DIR, s->id);
    mvm_code rc = vmm_snapshot_verify(dir, s->state_sha256, s->mem_bytes, 0, err);
    if (rc)
        mvm_error_context(err, "snapshot %s cannot be loaded (stop the instance to boot it "
                               "fresh)", s->id);
    return rc;
}

static mvm_code restore(core *c, const store_actor *who, core_inst *in,
                        const Mvm__V1__Instance *rec, ProtobufCAllocator *alloc,
                        Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "WakeInstance";
    mvm_code rc = core_can_run(c, err);
    if (!rc)
        rc = check_snapshot(c, in, rec, err);
    if (!rc)
        rc = core_cap_reserve(c, rec->vcpus, rec->mem_mib, rec->id, err);
    bool reserved = rc == MVM_OK, intent = false, attached = false;
    if (!rc && !(rc = core_record_intent(c, who, in, op, rec, false, NULL, err))) {
        intent = true;
        core_failpoint("wake.intent");
    }
    vmm_machine *m = NULL;
    char *mmds = NULL;
    Mvm__V1__Pool *pool = NULL;
    if (!rc)
        rc = store_pool_get(c->st, rec->tenant, rec->pool, NULL, &pool, err);
    Mvm__V1__MemoryBackend backend = core_backend_of(c, pool);
    if (!rc)
        rc = core_inst_start_logs(in, err);
    char netns[PATH_MAX];
    if (!rc) /* kept while asleep; made again if a crash lost it */
        rc = core_net_instance_up(c, rec, netns, sizeof netns, err);
    if (!rc)
        rc = vmm_machine_spawn_in(c->vmm, rec->id, in->dir, *netns ? netns : NULL, &m, err);
    char sdir[PATH_MAX + 64];
    snprintf(sdir, sizeof sdir, "%s/%s/%s", in->dir, SNAP_DIR, rec->snapshot->id);
    if (!rc && !(rc = core_restore_memory(c, in, m, sdir, backend, err)))
        core_failpoint("wake.loaded");
    if (!rc)
        rc = core_net_restored(c, m, pool, err);
    core_free_msg(pool);
    pool = NULL;
    if (!rc && !(mmds = core_identity_json(rec)))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!rc)
        rc = vmm_machine_mmds_put(m, mmds, err);
    if (!rc && !(rc = core_inst_attach(in, m, rec->vcpus, rec->mem_mib, err)))
        attached = true;
    if (!rc) {
        Google__Protobuf__Timestamp now;
        Mvm__V1__InstanceProcess proc;
        core_fill_process(c, m, &proc, &now);
        proc.memory_snapshot_id = rec->snapshot->id;
        proc.memory_backend = backend;
        /* the snapshot stays (the memory is mapped from it), its expiry goes */
        Mvm__V1__InstanceSnapshot snap = *rec->snapshot;
        snap.expire_time = NULL;
        store_instance_change ch = {.set_state = true, .state = S(RUNNING), .set_process = true,
                                    .process = &proc, .set_operation = true, .operation = NULL,
                                    .set_snapshot = true, .snapshot = &snap};
        rc = store_instance_change_apply(c->st, who, in->tenant, in->id, &ch, alloc, out, err);
    }
    if (rc) {
        if (attached) {
            m = core_inst_detach(in);
            reserved = false;
        }
        if (m) {
            vmm_machine_kill(m);
            vmm_machine_free(m);
        }
        vmm_dir_clean_runtime(in->dir);
        core_inst_stop_logs(in);
        if (reserved)
            core_cap_release(c, rec->vcpus, rec->mem_mib);
        if (intent)
            core_record_rollback(c, who, in, op, err);
    }
    free(mmds);
    return rc;
}

mvm_code core_instance_wake(core *c, const store_actor *who, const char *tenant,
                            const char *id, ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                            mvm_error *err) {
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_WAKE, "WakeInstance", &rec, &in,
                                err);
    if (rc)
        return rc;
    rc = rec->state == S(WARM) ? resume_warm(c, who, in, rec, alloc, out, err)
                               : restore(c, who, in, rec, alloc, out, err);
    if (rc)
        mvm_error_context(err, "WakeInstance %s", id);
    core_end_op(in, rec);
    return rc;
}

void core_snapshot_dir(const core_inst *in, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", in->dir, SNAP_DIR);
}
