/* usermode.c - the TSS, the user-accessible pages and the way back from
 * user mode (see usermode.h; the mode switches are in usermode.S). */
#include "usermode.h"

#include "interrupts.h"
#include "io.h"
#include "paging.h"
#include "vectors.h"

#define CR4_SMEP (1ull << 20)  /* would forbid running user pages in ring 0 */
#define CR4_SMAP (1ull << 21)  /* would forbid touching them */
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_RESERVED (1ull << 1)
#define TSS_TYPE_AVAILABLE 0x89ull  /* present, DPL 0, available 64-bit TSS */
#define USER_STACK_SIZE 8192

/* The 64-bit task-state segment: only RSP0 is used. No I/O bitmap (its
 * offset is the segment's size), so user mode can reach no port. */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map_base;
} __attribute__((packed));

struct tss64 usermode_tss __attribute__((aligned(16)));  /* usermode.S sets rsp[0] */
static uint8_t user_stack[USER_STACK_SIZE] __attribute__((aligned(16)));

extern uint64_t gdt[];                      /* boot.S */
extern const char __image_start[];          /* guest.ld */
extern const char user_trampoline_end[];    /* usermode.S */
void usermode_enter(void (*fn)(void *arg), void *arg, void *stack_top, uint64_t rflags);
__attribute__((noreturn)) void usermode_leave(void);

/* The trampoline's ud2 ends a user_run; any other #UD is a bug. */
static void invalid_opcode(struct trap_frame *frame)
{
    if ((frame->cs & 3) == GDT_RPL_USER &&
        frame->rip == (uint64_t)(uintptr_t)user_trampoline_end)
        usermode_leave();
    trap_fatal(frame);
}

void usermode_allow(uint64_t start, uint64_t len)
{
    for (uint64_t page = start & ~(PAGE_2M - 1); page < start + len; page += PAGE_2M) {
        uint64_t *pml4e = paging_pml4e(page);
        if (!(*pml4e & PTE_PRESENT))
            guest_fatal("no page-directory-pointer table for user memory at", page);
        *pml4e |= PTE_USER;
        uint64_t *pdpte = paging_next(*pml4e, page, 30);
        if (!(*pdpte & PTE_PRESENT) || (*pdpte & PTE_LARGE))
            guest_fatal("no page directory for user memory at", page);
        *pdpte |= PTE_USER;
        uint64_t *pde = paging_next(*pdpte, page, 21);
        if (!(*pde & PTE_PRESENT) || !(*pde & PTE_LARGE))
            guest_fatal("no 2 MiB page for user memory at", page);
        *pde |= PTE_USER;
    }
    paging_flush();
}

void usermode_init(void)
{
    uint64_t cr4 = read_cr4();
    if (cr4 & (CR4_SMEP | CR4_SMAP))
        write_cr4(cr4 & ~(CR4_SMEP | CR4_SMAP));
    usermode_tss.io_map_base = sizeof(usermode_tss);
    uint64_t base = (uint64_t)(uintptr_t)&usermode_tss;
    uint64_t limit = sizeof(usermode_tss) - 1;
    gdt[GDT_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | TSS_TYPE_AVAILABLE << 40 |
                       ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    gdt[GDT_TSS / 8 + 1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS) : "memory");
    interrupts_set_handler(VEC_INVALID_OPCODE, invalid_opcode);
    /* The guest's code, data and user stack: its image, below 2 MiB. */
    usermode_allow((uint64_t)(uintptr_t)__image_start, 1);
}

void user_run(void (*fn)(void *arg), void *arg)
{
    uint64_t interrupts = read_rflags() & RFLAGS_IF;
    usermode_enter(fn, arg, user_stack + sizeof(user_stack), interrupts | RFLAGS_RESERVED);
    if (interrupts)
        cpu_enable_interrupts();
}
