/* bootparams.c - the command line and e820 map from the zero page (see
 * bootparams.h). Offsets are those of the Linux boot protocol's struct
 * boot_params (Documentation/arch/x86/zero-page.rst); fields are read byte
 * by byte since some are not naturally aligned. */
#include "bootparams.h"

#define BOOT_PARAMS_E820_ENTRIES 0x1e8   /* u8 */
#define BOOT_PARAMS_HEADER 0x202         /* u32 "HdrS" */
#define BOOT_PARAMS_CMD_LINE_PTR 0x228   /* u32 */
#define BOOT_PARAMS_CMDLINE_SIZE 0x238   /* u32 */
#define BOOT_PARAMS_E820_TABLE 0x2d0     /* struct e820_entry[128] */
#define BOOT_PARAMS_SIZE 4096
#define BOOT_HEADER_MAGIC 0x53726448u
#define E820_MAX_ENTRIES 128
#define E820_ENTRY_SIZE 20               /* u64 addr, u64 size, u32 type */
#define E820_TYPE_RAM 1
#define CMDLINE_MAX 4096
/* The boot page tables map the first GiB; nothing above is read. */
#define IDENTITY_MAPPED_LIMIT (1ull << 30)

static uint64_t read_le(const uint8_t *p, int bytes)
{
    uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; i--)
        value = value << 8 | p[i];
    return value;
}

static int plausible(const uint8_t *boot_params)
{
    uint64_t bp = (uint64_t)(uintptr_t)boot_params;
    return bp && bp < IDENTITY_MAPPED_LIMIT - BOOT_PARAMS_SIZE &&
           read_le(boot_params + BOOT_PARAMS_HEADER, 4) == BOOT_HEADER_MAGIC;
}

struct boot_cmdline boot_params_cmdline(const uint8_t *boot_params)
{
    struct boot_cmdline cmdline = { NULL, 0 };
    if (!plausible(boot_params))
        return cmdline;
    uint64_t ptr = read_le(boot_params + BOOT_PARAMS_CMD_LINE_PTR, 4);
    uint64_t size = read_le(boot_params + BOOT_PARAMS_CMDLINE_SIZE, 4);
    if (size > CMDLINE_MAX)
        size = CMDLINE_MAX;
    if (!ptr || ptr + size > IDENTITY_MAPPED_LIMIT)
        return cmdline;
    const char *text = (const char *)(uintptr_t)ptr;
    size_t len = 0;
    while (len < size && text[len])
        len++;
    cmdline.text = len ? text : NULL;
    cmdline.len = len;
    return cmdline;
}

/* Calls fn(addr, size, ctx) for each RAM entry; stops when it returns 0. */
static void for_each_ram(const uint8_t *boot_params,
                         int (*fn)(uint64_t addr, uint64_t size, void *ctx), void *ctx)
{
    if (!plausible(boot_params))
        return;
    unsigned entries = boot_params[BOOT_PARAMS_E820_ENTRIES];
    if (entries > E820_MAX_ENTRIES)
        entries = E820_MAX_ENTRIES;
    for (unsigned i = 0; i < entries; i++) {
        const uint8_t *entry = boot_params + BOOT_PARAMS_E820_TABLE + i * E820_ENTRY_SIZE;
        if (read_le(entry + 16, 4) == E820_TYPE_RAM &&
            !fn(read_le(entry, 8), read_le(entry + 8, 8), ctx))
            return;
    }
}

static int add_size(uint64_t addr, uint64_t size, void *ctx)
{
    (void)addr;
    *(uint64_t *)ctx += size;
    return 1;
}

uint64_t boot_params_ram_bytes(const uint8_t *boot_params)
{
    uint64_t total = 0;
    for_each_ram(boot_params, add_size, &total);
    return total;
}

struct span {
    uint64_t start, len;
    int covered;
};

static int covers(uint64_t addr, uint64_t size, void *ctx)
{
    struct span *span = ctx;
    /* Written so that nothing overflows: start >= addr first. */
    if (span->start >= addr && span->start - addr <= size &&
        span->len <= size - (span->start - addr)) {
        span->covered = 1;
        return 0;
    }
    return 1;
}

int boot_params_ram_covers(const uint8_t *boot_params, uint64_t start, uint64_t len)
{
    struct span span = { start, len, 0 };
    for_each_ram(boot_params, covers, &span);
    return span.covered;
}
