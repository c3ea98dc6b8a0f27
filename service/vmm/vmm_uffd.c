/* vmm_uffd.c - the userfaultfd page server: fills the guest memory of
 * Firecracker processes restoring a snapshot with the Uffd backend (the
 * protocol is described in vmm.h, "userfaultfd page server").
 *
 * Design
 *
 * One thread serves every session. It waits in epoll on, per session, the
 * listening socket (until the process connects), the connection (until its
 * message is whole), then the userfaultfd and a pidfd of the process. It
 * holds the server's mutex whenever it is not waiting, so the session
 * structs need no finer locking, and callers' calls (serve, stats, wait,
 * end) are short critical sections. The work done in one pass is bounded:
 * at most 64 epoll events, the fault messages they make readable, and a
 * prefetch budget per session, so no session's faults wait behind another
 * session's prefetch for more than one budget's worth of copying.
 *
 * Memory files are mapped PROT_READ, MAP_SHARED, once per file (device,
 * inode, size), reference-counted by the sessions using them: clones of
 * one snapshot are copied from one page cache. The server never dereferences
 * the mapping; only the kernel reads it, inside UFFDIO_COPY, where a page
 * beyond a file truncated meanwhile is an EFAULT for that copy (the session
 * fails) instead of a SIGBUS for mvmd.
 *
 * Per session, bitmaps over the memory file's pages say which pages are
 * present in the process (copied, zeroed, or found there: EEXIST), which
 * were removed (UFFD_EVENT_REMOVE / UNMAP: balloon inflation; a later fault
 * there gets zeros, as the guest gave the page up) and which are listed in
 * the working set being recorded. Serving faults, prefetch and populate
 * are vmm_uffd_fault.c: a partial copy goes on from where it stopped,
 * EEXIST skips a page already there (and wakes its waiters), EAGAIN without
 * progress (the process's memory map is changing: an event is to be read
 * first) puts a demand fault on a retry list served after the next read of
 * events, ESRCH means the process's memory is gone (the session ends
 * cleanly). Anything else ends the session with the error; so does a fault
 * outside every region.
 *
 * A session ends (ENDED, its descriptors closed and taken out of epoll
 * explicitly: the process holds the same userfaultfd, so closing ours would
 * not remove it from the epoll set) when the process exits (pidfd), its
 * memory is gone, vmm_uffd_session_end asks, the handshake is refused or
 * times out, or a copy fails. Session structs are owned by the caller; the
 * server struct lives until the server handle and every session are freed.
 */
#include "vmm_uffd_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HANDSHAKE_MS 30000u
#define DEFAULT_SETTLE_MS 3000u
#define EVENTS_PER_PASS 64
#define PREFETCH_BUDGET (1u << 20) /* bytes per session per pass */
#define LISTEN_BACKLOG 4

int64_t vmm_uffd_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- memory files (under srv->mu) ---- */

/* Takes a reference on the mapping of the open file fd. */
static mvm_code memfile_get(vmm_uffd_server *srv, int fd, const char *path, memfile **out,
                            mvm_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return mvm_fail(err, MVM_INTERNAL, "memory file %s: fstat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size <= 0)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "memory file %s is not a non-empty regular file",
                        path);
    for (memfile *f = srv->files; f; f = f->next) {
        if (f->dev == st.st_dev && f->ino == st.st_ino && f->size == (uint64_t)st.st_size) {
            f->refs++;
            *out = f;
            return MVM_OK;
        }
    }
    memfile *f = calloc(1, sizeof *f);
    if (!f)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    f->base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (f->base == MAP_FAILED) {
        int e = errno;
        free(f);
        return mvm_fail(err, e == ENOMEM ? MVM_RESOURCE_EXHAUSTED : MVM_INTERNAL,
                        "memory file %s: mmap: %s", path, strerror(e));
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = (uint64_t)st.st_size;
    f->refs = 1;
    f->next = srv->files;
    srv->files = f;
    srv->st.files_mapped++;
    srv->st.bytes_mapped += f->size;
    *out = f;
    return MVM_OK;
}

static void memfile_put(vmm_uffd_server *srv, memfile *mf) {
    if (!mf || --mf->refs > 0)
        return;
    for (memfile **p = &srv->files; *p; p = &(*p)->next) {
        if (*p == mf) {
            *p = mf->next;
            break;
        }
    }
    srv->st.files_mapped--;
    srv->st.bytes_mapped -= mf->size;
    munmap(mf->base, (size_t)mf->size);
    free(mf);
}

/* ---- session end (the server thread, under mu) ---- */

static void unwatch(vmm_uffd_server *srv, int *fd) {
    if (*fd < 0)
        return;
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, *fd, NULL); /* ENOENT when never added: fine */
    close(*fd);
    *fd = -1;
}

