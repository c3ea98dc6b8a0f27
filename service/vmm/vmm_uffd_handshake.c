/* vmm_uffd_handshake.c - the one message a restoring Firecracker sends the
 * page server: a JSON array describing its guest memory regions, with the
 * userfaultfd attached (SCM_RIGHTS). Receiving it without trusting it (size
 * cap, descriptors counted and closed, the descriptor checked to be a
 * userfaultfd) and checking the regions against the memory file, so that a
 * malformed or hostile message is refused with a reason and never makes the
 * server copy outside the file. */
#include "vmm_uffd_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HUGE_PAGE_2M (2u * 1024 * 1024)

mvm_code vmm_uffd_inbox_init(vmm_uffd_inbox *in, mvm_error *err) {
    memset(in, 0, sizeof *in);
    /* One byte more than allowed, to tell "exactly the cap" from "more",
     * and one for the terminating NUL. */
    in->buf = malloc(VMM_UFFD_MSG_MAX + 2);
    if (!in->buf)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    in->buf[0] = '\0';
    return MVM_OK;
}

void vmm_uffd_inbox_clear(vmm_uffd_inbox *in) {
    for (int i = 0; i < in->nfds && i <= VMM_UFFD_MAX_FDS; i++)
        close(in->fds[i]);
    in->nfds = 0;
    free(in->buf);
    in->buf = NULL;
    in->len = 0;
}

bool vmm_uffd_is_userfaultfd(int fd) {
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

/* Keeps the descriptors of every SCM_RIGHTS message of mh (closing those
 * beyond what the inbox holds; nfds still counts them). */
static void take_fds(vmm_uffd_inbox *in, struct msghdr *mh) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof fd, sizeof fd);
            if (in->nfds <= VMM_UFFD_MAX_FDS)
                in->fds[in->nfds] = fd;
            else
                close(fd);
            in->nfds++;
        }
    }
}

vmm_uffd_recv vmm_uffd_inbox_read(vmm_uffd_inbox *in, int conn, mvm_error *err) {
    bool eof = false;
    for (;;) {
        if (in->len > VMM_UFFD_MSG_MAX) {
            mvm_fail(err, MVM_INVALID_ARGUMENT,
                     "the memory regions message is longer than %u bytes", VMM_UFFD_MSG_MAX);
            return VMM_UFFD_RECV_REFUSED;
        }
        struct iovec iov = {in->buf + in->len, VMM_UFFD_MSG_MAX + 1 - in->len};
        union {
            char b[CMSG_SPACE(sizeof(int) * VMM_UFFD_MAX_FDS)];
            struct cmsghdr align;
        } ctl;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
        ssize_t r = recvmsg(conn, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            mvm_fail(err, MVM_INTERNAL, "receiving the memory regions message: %s",
                     strerror(errno));
            return VMM_UFFD_RECV_REFUSED;
        }
        take_fds(in, &mh);
        if (mh.msg_flags & MSG_CTRUNC) {
            mvm_fail(err, MVM_INVALID_ARGUMENT,
                     "the memory regions message carried more than %d descriptors; "
                     "expected exactly one (the userfaultfd)",
                     VMM_UFFD_MAX_FDS);
            return VMM_UFFD_RECV_REFUSED;
        }
        if (r == 0) {
            eof = true;
            break;
        }
        in->len += (size_t)r;
    }
    in->buf[in->len] = '\0';
    if (in->nfds > 1) {
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "the memory regions message carried %d descriptors; expected exactly one "
                 "(the userfaultfd)",
                 in->nfds);
        return VMM_UFFD_RECV_REFUSED;
    }
    if (in->len == 0) {
        if (!eof)
            return VMM_UFFD_RECV_MORE;
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "the process closed the connection without sending its memory regions");
        return VMM_UFFD_RECV_REFUSED;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(in->buf, in->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (json_error_code(&jerr) == json_error_premature_end_of_input && !eof)
            return VMM_UFFD_RECV_MORE;
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "the memory regions message is not JSON: %s (byte %d of %zu)", jerr.text,
                 jerr.position, in->len);
        return VMM_UFFD_RECV_REFUSED;
    }
    json_decref(doc);
    if (in->nfds == 0) {
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "the memory regions message carried no descriptor; expected the userfaultfd");
        return VMM_UFFD_RECV_REFUSED;
    }
    if (!vmm_uffd_is_userfaultfd(in->fds[0])) {
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "the descriptor sent with the memory regions is not a userfaultfd");
        return VMM_UFFD_RECV_REFUSED;
    }
    return VMM_UFFD_RECV_COMPLETE;
}

/* ---- the regions ---- */

