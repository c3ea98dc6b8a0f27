/* core_recover.c - what mvmd does at start, before serving, to make every
 * record match reality after a stop or a crash:
 *   - an interrupted Delete (state DESTROYED) is finished;
 *   - an interrupted Start is undone (its process, if any, killed), the
 *     state left as it was and the interruption kept as last_error;
 *   - an interrupted Stop is finished (STOPPED);
 *   - each live instance's process is re-adopted if it still runs (same pid,
 *     same start time, same boot, its API answering), else the instance is
 *     FAILED with the reason;
 *   - an interrupted clone is removed (it never was); an interrupted fork
 *     snapshot is dropped and its source goes on;
 *   - Firecracker processes working in an instance directory that no record
 *     owns are killed, and directories no record owns are removed (a base
 *     snapshot build's template among them);
 *   - in <state>/snapshots, half-written snapshots and ones no record owns
 *     are removed, a build that sealed its snapshot is recorded, and a
 *     READY snapshot whose files are gone is retired (core_base.c).
 * Every change goes through the store like any other, so it is audited and
 * published to watchers. */
#include "core_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x

static const store_actor recovery_actor = {.identity = "mvmd", .method = "mvmd/recovery"};

/* A copy of what recovery needs of each record (the foreach callback may
 * not call back into the store). */
typedef struct rec_item {
    char tenant[64], id[24];
    Mvm__V1__InstanceState state;
    char op[32];
    char op_target[24];          /* what the operation makes (a snapshot id) */
    Mvm__V1__InstanceState op_from;
    char snapshot[24];           /* the recorded snapshot, if any */
    char parent[24];             /* its lineage: the base or previous snapshot */
    pid_t pid;
    uint64_t start_ticks;
    char boot_id[64];
    uint32_t vcpus;
    uint64_t mem_mib;
    bool uffd;                   /* its memory was served by mvmd's page server */
} rec_item;

typedef struct rec_list {
    rec_item *items;
    size_t n, cap;
    bool oom;
} rec_list;

static bool collect(void *arg, const Mvm__V1__Instance *i) {
    rec_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        rec_item *it = realloc(l->items, cap * sizeof *it);
        if (!it) {
            l->oom = true;
            return false;
        }
        l->items = it;
        l->cap = cap;
    }
    rec_item *r = &l->items[l->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->tenant, sizeof r->tenant, "%s", i->tenant);
    snprintf(r->id, sizeof r->id, "%s", i->id);
    r->state = i->state;
    if (i->operation && i->operation->name) {
        snprintf(r->op, sizeof r->op, "%s", i->operation->name);
        snprintf(r->op_target, sizeof r->op_target, "%s",
                 i->operation->target ? i->operation->target : "");
        r->op_from = i->operation->from_state;
    }
    if (i->snapshot && i->snapshot->id)
        snprintf(r->snapshot, sizeof r->snapshot, "%s", i->snapshot->id);
    snprintf(r->parent, sizeof r->parent, "%s",
             r->snapshot[0] ? r->snapshot : i->base_snapshot_id ? i->base_snapshot_id : "");
    if (i->process) {
        r->pid = i->process->pid;
        r->start_ticks = i->process->start_ticks;
        snprintf(r->boot_id, sizeof r->boot_id, "%s", i->process->boot_id ? i->process->boot_id : "");
        r->uffd = i->process->memory_backend == MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD;
    }
    r->vcpus = i->vcpus;
    r->mem_mib = i->mem_mib;
    return true;
}

static void change(core *c, rec_item *r, const store_instance_change *ch) {
    mvm_error e;
    if (store_instance_change_apply(c->st, &recovery_actor, r->tenant, r->id, ch, NULL, NULL,
                                    &e) != MVM_OK)
        fprintf(stderr, "mvmd: recovery: instance %s: cannot record: %s\n", r->id, e.msg);
}

