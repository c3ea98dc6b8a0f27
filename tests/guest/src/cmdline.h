/* cmdline.h - reading the test guest's own boot arguments ("mvm.…=value")
 * out of the kernel command line, split the way Linux splits it: on
 * spaces, except inside double quotes; a quote opening an argument or its
 * value is dropped with the matching quote at the end; a "--" argument
 * ends the kernel's arguments (what follows is for init). */
#ifndef MVM_GUEST_CMDLINE_H
#define MVM_GUEST_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

#include "bootparams.h"

/* The value of the last "key=value" argument for key (an exact match of
 * what precedes the first '='). Returns 1 and sets *value and *value_len
 * (the value may be empty), or 0 if no argument has that key. */
int cmdline_find(struct boot_cmdline cmdline, const char *key, const char **value,
                 size_t *value_len);

/* Parses a decimal number (digits only, at most UINT64_MAX). Returns 1 and
 * sets *out, or 0 for an empty, non-decimal or too large value. */
int cmdline_parse_u64(const char *value, size_t len, uint64_t *out);

#endif
