#!/usr/bin/python3
"""bench_start.py - how long mvmd takes to boot microVMs, against the same
Firecracker driven directly through its API socket, in the same run.

For N instances of the test guest (tests/guest/) on a real Firecracker:

  baseline  a plain script (tests/guest/fc_direct.py): a process, the same
            PUTs mvmd sends (machine-config, boot-source, the root drive,
            vsock, MMDS), InstanceStart; timed from the spawn to the guest's
            first console line.
  mvmd      StartInstance through the stock Python gRPC client over mvmd's
            Unix socket; timed from the call to the guest's first console
            line arriving on a StreamConsole follower opened beforehand.

The boots alternate (one direct, one through mvmd, ...) and all stay up to
the end of the round, so both ways see the same machine: the same number of
microVMs already running. Then, with mvmd's N running (the direct ones
stopped): mvmd's RSS, and the time to re-adopt them after a SIGTERM restart
and after a SIGKILL restart (from mvmd's own "recovery in ... us" line).

Prints p50 / p99 of both, mvmd's added time (p50 difference and ratio), RSS
and re-adoption times. Asserts nothing about speed.

usage: bench_start.py --build BUILD [--firecracker BIN] [--kernel ELF] [-n N] [--rounds R]
  (defaults: $MVM_TEST_FIRECRACKER, BUILD/tests/guest/mvm-test-guest, N=100, R=1)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "tests", "integration"), os.path.join(REPO, "tests", "guest"),
                os.path.join(REPO, "clients", "python")]

BANNER = "mvm-test-guest: started"
BOOT_ARGS = "console=ttyS0 reboot=k panic=1"
MEM_MIB = 128  # the smallest a pool allows; the baseline uses the same


def pct(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Direct:
    """The baseline: Firecracker driven directly by fc_direct.py."""

    def __init__(self, fc_bin, kernel, rootfs, work):
        self.fc_bin, self.kernel, self.rootfs, self.work = fc_bin, kernel, rootfs, work
        self.vms = []

    def boot(self, i):
        """Boots VM i; returns the time (ms) from the spawn to the banner."""
        from fc_direct import Firecracker
        d = os.path.join(self.work, "direct-%d" % i)
        os.makedirs(d)
        shutil.copyfile(self.rootfs, os.path.join(d, "rootfs.ext4"))  # as mvmd's own copy
        fc = Firecracker(self.fc_bin, workdir=d, vm_id="direct-%d" % i)
        self.vms.append(fc)
        fc.spawn()
        fc.configure(self.kernel, BOOT_ARGS, mem_mib=MEM_MIB)
        fc.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "rootfs.ext4",
                                  "is_root_device": True, "is_read_only": False})
        fc.put("/vsock", {"guest_cid": 3, "uds_path": "v.sock"})
        fc.put("/mmds", {"mvm": {"id": "direct-%d" % i}})
        fc.start()
        _, seen_at, _ = fc.console.wait_for("^" + BANNER, 60)
        return (seen_at - fc.timings["spawned_at"]) * 1000

    def close(self):
        for fc in self.vms:
            fc.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def recovery_us(log):
    """The last "recovery in N us: A adopted" of mvmd's log."""
    found = None
    for line in log.splitlines():
        if "recovery in" in line and "adopted" in line:
            parts = line.split()
            found = (int(parts[parts.index("in") + 1]), int(parts[parts.index("adopted,") - 1]))
    return found


