/* serial.c - polled output on the COM1 16550 UART (see serial.h). */
#include "serial.h"

#include "io.h"

#define COM1 0x3f8
#define UART_THR 0          /* transmit holding register (DLAB = 0) */
#define UART_IER 1          /* interrupt enable */
#define UART_LCR 3          /* line control */
#define UART_LSR 5          /* line status */
#define UART_LCR_8N1 0x03
#define UART_LSR_THRE 0x20  /* transmit holding register empty */
/* A UART that never drains does not hang the guest: give up waiting. */
#define UART_MAX_POLLS 100000

void serial_init(void)
{
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, UART_LCR_8N1);
}

void serial_putc(char c)
{
    for (int i = 0; i < UART_MAX_POLLS && !(inb(COM1 + UART_LSR) & UART_LSR_THRE); i++)
        ;
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

void serial_write(const char *s, size_t len)
{
    for (size_t i = 0; i < len && s[i]; i++)
        serial_putc(s[i]);
}

void serial_put_dec(uint64_t value)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        serial_putc(digits[--n]);
}

void serial_put_hex(uint64_t value)
{
    static const char hex[] = "0123456789abcdef";
    serial_puts("0x");
    for (int shift = 60; shift >= 0; shift -= 4)
        serial_putc(hex[(value >> shift) & 0xf]);
}
