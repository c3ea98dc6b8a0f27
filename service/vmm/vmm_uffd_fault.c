/* vmm_uffd_fault.c - the page server's work inside one session: answering
 * page faults with UFFDIO_COPY from the memory file (or zeros for pages the
 * process gave up: UFFD_EVENT_REMOVE), copying in the working set ahead of
 * the guest (prefetch) and, optionally, every page left once it settled
 * (populate), and recording the order of first touches. Runs on the server
 * thread with the server's mutex held; see vmm_uffd.c for the design.
 *
 * The kernel's answers to a copy (mm/userfaultfd.c): 0, all of it done;
 * EAGAIN with a positive count, that many bytes done (the next page is
 * there already, or the map started changing); EEXIST, the first page is
 * there; EAGAIN with no count, the process's memory map is changing (a
 * non-cooperative event is to be read first); ESRCH, its memory is gone. */
#include "vmm_uffd_internal.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MSGS_PER_READ 32
#define COPY_MAX (256u << 10) /* bytes per UFFDIO_COPY of a prefetch or populate run */

/* What a copy into the process came to. */
typedef enum copy_result {
    COPY_DONE,   /* *done bytes from the start filled (at least a page) */
    COPY_EXISTS, /* the first page was there already (EEXIST); its waiters woken */
    COPY_AGAIN,  /* nothing done: the process's memory map is changing (EAGAIN) */
    COPY_GONE,   /* the process's memory is gone (ESRCH) */
    COPY_FAILED, /* err says why */
} copy_result;

