/* core_clone.c - clones: instances restored from a snapshot instead of
 * booted, and ForkInstances.
 *
 *   Clone: the record is written with the CloneInstance operation (in the
 *       same write the snapshot is checked READY); the clone's directory
 *       gets its own copy of the snapshot's disk (a reflink where the
 *       filesystem has them); a new Firecracker process, working in that
 *       directory, loads the snapshot's state and memory files by their
 *       absolute paths and resumes; its identity goes into MMDS; RUNNING is
 *       recorded with the snapshot its memory comes from. A failure at any
 *       step removes everything (process, directory, record): a clone that
 *       was not made leaves nothing. After a crash, recovery does the same
 *       for a record still carrying CloneInstance.
 *
 *   Why the same snapshot serves every clone: Firecracker writes into its
 *   snapshot the paths it was configured with, and mvmd only ever gives it
 *   relative ones (rootfs.ext4, v.sock) with the process working in the
 *   instance's own directory. Each clone's process works in its own
 *   directory, so those same relative paths name the clone's own disk and
 *   socket. (docs/architecture.md, "Clones", says why this was chosen over
 *   the jailer's chroot or a mount namespace.)
 *
 *   Fork of a live instance: the source is claimed and its intent recorded
 *   (ForkInstances, target the snapshot id); it is paused (if RUNNING), a
 *   full snapshot is written into its directory under a temporary name
 *   with a copy of its disk taken while paused (so disk and memory agree),
 *   and the source is resumed at once; the snapshot is sealed, moved to
 *   <state>/snapshots/, recorded (kind FORK, lineage to what the source
 *   was restored from), and the source's intent cleared. The clones are
 *   made from it, and it is then retired: it is removed once no clone maps
 *   its memory any more. */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define BIT(x) (1u << S(x))
#define FORK_MAX 64

void core_snapshot_path(const core *c, const char *id, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", vmm_host_snapshots_dir(c->vmm), id);
}

mvm_code core_clone_check(core *c, const Mvm__V1__Snapshot *snap, mvm_error *err) {
    if (snap->state != MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_READY)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "snapshot %s is retired (%s)", snap->id,
                        snap->retire_reason && *snap->retire_reason ? snap->retire_reason
                                                                    : "no reason recorded");
    mvm_code rc = core_can_run(c, err);
    if (rc)
        return rc;
    const vmm_probe *p = vmm_host_probe(c->vmm);
    if (!vmm_snapshot_compatible(snap->snapshot_version, p->snapshot_version))
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot %s was written by Firecracker %s (snapshot data format %s); "
                        "this node's Firecracker %s reads %s, so it cannot be cloned here",
                        snap->id, snap->firecracker_version, snap->snapshot_version,
                        p->fc_version, p->snapshot_version);
    char dir[PATH_MAX];
    core_snapshot_path(c, snap->id, dir, sizeof dir);
    rc = vmm_snapshot_verify(dir, snap->state_sha256, snap->mem_bytes, snap->disk_bytes, err);
    if (rc)
        mvm_error_context(err, "snapshot %s cannot be cloned", snap->id);
    return rc;
}

/* Removes a clone that was not made: its process, directory and record. */
static void undo_clone(core *c, const store_actor *who, core_inst *in) {
    vmm_machine *m = core_inst_detach(in);
    if (m) {
        vmm_machine_kill(m);
        vmm_machine_free(m);
    }
    core_inst_stop_logs(in);
    core_net_instance_down(c, in->id);
    vmm_dir_remove(in->dir, NULL);
    mvm_error e;
    if (store_instance_delete(c->st, who, in->tenant, in->id, BIT(CREATED), &e) != MVM_OK)
        fprintf(stderr, "mvmd: clone %s: cannot remove its record: %s\n", in->id, e.msg);
    core_inst_forget(in);
}

/* Restores the snapshot into a new process in the clone's directory. */
static mvm_code restore_clone(core *c, core_inst *in, const Mvm__V1__Instance *rec,
                              const Mvm__V1__Snapshot *snap, Mvm__V1__MemoryBackend backend,
                              vmm_machine **m, mvm_error *err) {
    char sdir[PATH_MAX], disk[PATH_MAX + 16];
    core_snapshot_path(c, snap->id, sdir, sizeof sdir);
    snprintf(disk, sizeof disk, "%s/%s", sdir, VMM_SNAPSHOT_DISK);
    mvm_code rc = core_prepare_dir(in, disk, 0, err);
    if (!rc)
        rc = core_inst_start_logs(in, err);
    char netns[PATH_MAX];
    if (!rc)
        rc = core_net_instance_up(c, rec, netns, sizeof netns, err);
    if (!rc)
        rc = vmm_machine_spawn_in(c->vmm, rec->id, in->dir, *netns ? netns : NULL, m, err);
    if (!rc)
        rc = core_restore_memory(c, in, *m, sdir, backend, err);
    if (!rc && core_net_on(c)) {
        Mvm__V1__Pool *pool = NULL;
        rc = store_pool_get(c->st, rec->tenant, rec->pool, NULL, &pool, err);
        if (!rc)
            rc = core_net_restored(c, *m, pool, err);
        core_free_msg(pool);
    }
    if (!rc)
        core_failpoint("clone.loaded");
    return rc;
}

