/* vectors.h - the test guest's interrupt vector numbers and GDT selectors,
 * shared by boot.S (the entry stubs) and the C code (the IDT and handlers).
 * Only #defines: this header is included from assembly too. */
#ifndef MVM_GUEST_VECTORS_H
#define MVM_GUEST_VECTORS_H

/* GDT selectors (boot.S builds the GDT; usermode.c fills the TSS entry). */
#define GDT_CODE 0x08
#define GDT_DATA 0x10
#define GDT_USER_DATA 0x18  /* DPL 3; used with RPL 3 */
#define GDT_USER_CODE 0x20  /* DPL 3, 64-bit */
#define GDT_TSS 0x28        /* 16 bytes: the 64-bit TSS descriptor */
#define GDT_RPL_USER 3

/* 0..31 are the CPU exceptions. */
#define VEC_EXCEPTIONS 32
/* #UD: how code in user mode hands back to the kernel (usermode.h). */
#define VEC_INVALID_OPCODE 6
/* The 8259 PICs are remapped here and masked; anything arriving is spurious. */
#define VEC_PIC_BASE 0x30
/* Local APIC timer: one interrupt per second. */
#define VEC_TIMER 0x40
/* ISA IRQ 1 (the i8042 keyboard), routed through the I/O APIC. */
#define VEC_KEYBOARD 0x41
/* Local APIC spurious-interrupt vector. */
#define VEC_SPURIOUS 0x4f
/* Number of IDT entries (and of entry stubs in boot.S). */
#define VEC_COUNT 0x50

/* Exceptions for which the CPU pushes an error code (bit n = vector n):
 * 8, 10, 11, 12, 13, 14, 17, 21, 29, 30. */
#define VEC_ERROR_CODE_MASK 0x60227d00

/* Each entry stub in boot.S starts on a 16-byte boundary, in vector order. */
#define VEC_STUB_SIZE 16

#endif
