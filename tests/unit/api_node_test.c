/* api_node_test.c - the Firecracker probe of NodeService.GetInfo: parsing
 * `--version` output, and running stand-in binaries (shell scripts written
 * to a temp dir) that succeed, fail, print something else or are missing. */
#include <sys/stat.h>

#include "api_internal.h"
#include "check.h"
#include "store_testlib.c"

static char *script(const char *dir, const char *name, const char *body) {
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "#!/bin/sh\n%s\n", body);
        fclose(f);
    }
    chmod(path, 0755);
    return path;
}

static void test_parse(void) {
    char v[32];
    CHECK(api_fc_parse_version("Firecracker v1.10.1\n", v, sizeof v));
    CHECK_EQ_STR(v, "v1.10.1");
    CHECK(api_fc_parse_version("Firecracker v1.7.0-dev\n\nSupported snapshot versions: v2.0.0",
                               v, sizeof v));
    CHECK_EQ_STR(v, "v1.7.0-dev");
    CHECK(api_fc_parse_version("warning: x\nFirecracker v0.25.2", v, sizeof v));
    CHECK_EQ_STR(v, "v0.25.2");
    CHECK(!api_fc_parse_version("", v, sizeof v));
    CHECK(!api_fc_parse_version("Firecracker", v, sizeof v));
    CHECK(!api_fc_parse_version("Firecracker vX", v, sizeof v));
    CHECK(!api_fc_parse_version("Firecracker v1", v, sizeof v));
    CHECK(!api_fc_parse_version("NotFirecracker v1.2.3", v, sizeof v));
    char tiny[4];
    CHECK(!api_fc_parse_version("Firecracker v1.10.1", tiny, sizeof tiny));
}

static void test_probe(const char *dir) {
    char v[64], s[256];
    api_fc_probe(NULL, v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(v, "");
    CHECK_EQ_STR(s, "not configured (--firecracker)");
    api_fc_probe("", v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(s, "not configured (--firecracker)");

    char *ok = script(dir, "fc-ok", "[ \"$1\" = --version ] || exit 3\necho 'Firecracker v1.10.1'\n"
                                    "echo\necho 'Supported snapshot versions: v5.0.0'");
    api_fc_probe(ok, v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(v, "v1.10.1");
    CHECK_EQ_STR(s, "ok");

    char *bad = script(dir, "fc-fail", "exit 4");
    api_fc_probe(bad, v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(v, "");
    CHECK(strstr(s, "failed") && strstr(s, "4"));

    char *odd = script(dir, "fc-odd", "echo 'hello world'");
    api_fc_probe(odd, v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(v, "");
    CHECK(strstr(s, "unexpected") && strstr(s, "hello world"));

    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-firecracker", dir);
    api_fc_probe(missing, v, sizeof v, s, sizeof s);
    CHECK_EQ_STR(v, "");
    CHECK(strstr(s, "cannot run") != NULL);
    free(ok);
    free(bad);
    free(odd);
}

int main(void) {
    char *dir = test_mkdir();
    test_parse();
    test_probe(dir);
    test_rmdir(dir);
    return check_done();
}