mvm_code core_clone_one(core *c, const store_actor *who, const Mvm__V1__CreateInstanceRequest *req,
                        const Mvm__V1__Snapshot *snap, Mvm__V1__MemoryBackend backend,
                        ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "CloneInstance";
    *out = NULL;
    Mvm__V1__Instance *rec = NULL;
    mvm_code rc = store_instance_create_clone(c->st, who, req, snap->id, NULL, &rec, err);
    if (rc)
        return rc;
    core_failpoint("clone.recorded");
    core_inst *in = core_inst_get(c, rec->tenant, rec->id, err);
    if (!in) {
        mvm_error e;
        store_instance_delete(c->st, who, rec->tenant, rec->id, BIT(CREATED), &e);
        core_free_msg(rec);
        return err->code;
    }
    rc = core_inst_claim(in, op, err); /* a new id: nothing else holds it */
    bool claimed = rc == MVM_OK, reserved = false;
    if (!rc && !(rc = core_cap_reserve(c, rec->vcpus, rec->mem_mib, rec->id, err)))
        reserved = true;
    vmm_machine *m = NULL;
    char *mmds = NULL;
    if (!rc)
        rc = restore_clone(c, in, rec, snap, backend, &m, err);
    if (!rc && !(mmds = core_identity_json(rec)))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!rc)
        rc = vmm_machine_mmds_put(m, mmds, err);
    if (!rc && !(rc = core_inst_attach(in, m, rec->vcpus, rec->mem_mib, err))) {
        reserved = false; /* the machine holds it now */
        m = NULL;
    }
    if (!rc) {
        pthread_mutex_lock(&in->mu);
        vmm_machine *am = in->m;
        pthread_mutex_unlock(&in->mu);
        Google__Protobuf__Timestamp now;
        Mvm__V1__InstanceProcess proc;
        core_fill_process(c, am, &proc, &now);
        proc.memory_snapshot_id = snap->id;
        proc.memory_backend = backend;
        store_instance_change ch = {.expect_states = BIT(CREATED), .set_state = true,
                                    .state = S(RUNNING), .set_process = true, .process = &proc,
                                    .set_operation = true, .operation = NULL};
        rc = store_instance_change_apply(c->st, who, rec->tenant, rec->id, &ch, alloc, out, err);
    }
    if (rc) {
        if (m) {
            vmm_machine_kill(m);
            vmm_machine_free(m);
        }
        if (reserved)
            core_cap_release(c, rec->vcpus, rec->mem_mib);
        undo_clone(c, who, in);
        mvm_error_context(err, "clone of snapshot %s", snap->id);
    }
    free(mmds);
    if (claimed)
        core_inst_release(in);
    core_inst_unref(in);
    core_free_msg(rec);
    return rc;
}

/* ---- fork ---- */

/* The source's intent cleared, its state unchanged. */
static void clear_intent(core *c, const store_actor *who, core_inst *in) {
    store_instance_change ch = {.set_operation = true, .operation = NULL};
    mvm_error e;
    if (store_instance_change_apply(c->st, who, in->tenant, in->id, &ch, NULL, NULL, &e) != MVM_OK)
        fprintf(stderr, "mvmd: instance %s: cannot clear ForkInstances: %s\n", in->id, e.msg);
}

/* Writes the fork snapshot of a live instance into its directory (the
 * guest paused meanwhile) and seals it there; *paused_ms gets how long the
 * guest was stopped. */
