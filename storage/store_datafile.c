/* store_datafile.c - reading an LMDB data file's meta pages and size with
 * pread, before (or without) LMDB mapping it: mapping a truncated file and
 * touching a page past its end kills the process with SIGBUS, and an empty
 * file is silently initialised as a new environment.
 *
 * The facts used, from LMDB 0.9's on-disk format (data version 1; the file
 * is in host byte order, pgno_t and txnid_t are size_t):
 *  - every page starts with a header {pgno_t pgno; u16 pad; u16 flags;
 *    u16 lower, upper (or u32 overflow page count)}, then u16 offsets of its
 *    nodes; flags: 0x01 branch, 0x02 leaf, 0x04 overflow, 0x08 meta;
 *  - pages 0 and 1 are meta pages: after the header, {u32 magic 0xBEEFC0DE;
 *    u32 version; void *address; size_t mapsize; db[2] (free pages, main);
 *    pgno_t last_pg; txnid_t txnid}, db = {u32 pad (the page size, in the
 *    free db); u16 flags; u16 depth; pgno_t branch, leaf, overflow pages;
 *    size_t entries; pgno_t root (~0: empty)}; page 1 is at the page size;
 *    the meta with the larger txnid is the current one;
 *  - a node is {u16 lo, hi (leaf: data size; branch: child page, with the
 *    u16 flags as its top 16 bits); u16 flags (0x01: data on overflow
 *    pages, its first page number stored as the data); u16 key size; key;
 *    data}; the free db maps a txnid to a list {count, page...} of pgno_t.
 *
 * A page LMDB frees in the transaction that allocated it is never written,
 * so a healthy file can end before its last used page when the pages past
 * its end are all free; the free db is walked (with pread) to tell that
 * apart from truncation. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "store_datafile.c reads LMDB's node layout of little-endian hosts"
#endif

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define PG_BRANCH 0x01
#define PG_LEAF 0x02
#define PG_META 0x08
#define NODE_BIGDATA 0x01
#define PG_NONE (~(size_t)0)
#define TAIL_PAGES_MAX 4096 /* a tail of free pages longer than this: truncated */
#define FREE_DEPTH_MAX 16

typedef struct {
    size_t pgno;
    uint16_t pad, flags;
    uint16_t lower, upper;
} disk_page;

typedef struct {
    uint32_t pad;
    uint16_t flags, depth;
    size_t branch_pages, leaf_pages, overflow_pages, entries, root;
} disk_db;

typedef struct {
    uint32_t magic, version;
    void *address;
    size_t mapsize;
    disk_db dbs[2];
    size_t last_pg, txnid;
} disk_meta;

#define PAGE_HDR sizeof(disk_page)

static bool all_zero(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Reads and checks meta page i at off into *m; psize is meta 0's (0 for meta 0). */
static mvm_code meta_read(int fd, const char *path, uint64_t size, int i, uint64_t off,
                          uint32_t psize, disk_meta *m, mvm_error *err) {
    uint8_t buf[PAGE_HDR + sizeof(disk_meta)];
    if (off + sizeof buf > size)
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s is truncated: %llu bytes cannot hold its meta page %d; %s",
                        path, (unsigned long long)size, i, STORE_RECOVERY_HINT);
    ssize_t got = pread(fd, buf, sizeof buf, (off_t)off);
    if (got < 0)
        return mvm_fail(err, MVM_DATA_LOSS, "store: %s: reading meta page %d: %s; %s", path, i,
                        strerror(errno), STORE_RECOVERY_HINT);
    if ((size_t)got != sizeof buf)
        return mvm_fail(err, MVM_DATA_LOSS, "store: %s: meta page %d is cut short; %s", path,
                        i, STORE_RECOVERY_HINT);
    if (all_zero(buf, sizeof buf))
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s: meta page %d is all zeros (the file was zeroed); %s", path,
                        i, STORE_RECOVERY_HINT);
    disk_page h;
    memcpy(&h, buf, sizeof h);
    memcpy(m, buf + PAGE_HDR, sizeof *m);
    if (!(h.flags & PG_META) || m->magic != LMDB_MAGIC)
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s: page %d is not an LMDB meta page (flags 0x%04x, magic "
                        "0x%08x): the file is damaged or not a store; %s",
                        path, i, h.flags, m->magic, STORE_RECOVERY_HINT);
    if (m->version != LMDB_DATA_VERSION)
        return mvm_fail(err, MVM_DATA_LOSS,
                        "store: %s: meta page %d has LMDB data format %u, not %u; %s", path, i,
                        m->version, LMDB_DATA_VERSION, STORE_RECOVERY_HINT);
    uint32_t ps = m->dbs[0].pad;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || (psize && ps != psize))
        return mvm_fail(err, MVM_DATA_LOSS, "store: %s: meta page %d has page size %u; %s", path,
                        i, ps, STORE_RECOVERY_HINT);
    if (m->last_pg < 1)
        return mvm_fail(err, MVM_DATA_LOSS, "store: %s: meta page %d has last page %zu; %s",
                        path, i, m->last_pg, STORE_RECOVERY_HINT);
    for (int d = 0; d < 2; d++) {
        size_t root = m->dbs[d].root;
        if (root != PG_NONE && (root < 2 || root > m->last_pg))
            return mvm_fail(err, MVM_DATA_LOSS,
                            "store: %s: meta page %d puts the %s tree's root at page %zu, "
                            "outside pages 2-%zu; %s",
                            path, i, d ? "main" : "free-page", root, m->last_pg,
                            STORE_RECOVERY_HINT);
    }
    return MVM_OK;
}