/* Removes leftovers of interrupted disk copies in an instance directory. */
static void remove_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void finish_delete(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    mvm_error e;
    core_net_instance_down(c, r->id);
    if (vmm_dir_remove(in->dir, &e) != MVM_OK ||
        store_instance_delete(c->st, &recovery_actor, r->tenant, r->id,
                              1u << S(DESTROYED), &e) != MVM_OK) {
        fprintf(stderr, "mvmd: recovery: cannot finish deleting %s: %s\n", r->id, e.msg);
        return;
    }
    core_inst_stop_logs(in);
    core_inst_forget(in);
    rep->finished++;
}

/* A process whose memory the previous mvmd's page server was serving
 * waits forever on its next missing page: it is ended. An instance woken
 * from its own snapshot goes back to sleep on it (what it did since the
 * wake is lost); a clone has nothing to go back to: FAILED. */
static void end_uffd_process(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    vmm_proc_kill(r->pid, r->start_ticks);
    vmm_dir_clean_runtime(in->dir);
    char snap[PATH_MAX + 48];
    core_snapshot_dir(in, snap, sizeof snap);
    size_t l = strlen(snap);
    snprintf(snap + l, sizeof snap - l, "/%s", r->snapshot);
    static const char lost[] = "mvmd restarted while its page server (memory backend UFFD) "
                               "was serving this instance's memory";
    char why[256];
    if (r->snapshot[0] && access(snap, F_OK) == 0) {
        snprintf(why, sizeof why, "%s: put back to sleep from its snapshot %s (what it did "
                                  "since its wake is lost)", lost, r->snapshot);
        store_instance_change ch = {.set_state = true, .state = S(SLEEPING), .set_process = true,
                                    .process = NULL, .last_error = why};
        change(c, r, &ch);
        r->state = S(SLEEPING);
        rep->rolled_back++;
    } else {
        snprintf(why, sizeof why, "%s: its process was ended", lost);
        store_instance_change ch = {.set_state = true, .state = S(FAILED), .set_process = true,
                                    .process = NULL, .last_error = why};
        change(c, r, &ch);
        rep->lost++;
    }
    fprintf(stderr, "mvmd: recovery: instance %s: %s\n", r->id, why);
}

/* Re-adopts a live instance's process, or records it lost. With resume, a
 * machine found paused is resumed first (an interrupted sleep paused it). */
static void adopt(core *c, core_inst *in, rec_item *r, core_recovery *rep, bool resume) {
    char why[MVM_ERROR_MSG_MAX], st[32] = "";
    vmm_machine *m = NULL;
    mvm_error e;
    if (r->pid && r->uffd) {
        end_uffd_process(c, in, r, rep);
        return;
    }
    if (!r->pid) {
        snprintf(why, sizeof why, "no Firecracker process was recorded for this %s instance",
                 instance_state_name(r->state));
    } else if (strcmp(r->boot_id, vmm_boot_id()) != 0) {
        snprintf(why, sizeof why,
                 "the node restarted since its Firecracker process (pid %d) was started",
                 (int)r->pid);
    } else if (vmm_machine_adopt(c->vmm, r->id, in->dir, r->pid, r->start_ticks, st, sizeof st,
                                 &m, &e) != MVM_OK) {
        snprintf(why, sizeof why, "%.400s while mvmd was not running", e.msg);
        if (e.code == MVM_UNAVAILABLE) /* alive but deaf: it cannot be driven */
            vmm_proc_kill(r->pid, r->start_ticks);
    } else {
        if (resume && strcmp(st, "Paused") == 0) {
            if (vmm_machine_resume(m, &e) == MVM_OK)
                snprintf(st, sizeof st, "Running");
            else
                fprintf(stderr, "mvmd: recovery: cannot resume %s: %s\n", r->id, e.msg);
        }
        /* The record follows what the machine says: paused is WARM. */
        Mvm__V1__InstanceState want = strcmp(st, "Paused") == 0    ? S(WARM)
                                      : strcmp(st, "Running") == 0 ? S(RUNNING)
                                                                   : r->state;
        if (want != r->state) {
            store_instance_change ch = {.set_state = true, .state = want};
            change(c, r, &ch);
        }
        core_cap_force(c, r->vcpus, r->mem_mib);
        if (core_inst_attach(in, m, r->vcpus, r->mem_mib, &e) == MVM_OK) {
            rep->adopted++;
            return;
        }
        /* it runs but cannot be followed (no descriptors left): it is
         * ended, so that the record says the truth */
        core_cap_release(c, r->vcpus, r->mem_mib);
        snprintf(why, sizeof why, "mvmd could not follow its process after a restart: %.400s",
                 e.msg);
        vmm_machine_kill(m);
        vmm_machine_free(m);
    }
    store_instance_change ch = {.set_state = true, .state = S(FAILED), .set_process = true,
                                .process = NULL, .last_error = why};
    change(c, r, &ch);
    vmm_dir_clean_runtime(in->dir);
    fprintf(stderr, "mvmd: recovery: instance %s FAILED: %s\n", r->id, why);
    rep->lost++;
}

