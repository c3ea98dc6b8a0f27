/* usermode.S - the switches between kernel and user mode (see usermode.h).
 *
 * usermode_enter(fn, arg, user_stack_top, rflags) saves the callee-saved registers
 * and the kernel stack pointer (also as the TSS's RSP0, where the CPU puts
 * the frame of any interrupt or exception taken in user mode), then irets
 * to user_trampoline in ring 3. The trampoline calls fn(arg) and executes
 * ud2. The C #UD handler recognises user_trampoline_end and calls
 * usermode_leave, which drops everything pushed since usermode_enter,
 * reloads the kernel's data segments and returns from usermode_enter. */
#include "vectors.h"

	.text
	.globl usermode_enter
usermode_enter:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, usermode_kernel_rsp(%rip)
	movq	%rsp, usermode_tss+4(%rip)	/* RSP0 */
	pushq	$(GDT_USER_DATA | GDT_RPL_USER)	/* SS */
	pushq	%rdx				/* RSP */
	pushq	%rcx				/* RFLAGS */
	pushq	$(GDT_USER_CODE | GDT_RPL_USER)	/* CS */
	leaq	user_trampoline(%rip), %rax
	pushq	%rax				/* RIP */
	iretq

/* Ring 3: fn in %rdi, arg in %rsi. The stack top is 16-byte aligned, so
 * after the call's return address fn sees the ABI's alignment. */
user_trampoline:
	movq	%rdi, %rax
	movq	%rsi, %rdi
	call	*%rax
	.globl user_trampoline_end
user_trampoline_end:
	ud2

	.globl usermode_leave
usermode_leave:
	movq	usermode_kernel_rsp(%rip), %rsp
	call	load_kernel_data_segments
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret

	.bss
	.p2align 3
usermode_kernel_rsp:
	.quad	0

	.section .note.GNU-stack, "", @progbits
