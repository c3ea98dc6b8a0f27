/* boot.S - entry point and interrupt entry stubs of the test guest.
 *
 * Entry follows the Linux 64-bit boot protocol as Firecracker implements
 * it for an ELF kernel: long mode, paging on with the low memory
 * identity-mapped, interrupts off, %rsi = the boot parameters ("zero
 * page"). The guest switches to its own stack and GDT and calls
 * guest_main(boot_params), which clears .bss itself once it has printed
 * its first line (each page first touched costs milliseconds under a
 * software hypervisor, and the time to that line is what gets measured). */
#include "vectors.h"

	.section .text.boot, "ax"
	.code64
	.globl _start
_start:
	cli
	cld
	movq	%rsi, %r12			/* boot parameters */
	leaq	__stack_top(%rip), %rsp
	lgdt	gdt_pointer(%rip)
	call	load_kernel_data_segments
	pushq	$GDT_CODE			/* reload %cs with a far return */
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:
	movq	%r12, %rdi
	call	guest_main
2:	cli
	hlt
	jmp	2b

/* Loads the kernel data selector into every data segment register (also
 * on the way back from user mode, usermode.S). Clobbers %eax. */
	.globl load_kernel_data_segments
load_kernel_data_segments:
	movl	$GDT_DATA, %eax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	ret

/* One stub per vector, VEC_STUB_SIZE bytes apart. Each leaves the same
 * frame: the vector on top of an error code (the CPU's, or a 0). */
	.text
	.p2align 4
	.globl trap_stubs
trap_stubs:
	.set	vector, 0
	.rept	VEC_COUNT
	.p2align 4
	.if	vector < 32
	.if	(VEC_ERROR_CODE_MASK >> vector) & 1
	pushq	$vector
	.else
	pushq	$0
	pushq	$vector
	.endif
	.else
	pushq	$0
	pushq	$vector
	.endif
	jmp	trap_common
	.set	vector, vector + 1
	.endr

/* Saves the general registers (the C view is struct trap_frame), calls
 * trap_dispatch(frame), restores them and returns from the interrupt. The
 * stack stays 16-byte aligned at the call: the CPU aligns it before its
 * 5-word frame, and 2 + 15 more words follow. */
trap_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rbx
	pushq	%rbp
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	cld
	call	trap_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rbp
	popq	%rbx
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp			/* vector and error code */
	iretq

/* Flat 64-bit code and data segments for the kernel and for user mode,
 * and room for the TSS descriptor that usermode_init fills in. */
	.data
	.p2align 3
	.globl gdt
gdt:
	.quad	0				/* null */
	.quad	0x00af9a000000ffff		/* GDT_CODE: 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff		/* GDT_DATA: data, DPL 0 */
	.quad	0x00cff2000000ffff		/* GDT_USER_DATA: data, DPL 3 */
	.quad	0x00affa000000ffff		/* GDT_USER_CODE: 64-bit code, DPL 3 */
	.quad	0, 0				/* GDT_TSS */
gdt_end:
	.p2align 1
gdt_pointer:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.section .note.GNU-stack, "", @progbits
