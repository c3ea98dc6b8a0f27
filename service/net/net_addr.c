/* net_addr.c - parsing the IPv4 addresses and CIDRs callers hand in. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"

mvm_code net_parse_ipv4(const char *s, const char *what, struct in_addr *out, mvm_error *err) {
    if (!s || inet_pton(AF_INET, s, out) != 1)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s \"%s\" is not an IPv4 address", what,
                        s ? s : "(null)");
    return MVM_OK;
}

mvm_code net_parse_cidr(const char *s, struct in_addr *addr, int *prefixlen, mvm_error *err) {
    char buf[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= sizeof buf || slash[1] == '\0')
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "subnet \"%s\" is not a.b.c.d/len",
                        s ? s : "(null)");
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    char *end;
    long len = strtol(slash + 1, &end, 10);
    if (*end != '\0' || len < 0 || len > 32 || inet_pton(AF_INET, buf, addr) != 1)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "subnet \"%s\" is not a.b.c.d/len", s);
    *prefixlen = (int)len;
    return MVM_OK;
}
