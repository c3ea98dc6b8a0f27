/* pattern.c - filling, rewriting and checking the touched memory (see
 * pattern.h). The region is reached through volatile pointers: it is
 * memory that the host (snapshots, page servers) observes, and the checks
 * must really read it. */
#include "pattern.h"

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ull
#define WORDS_PER_PAGE (PATTERN_PAGE_SIZE / 8)

static uint64_t region_pages;
static uint64_t region_seed;
static uint64_t rewrites;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t page_key(uint64_t generation)
{
    return mix64(region_seed + generation * GOLDEN_GAMMA);
}

static volatile uint64_t *page_words(uint64_t page)
{
    return (volatile uint64_t *)(uintptr_t)(PATTERN_REGION_START + page * PATTERN_PAGE_SIZE);
}

static void write_page(uint64_t page, uint64_t generation)
{
    volatile uint64_t *words = page_words(page);
    uint64_t address = PATTERN_REGION_START + page * PATTERN_PAGE_SIZE;
    uint64_t key = page_key(generation);
    for (uint64_t i = 0; i < WORDS_PER_PAGE; i++)
        words[i] = mix64((address + i * 8) ^ key);
}

void pattern_fill(uint64_t bytes, uint64_t seed)
{
    region_pages = bytes / PATTERN_PAGE_SIZE;
    region_seed = seed;
    rewrites = 0;
    for (uint64_t page = 0; page < region_pages; page++)
        write_page(page, 0);
}

void pattern_rewrite_next_page(void)
{
    if (!region_pages)
        return;
    uint64_t page = rewrites % region_pages;
    write_page(page, rewrites / region_pages + 1);
    rewrites++;
}

int pattern_check(struct pattern_mismatch *mismatch)
{
    if (!region_pages)
        return 1;
    uint64_t rounds = rewrites / region_pages, partial = rewrites % region_pages;
    for (uint64_t page = 0; page < region_pages; page++) {
        volatile uint64_t *words = page_words(page);
        uint64_t address = PATTERN_REGION_START + page * PATTERN_PAGE_SIZE;
        uint64_t key = page_key(rounds + (page < partial ? 1 : 0));
        for (uint64_t i = 0; i < WORDS_PER_PAGE; i++) {
            uint64_t got = words[i], want = mix64((address + i * 8) ^ key);
            if (got != want) {
                mismatch->address = address + i * 8;
                mismatch->got = got;
                mismatch->want = want;
                return 0;
            }
        }
    }
    return 1;
}
