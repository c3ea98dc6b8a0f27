/* main.c - the test guest's protocol: what it prints on the serial port and
 * when. This is what mvm's tests (and the Firecracker simulator that
 * imitates this guest) rely on; see tests/guest/README.md.
 *
 *   mvm-test-guest: started
 *   mvm-test-guest: cmdline <the kernel command line>
 *   tick 1
 *   tick 2                                   ... once a second, forever
 *   mvm-test-guest: ctrl-alt-del, rebooting  (then an i8042 reset)
 *
 * Between ticks the CPU halts; the local APIC timer and the keyboard IRQ
 * wake it. Ticks count timer interrupts, so time spent paused does not
 * count, and a snapshot carries the counter into the restored VM. */
#include <stddef.h>
#include <stdint.h>

#include "apic.h"
#include "i8042.h"
#include "interrupts.h"
#include "io.h"
#include "libc.h"
#include "serial.h"
#include "vectors.h"

/* The Linux boot protocol's zero page: the fields this guest reads. */
#define BOOT_PARAMS_HEADER 0x202        /* u32 "HdrS" */
#define BOOT_PARAMS_CMD_LINE_PTR 0x228  /* u32 */
#define BOOT_PARAMS_CMDLINE_SIZE 0x238  /* u32 */
#define BOOT_HEADER_MAGIC 0x53726448u
#define CMDLINE_MAX 4096
/* The boot page tables map the first GiB; nothing above is read. */
#define IDENTITY_MAPPED_LIMIT (1ull << 30)
#define KEYBOARD_ISA_IRQ 1

extern char __bss_start[], __bss_end[];  /* guest.ld */

static volatile uint64_t timer_ticks;
static volatile uint64_t keyboard_interrupts;

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Prints the command line the loader put in the boot parameters (empty if
 * there are none or they make no sense). */
static void print_cmdline(const uint8_t *boot_params)
{
    serial_puts("mvm-test-guest: cmdline ");
    uint64_t bp = (uint64_t)(uintptr_t)boot_params;
    if (bp && bp < IDENTITY_MAPPED_LIMIT - 4096 &&
        read_u32(boot_params + BOOT_PARAMS_HEADER) == BOOT_HEADER_MAGIC) {
        uint64_t ptr = read_u32(boot_params + BOOT_PARAMS_CMD_LINE_PTR);
        uint64_t size = read_u32(boot_params + BOOT_PARAMS_CMDLINE_SIZE);
        if (size > CMDLINE_MAX)
            size = CMDLINE_MAX;
        if (ptr && ptr + size <= IDENTITY_MAPPED_LIMIT)
            serial_write((const char *)(uintptr_t)ptr, size);
    }
    serial_putc('\n');
}

static void timer_interrupt(struct trap_frame *frame)
{
    (void)frame;
    timer_ticks++;
    apic_eoi();
}

static void keyboard_interrupt(struct trap_frame *frame)
{
    (void)frame;
    keyboard_interrupts++;  /* the main loop reads the bytes */
    apic_eoi();
}

__attribute__((noreturn)) void guest_main(const uint8_t *boot_params);

__attribute__((noreturn)) void guest_main(const uint8_t *boot_params)
{
    serial_init();
    serial_puts("mvm-test-guest: started\n");
    print_cmdline(boot_params);
    /* Nothing in .bss has been used yet (see boot.S). */
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));

    interrupts_init();
    apic_init();
    interrupts_set_handler(VEC_TIMER, timer_interrupt);
    interrupts_set_handler(VEC_KEYBOARD, keyboard_interrupt);
    ioapic_route_isa_irq(KEYBOARD_ISA_IRQ, VEC_KEYBOARD);
    apic_timer_start_1hz();

    uint64_t printed = 0, keyboard_seen = ~0ull;
    for (;;) {
        cpu_disable_interrupts();
        uint64_t ticks = timer_ticks, keyboard = keyboard_interrupts;
        if (ticks == printed && keyboard == keyboard_seen) {
            cpu_wait_for_interrupt();
            continue;
        }
        cpu_enable_interrupts();
        /* The first pass (keyboard_seen = ~0) also drains bytes queued
         * before the I/O APIC route existed. */
        keyboard_seen = keyboard;
        if (i8042_poll_ctrl_alt_del()) {
            serial_puts("mvm-test-guest: ctrl-alt-del, rebooting\n");
            i8042_reset();
        }
        while (printed < ticks) {
            serial_puts("tick ");
            serial_put_dec(++printed);
            serial_putc('\n');
        }
    }
}
