/* apic.c - local APIC timer and I/O APIC routing (see apic.h).
 *
 * The loader's page tables identity-map the first GiB only; the APIC
 * registers sit just below 4 GiB, so apic_init adds uncached 2 MiB
 * identity mappings for them to whatever tables CR3 holds. */
#include "apic.h"

#include "interrupts.h"
#include "io.h"
#include "paging.h"
#include "vectors.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_ADDR_MASK 0x000ffffffffff000ull
#define IOAPIC_DEFAULT_BASE 0xfec00000ull

/* Local APIC registers (offsets) and bits. */
#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_LVT_PERIODIC (1u << 17)
#define LAPIC_DIVIDE_BY_16 0x3

/* I/O APIC: index/data register pair; redirection entries from 0x10. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_REDIR_LOW(pin) (0x10 + 2 * (pin))
#define IOAPIC_REDIR_HIGH(pin) (0x11 + 2 * (pin))

/* The PIT: 1.193182 MHz. Channel 2's gate and output are on port 0x61. */
#define PIT_HZ 1193182ull
#define PIT_CH2_DATA 0x42
#define PIT_MODE 0x43
#define PIT_CH2_ONESHOT_LOHI 0xb0  /* channel 2, lo/hi byte, mode 0, binary */
#define PIT_CH2_LATCH 0x80         /* channel 2, latch the count */
#define PORT_61 0x61
#define PORT_61_GATE2 0x01
#define PORT_61_SPEAKER 0x02
#define PORT_61_OUT2 0x20          /* high once the count has run out */
#define CALIBRATION_PIT_TICKS 35795u  /* 30 ms of the 55 ms the count lasts */
#define CALIBRATION_MAX_POLLS 1000000u
#define CALIBRATION_ATTEMPTS 5
#define SAMPLE_TRIES 5
/* KVM's local APIC counts at 1 GHz before the divider. */
#define KVM_DEFAULT_COUNTS_PER_SECOND (1000000000u / 16)

static uint64_t lapic_base;
static uint64_t ioapic_base = IOAPIC_DEFAULT_BASE;
/* The page directory for the APIC window's GiB, if the loader has none. */
static uint64_t mmio_page_directory[512] __attribute__((aligned(4096)));
static int mmio_page_directory_used;

/* Identity-maps the 2 MiB page holding phys, uncached. Assumes 4-level
 * paging with identity-mapped tables (what the Linux 64-bit boot protocol
 * gives) and at most one extra GiB needing a page directory. */
static void map_mmio_2m(uint64_t phys)
{
    uint64_t *pml4e = paging_pml4e(phys);
    if (!(*pml4e & PTE_PRESENT))
        guest_fatal("no page-directory-pointer table for MMIO at", phys);
    uint64_t *pdpte = paging_next(*pml4e, phys, 30);
    if (*pdpte & PTE_PRESENT) {
        if (*pdpte & PTE_LARGE)
            return;  /* already a 1 GiB page */
    } else {
        if (mmio_page_directory_used)
            guest_fatal("MMIO spread over two GiB, at", phys);
        mmio_page_directory_used = 1;
        *pdpte = (uint64_t)(uintptr_t)mmio_page_directory | PTE_PRESENT | PTE_WRITABLE;
    }
    uint64_t *pde = paging_next(*pdpte, phys, 21);
    *pde = (phys & ~(PAGE_2M - 1)) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE |
           PTE_WRITE_THROUGH | PTE_CACHE_DISABLE;
    paging_flush();
}

static uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(lapic_base + reg);
}

static void lapic_write(uint32_t reg, uint32_t value)
{
    mmio_write32(lapic_base + reg, value);
}

static void ioapic_write(uint32_t reg, uint32_t value)
{
    mmio_write32(ioapic_base + IOAPIC_REGSEL, reg);
    mmio_write32(ioapic_base + IOAPIC_WINDOW, value);
}

static void spurious_interrupt(struct trap_frame *frame)
{
    (void)frame;  /* a spurious interrupt needs no end-of-interrupt */
}

void apic_init(void)
{
    uint64_t msr = rdmsr(MSR_APIC_BASE);
    if (!(msr & APIC_BASE_ENABLE))
        guest_fatal("local APIC disabled, IA32_APIC_BASE", msr);
    lapic_base = msr & APIC_BASE_ADDR_MASK;
    map_mmio_2m(lapic_base);
    map_mmio_2m(ioapic_base);
    interrupts_set_handler(VEC_SPURIOUS, spurious_interrupt);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
}

