/* vmm_logpipe.c - a FIFO a Firecracker process writes (the guest console,
 * Firecracker's own log and metrics), pumped into a bounded file.
 * Firecracker holds the FIFO open read-write itself (stdout is opened so for
 * it; Firecracker opens its log and metrics paths so), so its writes never
 * get EPIPE, whether or not mvmd reads; mvmd opens the read end while the
 * process runs. What the guest writes while mvmd is away waits in the pipe
 * buffer (enlarged to 1 MiB where allowed) and is pumped at re-adoption;
 * beyond that, the writer drops it. The file keeps the newest bytes: past
 * max_bytes it is cut to its newest three quarters (written aside, then
 * renamed over). */
#include "vmm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)

struct vmm_logpipe {
    pthread_mutex_t mu;
    int fifo;          /* O_RDWR | O_NONBLOCK, -1 when stopped */
    int file;          /* O_WRONLY | O_APPEND, -1 when stopped */
    char path[PATH_MAX];      /* the bounded file */
    char fifo_path[PATH_MAX];
    size_t max_bytes;
    uint64_t size;     /* bytes in the file */
    uint64_t end;      /* offset just past the newest byte */
};

mvm_code vmm_logpipe_open(const char *dir, const char *fifo_name, const char *file_name,
                          size_t max_bytes, vmm_logpipe **out, mvm_error *err) {
    *out = NULL;
    vmm_logpipe *lp = calloc(1, sizeof *lp);
    if (!lp)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_init(&lp->mu, NULL);
    lp->fifo = lp->file = -1;
    lp->max_bytes = max_bytes ? max_bytes : (1u << 20);
    if (!vmm_path(lp->fifo_path, sizeof lp->fifo_path, dir, fifo_name) ||
        !vmm_path(lp->path, sizeof lp->path, dir, file_name)) {
        vmm_logpipe_close(lp);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "path too long in %.200s", dir);
    }
    struct stat st;
    if (stat(lp->path, &st) == 0)
        lp->size = lp->end = (uint64_t)st.st_size;
    *out = lp;
    return MVM_OK;
}

mvm_code vmm_logpipe_prepare(vmm_logpipe *lp, mvm_error *err) {
    if (mkfifo(lp->fifo_path, 0600) != 0 && errno != EEXIST)
        return mvm_fail(err, MVM_INTERNAL, "mkfifo %s: %s", lp->fifo_path, strerror(errno));
    int fd = open(lp->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "creating %s: %s", lp->path, strerror(errno));
    close(fd);
    return MVM_OK;
}

mvm_code vmm_logpipe_start(vmm_logpipe *lp, mvm_error *err) {
    pthread_mutex_lock(&lp->mu);
    mvm_code rc = MVM_OK;
    if (lp->fifo < 0) {
        if (mkfifo(lp->fifo_path, 0600) != 0 && errno != EEXIST)
            rc = mvm_fail(err, MVM_INTERNAL, "mkfifo %s: %s", lp->fifo_path, strerror(errno));
        if (!rc) {
            lp->fifo = open(lp->fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            lp->file = lp->fifo >= 0
                           ? open(lp->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
                           : -1;
            if (lp->fifo < 0 || lp->file < 0) {
                rc = mvm_fail(err, errno == EMFILE || errno == ENFILE ? MVM_RESOURCE_EXHAUSTED
                                                                      : MVM_INTERNAL,
                              "opening %s: %s", lp->fifo < 0 ? lp->fifo_path : lp->path,
                              strerror(errno));
                if (lp->fifo >= 0)
                    close(lp->fifo);
                lp->fifo = -1;
            } else {
                /* best effort: may exceed /proc/sys/fs/pipe-max-size */
                fcntl(lp->fifo, F_SETPIPE_SZ, PIPE_BYTES);
                /* the file may have been cut or removed meanwhile */
                struct stat st;
                if (fstat(lp->file, &st) == 0 && (uint64_t)st.st_size != lp->size) {
                    lp->size = (uint64_t)st.st_size;
                    if (lp->end < lp->size)
                        lp->end = lp->size;
                }
            }
        }
    }
    pthread_mutex_unlock(&lp->mu);
    return rc;
}

void vmm_logpipe_stop(vmm_logpipe *lp) {
    pthread_mutex_lock(&lp->mu);
    if (lp->fifo >= 0)
        close(lp->fifo);
    if (lp->file >= 0)
        close(lp->file);
    lp->fifo = lp->file = -1;
    pthread_mutex_unlock(&lp->mu);
}

void vmm_logpipe_close(vmm_logpipe *lp) {
    if (!lp)
        return;
    vmm_logpipe_stop(lp);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}

int vmm_logpipe_fd(const vmm_logpipe *lp) {
    pthread_mutex_lock((pthread_mutex_t *)&lp->mu);
    int fd = lp->fifo;
    pthread_mutex_unlock((pthread_mutex_t *)&lp->mu);
    return fd;
}

uint64_t vmm_logpipe_end(const vmm_logpipe *lp) {
    pthread_mutex_lock((pthread_mutex_t *)&lp->mu);
    uint64_t e = lp->end;
    pthread_mutex_unlock((pthread_mutex_t *)&lp->mu);
    return e;
}

/* Cuts the file to its newest three quarters of max_bytes (mu held). */
static void trim(vmm_logpipe *lp) {
    uint64_t keep = lp->max_bytes / 4 * 3;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.trim", lp->path);
    int in = open(lp->path, O_RDONLY | O_CLOEXEC);
    int out = in >= 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    bool ok = in >= 0 && out >= 0;
    if (ok) {
        off_t from = (off_t)(lp->size - keep);
        size_t left = keep;
        while (ok && left > 0) {
            ssize_t n = copy_file_range(in, &from, out, NULL, left, 0);
            if (n < 0 && errno == EINTR)
                continue;
            ok = n > 0;
            left -= n > 0 ? (size_t)n : 0;
        }
    }
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        ok = false;
    int nf = ok && rename(tmp, lp->path) == 0
                 ? open(lp->path, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
    if (nf < 0) { /* keep appending to the old file; try again next time */
        unlink(tmp);
        return;
    }
    close(lp->file);
    lp->file = nf;
    lp->size = keep;
}

size_t vmm_logpipe_pump(vmm_logpipe *lp, vmm_logpipe_fn fn, void *arg) {
    uint8_t buf[16384];
    size_t total = 0;
    pthread_mutex_lock(&lp->mu);
    while (lp->fifo >= 0) {
        ssize_t n = read(lp->fifo, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* A failed write loses these bytes from the file, not from followers. */
        ssize_t w = write(lp->file, buf, (size_t)n);
        if (w > 0)
            lp->size += (uint64_t)w;
        if (fn)
            fn(arg, buf, (size_t)n, lp->end);
        lp->end += (uint64_t)n;
        total += (size_t)n;
        if (lp->size > lp->max_bytes)
            trim(lp);
    }
    pthread_mutex_unlock(&lp->mu);
    return total;
}

size_t vmm_logpipe_read(vmm_logpipe *lp, uint64_t from, uint8_t *buf, size_t cap,
                        uint64_t *first) {
    pthread_mutex_lock(&lp->mu);
    uint64_t start = lp->end - lp->size;
    if (from < start)
        from = start;
    if (from > lp->end)
        from = lp->end;
    *first = from;
    size_t n = 0;
    int fd = open(lp->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = pread(fd, buf, cap, (off_t)(from - start));
        n = r > 0 ? (size_t)r : 0;
        close(fd);
    }
    pthread_mutex_unlock(&lp->mu);
    return n;
}
