/* mvm_error.h - the one error convention of the mvm code base.
 *
 * A function that can fail returns an mvm_code (MVM_OK == 0) and, when it
 * fails, fills the caller's mvm_error with the same code and a message a
 * human can act on. The codes are the gRPC status codes, one for one, so an
 * error travels from storage or the VMM driver to the wire unchanged.
 *
 * The function that knows what went wrong writes the message; callers may
 * prepend context with mvm_error_context() but never replace it.
 *
 *     mvm_error err;
 *     if (store_tenant_get(st, name, &t, &err) != MVM_OK)
 *         return rpc_fail(call, &err);
 */
#ifndef MVM_ERROR_H
#define MVM_ERROR_H

#include <stddef.h>

typedef enum mvm_code {
    MVM_OK = 0,
    MVM_CANCELLED = 1,
    MVM_UNKNOWN = 2,
    MVM_INVALID_ARGUMENT = 3,
    MVM_DEADLINE_EXCEEDED = 4,
    MVM_NOT_FOUND = 5,
    MVM_ALREADY_EXISTS = 6,
    MVM_PERMISSION_DENIED = 7,
    MVM_RESOURCE_EXHAUSTED = 8,
    MVM_FAILED_PRECONDITION = 9,
    MVM_ABORTED = 10,
    MVM_OUT_OF_RANGE = 11,
    MVM_UNIMPLEMENTED = 12,
    MVM_INTERNAL = 13,
    MVM_UNAVAILABLE = 14,
    MVM_DATA_LOSS = 15,
    MVM_UNAUTHENTICATED = 16,
} mvm_code;

#define MVM_CODE_COUNT 17
#define MVM_ERROR_MSG_MAX 512

typedef struct mvm_error {
    mvm_code code;
    char msg[MVM_ERROR_MSG_MAX];
} mvm_error;

/* Sets *err (if err is not NULL) to code and the formatted message; returns
 * code, so that `return mvm_fail(err, MVM_NOT_FOUND, "...")` reads well. */
mvm_code mvm_fail(mvm_error *err, mvm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "<formatted context>: " to err->msg. No-op if err is NULL. */
void mvm_error_context(mvm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err to MVM_OK with an empty message. */
void mvm_error_clear(mvm_error *err);

/* "NOT_FOUND" etc.; "UNKNOWN" for codes out of range. */
const char *mvm_code_name(mvm_code code);

/* Parses "NOT_FOUND" (or "not_found") into *code; returns 0, or -1. */
int mvm_code_from_name(const char *name, mvm_code *code);

#endif
