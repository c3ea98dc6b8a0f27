/* vmm_disk.c - an instance's own copy of its pool's root disk: a reflink
 * (FICLONE: blocks shared until written, instant) where the filesystem
 * supports it, else a sparse copy that walks the source's data extents
 * (SEEK_DATA / SEEK_HOLE) and copies only those with copy_file_range. The
 * copy is written under a temporary name and renamed into place, so a crash
 * leaves either the whole disk or none (and a *.tmp that recovery removes). */
#include "vmm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the data extents of in (size bytes) to out; holes stay holes. */
static int sparse_copy(int in, int out, off_t size) {
    off_t pos = 0;
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -1; /* ENXIO: only a hole is left */
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return -1;
        off_t off_in = data, off_out = data;
        while (off_in < hole) {
            ssize_t n = copy_file_range(in, &off_in, out, &off_out, (size_t)(hole - off_in), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n == 0 ? (errno = EIO, -1) : -1;
        }
        pos = hole;
    }
    return 0;
}

mvm_code vmm_disk_copy(const char *src, const char *dst, uint64_t min_bytes, bool *reflinked,
                       mvm_error *err) {
    if (reflinked)
        *reflinked = false;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= (int)sizeof tmp)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "disk path too long: %s", dst);
    if (access(dst, F_OK) == 0)
        return mvm_fail(err, MVM_ALREADY_EXISTS, "disk %s already exists", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return mvm_fail(err, errno == ENOENT ? MVM_FAILED_PRECONDITION : MVM_INTERNAL,
                        "root disk image %s: %s", src, strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "root disk image %s is not a regular file",
                        src);
    }
    unlink(tmp); /* a leftover of an interrupted copy */
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return mvm_fail(err, e == ENOSPC ? MVM_RESOURCE_EXHAUSTED : MVM_INTERNAL,
                        "creating %s: %s", tmp, strerror(e));
    }
    int rc = 0;
    if (ioctl(out, FICLONE, in) == 0) {
        if (reflinked)
            *reflinked = true;
    } else if (ftruncate(out, st.st_size) != 0 || sparse_copy(in, out, st.st_size) != 0) {
        rc = -1;
    }
    if (rc == 0 && min_bytes > (uint64_t)st.st_size && ftruncate(out, (off_t)min_bytes) != 0)
        rc = -1;
    int e = errno;
    close(in);
    if (close(out) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, dst) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        return mvm_fail(err, e == ENOSPC ? MVM_RESOURCE_EXHAUSTED : MVM_INTERNAL,
                        "copying root disk %s to %s: %s", src, dst, strerror(e));
    }
    return MVM_OK;
}
