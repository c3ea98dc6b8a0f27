/* mvmc_wire.c - small pieces of the gRPC HTTP/2 protocol that need no
 * connection: grpc-message percent-decoding, the HTTP-status-to-code table
 * for responses without grpc-status, grpc-timeout formatting, and method
 * lookup by name. */
#include "mvmc.h"

#include <stdio.h>
#include <string.h>

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

void mvmc_percent_decode(const char *in, size_t len, char *out, size_t cap) {
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len && (hi = hexval(in[i + 1])) >= 0 &&
            (lo = hexval(in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

mvm_code mvmc_http_status_code(int http_status) {
    switch (http_status) {
    case 400:
        return MVM_INTERNAL;
    case 401:
        return MVM_UNAUTHENTICATED;
    case 403:
        return MVM_PERMISSION_DENIED;
    case 404:
        return MVM_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return MVM_UNAVAILABLE;
    default:
        return MVM_UNKNOWN;
    }
}

void mvmc_format_timeout(int timeout_ms, char *out, size_t cap) {
    /* At most 8 digits: milliseconds while they fit, else seconds. */
    if (timeout_ms < 100000000)
        snprintf(out, cap, "%dm", timeout_ms);
    else
        snprintf(out, cap, "%dS", timeout_ms / 1000);
}

int mvmc_method_index(const ProtobufCServiceDescriptor *svc, const char *name) {
    for (unsigned i = 0; i < svc->n_methods; i++)
        if (strcmp(svc->methods[i].name, name) == 0)
            return (int)i;
    return -1;
}