static void remove_socket(vmm_uffd_session *ss) {
    if (ss->sock_present && ss->sock_dirfd >= 0)
        unlinkat(ss->sock_dirfd, ss->sock_name, 0);
    ss->sock_present = false;
}

void vmm_uffd_note_ws(vmm_uffd_session *ss, const char *fmt, ...) {
    size_t used = strlen(ss->st.ws_note);
    if (used + 3 >= sizeof ss->st.ws_note)
        return;
    if (used > 0) {
        memcpy(ss->st.ws_note + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ss->st.ws_note + used, sizeof ss->st.ws_note - used, fmt, ap);
    va_end(ap);
}

/* Writes the recorded working set (once) and stops recording. */
static void write_ws(vmm_uffd_session *ss) {
    if (!ss->recording)
        return;
    ss->recording = false;
    mvm_error e;
    if (vmm_uffd_ws_write(ss->ws_path, ss->ps, ss->mf->size, ss->rec, ss->rec_n, &e) != MVM_OK) {
        vmm_uffd_note_ws(ss, "not written: %s", e.msg);
        return;
    }
    ss->st.ws_written = true;
    ss->st.ws_pages_out = ss->rec_n;
}

void vmm_uffd_end_session(vmm_uffd_server *srv, vmm_uffd_session *ss, mvm_code code,
                          const char *fmt, ...) {
    if (ss->st.state == VMM_UFFD_ENDED)
        return;
    if (code == MVM_OK && ss->st.state == VMM_UFFD_SERVING)
        write_ws(ss);
    ss->recording = false;
    unwatch(srv, &ss->listen_fd);
    unwatch(srv, &ss->conn_fd);
    unwatch(srv, &ss->uffd);
    unwatch(srv, &ss->pidfd);
    remove_socket(ss);
    if (ss->sock_dirfd >= 0)
        close(ss->sock_dirfd);
    ss->sock_dirfd = -1;
    vmm_uffd_inbox_clear(&ss->inbox);
    memfile_put(srv, ss->mf);
    ss->mf = NULL;
    free(ss->ws_in);
    free(ss->regions);
    free(ss->present);
    free(ss->removed);
    free(ss->listed);
    free(ss->rec);
    free(ss->pf);
    free(ss->retry);
    ss->rec_n = ss->rec_cap = ss->retry_cap = 0;
    ss->ws_in = ss->rec = ss->pf = ss->retry = NULL;
    ss->regions = NULL;
    ss->present = ss->removed = ss->listed = NULL;
    ss->pf_n = ss->pf_pos = ss->nretry = 0;
    ss->populating = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ss->st.end_reason, sizeof ss->st.end_reason, fmt, ap);
    va_end(ap);
    ss->st.end_code = code;
    ss->st.state = VMM_UFFD_ENDED;
    ss->st.ended_us = vmm_uffd_now_us() - ss->t_serve;
    for (vmm_uffd_session **p = &srv->sessions; *p; p = &(*p)->next) {
        if (*p == ss) {
            *p = ss->next;
            break;
        }
    }
    ss->next = NULL;
    srv->st.sessions_active--;
    pthread_cond_broadcast(&srv->changed);
}

/* ---- the handshake ---- */

static mvm_code watch_fd(vmm_uffd_server *srv, int fd, watch *w, mvm_error *err) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return mvm_fail(err, MVM_INTERNAL, "epoll_ctl: %s", strerror(errno));
    return MVM_OK;
}

