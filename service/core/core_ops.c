/* core_ops.c - the instance lifecycle operations as recorded steps:
 *
 *   Create: check the pool's images, write the record, prepare the
 *           directory and the disk copy (undone if that fails).
 *   Start:  claim; record the intent; reserve capacity; spawn Firecracker,
 *           configure and boot it; record RUNNING with the process's
 *           identity. Any failure kills the process and records the error,
 *           leaving the state as it was.
 *   Stop:   claim; record the intent; Ctrl-Alt-Del (RUNNING only), wait
 *           the grace period, SIGKILL, reap; record STOPPED.
 *   Delete: claim; record DESTROYED; kill, remove the directory, delete
 *           the record and free its address.
 * plus what the supervisor records when a process ends by itself, and the
 * core's creation and end. Recovery of interrupted operations is in
 * core_recover.c. */
#include "core_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define BIT(x) (1u << S(x))
#define DISK_NAME "rootfs.ext4"

const store_actor core_self_actor = {.identity = "mvmd", .method = "mvmd/supervisor"};

void core_now(Google__Protobuf__Timestamp *ts) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    google__protobuf__timestamp__init(ts);
    ts->seconds = t.tv_sec;
    ts->nanos = (int32_t)t.tv_nsec;
}

mvm_code core_can_run(const core *c, mvm_error *err) {
    return vmm_host_ready(c->vmm, err);
}

/* ---- the core ---- */

mvm_code core_new(const core_options *opt, core **out, mvm_error *err) {
    *out = NULL;
    if (!opt || !opt->st || !opt->vmm)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "core: store and vmm are required");
    core *c = calloc(1, sizeof *c);
    if (!c)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    c->opt = *opt;
    if (!c->opt.stop_grace_ms)
        c->opt.stop_grace_ms = 5000;
    c->st = opt->st;
    c->vmm = opt->vmm;
    c->sup_epfd = c->sup_evfd = -1;
    core_failpoints_load();
    pthread_mutex_init(&c->tab_mu, NULL);
    pthread_mutex_init(&c->sup_mu, NULL);
    pthread_cond_init(&c->sup_cv, NULL);
    pthread_mutex_init(&c->cap_mu, NULL);
    pthread_mutex_init(&c->build_mu, NULL);
    pthread_mutex_init(&c->uffd_mu, NULL);
    core_janitor_init(c);
    core_reconcile_init(c);
    mvm_code nrc = core_net_init(c, err);
    if (nrc) {
        core_free(c);
        return nrc;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES),
         psize = sysconf(_SC_PAGESIZE);
    uint64_t host_mib = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize >> 20 : 0;
    uint64_t reserve = host_mib / 10 > 512 ? host_mib / 10 : 512;
    /* vCPUs are overcommitted (idle guests cost little), memory is not */
    c->offered_vcpus = opt->capacity_vcpus ? opt->capacity_vcpus
                                           : CORE_VCPU_OVERCOMMIT * (uint32_t)(cpus > 0 ? cpus : 1);
    c->offered_mem_mib = opt->capacity_mem_mib ? opt->capacity_mem_mib
                         : host_mib > reserve ? host_mib - reserve : host_mib;
    mvm_code rc = core_sup_start(c, err);
    if (rc) {
        core_free(c);
        return rc;
    }
    *out = c;
    return MVM_OK;
}

void core_free(core *c) {
    if (!c)
        return;
    core_reconcile_stop(c);
    core_janitor_stop(c);
    core_builds_stop(c);
    core_sup_stop(c);
    core_net_free(c);
    for (int i = 0; i < CORE_TABLE_SIZE; i++) {
        while (c->tab[i]) {
            core_inst *in = c->tab[i];
            c->tab[i] = in->hnext;
            vmm_machine_free(in->m); /* the process keeps running */
            core_inst_drop_memory(in); /* but a UFFD one cannot fault any more:
                                          recovery ends it at the next start */
            in->m = NULL;
            in->in_table = false;
            core_inst_unref(in);
        }
    }
    pthread_mutex_destroy(&c->tab_mu);
    pthread_mutex_destroy(&c->sup_mu);
    pthread_cond_destroy(&c->sup_cv);
    pthread_mutex_destroy(&c->cap_mu);
    pthread_mutex_destroy(&c->build_mu);
    core_loop_destroy(&c->jan);
    core_reconcile_free(c);
    core_memory_free(c);
    pthread_mutex_destroy(&c->uffd_mu);
    free(c);
}

/* ---- helpers ---- */