static const vmm_uffd_region *region_of_addr(const vmm_uffd_session *ss, uint64_t addr) {
    size_t lo = 0, hi = ss->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const vmm_uffd_region *r = &ss->regions[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

const vmm_uffd_region *vmm_uffd_region_of_offset(const vmm_uffd_session *ss, uint64_t off) {
    for (size_t i = 0; i < ss->nregions; i++) {
        const vmm_uffd_region *r = &ss->regions[i];
        if (off >= r->offset && off - r->offset < r->size)
            return r;
    }
    return NULL;
}

static void mark_present(vmm_uffd_session *ss, uint64_t off, uint64_t len) {
    for (uint64_t p = off / ss->ps; p < (off + len) / ss->ps; p++) {
        vmm_uffd_bit_set(ss->present, p, true);
        vmm_uffd_bit_set(ss->removed, p, false);
    }
}

static void wake_page(vmm_uffd_session *ss, uint64_t addr) {
    struct uffdio_range r = {.start = addr, .len = ss->ps};
    ioctl(ss->uffd, UFFDIO_WAKE, &r); /* nobody waiting is fine */
}

/* Fills [off, off + len) of the memory file's pages (inside one region) in
 * the process: from the file, or with zeros. *done gets the bytes dealt
 * with from off on (copied, or found present: the first page only). */
static copy_result copy_run(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t off, uint64_t len,
                            bool zero, uint64_t *done, mvm_error *err) {
    *done = 0;
    const vmm_uffd_region *r = vmm_uffd_region_of_offset(ss, off);
    uint64_t dst = r->base + (off - r->offset);
    int rc;
    int64_t result;
    ss->st.copy_calls++;
    if (zero && ss->ps == (uint32_t)sysconf(_SC_PAGESIZE)) {
        struct uffdio_zeropage z = {.range = {.start = dst, .len = len}, .mode = 0};
        rc = ioctl(ss->uffd, UFFDIO_ZEROPAGE, &z);
        result = z.zeropage;
    } else {
        const void *src = (const char *)ss->mf->base + off;
        if (zero) { /* huge pages have no ZEROPAGE: copy from a page of zeros */
            if (!srv->zeros) {
                void *z = mmap(NULL, ss->ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (z == MAP_FAILED) {
                    mvm_fail(err, MVM_INTERNAL, "mmap of a zero page: %s", strerror(errno));
                    return COPY_FAILED;
                }
                srv->zeros = z;
            }
            src = srv->zeros;
            len = ss->ps;
        }
        struct uffdio_copy c = {.dst = dst, .src = (uint64_t)(uintptr_t)src, .len = len, .mode = 0};
        rc = ioctl(ss->uffd, UFFDIO_COPY, &c);
        result = c.copy;
    }
    if (rc == 0) {
        *done = len;
    } else if (errno == EAGAIN && result > 0) {
        *done = (uint64_t)result; /* partial: the next page is there, or the map changes */
    } else if (errno == EEXIST) {
        wake_page(ss, dst);
        mark_present(ss, off, ss->ps);
        *done = ss->ps;
        return COPY_EXISTS;
    } else if (errno == EAGAIN) {
        ss->st.retries++;
        return COPY_AGAIN;
    } else if (errno == ESRCH) {
        return COPY_GONE;
    } else {
        mvm_fail(err, MVM_INTERNAL, "%s of %llu bytes at 0x%llx (memory file offset %llu): %s",
                 zero ? "zero-filling" : "UFFDIO_COPY", (unsigned long long)len,
                 (unsigned long long)dst, (unsigned long long)off, strerror(errno));
        return COPY_FAILED;
    }
    *done -= *done % ss->ps;
    if (*done == 0) { /* no whole page: treat as no progress */
        ss->st.retries++;
        return COPY_AGAIN;
    }
    if (!zero)
        ss->st.bytes_copied += *done;
    mark_present(ss, off, *done);
    return COPY_DONE;
}

/* Ends the session for a copy that went wrong; true if it did. */
static bool copy_ended(vmm_uffd_server *srv, vmm_uffd_session *ss, copy_result cr,
                       const mvm_error *e) {
    if (cr == COPY_GONE) {
        vmm_uffd_end_session(srv, ss, MVM_OK, "the memory of process %d is gone",
                             (int)ss->st.peer_pid);
        return true;
    }
    if (cr == COPY_FAILED) {
        vmm_uffd_end_session(srv, ss, e->code, "%s", e->msg);
        return true;
    }
    return false;
}

/* ---- faults ---- */

/* Appends to a growing array; false when out of memory. */
static bool push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint64_t *a = realloc(*arr, c * sizeof *a);
        if (!a)
            return false;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return true;
}

static bool retry_push(vmm_uffd_session *ss, uint64_t addr) {
    return push(&ss->retry, &ss->nretry, &ss->retry_cap, addr);
}

/* Adds the page at memory-file offset off to the working set recorded. */
void vmm_uffd_record(vmm_uffd_session *ss, uint64_t off) {
    uint64_t page = off / ss->ps;
    if (!ss->recording || vmm_uffd_bit(ss->listed, page))
        return;
    if (!push(&ss->rec, &ss->rec_n, &ss->rec_cap, off)) {
        ss->recording = false; /* out of memory: the working set is only an optimisation */
        vmm_uffd_note_ws(ss, "recording stopped: out of memory");
        return;
    }
    vmm_uffd_bit_set(ss->listed, page, true);
}

/* Serves one fault at page address addr (first: not a retry). False if
 * the session ended. */
static bool serve_fault(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t addr, bool first) {
    const vmm_uffd_region *r = region_of_addr(ss, addr);
    if (!r) {
        vmm_uffd_end_session(srv, ss, MVM_INVALID_ARGUMENT,
                             "page fault at 0x%llx, outside every memory region of the handshake",
                             (unsigned long long)addr);
        return false;
    }
    uint64_t off = r->offset + (addr - r->base);
    if (first)
        vmm_uffd_record(ss, off);
    bool zero = vmm_uffd_bit(ss->removed, off / ss->ps);
    uint64_t done;
    mvm_error e;
    copy_result cr = copy_run(srv, ss, off, ss->ps, zero, &done, &e);
    if (copy_ended(srv, ss, cr, &e))
        return false;
    switch (cr) {
    case COPY_AGAIN:
        if (!retry_push(ss, addr)) {
            vmm_uffd_end_session(srv, ss, MVM_RESOURCE_EXHAUSTED,
                                 "out of memory for a fault to retry");
            return false;
        }
        break;
    case COPY_EXISTS:
        ss->st.faults_present++;
        break;
    default:
        ss->st.faults_served++;
        if (zero)
            ss->st.pages_zeroed++;
        break;
    }
    return true;
}

/* Marks [start, end) removed: the next fault there gets zeros. */
static void on_remove(vmm_uffd_session *ss, uint64_t start, uint64_t end) {
    ss->st.removes++;
    for (size_t i = 0; i < ss->nregions; i++) {
        const vmm_uffd_region *r = &ss->regions[i];
        uint64_t lo = start > r->base ? start : r->base;
        uint64_t hi = end < r->base + r->size ? end : r->base + r->size;
        lo += (ss->ps - lo % ss->ps) % ss->ps;
        for (uint64_t a = lo; a + ss->ps <= hi; a += ss->ps) {
            uint64_t page = (r->offset + (a - r->base)) / ss->ps;
            vmm_uffd_bit_set(ss->removed, page, true);
            vmm_uffd_bit_set(ss->present, page, false);
        }
    }
}

/* Reads and handles every event the userfaultfd holds. */
void vmm_uffd_on_events(vmm_uffd_server *srv, vmm_uffd_session *ss) {
    struct uffd_msg msgs[MSGS_PER_READ];
    while (ss->st.state == VMM_UFFD_SERVING) {
        ssize_t n = read(ss->uffd, msgs, sizeof msgs);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 || n % (ssize_t)sizeof msgs[0] != 0) {
            vmm_uffd_end_session(srv, ss, MVM_INVALID_ARGUMENT, "reading the userfaultfd: %s",
                                 n < 0 ? strerror(errno) : "a partial message");
            return;
        }
        for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
            const struct uffd_msg *m = &msgs[i];
            if (ss->st.state != VMM_UFFD_SERVING && m->event != UFFD_EVENT_FORK)
                continue;
            switch (m->event) {
            case UFFD_EVENT_PAGEFAULT:
                ss->st.faults++;
                ss->st.last_fault_us = vmm_uffd_now_us() - ss->t_accept;
                if (ss->st.first_fault_us < 0)
                    ss->st.first_fault_us = ss->st.last_fault_us;
                if (m->arg.pagefault.flags & ~(uint64_t)UFFD_PAGEFAULT_FLAG_WRITE) {
                    /* write-protect or minor faults: registered by the
                     * process for modes Firecracker does not use; copying
                     * cannot resolve them (the page is there). */
                    vmm_uffd_end_session(
                        srv, ss, MVM_INVALID_ARGUMENT,
                        "a page fault with flags 0x%llx at 0x%llx: only missing-page "
                        "faults are served",
                        (unsigned long long)m->arg.pagefault.flags,
                        (unsigned long long)m->arg.pagefault.address);
                    break;
                }
                serve_fault(srv, ss, m->arg.pagefault.address & ~((uint64_t)ss->ps - 1), true);
                break;
            case UFFD_EVENT_REMOVE:
            case UFFD_EVENT_UNMAP:
                on_remove(ss, m->arg.remove.start, m->arg.remove.end);
                break;
            case UFFD_EVENT_FORK:
                /* Not a feature Firecracker asks for; never keep the child's
                 * userfaultfd the kernel installed here. */
                close((int)m->arg.fork.ufd);
                break;
            case UFFD_EVENT_REMAP:
                vmm_uffd_end_session(srv, ss, MVM_INVALID_ARGUMENT,
                                     "the process moved guest memory (mremap from 0x%llx); "
                                     "not served",
                                     (unsigned long long)m->arg.remap.from);
                break;
            default:
                break; /* an event of a feature not asked for: nothing to do */
            }
        }
    }
}

