/* check.h - the unit tests' whole framework: CHECK() records a pass or a
 * failure (with file:line and the expression), CHECK_EQ_INT/CHECK_EQ_STR
 * show both values, and check_done() prints "N passed, N failed" and
 * returns the process exit code. Header-only; include once per test binary. */
#ifndef MVM_CHECK_H
#define MVM_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(expr)                                                           \
    do {                                                                      \
        if (expr) {                                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,  \
                    #expr);                                                   \
        }                                                                     \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                    \
    do {                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                 \
        if (va_ == vb_) {                                                     \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n",         \
                    __FILE__, __LINE__, #a, #b, va_, vb_);                    \
        }                                                                     \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                    \
    do {                                                                      \
        const char *sa_ = (a), *sb_ = (b);                                    \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                            \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",     \
                    __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)",         \
                    sb_ ? sb_ : "(null)");                                    \
        }                                                                     \
    } while (0)

static inline int check_done(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
