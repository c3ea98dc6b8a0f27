/* i8042.c - Ctrl-Alt-Del detection and reset through the i8042 (see i8042.h).
 *
 * Keyboard bytes are scan code set 2, the set Firecracker injects: a make
 * code per key press, 0xe0 before an extended key, 0xf0 before a release. */
#include "i8042.h"

#include <stdint.h>

#include "io.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_COMMAND 0x64
#define I8042_STATUS_OUTPUT_FULL 0x01
#define I8042_STATUS_INPUT_FULL 0x02
#define I8042_CMD_RESET_CPU 0xfe
#define I8042_MAX_POLLS 100000
#define I8042_MAX_BYTES 64  /* per poll: a stuck status bit cannot wedge us */

#define SCAN_EXTENDED 0xe0
#define SCAN_RELEASE 0xf0
#define SCAN_CTRL 0x14
#define SCAN_ALT 0x11
#define SCAN_DELETE 0x71  /* after SCAN_EXTENDED */

static struct {
    bool extended, release, ctrl, alt;
} keys;

/* Feeds one byte; true when it completes Ctrl-Alt-Del. */
static bool feed(uint8_t byte)
{
    if (byte == SCAN_EXTENDED) {
        keys.extended = true;
        return false;
    }
    if (byte == SCAN_RELEASE) {
        keys.release = true;
        return false;
    }
    bool pressed = !keys.release, extended = keys.extended, hit = false;
    keys.extended = keys.release = false;
    if (byte == SCAN_CTRL)
        keys.ctrl = pressed;  /* left Ctrl, or right Ctrl after 0xe0 */
    else if (byte == SCAN_ALT)
        keys.alt = pressed;
    else if (byte == SCAN_DELETE && extended && pressed)
        hit = keys.ctrl && keys.alt;
    return hit;
}

bool i8042_poll_ctrl_alt_del(void)
{
    bool hit = false;
    for (int i = 0; i < I8042_MAX_BYTES && (inb(I8042_STATUS) & I8042_STATUS_OUTPUT_FULL); i++)
        hit |= feed(inb(I8042_DATA));
    return hit;
}

void i8042_reset(void)
{
    for (int i = 0; i < I8042_MAX_POLLS && (inb(I8042_STATUS) & I8042_STATUS_INPUT_FULL); i++)
        ;
    outb(I8042_COMMAND, I8042_CMD_RESET_CPU);
    cpu_halt_forever();
}
