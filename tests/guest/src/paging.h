/* paging.h - the x86_64 4-level page-table entries the test guest edits in
 * the tables the loader built (identity-mapped, reached through CR3):
 * apic.c adds MMIO mappings, usermode.c opens pages to user mode. */
#ifndef MVM_GUEST_PAGING_H
#define MVM_GUEST_PAGING_H

#include <stdint.h>

#include "io.h"

#define PTE_PRESENT 0x01ull
#define PTE_WRITABLE 0x02ull
#define PTE_USER 0x04ull
#define PTE_WRITE_THROUGH 0x08ull
#define PTE_CACHE_DISABLE 0x10ull
#define PTE_LARGE 0x80ull
#define PTE_ADDR_MASK 0x000ffffffffff000ull
#define PAGE_2M (2ull << 20)

/* The table an entry points to (tables are identity-mapped). */
static inline uint64_t *paging_table_at(uint64_t entry)
{
    return (uint64_t *)(uintptr_t)(entry & PTE_ADDR_MASK);
}

/* The PML4 entry, in CR3's table, for the virtual address. */
static inline uint64_t *paging_pml4e(uint64_t address)
{
    return &paging_table_at(read_cr3())[(address >> 39) & 511];
}

/* The entry for the address in the table that entry points to, at the
 * level whose index starts at bit shift (30: PDPT, 21: page directory). */
static inline uint64_t *paging_next(uint64_t entry, uint64_t address, unsigned shift)
{
    return &paging_table_at(entry)[(address >> shift) & 511];
}

/* Drops every cached translation (reloads CR3). */
static inline void paging_flush(void)
{
    write_cr3(read_cr3());
}

#endif
