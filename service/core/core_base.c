/* core_base.c - pools' base snapshots: building one in the background,
 * retiring one, and putting the snapshots directory right after a crash.
 *
 * A build (one thread per pool building):
 *   1. the store records BUILDING with a new snapshot id (the build id);
 *   2. a template microVM boots from the pool's images in
 *      <state>/instances/<build id>/ (no instance record: after a crash,
 *      recovery kills its process and removes its directory like any
 *      other that no record owns), its capacity reserved like an
 *      instance's;
 *   3. it is ready once a console line matches the pool's ready_pattern
 *      (POSIX ERE), then ready_delay_seconds later; it fails if its
 *      process ends or ready_timeout_seconds pass first;
 *   4. it is paused and snapshotted into its directory under a temporary
 *      name; its process ends; its disk joins the snapshot's files; the
 *      snapshot is sealed (synced, hashed, renamed) and moved to
 *      <state>/snapshots/<build id>/;
 *   5. the store records the Snapshot and makes it the pool's base in one
 *      write, retiring the one it replaces, unless the build was cancelled
 *      or superseded meanwhile (then its files are removed).
 * A failure records FAILED with the reason and the template's console tail.
 *
 * After a restart a pool still BUILDING has its build started again, and a
 * build that sealed its snapshot but did not record it is recorded. */
#include "core_internal.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_DEFAULT_S 600
#define POLL_MS 50
#define LINE_MAX_BYTES 4096

static const store_actor build_actor = {.identity = "mvmd", .method = "mvmd/base-snapshot"};

typedef struct core_build {
    struct core_build *next;
    core *c;
    char tenant[64], pool[64], id[24];
    bool cancel; /* under c->build_mu */
    bool done;   /* the thread has finished: join it */
    pthread_t thread;
} core_build;

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool cancelled(core_build *b) {
    pthread_mutex_lock(&b->c->build_mu);
    bool x = b->cancel;
    pthread_mutex_unlock(&b->c->build_mu);
    return x;
}

/* ---- waiting for the template to be ready ---- */

typedef struct ready_wait {
    regex_t re;
    bool has_re;
    uint64_t from;             /* console offset read up to */
    char line[LINE_MAX_BYTES]; /* the line being assembled */
    size_t len;
    bool matched;
} ready_wait;

/* Feeds console bytes, matching each whole line (a line longer than the
 * buffer is matched in pieces). */
static void feed(ready_wait *w, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n && !w->matched; i++) {
        bool end = p[i] == '\n' || w->len == sizeof w->line - 1;
        if (p[i] != '\n' && p[i] != '\r')
            w->line[w->len++] = (char)p[i];
        if (!end)
            continue;
        w->line[w->len] = '\0';
        if (regexec(&w->re, w->line, 0, NULL, 0) == 0)
            w->matched = true;
        w->len = 0;
    }
}

/* Reads what the console log gained since the last call. */
static void read_console(core_inst *in, ready_wait *w) {
    pthread_mutex_lock(&in->mu);
    vmm_logpipe *lp = in->logs[CORE_LOG_CONSOLE];
    pthread_mutex_unlock(&in->mu);
    if (!lp)
        return;
    uint8_t buf[8192];
    for (;;) {
        uint64_t first;
        size_t n = vmm_logpipe_read(lp, w->from, buf, sizeof buf, &first);
        if (n == 0)
            break;
        feed(w, buf, n);
        w->from = first + n;
    }
}

/* Why the template is not usable now, or MVM_OK. */
static mvm_code template_alive(core_build *b, core_inst *in, vmm_machine *m, mvm_error *err) {
    if (cancelled(b))
        return mvm_fail(err, MVM_ABORTED, "the build was cancelled");
    if (vmm_machine_exited(m, NULL)) {
        char why[512];
        bool clean;
        core_describe_exit(in, m, why, sizeof why, &clean);
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "the template stopped before it was ready: %s",
                        why);
    }
    return MVM_OK;
}

