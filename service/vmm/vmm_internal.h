/* vmm_internal.h - what the service/vmm/ files share: the host and machine
 * structs, the REST client over a Firecracker API socket, the spawner and
 * the /proc helpers. See vmm.h for the public face. */
#ifndef MVM_VMM_INTERNAL_H
#define MVM_VMM_INTERNAL_H

#include <jansson.h>
#include <limits.h>

#include "vmm.h"

#define VMM_API_SOCK "api.sock"
#define VMM_CONSOLE_FIFO "console.fifo"
#define VMM_CONSOLE_LOG "console.log"
#define VMM_FCLOG_FIFO "fc.fifo"
#define VMM_FCLOG_FILE "firecracker.log"
#define VMM_METRICS_FIFO "metrics.fifo"
#define VMM_STDERR_LOG "stderr.log"
#define VMM_VSOCK "v.sock"

struct vmm_host {
    vmm_host_config cfg;
    char state_dir[PATH_MAX];
    char instances_dir[PATH_MAX];
    char snapshots_dir[PATH_MAX];
    char fc_bin[PATH_MAX]; /* resolved; "" when not found */
    char kvm_dev[PATH_MAX];
    vmm_probe probe;
};

/* ---- REST over the API socket (vmm_http.c) ---- */

typedef struct vmm_http vmm_http;

/* A client for the API socket <dir>/api.sock; one reused connection.
 * dirfd is an O_PATH descriptor of dir, used to keep the socket path short
 * (/proc/self/fd/N/api.sock) when dir is long. */
mvm_code vmm_http_new(const char *dir, int dirfd, uint32_t timeout_ms, vmm_http **out,
                      mvm_error *err);
void vmm_http_free(vmm_http *c);
/* Sends method path with body (NULL: none). On a 2xx answer returns MVM_OK
 * and, if reply is not NULL, the parsed JSON body (or NULL when empty). On
 * an error answer, fails with Firecracker's fault_message. */
mvm_code vmm_http_call(vmm_http *c, const char *method, const char *path, json_t *body,
                       json_t **reply, mvm_error *err);
/* Like vmm_http_call with a timeout for this call only. */
mvm_code vmm_http_call_timeout(vmm_http *c, const char *method, const char *path, json_t *body,
                               uint32_t timeout_ms, json_t **reply, mvm_error *err);

/* ---- machines (vmm_machine.c) ---- */

/* GET /version: "1.10.1". */
mvm_code vmm_machine_version(vmm_machine *m, char *out, size_t cap, mvm_error *err);

/* ---- spawning (vmm_spawn.c) ---- */

typedef struct vmm_spawn_spec {
    const char *path;     /* executable */
    char *const *argv;
    const char *cwd;      /* NULL: inherit */
    int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
    bool new_session;
    const char *netns;    /* NULL: the caller's network namespace; else the
                             path of one (/run/netns/NAME) the child enters */
} vmm_spawn_spec;

/* Starts spec->path: clone(CLONE_VFORK|CLONE_PIDFD), then in the child
 * (async-signal-safe calls only): setsid, setns into spec->netns (opened
 * by the parent), chdir, the three fds, every other fd closed, signal mask
 * and dispositions reset, execve. Returns the pid
 * and a pidfd; fails with the child's errno ("exec /x: No such file"). */
mvm_code vmm_spawn(const vmm_spawn_spec *spec, pid_t *pid, int *pidfd, mvm_error *err);

/* ---- /proc (vmm_proc.c) ---- */

/* Reads /proc/<pid>/cwd into buf; false if unreadable. */
bool vmm_proc_cwd(pid_t pid, char *buf, size_t cap);
/* Opens a pidfd for pid; -1 with errno. */
int vmm_pidfd_open(pid_t pid);

/* buf = dir "/" name; false (buf truncated) if it does not fit. */
bool vmm_path(char *buf, size_t cap, const char *dir, const char *name);


#endif