/* Clears an interrupted operation, keeping why as last_error. */
static void clear_op(core *c, rec_item *r, const char *why) {
    store_instance_change ch = {.set_operation = true, .operation = NULL, .last_error = why};
    change(c, r, &ch);
}

static void undo_start(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    char why[160];
    snprintf(why, sizeof why,
             "StartInstance was interrupted (mvmd stopped before it finished); the instance "
             "stays %s", instance_state_name(r->state));
    clear_op(c, r, why);
    vmm_dir_clean_runtime(in->dir); /* its process, if any, dies as an orphan */
    rep->rolled_back++;
}

static void finish_stop(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    vmm_proc_kill(r->pid, r->start_ticks);
    vmm_dir_clean_runtime(in->dir);
    char snaps[PATH_MAX + 16];
    core_snapshot_dir(in, snaps, sizeof snaps);
    vmm_snapshot_prune(snaps, NULL);
    store_instance_change ch = {.set_state = true, .state = S(STOPPED), .set_process = true,
                                .process = NULL, .set_operation = true, .operation = NULL,
                                .set_snapshot = true, .snapshot = NULL};
    change(c, r, &ch);
    rep->finished++;
}

/* A sleep whose snapshot was sealed goes forward; otherwise the guest goes
 * on as it was (re-adopted) and the partial snapshot is removed. */
static void recover_sleep(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    char snaps[PATH_MAX + 16], dir[PATH_MAX + 48];
    core_snapshot_dir(in, snaps, sizeof snaps);
    snprintf(dir, sizeof dir, "%s/%s", snaps, r->op_target);
    vmm_snapshot_info info;
    mvm_error e;
    if (r->op_target[0] && vmm_snapshot_read_info(dir, &info, &e) == MVM_OK) {
        vmm_proc_kill(r->pid, r->start_ticks);
        vmm_dir_clean_runtime(in->dir);
        Google__Protobuf__Timestamp now;
        core_now(&now);
        const vmm_probe *p = vmm_host_probe(c->vmm);
        Mvm__V1__InstanceSnapshot snap = MVM__V1__INSTANCE_SNAPSHOT__INIT;
        snap.id = r->op_target;
        snap.create_time = &now;
        snap.firecracker_version = (char *)p->fc_version;
        snap.snapshot_version = (char *)p->snapshot_version;
        snap.mem_bytes = info.mem_bytes;
        snap.state_bytes = info.state_bytes;
        snap.state_sha256 = info.state_sha256;
        snap.parent_id = r->parent;
        store_instance_change ch = {.set_state = true, .state = S(SLEEPING), .set_process = true,
                                    .process = NULL, .set_operation = true, .operation = NULL,
                                    .set_snapshot = true, .snapshot = &snap};
        change(c, r, &ch);
        vmm_snapshot_prune(snaps, r->op_target);
        snprintf(r->snapshot, sizeof r->snapshot, "%s", r->op_target);
        r->state = S(SLEEPING);
        rep->finished++;
        return;
    }
    vmm_snapshot_prune(snaps, r->snapshot[0] ? r->snapshot : NULL);
    char why[160];
    snprintf(why, sizeof why, "SleepInstance was interrupted before its snapshot was whole; "
                              "the instance went on running");
    clear_op(c, r, why);
    rep->rolled_back++;
    adopt(c, in, r, rep, r->op_from == S(RUNNING));
}