static mvm_code wait_ready(core_build *b, core_inst *in, vmm_machine *m, const Mvm__V1__Pool *p,
                           mvm_error *err) {
    ready_wait w = {0};
    if (p->ready_pattern && *p->ready_pattern) {
        int rc = regcomp(&w.re, p->ready_pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &w.re, msg, sizeof msg);
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "ready_pattern \"%.200s\": %s",
                            p->ready_pattern, msg);
        }
        w.has_re = true;
    }
    uint32_t timeout_s = p->ready_timeout_seconds ? p->ready_timeout_seconds
                                                  : READY_TIMEOUT_DEFAULT_S;
    int64_t t0 = now_ms(), deadline = t0 + (int64_t)timeout_s * 1000;
    mvm_code rc = MVM_OK;
    while (w.has_re && !w.matched) {
        core_inst_pump_logs(in); /* all of them: Firecracker must never block on its log */
        read_console(in, &w);
        if (w.matched || (rc = template_alive(b, in, m, err)) != MVM_OK)
            break;
        if (now_ms() >= deadline) {
            rc = mvm_fail(err, MVM_DEADLINE_EXCEEDED,
                          "no console line of the template matched ready_pattern \"%.200s\" "
                          "within %u s (ready_timeout_seconds)",
                          p->ready_pattern, timeout_s);
            break;
        }
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (w.has_re)
        regfree(&w.re);
    int64_t settle_until = now_ms() + (int64_t)p->ready_delay_seconds * 1000;
    while (!rc && now_ms() < settle_until) {
        core_inst_pump_logs(in);
        if ((rc = template_alive(b, in, m, err)) != MVM_OK)
            break;
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return rc;
}

/* ---- the build ---- */

/* The MMDS document of a template: what it is, no instance identity. */
static char *template_identity(const core_build *b) {
    char *text = NULL;
    size_t n = strlen(b->tenant) + strlen(b->pool) + strlen(b->id) + 96;
    text = malloc(n);
    if (text)
        snprintf(text, n, "{\"mvm\":{\"tenant\":\"%s\",\"pool\":\"%s\",\"template\":\"%s\"}}",
                 b->tenant, b->pool, b->id);
    return text; /* names and ids are DNS labels and hex: nothing to escape */
}

/* Steps 2-4: the sealed snapshot ends up in <state>/snapshots/<id>/. */
static mvm_code build_files(core_build *b, core_inst *in, const Mvm__V1__Pool *p,
                            vmm_snapshot_info *info, uint64_t *ready_ms, mvm_error *err) {
    core *c = b->c;
    mvm_code rc = core_check_images(p, MVM_FAILED_PRECONDITION, err);
    if (!rc)
        rc = core_can_run(c, err);
    bool reserved = false;
    if (!rc && !(rc = core_cap_reserve(c, p->vcpus, p->mem_mib, b->id, err)))
        reserved = true;
    if (!rc)
        rc = core_prepare_dir(in, p->rootfs_image, p->disk_mib << 20, err);
    if (!rc)
        rc = core_inst_start_logs(in, err);
    vmm_machine *m = NULL;
    char *mmds = NULL;
    char netns[PATH_MAX];
    if (!rc) /* tap0 with no way out: every clone finds its own tap0 */
        rc = core_net_sandbox_up(c, b->id, netns, sizeof netns, err);
    if (!rc)
        rc = vmm_machine_spawn_in(c->vmm, b->id, in->dir, *netns ? netns : NULL, &m, err);
    if (!rc && !(mmds = template_identity(b)))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    int64_t t0 = now_ms();
    if (!rc) {
        char args[CORE_BOOT_ARGS_MAX];
        vmm_boot_spec spec = {.vcpus = p->vcpus, .mem_mib = p->mem_mib,
                              .kernel = p->kernel_image, .initrd = p->initrd_image,
                              .rootfs = VMM_SNAPSHOT_DISK, .mmds_json = mmds,
                              .vsock_cid = CORE_VSOCK_CID};
        core_net_boot_spec(c, NULL, p, &spec, args, sizeof args);
        rc = vmm_machine_boot(m, &spec, err);
    }
    free(mmds);
    if (!rc) {
        core_failpoint("base.booted");
        rc = wait_ready(b, in, m, p, err);
    }
    *ready_ms = (uint64_t)(now_ms() - t0);
    char parent[PATH_MAX + 16], tmp[PATH_MAX + 48], state[64], mem[64];
    core_snapshot_dir(in, parent, sizeof parent);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", parent, b->id);
    snprintf(state, sizeof state, "snapshots/%s.tmp/%s", b->id, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "snapshots/%s.tmp/%s", b->id, VMM_SNAPSHOT_MEM);
    if (!rc)
        rc = vmm_machine_pause(m, err);
    if (!rc && ((mkdir(parent, 0700) != 0 && errno != EEXIST) || mkdir(tmp, 0700) != 0))
        rc = mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", tmp, strerror(errno));
    if (!rc && !(rc = vmm_machine_snapshot_create(m, state, mem, err)))
        core_failpoint("base.written");
    if (rc && m) { /* what the template said last is the best clue */
        char tail[160], path[PATH_MAX + 16];
        core_inst_pump_logs(in);
        snprintf(path, sizeof path, "%s/console.log", in->dir);
        vmm_file_tail(path, tail, sizeof tail);
        for (char *q = tail; *q; q++) /* one line of ASCII: the store wants UTF-8 */
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                *q = (unsigned char)*q >= 0x7f ? '?' : ' ';
        size_t l = strlen(err->msg);
        if (*tail)
            snprintf(err->msg + l, sizeof err->msg - l, "; the template's console ends: \"%s\"",
                     tail);
    }
    if (m) { /* the template's work is done either way */
        vmm_machine_kill(m);
        vmm_machine_free(m);
    }
    if (reserved)
        core_cap_release(c, p->vcpus, p->mem_mib);
    core_inst_stop_logs(in);
    vmm_dir_clean_runtime(in->dir);
    if (rc)
        return rc;
    char disk[PATH_MAX + 16], disk_dst[PATH_MAX + 64], sealed[PATH_MAX + 48];
    snprintf(disk, sizeof disk, "%s/%s", in->dir, VMM_SNAPSHOT_DISK);
    snprintf(disk_dst, sizeof disk_dst, "%s/%s", tmp, VMM_SNAPSHOT_DISK);
    if (rename(disk, disk_dst) != 0)
        return mvm_fail(err, MVM_INTERNAL, "moving the template's disk into its snapshot: %s",
                        strerror(errno));
    rc = vmm_snapshot_seal(parent, b->id, info, err);
    snprintf(sealed, sizeof sealed, "%s/%s", parent, b->id);
    if (!rc)
        rc = vmm_snapshot_move(sealed, vmm_host_snapshots_dir(c->vmm), b->id, err);
    if (!rc)
        core_failpoint("base.sealed");
    return rc;
}

/* The Snapshot record of a base built from pool p. */
static void base_record(core *c, const Mvm__V1__Pool *p, const char *id,
                        const vmm_snapshot_info *info, uint64_t ready_ms, Mvm__V1__Snapshot *s) {
    const vmm_probe *pr = vmm_host_probe(c->vmm);
    mvm__v1__snapshot__init(s);
    s->tenant = p->tenant;
    s->pool = p->name;
    s->id = (char *)id;
    s->kind = MVM__V1__SNAPSHOT_KIND__SNAPSHOT_KIND_BASE;
    s->firecracker_version = (char *)pr->fc_version;
    s->snapshot_version = (char *)pr->snapshot_version;
    s->vcpus = p->vcpus;
    s->mem_mib = p->mem_mib;
    s->kernel_image = p->kernel_image;
    s->rootfs_image = p->rootfs_image;
    s->initrd_image = p->initrd_image;
    s->boot_args = p->boot_args;
    s->mem_bytes = info->mem_bytes;
    s->state_bytes = info->state_bytes;
    s->disk_bytes = info->disk_bytes;
    s->state_sha256 = (char *)info->state_sha256;
    s->ready_ms = ready_ms;
}

static void run_build(core_build *b) {
    core *c = b->c;
    mvm_error err = {0};
    Mvm__V1__Pool *p = NULL;
    mvm_code rc = store_pool_get(c->st, b->tenant, b->pool, NULL, &p, &err);
    if (rc || !p->base_snapshot || !p->base_snapshot->build_id ||
        strcmp(p->base_snapshot->build_id, b->id) != 0) {
        core_free_msg(p); /* deleted, cancelled or superseded meanwhile */
        return;
    }
    core_inst *in = core_inst_get(c, b->tenant, b->id, &err);
    if (!in) {
        store_pool_base_fail(c->st, &build_actor, b->tenant, b->pool, b->id, err.msg, &err);
        core_free_msg(p);
        return;
    }
    fprintf(stderr, "mvmd: pool %s/%s: building base snapshot %s\n", b->tenant, b->pool, b->id);
    vmm_snapshot_info info = {0};
    uint64_t ready_ms = 0;
    rc = core_inst_claim(in, "BuildBaseSnapshot", &err);
    bool claimed = rc == MVM_OK;
    if (!rc)
        rc = build_files(b, in, p, &info, &ready_ms, &err);
    vmm_dir_remove(in->dir, NULL); /* the template's directory */
    core_net_instance_down(c, b->id); /* and its sandbox */
    if (claimed)
        core_inst_release(in);
    core_inst_forget(in);
    core_inst_unref(in);
    char path[PATH_MAX];
    core_snapshot_path(c, b->id, path, sizeof path);
    if (!rc) {
        Mvm__V1__Snapshot s;
        base_record(c, p, b->id, &info, ready_ms, &s);
        rc = store_snapshot_create(c->st, &build_actor, &s, b->id, NULL, NULL, &err);
        if (rc)
            vmm_dir_remove(path, NULL);
        else
            fprintf(stderr, "mvmd: pool %s/%s: base snapshot %s READY (template ready in %llu ms)\n",
                    b->tenant, b->pool, b->id, (unsigned long long)ready_ms);
        core_janitor_kick(c);   /* the one it replaced may be unused */
        core_reconcile_kick(c); /* the pool's next instances are clones */
    } else {
        mvm_error_context(&err, "building the base snapshot of pool %s/%s", b->tenant, b->pool);
        fprintf(stderr, "mvmd: %s\n", err.msg);
        mvm_error e2;
        if (!cancelled(b) && store_pool_base_fail(c->st, &build_actor, b->tenant, b->pool, b->id,
                                                  err.msg, &e2) != MVM_OK)
            fprintf(stderr, "mvmd: pool %s/%s: cannot record the failed build: %s\n", b->tenant,
                    b->pool, e2.msg);
    }
    core_free_msg(p);
}

static void *build_main(void *arg) {
    core_build *b = arg;
    pthread_setname_np(pthread_self(), "mvmd-build");
    run_build(b);
    pthread_mutex_lock(&b->c->build_mu);
    b->done = true;
    pthread_mutex_unlock(&b->c->build_mu);
    return NULL;
}

/* Joins and frees finished builds (build_mu held). */
static void reap_builds(core *c) {
    for (core_build **pp = &c->builds; *pp;) {
        core_build *b = *pp;
        if (!b->done) {
            pp = &b->next;
            continue;
        }
        *pp = b->next;
        pthread_join(b->thread, NULL);
        free(b);
    }
}

/* Starts the build of pool p's base snapshot build_id unless it runs. */
static void start_build(core *c, const char *tenant, const char *pool, const char *build_id) {
    pthread_mutex_lock(&c->build_mu);
    reap_builds(c);
    for (core_build *b = c->builds; b; b = b->next) {
        if (strcmp(b->tenant, tenant) == 0 && strcmp(b->pool, pool) == 0) {
            if (strcmp(b->id, build_id) == 0) {
                pthread_mutex_unlock(&c->build_mu);
                return; /* running */
            }
            b->cancel = true; /* superseded */
        }
    }
    core_build *b = calloc(1, sizeof *b);
    if (b) {
        b->c = c;
        snprintf(b->tenant, sizeof b->tenant, "%s", tenant);
        snprintf(b->pool, sizeof b->pool, "%s", pool);
        snprintf(b->id, sizeof b->id, "%s", build_id);
        if (pthread_create(&b->thread, NULL, build_main, b) == 0) {
            b->next = c->builds;
            c->builds = b;
            b = NULL;
        }
    }
    pthread_mutex_unlock(&c->build_mu);
    if (b || !c->builds) {
        free(b);
        mvm_error e;
        store_pool_base_fail(c->st, &build_actor, tenant, pool, build_id,
                             "mvmd could not start the build (no memory or threads)", &e);
    }
}

static void cancel_builds(core *c, const char *tenant, const char *pool) {
    pthread_mutex_lock(&c->build_mu);
    for (core_build *b = c->builds; b; b = b->next)
        if (strcmp(b->tenant, tenant) == 0 && strcmp(b->pool, pool) == 0)
            b->cancel = true;
    pthread_mutex_unlock(&c->build_mu);
}

void core_builds_stop(core *c) {
    pthread_mutex_lock(&c->build_mu);
    for (core_build *b = c->builds; b; b = b->next)
        b->cancel = true;
    while (c->builds) {
        core_build *b = c->builds;
        c->builds = b->next;
        pthread_mutex_unlock(&c->build_mu);
        pthread_join(b->thread, NULL);
        free(b);
        pthread_mutex_lock(&c->build_mu);
    }
    pthread_mutex_unlock(&c->build_mu);
}

void core_pool_changed(core *c, const Mvm__V1__Pool *p) {
    const Mvm__V1__BaseSnapshot *bs = p ? p->base_snapshot : NULL;
    if (bs && bs->state == MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_BUILDING &&
        bs->build_id && *bs->build_id)
        start_build(c, p->tenant, p->name, bs->build_id);
    else if (p)
        cancel_builds(c, p->tenant, p->name);
    core_janitor_kick(c);
}

/* ---- the RPCs ---- */

mvm_code core_pool_build_base(core *c, const store_actor *who, const char *tenant,
                              const char *name, ProtobufCAllocator *alloc, Mvm__V1__Pool **out,
                              mvm_error *err) {
    *out = NULL;
    Mvm__V1__Pool *p = NULL;
    mvm_code rc = store_pool_get(c->st, tenant, name, NULL, &p, err);
    if (!rc)
        rc = core_check_images(p, MVM_FAILED_PRECONDITION, err);
    if (!rc)
        rc = core_can_run(c, err);
    core_free_msg(p);
    char id[19];
    bool started = false;
    if (!rc)
        rc = core_new_snapshot_id(id, err);
    if (!rc)
        rc = store_pool_base_begin(c->st, who, tenant, name, id, &started, alloc, out, err);
    if (!rc)
        core_pool_changed(c, *out); /* also re-runs a build lost with its thread */
    if (rc)
        mvm_error_context(err, "BuildBaseSnapshot %s/%s", tenant ? tenant : "", name ? name : "");
    return rc;
}

mvm_code core_pool_delete_base(core *c, const store_actor *who, const char *tenant,
                               const char *name, ProtobufCAllocator *alloc, Mvm__V1__Pool **out,
                               mvm_error *err) {
    mvm_code rc = store_pool_base_clear(c->st, who, tenant, name, NULL,
                                        "deleted by DeleteBaseSnapshot", alloc, out, err);
    if (!rc)
        core_pool_changed(c, *out);
    return rc;
}

/* ---- recovery of <state>/snapshots ---- */

typedef struct id_set {
    char (*ids)[24];
    size_t n, cap;
} id_set;

static bool id_add(id_set *s, const char *id) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        char(*ids)[24] = realloc(s->ids, cap * sizeof *ids);
        if (!ids)
            return false;
        s->ids = ids;
        s->cap = cap;
    }
    snprintf(s->ids[s->n++], 24, "%s", id);
    return true;
}

