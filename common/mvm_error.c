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
    char joined[MVM_ERROR_MSG_MAX];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof joined);
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