/* A wake from SLEEPING is undone (the snapshot stays; a process it started
 * dies as an orphan); one from WARM, like a pause, leaves a process whose
 * own state says where it got to. */
static void recover_wake_or_pause(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    char why[160];
    if (strcmp(r->op, "WakeInstance") == 0 && r->op_from == S(SLEEPING)) {
        snprintf(why, sizeof why, "WakeInstance was interrupted (mvmd stopped before it "
                                  "finished); the instance stays SLEEPING");
        clear_op(c, r, why);
        vmm_dir_clean_runtime(in->dir);
        rep->rolled_back++;
        return;
    }
    snprintf(why, sizeof why, "%s was interrupted; the instance is as its process says", r->op);
    clear_op(c, r, why);
    rep->rolled_back++;
    adopt(c, in, r, rep, false);
}

/* A clone that was being made: it never was (no record, no files; its
 * process, not adopted, dies as an orphan). */
static void undo_clone(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    mvm_error e;
    core_net_instance_down(c, r->id);
    vmm_dir_remove(in->dir, NULL);
    if (store_instance_delete(c->st, &recovery_actor, r->tenant, r->id, 1u << S(CREATED), &e) !=
        MVM_OK) {
        fprintf(stderr, "mvmd: recovery: cannot remove the unfinished clone %s: %s\n", r->id,
                e.msg);
        return;
    }
    core_inst_stop_logs(in);
    core_inst_forget(in);
    rep->rolled_back++;
}

/* A fork's snapshot of this instance was being taken: the guest goes on
 * (resumed if it was RUNNING); the snapshot, never recorded, is removed
 * (from the instance's directory here, from <state>/snapshots by
 * core_recover_snapshots). */
static void recover_fork(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    char snaps[PATH_MAX + 16];
    core_snapshot_dir(in, snaps, sizeof snaps);
    vmm_snapshot_prune(snaps, r->snapshot[0] ? r->snapshot : NULL);
    clear_op(c, r, "ForkInstances was interrupted before its snapshot was recorded; the "
                   "instance went on");
    rep->rolled_back++;
    adopt(c, in, r, rep, r->op_from == S(RUNNING));
}

/* What recovery does with each interrupted operation. */
static const struct {
    const char *op;
    void (*fn)(core *c, core_inst *in, rec_item *r, core_recovery *rep);
} interrupted[] = {
    {"StartInstance", undo_start},
    {"StopInstance", finish_stop},
    {"SleepInstance", recover_sleep},
    {"WakeInstance", recover_wake_or_pause},
    {"PauseInstance", recover_wake_or_pause},
    {"CloneInstance", undo_clone},
    {"ForkInstances", recover_fork},
};

/* A sleeping instance whose snapshot is gone cannot wake: FAILED. */
static void check_sleeping(core *c, core_inst *in, rec_item *r, core_recovery *rep) {
    char dir[PATH_MAX + 48];
    core_snapshot_dir(in, dir, sizeof dir);
    size_t l = strlen(dir);
    snprintf(dir + l, sizeof dir - l, "/%s", r->snapshot);
    if (r->snapshot[0] && access(dir, F_OK) == 0)
        return;
    char why[200];
    snprintf(why, sizeof why, "the snapshot of this SLEEPING instance (%s) is missing",
             r->snapshot[0] ? r->snapshot : "none recorded");
    store_instance_change ch = {.set_state = true, .state = S(FAILED), .set_snapshot = true,
                                .snapshot = NULL, .last_error = why};
    change(c, r, &ch);
    rep->lost++;
}