static bool id_has(const id_set *s, const char *id) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return true;
    return false;
}

typedef struct snap_scan {
    core *c;
    id_set known;   /* every recorded snapshot */
    id_set missing; /* recorded, READY, files gone: "tenant\0id" pairs below */
    char (*missing_tenant)[64];
    bool oom;
} snap_scan;

static bool note_snapshot(void *arg, const Mvm__V1__Snapshot *s) {
    snap_scan *sc = arg;
    if (!id_add(&sc->known, s->id)) {
        sc->oom = true;
        return false;
    }
    char dir[PATH_MAX];
    core_snapshot_path(sc->c, s->id, dir, sizeof dir);
    if (s->state == MVM__V1__SNAPSHOT_STATE__SNAPSHOT_STATE_READY && access(dir, F_OK) != 0) {
        size_t k = sc->missing.n;
        char(*t)[64] = realloc(sc->missing_tenant, (k + 1) * sizeof *t);
        if (!t || !id_add(&sc->missing, s->id)) {
            free(t == sc->missing_tenant ? NULL : t);
            sc->oom = true;
            return false;
        }
        sc->missing_tenant = t;
        snprintf(t[k], 64, "%s", s->tenant);
    }
    return true;
}

typedef struct build_list {
    struct {
        char tenant[64], pool[64], id[24];
    } *items;
    size_t n;
    bool oom;
} build_list;