static void on_listen(vmm_uffd_server *srv, vmm_uffd_session *ss) {
    int c = accept4(ss->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return;
        vmm_uffd_end_session(srv, ss, MVM_INTERNAL, "accept on the page server socket: %s",
                             strerror(errno));
        return;
    }
    ss->t_accept = vmm_uffd_now_us();
    ss->st.accept_us = ss->t_accept - ss->t_serve;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        ss->st.peer_pid = cred.pid;
    /* One connection per session: stop listening, remove the socket. */
    unwatch(srv, &ss->listen_fd);
    remove_socket(ss);
    ss->conn_fd = c;
    mvm_error e;
    if (watch_fd(srv, c, &ss->w_conn, &e) != MVM_OK)
        vmm_uffd_end_session(srv, ss, e.code, "%s", e.msg);
}

/* The working set read at serve, checked against the handshake: becomes
 * the prefetch list and the start of the list recorded. */
static void adopt_ws(vmm_uffd_session *ss) {
    if (!ss->ws_in)
        return;
    uint64_t *in = ss->ws_in;
    size_t n = ss->ws_in_n;
    ss->ws_in = NULL;
    if (ss->ws_in_ps != ss->ps || ss->ws_in_msize != ss->mf->size) {
        vmm_uffd_note_ws(ss,
                         "ignored: recorded for %u-byte pages of a %llu-byte memory file, this is "
                         "%u-byte pages of %llu bytes",
                         ss->ws_in_ps, (unsigned long long)ss->ws_in_msize, ss->ps,
                         (unsigned long long)ss->mf->size);
        free(in);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!vmm_uffd_region_of_offset(ss, in[i])) {
            vmm_uffd_note_ws(ss, "ignored: page at offset %llu is in no memory region",
                             (unsigned long long)in[i]);
            free(in);
            return;
        }
    }
    ss->pf = in;
    ss->pf_n = n;
    for (size_t i = 0; i < n; i++)
        vmm_uffd_record(ss, in[i]);
    vmm_uffd_note_ws(ss, "%zu pages to prefetch", n);
}

/* Takes the complete message: checks the regions, sets up the page maps
 * and the working set, starts watching the userfaultfd and the process.
 * Ends the session itself when it cannot go on. */
