/* store_ids.c - the node-unique ids the store hands out: instances
 * ("i-") and snapshots ("s-"), each a tag letter, '-' and 16 lowercase hex
 * digits from getrandom; their syntax, and drawing a fresh one that no
 * record holds yet. */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define ID_DRAWS 8 /* 64 random bits: a second draw is already unheard of */

bool store_id_valid(const char *id, char tag) {
    if (!id || strlen(id) != STORE_ID_LEN || id[0] != tag || id[1] != '-')
        return false;
    for (int i = 2; i < STORE_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

mvm_code store_check_id(const char *what, const char *id, char tag, mvm_error *err) {
    if (!id || !*id)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is required", what);
    if (!store_id_valid(id, tag))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s \"%.40s\" is malformed (want %c- and 16 lowercase hex digits)", what,
                        id, tag);
    return MVM_OK;
}

mvm_code store_snapshot_id_taken(MDB_txn *txn, store *st, const char *id, bool *taken,
                                 mvm_error *err) {
    /* Keys are tenant 0 id: a walk comparing each key's tail. The db holds
     * a pool's few snapshots at a time, and this runs only when one is
     * made. */
    *taken = false;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->snapshots, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !*taken;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *key = k.mv_data;
        *taken = k.mv_size > STORE_ID_LEN && key[k.mv_size - STORE_ID_LEN - 1] == '\0' &&
                 memcmp(key + k.mv_size - STORE_ID_LEN, id, STORE_ID_LEN) == 0;
    }
    mdb_cursor_close(cur);
    return *taken || rc == MDB_NOTFOUND ? MVM_OK : store_lmdb_fail(err, rc, "snapshot ids");
}

static mvm_code instance_id_taken(MDB_txn *txn, store *st, const char *id, bool *taken,
                                  mvm_error *err) {
    return store_exists(txn, st->inst_ids, id, STORE_ID_LEN, taken, NULL, err);
}

mvm_code store_id_draw(store_wtx *w, char tag, char id[STORE_ID_LEN + 1], mvm_error *err) {
    mvm_code (*taken_fn)(MDB_txn *, store *, const char *, bool *, mvm_error *) =
        tag == 's' ? store_snapshot_id_taken : instance_id_taken;
    for (int tries = 0; tries < ID_DRAWS; tries++) {
        uint8_t r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return mvm_fail(err, MVM_INTERNAL, "store: getrandom: %s", strerror(errno));
        snprintf(id, STORE_ID_LEN + 1, "%c-%02x%02x%02x%02x%02x%02x%02x%02x", tag, r[0], r[1],
                 r[2], r[3], r[4], r[5], r[6], r[7]);
        bool taken;
        mvm_code c = taken_fn(w->txn, w->st, id, &taken, err);
        if (c || !taken)
            return c;
    }
    return mvm_fail(err, MVM_INTERNAL, "store: could not draw a free %c- id in %d tries", tag,
                    ID_DRAWS);
}
