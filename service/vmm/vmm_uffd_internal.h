/* vmm_uffd_internal.h - what the userfaultfd page server's files share:
 * the handshake (receiving Firecracker's message and checking its regions,
 * vmm_uffd_handshake.c). The server itself is vmm_uffd.c; the working-set
 * file is vmm_uffd_ws.c; the public face is the last section of vmm.h. */
#ifndef MVM_VMM_UFFD_INTERNAL_H
#define MVM_VMM_UFFD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

#define VMM_UFFD_MAX_REGIONS 256
#define VMM_UFFD_MSG_MAX (64u * 1024) /* a v1.10 message is ~110 bytes a region */
#define VMM_UFFD_MAX_FDS 8            /* descriptors taken from one recvmsg */

/* One guest memory region of the handshake. */
typedef struct vmm_uffd_region {
    uint64_t base;   /* its address in the restoring process */
    uint64_t size;   /* bytes, a multiple of the page size */
    uint64_t offset; /* where its contents start in the memory file */
} vmm_uffd_region;

/* What one connection has sent so far. */
typedef struct vmm_uffd_inbox {
    char *buf;                     /* VMM_UFFD_MSG_MAX bytes, NUL-terminated */
    size_t len;
    int fds[VMM_UFFD_MAX_FDS + 1]; /* descriptors received, in order */
    int nfds;                      /* how many; more than one is refused */
} vmm_uffd_inbox;

typedef enum vmm_uffd_recv {
    VMM_UFFD_RECV_MORE,     /* nothing refused yet; wait for more bytes */
    VMM_UFFD_RECV_COMPLETE, /* a whole JSON value and exactly one descriptor */
    VMM_UFFD_RECV_REFUSED,  /* err says why (INVALID_ARGUMENT or INTERNAL) */
} vmm_uffd_recv;

/* Allocates the buffer; RESOURCE_EXHAUSTED. */
mvm_code vmm_uffd_inbox_init(vmm_uffd_inbox *in, mvm_error *err);
/* Closes the descriptors it still holds and frees the buffer. */
void vmm_uffd_inbox_clear(vmm_uffd_inbox *in);
/* Reads what the non-blocking connection conn holds (until EAGAIN or end of
 * stream) and says whether the message is complete. On COMPLETE the
 * userfaultfd is in->fds[0] (the caller takes it: sets nfds to 0). */
vmm_uffd_recv vmm_uffd_inbox_read(vmm_uffd_inbox *in, int conn, mvm_error *err);

/* Checks the message (a JSON array of GuestRegionUffdMapping objects)
 * against a memory file of file_size bytes: at most `cap` regions, each
 * page-aligned, non-empty, inside the file, none overlapping another in the
 * process or in the file, one page size for all (4096 or 2 MiB, given as
 * "page_size" or v1.10's "page_size_kib", both in bytes). Fills regions
 * sorted by base. INVALID_ARGUMENT saying which region and field is wrong. */
mvm_code vmm_uffd_regions_parse(const char *msg, size_t len, uint64_t file_size,
                                vmm_uffd_region *regions, size_t cap, size_t *n,
                                uint32_t *page_size, mvm_error *err);

/* True if fd is a userfaultfd (its /proc/self/fd link). */
bool vmm_uffd_is_userfaultfd(int fd);

#endif