static void recover_one(core *c, rec_item *r, core_recovery *rep) {
    mvm_error e;
    core_inst *in = core_inst_get(c, r->tenant, r->id, &e);
    if (!in) {
        fprintf(stderr, "mvmd: recovery: %s: %s\n", r->id, e.msg);
        return;
    }
    bool has_dir = access(in->dir, F_OK) == 0;
    if (has_dir) {
        remove_tmp(in->dir);
        if (core_inst_open_logs(in, &e) != MVM_OK)
            fprintf(stderr, "mvmd: recovery: instance %s logs: %s\n", r->id, e.msg);
    }
    size_t k = 0, n = sizeof interrupted / sizeof interrupted[0];
    while (r->op[0] && k < n && strcmp(interrupted[k].op, r->op) != 0)
        k++;
    if (r->state == S(DESTROYED)) {
        finish_delete(c, in, r, rep); /* its process, if any, dies as an orphan */
    } else if (r->op[0] && k < n) {
        interrupted[k].fn(c, in, r, rep);
    } else if (r->op[0]) {
        /* an operation this build does not know: clear it, say so */
        char why[160];
        snprintf(why, sizeof why, "%s was interrupted and is unknown to this mvmd", r->op);
        clear_op(c, r, why);
        rep->rolled_back++;
        if (instance_state_live(r->state))
            adopt(c, in, r, rep, false);
    } else if (instance_state_live(r->state)) {
        adopt(c, in, r, rep, false);
    } else if (has_dir) {
        vmm_dir_clean_runtime(in->dir);
    }
    /* snapshots: only the recorded one stays (half-written ones go) */
    if (r->state != S(DESTROYED) && has_dir) {
        char snaps[PATH_MAX + 16];
        core_snapshot_dir(in, snaps, sizeof snaps);
        vmm_snapshot_prune(snaps, r->snapshot[0] ? r->snapshot : NULL);
    }
    if (r->state == S(SLEEPING) && !r->op[0])
        check_sleeping(c, in, r, rep);
    core_inst_unref(in);
}

/* Kills processes in instance dirs that are not an adopted machine. */
static void kill_orphan(void *arg, pid_t pid, uint64_t ticks, const char *id) {
    void **a = arg;
    core *c = a[0];
    core_recovery *rep = a[1];
    core_inst *in = core_inst_find(c, id);
    bool owned = false;
    if (in) {
        pthread_mutex_lock(&in->mu);
        owned = in->m && vmm_machine_pid(in->m) == pid && vmm_machine_start_ticks(in->m) == ticks;
        pthread_mutex_unlock(&in->mu);
        core_inst_unref(in);
    }
    if (owned)
        return;
    fprintf(stderr, "mvmd: recovery: killing process %d working in %s/%s: no instance owns it\n",
            (int)pid, vmm_host_instances_dir(c->vmm), id);
    vmm_proc_kill(pid, ticks);
    rep->orphans_killed++;
}

static void remove_stray_dirs(core *c, core_recovery *rep) {
    const char *root = vmm_host_instances_dir(c->vmm);
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        core_inst *in = core_inst_find(c, e->d_name);
        if (in) {
            core_inst_unref(in);
            continue;
        }
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", root, e->d_name) >= (int)sizeof path)
            continue;
        mvm_error err;
        if (vmm_dir_remove(path, &err) == MVM_OK) {
            fprintf(stderr, "mvmd: recovery: removed %s: no instance owns it\n", path);
            rep->dirs_removed++;
        }
    }
    closedir(d);
}

mvm_code core_recover(core *c, core_recovery *rep, mvm_error *err) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(rep, 0, sizeof *rep);
    rec_list l = {0};
    mvm_code rc = store_instance_foreach(c->st, NULL, NULL, collect, &l, NULL, err);
    if (!rc && l.oom)
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "recovery: out of memory");
    if (rc) {
        free(l.items);
        return rc;
    }
    for (size_t i = 0; i < l.n; i++)
        recover_one(c, &l.items[i], rep);
    free(l.items);
    void *arg[2] = {c, rep};
    vmm_proc_scan(c->vmm, kill_orphan, arg);
    remove_stray_dirs(c, rep);
    core_recover_snapshots(c, rep);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->elapsed_us = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
    return MVM_OK;
}
