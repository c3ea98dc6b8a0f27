#!/usr/bin/python3
"""bench_uffd - snapshot restore on a real Firecracker with its two memory
backends: File (Firecracker maps the memory file MAP_PRIVATE itself) and
Uffd served by mvm's userfaultfd page server (service/vmm/vmm_uffd*.c,
through BUILD/tests/vmm_uffd_tool), without and with the working set the
previous restore recorded (prefetch). Asserts nothing; prints figures.

    bench_uffd.py --build BUILD [--firecracker FC] [--kernel GUEST]
                  [--touch-mib 16] [--mem-mib 32] [--rounds 5] [--clones 10]
                  [--json]

1. One snapshot of the test guest, booted with mvm.touch_mib=N where the
   guest has that option (it then prints "mvm-test-guest: touched N MiB" and
   reads the N MiB back every tick; a guest without it touches only a few
   pages, which is said in the output), paused --phase-ms after a tick.
2. Latency, --rounds rounds, the three ways taking turns within a round:
   a fresh Firecracker process, PUT /snapshot/load (resume), and the time
   from sending the load to the guest's next console tick (N+1); also the
   load call alone, and tick N+1 to N+2. The guest's APIC timer runs on
   while it is paused, so every restore of the snapshot meets its next tick
   after the same remainder of the period (1 s - phase - pause-to-snapshot
   time): the ways differ by what the restore costs on top of it. The guest
   reads its touched memory back right AFTER printing a tick, so that cost
   shows in N+1 to N+2 only where it exceeds the 1 s period. What shows it
   is "warm": the time from sending the load until the process's resident
   memory (VmRSS) has grown by the touched MiB (polled every millisecond);
   for Uffd also the page server's last fault (after the connection).
3. Memory: --clones restores of the snapshot running at once, each way in
   turn, each having printed two ticks (so the read-back ran); the sum of
   the Pss of their Firecracker processes (/proc/PID/smaps_rollup), the Pss
   of the first one alone before the others started, and what the page
   server's own Pss grew by (the memory-file pages it maps to copy from;
   in mvmd this is mvmd's memory). "total" is the sum plus that growth.

The host's first-touch guest page faults are slow here (software
hypervisor, about 2 MiB/s): keep N small. Exit status: 0, or 77 (SKIP)
without a Firecracker.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
import fc_direct  # noqa: E402
from fc_direct import Firecracker  # noqa: E402
from uffd_tool import UffdTool, load_file, load_uffd  # noqa: E402

WAYS = ("file", "uffd", "uffd+prefetch")
LINE_TIMEOUT = 300.0  # generous: N MiB read back at first-touch speed


def proc_kib(pid, name, field):
    """A "Field:   N kB" line of /proc/PID/<name>, in KiB (0 if absent)."""
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return proc_kib(pid, "status", "VmRSS")


def pss_kib(pid):
    return proc_kib(pid, "smaps_rollup", "Pss")


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="bench-uffd-")
        self.snapshot = os.path.join(self.dir, "vm.snap")
        self.memory = os.path.join(self.dir, "vm.mem")
        self.ws = os.path.join(self.dir, "vm.ws")
        self.tool = UffdTool(os.path.join(args.build, "tests", "vmm_uffd_tool"),
                             settle_ms=args.settle_ms)
        self.count = 0
        self.touched = None

    def close(self):
        self.tool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def firecracker(self):
        self.count += 1
        name = "r%d" % self.count
        return name, Firecracker(self.args.firecracker, os.path.join(self.dir, name), vm_id=name,
                                 api_timeout=LINE_TIMEOUT)

    def make_snapshot(self):
        a = self.args
        boot_args = "console=ttyS0"
        if a.touch_mib:
            boot_args += " mvm.touch_mib=%d" % a.touch_mib
        _, src = self.firecracker()
        try:
            src.spawn()
            src.configure(a.kernel, boot_args, mem_mib=a.mem_mib)
            t0 = time.monotonic()
            src.start()
            src.console.wait_for(r"^tick 2$", LINE_TIMEOUT)
            boot_s = time.monotonic() - t0
            time.sleep(a.phase_ms / 1000.0)
            for line in src.console.text():
                m = re.match(r"^mvm-test-guest: touched (\d+) MiB", line)
                if m:
                    self.touched = int(m.group(1))
            src.pause()
            src.snapshot_create(self.snapshot, self.memory)
            time.sleep(0.3)  # what the guest printed before the pause arrives
            self.last = [int(l.split()[1]) for l in src.console.text()
                         if l.startswith("tick ")][-1]
        finally:
            src.close()
        if self.touched:
            print("guest: %d MiB, touched %d MiB at boot and reads it back every tick "
                  "(boot to tick 2: %.1f s)" % (a.mem_mib, self.touched, boot_s))
        else:
            print("guest: %d MiB; it does NOT touch memory (no mvm.touch_mib support, or 0):"
                  " it uses a few dozen KiB, so the backends differ little" % a.mem_mib)

    def restore(self, way, ws=None):
        """One restore; returns (fc, session name or None, t0). The caller
        waits for the tick and closes fc."""
        name, fc = self.firecracker()
        fc.spawn()
        sock = os.path.join(self.dir, name + ".sock")
        if way != "file":
            self.tool.serve(name, sock, self.memory, ws)
        self.rss_before = rss_kib(fc.pid())
        t0 = time.monotonic()
        if way == "file":
            load_file(fc, self.snapshot, self.memory)
        else:
            load_uffd(fc, self.snapshot, sock)
        loaded = time.monotonic()
        return fc, (name if way != "file" else None), t0, loaded

    def wait_warm(self, fc, t0):
        """Seconds from t0 until fc's VmRSS grew by 95% of the touched MiB
        (None if the guest touches nothing, or it did not within 20 s)."""
        if not self.touched:
            return None
        want = self.rss_before + self.touched * 1024 * 95 // 100
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if rss_kib(fc.pid()) >= want:
                return time.monotonic() - t0
            time.sleep(0.001)
        return None

    def finish(self, fc, name):
        fc.close()
        if name:
            self.tool.wait(name, "ended", 30000)
            st = self.tool.stats(name)
            self.tool.free(name)
            return st
        return None

    def latency(self):
        a = self.args
        # The working set the prefetch way starts from: one restore's,
        # written when its process ends.
        if os.path.exists(self.ws):
            os.unlink(self.ws)
        fc, name, _, _ = self.restore("uffd", self.ws)
        fc.console.wait_for(r"^tick %d$" % (self.last + 2), LINE_TIMEOUT)
        st = self.finish(fc, name)
        print("working set recorded by a first Uffd restore: %d pages (%.1f MiB)"
              % (st["ws_pages_out"], st["ws_pages_out"] * 4096 / 1048576.0))
        results = {w: [] for w in WAYS}
        for r in range(a.rounds):
            for way in WAYS:
                fc, name, t0, loaded = self.restore(way, self.ws if way == "uffd+prefetch" else None)
                warm = self.wait_warm(fc, t0)
                _, t1, _ = fc.console.wait_for(r"^tick %d$" % (self.last + 1), LINE_TIMEOUT)
                _, t2, _ = fc.console.wait_for(r"^tick %d$" % (self.last + 2), LINE_TIMEOUT)
                st = self.finish(fc, name)
                results[way].append({"load_ms": (loaded - t0) * 1000, "tick_ms": (t1 - t0) * 1000,
                                     "next_ms": (t2 - t1) * 1000, "stats": st,
                                     "warm_ms": warm * 1000 if warm is not None else None})
        p50 = statistics.median
        print("\nrestore latency over %d rounds (ms; p50 [min..max])" % a.rounds)
        print("  %-14s %-22s %-24s %-10s %-9s %s" % ("", "load call", "load to tick N+1",
                                                     "N+1->N+2", "warm", "Uffd: faults, "
                                                     "prefetched, last fault"))
        summary = {}
        for way in WAYS:
            rs = results[way]
            load = [x["load_ms"] for x in rs]
            tick = [x["tick_ms"] for x in rs]
            nxt = [x["next_ms"] for x in rs]
            warm = [x["warm_ms"] for x in rs if x["warm_ms"] is not None]
            summary[way] = {"load_ms_p50": p50(load), "tick_ms_p50": p50(tick),
                            "tick_ms_min": min(tick), "tick_ms_max": max(tick),
                            "next_tick_ms_p50": p50(nxt),
                            "warm_ms_p50": p50(warm) if warm else None}
            extra = ""
            if way != "file":
                sts = [x["stats"] for x in rs]
                summary[way].update({
                    "faults_p50": p50(s["faults"] for s in sts),
                    "prefetched_p50": p50(s["pages_prefetched"] for s in sts),
                    "prefetch_ms_p50": p50(max(s["prefetch_us"], 0) / 1000.0 for s in sts),
                    "last_fault_ms_p50": p50(max(s["last_fault_us"], 0) / 1000.0 for s in sts)})
                w = summary[way]
                extra = "%d, %d (in %.1f ms), %.1f ms" % (w["faults_p50"], w["prefetched_p50"],
                                                         w["prefetch_ms_p50"],
                                                         w["last_fault_ms_p50"])
            print("  %-14s %6.1f [%5.1f..%6.1f]   %6.1f [%6.1f..%6.1f]   %7.1f    %-9s %s"
                  % (way, p50(load), min(load), max(load), p50(tick), min(tick), max(tick),
                     p50(nxt), "%.1f" % p50(warm) if warm else "-", extra))
        return summary

    def memory_use(self):
        a = self.args
        print("\nmemory of %d restores of one snapshot, each past two ticks (KiB)" % a.clones)
        print("  %-14s %10s %14s %8s %14s %10s" % ("", "one alone", "sum of %d" % a.clones,
                                                   "x one", "page server +", "total"))
        summary = {}
        for way in WAYS:
            running = []
            server_before = pss_kib(self.tool.proc.pid)
            try:
                one = None
                for i in range(a.clones):
                    fc, name, _, _ = self.restore(way, self.ws if way == "uffd+prefetch" else None)
                    running.append((fc, name))
                    fc.console.wait_for(r"^tick %d$" % (self.last + 2), LINE_TIMEOUT)
                    if i == 0:
                        one = pss_kib(fc.pid())
                total = sum(pss_kib(fc.pid()) for fc, _ in running)
                server = pss_kib(self.tool.proc.pid) - server_before
            finally:
                for fc, name in running:
                    self.finish(fc, name)
            print("  %-14s %10d %14d %8.2f %14d %10d"
                  % (way, one, total, total / float(one), server, total + server))
            summary[way] = {"pss_one_kib": one, "pss_sum_kib": total,
                            "server_pss_growth_kib": server}
        return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="the build directory")
    ap.add_argument("--firecracker", default=os.environ.get("MVM_TEST_FIRECRACKER"))
    ap.add_argument("--kernel", help="the test guest (default BUILD/tests/guest/mvm-test-guest)")
    ap.add_argument("--touch-mib", type=int, default=16)
    ap.add_argument("--mem-mib", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clones", type=int, default=10)
    ap.add_argument("--phase-ms", type=int, default=800,
                    help="pause this long after tick 2 before the snapshot (default 800)")
    ap.add_argument("--settle-ms", type=int, default=5000,
                    help="page server settle time: the working set is written after it or "
                    "when the process ends (default 5000: at the end, here)")
    ap.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = ap.parse_args()
    if not args.firecracker:
        print("SKIP: bench_uffd: no Firecracker (--firecracker or MVM_TEST_FIRECRACKER)")
        return 77
    args.kernel = os.path.abspath(args.kernel or os.path.join(args.build, "tests", "guest",
                                                              "mvm-test-guest"))
    args.build = os.path.abspath(args.build)
    fc_direct.kill_all_on_signal()
    bench = Bench(args)
    try:
        bench.make_snapshot()
        out = {"touched_mib": bench.touched, "mem_mib": args.mem_mib,
               "latency": bench.latency(), "memory": bench.memory_use()}
    finally:
        bench.close()
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
