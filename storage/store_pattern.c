/* store_pattern.c - the rule for a pool's ready_pattern: a POSIX extended
 * regular expression that the C library's regcomp accepts, checked by
 * compiling it, with a bound on its compiled size first. glibc's regcomp
 * expands a bounded repetition {m,n} by copying its atom, so nested bounds
 * multiply: "((a{255}){255}){255}" (21 bytes) asks for some 16 million
 * nodes and gigabytes of memory. A pattern whose estimate exceeds
 * STORE_PATTERN_NODES_MAX is refused before regcomp sees it. */
#include "store_internal.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

static uint64_t sat_add(uint64_t a, uint64_t b, uint64_t cap) {
    return a + b > cap || a + b < a ? cap : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b, uint64_t cap) {
    return b && a > cap / b ? cap : (a * b > cap ? cap : a * b);
}

/* Skips a bracket expression starting at p[i] == '['; returns the index
 * after its closing ']' (or the end, for an unterminated one). */
static size_t skip_bracket(const char *p, size_t i) {
    i++;
    if (p[i] == '^')
        i++;
    if (p[i] == ']') /* a leading ']' is a member */
        i++;
    while (p[i] && p[i] != ']') {
        char kind = p[i] == '[' ? p[i + 1] : 0;
        if (kind == ':' || kind == '=' || kind == '.') { /* [:alpha:] [=a=] [.-.] */
            const char *end = NULL;
            for (size_t j = i + 2; p[j] && p[j + 1] && !end; j++)
                if (p[j] == kind && p[j + 1] == ']')
                    end = p + j + 2;
            i = end ? (size_t)(end - p) : strlen(p);
        } else {
            i++;
        }
    }
    return p[i] ? i + 1 : i;
}

/* Parses a bound "{m}", "{m,}", "{m,n}" or "{,n}" at p[i] == '{': *copies
 * is how many copies of its atom regcomp makes (at least 1), *end the
 * index after '}'. False if it is not a bound (then '{' is taken as a
 * character, and regcomp judges it). */
static bool parse_bound(const char *p, size_t i, uint64_t *copies, size_t *end) {
    uint64_t m = 0, n = 0;
    size_t j = i + 1, digits = 0;
    for (; p[j] >= '0' && p[j] <= '9'; j++, digits++)
        m = m < 100000 ? m * 10 + (uint64_t)(p[j] - '0') : m;
    n = m;
    if (p[j] == ',') {
        size_t nd = 0;
        for (j++, n = 0; p[j] >= '0' && p[j] <= '9'; j++, nd++)
            n = n < 100000 ? n * 10 + (uint64_t)(p[j] - '0') : n;
        n = nd ? n : m + 1; /* "{m,}": m copies and a star */
        digits += nd;
    }
    if (p[j] != '}' || digits == 0)
        return false;
    *copies = m > n ? m : n;
    *copies = *copies ? *copies : 1;
    *end = j + 1;
    return true;
}

/* An over-estimate of the nodes regcomp builds for p, saturating at cap:
 * an atom (character, escape, bracket expression) is one, a group the sum
 * of what it holds, a bound {m,n} max(m, n) copies of the atom before it,
 * '+' two. */
static uint64_t pattern_nodes(const char *p, uint64_t cap) {
    uint64_t sum[STORE_READY_PATTERN_MAX + 2]; /* per open group; depth <= length */
    uint64_t last = 0;                         /* the latest atom's size */
    size_t d = 0, i = 0;
    sum[0] = 0;
    while (p[i]) {
        uint64_t atom = 0, copies;
        size_t end;
        switch (p[i]) {
        case '\\':
            atom = 1;
            i += p[i + 1] ? 2 : 1;
            break;
        case '[':
            atom = 1;
            i = skip_bracket(p, i);
            break;
        case '(':
            if (d + 1 < sizeof sum / sizeof sum[0])
                sum[++d] = 0;
            last = 0;
            i++;
            continue;
        case ')':
            atom = d ? (sum[d] ? sum[d] : 1) : 1;
            d -= d ? 1 : 0;
            i++;
            break;
        case '|':
            last = 0;
            i++;
            continue;
        case '+': /* "x+" is "xx*" */
            sum[d] = sat_add(sum[d], last, cap);
            last = sat_mul(last, 2, cap);
            i++;
            continue;
        case '{':
            if (parse_bound(p, i, &copies, &end)) {
                sum[d] = sat_add(sum[d], sat_mul(last, copies - 1, cap), cap);
                last = sat_mul(last, copies, cap);
                i = end;
                continue;
            }
            atom = 1;
            i++;
            break;
        default:
            atom = 1;
            i++;
            break;
        }
        sum[d] = sat_add(sum[d], atom, cap);
        last = atom;
    }
    uint64_t total = 0;
    for (size_t k = 0; k <= d; k++) /* unclosed groups: regcomp refuses them */
        total = sat_add(total, sum[k], cap);
    return total;
}

mvm_code store_check_pattern(const char *what, const char *pattern, mvm_error *err) {
    if (!pattern || !*pattern)
        return MVM_OK;
    size_t n = strlen(pattern);
    if (n > STORE_READY_PATTERN_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is %zu bytes; at most %d are allowed",
                        what, n, STORE_READY_PATTERN_MAX);
    if (pattern_nodes(pattern, STORE_PATTERN_NODES_MAX + 1) > STORE_PATTERN_NODES_MAX)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s \"%.200s\" is too big once compiled: its repetition bounds ({m,n}, "
                        "which copy what they repeat) expand it past %d pieces; use smaller or "
                        "fewer nested bounds, or '*' and '+'",
                        what, pattern, STORE_PATTERN_NODES_MAX);
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char why[256];
        regerror(rc, &re, why, sizeof why);
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "%s \"%.200s\" is not a valid POSIX extended regular expression: %s",
                        what, pattern, why);
    }
    regfree(&re);
    return MVM_OK;
}
