/* api_arena_test.c - the per-thread reply arena the api handlers allocate
 * replies from: distinct aligned blocks, an overflow block for a large
 * allocation, and reset starting over. */
#include <stdint.h>
#include <stddef.h>

#include "api_internal.h"
#include "check.h"

static void test_arena(void) {
    ProtobufCAllocator *a = api_arena();
    CHECK(a != NULL);
    if (!a)
        return;
    void *p1 = a->alloc(a->allocator_data, 10);
    void *p2 = a->alloc(a->allocator_data, 10);
    CHECK(p1 && p2 && p1 != p2);
    CHECK(((uintptr_t)p2 % sizeof(max_align_t)) == 0 || ((uintptr_t)p2 % 16) == 0);
    void *big = a->alloc(a->allocator_data, 1 << 20); /* overflow block */
    CHECK(big != NULL);
    if (big)
        memset(big, 1, 1 << 20);
    api_arena_reset();
    void *p3 = a->alloc(a->allocator_data, 10);
    CHECK(p3 == p1); /* reset starts over */
    api_arena_reset();
    CHECK(api_arena() == a);
}

int main(void) {
    test_arena();
    return check_done();
}
