/* api_fcprobe.c - finding out which Firecracker this node would run: runs
 * `<bin> --version` once (posix_spawn, stdout on a pipe, no shell, bounded
 * wait) and parses its "Firecracker vX.Y.Z" line. */
#include "api_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000

extern char **environ;

bool api_fc_parse_version(const char *out, char *version, size_t vlen) {
    static const char tag[] = "Firecracker v";
    const char *p = strstr(out, tag);
    if (!p || (p != out && p[-1] != '\n'))
        return false;
    p += sizeof tag - 2; /* keep the 'v' */
    size_t n = 1, dots = 0;
    while ((p[n] >= '0' && p[n] <= '9') || p[n] == '.' || p[n] == '-' ||
           (p[n] >= 'a' && p[n] <= 'z'))
        dots += p[n++] == '.';
    if (n < 2 || p[1] < '0' || p[1] > '9' || dots < 1 || n >= vlen)
        return false;
    memcpy(version, p, n);
    version[n] = '\0';
    return true;
}

/* Reads the child's stdout until EOF, the buffer is full or the deadline. */
static size_t read_all(int fd, char *buf, size_t cap) {
    size_t len = 0;
    int waited = 0;
    while (len + 1 < cap && waited < PROBE_TIMEOUT_MS) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r == 0) {
            waited += 100;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = r > 0 ? read(fd, buf + len, cap - 1 - len) : -1;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

void api_fc_probe(const char *bin, char *version, size_t vlen, char *status, size_t slen) {
    version[0] = '\0';
    if (!bin || !*bin) {
        snprintf(status, slen, "not configured (--firecracker)");
        return;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(status, slen, "cannot run %s: pipe: %s", bin, strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    char *argv[] = {(char *)bin, "--version", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(status, slen, "cannot run %s: %s", bin, strerror(rc));
        return;
    }
    char out[1024];
    read_all(fds[0], out, sizeof out);
    close(fds[0]);
    int wst = 0;
    pid_t done = 0;
    for (int i = 0; i < PROBE_TIMEOUT_MS / 50 && done == 0; i++) {
        done = waitpid(pid, &wst, WNOHANG);
        if (done == 0)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    if (done == 0) { /* still running after the deadline */
        kill(pid, SIGKILL);
        waitpid(pid, &wst, 0);
        snprintf(status, slen, "%s --version did not finish", bin);
        return;
    }
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        snprintf(status, slen, "%s --version failed (status %d)", bin,
                 WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst));
        return;
    }
    if (!api_fc_parse_version(out, version, vlen)) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(status, slen, "unexpected %s --version output: \"%.100s\"", bin, out);
        return;
    }
    snprintf(status, slen, "ok");
}
