/* mvmc_wire.c - small client-side pieces of the gRPC HTTP/2 protocol that
 * need no connection: the HTTP-status-to-code table for responses without
 * grpc-status, and method lookup by name. (Framing, grpc-timeout and
 * grpc-message encoding are shared with the server: common/grpc_wire.c.) */
#include "mvmc.h"

#include <stdio.h>
#include <string.h>

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

int mvmc_method_index(const ProtobufCServiceDescriptor *svc, const char *name) {
    for (unsigned i = 0; i < svc->n_methods; i++)
        if (strcmp(svc->methods[i].name, name) == 0)
            return (int)i;
    return -1;
}
