/* vmm_machine.c - one Firecracker process: spawning it in its instance
 * directory and waiting for its API socket, configuring and booting the
 * guest through the API, pause / resume / Ctrl-Alt-Del / MMDS / snapshots,
 * re-adopting a process a previous mvmd started, and waiting for, killing
 * and reaping it. */
#include "vmm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BOOT_TIMEOUT_MS 60000     /* InstanceStart loads the kernel: slow on emulated KVM */
#define SNAPSHOT_TIMEOUT_MS 600000 /* writes all guest memory */
#define KILL_WAIT_MS 10000

struct vmm_machine {
    vmm_host *host;
    char id[72];
    char dir[PATH_MAX];
    int dirfd;        /* O_PATH */
    pid_t pid;
    int pidfd;
    uint64_t start_ticks;
    bool child;       /* spawned by this mvmd: it reaps it */
    bool ended;
    int status;       /* wait status once ended (child only) */
    vmm_http *http;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static vmm_machine *machine_new(vmm_host *h, const char *id, const char *dir, mvm_error *err) {
    vmm_machine *m = calloc(1, sizeof *m);
    if (!m) {
        mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    m->host = h;
    m->pidfd = -1;
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    m->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (m->dirfd < 0) {
        mvm_fail(err, errno == ENOENT ? MVM_FAILED_PRECONDITION : MVM_INTERNAL,
                 "instance directory %s: %s", dir, strerror(errno));
        free(m);
        return NULL;
    }
    return m;
}

void vmm_machine_free(vmm_machine *m) {
    if (!m)
        return;
    vmm_http_free(m->http);
    if (m->pidfd >= 0)
        close(m->pidfd);
    if (m->dirfd >= 0)
        close(m->dirfd);
    free(m);
}

pid_t vmm_machine_pid(const vmm_machine *m) {
    return m->pid;
}

int vmm_machine_pidfd(const vmm_machine *m) {
    return m->pidfd;
}

uint64_t vmm_machine_start_ticks(const vmm_machine *m) {
    return m->start_ticks;
}

/* ---- process end ---- */

bool vmm_machine_exited(vmm_machine *m, int *status) {
    if (!m->ended) {
        struct pollfd p = {.fd = m->pidfd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return false;
        m->ended = true;
        m->status = -1;
        if (m->child) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED) == 0)
                m->status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0)
                                                     : W_EXITCODE(0, si.si_status);
        }
    }
    if (status)
        *status = m->status;
    return true;
}

bool vmm_machine_wait(vmm_machine *m, int timeout_ms, int *status) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (vmm_machine_exited(m, status))
            return true;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = m->pidfd, .events = POLLIN};
        poll(&p, 1, left > 1000 ? 1000 : (int)left);
    }
}

void vmm_machine_kill(vmm_machine *m) {
    if (vmm_machine_exited(m, NULL))
        return;
    syscall(SYS_pidfd_send_signal, m->pidfd, SIGKILL, NULL, 0);
    vmm_machine_wait(m, KILL_WAIT_MS, NULL);
}

/* ---- spawning ---- */

static int open_in(const char *dir, const char *name, int flags) {
    char path[PATH_MAX];
    vmm_path(path, sizeof path, dir, name);
    return open(path, flags | O_CLOEXEC, 0600);
}

static mvm_code make_fifo(const char *dir, const char *name, mvm_error *err) {
    char path[PATH_MAX];
    vmm_path(path, sizeof path, dir, name);
    if (mkfifo(path, 0600) != 0 && errno != EEXIST)
        return mvm_fail(err, MVM_INTERNAL, "mkfifo %s: %s", path, strerror(errno));
    return MVM_OK;
}

/* True once something accepts connections on the API socket. */
static bool api_listening(vmm_machine *m) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", m->dir, VMM_API_SOCK);
    if (n < 0 || n >= (int)sizeof a.sun_path)
        snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", m->dirfd, VMM_API_SOCK);
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

