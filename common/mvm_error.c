/* mvm_error.c - building and naming mvm_error values (see mvm_error.h). */
#include "mvm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const code_names[MVM_CODE_COUNT] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

mvm_code mvm_fail(mvm_error *err, mvm_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mvm_error_context(mvm_error *err, const char *fmt, ...) {
    if (!err)
        return;
    char prefix[MVM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* Shift the message right and put "prefix: " in front, truncating. */
    size_t plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen + 2 >= sizeof err->msg)
        plen = sizeof err->msg - 3;
    if (plen + 2 + mlen >= sizeof err->msg)
        mlen = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, mlen);
    err->msg[plen + 2 + mlen] = '\0';
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
}

void mvm_error_clear(mvm_error *err) {
    if (err) {
        err->code = MVM_OK;
        err->msg[0] = '\0';
    }
}

const char *mvm_code_name(mvm_code code) {
    if ((int)code < 0 || code >= MVM_CODE_COUNT)
        return "UNKNOWN";
    return code_names[code];
}

int mvm_code_from_name(const char *name, mvm_code *code) {
    for (int i = 0; i < MVM_CODE_COUNT; i++) {
        if (strcasecmp(name, code_names[i]) == 0) {
            *code = (mvm_code)i;
            return 0;
        }
    }
    return -1;
}
