/* interrupts.c - IDT, PIC masking and interrupt dispatch (see interrupts.h). */
#include "interrupts.h"

#include "io.h"
#include "serial.h"
#include "vectors.h"

/* One 64-bit interrupt gate. */
struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#define IDT_INTERRUPT_GATE 0x8e  /* present, DPL 0, 64-bit interrupt gate */

/* 8259 ports and initialisation words. */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_ICW1_INIT_ICW4 0x11
#define PIC_ICW4_8086 0x01
#define PIC_MASK_ALL 0xff

static struct idt_gate idt[VEC_COUNT] __attribute__((aligned(16)));
static interrupt_handler handlers[VEC_COUNT];

extern const char trap_stubs[];  /* boot.S: VEC_COUNT stubs, VEC_STUB_SIZE apart */

/* Remaps the PICs away from the exception vectors, then masks every line:
 * an unprogrammed PIC would deliver IRQ n on vector n. */
static void pic_mask_all(void)
{
    outb(PIC1_CMD, PIC_ICW1_INIT_ICW4);
    outb(PIC2_CMD, PIC_ICW1_INIT_ICW4);
    outb(PIC1_DATA, VEC_PIC_BASE);
    outb(PIC2_DATA, VEC_PIC_BASE + 8);
    outb(PIC1_DATA, 1 << 2);  /* the slave PIC hangs off IRQ 2 */
    outb(PIC2_DATA, 2);       /* its cascade identity */
    outb(PIC1_DATA, PIC_ICW4_8086);
    outb(PIC2_DATA, PIC_ICW4_8086);
    outb(PIC1_DATA, PIC_MASK_ALL);
    outb(PIC2_DATA, PIC_MASK_ALL);
}

void interrupts_init(void)
{
    for (unsigned v = 0; v < VEC_COUNT; v++) {
        uint64_t stub = (uint64_t)(uintptr_t)trap_stubs + (uint64_t)v * VEC_STUB_SIZE;
        idt[v].offset_low = (uint16_t)stub;
        idt[v].selector = GDT_CODE;
        idt[v].ist = 0;
        idt[v].type_attr = IDT_INTERRUPT_GATE;
        idt[v].offset_mid = (uint16_t)(stub >> 16);
        idt[v].offset_high = (uint32_t)(stub >> 32);
        idt[v].reserved = 0;
    }
    struct idt_pointer pointer = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(pointer) : "memory");
    pic_mask_all();
}

void interrupts_set_handler(unsigned vector, interrupt_handler handler)
{
    if (vector >= VEC_COUNT)
        guest_fatal("handler for vector out of range", vector);
    handlers[vector] = handler;
}

void guest_fatal(const char *what, uint64_t value)
{
    cpu_disable_interrupts();
    serial_puts("mvm-test-guest: fatal: ");
    serial_puts(what);
    serial_putc(' ');
    serial_put_hex(value);
    serial_putc('\n');
    cpu_halt_forever();
}

void trap_dispatch(struct trap_frame *frame)
{
    uint64_t v = frame->vector;
    if (v < VEC_COUNT && handlers[v]) {
        handlers[v](frame);
        return;
    }
    /* A masked PIC can still signal a spurious IRQ 7 or 15; it needs no
     * end-of-interrupt and carries nothing. */
    if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16)
        return;
    trap_fatal(frame);
}

void trap_fatal(const struct trap_frame *frame)
{
    cpu_disable_interrupts();
    serial_puts("mvm-test-guest: fatal: exception ");
    serial_put_dec(frame->vector);
    serial_puts(" error ");
    serial_put_hex(frame->error_code);
    serial_puts(" rip ");
    serial_put_hex(frame->rip);
    if (frame->cs & 3)
        serial_puts(" in user mode");
    serial_putc('\n');
    cpu_halt_forever();
}
