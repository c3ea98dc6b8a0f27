/* usermode.h - running a function of the guest in user mode (ring 3).
 *
 * Why: on this machine's software hypervisor the guest's kernel-mode code
 * is emulated, about a microsecond per instruction, while user-mode code
 * runs on the CPU (measured: reading 16 MiB word by word takes seconds in
 * ring 0 and milliseconds in ring 3). So the guest's memory workload
 * (pattern.h) runs in ring 3, as a real guest's processes would.
 *
 * How: the GDT holds user segments and a TSS whose RSP0 is the kernel
 * stack; user_run irets to a trampoline in ring 3 that calls the function
 * and then executes ud2; the #UD handler sees it came from that trampoline
 * and returns from user_run. Interrupts taken in user mode (the timer's,
 * when the caller had them enabled) use the kernel stack below user_run's
 * frame. No isolation is intended: user mode may read and write the guest
 * image. */
#ifndef MVM_GUEST_USERMODE_H
#define MVM_GUEST_USERMODE_H

#include <stdint.h>

/* Loads the TSS, installs the #UD handler, makes the guest image's 2 MiB
 * page user-accessible. Call once, interrupts off, after interrupts_init. */
void usermode_init(void);

/* Makes the 2 MiB pages covering [start, start + len) user-accessible.
 * The range must lie in the first GiB (the boot page tables' 2 MiB pages). */
void usermode_allow(uint64_t start, uint64_t len);

/* Runs fn(arg) in ring 3 on the user stack, with interrupts enabled if the
 * caller has them enabled, and returns when it returns. fn may use only
 * memory made user-accessible and no privileged instruction (no port I/O:
 * nothing it does can print); an exception in it is fatal, reported with
 * its rip. Not reentrant: call from the main flow, never from a handler. */
void user_run(void (*fn)(void *arg), void *arg);

#endif
