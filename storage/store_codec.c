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
    if (!*out)
        return mvm_fail(err, MVM_DATA_LOSS, "store: corrupt %s record", desc->short_name);
    return MVM_OK;
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

bool store_has_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
                      MDB_val *first) {
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur))
        return false;
    MDB_val k = {plen, (void *)prefix}, v;
    bool found = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= plen &&
                 memcmp(k.mv_data, prefix, plen) == 0;
    if (found && first)
        *first = k;
    mdb_cursor_close(cur);
    return found;
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

uint64_t store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key) {
    MDB_val k = {strlen(key), (void *)key}, v;
    uint64_t x = 0;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == sizeof x)
        memcpy(&x, v.mv_data, sizeof x);
    return x;
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
