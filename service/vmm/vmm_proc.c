/* vmm_proc.c - telling processes apart through /proc: a process is named by
 * its pid and its start time (field 22 of /proc/<pid>/stat, clock ticks
 * since boot), which a reused pid cannot repeat; the host's boot id says
 * whether recorded pids belong to this boot at all. Also the scan that finds
 * Firecracker processes working inside the state dir, and tail reads. */
#include "vmm_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char boot_id[64];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void) {
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (!fgets(boot_id, sizeof boot_id, f))
        boot_id[0] = '\0';
    boot_id[strcspn(boot_id, "\r\n")] = '\0';
    fclose(f);
}

const char *vmm_boot_id(void) {
    pthread_once(&boot_once, read_boot_id);
    return boot_id;
}

uint64_t vmm_proc_start_ticks(pid_t pid) {
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip past the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* Fields 3.. follow; starttime is field 22, the 20th after the ')'. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (errno || end == p + 1)
        return 0;
    /* A zombie still has its start time; only a live process counts. */
    char *state = strrchr(buf, ')') + 2;
    if (*state == 'Z' || *state == 'X')
        return 0;
    return (uint64_t)v;
}

bool vmm_proc_cwd(pid_t pid, char *buf, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cwd", (int)pid);
    ssize_t n = readlink(path, buf, cap - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

int vmm_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

void vmm_proc_scan(const vmm_host *h, vmm_proc_fn fn, void *arg) {
    DIR *d = opendir("/proc");
    if (!d)
        return;
    size_t plen = strlen(h->instances_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 1 || pid == getpid())
            continue;
        char cwd[PATH_MAX];
        if (!vmm_proc_cwd(pid, cwd, sizeof cwd))
            continue;
        if (strncmp(cwd, h->instances_dir, plen) != 0 || cwd[plen] != '/')
            continue;
        const char *id = cwd + plen + 1;
        if (!*id || strchr(id, '/'))
            continue; /* only processes working in an instance dir itself */
        uint64_t ticks = vmm_proc_start_ticks(pid);
        if (ticks)
            fn(arg, pid, ticks, id);
    }
    closedir(d);
}

void vmm_proc_kill(pid_t pid, uint64_t start_ticks) {
    if (pid <= 1)
        return;
    /* A pidfd pins the process: the check and the kill name the same one. */
    int pfd = vmm_pidfd_open(pid);
    if (pfd < 0)
        return;
    if (vmm_proc_start_ticks(pid) == start_ticks)
        syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
    close(pfd);
}

bool vmm_path(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap;
}

void vmm_file_tail(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > cap - 1)
        lseek(fd, st.st_size - (off_t)(cap - 1), SEEK_SET);
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}
