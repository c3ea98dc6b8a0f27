/* store_codec.c - records in and out of LMDB: packed protobuf values,
 * u64 counters, composite "a\0b\0c" keys, and allocator-aware copies. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

void *store_alloc(ProtobufCAllocator *alloc, size_t n) {
    if (alloc)
        return alloc->alloc(alloc->allocator_data, n);
    return malloc(n);
}

char *store_strdup(ProtobufCAllocator *alloc, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = store_alloc(alloc, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void store_msg_free(ProtobufCMessage *m, ProtobufCAllocator *alloc) {
    if (m)
        protobuf_c_message_free_unpacked(m, alloc);
}

ProtobufCMessage *store_msg_dup(const ProtobufCMessage *m, ProtobufCAllocator *alloc) {
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *d = protobuf_c_message_unpack(m->descriptor, alloc, len, buf);
    if (buf != stackbuf)
        free(buf);
    return d;
}

mvm_code store_get_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                       ProtobufCMessage **out, mvm_error *err) {
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MVM_NOT_FOUND;
    if (rc)
        return store_lmdb_fail(err, rc, "get");
    *out = protobuf_c_message_unpack(desc, alloc, v.mv_size, v.mv_data);
    return *out ? MVM_OK : store_corrupt_record(err, desc, key, klen);
}

mvm_code store_corrupt_record(mvm_error *err, const ProtobufCMessageDescriptor *desc,
                              const void *key, size_t klen) {
    /* Keys are names and ids joined by NULs, or big-endian numbers: show
     * printable bytes, '/' for a separator, '.' for anything else. */
    char shown[64];
    size_t n = 0;
    for (size_t i = 0; i < klen && n < sizeof shown - 1; i++) {
        unsigned char c = ((const unsigned char *)key)[i];
        shown[n++] = c == 0 ? '/' : (c >= 0x20 && c < 0x7f ? (char)c : '.');
    }
    shown[n] = '\0';
    return mvm_fail(err, MVM_DATA_LOSS,
                    "store: the %s record \"%s\" does not unpack: the store is damaged; %s",
                    desc->short_name, shown, STORE_RECOVERY_HINT);
}

mvm_code store_put_raw(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const void *val, size_t vlen, unsigned flags, mvm_error *err) {
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(txn, dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return MVM_ALREADY_EXISTS;
    return rc ? store_lmdb_fail(err, rc, "put") : MVM_OK;
}

mvm_code store_put_msg(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                       const ProtobufCMessage *msg, mvm_error *err) {
    MDB_val k = {klen, (void *)key}, v;
    v.mv_size = protobuf_c_message_get_packed_size(msg);
    /* Reserve the space in the page and pack straight into it. */
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return store_lmdb_fail(err, rc, "put");
    protobuf_c_message_pack(msg, v.mv_data);
    return MVM_OK;
}

mvm_code store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, mvm_error *err) {
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return MVM_OK;
    return rc ? store_lmdb_fail(err, rc, "del") : MVM_OK;
}

mvm_code store_has_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
                          bool *found, MDB_val *first, mvm_error *err) {
    *found = false;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return store_lmdb_fail(err, rc, "cursor");
    MDB_val k = {plen, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return MVM_OK;
    if (rc)
        return store_lmdb_fail(err, rc, "seek");
    *found = k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
    if (*found && first)
        *first = k;
    return MVM_OK;
}

mvm_code store_exists(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, bool *found,
                      MDB_val *val, mvm_error *err) {
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    *found = rc == 0;
    if (rc == 0 && val)
        *val = v;
    if (rc == 0 || rc == MDB_NOTFOUND)
        return MVM_OK;
    return store_lmdb_fail(err, rc, "get");
}

size_t store_key2(uint8_t key[STORE_KEY_MAX], const char *a, const char *b, const char *c) {
    /* Callers pass validated names (<= 63) and ids, so this always fits. */
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3 && parts[i]; i++) {
        size_t l = strlen(parts[i]);
        if (n + l + 1 > STORE_KEY_MAX)
            l = STORE_KEY_MAX - n - 1;
        if (i > 0)
            key[n - 1] = '\0';
        memcpy(key + n, parts[i], l);
        n += l + 1;
    }
    return n - 1; /* no trailing separator */
}

mvm_code store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out,
                       mvm_error *err) {
    MDB_val k = {strlen(key), (void *)key}, v;
    *out = 0;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MVM_OK; /* a counter never written: a new store */
    if (rc)
        return store_lmdb_fail(err, rc, key);
    if (v.mv_size != sizeof *out)
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: counter \"%s\" is %zu bytes, not %zu: the store is damaged; %s",
                        key, v.mv_size, sizeof *out, STORE_RECOVERY_HINT);
    memcpy(out, v.mv_data, sizeof *out);
    return MVM_OK;
}

mvm_code store_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v, mvm_error *err) {
    return store_put_raw(txn, dbi, key, strlen(key), &v, sizeof v, 0, err);
}

mvm_code store_hand_out(mvm_code c, ProtobufCMessage *m, ProtobufCAllocator *alloc,
                        void *outp) {
    if (c != MVM_OK || !outp) {
        store_msg_free(m, alloc);
        m = NULL;
    }
    if (outp)
        memcpy(outp, &m, sizeof m);
    return c;
}