static bool note_build(void *arg, const Mvm__V1__Pool *p) {
    build_list *l = arg;
    const Mvm__V1__BaseSnapshot *bs = p->base_snapshot;
    if (!bs || bs->state != MVM__V1__BASE_SNAPSHOT_STATE__BASE_SNAPSHOT_STATE_BUILDING ||
        !bs->build_id || !*bs->build_id)
        return true;
    void *it = realloc(l->items, (l->n + 1) * sizeof *l->items);
    if (!it) {
        l->oom = true;
        return false;
    }
    l->items = it;
    snprintf(l->items[l->n].tenant, 64, "%s", p->tenant);
    snprintf(l->items[l->n].pool, 64, "%s", p->name);
    snprintf(l->items[l->n].id, 24, "%s", bs->build_id);
    l->n++;
    return true;
}

/* A build whose snapshot was sealed in place but not recorded. */
static bool finish_sealed_build(core *c, const char *tenant, const char *pool, const char *id) {
    char dir[PATH_MAX];
    core_snapshot_path(c, id, dir, sizeof dir);
    vmm_snapshot_info info;
    mvm_error e;
    Mvm__V1__Pool *p = NULL;
    if (vmm_snapshot_read_info(dir, &info, &e) != MVM_OK ||
        store_pool_get(c->st, tenant, pool, NULL, &p, &e) != MVM_OK)
        return false;
    Mvm__V1__Snapshot s;
    base_record(c, p, id, &info, 0, &s);
    bool ok = store_snapshot_create(c->st, &build_actor, &s, id, NULL, NULL, &e) == MVM_OK;
    if (!ok)
        fprintf(stderr, "mvmd: recovery: base snapshot %s: %s\n", id, e.msg);
    core_free_msg(p);
    return ok;
}

