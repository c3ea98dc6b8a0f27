/* serial.h - output on the 16550 UART at I/O port 0x3f8 (COM1), which
 * Firecracker forwards to its standard output. Polled, no interrupts.
 * Not reentrant: only the main loop prints, except fatal-exception reports,
 * which never return to it. */
#ifndef MVM_GUEST_SERIAL_H
#define MVM_GUEST_SERIAL_H

#include <stddef.h>
#include <stdint.h>

/* Programs 8N1 and turns off UART interrupts. */
void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
/* Writes at most len bytes of s, stopping at a NUL. */
void serial_write(const char *s, size_t len);
void serial_put_dec(uint64_t value);
void serial_put_hex(uint64_t value);

#endif
