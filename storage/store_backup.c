/* store_backup.c - hot backup: a compacted copy of the live environment
 * (mdb_env_copyfd2, MDB_CP_COMPACT, inside one read transaction, so writers
 * go on) written to a temporary file beside the destination, fsync'ed,
 * checked like a store at start (meta pages, size, schema record) and only
 * then linked into place; an existing file is never replaced. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_SUFFIX ".mdb"
#define PARTIAL_SUFFIX ".partial-XXXXXX"

/* The destination's rules; dir gets its directory. */
static mvm_code dest_check(const char *path, char *dir, size_t dirsz, mvm_error *err) {
    mvm_code c = store_check_file_path("backup path", path, err);
    if (c)
        return c;
    size_t n = strlen(path), sn = strlen(BACKUP_SUFFIX);
    const char *slash = strrchr(path, '/');
    if (n - (size_t)(slash - path) - 1 <= sn || strcmp(path + n - sn, BACKUP_SUFFIX) != 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "backup path \"%.200s\" must name a file ending in \"%s\"", path,
                        BACKUP_SUFFIX);
    snprintf(dir, dirsz, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "backup directory %.200s: %s", dir,
                        strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "backup directory %.200s is not a directory",
                        dir);
    if (lstat(path, &sb) == 0)
        return mvm_fail(err, MVM_ALREADY_EXISTS,
                        "%.200s exists; a backup never replaces a file (choose a new name)",
                        path);
    if (errno != ENOENT)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "backup path %.200s: %s", path,
                        strerror(errno));
    return MVM_OK;
}

/* Checks the copy like a store at start (its meta pages and size, then,
 * opened read-only without a lock file, its schema record) and reads its
 * revision. */
static mvm_code copy_verify(const char *tmp, uint64_t *rev, mvm_error *err) {
    store_guard_result g;
    memset(&g, 0, sizeof g);
    snprintf(g.data_path, sizeof g.data_path, "%s", tmp);
    mvm_code c = store_datafile_read(tmp, &g.df, err);
    store st;
    MDB_txn *txn;
    char id[STORE_ID_HEX + 1];
    if (c || (c = store_ro_open(tmp, MDB_NOSUBDIR | MDB_NOLOCK, &g, &st, &txn, id, err)))
        return c;
    c = store_get_u64(txn, st.meta, "rev", rev, err);
    store_ro_close(&st, txn);
    return c;
}

static mvm_code copy_to(store *st, int fd, const char *tmp, mvm_error *err) {
    int rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
    if (rc)
        return store_lmdb_fail(err, rc, "backup copy");
    if (fsync(fd) != 0)
        return mvm_fail(err, MVM_INTERNAL, "store: fsync %s: %s", tmp, strerror(errno));
    return MVM_OK;
}

mvm_code store_backup(store *st, const char *path, uint64_t *bytes, uint64_t *revision,
                      mvm_error *err) {
    char dir[STORE_FILE_PATH_MAX + 1], tmp[STORE_FILE_PATH_MAX + sizeof PARTIAL_SUFFIX];
    mvm_code c = dest_check(path, dir, sizeof dir, err);
    if (c)
        return c;
    snprintf(tmp, sizeof tmp, "%s%s", path, PARTIAL_SUFFIX);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return mvm_fail(err, MVM_FAILED_PRECONDITION, "backup: cannot create a file in %.200s: %s",
                        dir, strerror(errno));
    c = copy_to(st, fd, tmp, err);
    struct stat sb;
    if (!c && fstat(fd, &sb) != 0)
        c = mvm_fail(err, MVM_INTERNAL, "store: %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !c)
        c = mvm_fail(err, MVM_INTERNAL, "store: close %s: %s", tmp, strerror(errno));
    uint64_t rev = 0;
    if (!c && (c = copy_verify(tmp, &rev, err)))
        mvm_error_context(err, "backup: the copy failed its check");
    if (!c && link(tmp, path) != 0)
        c = errno == EEXIST
                ? mvm_fail(err, MVM_ALREADY_EXISTS,
                           "%.200s appeared during the backup; a backup never replaces a file",
                           path)
                : mvm_fail(err, MVM_INTERNAL, "backup: link %s: %s", path, strerror(errno));
    unlink(tmp);
    if (!c)
        c = store_fsync_dir(dir, err);
    if (!c && bytes)
        *bytes = (uint64_t)sb.st_size;
    if (!c && revision)
        *revision = rev;
    return c;
}
