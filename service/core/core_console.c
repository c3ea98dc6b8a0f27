/* core_console.c - following an instance's console: the log's current
 * contents are sent first while new output pumped meanwhile is held, then
 * the held output newer than what was sent is released and the follower
 * goes live; offsets make the seam exact (nothing lost, nothing twice). A
 * follower that cannot keep up while held (over 4 MiB) loses the excess,
 * which its offsets show as a gap. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

#define HOLD_MAX (4u << 20)
#define READ_CHUNK 16384

/* Delivers the part of a chunk at or after s->next_offset (con_mu held). */
static void deliver_to(core_console_sub *s, const uint8_t *data, size_t len, uint64_t offset) {
    if (offset + len <= s->next_offset)
        return;
    if (offset < s->next_offset) {
        size_t skip = (size_t)(s->next_offset - offset);
        data += skip;
        len -= skip;
        offset = s->next_offset;
    }
    s->data(s->arg, data, len, offset);
    s->next_offset = offset + len;
}

void core_console_deliver(void *arg, const uint8_t *data, size_t len, uint64_t offset) {
    core_inst *in = arg;
    pthread_mutex_lock(&in->con_mu);
    for (core_console_sub *s = in->subs; s; s = s->next) {
        if (s->ended)
            continue;
        if (!s->hold) {
            deliver_to(s, data, len, offset);
            continue;
        }
        if (s->held_bytes + len > HOLD_MAX)
            continue; /* dropped: the offsets will show the gap */
        core_held *h = malloc(sizeof *h + len);
        if (!h)
            continue;
        h->next = NULL;
        h->offset = offset;
        h->len = len;
        memcpy(h->data, data, len);
        *s->held_tail = h;
        s->held_tail = &h->next;
        s->held_bytes += len;
    }
    pthread_mutex_unlock(&in->con_mu);
}

static void held_free(core_console_sub *s) {
    while (s->held) {
        core_held *h = s->held;
        s->held = h->next;
        free(h);
    }
    s->held_tail = &s->held;
    s->held_bytes = 0;
}

/* Sends the log file's bytes from `from` to its end; returns where it ended. */
static uint64_t send_log(core_inst *in, vmm_logpipe *lp, uint64_t from,
                         core_console_data_fn data, void *arg) {
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return from;
    for (;;) {
        uint64_t first;
        size_t n = vmm_logpipe_read(lp, from, buf, READ_CHUNK, &first);
        if (n == 0)
            break;
        data(arg, buf, n, first);
        from = first + n;
    }
    free(buf);
    (void)in;
    return from;
}

mvm_code core_console_follow(core *c, const char *tenant, const char *id, bool follow,
                             uint32_t tail_bytes, core_console_data_fn data,
                             core_console_end_fn end, void *arg, core_console_sub **out,
                             mvm_error *err) {
    *out = NULL;
    /* the record says the instance exists and is the tenant's */
    Mvm__V1__Instance *rec = NULL;
    mvm_code rc = store_instance_get(c->st, tenant, id, NULL, &rec, err);
    if (rc)
        return rc;
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    core_inst *in = core_inst_get(c, tenant, id, err);
    if (!in)
        return err ? err->code : MVM_RESOURCE_EXHAUSTED;
    core_console_sub *s = NULL;
    if (follow) {
        s = calloc(1, sizeof *s);
        if (!s) {
            core_inst_unref(in);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        }
        s->inst = in;
        s->data = data;
        s->end = end;
        s->arg = arg;
        s->hold = true;
        s->held_tail = &s->held;
        pthread_mutex_lock(&in->con_mu);
        s->next = in->subs;
        if (in->subs)
            in->subs->prev = s;
        in->subs = s;
        pthread_mutex_unlock(&in->con_mu);
    }
    uint64_t sent = 0;
    /* No log before the instance has a directory; once opened, the log
     * lives as long as the entry (the reference held here). */
    pthread_mutex_lock(&in->mu);
    vmm_logpipe *lp = in->logs[CORE_LOG_CONSOLE];
    pthread_mutex_unlock(&in->mu);
    if (lp) {
        uint64_t endoff = vmm_logpipe_end(lp);
        uint64_t from = tail_bytes && endoff > tail_bytes ? endoff - tail_bytes : 0;
        sent = send_log(in, lp, from, data, arg);
    }
    if (!s) {
        core_inst_unref(in);
        return MVM_OK;
    }
    pthread_mutex_lock(&in->con_mu);
    s->next_offset = sent;
    for (core_held *h = s->held; h; h = h->next)
        deliver_to(s, h->data, h->len, h->offset);
    held_free(s);
    s->hold = false;
    pthread_mutex_unlock(&in->con_mu);
    *out = s;
    return MVM_OK;
}

void core_console_unfollow(core *c, core_console_sub *s) {
    (void)c;
    if (!s)
        return;
    core_inst *in = s->inst;
    pthread_mutex_lock(&in->con_mu);
    if (s->prev)
        s->prev->next = s->next;
    else if (in->subs == s)
        in->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&in->con_mu);
    held_free(s);
    free(s);
    core_inst_unref(in);
}

void core_console_end_all(core_inst *in) {
    pthread_mutex_lock(&in->con_mu);
    for (core_console_sub *s = in->subs; s; s = s->next) {
        if (!s->ended && s->end) {
            s->ended = true;
            s->end(s->arg);
        }
        s->ended = true;
    }
    pthread_mutex_unlock(&in->con_mu);
}