static mvm_code write_fork(core *c, core_inst *in, vmm_machine *m, const Mvm__V1__Instance *rec,
                           const char *fid, vmm_snapshot_info *info, mvm_error *err) {
    char parent[PATH_MAX + 16], tmp[PATH_MAX + 48], disk_src[PATH_MAX + 16],
        disk_dst[PATH_MAX + 64], state[64], mem[64];
    core_snapshot_dir(in, parent, sizeof parent);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", parent, fid);
    snprintf(disk_src, sizeof disk_src, "%s/%s", in->dir, VMM_SNAPSHOT_DISK);
    snprintf(disk_dst, sizeof disk_dst, "%s/%s", tmp, VMM_SNAPSHOT_DISK);
    snprintf(state, sizeof state, "snapshots/%s.tmp/%s", fid, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "snapshots/%s.tmp/%s", fid, VMM_SNAPSHOT_MEM);
    bool paused = false;
    mvm_code rc = MVM_OK;
    if (rec->state == S(RUNNING) && !(rc = vmm_machine_pause(m, err)))
        paused = true;
    if (!rc && ((mkdir(parent, 0700) != 0 && errno != EEXIST) || mkdir(tmp, 0700) != 0))
        rc = mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", tmp, strerror(errno));
    if (!rc)
        rc = vmm_machine_snapshot_create(m, state, mem, err);
    if (!rc) /* while paused: the disk as the memory knows it */
        rc = vmm_disk_copy(disk_src, disk_dst, 0, NULL, err);
    mvm_error ignored;
    if (paused && vmm_machine_resume(m, rc ? &ignored : err) != MVM_OK && !rc)
        rc = err->code;
    if (!rc)
        rc = vmm_snapshot_seal(parent, fid, info, err);
    if (rc)
        vmm_dir_remove(tmp, NULL);
    return rc;
}

/* ForkInstances' snapshot of a RUNNING or WARM instance: recorded READY
 * (kind FORK) into *out. */
static mvm_code fork_snapshot(core *c, const store_actor *who, const char *tenant,
                              const char *id, Mvm__V1__Snapshot **out, mvm_error *err) {
    static const char op[] = "ForkInstances";
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_COUNT, op, &rec, &in, err);
    if (rc)
        return rc;
    if (rec->state != S(RUNNING) && rec->state != S(WARM)) {
        rc = mvm_fail(err, MVM_FAILED_PRECONDITION,
                      "instance %s is %s: only a RUNNING or WARM instance can be forked", id,
                      instance_state_name(rec->state));
        core_end_op(in, rec);
        return rc;
    }
    Mvm__V1__Pool *pool = NULL;
    char fid[19], sdir[PATH_MAX + 16];
    pthread_mutex_lock(&in->mu);
    vmm_machine *m = in->m;
    pthread_mutex_unlock(&in->mu);
    if (!m || vmm_machine_exited(m, NULL))
        rc = mvm_fail(err, MVM_FAILED_PRECONDITION,
                      "instance %s has no running Firecracker process", id);
    if (!rc)
        rc = store_pool_get(c->st, tenant, rec->pool, NULL, &pool, err);
    if (!rc)
        rc = core_new_snapshot_id(fid, err);
    bool intent = false;
    if (!rc && !(rc = core_record_intent(c, who, in, op, rec, false, fid, err))) {
        intent = true;
        core_failpoint("fork.intent");
    }
    vmm_snapshot_info info = {0};
    if (!rc)
        rc = write_fork(c, in, m, rec, fid, &info, err);
    core_snapshot_dir(in, sdir, sizeof sdir);
    size_t l = strlen(sdir);
    snprintf(sdir + l, sizeof sdir - l, "/%s", fid);
    if (!rc && !(rc = vmm_snapshot_move(sdir, vmm_host_snapshots_dir(c->vmm), fid, err)))
        core_failpoint("fork.sealed");
    if (!rc) {
        const vmm_probe *p = vmm_host_probe(c->vmm);
        Mvm__V1__Snapshot s = MVM__V1__SNAPSHOT__INIT;
        s.tenant = rec->tenant;
        s.pool = rec->pool;
        s.id = fid;
        s.kind = MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_FORK;
        s.source_instance = rec->id;
        s.parent_id = rec->process && rec->process->memory_snapshot_id
                          ? rec->process->memory_snapshot_id
                          : rec->base_snapshot_id;
        s.firecracker_version = (char *)p->fc_version;
        s.snapshot_version = (char *)p->snapshot_version;
        s.vcpus = rec->vcpus;
        s.mem_mib = rec->mem_mib;
        s.kernel_image = pool->kernel_image;
        s.rootfs_image = pool->rootfs_image;
        s.initrd_image = pool->initrd_image;
        s.boot_args = pool->boot_args;
        s.mem_bytes = info.mem_bytes;
        s.state_bytes = info.state_bytes;
        s.disk_bytes = info.disk_bytes;
        s.state_sha256 = info.state_sha256;
        rc = store_snapshot_create(c->st, who, &s, NULL, NULL, out, err);
        if (rc) {
            char dst[PATH_MAX];
            core_snapshot_path(c, fid, dst, sizeof dst);
            vmm_dir_remove(dst, NULL);
        }
    }
    if (intent) {
        if (rc)
            core_record_rollback(c, who, in, op, err);
        else
            clear_intent(c, who, in);
    }
    if (rc)
        mvm_error_context(err, "snapshot of %s for ForkInstances", id);
    core_free_msg(pool);
    core_end_op(in, rec);
    return rc;
}

