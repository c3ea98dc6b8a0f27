/* cli_text.c - message types with a short text form of their own, declared
 * in one table: how a flag's value becomes such a message and how a table
 * cell shows one. PortForward is "tcp:8080:80" (protocol:host
 * port:instance port) both ways; NetworkLimits shows its non-zero rates as
 * "rx-bps=N,tx-pps=N" (each rate has a flag of its own, so it is never
 * parsed). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mvm/v1/instance.pb-c.h"
#include "mvm/v1/pool.pb-c.h"

/* A port 1-65535 in decimal, the whole of [s, s + n). */
static int port_parse(const char *s, size_t n, uint32_t *out) {
    if (n == 0 || n > 5)
        return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return 0;
    *out = v;
    return 1;
}

static mvm_code forward_parse(const char *flag, const char *text, ProtobufCMessage *m,
                              mvm_error *err) {
    Mvm__V1__PortForward *f = (Mvm__V1__PortForward *)m;
    const char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ':'))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "--%s: \"%s\" is not PROTO:HOST-PORT:INSTANCE-PORT (tcp:8080:80)", flag,
                        text);
    size_t plen = (size_t)(c1 - text);
    if (plen == 3 && strncasecmp(text, "tcp", 3) == 0)
        f->protocol = MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_TCP;
    else if (plen == 3 && strncasecmp(text, "udp", 3) == 0)
        f->protocol = MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP;
    else
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "--%s: \"%s\": the protocol \"%.*s\" is not tcp or udp", flag, text,
                        (int)plen, text);
    if (!port_parse(c1 + 1, (size_t)(c2 - c1 - 1), &f->host_port))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "--%s: \"%s\": the host port \"%.*s\" is not a number 1-65535", flag,
                        text, (int)(c2 - c1 - 1), c1 + 1);
    if (!port_parse(c2 + 1, strlen(c2 + 1), &f->instance_port))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "--%s: \"%s\": the instance port \"%s\" is not a number 1-65535", flag,
                        text, c2 + 1);
    return MVM_OK;
}

static void forward_format(const ProtobufCMessage *m, char *buf, size_t cap) {
    const Mvm__V1__PortForward *f = (const Mvm__V1__PortForward *)m;
    const char *p = f->protocol == MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_TCP   ? "tcp"
                    : f->protocol == MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP ? "udp"
                                                                               : "?";
    snprintf(buf, cap, "%s:%" PRIu32 ":%" PRIu32, p, f->host_port, f->instance_port);
}

static void limits_format(const ProtobufCMessage *m, char *buf, size_t cap) {
    const Mvm__V1__NetworkLimits *l = (const Mvm__V1__NetworkLimits *)m;
    const struct {
        const char *name;
        uint64_t v;
    } r[] = {{"rx-bps", l->rx_bytes_per_second}, {"tx-bps", l->tx_bytes_per_second},
             {"rx-pps", l->rx_packets_per_second}, {"tx-pps", l->tx_packets_per_second}};
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof r / sizeof r[0] && o < cap; i++)
        if (r[i].v) {
            int n = snprintf(buf + o, cap - o, "%s%s=%" PRIu64, o ? "," : "", r[i].name,
                             r[i].v);
            o = n > 0 ? o + (size_t)n : o;
        }
}

static const cli_text_type text_types[] = {
    {&mvm__v1__port_forward__descriptor, "PROTO:HOST-PORT:INSTANCE-PORT", forward_parse,
     forward_format},
    {&mvm__v1__network_limits__descriptor, NULL, NULL, limits_format},
};

const cli_text_type *cli_text_type_of(const ProtobufCMessageDescriptor *d) {
    for (size_t i = 0; i < sizeof text_types / sizeof text_types[0]; i++)
        if (text_types[i].msg == d)
            return &text_types[i];
    return NULL;
}
