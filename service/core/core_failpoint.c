/* core_failpoint.c - named points between the steps of each operation
 * where a test can make mvmd die (SIGKILL itself) or pause, to prove that
 * a crash between any two steps is recovered. They are off unless the
 * environment variable MVMD_FAILPOINTS lists them at start:
 *   MVMD_FAILPOINTS="start.spawned"            SIGKILL there
 *   MVMD_FAILPOINTS="stop.intent=sleep:2000"   pause 2 s there
 * The names are in core_internal.h; docs/architecture.md lists them. */
#include "core_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *points; /* MVMD_FAILPOINTS as read at start, or NULL */

void core_failpoints_load(void) {
    const char *v = getenv("MVMD_FAILPOINTS");
    free(points);
    points = v && *v ? strdup(v) : NULL;
    if (points)
        fprintf(stderr, "mvmd: failpoints armed (test only): %s\n", points);
}

void core_failpoint(const char *name) {
    if (!points)
        return;
    size_t n = strlen(name);
    for (const char *p = points; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) != 0 || (p[n] != '\0' && p[n] != ',' && p[n] != '='))
            continue;
        if (p[n] == '=' && strncmp(p + n + 1, "sleep:", 6) == 0) {
            long ms = strtol(p + n + 7, NULL, 10);
            fprintf(stderr, "mvmd: failpoint %s: sleeping %ld ms\n", name, ms);
            nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
            return;
        }
        fprintf(stderr, "mvmd: failpoint %s: SIGKILL\n", name);
        raise(SIGKILL);
    }
}
