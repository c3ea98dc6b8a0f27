/* i8042.h - the PS/2 controller: recognising Ctrl-Alt-Del in the keyboard
 * bytes (what Firecracker's SendCtrlAltDel injects) and resetting the
 * machine (what makes Firecracker exit). Main loop only. */
#ifndef MVM_GUEST_I8042_H
#define MVM_GUEST_I8042_H

#include <stdbool.h>

/* Reads every byte waiting in the controller; true once Ctrl and Alt are
 * held and Del is pressed. */
bool i8042_poll_ctrl_alt_del(void);
/* Pulses the CPU reset line (command 0xfe). Halts if that does nothing. */
__attribute__((noreturn)) void i8042_reset(void);

#endif
