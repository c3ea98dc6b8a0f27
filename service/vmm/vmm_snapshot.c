/* vmm_snapshot.c - snapshot files on disk: a snapshot is a directory
 * holding Firecracker's state file (vm.state) and memory file (vm.mem). It
 * is written under <id>.tmp/, its files synced, its state file hashed, and
 * renamed to <id>/ (a directory rename is atomic), so a directory named by
 * an id is always whole; a half-written one only ever has the .tmp name.
 * Before a load, the state file must hash to what was recorded and the
 * memory file must have its recorded size, so a damaged or truncated
 * snapshot is refused with a clear message instead of handed to
 * Firecracker. */
#include "vmm_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Syncs a file's data to disk. */
static int sync_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fdatasync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Hex SHA-256 of a file into out (65 bytes), and its size. */
static mvm_code hash_file(const char *path, char out[65], uint64_t *size, mvm_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mvm_fail(err, errno == ENOENT ? MVM_FAILED_PRECONDITION : MVM_INTERNAL,
                        "snapshot file %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    mvm_code rc = MVM_OK;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = mvm_fail(err, MVM_INTERNAL, "sha256: cannot initialise");
    } else {
        uint8_t buf[65536];
        uint64_t n = 0;
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = mvm_fail(err, MVM_INTERNAL, "reading %s: %s", path, strerror(errno));
                break;
            }
            if (r == 0)
                break;
            if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
                rc = mvm_fail(err, MVM_INTERNAL, "sha256 of %s failed", path);
                break;
            }
            n += (uint64_t)r;
        }
        unsigned char md[32];
        unsigned len = 0;
        if (!rc && EVP_DigestFinal_ex(ctx, md, &len) != 1)
            rc = mvm_fail(err, MVM_INTERNAL, "sha256 of %s failed", path);
        if (!rc) {
            for (unsigned i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
            *size = n;
        }
    }
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

mvm_code vmm_snapshot_seal(const char *parent, const char *id, vmm_snapshot_info *info,
                           mvm_error *err) {
    char tmp[PATH_MAX], dst[PATH_MAX], state[PATH_MAX + 16], mem[PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s/%s.tmp", parent, id) >= (int)sizeof tmp ||
        snprintf(dst, sizeof dst, "%s/%s", parent, id) >= (int)sizeof dst)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "snapshot path too long");
    snprintf(state, sizeof state, "%s/%s", tmp, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "%s/%s", tmp, VMM_SNAPSHOT_MEM);
    struct stat st;
    if (stat(mem, &st) != 0)
        return mvm_fail(err, MVM_INTERNAL, "snapshot memory file %s: %s", mem, strerror(errno));
    info->mem_bytes = (uint64_t)st.st_size;
    char disk[PATH_MAX + 16];
    snprintf(disk, sizeof disk, "%s/%s", tmp, VMM_SNAPSHOT_DISK);
    info->disk_bytes = stat(disk, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (sync_file(mem) != 0 || sync_file(state) != 0 ||
        (info->disk_bytes && sync_file(disk) != 0))
        return mvm_fail(err, errno == ENOSPC ? MVM_RESOURCE_EXHAUSTED : MVM_INTERNAL,
                        "syncing snapshot %s: %s", tmp, strerror(errno));
    mvm_code rc = hash_file(state, info->state_sha256, &info->state_bytes, err);
    if (rc)
        return rc;
    if (sync_dir(tmp) != 0 || rename(tmp, dst) != 0 || sync_dir(parent) != 0)
        return mvm_fail(err, MVM_INTERNAL, "sealing snapshot %s: %s", dst, strerror(errno));
    return MVM_OK;
}

