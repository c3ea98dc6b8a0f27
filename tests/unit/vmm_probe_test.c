/* vmm_probe_test.c - what the node says about its ability to run
 * microVMs: the Firecracker probe against stand-in binaries (shell scripts
 * that are missing, fail, print something else, are too old, or cannot
 * serve an API), a missing KVM device, the messages lifecycle calls get,
 * and, when MVM_TEST_FIRECRACKER names one, the real binary. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vmm.h"

static char tmpdir[] = "/tmp/vmm-probe-XXXXXX";

static char *script(const char *name, const char *body) {
    static char path[8][300];
    static int n;
    char *p = path[n++ % 8];
    snprintf(p, 300, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fprintf(f, "#!/bin/sh\n%s\n", body);
        fclose(f);
    }
    chmod(p, 0755);
    return p;
}

static vmm_host *probe(const char *fc, const char *kvm, mvm_error *err) {
    char state[300];
    snprintf(state, sizeof state, "%s/state", tmpdir);
    mkdir(state, 0700);
    vmm_host_config cfg = {.state_dir = state, .firecracker = fc, .kvm_device = kvm,
                           .start_timeout_ms = 1000};
    vmm_host *h = NULL;
    CHECK_EQ_INT(vmm_host_new(&cfg, &h, err), MVM_OK);
    return h;
}

static void test_standins(void) {
    mvm_error err;
    vmm_host *h;

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-firecracker", tmpdir);
    h = probe(missing, "/nonexistent/kvm", &err);
    const vmm_probe *p = vmm_host_probe(h);
    CHECK(!p->fc_ok && strstr(p->fc_status, "missing or not executable"));
    CHECK(!p->kvm_ok && strstr(p->kvm_status, "/nonexistent/kvm") &&
          strstr(p->kvm_status, "No such file"));
    CHECK_EQ_INT(vmm_host_ready(h, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "Firecracker:") && strstr(err.msg, "KVM:"));
    vmm_machine *m;
    CHECK_EQ_INT(vmm_machine_spawn(h, "i-1", tmpdir, &m, &err), MVM_FAILED_PRECONDITION);
    vmm_host_free(h);

    h = probe("no-such-firecracker-on-path", NULL, &err);
    CHECK(strstr(vmm_host_probe(h)->fc_status, "no no-such-firecracker-on-path on PATH"));
    vmm_host_free(h);

    h = probe(script("fc-fail", "exit 4"), NULL, &err);
    CHECK(strstr(vmm_host_probe(h)->fc_status, "failed (exit status 4)"));
    vmm_host_free(h);

    h = probe(script("fc-odd", "echo 'hello world'"), NULL, &err);
    CHECK(strstr(vmm_host_probe(h)->fc_status, "hello world"));
    vmm_host_free(h);

    h = probe(script("fc-old", "echo 'Firecracker v1.9.0'"), NULL, &err);
    CHECK(strstr(vmm_host_probe(h)->fc_status, "too old") &&
          strstr(vmm_host_probe(h)->fc_status, "1.9.0"));
    vmm_host_free(h);

    /* answers --version but never opens an API socket */
    h = probe(script("fc-mute", "[ \"$1\" = --version ] && { echo 'Firecracker v1.10.1'; exit 0; }\n"
                                "[ \"$1\" = --snapshot-version ] && { echo v4.0.0; exit 0; }\n"
                                "sleep 30"),
              NULL, &err);
    p = vmm_host_probe(h);
    CHECK(!p->fc_ok && strstr(p->fc_status, "its API does not answer"));
    CHECK_EQ_STR(p->snapshot_version, "v4.0.0");
    vmm_host_free(h);

    /* dies at once when started for real */
    h = probe(script("fc-dies", "[ \"$1\" = --version ] && { echo 'Firecracker v1.10.1'; exit 0; }\n"
                                "echo 'boom' >&2; exit 1"),
              NULL, &err);
    p = vmm_host_probe(h);
    CHECK(!p->fc_ok && strstr(p->fc_status, "exited with status 1") && strstr(p->fc_status, "boom"));
    vmm_host_free(h);
}

static void test_real(void) {
    const char *fc = getenv("MVM_TEST_FIRECRACKER");
    if (!fc || !*fc) {
        printf("SKIP real Firecracker probe: MVM_TEST_FIRECRACKER is not set\n");
        return;
    }
    mvm_error err;
    vmm_host *h = probe(fc, NULL, &err);
    const vmm_probe *p = vmm_host_probe(h);
    CHECK(p->fc_ok);
    CHECK_EQ_STR(p->fc_status, "ok");
    CHECK(p->fc_major == 1 && p->fc_minor >= 10);
    CHECK(p->snapshot_version[0] == 'v');
    CHECK(vmm_host_fc_at_least(h, 1, 10));
    CHECK(!vmm_host_fc_at_least(h, 99, 0));
    if (p->kvm_ok)
        CHECK_EQ_INT(vmm_host_ready(h, &err), MVM_OK);
    /* the probe leaves nothing behind */
    char probe_dir[400];
    snprintf(probe_dir, sizeof probe_dir, "%s/state/instances/.probe-%d", tmpdir, (int)getpid());
    CHECK(access(probe_dir, F_OK) != 0);
    vmm_host_free(h);
}

int main(void) {
    if (!mkdtemp(tmpdir))
        return 1;
    test_standins();
    test_real();
    vmm_dir_remove(tmpdir, NULL);
    return check_done();
}