/* ---- the free db, read with pread, to account for a short tail ---- */

typedef struct {
    int fd;
    uint32_t psize;
    uint64_t eof_pg, last_pg; /* pages [eof_pg, last_pg] are past the end */
    uint8_t *seen;            /* bitmap over them */
    uint64_t nseen;
    bool bad;                 /* the free db itself is unreadable */
} free_walk;

static bool page_read(free_walk *fw, uint64_t pgno, uint8_t *buf) {
    if (pgno < 2 || pgno >= fw->eof_pg)
        return false;
    if (pread(fw->fd, buf, fw->psize, (off_t)(pgno * fw->psize)) != (ssize_t)fw->psize)
        return false;
    disk_page h;
    memcpy(&h, buf, sizeof h);
    return h.pgno == pgno;
}

static void mark_free(free_walk *fw, const uint8_t *idl, size_t len) {
    size_t n, pg;
    if (len < sizeof n) {
        fw->bad = true;
        return;
    }
    memcpy(&n, idl, sizeof n);
    if (n > len / sizeof pg - 1) {
        fw->bad = true;
        return;
    }
    for (size_t i = 1; i <= n; i++) {
        memcpy(&pg, idl + i * sizeof pg, sizeof pg);
        if (pg < fw->eof_pg || pg > fw->last_pg)
            continue;
        uint64_t b = pg - fw->eof_pg;
        if (!(fw->seen[b / 8] & (1u << (b % 8)))) {
            fw->seen[b / 8] |= (uint8_t)(1u << (b % 8));
            fw->nseen++;
        }
    }
}

/* The data of a leaf node whose value is on overflow pages. */
static void mark_big(free_walk *fw, const uint8_t *data, size_t dsize) {
    size_t ov;
    memcpy(&ov, data, sizeof ov);
    uint64_t pages = (PAGE_HDR + dsize + fw->psize - 1) / fw->psize;
    uint8_t *buf = ov >= 2 && ov + pages <= fw->eof_pg ? malloc(dsize ? dsize : 1) : NULL;
    if (!buf ||
        pread(fw->fd, buf, dsize, (off_t)(ov * fw->psize + PAGE_HDR)) != (ssize_t)dsize) {
        fw->bad = true;
        free(buf);
        return;
    }
    mark_free(fw, buf, dsize);
    free(buf);
}

