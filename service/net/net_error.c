/* net_error.c - kernel and libnl errors as mvm codes (the table in net.h),
 * with messages that name the step that failed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <netlink/errno.h>

#include "net_internal.h"

mvm_code net_code_from_errno(int errnum) {
    switch (errnum) {
    case EPERM: case EACCES: return MVM_PERMISSION_DENIED;
    case EEXIST: case EADDRINUSE: case ENOTEMPTY: return MVM_ALREADY_EXISTS;
    case ENODEV: case ENOENT: case ENXIO: case ESRCH: return MVM_NOT_FOUND;
    case EBUSY: return MVM_FAILED_PRECONDITION;
    case ENOMEM: case ENOBUFS: case ENOSPC: case EMFILE: case ENFILE: return MVM_RESOURCE_EXHAUSTED;
    case EINVAL: case ERANGE: case ENAMETOOLONG: case EADDRNOTAVAIL: case EOPNOTSUPP:
        return MVM_INVALID_ARGUMENT;
    case EAGAIN: case EINTR: return MVM_UNAVAILABLE;
    default: return MVM_INTERNAL;
    }
}

mvm_code net_code_from_nle(int nle) {
    switch (nle) {
    case NLE_PERM: case NLE_NOACCESS: return MVM_PERMISSION_DENIED;
    case NLE_EXIST: return MVM_ALREADY_EXISTS;
    case NLE_NODEV: case NLE_OBJ_NOTFOUND: case NLE_NOADDR: return MVM_NOT_FOUND;
    case NLE_BUSY: return MVM_FAILED_PRECONDITION;
    case NLE_NOMEM: return MVM_RESOURCE_EXHAUSTED;
    case NLE_INVAL: case NLE_RANGE: case NLE_AF_NOSUPPORT: case NLE_OPNOTSUPP:
    case NLE_MISSING_ATTR:
        return MVM_INVALID_ARGUMENT;
    case NLE_AGAIN: case NLE_INTR: return MVM_UNAVAILABLE;
    default: return MVM_INTERNAL;
    }
}

static mvm_code fail_v(mvm_error *err, mvm_code code, const char *why, const char *fmt,
                       va_list ap) {
    char step[MVM_ERROR_MSG_MAX];
    vsnprintf(step, sizeof step, fmt, ap);
    return mvm_fail(err, code, "%s: %s", step, why);
}

mvm_code net_fail_errno(mvm_error *err, int errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mvm_code c = fail_v(err, net_code_from_errno(errnum), strerror(errnum), fmt, ap);
    va_end(ap);
    return c;
}

mvm_code net_fail_nl(mvm_error *err, int nle, const char *fmt, ...) {
    if (nle < 0)
        nle = -nle;
    va_list ap;
    va_start(ap, fmt);
    mvm_code c = fail_v(err, net_code_from_nle(nle), nl_geterror(nle), fmt, ap);
    va_end(ap);
    return c;
}