void vmm_machine_diagnostics(const vmm_machine *m, char *buf, size_t cap) {
    char path[PATH_MAX];
    vmm_path(path, sizeof path, m->dir, VMM_STDERR_LOG);
    vmm_file_tail(path, buf, cap);
    /* one line is enough for a status message: keep the last non-empty one */
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *nl = strrchr(buf, '\n');
    if (nl)
        memmove(buf, nl + 1, strlen(nl + 1) + 1);
}

/* Why a process ended, for messages. */
static void describe_end(vmm_machine *m, char *buf, size_t cap) {
    int st = m->status;
    char diag[300];
    vmm_machine_diagnostics(m, diag, sizeof diag);
    if (st == -1)
        snprintf(buf, cap, "Firecracker (pid %d) ended", (int)m->pid);
    else if (WIFEXITED(st))
        snprintf(buf, cap, "Firecracker (pid %d) exited with status %d", (int)m->pid,
                 WEXITSTATUS(st));
    else
        snprintf(buf, cap, "Firecracker (pid %d) was killed by signal %d", (int)m->pid,
                 WTERMSIG(st));
    if (diag[0]) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " (stderr: %s)", diag);
    }
}

mvm_code vmm_machine_spawn(vmm_host *h, const char *id, const char *dir, vmm_machine **out,
                           mvm_error *err) {
    return vmm_machine_spawn_in(h, id, dir, NULL, out, err);
}

mvm_code vmm_machine_spawn_in(vmm_host *h, const char *id, const char *dir, const char *netns,
                              vmm_machine **out, mvm_error *err) {
    *out = NULL;
    if (!h->fc_bin[0])
        return vmm_host_ready(h, err);
    vmm_machine *m = machine_new(h, id, dir, err);
    if (!m)
        return err ? err->code : MVM_INTERNAL;
    vmm_dir_clean_runtime(dir); /* a dead process's sockets would refuse the binds */
    mvm_code c = MVM_OK;
    const char *fifos[] = {VMM_CONSOLE_FIFO, VMM_FCLOG_FIFO, VMM_METRICS_FIFO};
    for (size_t i = 0; i < 3 && !c; i++)
        c = make_fifo(dir, fifos[i], err);
    int out_fd = -1, err_fd = -1;
    if (!c) {
        /* read-write: the process is a reader too, so it never gets EPIPE
         * when mvmd is away; non-blocking: a full pipe drops output rather
         * than stalling the guest */
        out_fd = open_in(dir, VMM_CONSOLE_FIFO, O_RDWR | O_NONBLOCK);
        err_fd = open_in(dir, VMM_STDERR_LOG, O_WRONLY | O_CREAT | O_APPEND);
        if (out_fd < 0 || err_fd < 0)
            c = mvm_fail(err, MVM_INTERNAL, "opening %s/%s: %s", dir,
                         out_fd < 0 ? VMM_CONSOLE_FIFO : VMM_STDERR_LOG, strerror(errno));
    }
    if (!c) {
        char *argv[] = {h->fc_bin, "--api-sock", VMM_API_SOCK, "--id", m->id, "--log-path",
                        VMM_FCLOG_FIFO, "--level", "Info", "--metrics-path", VMM_METRICS_FIFO,
                        NULL};
        vmm_spawn_spec s = {.path = h->fc_bin, .argv = argv, .cwd = dir, .stdin_fd = -1,
                            .stdout_fd = out_fd, .stderr_fd = err_fd, .new_session = true,
                            .netns = netns};
        c = vmm_spawn(&s, &m->pid, &m->pidfd, err);
    }
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (c) {
        vmm_machine_free(m);
        return c;
    }
    m->child = true;
    m->start_ticks = vmm_proc_start_ticks(m->pid);
    int64_t deadline = now_ms() + h->cfg.start_timeout_ms;
    /* Firecracker binds its socket a few milliseconds after exec: a short
     * fixed poll costs little CPU for that long and finds it at once. */
    int pause_us = 100;
    while (!api_listening(m)) {
        if (vmm_machine_exited(m, NULL)) {
            char why[600];
            describe_end(m, why, sizeof why);
            c = mvm_fail(err, MVM_UNAVAILABLE, "%s before its API socket was ready", why);
            break;
        }
        if (now_ms() > deadline) {
            c = mvm_fail(err, MVM_DEADLINE_EXCEEDED,
                         "Firecracker (pid %d) did not open its API socket in %u ms",
                         (int)m->pid, h->cfg.start_timeout_ms);
            break;
        }
        usleep((useconds_t)pause_us);
    }
    if (!c)
        c = vmm_http_new(dir, m->dirfd, h->cfg.api_timeout_ms, &m->http, err);
    if (!c && !m->start_ticks) /* it ended between spawn and now */
        c = mvm_fail(err, MVM_UNAVAILABLE, "Firecracker (pid %d) ended at once", (int)m->pid);
    if (c) {
        vmm_machine_kill(m);
        vmm_machine_free(m);
        return c;
    }
    *out = m;
    return MVM_OK;
}

