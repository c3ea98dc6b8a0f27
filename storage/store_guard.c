/* store_guard.c - what makes a store safe to open: the data file checked
 * before LMDB maps it (store_datafile.c), the marker file
 * <state-dir>/store.id that records a store was created there (so a
 * deleted or emptied data file is noticed instead of starting an empty
 * store), and the schema and identity records checked inside the store. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MARKER_TAG "mvm-store-id "

static bool id_valid(const char *s, size_t n) {
    if (n != STORE_ID_HEX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Reads the marker's id; *present false (and MVM_OK) if there is none. */
static mvm_code marker_read(const char *state_dir, char id[STORE_ID_HEX + 1], bool *present,
                            mvm_error *err) {
    char path[STORE_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", state_dir, STORE_MARKER_FILE);
    *present = false;
    id[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return MVM_OK;
    if (fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", path, strerror(errno));
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", path, strerror(errno));
    buf[n] = '\0';
    size_t tag = strlen(MARKER_TAG);
    if (strncmp(buf, MARKER_TAG, tag) != 0 || !id_valid(buf + tag, strcspn(buf + tag, "\n")))
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s is not a store marker (want a first line \"%s\" and %d hex "
                        "digits); %s",
                        path, MARKER_TAG, STORE_ID_HEX, STORE_RECOVERY_HINT);
    memcpy(id, buf + tag, STORE_ID_HEX);
    id[STORE_ID_HEX] = '\0';
    *present = true;
    return MVM_OK;
}

mvm_code store_fsync_dir(const char *dir, mvm_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        mvm_code c = mvm_fail(err, MVM_INTERNAL, "store: fsync %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return c;
    }
    close(fd);
    return MVM_OK;
}

mvm_code store_marker_write(const char *state_dir, const char *id, mvm_error *err) {
    char path[STORE_PATH_MAX], tmp[STORE_PATH_MAX + 8], text[512];
    snprintf(path, sizeof path, "%s/%s", state_dir, STORE_MARKER_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text,
                       "%s%s\n"
                       "# mvmd wrote this when it created the store in store/ beside it.\n"
                       "# While this file exists, mvmd refuses to start if store/data.mdb is\n"
                       "# missing, empty or another store's. Read \"Recovering the store\" in\n"
                       "# docs/operations.md before removing it.\n",
                       MARKER_TAG, id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", tmp, strerror(errno));
    bool ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return mvm_fail(err, MVM_INTERNAL, "store: writing %s: %s", path, strerror(e));
    }
    return store_fsync_dir(state_dir, err);
}

mvm_code store_guard(const char *state_dir, store_guard_result *g, mvm_error *err) {
    memset(g, 0, sizeof *g);
    if (snprintf(g->data_path, sizeof g->data_path, "%s/store/%s", state_dir,
                 STORE_DATA_FILE) >= (int)sizeof g->data_path)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "store: state dir path is too long");
    mvm_code c = marker_read(state_dir, g->marker_id, &g->marker, err);
    if (c)
        return c;
    mvm_error dferr;
    c = store_datafile_read(g->data_path, &g->df, &dferr);
    if (c == MVM_NOT_FOUND && !g->marker) {
        g->fresh = true; /* a new state dir */
        return MVM_OK;
    }
    if (c == MVM_NOT_FOUND || (c == MVM_OK && g->df.txnid == 0 && g->marker))
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s %s, but %s/%s says store %s was created here: refusing to "
                        "start with an empty store (every subnet and address would be handed "
                        "out again); %s",
                        g->data_path, c ? "is missing" : "holds no committed data", state_dir,
                        STORE_MARKER_FILE, g->marker_id, STORE_RECOVERY_HINT);
    if (c) {
        if (err)
            *err = dferr;
        return c;
    }
    /* LMDB initialised the file but nothing was ever committed (a first
     * start stopped early): as new. */
    g->fresh = g->df.txnid == 0;
    return MVM_OK;
}

static mvm_code id_new(char id[STORE_ID_HEX + 1], mvm_error *err) {
    uint8_t r[STORE_ID_HEX / 2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return mvm_fail(err, MVM_INTERNAL, "store: getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    return MVM_OK;
}

mvm_code store_guard_records(store *st, MDB_txn *txn, const store_guard_result *g, bool writable,
                             char id[STORE_ID_HEX + 1], mvm_error *err) {
    id[0] = '\0';
    MDB_val k = {6, "schema"}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND && g->fresh && writable) {
        uint32_t ver = STORE_SCHEMA_VERSION;
        v.mv_size = sizeof ver;
        v.mv_data = &ver;
        rc = mdb_put(txn, st->meta, &k, &v, 0);
        if (rc)
            return store_lmdb_fail(err, rc, "schema");
    } else if (rc == MDB_NOTFOUND) {
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s has committed data (transaction %llu) but no schema record: "
                        "the store is damaged; %s",
                        g->data_path, (unsigned long long)g->df.txnid, STORE_RECOVERY_HINT);
    } else if (rc) {
        return store_lmdb_fail(err, rc, "schema");
    } else {
        uint32_t ver = 0;
        if (v.mv_size != sizeof ver)
            return mvm_fail(err, MVM_DATA_LOSS,
                            "store: %s: the schema record is %zu bytes, not %zu; %s",
                            g->data_path, v.mv_size, sizeof ver, STORE_RECOVERY_HINT);
        memcpy(&ver, v.mv_data, sizeof ver);
        if (ver != STORE_SCHEMA_VERSION)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "store: %s has schema version %u, this build reads %u",
                            g->data_path, ver, STORE_SCHEMA_VERSION);
    }

    MDB_val ik = {8, "store_id"}, iv;
    rc = mdb_get(txn, st->meta, &ik, &iv);
    if (rc == 0) {
        if (!id_valid(iv.mv_data, iv.mv_size))
            return mvm_fail(err, MVM_DATA_LOSS, "store: %s: the store_id record is malformed; %s",
                            g->data_path, STORE_RECOVERY_HINT);
        memcpy(id, iv.mv_data, STORE_ID_HEX);
        id[STORE_ID_HEX] = '\0';
        if (g->marker && strcmp(id, g->marker_id) != 0)
            return mvm_fail(err, MVM_FAILED_PRECONDITION,
                            "store: %s is store %s, but %s says this state dir's store is %s "
                            "(a data file from elsewhere?); %s",
                            g->data_path, id, STORE_MARKER_FILE, g->marker_id,
                            STORE_RECOVERY_HINT);
        return MVM_OK;
    }
    if (rc != MDB_NOTFOUND)
        return store_lmdb_fail(err, rc, "store_id");
    if (!writable)
        return MVM_OK; /* a store made before ids: store_open gives it one */
    /* A new store, or one made before ids: the marker's id if there is one. */
    mvm_code c = g->marker ? MVM_OK : id_new(id, err);
    if (c)
        return c;
    if (g->marker)
        memcpy(id, g->marker_id, STORE_ID_HEX + 1);
    iv.mv_size = STORE_ID_HEX;
    iv.mv_data = id;
    rc = mdb_put(txn, st->meta, &ik, &iv, 0);
    return rc ? store_lmdb_fail(err, rc, "store_id") : MVM_OK;
}
