/* vectors.h - the test guest's interrupt vector numbers and GDT selectors,
 * shared by boot.S (the entry stubs) and the C code (the IDT and handlers).
 * Only #defines: this header is included from assembly too. */
#ifndef MVM_GUEST_VECTORS_H
#define MVM_GUEST_VECTORS_H

/* GDT selectors (boot.S builds the GDT). */
#define GDT_CODE 0x08
#define GDT_DATA 0x10

/* 0..31 are the CPU exceptions. */
#define VEC_EXCEPTIONS 32
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
