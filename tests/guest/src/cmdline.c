/* cmdline.c - boot argument lookup and number parsing (see cmdline.h). */
#include "cmdline.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int cmdline_find(struct boot_cmdline cmdline, const char *key, const char **value,
                 size_t *value_len)
{
    if (!cmdline.text)
        return 0;
    size_t key_len = 0;
    while (key[key_len])
        key_len++;
    const char *p = cmdline.text, *limit = cmdline.text + cmdline.len;
    int found = 0;
    while (p < limit) {
        while (p < limit && is_space(*p))
            p++;
        if (p == limit)
            break;
        /* One argument: up to a space outside quotes. */
        const char *start = p, *equals = NULL;
        int in_quote = 0;
        for (; p < limit && (in_quote || !is_space(*p)); p++) {
            if (*p == '=' && !equals)
                equals = p;
            if (*p == '"')
                in_quote = !in_quote;
        }
        const char *end = p;
        if (!equals && end - start == 2 && start[0] == '-' && start[1] == '-')
            break;
        if (!equals)
            continue;
        const char *name = start;
        if (*name == '"')
            name++;  /* a quoted argument: "key=value" */
        if ((size_t)(equals - name) != key_len)
            continue;
        size_t i = 0;
        while (i < key_len && name[i] == key[i])
            i++;
        if (i != key_len)
            continue;
        /* key="value" or "key=value": one pair of quotes is dropped. */
        const char *v = equals + 1, *v_end = end;
        if (v < v_end && *v == '"')
            v++;
        if ((v > equals + 1 || *start == '"') && v < v_end && v_end[-1] == '"')
            v_end--;
        *value = v;
        *value_len = (size_t)(v_end - v);
        found = 1;  /* keep going: the last one counts */
    }
    return found;
}

int cmdline_parse_u64(const char *value, size_t len, uint64_t *out)
{
    if (len == 0)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return 0;
        uint64_t digit = (uint64_t)(value[i] - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return 0;
        n = n * 10 + digit;
    }
    *out = n;
    return 1;
}