/* The PIT channel 2 count and the local APIC timer count at (about) one
 * instant: of SAMPLE_TRIES tries, the one whose two APIC reads bracket the
 * PIT read most tightly (a vCPU descheduled in the middle of a try shows
 * up as a wide bracket). */
struct clock_sample {
    uint16_t pit;
    uint32_t lapic;
    uint32_t width;  /* APIC counts between the bracketing reads */
};

static uint16_t pit_ch2_count(void)
{
    outb(PIT_MODE, PIT_CH2_LATCH);
    uint8_t lo = inb(PIT_CH2_DATA);
    uint8_t hi = inb(PIT_CH2_DATA);
    return (uint16_t)(lo | hi << 8);
}

static struct clock_sample sample_clocks(void)
{
    struct clock_sample best = { 0, 0, 0xffffffffu };
    for (int i = 0; i < SAMPLE_TRIES; i++) {
        uint32_t before = lapic_read(LAPIC_TIMER_CURRENT);
        uint16_t pit = pit_ch2_count();
        uint32_t after = lapic_read(LAPIC_TIMER_CURRENT);
        uint32_t width = before - after;  /* the APIC counts down */
        if (width < best.width) {
            best.pit = pit;
            best.lapic = before - width / 2;
            best.width = width;
        }
    }
    return best;
}

/* One measurement of the local APIC timer's counts per second (divide by
 * 16) against about 30 ms of PIT channel 2; 0 if it is not trustworthy:
 * the PIT did not count, the count ran out (the vCPU was away too long),
 * or a sample's bracket exceeds 1% of the measured interval. */
static uint32_t measure_counts_per_second(void)
{
    lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_BY_16);
    lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_TIMER);
    lapic_write(LAPIC_TIMER_INITIAL, 0xffffffffu);
    outb(PORT_61, (uint8_t)((inb(PORT_61) & ~PORT_61_SPEAKER) | PORT_61_GATE2));
    outb(PIT_MODE, PIT_CH2_ONESHOT_LOHI);
    outb(PIT_CH2_DATA, 0xff);
    outb(PIT_CH2_DATA, 0xff);  /* counts down from 0xffff from here */

    struct clock_sample start = sample_clocks();
    uint32_t polls = 0;
    while ((uint16_t)(start.pit - pit_ch2_count()) < CALIBRATION_PIT_TICKS)
        if (++polls == CALIBRATION_MAX_POLLS)
            break;
    struct clock_sample end = sample_clocks();
    int ran_out = inb(PORT_61) & PORT_61_OUT2;
    lapic_write(LAPIC_TIMER_INITIAL, 0);

    uint32_t pit_elapsed = (uint16_t)(start.pit - end.pit);
    uint32_t lapic_elapsed = start.lapic - end.lapic;
    if (polls == CALIBRATION_MAX_POLLS || ran_out || pit_elapsed == 0)
        return 0;
    if ((uint64_t)(start.width + end.width) * 100 > lapic_elapsed)
        return 0;
    uint64_t per_second = (uint64_t)lapic_elapsed * PIT_HZ / pit_elapsed;
    /* Anything outside 1 MHz .. 4 GHz is a broken measurement. */
    if (per_second < 1000000u || per_second > 0xffffffffu)
        return 0;
    return (uint32_t)per_second;
}

uint32_t apic_timer_start_1hz(void)
{
    uint32_t per_second = 0;
    for (int i = 0; i < CALIBRATION_ATTEMPTS && !per_second; i++)
        per_second = measure_counts_per_second();
    if (!per_second)
        per_second = KVM_DEFAULT_COUNTS_PER_SECOND;
    lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_BY_16);
    lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_PERIODIC | VEC_TIMER);
    lapic_write(LAPIC_TIMER_INITIAL, per_second);
    return per_second;
}

void ioapic_route_isa_irq(unsigned irq, unsigned vector)
{
    uint32_t apic_id = lapic_read(LAPIC_ID) >> 24;
    /* Physical destination, fixed delivery, edge, active high, unmasked. */
    ioapic_write(IOAPIC_REDIR_HIGH(irq), apic_id << 24);
    ioapic_write(IOAPIC_REDIR_LOW(irq), vector);
}

void apic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}
