/* store_page.c - paged listing over one database: a cursor walk from the
 * page token's key within a key prefix, with a label selector and an extra
 * filter, and opaque next_page_token values (hex of the last key listed);
 * and the List of records kept under tenant 0 ... that belong to a pool
 * (instances, snapshots), filtered by tenant and pool. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define TOKEN_TAG 'k'

static char *token_encode(ProtobufCAllocator *alloc, const uint8_t *key, size_t n) {
    static const char hex[] = "0123456789abcdef";
    char *t = store_alloc(alloc, 2 * n + 2);
    if (!t)
        return NULL;
    t[0] = TOKEN_TAG;
    for (size_t i = 0; i < n; i++) {
        t[1 + 2 * i] = hex[key[i] >> 4];
        t[2 + 2 * i] = hex[key[i] & 15];
    }
    t[2 * n + 1] = '\0';
    return t;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static mvm_code token_decode(const char *t, const store_page_req *req, uint8_t *key,
                             size_t *n, mvm_error *err) {
    size_t len = strlen(t);
    bool ok = len >= 3 && t[0] == TOKEN_TAG && (len - 1) % 2 == 0 &&
              (len - 1) / 2 <= STORE_KEY_MAX;
    for (size_t i = 0; ok && i < (len - 1) / 2; i++) {
        int hi = hexval(t[1 + 2 * i]), lo = hexval(t[2 + 2 * i]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            key[i] = (uint8_t)(hi << 4 | lo);
    }
    if (ok) {
        *n = (len - 1) / 2;
        ok = req->plen == 0 || (*n >= req->plen && memcmp(key, req->prefix, req->plen) == 0);
    }
    if (!ok)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "page_token is not one this list returned (start again without it)");
    return MVM_OK;
}

static bool key_in_prefix(const MDB_val *k, const store_page_req *req) {
    return req->plen == 0 ||
           (k->mv_size >= req->plen && memcmp(k->mv_data, req->prefix, req->plen) == 0);
}

mvm_code store_page(MDB_txn *txn, const store_page_req *req, ProtobufCAllocator *alloc,
                    ProtobufCMessage ***items, size_t *n_items, char **next, mvm_error *err) {
    const store_list_opts *opt = req->opt;
    *items = NULL;
    *n_items = 0;
    *next = NULL;
    uint32_t page = opt->page_size ? opt->page_size : STORE_PAGE_SIZE_DEFAULT;
    if (page > STORE_PAGE_SIZE_MAX)
        page = STORE_PAGE_SIZE_MAX;
    uint8_t tok[STORE_KEY_MAX];
    size_t toklen = 0;
    mvm_code c;
    if (opt->page_token && *opt->page_token &&
        (c = token_decode(opt->page_token, req, tok, &toklen, err)))
        return c;
    store_selector *sel;
    if ((c = store_selector_parse(opt->label_selector, &sel, err)))
        return c;

    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, req->dbi, &cur);
    if (rc) {
        store_selector_free(sel);
        return store_lmdb_fail(err, rc, "cursor");
    }
    ProtobufCMessage **out = store_alloc(alloc, page * sizeof *out);
    if (!out) {
        mdb_cursor_close(cur);
        store_selector_free(sel);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    MDB_val k, v;
    if (toklen) {
        k.mv_size = toklen;
        k.mv_data = tok;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == toklen && memcmp(k.mv_data, tok, toklen) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else if (req->plen) {
        k.mv_size = req->plen;
        k.mv_data = (void *)req->prefix;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    size_t n = 0;
    uint8_t last[STORE_KEY_MAX];
    size_t lastlen = 0;
    c = MVM_OK;
    for (; rc == 0 && key_in_prefix(&k, req); rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ProtobufCMessage *m = protobuf_c_message_unpack(req->desc, alloc, v.mv_size, v.mv_data);
        if (!m) {
            c = store_corrupt_record(err, req->desc, k.mv_data, k.mv_size);
            break;
        }
        if (!store_selector_match(sel, m) || (req->match && !req->match(req->match_arg, m))) {
            store_msg_free(m, alloc);
            continue;
        }
        if (n == page) { /* one more exists: this page ends at the last key */
            store_msg_free(m, alloc);
            *next = token_encode(alloc, last, lastlen);
            if (!*next)
                c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        if (req->decorate && (c = req->decorate(req->match_arg, txn, m, alloc, err))) {
            store_msg_free(m, alloc);
            break;
        }
        out[n++] = m;
        lastlen = k.mv_size < STORE_KEY_MAX ? k.mv_size : STORE_KEY_MAX;
        memcpy(last, k.mv_data, lastlen);
    }
    if (c == MVM_OK && rc != 0 && rc != MDB_NOTFOUND)
        c = store_lmdb_fail(err, rc, "cursor");
    mdb_cursor_close(cur);
    store_selector_free(sel);
    if (c) {
        for (size_t i = 0; i < n; i++)
            store_msg_free(out[i], alloc);
        if (alloc)
            alloc->free(alloc->allocator_data, out);
        else
            free(out);
        return c;
    }
    *items = out;
    *n_items = n;
    return MVM_OK;
}

/* The "pool" string field of m (Instance, Snapshot); "" if it has none. */
static const char *pool_field(const ProtobufCMessage *m) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "pool");
    const char *s = NULL;
    if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED)
        memcpy(&s, (const char *)m + f->offset, sizeof s);
    return s ? s : "";
}

static bool pool_match(void *arg, const ProtobufCMessage *m) {
    return strcmp(pool_field(m), arg) == 0;
}

mvm_code store_page_by_pool(store *st, MDB_dbi dbi, const ProtobufCMessageDescriptor *desc,
                            const store_list_opts *opt, ProtobufCAllocator *alloc,
                            ProtobufCMessage ***items, size_t *n_items, char **next,
                            mvm_error *err) {
    *items = NULL;
    *n_items = 0;
    *next = NULL;
    mvm_code c;
    uint8_t prefix[STORE_KEY_MAX];
    size_t plen = 0;
    bool by_tenant = opt->tenant && *opt->tenant, by_pool = opt->pool && *opt->pool;
    if (by_tenant && (c = store_check_name("tenant", opt->tenant, err)))
        return c;
    if (by_pool && (c = store_check_name("pool", opt->pool, err)))
        return c;
    if (by_tenant)
        plen = store_key2(prefix, opt->tenant, "", NULL);
    MDB_txn *txn;
    if ((c = store_rd_begin(st, &txn, err)))
        return c;
    store_page_req req = {.dbi = dbi, .prefix = prefix, .plen = plen, .desc = desc, .opt = opt,
                          .match = by_pool ? pool_match : NULL, .match_arg = (void *)opt->pool};
    c = store_page(txn, &req, alloc, items, n_items, next, err);
    store_rd_end(st, txn);
    return c;
}