void core_recover_snapshots(core *c, core_recovery *rep) {
    snap_scan sc = {.c = c};
    build_list bl = {0};
    mvm_error e;
    if (store_snapshot_foreach(c->st, NULL, note_snapshot, &sc, &e) != MVM_OK || sc.oom ||
        store_pool_foreach(c->st, note_build, &bl, &e) != MVM_OK || bl.oom) {
        fprintf(stderr, "mvmd: recovery: cannot list snapshots; their directory is left as it "
                        "is\n");
        goto out;
    }
    for (size_t i = 0; i < sc.missing.n; i++) {
        char why[PATH_MAX + 64];
        char dir[PATH_MAX];
        core_snapshot_path(c, sc.missing.ids[i], dir, sizeof dir);
        snprintf(why, sizeof why, "its files are missing (%s)", dir);
        if (store_snapshot_retire(c->st, &build_actor, sc.missing_tenant[i], sc.missing.ids[i],
                                  why, &e) == MVM_OK)
            fprintf(stderr, "mvmd: recovery: snapshot %s retired: %s\n", sc.missing.ids[i], why);
    }
    const char *root = vmm_host_snapshots_dir(c->vmm);
    DIR *d = opendir(root);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || id_has(&sc.known, name))
            continue;
        bool keep = false;
        for (size_t i = 0; i < bl.n && !keep; i++)
            if (strcmp(bl.items[i].id, name) == 0)
                keep = finish_sealed_build(c, bl.items[i].tenant, bl.items[i].pool, name);
        if (keep) {
            rep->finished++;
            continue;
        }
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", root, name) >= (int)sizeof path)
            continue;
        if (vmm_dir_remove(path, &e) == MVM_OK) {
            fprintf(stderr, "mvmd: recovery: removed %s: no snapshot record owns it\n", path);
            rep->dirs_removed++;
        }
    }
    if (d)
        closedir(d);
out:
    free(sc.known.ids);
    free(sc.missing.ids);
    free(sc.missing_tenant);
    free(bl.items);
}

mvm_code core_start(core *c, mvm_error *err) {
    mvm_code rc = core_janitor_start(c, err);
    if (!rc)
        rc = core_reconcile_start(c, err);
    if (rc)
        return rc;
    build_list bl = {0};
    mvm_error e;
    if (store_pool_foreach(c->st, note_build, &bl, &e) != MVM_OK || bl.oom)
        fprintf(stderr, "mvmd: cannot list pools to restart their base snapshot builds\n");
    for (size_t i = 0; i < bl.n; i++) {
        Mvm__V1__Pool *p = NULL;
        if (store_pool_get(c->st, bl.items[i].tenant, bl.items[i].pool, NULL, &p, &e) == MVM_OK)
            core_pool_changed(c, p); /* recorded meanwhile by recovery: nothing to do */
        core_free_msg(p);
    }
    free(bl.items);
    return MVM_OK;
}
