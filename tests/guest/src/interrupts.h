/* interrupts.h - the test guest's IDT, the 8259 PICs (remapped and masked:
 * device interrupts come through the I/O APIC) and the dispatch of
 * interrupts to handlers. Handlers run with interrupts disabled on the one
 * stack; an exception without a handler is fatal (reported on the serial
 * port, then the CPU halts). */
#ifndef MVM_GUEST_INTERRUPTS_H
#define MVM_GUEST_INTERRUPTS_H

#include <stdint.h>

/* What boot.S's stubs leave on the stack; the C view of it. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;  /* pushed by the CPU */
};

typedef void (*interrupt_handler)(struct trap_frame *frame);

/* Fills and loads the IDT; masks both PICs. Call once, interrupts off. */
void interrupts_init(void);
/* Installs handler for vector (< VEC_COUNT). Call with interrupts off. */
void interrupts_set_handler(unsigned vector, interrupt_handler handler);
/* Prints "mvm-test-guest: fatal: <what> <value>" and halts for good. */
__attribute__((noreturn)) void guest_fatal(const char *what, uint64_t value);

/* Prints "mvm-test-guest: fatal: exception <vector> error <code> rip <rip>"
 * for an exception nothing handles, and halts for good. */
__attribute__((noreturn)) void trap_fatal(const struct trap_frame *frame);

/* Called by boot.S for every vector. */
void trap_dispatch(struct trap_frame *frame);

#endif