mvm_code vmm_machine_adopt(vmm_host *h, const char *id, const char *dir, pid_t pid,
                           uint64_t start_ticks, char *state_out, size_t cap, vmm_machine **out,
                           mvm_error *err) {
    *out = NULL;
    if (pid <= 1 || !start_ticks || vmm_proc_start_ticks(pid) != start_ticks)
        return mvm_fail(err, MVM_NOT_FOUND, "Firecracker process %d of %s is gone", (int)pid, id);
    vmm_machine *m = machine_new(h, id, dir, err);
    if (!m)
        return err ? err->code : MVM_INTERNAL;
    m->pid = pid;
    m->start_ticks = start_ticks;
    m->pidfd = vmm_pidfd_open(pid);
    char cwd[PATH_MAX];
    mvm_code c = MVM_OK;
    if (m->pidfd < 0 || vmm_proc_start_ticks(pid) != start_ticks)
        c = mvm_fail(err, MVM_NOT_FOUND, "Firecracker process %d of %s is gone", (int)pid, id);
    else if (!vmm_proc_cwd(pid, cwd, sizeof cwd) || strcmp(cwd, dir) != 0)
        c = mvm_fail(err, MVM_NOT_FOUND, "process %d is not %s's Firecracker (it works in %s)",
                     (int)pid, id, cwd);
    if (!c)
        c = vmm_http_new(dir, m->dirfd, h->cfg.api_timeout_ms, &m->http, err);
    char state[32];
    if (!c && vmm_machine_state(m, state_out ? state_out : state, state_out ? cap : sizeof state,
                                err) != MVM_OK)
        c = mvm_fail(err, MVM_UNAVAILABLE,
                     "Firecracker process %d of %s lives but its API does not answer: %s",
                     (int)pid, id, err ? err->msg : "");
    if (c) {
        vmm_machine_free(m);
        return c;
    }
    *out = m;
    return MVM_OK;
}

/* ---- the API ---- */

/* A call on a machine whose process may have ended: say so rather than
 * "connection refused". */
static mvm_code call(vmm_machine *m, const char *method, const char *path, json_t *body,
                     uint32_t timeout_ms, json_t **reply, mvm_error *err) {
    mvm_code c = vmm_http_call_timeout(m->http, method, path, body,
                                       timeout_ms ? timeout_ms : m->host->cfg.api_timeout_ms,
                                       reply, err);
    json_decref(body);
    if (c && (c == MVM_UNAVAILABLE || c == MVM_DEADLINE_EXCEEDED) &&
        vmm_machine_wait(m, c == MVM_UNAVAILABLE ? 200 : 0, NULL)) {
        char why[600];
        describe_end(m, why, sizeof why);
        return mvm_fail(err, MVM_UNAVAILABLE, "%s %s: %s", method, path, why);
    }
    return c;
}

mvm_code vmm_machine_version(vmm_machine *m, char *out, size_t cap, mvm_error *err) {
    json_t *r = NULL;
    mvm_code c = call(m, "GET", "/version", NULL, 0, &r, err);
    const char *v = r ? json_string_value(json_object_get(r, "firecracker_version")) : NULL;
    if (!c && !v)
        c = mvm_fail(err, MVM_INTERNAL, "GET /version: no firecracker_version in the answer");
    if (!c)
        snprintf(out, cap, "%s", v);
    json_decref(r);
    return c;
}

