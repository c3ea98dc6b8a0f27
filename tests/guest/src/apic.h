/* apic.h - the local APIC (a one-second periodic timer, calibrated against
 * the PIT) and the I/O APIC (routing one ISA IRQ to a vector), both through
 * MMIO that apic_init maps into the boot page tables. */
#ifndef MVM_GUEST_APIC_H
#define MVM_GUEST_APIC_H

#include <stdint.h>

/* Maps the APIC MMIO windows, software-enables the local APIC with
 * VEC_SPURIOUS. Call once, interrupts off, after interrupts_init. */
void apic_init(void);
/* Starts the local APIC timer: VEC_TIMER once per second. Busy-waits about
 * 30 ms (more if measurements fail) to measure the timer against the PIT;
 * if five measurements fail, assumes KVM's rate (1 GHz / 16). Returns the
 * timer counts per second it uses. */
uint32_t apic_timer_start_1hz(void);
/* Routes ISA irq (edge-triggered, active high) to vector on this CPU. */
void ioapic_route_isa_irq(unsigned irq, unsigned vector);
/* Signals end-of-interrupt to the local APIC; interrupt handlers call it. */
void apic_eoi(void);

#endif
