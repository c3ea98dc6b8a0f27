/* vmm_uffd_internal.h - what the userfaultfd page server's files share:
 * the server and session structs (vmm_uffd.c: the thread, sessions, the
 * public API), serving faults and prefetching (vmm_uffd_fault.c), the
 * handshake (receiving Firecracker's message and checking its regions,
 * vmm_uffd_handshake.c). The working-set file is vmm_uffd_ws.c; the public
 * face is the last section of vmm.h. Everything that touches a session
 * runs on the server thread with the server's mutex held. */
#ifndef MVM_VMM_UFFD_INTERNAL_H
#define MVM_VMM_UFFD_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
    char *buf; /* VMM_UFFD_MSG_MAX bytes, NUL-terminated */
    size_t len;
    int fds[VMM_UFFD_MAX_FDS + 1]; /* descriptors received, in order */
    int nfds;                      /* how many; more than one is refused */
} vmm_uffd_inbox;

typedef enum vmm_uffd_recv {
    VMM_UFFD_RECV_MORE,     /* nothing refused yet; wait for more bytes */
    VMM_UFFD_RECV_COMPLETE, /* a whole JSON value and exactly one descriptor */
    VMM_UFFD_RECV_REFUSED,  /* err says why (INVALID_ARGUMENT or INTERNAL) */
} vmm_uffd_recv;

/* ---- the server and its sessions (vmm_uffd.c) ---- */

enum watch_kind { W_WAKE, W_LISTEN, W_CONN, W_UFFD, W_PID };

typedef struct watch {
    vmm_uffd_session *ss; /* NULL for the server's wake eventfd */
    enum watch_kind kind;
} watch;

/* A memory file mapped once for every session restoring from it. */
typedef struct memfile {
    struct memfile *next;
    dev_t dev;
    ino_t ino;
    uint64_t size;
    void *base;
    unsigned refs;
} memfile;

struct vmm_uffd_server {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a session changed state */
    vmm_uffd_config cfg;
    int epfd, wakefd;
    watch wake_watch;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    unsigned refs;              /* the server handle + each session not yet freed */
    vmm_uffd_session *sessions; /* not yet ENDED */
    memfile *files;
    vmm_uffd_server_stats st;
    void *zeros; /* a huge page of zeros, for 2 MiB pages (no ZEROPAGE) */
};

struct vmm_uffd_session {
    vmm_uffd_session *next;
    vmm_uffd_server *srv;
    watch w_listen, w_conn, w_uffd, w_pid;
    int listen_fd, conn_fd, uffd, pidfd;
    int sock_dirfd; /* O_PATH of the socket's directory, to remove it */
    char sock_name[NAME_MAX + 1];
    bool sock_present; /* the socket file is ours to remove */
    memfile *mf;
    bool has_ws;
    char ws_path[PATH_MAX];
    uint64_t *ws_in; /* the working set read at serve, until the handshake */
    size_t ws_in_n;
    uint32_t ws_in_ps;
    uint64_t ws_in_msize;
    vmm_uffd_inbox inbox;
    vmm_uffd_region *regions; /* sorted by base */
    size_t nregions;
    uint32_t ps;
    uint64_t pages;                      /* pages of the memory file */
    uint8_t *present, *removed, *listed; /* bitmaps over them */
    uint64_t *rec;                       /* the working set being recorded */
    size_t rec_n, rec_cap;
    bool recording;
    uint64_t *pf; /* prefetch list (memory-file offsets), from ws_in */
    size_t pf_n, pf_pos;
    bool settled;    /* settle_ms since the handshake have passed */
    bool populating; /* populate_after_settle under way */
    size_t pop_region;
    uint64_t pop_off;
    uint64_t *retry; /* demand faults (addresses) to retry: EAGAIN */
    size_t nretry, retry_cap;
    bool end_requested;
    int64_t t_serve, t_accept, t_handshake, hs_deadline, settle_deadline; /* monotonic us */
    vmm_uffd_stats st;
};

int64_t vmm_uffd_now_us(void); /* CLOCK_MONOTONIC */

static inline bool vmm_uffd_bit(const uint8_t *map, uint64_t i) {
    return map[i / 8] >> (i % 8) & 1;
}

static inline void vmm_uffd_bit_set(uint8_t *map, uint64_t i, bool on) {
    if (on)
        map[i / 8] |= (uint8_t)(1u << (i % 8));
    else
        map[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Ends the session for good (writes the working set first when code is
 * MVM_OK and it was serving), closes and unwatches its descriptors, frees
 * its maps, takes it off the list, wakes waiters. No-op if ended. */
void vmm_uffd_end_session(vmm_uffd_server *srv, vmm_uffd_session *ss, mvm_code code,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Appends to stats.ws_note ("; " between notes). */
void vmm_uffd_note_ws(vmm_uffd_session *ss, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- serving (vmm_uffd_fault.c) ---- */

/* The region holding memory-file offset off, or NULL. */
const vmm_uffd_region *vmm_uffd_region_of_offset(const vmm_uffd_session *ss, uint64_t off);
/* Adds the page at memory-file offset off to the working set being
 * recorded (once; no-op when not recording). */
void vmm_uffd_record(vmm_uffd_session *ss, uint64_t off);
/* Reads and handles every event the session's userfaultfd holds. */
void vmm_uffd_on_events(vmm_uffd_server *srv, vmm_uffd_session *ss);
/* Serves again the faults that met EAGAIN. */
void vmm_uffd_retry_faults(vmm_uffd_server *srv, vmm_uffd_session *ss);
/* Copies up to budget bytes of the working set (prefetch) or of the pages
 * still missing (populate_after_settle) into the process. */
void vmm_uffd_prefetch_step(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t budget);
void vmm_uffd_populate_step(vmm_uffd_server *srv, vmm_uffd_session *ss, uint64_t budget);

/* ---- the handshake (vmm_uffd_handshake.c) ---- */

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
