/* vmm_host.c - the node's ability to run machines: the configured
 * Firecracker binary (resolved on PATH, `--version`, `--snapshot-version`,
 * and GET /version from a first process, so the API that will be driven is
 * the one asked), the KVM device (opens, KVM_GET_API_VERSION is 12), and the
 * instances directory. What is missing is said exactly, for GetInfo and for
 * the FAILED_PRECONDITION of lifecycle calls. */
#include "vmm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000

bool vmm_parse_fc_version(const char *out, char *version, size_t vlen, unsigned *major,
                          unsigned *minor, unsigned *patch) {
    static const char tag[] = "Firecracker v";
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, tag, sizeof tag - 1) != 0)
            continue;
        const char *v = p + sizeof tag - 1;
        unsigned a, b, c;
        int used = 0;
        if (sscanf(v, "%u.%u.%u%n", &a, &b, &c, &used) != 3 || used <= 0)
            return false;
        size_t n = (size_t)used;
        /* a pre-release suffix ("-dev") is kept in the text */
        while (v[n] == '-' || (v[n] >= 'a' && v[n] <= 'z') || (v[n] >= '0' && v[n] <= '9') ||
               v[n] == '.')
            n++;
        if (n >= vlen)
            return false;
        memcpy(version, v, n);
        version[n] = '\0';
        if (major)
            *major = a;
        if (minor)
            *minor = b;
        if (patch)
            *patch = c;
        return true;
    }
    return false;
}

/* Finds name on PATH (or takes it as a path if it has a '/'). */
static bool resolve_bin(const char *name, char *out, size_t cap) {
    if (strchr(name, '/')) {
        if (!realpath(name, out))
            snprintf(out, cap, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && snprintf(out, cap, "%.*s/%s", (int)n, path, name) < (int)cap &&
            access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    out[0] = '\0';
    return false;
}

/* Runs bin with one argument, capturing stdout (bounded in time and size). */
static mvm_code run_capture(const char *bin, const char *arg, char *out, size_t cap,
                            mvm_error *err) {
    out[0] = '\0';
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return mvm_fail(err, MVM_INTERNAL, "pipe: %s", strerror(errno));
    char *argv[] = {(char *)bin, (char *)arg, NULL};
    vmm_spawn_spec s = {.path = bin, .argv = argv, .stdin_fd = -1, .stdout_fd = p[1],
                        .stderr_fd = -1};
    pid_t pid;
    int pidfd;
    mvm_code c = vmm_spawn(&s, &pid, &pidfd, err);
    close(p[1]);
    if (c) {
        close(p[0]);
        return c;
    }
    size_t len = 0;
    int waited = 0;
    while (len + 1 < cap && waited < PROBE_TIMEOUT_MS) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int r = poll(&pf, 1, 100);
        if (r == 0) {
            waited += 100;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = r > 0 ? read(p[0], out + len, cap - 1 - len) : -1;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(p[0]);
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};
    bool ended = poll(&pf, 1, PROBE_TIMEOUT_MS - waited > 0 ? PROBE_TIMEOUT_MS - waited : 0) > 0;
    if (!ended)
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    close(pidfd);
    if (!ended)
        return mvm_fail(err, MVM_DEADLINE_EXCEEDED, "%s %s did not finish in %d ms", bin, arg,
                        PROBE_TIMEOUT_MS);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "%s %s failed (%s %d)", bin, arg,
                        WIFEXITED(st) ? "exit status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return MVM_OK;
}

/* Starts one process in a scratch dir and asks its API for the version. */
static mvm_code probe_api(vmm_host *h, char *version, size_t cap, mvm_error *err) {
    version[0] = '\0';
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/.probe-%d", h->instances_dir, (int)getpid()) >=
        (int)sizeof dir)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "state dir path too long");
    vmm_dir_remove(dir, NULL);
    if (mkdir(dir, 0700) != 0)
        return mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", dir, strerror(errno));
    vmm_machine *m = NULL;
    mvm_code c = vmm_machine_spawn(h, "mvm-probe", dir, &m, err);
    if (!c)
        c = vmm_machine_version(m, version, cap, err);
    if (m) {
        vmm_machine_kill(m);
        vmm_machine_free(m);
    }
    vmm_dir_remove(dir, NULL);
    return c;
}