/* An image path of the pool must name a readable regular file. */
static mvm_code check_image(const Mvm__V1__Pool *p, const char *field, const char *path,
                            mvm_code code, mvm_error *err) {
    struct stat st;
    if (!path || !*path)
        return mvm_fail(err, code, "pool %s/%s has no %s", p->tenant, p->name, field);
    if (path[0] != '/')
        return mvm_fail(err, code, "pool %s/%s: %s \"%.200s\" is not an absolute path",
                        p->tenant, p->name, field, path);
    if (stat(path, &st) != 0)
        return mvm_fail(err, code, "pool %s/%s: %s %.300s: %s", p->tenant, p->name, field, path,
                        strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mvm_fail(err, code, "pool %s/%s: %s %.300s is not a regular file", p->tenant,
                        p->name, field, path);
    if (access(path, R_OK) != 0)
        return mvm_fail(err, code, "pool %s/%s: %s %.300s is not readable: %s", p->tenant,
                        p->name, field, path, strerror(errno));
    return MVM_OK;
}

mvm_code core_check_images(const Mvm__V1__Pool *p, mvm_code code, mvm_error *err) {
    mvm_code rc = check_image(p, "kernel_image", p->kernel_image, code, err);
    if (!rc)
        rc = check_image(p, "rootfs_image", p->rootfs_image, code, err);
    if (!rc && p->initrd_image && *p->initrd_image)
        rc = check_image(p, "initrd_image", p->initrd_image, code, err);
    return rc;
}

mvm_code core_pool_check_images(const Mvm__V1__Pool *p, mvm_error *err) {
    if (!p)
        return MVM_OK; /* the store says what is missing */
    const char *fields[] = {"kernel_image", "rootfs_image", "initrd_image"};
    const char *paths[] = {p->kernel_image, p->rootfs_image, p->initrd_image};
    for (int i = 0; i < 3; i++) {
        if (!paths[i] || !*paths[i])
            continue;
        mvm_code rc = check_image(p, fields[i], paths[i], MVM_INVALID_ARGUMENT, err);
        if (rc)
            return rc;
    }
    return MVM_OK;
}

mvm_code core_prepare_dir(core_inst *in, const char *disk_src, uint64_t min_bytes,
                          mvm_error *err) {
    if (mkdir(in->dir, 0700) != 0 && errno != EEXIST)
        return mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", in->dir, strerror(errno));
    mvm_code rc = core_inst_prepare_logs(in, err);
    if (rc)
        return rc;
    char disk[PATH_MAX + 16];
    snprintf(disk, sizeof disk, "%s/%s", in->dir, DISK_NAME);
    if (access(disk, F_OK) == 0)
        return MVM_OK;
    return vmm_disk_copy(disk_src, disk, min_bytes, NULL, err);
}

void core_fill_process(core *c, vmm_machine *m, Mvm__V1__InstanceProcess *proc,
                       Google__Protobuf__Timestamp *now) {
    core_now(now);
    mvm__v1__instance_process__init(proc);
    proc->pid = vmm_machine_pid(m);
    proc->start_ticks = vmm_machine_start_ticks(m);
    proc->boot_id = (char *)vmm_boot_id();
    proc->firecracker_version = (char *)vmm_host_probe(c->vmm)->fc_version;
    proc->start_time = now;
}

Mvm__V1__MemoryBackend core_default_backend(const core *c) {
    return core_backend_of(c, NULL);
}

Mvm__V1__MemoryBackend core_backend_of(const core *c, const Mvm__V1__Pool *p) {
    if (p && p->memory_backend != MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UNSPECIFIED)
        return p->memory_backend;
    return c->opt.memory_backend != MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UNSPECIFIED
               ? c->opt.memory_backend
               : MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_FILE;
}

/* The MMDS document: the instance's identity. */
char *core_identity_json(const Mvm__V1__Instance *i) {
    json_t *labels = json_object();
    for (size_t k = 0; labels && k < i->n_labels; k++)
        json_object_set_new(labels, i->labels[k]->key, json_string(i->labels[k]->value));
    json_t *doc = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:o}}", "mvm", "tenant", i->tenant,
                            "pool", i->pool, "id", i->id, "ip", i->ip, "mac", i->mac, "labels",
                            labels ? labels : json_object());
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return text;
}

