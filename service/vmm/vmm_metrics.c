/* vmm_metrics.c - reading Firecracker's metrics lines: how many bytes the
 * guest's network devices moved (the "net" object aggregates every
 * interface), which is what the sleep policy counts as activity. */
#include "vmm_internal.h"

#include <string.h>

#include <jansson.h>

static uint64_t counter(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

size_t vmm_metrics_traffic(const char *text, size_t len, uint64_t *bytes) {
    size_t used = 0;
    while (used < len) {
        const char *nl = memchr(text + used, '\n', len - used);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (text + used));
        json_t *doc = json_loadb(text + used, n, 0, NULL);
        json_t *net = json_is_object(doc) ? json_object_get(doc, "net") : NULL;
        if (json_is_object(net))
            *bytes += counter(net, "rx_bytes_count") + counter(net, "tx_bytes_count");
        json_decref(doc);
        used += n + 1;
    }
    return used;
}
