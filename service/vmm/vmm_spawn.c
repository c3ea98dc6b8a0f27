/* vmm_spawn.c - starting a child process without a shell: clone() with
 * CLONE_VM|CLONE_VFORK (the parent waits, as with vfork, until the child
 * execs or dies) and CLONE_PIDFD (a pidfd from the start, no pid reuse
 * race). The child runs only async-signal-safe system calls: new session,
 * network namespace (setns), working directory, stdio, closing every other
 * descriptor, default signal
 * handling, execve. A failure before exec reaches the parent through a
 * close-on-exec pipe carrying the failing step and errno. */
#include "vmm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define CHILD_STACK (64u << 10)

extern char **environ;

typedef struct child_args {
    const vmm_spawn_spec *spec;
    int errpipe; /* write end, close-on-exec */
    int devnull;
    int netns_fd; /* -1: stay in the caller's network namespace */
    sigset_t oldmask;
} child_args;

/* What the child reports when it cannot exec. */
typedef struct child_failure {
    int step; /* index into step_names */
    int err;
} child_failure;

/* The child runs on a stack of our own making, sharing our memory: the
 * sanitizers' bookkeeping (stack poisoning, no-return hooks) would act on
 * the parent's state, so the child's code is not instrumented. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined")))
#else
#define CHILD_CODE
#endif

static const char *const step_names[] = {"setsid", "chdir", "dup2 stdin", "dup2 stdout",
                                         "dup2 stderr", "close fds", "exec", "setns"};

CHILD_CODE static _Noreturn void child_fail(child_args *a, int step) {
    child_failure f = {step, errno};
    ssize_t w = write(a->errpipe, &f, sizeof f);
    (void)w;
    _exit(127);
}

CHILD_CODE static int child_main(void *arg) {
    child_args *a = arg;
    const vmm_spawn_spec *s = a->spec;
    /* Default handling for every signal, then the caller's mask lifted. */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL); /* invalid numbers simply fail */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (s->new_session && setsid() < 0)
        child_fail(a, 0);
    if (a->netns_fd >= 0 && setns(a->netns_fd, CLONE_NEWNET) != 0)
        child_fail(a, 7);
    if (s->cwd && chdir(s->cwd) != 0)
        child_fail(a, 1);
    int fds[3] = {s->stdin_fd, s->stdout_fd, s->stderr_fd};
    for (int i = 0; i < 3; i++) {
        int fd = fds[i] >= 0 ? fds[i] : a->devnull;
        if (fd == i) { /* already in place: just make it survive exec */
            if (fcntl(fd, F_SETFD, 0) != 0)
                child_fail(a, 2 + i);
        } else if (dup2(fd, i) < 0) {
            child_fail(a, 2 + i);
        }
    }
    /* Everything else goes, but the error pipe (close-on-exec). */
    if (a->errpipe > 3 && syscall(SYS_close_range, 3, a->errpipe - 1, 0) != 0)
        child_fail(a, 5);
    if (syscall(SYS_close_range, a->errpipe + 1, ~0u, 0) != 0)
        child_fail(a, 5);
    execve(s->path, s->argv, environ);
    child_fail(a, 6);
}

mvm_code vmm_spawn(const vmm_spawn_spec *spec, pid_t *pid_out, int *pidfd_out, mvm_error *err) {
    *pid_out = -1;
    *pidfd_out = -1;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "spawn %s: pipe: %s", spec->path,
                        strerror(errno));
    int netns_fd = -1;
    if (spec->netns && (netns_fd = open(spec->netns, O_RDONLY | O_CLOEXEC)) < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return mvm_fail(err, e == ENOENT ? MVM_FAILED_PRECONDITION : MVM_INTERNAL,
                        "spawn %s: network namespace %s: %s", spec->path, spec->netns,
                        strerror(e));
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (devnull < 0 || stack == MAP_FAILED) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        if (devnull >= 0)
            close(devnull);
        if (stack != MAP_FAILED)
            munmap(stack, CHILD_STACK);
        if (netns_fd >= 0)
            close(netns_fd);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "spawn %s: %s", spec->path, strerror(e));
    }
    child_args a = {.spec = spec, .errpipe = pipefd[1], .devnull = devnull, .netns_fd = netns_fd};
    /* No signal handler of ours may run in the child before it resets them. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &a.oldmask);
    int pidfd = -1;
    pid_t pid = clone(child_main, (char *)stack + CHILD_STACK,
                      CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &pidfd);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &a.oldmask, NULL);
    munmap(stack, CHILD_STACK);
    close(pipefd[1]);
    close(devnull);
    if (netns_fd >= 0)
        close(netns_fd);
    if (pid < 0) {
        close(pipefd[0]);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "spawn %s: clone: %s", spec->path,
                        strerror(clone_errno));
    }
    child_failure f;
    ssize_t n;
    do
        n = read(pipefd[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof f) { /* the child failed before exec and exited */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        close(pidfd);
        const char *step = f.step >= 0 && f.step < (int)(sizeof step_names / sizeof step_names[0])
                               ? step_names[f.step] : "?";
        return mvm_fail(err, f.err == ENOENT || f.err == EACCES ? MVM_FAILED_PRECONDITION
                                                                : MVM_INTERNAL,
                        "spawn %s: %s: %s", spec->path, step, strerror(f.err));
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    return MVM_OK;
}