void *core_zalloc(ProtobufCAllocator *alloc, size_t n) {
    void *p = alloc ? alloc->alloc(alloc->allocator_data, n) : malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *core_strdup(ProtobufCAllocator *alloc, const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *d = core_zalloc(alloc, n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

void core_free_msg(void *m) {
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* Records that op ended without changing the state: clears the operation,
 * keeps err's message as last_error. */
void core_record_rollback(core *c, const store_actor *who, core_inst *in, const char *op,
                          const mvm_error *why) {
    char msg[MVM_ERROR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "%s failed: %s", op, why->msg);
    store_instance_change ch = {.set_operation = true, .operation = NULL, .last_error = msg};
    mvm_error e;
    if (store_instance_change_apply(c->st, who, in->tenant, in->id, &ch, NULL, NULL, &e) != MVM_OK)
        fprintf(stderr, "mvmd: instance %s: cannot record the failure of %s: %s\n", in->id, op,
                e.msg);
}

mvm_code core_record_intent(core *c, const store_actor *who, core_inst *in, const char *op,
                            const Mvm__V1__Instance *rec, bool destroy, const char *target,
                            mvm_error *err) {
    Google__Protobuf__Timestamp now;
    core_now(&now);
    Mvm__V1__InstanceOperation o = MVM__V1__INSTANCE_OPERATION__INIT;
    o.name = (char *)op;
    o.from_state = rec->state;
    o.start_time = &now;
    if (target)
        o.target = (char *)target;
    store_instance_change ch = {.expect_states = 1u << rec->state, .expect_idle = !destroy,
                                .set_operation = true, .operation = &o};
    if (destroy) {
        ch.set_state = true;
        ch.state = S(DESTROYED);
    }
    return store_instance_change_apply(c->st, who, in->tenant, in->id, &ch, NULL, NULL, err);
}

/* Reads the record and checks that act may be taken from its state. */
static mvm_code load_for(core *c, const char *tenant, const char *id, instance_action act,
                         Mvm__V1__Instance **rec, mvm_error *err) {
    mvm_code rc = store_instance_get(c->st, tenant, id, NULL, rec, err);
    if (rc)
        return rc;
    rc = instance_action_check(act, (*rec)->state, id, err);
    if (rc) {
        core_free_msg(*rec);
        *rec = NULL;
    }
    return rc;
}

/* The start of every lifecycle operation: the record (checked against the
 * state machine when act is not INSTANCE_ACTION_COUNT), the runtime entry,
 * and the claim. On success the caller ends with end_op. */
mvm_code core_begin_op(core *c, const char *tenant, const char *id, instance_action act,
                       const char *op, Mvm__V1__Instance **rec, core_inst **in, mvm_error *err) {
    *in = NULL;
    mvm_code rc = act == INSTANCE_ACTION_COUNT
                      ? store_instance_get(c->st, tenant, id, NULL, rec, err)
                      : load_for(c, tenant, id, act, rec, err);
    if (rc)
        return rc;
    if (act == INSTANCE_ACTION_START && (rc = core_can_run(c, err)) != MVM_OK) {
        core_free_msg(*rec);
        *rec = NULL;
        return rc;
    }
    core_inst *i = core_inst_get(c, tenant, id, err);
    if (!i || (rc = core_inst_claim(i, op, err)) != MVM_OK) {
        core_free_msg(*rec);
        *rec = NULL;
        core_inst_unref(i);
        return i ? rc : MVM_RESOURCE_EXHAUSTED;
    }
    *in = i;
    return MVM_OK;
}

void core_end_op(core_inst *in, Mvm__V1__Instance *rec) {
    core_free_msg(rec);
    core_inst_release(in);
    core_inst_unref(in);
}

/* ---- create ---- */

/* CreateInstance in a pool with a base snapshot: a clone of it. */
static mvm_code clone_base(core *c, const store_actor *who,
                           const Mvm__V1__CreateInstanceRequest *req, const Mvm__V1__Pool *pool,
                           ProtobufCAllocator *alloc, Mvm__V1__Instance **out, mvm_error *err) {
    Mvm__V1__Snapshot *snap = NULL;
    mvm_code rc = store_snapshot_get(c->st, req->tenant, pool->base_snapshot->snapshot_id, NULL,
                                     &snap, err);
    if (!rc)
        rc = core_clone_check(c, snap, err);
    if (!rc)
        rc = core_clone_one(c, who, req, snap, core_backend_of(c, pool), alloc, out, err);
    if (rc)
        mvm_error_context(err, "CreateInstance in pool %s/%s (a clone of its base snapshot %s; "
                               "cold_boot boots from the images instead)",
                          req->tenant, req->pool, pool->base_snapshot->snapshot_id);
    core_free_msg(snap);
    return rc;
}

mvm_code core_instance_create(core *c, const store_actor *who,
                              const Mvm__V1__CreateInstanceRequest *req,
                              ProtobufCAllocator *alloc, Mvm__V1__Instance **out,
                              mvm_error *err) {
    *out = NULL;
    Mvm__V1__Pool *pool = NULL;
    if (store_name_valid(req->tenant) && store_name_valid(req->pool)) {
        mvm_code rc = store_pool_get(c->st, req->tenant, req->pool, NULL, &pool, err);
        if (rc == MVM_OK && !req->cold_boot && pool->base_snapshot &&
            pool->base_snapshot->snapshot_id && *pool->base_snapshot->snapshot_id) {
            rc = clone_base(c, who, req, pool, alloc, out, err);
            core_free_msg(pool);
            return rc;
        }
        if (rc == MVM_OK) {
            rc = core_check_images(pool, MVM_INVALID_ARGUMENT, err);
            if (rc) {
                core_free_msg(pool);
                return rc;
            }
        }
    }
    /* the store gives the precise answer for bad names and missing objects */
    Mvm__V1__Instance *rec = NULL;
    mvm_code rc = store_instance_create(c->st, who, req, alloc, &rec, err);
    if (rc) {
        core_free_msg(pool);
        return rc;
    }
    if (!pool) { /* created meanwhile? cannot happen without the pool; be safe */
        *out = rec;
        return MVM_OK;
    }
    core_failpoint("create.recorded");
    core_inst *in = core_inst_get(c, rec->tenant, rec->id, err);
    rc = in ? core_prepare_dir(in, pool->rootfs_image, pool->disk_mib << 20, err) : (err ? err->code : MVM_RESOURCE_EXHAUSTED);
    core_free_msg(pool);
    char netns[PATH_MAX];
    if (!rc && !(rc = core_net_instance_up(c, rec, netns, sizeof netns, err)))
        core_failpoint("create.networked");
    if (rc) { /* undo: no record without its disk and network */
        mvm_error e2;
        if (in) {
            core_inst_stop_logs(in);
            core_net_instance_down(c, rec->id);
            vmm_dir_remove(in->dir, NULL);
            core_inst_forget(in);
            core_inst_unref(in);
        }
        if (store_instance_delete(c->st, who, rec->tenant, rec->id, instance_state_deletable(),
                                  &e2) != MVM_OK)
            fprintf(stderr, "mvmd: instance %s: cannot undo its creation: %s\n", rec->id, e2.msg);
        if (alloc)
            protobuf_c_message_free_unpacked(&rec->base, alloc);
        else
            core_free_msg(rec);
        mvm_error_context(err, "CreateInstance");
        return rc;
    }
    core_inst_unref(in);
    *out = rec;
    return MVM_OK;
}

/* ---- start ---- */

mvm_code core_instance_start(core *c, const store_actor *who, const char *tenant,
                             const char *id, ProtobufCAllocator *alloc,
                             Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "StartInstance";
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_START, op, &rec, &in, err);
    if (rc)
        return rc;
    Mvm__V1__Pool *pool = NULL;
    vmm_machine *m = NULL;
    char *mmds = NULL;
    bool reserved = false, intent = false;
    rc = store_pool_get(c->st, tenant, rec->pool, NULL, &pool, err);
    if (!rc)
        rc = core_check_images(pool, MVM_FAILED_PRECONDITION, err);
    if (!rc && !(rc = core_cap_reserve(c, rec->vcpus, rec->mem_mib, id, err)))
        reserved = true;
    if (!rc && !(rc = core_record_intent(c, who, in, op, rec, false, NULL, err))) {
        intent = true;
        core_failpoint("start.intent");
    }
    if (!rc)
        rc = core_prepare_dir(in, pool->rootfs_image, pool->disk_mib << 20, err);
    if (!rc) /* before the process: its first words must not be missed */
        rc = core_inst_start_logs(in, err);
    char netns[PATH_MAX];
    if (!rc)
        rc = core_net_instance_up(c, rec, netns, sizeof netns, err);
    if (!rc && !(rc = vmm_machine_spawn_in(c->vmm, id, in->dir, *netns ? netns : NULL, &m, err)))
        core_failpoint("start.spawned");
    if (!rc && !(mmds = core_identity_json(rec)))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (!rc) {
        char args[CORE_BOOT_ARGS_MAX];
        vmm_boot_spec spec = {.vcpus = rec->vcpus, .mem_mib = rec->mem_mib,
                              .kernel = pool->kernel_image, .initrd = pool->initrd_image,
                              .rootfs = DISK_NAME, .mmds_json = mmds,
                              .vsock_cid = CORE_VSOCK_CID};
        core_net_boot_spec(c, rec->mac, pool, &spec, args, sizeof args);
        if (!(rc = vmm_machine_boot(m, &spec, err)))
            core_failpoint("start.booted");
    }
    bool attached = false;
    if (!rc && !(rc = core_inst_attach(in, m, rec->vcpus, rec->mem_mib, err)))
        attached = true;
    if (!rc) {
        Google__Protobuf__Timestamp now;
        Mvm__V1__InstanceProcess proc;
        core_fill_process(c, m, &proc, &now);
        store_instance_change ch = {.set_state = true, .state = S(RUNNING), .set_process = true,
                                    .process = &proc, .set_operation = true, .operation = NULL};
        rc = store_instance_change_apply(c->st, who, tenant, id, &ch, alloc, out, err);
    }
    if (rc) {
        if (attached) { /* gives the capacity back too */
            m = core_inst_detach(in);
            reserved = false;
        }
        if (m) {
            vmm_machine_kill(m);
            vmm_machine_free(m);
            m = NULL;
        }
        vmm_dir_clean_runtime(in->dir);
        core_inst_stop_logs(in); /* pumps what the process said */
        if (reserved)
            core_cap_release(c, rec->vcpus, rec->mem_mib);
        if (intent)
            core_record_rollback(c, who, in, op, err);
        mvm_error_context(err, "%s %s", op, id);
    }
    free(mmds);
    core_free_msg(pool);
    core_end_op(in, rec);
    return rc;
}

/* ---- stop ---- */

mvm_code core_instance_stop(core *c, const store_actor *who, const char *tenant,
                            const char *id, ProtobufCAllocator *alloc,
                            Mvm__V1__Instance **out, mvm_error *err) {
    static const char op[] = "StopInstance";
    *out = NULL;
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_STOP, op, &rec, &in, err);
    if (rc)
        return rc;
    rc = core_record_intent(c, who, in, op, rec, false, NULL, err);
    if (!rc) {
        core_failpoint("stop.intent");
        vmm_machine *m = core_inst_detach(in);
        if (m) {
            /* A paused guest cannot take the key presses: it is killed
             * (and a sleeping one has no process). */
            mvm_error ignored;
            if (rec->state == S(RUNNING) && !vmm_machine_exited(m, NULL) &&
                vmm_machine_ctrl_alt_del(m, &ignored) == MVM_OK)
                vmm_machine_wait(m, (int)c->opt.stop_grace_ms, NULL);
            vmm_machine_kill(m);
            vmm_machine_free(m);
        }
        vmm_dir_clean_runtime(in->dir);
        core_inst_stop_logs(in);
        core_failpoint("stop.killed");
        /* a stopped instance boots fresh: its snapshots go */
        char snaps[PATH_MAX + 16];
        core_snapshot_dir(in, snaps, sizeof snaps);
        vmm_snapshot_prune(snaps, NULL);
        store_instance_change ch = {.set_state = true, .state = S(STOPPED), .set_process = true,
                                    .process = NULL, .set_operation = true, .operation = NULL,
                                    .set_snapshot = true, .snapshot = NULL};
        rc = store_instance_change_apply(c->st, who, tenant, id, &ch, alloc, out, err);
        if (rc) /* the process is gone whatever the store says; recovery fixes the record */
            mvm_error_context(err, "%s %s: the process was stopped but not recorded", op, id);
    }
    core_end_op(in, rec);
    return rc;
}

/* ---- delete ---- */

/* Delete once claimed: DESTROYED recorded, the process killed, the
 * directory removed, the record deleted. */
static mvm_code delete_claimed(core *c, const store_actor *who, core_inst *in,
                               const Mvm__V1__Instance *rec, mvm_error *err) {
    static const char op[] = "DeleteInstance";
    mvm_code rc = rec->state == S(DESTROYED)
                      ? MVM_OK
                      : core_record_intent(c, who, in, op, rec, true, NULL, err);
    if (rc)
        return rc;
    core_failpoint("delete.intent");
    vmm_machine *m = core_inst_detach(in);
    if (m) {
        vmm_machine_kill(m);
        vmm_machine_free(m);
    }
    core_inst_stop_logs(in);
    core_console_end_all(in);
    core_net_instance_down(c, in->id);
    core_failpoint("delete.unnetworked");
    rc = vmm_dir_remove(in->dir, err);
    if (!rc)
        core_failpoint("delete.removed");
    if (!rc)
        rc = store_instance_delete(c->st, who, in->tenant, in->id, BIT(DESTROYED), err);
    if (!rc) {
        core_inst_forget(in);
        core_janitor_kick(c); /* it may have held a retired snapshot */
        mvm_error e;
        if (rec->n_port_forwards && core_net_sync(c, &e) != MVM_OK) /* its forwards go */
            fprintf(stderr, "mvmd: %s %s: %s\n", op, in->id, e.msg);
    } else { /* DESTROYED stays recorded: the next start of mvmd finishes it */
        mvm_error_context(err, "%s %s", op, in->id);
    }
    return rc;
}

mvm_code core_instance_delete(core *c, const store_actor *who, const char *tenant,
                              const char *id, mvm_error *err) {
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_COUNT, "DeleteInstance", &rec,
                                &in, err);
    if (rc)
        return rc;
    rc = delete_claimed(c, who, in, rec, err);
    core_end_op(in, rec);
    return rc;
}

mvm_code core_instance_expire(core *c, const store_actor *who, const char *tenant,
                              const char *id, const char *snapshot_id, int64_t now_sec,
                              mvm_error *err) {
    Mvm__V1__Instance *rec;
    core_inst *in;
    mvm_code rc = core_begin_op(c, tenant, id, INSTANCE_ACTION_COUNT, "DeleteInstance", &rec,
                                &in, err);
    if (rc)
        return rc;
    /* woken, or put to sleep again, since the janitor looked: not expired */
    const Mvm__V1__InstanceSnapshot *s = rec->snapshot;
    if (rec->state != S(SLEEPING) || !s || !s->id || strcmp(s->id, snapshot_id) != 0 ||
        !s->expire_time || s->expire_time->seconds > now_sec)
        rc = mvm_fail(err, MVM_FAILED_PRECONDITION, "instance %s is no longer expired", id);
    else
        rc = delete_claimed(c, who, in, rec, err);
    core_end_op(in, rec);
    return rc;
}

/* ---- a process that ended by itself ---- */

void core_describe_exit(core_inst *in, vmm_machine *m, char *buf, size_t cap, bool *clean) {
    int st = -1;
    vmm_machine_exited(m, &st);
    core_inst_pump_logs(in);
    char tail[2048];
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/firecracker.log", in->dir);
    vmm_file_tail(path, tail, sizeof tail);
    if (st == -1) /* not our child: its own log says how it ended */
        *clean = strstr(tail, "exit_code=0") != NULL;
    else
        *clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    /* the last line Firecracker logged says why */
    size_t n = strlen(tail);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        tail[--n] = '\0';
    const char *last = strrchr(tail, '\n');
    last = last ? last + 1 : tail;
    if (st == -1)
        snprintf(buf, cap, "Firecracker (pid %d) ended", (int)vmm_machine_pid(m));
    else if (WIFEXITED(st))
        snprintf(buf, cap, "Firecracker (pid %d) exited with status %d", (int)vmm_machine_pid(m),
                 WEXITSTATUS(st));
    else
        snprintf(buf, cap, "Firecracker (pid %d) was killed by signal %d",
                 (int)vmm_machine_pid(m), WTERMSIG(st));
    if (*last) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "; its log ends: %.200s", last);
    }
}

void core_record_exit(core *c, core_inst *in, vmm_machine *m) {
    char why[512];
    bool clean = false;
    core_describe_exit(in, m, why, sizeof why, &clean);
    core_inst_stop_logs(in);
    vmm_dir_clean_runtime(in->dir);
    store_instance_change ch = {.expect_states = BIT(READY) | BIT(RUNNING) | BIT(WARM),
                                .set_state = true, .state = clean ? S(STOPPED) : S(FAILED),
                                .set_process = true, .process = NULL,
                                .last_error = clean ? NULL : why};
    mvm_error e;
    if (store_instance_change_apply(c->st, &core_self_actor, in->tenant, in->id, &ch, NULL, NULL,
                                    &e) != MVM_OK)
        fprintf(stderr, "mvmd: instance %s: %s, but recording it failed: %s\n", in->id, why, e.msg);
    else
        fprintf(stderr, "mvmd: instance %s: %s%s\n", in->id, why,
                clean ? " (the guest shut down)" : "");
    core_reconcile_kick(c); /* a managed instance may need replacing */
}