/* Serves again the faults that met EAGAIN (new ones may join a new list). */
void vmm_uffd_retry_faults(vmm_uffd_server *srv, vmm_uffd_session *ss) {
    uint64_t *list = ss->retry;
    size_t n = ss->nretry;
    ss->retry = NULL;
    ss->nretry = ss->retry_cap = 0;
    for (size_t i = 0; i < n && ss->st.state == VMM_UFFD_SERVING; i++)
        serve_fault(srv, ss, list[i], false);
    free(list);
}

/* ---- prefetch and populate ---- */

/* A run copied ahead of the guest (prefetch, populate): false when the
 * pass must stop (the session ended, or the map is changing: again next
 * pass). *done gets the bytes to step over; *pages counts those copied. */
static bool copy_ahead(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t off, uint64_t len,
                       uint64_t *pages, uint64_t *done, uint64_t *budget) {
    mvm_error e;
    copy_result cr = copy_run(srv, ss, off, len, false, done, &e);
    if (copy_ended(srv, ss, cr, &e) || cr == COPY_AGAIN)
        return false;
    if (cr == COPY_DONE)
        *pages += *done / ss->ps;
    *budget = *budget > *done ? *budget - *done : 0;
    return true;
}

/* Copies up to `budget` bytes of the working set in, in its order, a run
 * of consecutive pages per ioctl. */