static void probe_firecracker(vmm_host *h) {
    vmm_probe *p = &h->probe;
    const char *name = h->cfg.firecracker && *h->cfg.firecracker ? h->cfg.firecracker
                                                                  : "firecracker";
    if (!resolve_bin(name, h->fc_bin, sizeof h->fc_bin)) {
        snprintf(p->fc_status, sizeof p->fc_status,
                 strchr(name, '/') ? "Firecracker binary %s is missing or not executable "
                                     "(--firecracker)"
                                   : "no %s on PATH: install Firecracker or give --firecracker PATH",
                 name);
        h->fc_bin[0] = '\0';
        return;
    }
    snprintf(p->fc_path, sizeof p->fc_path, "%s", h->fc_bin);
    char out[2048];
    mvm_error e;
    if (run_capture(h->fc_bin, "--version", out, sizeof out, &e) != MVM_OK) {
        snprintf(p->fc_status, sizeof p->fc_status, "%s", e.msg);
        return;
    }
    char v[32];
    if (!vmm_parse_fc_version(out, v, sizeof v, &p->fc_major, &p->fc_minor, &p->fc_patch)) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(p->fc_status, sizeof p->fc_status,
                 "%.256s --version printed \"%.100s\", not \"Firecracker vX.Y.Z\"", h->fc_bin, out);
        return;
    }
    if (p->fc_major < VMM_FC_MIN_MAJOR ||
        (p->fc_major == VMM_FC_MIN_MAJOR && p->fc_minor < VMM_FC_MIN_MINOR)) {
        snprintf(p->fc_status, sizeof p->fc_status,
                 "Firecracker %s is too old: mvm needs %d.%d or newer", v, VMM_FC_MIN_MAJOR,
                 VMM_FC_MIN_MINOR);
        return;
    }
    if (run_capture(h->fc_bin, "--snapshot-version", out, sizeof out, &e) == MVM_OK) {
        out[strcspn(out, "\r\n")] = '\0';
        snprintf(p->snapshot_version, sizeof p->snapshot_version, "%.31s", out);
    }
    char api_version[32];
    if (probe_api(h, api_version, sizeof api_version, &e) != MVM_OK) {
        snprintf(p->fc_status, sizeof p->fc_status, "%.200s starts but its API does not answer: %.250s",
                 h->fc_bin, e.msg);
        return;
    }
    if (strcmp(api_version, v) != 0) {
        snprintf(p->fc_status, sizeof p->fc_status,
                 "%.256s --version says %s but its API says %s", h->fc_bin, v, api_version);
        return;
    }
    snprintf(p->fc_version, sizeof p->fc_version, "%s", v);
    p->fc_ok = true;
    snprintf(p->fc_status, sizeof p->fc_status, "ok");
}