static void walk_free(free_walk *fw, uint64_t pgno, int depth) {
    uint8_t *buf = depth < FREE_DEPTH_MAX ? malloc(fw->psize) : NULL;
    if (!buf || !page_read(fw, pgno, buf)) {
        fw->bad = true;
        free(buf);
        return;
    }
    disk_page h;
    memcpy(&h, buf, sizeof h);
    unsigned nkeys = h.lower >= PAGE_HDR ? (unsigned)(h.lower - PAGE_HDR) / 2 : 0;
    if (!(h.flags & (PG_BRANCH | PG_LEAF)) || h.lower > fw->psize)
        fw->bad = true;
    for (unsigned i = 0; i < nkeys && !fw->bad; i++) {
        uint16_t off, lo, hi, flags, ksize;
        memcpy(&off, buf + PAGE_HDR + 2 * i, 2);
        if ((size_t)off + 8 > fw->psize) {
            fw->bad = true;
            break;
        }
        memcpy(&lo, buf + off, 2);
        memcpy(&hi, buf + off + 2, 2);
        memcpy(&flags, buf + off + 4, 2);
        memcpy(&ksize, buf + off + 6, 2);
        if (h.flags & PG_BRANCH) {
            uint64_t child = lo | (uint64_t)hi << 16;
            if (sizeof(size_t) > 4)
                child |= (uint64_t)flags << 32;
            walk_free(fw, child, depth + 1);
            continue;
        }
        size_t dsize = lo | (size_t)hi << 16, at = (size_t)off + 8 + ksize;
        if (flags & NODE_BIGDATA) {
            if (at + sizeof(size_t) > fw->psize)
                fw->bad = true;
            else
                mark_big(fw, buf + at, dsize);
        } else if (at + dsize > fw->psize) {
            fw->bad = true;
        } else {
            mark_free(fw, buf + at, dsize);
        }
    }
    free(buf);
}

/* True if every page of [eof_pg, m->last_pg] is listed free in m's free db. */
static bool tail_is_free(int fd, const disk_meta *m, uint32_t psize, uint64_t eof_pg) {
    uint64_t tail = m->last_pg - eof_pg + 1;
    if (tail > TAIL_PAGES_MAX || m->dbs[0].root == PG_NONE)
        return false;
    free_walk fw = {.fd = fd, .psize = psize, .eof_pg = eof_pg, .last_pg = m->last_pg};
    fw.seen = calloc(1, (size_t)(tail + 7) / 8);
    if (!fw.seen)
        return false;
    walk_free(&fw, m->dbs[0].root, 0);
    bool ok = !fw.bad && fw.nseen == tail;
    free(fw.seen);
    return ok;
}

mvm_code store_datafile_read(const char *path, store_datafile *df, mvm_error *err) {
    memset(df, 0, sizeof *df);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return mvm_fail(err, MVM_NOT_FOUND, "store: %s does not exist", path);
    if (fd < 0)
        return mvm_fail(err, MVM_INTERNAL, "store: %s: %s", path, strerror(errno));
    struct stat sb;
    mvm_code c = MVM_OK;
    disk_meta m[2];
    if (fstat(fd, &sb) != 0)
        c = mvm_fail(err, MVM_INTERNAL, "store: %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        c = mvm_fail(err, MVM_DATA_LOSS, "store: %s is not a regular file; %s", path,
                     STORE_RECOVERY_HINT);
    else if (sb.st_size == 0)
        c = mvm_fail(err, MVM_DATA_LOSS,
                     "store: %s is empty (0 bytes): the store's data is gone; %s", path,
                     STORE_RECOVERY_HINT);
    df->size = (uint64_t)sb.st_size;
    if (!c)
        c = meta_read(fd, path, df->size, 0, 0, 0, &m[0], err);
    if (!c)
        c = meta_read(fd, path, df->size, 1, m[0].dbs[0].pad, m[0].dbs[0].pad, &m[1], err);
    if (c) {
        close(fd);
        return c;
    }
    const disk_meta *cur = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
    df->psize = cur->dbs[0].pad;
    df->last_pg = cur->last_pg;
    df->txnid = cur->txnid;
    uint64_t need = ((uint64_t)cur->last_pg + 1) * df->psize;
    if (cur->last_pg >= UINT64_MAX / df->psize - 1 ||
        (df->size < need &&
         (df->size % df->psize || !tail_is_free(fd, cur, df->psize, df->size / df->psize))))
        c = mvm_fail(err, MVM_DATA_LOSS,
                     "store: %s is truncated: it is %llu bytes, but its current meta page "
                     "(transaction %llu) uses %llu pages of %u bytes (%llu bytes); %s",
                     path, (unsigned long long)df->size, (unsigned long long)df->txnid,
                     (unsigned long long)cur->last_pg + 1, df->psize, (unsigned long long)need,
                     STORE_RECOVERY_HINT);
    close(fd);
    return c;
}