void vmm_uffd_prefetch_step(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t budget) {
    while (ss->pf_pos < ss->pf_n && budget > 0 && ss->st.state == VMM_UFFD_SERVING) {
        uint64_t off = ss->pf[ss->pf_pos];
        if (vmm_uffd_bit(ss->present, off / ss->ps) || vmm_uffd_bit(ss->removed, off / ss->ps)) {
            ss->pf_pos++;
            continue;
        }
        const vmm_uffd_region *r = vmm_uffd_region_of_offset(ss, off);
        uint64_t len = ss->ps;
        for (size_t k = ss->pf_pos + 1;
             k < ss->pf_n && len < COPY_MAX && len < budget && ss->pf[k] == off + len &&
             ss->pf[k] - r->offset < r->size && !vmm_uffd_bit(ss->present, ss->pf[k] / ss->ps) &&
             !vmm_uffd_bit(ss->removed, ss->pf[k] / ss->ps);
             k++)
            len += ss->ps;
        uint64_t done;
        if (!copy_ahead(srv, ss, off, len, &ss->st.pages_prefetched, &done, &budget))
            return;
        ss->pf_pos += done / ss->ps;
    }
    if (ss->pf_pos >= ss->pf_n && ss->pf_n > 0 && ss->st.prefetch_us < 0)
        ss->st.prefetch_us = vmm_uffd_now_us() - ss->t_handshake;
}

/* populate_after_settle: every page neither present nor removed, in file
 * order, runs of up to COPY_MAX. */
void vmm_uffd_populate_step(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t budget) {
    while (ss->populating && budget > 0 && ss->st.state == VMM_UFFD_SERVING) {
        if (ss->pop_region >= ss->nregions) {
            ss->populating = false;
            return;
        }
        const vmm_uffd_region *r = &ss->regions[ss->pop_region];
        if (ss->pop_off >= r->size) {
            ss->pop_region++;
            ss->pop_off = 0;
            continue;
        }
        uint64_t off = r->offset + ss->pop_off;
        if (vmm_uffd_bit(ss->present, off / ss->ps) || vmm_uffd_bit(ss->removed, off / ss->ps)) {
            ss->pop_off += ss->ps;
            continue;
        }
        uint64_t len = ss->ps;
        while (ss->pop_off + len < r->size && len < COPY_MAX && len < budget &&
               !vmm_uffd_bit(ss->present, (off + len) / ss->ps) &&
               !vmm_uffd_bit(ss->removed, (off + len) / ss->ps))
            len += ss->ps;
        uint64_t done;
        if (!copy_ahead(srv, ss, off, len, &ss->st.pages_populated, &done, &budget))
            return;
        ss->pop_off += done;
    }
}