/* A non-negative integer member; false (err filled) if absent or not one. */
static bool get_u64(json_t *obj, size_t index, const char *name, uint64_t *out, bool optional,
                    bool *present, mvm_error *err) {
    json_t *v = json_object_get(obj, name);
    if (present)
        *present = v != NULL;
    if (!v) {
        if (optional)
            return true;
        mvm_fail(err, MVM_INVALID_ARGUMENT, "memory region %zu has no \"%s\"", index, name);
        return false;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        mvm_fail(err, MVM_INVALID_ARGUMENT,
                 "memory region %zu: \"%s\" must be a non-negative integer", index, name);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static int by_base(const void *a, const void *b) {
    const vmm_uffd_region *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

static int by_offset(const void *a, const void *b) {
    const vmm_uffd_region *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* One element of the array into *r; its page size into *ps, which must be
 * want_ps unless that is 0 (the first region). */
static mvm_code parse_region(json_t *obj, size_t i, uint64_t file_size, uint64_t want_ps,
                             vmm_uffd_region *r, uint64_t *ps, mvm_error *err) {
    if (!json_is_object(obj))
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "memory region %zu is not a JSON object", i);
    uint64_t ps_new = 0, ps_old = 0;
    bool has_new, has_old;
    if (!get_u64(obj, i, "base_host_virt_addr", &r->base, false, NULL, err) ||
        !get_u64(obj, i, "size", &r->size, false, NULL, err) ||
        !get_u64(obj, i, "offset", &r->offset, false, NULL, err) ||
        !get_u64(obj, i, "page_size", &ps_new, true, &has_new, err) ||
        !get_u64(obj, i, "page_size_kib", &ps_old, true, &has_old, err))
        return err ? err->code : MVM_INVALID_ARGUMENT;
    /* Firecracker v1.10 sends only "page_size_kib", which holds bytes in
     * spite of its name; v1.12 added "page_size" with the same value. */
    if (!has_new && !has_old)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu has neither \"page_size\" nor \"page_size_kib\"", i);
    if (has_new && has_old && ps_new != ps_old)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu: \"page_size\" %llu and \"page_size_kib\" %llu differ",
                        i, (unsigned long long)ps_new, (unsigned long long)ps_old);
    *ps = has_new ? ps_new : ps_old;
    uint64_t host_page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (*ps != host_page && *ps != HUGE_PAGE_2M)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu: page size %llu bytes is neither %llu nor %u", i,
                        (unsigned long long)*ps, (unsigned long long)host_page, HUGE_PAGE_2M);
    if (want_ps && *ps != want_ps)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu has page size %llu, region 0 has %llu", i,
                        (unsigned long long)*ps, (unsigned long long)want_ps);
    if (r->size == 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "memory region %zu is empty", i);
    if (r->base % *ps || r->size % *ps || r->offset % *ps)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu (address 0x%llx, size %llu, offset %llu) is not "
                        "aligned to its page size %llu",
                        i, (unsigned long long)r->base, (unsigned long long)r->size,
                        (unsigned long long)r->offset, (unsigned long long)*ps);
    if (r->base + r->size < r->base)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu wraps around the address space", i);
    if (r->offset > file_size || r->size > file_size - r->offset)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory region %zu (offset %llu, size %llu) is not inside the memory "
                        "file (%llu bytes)",
                        i, (unsigned long long)r->offset, (unsigned long long)r->size,
                        (unsigned long long)file_size);
    return MVM_OK;
}

/* Sorts the regions by file offset (in_file) or by address and says
 * whether two overlap; *at gets where the second one starts. */
static bool overlap(vmm_uffd_region *regions, size_t n, bool in_file, uint64_t *at) {
    qsort(regions, n, sizeof *regions, in_file ? by_offset : by_base);
    for (size_t i = 1; i < n; i++) {
        uint64_t prev = in_file ? regions[i - 1].offset : regions[i - 1].base;
        uint64_t next = in_file ? regions[i].offset : regions[i].base;
        if (prev + regions[i - 1].size > next) {
            *at = next;
            return true;
        }
    }
    return false;
}

mvm_code vmm_uffd_regions_parse(const char *msg, size_t len, uint64_t file_size,
                                vmm_uffd_region *regions, size_t cap, size_t *n,
                                uint32_t *page_size, mvm_error *err) {
    *n = 0;
    *page_size = 0;
    json_error_t jerr;
    json_t *doc = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "the memory regions message is not JSON: %s",
                        jerr.text);
    mvm_code rc = MVM_OK;
    size_t count = json_is_array(doc) ? json_array_size(doc) : 0;
    if (!json_is_array(doc))
        rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "the memory regions message is not a JSON array");
    else if (count == 0)
        rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "the memory regions message lists no region");
    else if (count > cap)
        rc = mvm_fail(err, MVM_INVALID_ARGUMENT,
                      "the memory regions message lists %zu regions; at most %zu are served", count,
                      cap);
    uint64_t ps_all = 0;
    for (size_t i = 0; rc == MVM_OK && i < count; i++) {
        uint64_t ps = 0;
        rc = parse_region(json_array_get(doc, i), i, file_size, ps_all, &regions[i], &ps, err);
        ps_all = ps;
    }
    json_decref(doc);
    if (rc != MVM_OK)
        return rc;
    /* Disjoint in the file, then in the process (left sorted by base). */
    uint64_t at;
    if (overlap(regions, count, true, &at))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory regions overlap in the memory file (at offset %llu)",
                        (unsigned long long)at);
    if (overlap(regions, count, false, &at))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "memory regions overlap in the process (at address 0x%llx)",
                        (unsigned long long)at);
    *n = count;
    *page_size = (uint32_t)ps_all;
    return MVM_OK;
}