static void accept_handshake(vmm_uffd_server *srv, vmm_uffd_session *ss) {
    mvm_error e;
    ss->uffd = ss->inbox.fds[0];
    ss->inbox.nfds = 0;
    ss->regions = calloc(VMM_UFFD_MAX_REGIONS, sizeof *ss->regions);
    if (!ss->regions) {
        vmm_uffd_end_session(srv, ss, MVM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (vmm_uffd_regions_parse(ss->inbox.buf, ss->inbox.len, ss->mf->size, ss->regions,
                               VMM_UFFD_MAX_REGIONS, &ss->nregions, &ss->ps, &e) != MVM_OK) {
        vmm_uffd_end_session(srv, ss, e.code, "handshake refused: %s", e.msg);
        return;
    }
    /* Never block the server on a descriptor the client made blocking. */
    int fl = fcntl(ss->uffd, F_GETFL);
    if (fl < 0 || fcntl(ss->uffd, F_SETFL, fl | O_NONBLOCK) != 0) {
        vmm_uffd_end_session(srv, ss, MVM_INTERNAL, "fcntl on the userfaultfd: %s",
                             strerror(errno));
        return;
    }
    ss->pages = ss->mf->size / ss->ps;
    size_t bytes = (size_t)(ss->pages + 7) / 8;
    ss->present = calloc(bytes, 1);
    ss->removed = calloc(bytes, 1);
    ss->listed = calloc(bytes, 1);
    if (!ss->present || !ss->removed || !ss->listed) {
        vmm_uffd_end_session(srv, ss, MVM_RESOURCE_EXHAUSTED, "out of memory for the page maps");
        return;
    }
    ss->st.regions = (uint32_t)ss->nregions;
    ss->st.page_size = ss->ps;
    for (size_t i = 0; i < ss->nregions; i++)
        ss->st.mem_bytes += ss->regions[i].size;
    ss->recording = ss->has_ws;
    adopt_ws(ss);
    if (ss->st.peer_pid > 0) {
        ss->pidfd = (int)syscall(SYS_pidfd_open, ss->st.peer_pid, 0);
        if (ss->pidfd < 0 && errno == ESRCH) {
            vmm_uffd_end_session(srv, ss, MVM_OK, "process %d exited during the handshake",
                                 (int)ss->st.peer_pid);
            return;
        }
        /* Other failures (a pid from another namespace): ESRCH on a copy
         * ends the session instead. */
    }
    if (watch_fd(srv, ss->uffd, &ss->w_uffd, &e) != MVM_OK ||
        (ss->pidfd >= 0 && watch_fd(srv, ss->pidfd, &ss->w_pid, &e) != MVM_OK)) {
        vmm_uffd_end_session(srv, ss, e.code, "%s", e.msg);
        return;
    }
    unwatch(srv, &ss->conn_fd);
    vmm_uffd_inbox_clear(&ss->inbox);
    ss->t_handshake = vmm_uffd_now_us();
    ss->st.handshake_us = ss->t_handshake - ss->t_serve;
    ss->settle_deadline = ss->t_handshake + (int64_t)srv->cfg.settle_ms * 1000;
    ss->st.state = VMM_UFFD_SERVING;
    pthread_cond_broadcast(&srv->changed);
}

static void on_conn(vmm_uffd_server *srv, vmm_uffd_session *ss) {
    mvm_error e;
    switch (vmm_uffd_inbox_read(&ss->inbox, ss->conn_fd, &e)) {
    case VMM_UFFD_RECV_MORE:
        return;
    case VMM_UFFD_RECV_REFUSED:
        vmm_uffd_end_session(srv, ss, e.code, "handshake refused: %s", e.msg);
        return;
    case VMM_UFFD_RECV_COMPLETE:
        accept_handshake(srv, ss);
        return;
    }
}

/* ---- the thread ---- */

static void handle_event(vmm_uffd_server *srv, const struct epoll_event *ev) {
    watch *w = ev->data.ptr;
    if (w->kind == W_WAKE) {
        uint64_t v;
        ssize_t r = read(srv->wakefd, &v, sizeof v);
        (void)r; /* EAGAIN: already drained */
        return;
    }
    vmm_uffd_session *ss = w->ss;
    if (ss->st.state == VMM_UFFD_ENDED)
        return;
    switch (w->kind) {
    case W_LISTEN:
        on_listen(srv, ss);
        break;
    case W_CONN:
        on_conn(srv, ss);
        break;
    case W_UFFD:
        if (ev->events & EPOLLERR)
            vmm_uffd_end_session(
                srv, ss, MVM_INVALID_ARGUMENT,
                "the userfaultfd is not usable (not initialised with UFFDIO_API?)");
        else
            vmm_uffd_on_events(srv, ss);
        break;
    case W_PID:
        vmm_uffd_on_events(srv, ss); /* serve what was asked before it ended (harmless if gone) */
        vmm_uffd_end_session(srv, ss, MVM_OK, "process %d exited", (int)ss->st.peer_pid);
        break;
    case W_WAKE:
        break;
    }
}

/* Deadlines, end requests, retries, prefetch. Returns the epoll timeout. */
static int housekeeping(vmm_uffd_server *srv) {
    int64_t now = vmm_uffd_now_us(), next = -1;
    bool busy = false;
    vmm_uffd_session *ss = srv->sessions;
    while (ss) {
        vmm_uffd_session *following = ss->next; /* ss may end and leave the list */
        if (ss->end_requested) {
            vmm_uffd_end_session(srv, ss, MVM_OK, "ended by mvmd");
        } else if (ss->st.state == VMM_UFFD_LISTENING && now >= ss->hs_deadline) {
            vmm_uffd_end_session(srv, ss, MVM_DEADLINE_EXCEEDED,
                                 ss->conn_fd < 0 ? "no process connected within %u ms"
                                                 : "the process sent no complete memory regions "
                                                   "message within %u ms",
                                 srv->cfg.handshake_timeout_ms);
        } else if (ss->st.state == VMM_UFFD_SERVING) {
            if (ss->nretry > 0)
                vmm_uffd_retry_faults(srv, ss);
            if (ss->st.state == VMM_UFFD_SERVING && ss->pf_pos < ss->pf_n)
                vmm_uffd_prefetch_step(srv, ss, PREFETCH_BUDGET);
            if (ss->st.state == VMM_UFFD_SERVING && !ss->settled && now >= ss->settle_deadline) {
                ss->settled = true;
                write_ws(ss);
                ss->populating = srv->cfg.populate_after_settle;
            }
            if (ss->st.state == VMM_UFFD_SERVING && ss->populating && ss->pf_pos >= ss->pf_n)
                vmm_uffd_populate_step(srv, ss, PREFETCH_BUDGET);
        }
        if (ss->st.state == VMM_UFFD_LISTENING && (next < 0 || ss->hs_deadline < next))
            next = ss->hs_deadline;
        if (ss->st.state == VMM_UFFD_SERVING) {
            if (!ss->settled && (ss->recording || srv->cfg.populate_after_settle) &&
                (next < 0 || ss->settle_deadline < next))
                next = ss->settle_deadline;
            if (ss->pf_pos < ss->pf_n || ss->populating)
                busy = true;
            if (ss->nretry > 0 && (next < 0 || now + 1000 < next))
                next = now + 1000; /* EAGAIN: again once events are read */
        }
        ss = following;
    }
    if (busy)
        return 0;
    if (next < 0)
        return -1;
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void *server_main(void *arg) {
    vmm_uffd_server *srv = arg;
    struct epoll_event evs[EVENTS_PER_PASS];
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        int timeout = housekeeping(srv);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->mu);
        int n = epoll_wait(srv->epfd, evs, EVENTS_PER_PASS, timeout);
        int wait_errno = errno;
        pthread_mutex_lock(&srv->mu);
        if (n < 0 && wait_errno != EINTR) {
            /* Cannot happen with a valid epoll descriptor; do not spin. */
            pthread_mutex_unlock(&srv->mu);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&srv->mu);
            continue;
        }
        for (int i = 0; i < n; i++)
            handle_event(srv, &evs[i]);
    }
    while (srv->sessions)
        vmm_uffd_end_session(srv, srv->sessions, MVM_OK, "the page server stopped");
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

static void wake(vmm_uffd_server *srv) {
    uint64_t one = 1;
    ssize_t r = write(srv->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

/* ---- the public face ---- */

static void server_destroy(vmm_uffd_server *srv) {
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
    if (srv->zeros)
        munmap(srv->zeros, 2u << 20);
    pthread_cond_destroy(&srv->changed);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

static void server_unref(vmm_uffd_server *srv) {
    pthread_mutex_lock(&srv->mu);
    bool last = --srv->refs == 0;
    pthread_mutex_unlock(&srv->mu);
    if (last)
        server_destroy(srv);
}

mvm_code vmm_uffd_server_new(const vmm_uffd_config *cfg, vmm_uffd_server **out, mvm_error *err) {
    *out = NULL;
    vmm_uffd_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (cfg)
        srv->cfg = *cfg;
    if (!srv->cfg.handshake_timeout_ms)
        srv->cfg.handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
    if (!srv->cfg.settle_ms)
        srv->cfg.settle_ms = DEFAULT_SETTLE_MS;
    srv->refs = 1;
    srv->wake_watch.kind = W_WAKE;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->changed, &ca);
    pthread_condattr_destroy(&ca);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->wakefd < 0) {
        int e = errno;
        server_destroy(srv);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "page server: epoll/eventfd: %s", strerror(e));
    }
    mvm_code rc = watch_fd(srv, srv->wakefd, &srv->wake_watch, err);
    if (rc != MVM_OK) {
        server_destroy(srv);
        return rc;
    }
    /* The thread takes no signals: they belong to mvmd's main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        server_destroy(srv);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "page server thread: %s", strerror(e));
    }
    pthread_setname_np(srv->thread, "mvm-uffd");
    srv->thread_started = true;
    *out = srv;
    return MVM_OK;
}

void vmm_uffd_server_free(vmm_uffd_server *srv) {
    if (!srv)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->mu);
    wake(srv);
    if (srv->thread_started)
        pthread_join(srv->thread, NULL);
    srv->thread_started = false;
    server_unref(srv);
}

void vmm_uffd_server_stats_get(vmm_uffd_server *srv, vmm_uffd_server_stats *out) {
    pthread_mutex_lock(&srv->mu);
    *out = srv->st;
    pthread_mutex_unlock(&srv->mu);
}

/* Creates the listening socket at path; fills ss's socket fields. */
static mvm_code make_socket(vmm_uffd_session *ss, const char *path, mvm_error *err) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        if ((size_t)(slash - path) >= sizeof dir)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "socket path too long: %.200s", path);
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (!*base || strlen(base) > NAME_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "socket path %.200s names no file", path);
    ss->sock_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ss->sock_dirfd < 0)
        return mvm_fail(err, errno == ENOENT ? MVM_NOT_FOUND : MVM_INTERNAL,
                        "socket directory %s: %s", dir, strerror(errno));
    snprintf(ss->sock_name, sizeof ss->sock_name, "%s", base);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
        /* sun_path holds 108 bytes: bind through the directory's descriptor. */
        n = snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", ss->sock_dirfd, base);
        if (n < 0 || (size_t)n >= sizeof sa.sun_path)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "socket name %.200s is too long for a Unix socket", base);
    }
    struct stat st;
    if (fstatat(ss->sock_dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return mvm_fail(err, MVM_ALREADY_EXISTS,
                            "%s exists and is not a socket; not replacing it", path);
        if (unlinkat(ss->sock_dirfd, base, 0) != 0 && errno != ENOENT)
            return mvm_fail(err, MVM_INTERNAL, "removing the old socket %s: %s", path,
                            strerror(errno));
    }
    ss->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ss->listen_fd < 0)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "socket: %s", strerror(errno));
    if (bind(ss->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return mvm_fail(err, errno == EADDRINUSE ? MVM_ALREADY_EXISTS : MVM_INTERNAL, "bind %s: %s",
                        path, strerror(errno));
    ss->sock_present = true;
    if (fchmodat(ss->sock_dirfd, base, 0600, 0) != 0)
        return mvm_fail(err, MVM_INTERNAL, "chmod %s: %s", path, strerror(errno));
    if (listen(ss->listen_fd, LISTEN_BACKLOG) != 0)
        return mvm_fail(err, MVM_INTERNAL, "listen %s: %s", path, strerror(errno));
    return MVM_OK;
}

/* Reads the working set into ss (a problem only notes why it is ignored). */
static void read_ws(vmm_uffd_session *ss, const char *ws_path) {
    mvm_error e;
    uint64_t *list;
    size_t n;
    mvm_code rc = vmm_uffd_ws_read(ws_path, &ss->ws_in_ps, &ss->ws_in_msize, &list, &n, &e);
    if (rc == MVM_NOT_FOUND)
        return;
    if (rc != MVM_OK) {
        vmm_uffd_note_ws(ss, "ignored: %s", e.msg);
        return;
    }
    ss->ws_in = list;
    ss->ws_in_n = n;
    ss->st.ws_pages_in = n;
}

mvm_code vmm_uffd_serve(vmm_uffd_server *srv, const char *sock_path, const char *mem_path,
                        const char *ws_path, vmm_uffd_session **out, mvm_error *err) {
    *out = NULL;
    if (!sock_path || !*sock_path || !mem_path || !*mem_path)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "page server: socket and memory file needed");
    if (ws_path && strlen(ws_path) >= PATH_MAX - 8)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "working set path too long: %.200s", ws_path);
    vmm_uffd_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    ss->srv = srv;
    ss->listen_fd = ss->conn_fd = ss->uffd = ss->pidfd = ss->sock_dirfd = -1;
    ss->w_listen = (watch){ss, W_LISTEN};
    ss->w_conn = (watch){ss, W_CONN};
    ss->w_uffd = (watch){ss, W_UFFD};
    ss->w_pid = (watch){ss, W_PID};
    ss->t_serve = vmm_uffd_now_us();
    ss->st.state = VMM_UFFD_LISTENING;
    ss->st.accept_us = ss->st.handshake_us = ss->st.prefetch_us = -1;
    ss->st.first_fault_us = ss->st.last_fault_us = ss->st.ended_us = -1;
    if (ws_path) {
        ss->has_ws = true;
        snprintf(ss->ws_path, sizeof ss->ws_path, "%s", ws_path);
    }
    mvm_code rc = vmm_uffd_inbox_init(&ss->inbox, err);
    int memfd = -1;
    if (rc == MVM_OK) {
        memfd = open(mem_path, O_RDONLY | O_CLOEXEC);
        if (memfd < 0)
            rc = mvm_fail(err, errno == ENOENT ? MVM_NOT_FOUND : MVM_INTERNAL, "memory file %s: %s",
                          mem_path, strerror(errno));
    }
    if (rc == MVM_OK) {
        pthread_mutex_lock(&srv->mu);
        rc = srv->stopping ? mvm_fail(err, MVM_UNAVAILABLE, "the page server is stopping")
                           : memfile_get(srv, memfd, mem_path, &ss->mf, err);
        pthread_mutex_unlock(&srv->mu);
    }
    if (memfd >= 0)
        close(memfd);
    if (rc == MVM_OK && ws_path)
        read_ws(ss, ws_path);
    if (rc == MVM_OK)
        rc = make_socket(ss, sock_path, err);
    pthread_mutex_lock(&srv->mu);
    if (rc == MVM_OK && srv->stopping)
        rc = mvm_fail(err, MVM_UNAVAILABLE, "the page server is stopping");
    if (rc == MVM_OK)
        rc = watch_fd(srv, ss->listen_fd, &ss->w_listen, err);
    if (rc != MVM_OK) {
        /* Not yet on the list: undo by hand (end_session would unlist). */
        unwatch(srv, &ss->listen_fd);
        remove_socket(ss);
        if (ss->sock_dirfd >= 0)
            close(ss->sock_dirfd);
        memfile_put(srv, ss->mf);
        pthread_mutex_unlock(&srv->mu);
        vmm_uffd_inbox_clear(&ss->inbox);
        free(ss->ws_in);
        free(ss);
        return rc;
    }
    ss->hs_deadline = ss->t_serve + (int64_t)srv->cfg.handshake_timeout_ms * 1000;
    ss->next = srv->sessions;
    srv->sessions = ss;
    srv->refs++;
    srv->st.sessions_started++;
    srv->st.sessions_active++;
    pthread_mutex_unlock(&srv->mu);
    wake(srv); /* the thread recomputes its timeout with this deadline */
    *out = ss;
    return MVM_OK;
}