class ViaMvmd:
    """StartInstance through mvmd, timed to the banner on a follower."""

    def __init__(self, build, fc_bin, kernel, rootfs, n):
        from harness import Mvmd
        from mvmclient import Client, pb, unix_channel
        self.Client, self.unix = Client, unix_channel
        self.I, T, P = pb.instance, pb.tenant, pb.pool
        self.d = Mvmd(build, metrics=False, extra_args=[
            "--firecracker", fc_bin, "--capacity-vcpus", str(4 * n),
            "--capacity-mem-mib", str(MEM_MIB * n + 1024), "--stop-grace-seconds", "1"])
        self.d.start()
        self.c = Client(unix_channel(self.d.unix_path))
        self.c.tenants.CreateTenant(T.CreateTenantRequest(tenant=T.Tenant(
            name="bench", net_id=1, subnet="10.240.1.0/24")))
        self.c.pools.CreatePool(P.CreatePoolRequest(pool=P.Pool(
            tenant="bench", name="guest", vcpus=1, mem_mib=MEM_MIB, kernel_image=kernel,
            rootfs_image=rootfs, boot_args=BOOT_ARGS)))
        # created (disk copied) before the timed starts
        self.ids = [self.c.instances.CreateInstance(self.I.CreateInstanceRequest(
            tenant="bench", pool="guest")).id for _ in range(n)]

    def boot(self, i):
        I, iid = self.I, self.ids[i]
        got, seen = threading.Event(), {}
        stream = self.c.instances.StreamConsole(
            I.StreamConsoleRequest(tenant="bench", id=iid, follow=True), timeout=120)

        def follow():
            text = b""
            for ch in stream:
                text += ch.data
                if BANNER.encode() in text:
                    seen["at"] = time.monotonic()
                    got.set()
                    return
        th = threading.Thread(target=follow, daemon=True)
        th.start()
        t0 = time.monotonic()
        self.c.instances.StartInstance(I.StartInstanceRequest(tenant="bench", id=iid), timeout=60)
        if not got.wait(60):
            raise RuntimeError("instance %s showed no banner" % iid)
        stream.cancel()
        return (seen["at"] - t0) * 1000

    def rss_and_readoption(self):
        time.sleep(1)
        rss = rss_kib(self.d.proc.pid)
        adopt = []
        for kill in (False, True):
            self.c.close()
            if kill:
                self.d.kill()
            else:
                self.d.stop()
            self.d.start()
            self.c = self.Client(self.unix(self.d.unix_path))
            us, adopted = recovery_us(self.d.log_tail(20000)) or (-1, -1)
            adopt.append(("SIGKILL" if kill else "SIGTERM", us, adopted))
        return rss, adopt

    def close(self):
        for iid in self.ids:
            self.c.instances.DeleteInstance(self.I.DeleteInstanceRequest(tenant="bench", id=iid),
                                            timeout=60)
        self.c.close()
        self.d.stop()
        if os.environ.get("BENCH_LOG"):
            print(self.d.log_tail(1 << 22))
        self.d.close()


def one_round(a, kernel, rootfs, work):
    """N boots each way, alternating, so both see the same machine (the
    same number of microVMs already running); all stay up to the end."""
    direct = Direct(a.firecracker, kernel, rootfs, work)
    mvmd = ViaMvmd(a.build, a.firecracker, kernel, rootfs, a.n)
    base, mine = [], []
    try:
        for i in range(a.n):
            base.append(direct.boot(i))
            mine.append(mvmd.boot(i))
        direct.close()
        rss, adopt = mvmd.rss_and_readoption()
    finally:
        direct.close()
        mvmd.close()
    return base, mine, rss, adopt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--firecracker", default=os.environ.get("MVM_TEST_FIRECRACKER"))
    ap.add_argument("--kernel")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    kernel = a.kernel or os.path.join(a.build, "tests", "guest", "mvm-test-guest")
    if not a.firecracker or not os.path.exists(kernel):
        print("SKIP: bench_start needs a Firecracker (--firecracker or MVM_TEST_FIRECRACKER) "
              "and the test guest (%s)" % kernel)
        return 77
    os.environ.setdefault("MVM_PY_GEN", os.path.join(a.build, "clients", "python", "gen"))
    work = tempfile.mkdtemp(prefix="bench-start-")
    try:
        rootfs = os.path.join(work, "rootfs.ext4")
        with open(rootfs, "wb") as f:
            f.truncate(16 << 20)
        print("bench_start: %d boots of %s on %s, %d round(s)" % (a.n, kernel, a.firecracker,
                                                                  a.rounds))
        for r in range(a.rounds):
            base, mine, rss, adopt = one_round(a, kernel, rootfs, os.path.join(work, "r%d" % r))
            b50, b99, m50, m99 = pct(base, 50), pct(base, 99), pct(mine, 50), pct(mine, 99)
            print("round %d:" % (r + 1))
            print("  direct (spawn -> first line)        p50 %7.2f ms  p99 %7.2f ms" % (b50, b99))
            print("  mvmd (StartInstance -> first line)  p50 %7.2f ms  p99 %7.2f ms" % (m50, m99))
            print("  mvmd added: p50 %+.2f ms (%+.1f%% of the direct p50); p99 %+.2f ms"
                  % (m50 - b50, 100.0 * (m50 - b50) / b50, m99 - b99))
            print("  mvmd RSS with %d microVMs running: %.1f MiB" % (a.n, rss / 1024.0))
            for kind, us, adopted in adopt:
                print("  re-adoption after %s restart: %d running adopted in %.1f ms"
                      % (kind, adopted, us / 1000.0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
