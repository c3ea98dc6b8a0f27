/* vmm_uffd_ws.c - the working-set file of a snapshot: the memory-file
 * pages a restore touched first, in order, which the next restore of the
 * same snapshot copies in before the guest asks (see vmm.h).
 *
 *   0   "MVMUFWS1"
 *   8   u32 page size (bytes)
 *   12  u32 0
 *   16  u64 size of the memory file it was recorded against
 *   24  u64 count
 *   32  count x u64 memory-file offset of a page
 *
 * All little-endian. Written whole to a temporary name and renamed, so a
 * reader sees an old list or a new one; a crash can still leave a damaged
 * one (it is not fsync'd: losing it costs only a slower restore), which the
 * reader refuses as a whole. */
#include "vmm_uffd_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WS_MAGIC "MVMUFWS1"
#define WS_HEADER 32u
#define WS_MAX_BYTES (256u << 20) /* 32 M pages: far beyond any guest served here */

static uint32_t get32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

static uint64_t get64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

static void put32(unsigned char *p, uint32_t v) {
    v = htole32(v);
    memcpy(p, &v, sizeof v);
}

static void put64(unsigned char *p, uint64_t v) {
    v = htole64(v);
    memcpy(p, &v, sizeof v);
}

/* Reads (or writes) exactly len bytes; false with errno (EIO for a short
 * file or a write that wrote nothing). */
static bool io_all(int fd, unsigned char *buf, size_t len, bool writing) {
    while (len > 0) {
        ssize_t r = writing ? write(fd, buf, len) : read(fd, buf, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return false;
        }
        buf += r;
        len -= (size_t)r;
    }
    return true;
}

mvm_code vmm_uffd_ws_read(const char *path, uint32_t *page_size, uint64_t *mem_size,
                          uint64_t **offsets, size_t *count, mvm_error *err) {
    *offsets = NULL;
    *count = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mvm_fail(err, errno == ENOENT ? MVM_NOT_FOUND : MVM_INTERNAL, "working set %s: %s",
                        path, strerror(errno));
    struct stat st;
    unsigned char *buf = NULL;
    mvm_code rc = MVM_OK;
    if (fstat(fd, &st) != 0) {
        rc = mvm_fail(err, MVM_INTERNAL, "working set %s: fstat: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode) || st.st_size < (off_t)WS_HEADER ||
               st.st_size > (off_t)WS_MAX_BYTES || (st.st_size - WS_HEADER) % 8 != 0) {
        rc = mvm_fail(err, MVM_DATA_LOSS,
                      "working set %s: %lld bytes is not a working-set file's size", path,
                      (long long)st.st_size);
    } else if (!(buf = malloc((size_t)st.st_size))) {
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    } else if (!io_all(fd, buf, (size_t)st.st_size, false)) {
        rc = mvm_fail(err, MVM_INTERNAL, "working set %s: read: %s", path, strerror(errno));
    }
    close(fd);
    if (rc != MVM_OK) {
        free(buf);
        return rc;
    }
    uint32_t ps = get32(buf + 8);
    uint64_t msize = get64(buf + 16), n = get64(buf + 24);
    size_t have = ((size_t)st.st_size - WS_HEADER) / 8;
    if (memcmp(buf, WS_MAGIC, 8) != 0 || get32(buf + 12) != 0)
        rc = mvm_fail(err, MVM_DATA_LOSS, "working set %s: not a working-set file", path);
    else if (ps == 0 || (ps & (ps - 1)) != 0)
        rc = mvm_fail(err, MVM_DATA_LOSS, "working set %s: page size %u", path, ps);
    else if (n != have)
        rc = mvm_fail(err, MVM_DATA_LOSS, "working set %s: says %llu pages, holds %zu (truncated?)",
                      path, (unsigned long long)n, have);
    uint64_t *list = NULL;
    if (rc == MVM_OK && have > 0 && !(list = malloc(have * sizeof *list)))
        rc = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; rc == MVM_OK && i < have; i++) {
        list[i] = get64(buf + WS_HEADER + 8 * i);
        if (list[i] % ps != 0 || list[i] >= msize || msize - list[i] < ps)
            rc = mvm_fail(err, MVM_DATA_LOSS,
                          "working set %s: page %zu (offset %llu) is not a page of a %llu-byte "
                          "file",
                          path, i, (unsigned long long)list[i], (unsigned long long)msize);
    }
    free(buf);
    if (rc != MVM_OK) {
        free(list);
        return rc;
    }
    *page_size = ps;
    *mem_size = msize;
    *offsets = list;
    *count = have;
    return MVM_OK;
}

mvm_code vmm_uffd_ws_write(const char *path, uint32_t page_size, uint64_t mem_size,
                           const uint64_t *offsets, size_t count, mvm_error *err) {
    if (count > (WS_MAX_BYTES - WS_HEADER) / 8)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "working set %s: %zu pages is too many", path,
                        count);
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "working set path too long: %.200s", path);
    size_t len = WS_HEADER + 8 * count;
    unsigned char *buf = malloc(len);
    if (!buf)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(buf, WS_MAGIC, 8);
    put32(buf + 8, page_size);
    put32(buf + 12, 0);
    put64(buf + 16, mem_size);
    put64(buf + 24, count);
    for (size_t i = 0; i < count; i++)
        put64(buf + WS_HEADER + 8 * i, offsets[i]);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        free(buf);
        return mvm_fail(err, MVM_INTERNAL, "working set %s: creating a temporary file: %s", path,
                        strerror(errno));
    }
    mvm_code rc = MVM_OK;
    if (!io_all(fd, buf, len, true))
        rc = mvm_fail(err, MVM_INTERNAL, "working set %s: write: %s", tmp, strerror(errno));
    free(buf);
    if (close(fd) != 0 && rc == MVM_OK)
        rc = mvm_fail(err, MVM_INTERNAL, "working set %s: close: %s", tmp, strerror(errno));
    if (rc == MVM_OK && rename(tmp, path) != 0)
        rc = mvm_fail(err, MVM_INTERNAL, "working set: rename %s to %s: %s", tmp, path,
                      strerror(errno));
    if (rc != MVM_OK)
        unlink(tmp);
    return rc;
}
