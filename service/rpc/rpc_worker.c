/* rpc_worker.c - the worker pool: threads that run handlers allowed to block
 * (disk syncs, Firecracker, netlink), off the I/O threads. A FIFO of jobs
 * under one mutex; stopping runs what is queued, then joins. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

typedef struct rpc_job {
    struct rpc_job *next;
    void (*fn)(void *arg);
    void *arg;
} rpc_job;

struct rpc_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rpc_job *head, *tail;
    bool stopping;
    int nthreads;
    pthread_t threads[];
};

static void *worker_main(void *arg) {
    rpc_workers *w = arg;
    pthread_setname_np(pthread_self(), "mvmd-worker");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        rpc_job *job = w->head;
        if (!job)
            break; /* stopping and nothing left */
        w->head = job->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        job->fn(job->arg);
        free(job);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

mvm_code rpc_workers_start(int nthreads, rpc_workers **out, mvm_error *err) {
    rpc_workers *w = calloc(1, sizeof *w + (size_t)nthreads * sizeof(pthread_t));
    if (!w)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&w->threads[i], NULL, worker_main, w);
        if (rc != 0) {
            w->nthreads = i;
            rpc_workers_stop(w);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "starting worker thread: %s", strerror(rc));
        }
    }
    w->nthreads = nthreads;
    *out = w;
    return MVM_OK;
}

bool rpc_workers_submit(rpc_workers *w, void (*fn)(void *arg), void *arg) {
    rpc_job *job = malloc(sizeof *job);
    if (!job)
        return false;
    job->next = NULL;
    job->fn = fn;
    job->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return true;
}

void rpc_workers_stop(rpc_workers *w) {
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