mvm_code vmm_snapshot_verify(const char *dir, const char *want_sha256, uint64_t want_mem_bytes,
                             uint64_t want_disk_bytes, mvm_error *err) {
    char state[PATH_MAX + 16], mem[PATH_MAX + 16], disk[PATH_MAX + 16];
    snprintf(state, sizeof state, "%s/%s", dir, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "%s/%s", dir, VMM_SNAPSHOT_MEM);
    snprintf(disk, sizeof disk, "%s/%s", dir, VMM_SNAPSHOT_DISK);
    struct stat st;
    if (want_disk_bytes && stat(disk, &st) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "snapshot disk %s: %s", disk,
                        strerror(errno));
    if (want_disk_bytes && (uint64_t)st.st_size != want_disk_bytes)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot disk %s is %llu bytes, not the %llu recorded: it was "
                        "truncated or replaced",
                        disk, (unsigned long long)st.st_size, (unsigned long long)want_disk_bytes);
    if (stat(mem, &st) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "snapshot memory file %s: %s", mem,
                        strerror(errno));
    if ((uint64_t)st.st_size != want_mem_bytes)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot memory file %s is %llu bytes, not the %llu recorded: it was "
                        "truncated or replaced",
                        mem, (unsigned long long)st.st_size, (unsigned long long)want_mem_bytes);
    char sha[65];
    uint64_t size;
    mvm_code rc = hash_file(state, sha, &size, err);
    if (rc) {
        if (rc == MVM_FAILED_PRECONDITION || rc == MVM_INTERNAL)
            err->code = MVM_FAILED_PRECONDITION;
        return err->code;
    }
    if (want_sha256 && *want_sha256 && strcmp(sha, want_sha256) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION,
                        "snapshot state file %s does not match what was written (sha256 %.16s..., "
                        "recorded %.16s...): it is damaged",
                        state, sha, want_sha256);
    return MVM_OK;
}

mvm_code vmm_snapshot_read_info(const char *dir, vmm_snapshot_info *info, mvm_error *err) {
    char state[PATH_MAX + 16], mem[PATH_MAX + 16], disk[PATH_MAX + 16];
    snprintf(state, sizeof state, "%s/%s", dir, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "%s/%s", dir, VMM_SNAPSHOT_MEM);
    snprintf(disk, sizeof disk, "%s/%s", dir, VMM_SNAPSHOT_DISK);
    struct stat st;
    if (stat(mem, &st) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "snapshot memory file %s: %s", mem,
                        strerror(errno));
    info->mem_bytes = (uint64_t)st.st_size;
    info->disk_bytes = stat(disk, &st) == 0 ? (uint64_t)st.st_size : 0;
    return hash_file(state, info->state_sha256, &info->state_bytes, err);
}

bool vmm_snapshot_compatible(const char *written, const char *reader) {
    unsigned wa, wb, ra, rb;
    if (!written || !reader || sscanf(written, "v%u.%u", &wa, &wb) != 2 ||
        sscanf(reader, "v%u.%u", &ra, &rb) != 2)
        return false;
    return wa == ra && wb <= rb;
}

mvm_code vmm_snapshot_move(const char *src, const char *parent, const char *id, mvm_error *err) {
    char dst[PATH_MAX], src_parent[PATH_MAX];
    if (snprintf(dst, sizeof dst, "%s/%s", parent, id) >= (int)sizeof dst ||
        snprintf(src_parent, sizeof src_parent, "%s", src) >= (int)sizeof src_parent)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "snapshot path too long");
    char *slash = strrchr(src_parent, '/');
    if (slash)
        *slash = '\0';
    if (rename(src, dst) != 0 || sync_dir(parent) != 0 || (slash && sync_dir(src_parent) != 0))
        return mvm_fail(err, MVM_INTERNAL, "moving snapshot %s to %s: %s", src, dst,
                        strerror(errno));
    return MVM_OK;
}

/* Sums st_blocks under the open directory fd (which it closes). */
static uint64_t dir_usage(int fd, int depth) {
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        total += (uint64_t)st.st_blocks * 512u;
        if (S_ISDIR(st.st_mode) && depth < 8) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                total += dir_usage(sub, depth + 1);
        }
    }
    closedir(d);
    return total;
}

uint64_t vmm_disk_usage(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    uint64_t total = (uint64_t)st.st_blocks * 512u;
    if (S_ISDIR(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            total += dir_usage(fd, 0);
    }
    return total;
}

void vmm_snapshot_prune(const char *parent, const char *keep) {
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (keep && strcmp(e->d_name, keep) == 0))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", parent, e->d_name) < (int)sizeof path)
            vmm_dir_remove(path, NULL);
    }
    closedir(d);
}