/* Whether files in dir can be cloned (FICLONE), with two scratch files. */
static bool probe_reflink(const char *dir) {
    char a[PATH_MAX + 32], b[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/.reflink-%d-a", dir, (int)getpid());
    snprintf(b, sizeof b, "%s/.reflink-%d-b", dir, (int)getpid());
    int fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = false;
    if (fa >= 0 && fb >= 0) {
        static const char block[4096];
        ok = write(fa, block, sizeof block) == (ssize_t)sizeof block &&
             ioctl(fb, FICLONE, fa) == 0;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    unlink(a);
    unlink(b);
    return ok;
}

static void probe_kvm(vmm_host *h) {
    vmm_probe *p = &h->probe;
    int fd = open(h->kvm_dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(p->kvm_status, sizeof p->kvm_status, "%.256s: %s%s", h->kvm_dev, strerror(e),
                 e == ENOENT ? " (no KVM: enable virtualisation or load kvm_intel/kvm_amd)"
                 : e == EACCES ? " (mvmd needs read-write access: run as root or join the kvm group)"
                               : "");
        return;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (v != KVM_API_VERSION) {
        snprintf(p->kvm_status, sizeof p->kvm_status, "%.256s: KVM_GET_API_VERSION is %d, not %d",
                 h->kvm_dev, v, KVM_API_VERSION);
        return;
    }
    p->kvm_ok = true;
    snprintf(p->kvm_status, sizeof p->kvm_status, "ok");
}

mvm_code vmm_host_new(const vmm_host_config *cfg, vmm_host **out, mvm_error *err) {
    *out = NULL;
    if (!cfg || !cfg->state_dir || !*cfg->state_dir)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "vmm: a state dir is required");
    vmm_host *h = calloc(1, sizeof *h);
    if (!h)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    h->cfg = *cfg;
    if (!h->cfg.api_timeout_ms)
        h->cfg.api_timeout_ms = 10000;
    if (!h->cfg.start_timeout_ms)
        h->cfg.start_timeout_ms = 5000;
    if (!h->cfg.console_max_bytes)
        h->cfg.console_max_bytes = 1u << 20;
    if (!realpath(cfg->state_dir, h->state_dir)) {
        int e = errno;
        free(h);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "state dir %s: %s", cfg->state_dir,
                        strerror(e));
    }
    if (snprintf(h->instances_dir, sizeof h->instances_dir, "%s/instances", h->state_dir) >=
        (int)sizeof h->instances_dir) {
        free(h);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "state dir %.200s: path too long",
                        cfg->state_dir);
    }
    if (snprintf(h->snapshots_dir, sizeof h->snapshots_dir, "%s/snapshots", h->state_dir) >=
        (int)sizeof h->snapshots_dir) {
        free(h);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "state dir %.200s: path too long",
                        cfg->state_dir);
    }
    snprintf(h->kvm_dev, sizeof h->kvm_dev, "%s", cfg->kvm_device ? cfg->kvm_device : "/dev/kvm");
    const char *dirs[] = {h->instances_dir, h->snapshots_dir};
    for (int i = 0; i < 2; i++) {
        if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) {
            mvm_code c = mvm_fail(err, MVM_INTERNAL, "mkdir %s: %s", dirs[i], strerror(errno));
            free(h);
            return c;
        }
    }
    h->probe.reflink = probe_reflink(h->instances_dir);
    probe_kvm(h);
    probe_firecracker(h);
    h->cfg.state_dir = h->state_dir;
    h->cfg.firecracker = NULL; /* the caller's strings are not kept */
    h->cfg.jailer = NULL;
    h->cfg.kvm_device = NULL;
    *out = h;
    return MVM_OK;
}

void vmm_host_free(vmm_host *h) {
    free(h);
}

const vmm_probe *vmm_host_probe(const vmm_host *h) {
    return &h->probe;
}

mvm_code vmm_host_ready(const vmm_host *h, mvm_error *err) {
    const vmm_probe *p = &h->probe;
    if (p->fc_ok && p->kvm_ok)
        return MVM_OK;
    if (!p->fc_ok && !p->kvm_ok)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "this node cannot run microVMs: Firecracker: %s; KVM: %s", p->fc_status,
                        p->kvm_status);
    return mvm_fail(err, MVM_FAILED_PRECONDITION, "this node cannot run microVMs: %s: %s",
                    p->fc_ok ? "KVM" : "Firecracker", p->fc_ok ? p->kvm_status : p->fc_status);
}

bool vmm_host_fc_at_least(const vmm_host *h, unsigned major, unsigned minor) {
    const vmm_probe *p = &h->probe;
    return p->fc_ok && (p->fc_major > major || (p->fc_major == major && p->fc_minor >= minor));
}

void vmm_instance_dir(const vmm_host *h, const char *id, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", h->instances_dir, id);
}

const char *vmm_host_instances_dir(const vmm_host *h) {
    return h->instances_dir;
}

const char *vmm_host_snapshots_dir(const vmm_host *h) {
    return h->snapshots_dir;
}

const vmm_host_config *vmm_host_config_of(const vmm_host *h) {
    return &h->cfg;
}