vmm_uffd_state vmm_uffd_session_wait(vmm_uffd_session *ss, vmm_uffd_state state, int timeout_ms) {
    vmm_uffd_server *srv = ss->srv;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&srv->mu);
    while (ss->st.state < state) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&srv->changed, &srv->mu);
        } else if (pthread_cond_timedwait(&srv->changed, &srv->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    vmm_uffd_state now = ss->st.state;
    pthread_mutex_unlock(&srv->mu);
    return now;
}

void vmm_uffd_session_end(vmm_uffd_session *ss) {
    vmm_uffd_server *srv = ss->srv;
    pthread_mutex_lock(&srv->mu);
    if (ss->st.state != VMM_UFFD_ENDED) {
        ss->end_requested = true;
        wake(srv);
        while (ss->st.state != VMM_UFFD_ENDED)
            pthread_cond_wait(&srv->changed, &srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
}

void vmm_uffd_session_stats(vmm_uffd_session *ss, vmm_uffd_stats *out) {
    pthread_mutex_lock(&ss->srv->mu);
    *out = ss->st;
    pthread_mutex_unlock(&ss->srv->mu);
}

void vmm_uffd_session_free(vmm_uffd_session *ss) {
    if (!ss)
        return;
    vmm_uffd_session_end(ss);
    vmm_uffd_server *srv = ss->srv;
    free(ss);
    server_unref(srv);
}
