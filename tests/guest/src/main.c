/* main.c - the test guest's protocol: what it prints on the serial port and
 * when. This is what mvm's tests (and the Firecracker simulator that
 * imitates this guest) rely on; see tests/guest/README.md.
 *
 *   mvm-test-guest: started
 *   mvm-test-guest: cmdline <the kernel command line>
 *   mvm-test-guest: touched N MiB seed S     with mvm.touch_mib=N (N > 0)
 *   mvm-test-guest: ready                    with mvm.ready_after=0
 *   tick 1
 *   tick 2                                   ... once a second, forever
 *   mvm-test-guest: ready                    after tick S, mvm.ready_after=S
 *   mvm-test-guest: ctrl-alt-del, rebooting  (then an i8042 reset)
 *
 * Between ticks the CPU halts; the local APIC timer and the keyboard IRQ
 * wake it. Ticks count timer interrupts, so time spent paused does not
 * count, and a snapshot carries the counter into the restored VM. With
 * mvm.touch_mib=N the guest fills N MiB with a pattern (pattern.h) before
 * it starts its timer and reads it back after each batch of ticks; that
 * work runs in user mode (usermode.h says why). */
#include <stddef.h>
#include <stdint.h>

#include "apic.h"
#include "bootparams.h"
#include "cmdline.h"
#include "i8042.h"
#include "interrupts.h"
#include "io.h"
#include "libc.h"
#include "pattern.h"
#include "serial.h"
#include "usermode.h"
#include "vectors.h"

#define KEYBOARD_ISA_IRQ 1
#define MIB (1ull << 20)
/* The pattern's seed unless mvm.touch_seed says otherwise: every guest
 * booted without it fills its memory identically. */
#define DEFAULT_TOUCH_SEED 1

extern char __bss_start[], __bss_end[];  /* guest.ld */

static volatile uint64_t timer_ticks;
static volatile uint64_t keyboard_interrupts;

/* The guest's boot arguments (in .bss: set after it is cleared). */
static struct {
    uint64_t touch_mib;    /* MiB to fill with the pattern; 0: none */
    uint64_t touch_seed;   /* the pattern's seed */
    uint64_t touch_write;  /* nonzero: rewrite one page of it per tick */
    uint64_t ready_after;  /* print "ready" after this many ticks */
    int ready_after_given;
} options;

/* What each boot argument sets; every value is a decimal number. */
static const struct boot_option {
    const char *key;
    uint64_t *value;
    int *given;  /* set to 1 when the argument is there, if not NULL */
} boot_options[] = {
    { "mvm.touch_mib", &options.touch_mib, NULL },
    { "mvm.touch_seed", &options.touch_seed, NULL },
    { "mvm.touch_write", &options.touch_write, NULL },
    { "mvm.ready_after", &options.ready_after, &options.ready_after_given },
};

static int touched;        /* the pattern was written */
static int check_failed;   /* a mismatch was reported (only the first is) */

/* The pattern work, run in user mode through user_run. */
struct pattern_job {
    uint64_t bytes, seed;               /* fill */
    int ok;                             /* check: its result */
    struct pattern_mismatch mismatch;   /* check: the first wrong word */
};

static void fill_job(void *arg)
{
    struct pattern_job *job = arg;
    pattern_fill(job->bytes, job->seed);
}

static void check_job(void *arg)
{
    struct pattern_job *job = arg;
    job->ok = pattern_check(&job->mismatch);
}

static void rewrite_job(void *arg)
{
    (void)arg;
    pattern_rewrite_next_page();
}

static void print_cmdline(struct boot_cmdline cmdline)
{
    serial_puts("mvm-test-guest: cmdline ");
    serial_write(cmdline.text ? cmdline.text : "", cmdline.len);
    serial_putc('\n');
}

/* Reads the boot arguments of boot_options; a value that is not a
 * decimal number is reported and leaves the default. */
static void read_options(struct boot_cmdline cmdline)
{
    options.touch_seed = DEFAULT_TOUCH_SEED;
    for (size_t i = 0; i < sizeof(boot_options) / sizeof(boot_options[0]); i++) {
        const struct boot_option *option = &boot_options[i];
        const char *value;
        size_t len;
        if (!cmdline_find(cmdline, option->key, &value, &len))
            continue;
        if (!cmdline_parse_u64(value, len, option->value)) {
            serial_puts("mvm-test-guest: ignoring ");
            serial_puts(option->key);
            serial_putc('=');
            serial_write(value, len);
            serial_puts(": not a decimal number\n");
            continue;
        }
        if (option->given)
            *option->given = 1;
    }
}

/* Fills options.touch_mib MiB with the pattern if the region fits in RAM
 * (the e820 map) below PATTERN_REGION_LIMIT; says which it did. */
static void touch_memory(const uint8_t *boot_params)
{
    uint64_t mib = options.touch_mib;
    if (!mib)
        return;
    if (mib > (PATTERN_REGION_LIMIT - PATTERN_REGION_START) / MIB ||
        !boot_params_ram_covers(boot_params, PATTERN_REGION_START, mib * MIB)) {
        uint64_t ram = boot_params_ram_bytes(boot_params);
        serial_puts("mvm-test-guest: touch_mib ");
        serial_put_dec(mib);
        serial_puts(" does not fit in ");
        serial_put_dec(ram / MIB + (ram % MIB ? 1 : 0));
        serial_puts(" MiB\n");
        return;
    }
    struct pattern_job job = { .bytes = mib * MIB, .seed = options.touch_seed };
    usermode_allow(PATTERN_REGION_START, job.bytes);
    user_run(fill_job, &job);
    touched = 1;
    serial_puts("mvm-test-guest: touched ");
    serial_put_dec(mib);
    serial_puts(" MiB seed ");
    serial_put_dec(options.touch_seed);
    serial_putc('\n');
}

/* Reads the touched memory back; reports the first mismatch ever seen. */
static void check_touched_memory(void)
{
    if (!touched || check_failed)
        return;
    struct pattern_job job = { .ok = 0 };
    user_run(check_job, &job);
    if (job.ok)
        return;
    const struct pattern_mismatch *bad = &job.mismatch;
    check_failed = 1;
    serial_puts("mvm-test-guest: memory check FAILED at ");
    serial_put_hex(bad->address);
    serial_puts(" (got ");
    serial_put_hex(bad->got);
    serial_puts(", want ");
    serial_put_hex(bad->want);
    serial_puts(")\n");
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
    struct boot_cmdline cmdline = boot_params_cmdline(boot_params);
    print_cmdline(cmdline);
    /* Nothing in .bss has been used yet (see boot.S). */
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    read_options(cmdline);
    interrupts_init();
    usermode_init();
    touch_memory(boot_params);
    if (options.ready_after_given && options.ready_after == 0)
        serial_puts("mvm-test-guest: ready\n");

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
        if (printed == ticks)
            continue;
        while (printed < ticks) {
            if (touched && options.touch_write)
                user_run(rewrite_job, NULL);
            serial_puts("tick ");
            serial_put_dec(++printed);
            serial_putc('\n');
            if (options.ready_after_given && printed == options.ready_after)
                serial_puts("mvm-test-guest: ready\n");
        }
        check_touched_memory();
    }
}