mvm_code vmm_machine_state(vmm_machine *m, char *state, size_t cap, mvm_error *err) {
    json_t *r = NULL;
    mvm_code c = call(m, "GET", "/", NULL, 0, &r, err);
    const char *s = r ? json_string_value(json_object_get(r, "state")) : NULL;
    if (!c && !s)
        c = mvm_fail(err, MVM_INTERNAL, "GET /: no state in the answer");
    if (!c)
        snprintf(state, cap, "%s", s);
    json_decref(r);
    return c;
}

/* Builds a JSON object or fails with out-of-memory. */
#define PACK(var, ...)                                                                   \
    json_t *var = json_pack(__VA_ARGS__);                                                \
    if (!var)                                                                            \
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory building a request")

static bool vmm_limits_zero(const vmm_net_limits *l) {
    return !l->rx_bytes_per_s && !l->tx_bytes_per_s && !l->rx_packets_per_s &&
           !l->tx_packets_per_s;
}

/* A Firecracker rate limiter: token buckets refilled every second. A bucket
 * of size 0 means no limit (Firecracker drops it), which is how a PATCH
 * lifts one; on a PUT the zero buckets are left out. */
static json_t *limiter(uint64_t bytes, uint64_t packets, bool keep_zero) {
    json_t *r = json_object();
    if (!r)
        return NULL;
    if ((bytes || keep_zero) &&
        json_object_set_new(r, "bandwidth",
                            json_pack("{s:I, s:i}", "size", (json_int_t)bytes, "refill_time",
                                      1000)))
        goto fail;
    if ((packets || keep_zero) &&
        json_object_set_new(r, "ops",
                            json_pack("{s:I, s:i}", "size", (json_int_t)packets, "refill_time",
                                      1000)))
        goto fail;
    return r;
fail:
    json_decref(r);
    return NULL;
}

/* Adds rx_rate_limiter / tx_rate_limiter to a network-interface body;
 * non-zero when out of memory. */
static int add_limiters(json_t *n, const vmm_net_limits *l, bool keep_zero) {
    uint64_t rb = l->rx_bytes_per_s, rp = l->rx_packets_per_s;
    uint64_t tb = l->tx_bytes_per_s, tp = l->tx_packets_per_s;
    if ((rb || rp || keep_zero) &&
        json_object_set_new(n, "rx_rate_limiter", limiter(rb, rp, keep_zero)))
        return -1;
    if ((tb || tp || keep_zero) &&
        json_object_set_new(n, "tx_rate_limiter", limiter(tb, tp, keep_zero)))
        return -1;
    return 0;
}

mvm_code vmm_machine_net_limits(vmm_machine *m, const vmm_net_limits *l, mvm_error *err) {
    PACK(n, "{s:s}", "iface_id", "eth0");
    if (add_limiters(n, l, true)) {
        json_decref(n);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory building a request");
    }
    return call(m, "PATCH", "/network-interfaces/eth0", n, 0, NULL, err);
}

