/* bootparams.h - what the test guest reads from the Linux boot protocol's
 * "zero page" that Firecracker fills: the kernel command line and the e820
 * memory map. Everything it returns points into memory the loader wrote
 * below 1 MiB, which the guest never writes. */
#ifndef MVM_GUEST_BOOTPARAMS_H
#define MVM_GUEST_BOOTPARAMS_H

#include <stddef.h>
#include <stdint.h>

struct boot_cmdline {
    const char *text;  /* not NUL-terminated; NULL when len is 0 */
    size_t len;
};

/* The command line the loader passed (len 0 if there is none, or if the
 * boot parameters are not a plausible zero page). Stops at a NUL. */
struct boot_cmdline boot_params_cmdline(const uint8_t *boot_params);

/* Bytes of RAM (e820 type 1) in the memory map; 0 if there is no map. */
uint64_t boot_params_ram_bytes(const uint8_t *boot_params);

/* Whether [start, start + len) lies inside one RAM entry of the map. */
int boot_params_ram_covers(const uint8_t *boot_params, uint64_t start, uint64_t len);

#endif
