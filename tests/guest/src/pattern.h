/* pattern.h - the test guest's touched memory: a region of guest RAM from
 * PATTERN_REGION_START up, filled with a pattern in which each 64-bit word
 * is a function of its physical address, a seed and how many times its
 * 4 KiB page has been rewritten (its generation):
 *
 *   key(seed, generation) = mix64(seed + generation * 0x9e3779b97f4a7c15)
 *   word(address)         = mix64(address ^ key(seed, generation))
 *
 * mix64 being SplitMix64's finaliser (x ^= x >> 30; x *= 0xbf58476d1ce4e5b9;
 * x ^= x >> 27; x *= 0x94d049bb133111eb; x ^= x >> 31), all mod 2^64. Two
 * guests' pages are equal exactly when their seeds (and generations) are,
 * so clones of one snapshot share identical pages. tests/guest/README.md
 * states the same; guest_boot_test.py recomputes it from a memory file.
 *
 * Rewrites go round the pages in order: after R rewrites of a region of P
 * pages, page p has generation R / P + (p < R % P ? 1 : 0). The state
 * lives in .bss, so a snapshot carries it into the restored guest.
 * Not reentrant; only the main loop calls these. */
#ifndef MVM_GUEST_PATTERN_H
#define MVM_GUEST_PATTERN_H

#include <stdint.h>

/* 2 MiB: the first MiB boundary above the guest's image and stack (guest.ld
 * asserts the image ends below it). The region ends in the first GiB, the
 * part of memory the boot page tables map. */
#define PATTERN_REGION_START (2ull << 20)
#define PATTERN_REGION_LIMIT (1ull << 30)
#define PATTERN_PAGE_SIZE 4096ull

struct pattern_mismatch {
    uint64_t address, got, want;
};

/* Writes generation 0 of the pattern for seed over bytes (a multiple of
 * PATTERN_PAGE_SIZE, ending at most at PATTERN_REGION_LIMIT) from
 * PATTERN_REGION_START. Call once. */
void pattern_fill(uint64_t bytes, uint64_t seed);

/* Rewrites the next page in turn with its next generation. Does nothing
 * before pattern_fill. */
void pattern_rewrite_next_page(void);

/* Reads the whole region back. Returns 1 if every word is what it must be
 * (also when nothing was filled), else 0 with the first wrong word in
 * *mismatch. */
int pattern_check(struct pattern_mismatch *mismatch);

#endif