mvm_code vmm_machine_boot(vmm_machine *m, const vmm_boot_spec *s, mvm_error *err) {
    mvm_code c;
    PACK(mc, "{s:i, s:i, s:b}", "vcpu_count", (int)s->vcpus, "mem_size_mib", (int)s->mem_mib,
         "smt", 0);
    if ((c = call(m, "PUT", "/machine-config", mc, 0, NULL, err)))
        return c;
    PACK(bs, "{s:s, s:s}", "kernel_image_path", s->kernel, "boot_args",
         s->boot_args ? s->boot_args : "");
    if (s->initrd && *s->initrd && json_object_set_new(bs, "initrd_path", json_string(s->initrd))) {
        json_decref(bs);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory building a request");
    }
    if ((c = call(m, "PUT", "/boot-source", bs, 0, NULL, err)))
        return c;
    if (s->rootfs) {
        PACK(d, "{s:s, s:s, s:b, s:b}", "drive_id", "rootfs", "path_on_host", s->rootfs,
             "is_root_device", 1, "is_read_only", 0);
        if ((c = call(m, "PUT", "/drives/rootfs", d, 0, NULL, err)))
            return c;
    }
    if (s->tap) {
        PACK(n, "{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name", s->tap, "guest_mac",
             s->guest_mac ? s->guest_mac : "");
        if (!s->guest_mac)
            json_object_del(n, "guest_mac");
        if (!vmm_limits_zero(&s->net_limits) && add_limiters(n, &s->net_limits, false)) {
            json_decref(n);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory building a request");
        }
        if ((c = call(m, "PUT", "/network-interfaces/eth0", n, 0, NULL, err)))
            return c;
        PACK(mm, "{s:s, s:[s]}", "version", "V2", "network_interfaces", "eth0");
        if ((c = call(m, "PUT", "/mmds/config", mm, 0, NULL, err)))
            return c;
    }
    if (s->vsock_cid) {
        PACK(v, "{s:i, s:s}", "guest_cid", (int)s->vsock_cid, "uds_path", VMM_VSOCK);
        if ((c = call(m, "PUT", "/vsock", v, 0, NULL, err)))
            return c;
    }
    if (s->mmds_json && (c = vmm_machine_mmds_put(m, s->mmds_json, err)))
        return c;
    PACK(a, "{s:s}", "action_type", "InstanceStart");
    return call(m, "PUT", "/actions", a, BOOT_TIMEOUT_MS, NULL, err);
}

mvm_code vmm_machine_mmds_put(vmm_machine *m, const char *text, mvm_error *err) {
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    if (!doc)
        return mvm_fail(err, MVM_INTERNAL, "MMDS document is not JSON: %s", je.text);
    return call(m, "PUT", "/mmds", doc, 0, NULL, err);
}

static mvm_code set_vm_state(vmm_machine *m, const char *state, mvm_error *err) {
    PACK(b, "{s:s}", "state", state);
    return call(m, "PATCH", "/vm", b, 0, NULL, err);
}

mvm_code vmm_machine_pause(vmm_machine *m, mvm_error *err) {
    return set_vm_state(m, "Paused", err);
}

mvm_code vmm_machine_resume(vmm_machine *m, mvm_error *err) {
    return set_vm_state(m, "Resumed", err);
}

mvm_code vmm_machine_flush_metrics(vmm_machine *m, mvm_error *err) {
    PACK(a, "{s:s}", "action_type", "FlushMetrics");
    return call(m, "PUT", "/actions", a, 0, NULL, err);
}

mvm_code vmm_machine_ctrl_alt_del(vmm_machine *m, mvm_error *err) {
    PACK(a, "{s:s}", "action_type", "SendCtrlAltDel");
    return call(m, "PUT", "/actions", a, 0, NULL, err);
}

mvm_code vmm_machine_snapshot_create(vmm_machine *m, const char *state_path,
                                     const char *mem_path, mvm_error *err) {
    PACK(b, "{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path", state_path,
         "mem_file_path", mem_path);
    return call(m, "PUT", "/snapshot/create", b, SNAPSHOT_TIMEOUT_MS, NULL, err);
}

mvm_code vmm_machine_snapshot_load(vmm_machine *m, const char *state_path,
                                   const char *mem_path, bool uffd, bool resume, mvm_error *err) {
    PACK(b, "{s:s, s:{s:s, s:s}, s:b}", "snapshot_path", state_path, "mem_backend",
         "backend_type", uffd ? "Uffd" : "File", "backend_path", mem_path, "resume_vm",
         resume ? 1 : 0);
    return call(m, "PUT", "/snapshot/load", b, SNAPSHOT_TIMEOUT_MS, NULL, err);
}

/* ---- the directory ---- */

void vmm_dir_clean_runtime(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, VMM_API_SOCK) == 0 || strcmp(e->d_name, VMM_UFFD_SOCK) == 0 ||
            strncmp(e->d_name, VMM_VSOCK, strlen(VMM_VSOCK)) == 0)
            unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

mvm_code vmm_dir_remove(const char *dir, mvm_error *err) {
    if (access(dir, F_OK) != 0)
        return MVM_OK;
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return mvm_fail(err, MVM_INTERNAL, "removing %s: %s", dir, strerror(errno));
    return MVM_OK;
}
