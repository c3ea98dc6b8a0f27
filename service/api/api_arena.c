/* api_arena.c - the per-thread reply arena: unpacked replies (GetTenant is
 * the hot path) are bump-allocated from a thread-local block, with malloc'd
 * overflow blocks, and released at once after done() has packed them. */
#include "api_internal.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#define ARENA_BYTES 32768

typedef struct arena_big {
    struct arena_big *next;
    max_align_t data[];
} arena_big;

typedef struct {
    ProtobufCAllocator alloc;
    size_t used;
    arena_big *big;
    alignas(max_align_t) unsigned char buf[ARENA_BYTES];
} arena;

static _Thread_local arena *tls_arena;
static pthread_key_t arena_key; /* frees a thread's arena when it exits */
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_free_big(arena *a) {
    arena_big *b = a->big;
    a->big = NULL;
    while (b) {
        arena_big *next = b->next;
        free(b);
        b = next;
    }
}

static void arena_destroy(void *p) {
    arena_free_big(p);
    free(p);
}

static void arena_key_init(void) {
    pthread_key_create(&arena_key, arena_destroy);
}

static void *arena_alloc(void *data, size_t n) {
    arena *a = data;
    size_t need = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (need <= ARENA_BYTES - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    arena_big *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->next = a->big;
    a->big = b;
    return b->data;
}

static void arena_free(void *data, void *p) {
    (void)data;
    (void)p;
}

ProtobufCAllocator *api_arena(void) {
    if (!tls_arena) {
        /* One per thread, for the thread's (the server's) lifetime. */
        tls_arena = calloc(1, sizeof *tls_arena);
        if (!tls_arena)
            return NULL; /* callers fall back to malloc */
        tls_arena->alloc.alloc = arena_alloc;
        tls_arena->alloc.free = arena_free;
        tls_arena->alloc.allocator_data = tls_arena;
        pthread_once(&arena_once, arena_key_init);
        pthread_setspecific(arena_key, tls_arena);
    }
    return &tls_arena->alloc;
}

void api_arena_reset(void) {
    arena *a = tls_arena;
    if (!a)
        return;
    arena_free_big(a);
    a->used = 0;
}