/* A per-clone failure into its result. */
static void fail_result(Mvm__V1__ForkResult *r, const mvm_error *e, ProtobufCAllocator *alloc) {
    r->code = (int32_t)e->code;
    char *msg = core_strdup(alloc, e->msg);
    if (msg)
        r->message = msg;
}

mvm_code core_instance_fork(core *c, const store_actor *who,
                            const Mvm__V1__ForkInstancesRequest *req, ProtobufCAllocator *alloc,
                            Mvm__V1__ForkInstancesResponse **out, mvm_error *err) {
    *out = NULL;
    if (req->clones < 1 || req->clones > FORK_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "clones %u is out of range 1-%d", req->clones,
                        FORK_MAX);
    if (!store_name_valid(req->tenant))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "tenant \"%.64s\" is not a valid name",
                        req->tenant ? req->tenant : "");
    bool from_instance = req->source_instance && *req->source_instance;
    if (!from_instance && !store_name_valid(req->pool))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "pool is required (its base snapshot is cloned) unless source_instance "
                        "is set");
    Mvm__V1__Instance *src = NULL;
    Mvm__V1__Pool *pool = NULL;
    Mvm__V1__Snapshot *snap = NULL;
    mvm_code rc = MVM_OK;
    const char *pool_name = req->pool;
    if (from_instance) {
        rc = store_instance_get(c->st, req->tenant, req->source_instance, NULL, &src, err);
        if (!rc && req->pool && *req->pool && strcmp(req->pool, src->pool) != 0)
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT,
                          "source_instance %s is in pool %s, not %s (leave pool empty)",
                          src->id, src->pool, req->pool);
        if (!rc)
            pool_name = src->pool;
    }
    if (!rc)
        rc = store_pool_get(c->st, req->tenant, pool_name, NULL, &pool, err);
    if (!rc && !from_instance) {
        const char *sid = pool->base_snapshot ? pool->base_snapshot->snapshot_id : NULL;
        if (!sid || !*sid)
            rc = mvm_fail(err, MVM_FAILED_PRECONDITION,
                          "pool %s/%s has no base snapshot to clone (BuildBaseSnapshot makes "
                          "one)",
                          req->tenant, pool_name);
        else
            rc = store_snapshot_get(c->st, req->tenant, sid, NULL, &snap, err);
    }
    if (!rc && from_instance)
        rc = core_can_run(c, err);
    if (!rc && from_instance)
        rc = fork_snapshot(c, who, req->tenant, req->source_instance, &snap, err);
    if (!rc)
        rc = core_clone_check(c, snap, err);
    Mvm__V1__ForkInstancesResponse *r = NULL;
    if (!rc) {
        r = core_zalloc(alloc, sizeof *r);
        Mvm__V1__ForkResult **rs = core_zalloc(alloc, req->clones * sizeof *rs);
        if (!r || !rs)
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        if (r) {
            mvm__v1__fork_instances_response__init(r);
            r->results = rs;
        }
    }
    Mvm__V1__CreateInstanceRequest creq = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    creq.tenant = req->tenant;
    creq.pool = (char *)pool_name;
    /* the two requests' label entries are the same message (key 1, value
     * 2) under two names; the store reads them field by field */
    creq.n_labels = req->n_labels;
    creq.labels = (Mvm__V1__CreateInstanceRequest__LabelsEntry **)req->labels;
    Mvm__V1__MemoryBackend backend = core_backend_of(c, pool);
    size_t made = 0;
    for (uint32_t i = 0; !rc && i < req->clones; i++) {
        Mvm__V1__ForkResult *one = core_zalloc(alloc, sizeof *one);
        if (!one) {
            rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        mvm__v1__fork_result__init(one);
        r->results[r->n_results++] = one;
        mvm_error e;
        if (core_clone_one(c, who, &creq, snap, backend, alloc, &one->instance, &e) == MVM_OK) {
            made++;
            continue;
        }
        /* a bad request fails every clone the same way: say it once */
        if (made == 0 && i == 0 && e.code == MVM_INVALID_ARGUMENT) {
            *err = e;
            rc = e.code;
            break;
        }
        fail_result(one, &e, alloc);
    }
    if (from_instance && snap) { /* no more clones of it; collected once unused */
        mvm_error e;
        if (store_snapshot_retire(c->st, who, snap->tenant, snap->id,
                                  "a fork snapshot: retired once its clones were made", &e) !=
            MVM_OK)
            fprintf(stderr, "mvmd: fork snapshot %s: cannot retire it: %s\n", snap->id, e.msg);
        core_janitor_kick(c);
    }
    if (!rc) {
        char *sid = core_strdup(alloc, snap->id);
        if (sid)
            r->snapshot_id = sid;
        *out = r;
    } else if (r) {
        protobuf_c_message_free_unpacked(&r->base, alloc);
    }
    core_free_msg(src);
    core_free_msg(pool);
    core_free_msg(snap);
    return rc;
}
