/* core_supervisor.c - the supervisor thread: one epoll loop over every
 * machine's pidfd (readable when its Firecracker process ends) and every
 * instance's log FIFOs (the guest console, Firecracker's log and metrics,
 * pumped into their bounded files, the console also out to followers). Registrations
 * change only on this thread, through commands other threads post and wait
 * for, so no event is ever handled for a registration already removed. */
#include "core_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A process ended: unless an operation holds the instance (it will see
 * the end itself), record it. */
static void on_proc_end(core *c, core_inst *in) {
    pthread_mutex_lock(&in->mu);
    /* Level-triggered: stop watching now; an operation holding the
     * instance sees the end itself, or re-arms the watch when it lets go. */
    if (in->w_proc.fd >= 0)
        epoll_ctl(c->sup_epfd, EPOLL_CTL_DEL, in->w_proc.fd, NULL);
    in->w_proc.fd = -1;
    vmm_machine *m = in->m;
    bool mine = !in->busy && m;
    if (mine)
        in->busy = "supervisor";
    pthread_mutex_unlock(&in->mu);
    if (!mine)
        return;
    m = core_inst_detach(in);
    core_record_exit(c, in, m);
    vmm_machine_free(m);
    core_inst_release(in);
}

static void handle(core *c, core_watch *w) {
    switch (w->kind) {
    case CORE_WATCH_PROC:
        on_proc_end(c, w->inst);
        break;
    case CORE_WATCH_LOG:
        core_inst_pump_log(w->inst, w->log);
        break;
    }
}

/* Applies queued commands; returns false once asked to stop. */
static bool run_commands(core *c) {
    uint64_t v;
    ssize_t r = read(c->sup_evfd, &v, sizeof v);
    (void)r;
    bool keep = true;
    pthread_mutex_lock(&c->sup_mu);
    while (c->cmds) {
        core_cmd *cmd = c->cmds;
        c->cmds = cmd->next;
        if (!c->cmds)
            c->cmds_tail = &c->cmds;
        core_watch *w = cmd->w;
        switch (cmd->kind) {
        case CORE_CMD_ADD: {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
            if (w->fd >= 0 && epoll_ctl(c->sup_epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0 &&
                errno != EEXIST)
                fprintf(stderr, "mvmd: supervisor: cannot watch fd %d of %s: %s\n", w->fd,
                        w->inst->id, strerror(errno));
            break;
        }
        case CORE_CMD_DEL:
            if (w->fd >= 0)
                epoll_ctl(c->sup_epfd, EPOLL_CTL_DEL, w->fd, NULL);
            w->fd = -1;
            break;
        case CORE_CMD_STOP:
            keep = false;
            break;
        }
        cmd->done = true;
    }
    pthread_cond_broadcast(&c->sup_cv);
    pthread_mutex_unlock(&c->sup_mu);
    return keep;
}

static void *sup_main(void *arg) {
    core *c = arg;
    pthread_setname_np(pthread_self(), "mvmd-supervise"); /* for top -H and the benchmarks */
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(c->sup_epfd, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            break;
        bool keep = true;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                keep = run_commands(c);
                break; /* registrations may have changed: wait again */
            }
            handle(c, evs[i].data.ptr);
        }
        if (!keep)
            break;
    }
    return NULL;
}

/* Posts a command and waits until the supervisor has applied it. */
static void post(core *c, core_cmd_kind kind, core_watch *w) {
    core_cmd cmd = {.kind = kind, .w = w};
    pthread_mutex_lock(&c->sup_mu);
    if (!c->sup_running) { /* not started (tests) or stopped: act directly */
        if (kind == CORE_CMD_DEL)
            w->fd = -1;
        pthread_mutex_unlock(&c->sup_mu);
        return;
    }
    if (pthread_equal(pthread_self(), c->sup)) { /* from a handler: no need to wait */
        pthread_mutex_unlock(&c->sup_mu);
        if (kind == CORE_CMD_ADD) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
            epoll_ctl(c->sup_epfd, EPOLL_CTL_ADD, w->fd, &ev);
        } else if (kind == CORE_CMD_DEL) {
            epoll_ctl(c->sup_epfd, EPOLL_CTL_DEL, w->fd, NULL);
            w->fd = -1;
        }
        return;
    }
    *c->cmds_tail = &cmd;
    c->cmds_tail = &cmd.next;
    uint64_t one = 1;
    ssize_t r = write(c->sup_evfd, &one, sizeof one);
    (void)r;
    while (!cmd.done)
        pthread_cond_wait(&c->sup_cv, &c->sup_mu);
    pthread_mutex_unlock(&c->sup_mu);
}

void core_sup_add(core *c, core_watch *w) {
    post(c, CORE_CMD_ADD, w);
}

void core_sup_del(core *c, core_watch *w) {
    post(c, CORE_CMD_DEL, w);
}

mvm_code core_sup_start(core *c, mvm_error *err) {
    c->cmds_tail = &c->cmds;
    c->sup_epfd = epoll_create1(EPOLL_CLOEXEC);
    c->sup_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->sup_epfd < 0 || c->sup_evfd < 0)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "supervisor: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(c->sup_epfd, EPOLL_CTL_ADD, c->sup_evfd, &ev) != 0)
        return mvm_fail(err, MVM_INTERNAL, "supervisor: epoll: %s", strerror(errno));
    /* Running before the thread exists: posts queue up until it reads them. */
    pthread_mutex_lock(&c->sup_mu);
    c->sup_running = true;
    int rc = pthread_create(&c->sup, NULL, sup_main, c);
    if (rc)
        c->sup_running = false;
    pthread_mutex_unlock(&c->sup_mu);
    if (rc)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "supervisor thread: %s", strerror(rc));
    return MVM_OK;
}

void core_sup_stop(core *c) {
    pthread_mutex_lock(&c->sup_mu);
    bool running = c->sup_running;
    pthread_mutex_unlock(&c->sup_mu);
    if (running) {
        post(c, CORE_CMD_STOP, NULL);
        pthread_join(c->sup, NULL);
        pthread_mutex_lock(&c->sup_mu);
        c->sup_running = false;
        pthread_mutex_unlock(&c->sup_mu);
    }
    if (c->sup_epfd >= 0)
        close(c->sup_epfd);
    if (c->sup_evfd >= 0)
        close(c->sup_evfd);
    c->sup_epfd = c->sup_evfd = -1;
}
