#!/usr/bin/python3
"""bench_reconcile.py - the reconcile loop on a real Firecracker: how fast it
makes a pool's instances against ForkInstances, how fast it removes them, and
what it costs while the node holds many idle instances. Prints figures;
asserts nothing about speed.

    bench_reconcile.py --build BUILD [--firecracker FC] [--kernel GUEST]
                       [--forks 10] [--instances 50] [--idle 200]
                       [--idle-seconds 20] [--json]

One mvmd (its default --reconcile-interval-ms and --activity-interval-ms),
one tenant, one pool of the test guest (128 MiB, nothing touched) with a
READY base snapshot (bench_clone.py's Node: ready_pattern "^tick 2$"):

  (a) fork       ForkInstances clones=--forks, the baseline (bench_clone.py's
                 many(): the call's wall time, then its clones' PSS): clones/s.
  (b) up         UpdatePool desired_instances=--instances from none: time from
                 the call to the pool's status CONVERGED with that many managed
                 instances RUNNING (GetPool polled every 25 ms), and to the last
                 one's state_time (RUNNING, mvmd's own clock): clones/s, and
                 its ratio to (a) (target >= 0.8).
  (c) down       desired_instances=0: time to none left (status CONVERGED, 0
                 instances).
  (d) idle       desired_instances=--idle, no sleep policy; converged (time
                 printed), then nothing asked of mvmd for --idle-seconds: its
                 CPU (utime+stime, /proc/PID/stat) and its reconcile thread's
                 alone (the task named "mvmd-reconcile", /proc/PID/task/*/comm)
                 over that time, as % of one CPU (target < 1%); the busiest
                 threads are listed. Then back to 0 (time printed).

Memory: --idle guests of 128 MiB each are mostly untouched; what one costs is
taken from (a)'s clones (PSS), and if --idle of them would need more than 70%
of MemAvailable the count is lowered, said loudly.

Exit status: 0; 1 if a figure came out empty or non-positive (the script or
mvmd is broken, not slow); 77 (SKIP) without a Firecracker or the test guest.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_clone as BC  # noqa: E402  (its sys.path setup too)

MEM_MIB = BC.MEM_MIB
POLL = 0.025             # GetPool polling while converging
WAIT = 900.0             # hang guard for one convergence (not a timing assertion)
RECONCILE_THREAD = "mvmd-reconcile"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


def median(xs):
    s = sorted(xs)
    k = len(s) // 2
    return s[k] if len(s) % 2 else (s[k - 1] + s[k]) / 2.0


def meminfo_kib(field):
    return BC.proc_kib("/proc/meminfo", field)


def cpu_ticks(stat_path):
    """utime + stime of a process or task, in clock ticks."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def threads(pid):
    """{tid: comm} of mvmd's tasks."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def ts(t):
    return t.seconds + t.nanos / 1e9


class Pool:
    """The bench's pool, through bench_clone's Node."""

    def __init__(self, n):
        self.n = n
        self.P, self.I = n.P, n.I

    def get(self):
        return self.n.c.pools.GetPool(self.P.GetPoolRequest(tenant="bench", name="guest"))

    def set_desired(self, count):
        from google.protobuf import field_mask_pb2
        self.n.c.pools.UpdatePool(self.P.UpdatePoolRequest(
            pool=self.P.Pool(tenant="bench", name="guest", desired_instances=count),
            update_mask=field_mask_pb2.FieldMask(paths=["desired_instances"])))

    def managed(self):
        out, token = [], ""
        while True:
            r = self.n.c.instances.ListInstances(self.I.ListInstancesRequest(
                tenant="bench", pool="guest", page_size=1000, page_token=token))
            out += [i for i in r.instances if i.managed]
            token = r.next_page_token
            if not token:
                return out

    def converge(self, count):
        """Sets desired_instances=count and waits until the status says
        CONVERGED with count managed instances, all RUNNING. Returns (seconds
        from the call to the status seen, seconds to the last managed
        instance's state_time or None for 0, the managed instances)."""
        wall0, t0 = time.time(), time.monotonic()
        self.set_desired(count)
        deadline = t0 + WAIT
        while True:
            s = self.get().status
            if (self.P.ReconcileState.Name(s.state) == "RECONCILE_STATE_CONVERGED" and
                    s.instances == count and s.running == count):
                seen = time.monotonic() - t0
                break
            if s.failures >= 3:
                raise BenchError("the pool backs off: %s" % s)
            if time.monotonic() > deadline:
                raise BenchError("not converged to %d after %.0f s: %s" % (count, WAIT, s))
            time.sleep(POLL)
        ms = self.managed()
        if len(ms) != count:
            raise BenchError("converged with %d managed instances, not %d" % (len(ms), count))
        last = max(ts(i.state_time) for i in ms) - wall0 if ms else None
        return seen, last, ms


def idle_cpu(pid, seconds):
    """mvmd's CPU over seconds with nothing asked of it: (whole process %,
    reconcile thread % or None, [(comm, %)] busiest threads)."""
    names = threads(pid)
    before = {tid: cpu_ticks("/proc/%d/task/%d/stat" % (pid, tid)) for tid in names}
    whole0, t0 = cpu_ticks("/proc/%d/stat" % pid), time.monotonic()
    time.sleep(seconds)
    whole1, t1 = cpu_ticks("/proc/%d/stat" % pid), time.monotonic()
    pct = lambda ticks: ticks / float(CLK_TCK) / (t1 - t0) * 100.0
    per = []
    for tid, name in names.items():
        try:
            per.append((name, tid, pct(cpu_ticks("/proc/%d/task/%d/stat" % (pid, tid)) -
                                       before[tid])))
        except OSError:
            pass  # a task that ended
    rec = [p for name, _, p in per if name == RECONCILE_THREAD]
    per.sort(key=lambda x: -x[2])
    return pct(whole1 - whole0), (sum(rec) if rec else None), per, sorted(set(names.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(BC.REPO, "build"))
    ap.add_argument("--firecracker", default=os.environ.get("MVM_TEST_FIRECRACKER"))
    ap.add_argument("--kernel", help="the test guest (default BUILD/tests/guest/mvm-test-guest)")
    ap.add_argument("--forks", type=int, default=10)
    ap.add_argument("--instances", type=int, default=50)
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of (a) and (b)+(c), alternating; medians compared")
    ap.add_argument("--json", action="store_true", help="also print a JSON summary")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.kernel = os.path.abspath(a.kernel or os.path.join(a.build, "tests", "guest",
                                                        "mvm-test-guest"))
    if not a.firecracker or not os.path.exists(a.kernel):
        print("SKIP: bench_reconcile needs a Firecracker (--firecracker or "
              "MVM_TEST_FIRECRACKER) and the test guest (%s)" % a.kernel)
        return 77
    if a.forks < 1 or a.instances < 1 or a.idle < 1 or a.idle_seconds <= 0 or a.rounds < 1:
        ap.error("--forks, --instances, --idle, --idle-seconds and --rounds must be positive")
    if max(a.instances, a.idle) > 250:
        ap.error("at most 250 instances: the tenant's subnet is a /24")
    os.environ.setdefault("MVM_PY_GEN", os.path.join(a.build, "clients", "python", "gen"))
    a.touch_mib = 0  # bench_clone's Node: the guest touches nothing

    def on_signal(signum, frame):  # run the finally blocks: no microVM left behind
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    most = max(a.instances, a.idle, a.forks)
    work = tempfile.mkdtemp(prefix="bench-reconcile-")
    n = None
    js = {"forks": a.forks, "instances": a.instances, "idle": a.idle,
          "idle_seconds": a.idle_seconds, "mem_mib": MEM_MIB}
    try:
        avail0 = meminfo_kib("MemAvailable")
        print("bench_reconcile: %s on %s; guest %d MiB; fork %d, converge to %d, idle %d for "
              "%.0f s; MemAvailable %.1f GiB" % (a.kernel, a.firecracker, MEM_MIB, a.forks,
                                                a.instances, a.idle, a.idle_seconds,
                                                avail0 / 1048576.0), flush=True)
        n = BC.Node(a, work)
        # room for every instance (the node's defaults offer the host's memory
        # less a reserve, and 8 vCPUs per CPU); mvmd's reconcile settings are
        # its defaults
        n.d.extra_args += ["--capacity-vcpus", str(most + 16),
                           "--capacity-mem-mib", str((most + 16) * MEM_MIB)]
        n.d.restart()
        n.c.close()
        from mvmclient import Client, unix_channel
        n.c = Client(unix_channel(n.d.unix_path))
        pool = Pool(n)
        _, ready_ms = n.build_base()
        sid = pool.get().base_snapshot.snapshot_id
        print("base snapshot %s ready (template %.1f s to its second tick)"
              % (sid, ready_ms / 1000.0), flush=True)

        # (a) and (b)+(c) alternate --rounds times; medians are compared (the
        # machine's speed drifts between runs by more than the target's margin)
        forks_s, ups, downs, pss = [], [], [], []
        for r in range(a.rounds):
            print("(a) ForkInstances of %d (round %d)..." % (a.forks, r + 1), flush=True)
            many = BC.many(n, a.forks)
            forks_s.append(a.forks / (many["fork_ms"] / 1000.0))
            pss += many["pss_each_kib"]
            print("(b) converging to %d managed instances (round %d)..." % (a.instances, r + 1),
                  flush=True)
            seen, last, ms = pool.converge(a.instances)
            not_clones = [i.id for i in ms if i.base_snapshot_id != sid]
            if not_clones:
                raise BenchError("managed instances that are not clones of %s: %s"
                                 % (sid, not_clones))
            if last is None or last <= 0:
                raise BenchError("the last managed instance's state_time is %s s after the call"
                                 % last)
            ups.append((seen, last))
            print("(c) back to 0 (round %d)..." % (r + 1), flush=True)
            down, _, _ = pool.converge(0)
            downs.append(down)
        fork_per_s = median(forks_s)
        pss_each = sum(pss) / float(len(pss))
        seen = median([u[0] for u in ups])
        last = median([u[1] for u in ups])
        up_per_s = a.instances / last
        js.update(fork_ms=a.forks * 1000.0 / fork_per_s, fork_clones_per_s=fork_per_s,
                  fork_clones_per_s_rounds=forks_s, clone_pss_kib=pss_each,
                  up_seen_s=seen, up_last_running_s=last, up_clones_per_s=up_per_s,
                  up_clones_per_s_rounds=[a.instances / u[1] for u in ups],
                  up_ratio=up_per_s / fork_per_s, down_s=median(downs), rounds=a.rounds)

        idle = a.idle
        avail = meminfo_kib("MemAvailable")
        need = idle * pss_each
        if need > 0.7 * avail:
            fit = max(1, int(0.7 * avail / pss_each))
            print("NOTE: %d idle guests at %.1f MiB each (PSS of (a)'s clones) need %.1f GiB; "
                  "MemAvailable is %.1f GiB: this machine cannot, measuring %d instead"
                  % (idle, pss_each / 1024.0, need / 1048576.0, avail / 1048576.0, fit),
                  flush=True)
            idle = fit
        js["idle_measured"] = idle
        print("(d) %d idle instances..." % idle, flush=True)
        idle_up, _, _ = pool.converge(idle)
        time.sleep(2.0)  # the follow-up of the last clones (consoles, activity sampling)
        rss = BC.proc_kib("/proc/%d/status" % n.d.proc.pid, "VmRSS")
        whole, rec, per, names = idle_cpu(n.d.proc.pid, a.idle_seconds)
        avail_idle = meminfo_kib("MemAvailable")
        print("    back to 0...", flush=True)
        idle_down, _, _ = pool.converge(0)
        js.update(idle_up_s=idle_up, idle_down_s=idle_down, idle_cpu_pct=whole,
                  idle_reconcile_cpu_pct=rec, mvmd_rss_kib=rss,
                  mem_available_idle_kib=avail_idle, mem_available_before_kib=avail0)
    except (BenchError, BC.BenchError) as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        if n:
            try:
                Pool(n).set_desired(0)
                n.close()
            except Exception as e:  # mvmd gone (a ^C reaches it too): its close kills the rest
                print("(mvmd did not answer at the end: %s)" % str(e).splitlines()[0])
                n.d.close()
        shutil.rmtree(work, ignore_errors=True)

    print("\nguest %d MiB (nothing touched), one clone's PSS %.1f MiB; mvmd defaults "
          "(--reconcile-interval-ms 1000, --activity-interval-ms 5000)"
          % (MEM_MIB, js["clone_pss_kib"] / 1024.0))
    print("  medians of %d rounds; per round: fork %s clones/s, converge %s clones/s"
          % (js["rounds"], " ".join("%.1f" % x for x in js["fork_clones_per_s_rounds"]),
             " ".join("%.1f" % x for x in js["up_clones_per_s_rounds"])))
    print("  (a) ForkInstances(%d):            %8.0f ms = %6.1f clones/s"
          % (a.forks, js["fork_ms"], js["fork_clones_per_s"]))
    print("  (b) 0 -> %d managed, last RUNNING: %8.0f ms = %6.1f clones/s = %.2fx (a) "
          "(target >= 0.8); status CONVERGED seen after %.0f ms"
          % (a.instances, js["up_last_running_s"] * 1000, js["up_clones_per_s"],
             js["up_ratio"], js["up_seen_s"] * 1000))
    print("  (c) %d -> 0:                       %8.0f ms" % (a.instances, js["down_s"] * 1000))
    print("  (d) 0 -> %d: %.1f s; %d -> 0: %.1f s; with %d idle RUNNING, over %.0f s:"
          % (js["idle_measured"], js["idle_up_s"], js["idle_measured"], js["idle_down_s"],
             js["idle_measured"], a.idle_seconds))
    print("      mvmd %.3f%% of one CPU; its %s thread %s (target < 1%%); mvmd RSS %.1f MiB; "
          "MemAvailable %.1f -> %.1f GiB" % (
              js["idle_cpu_pct"], RECONCILE_THREAD,
              "%.3f%%" % js["idle_reconcile_cpu_pct"]
              if js["idle_reconcile_cpu_pct"] is not None else "NOT FOUND",
              js["mvmd_rss_kib"] / 1024.0, js["mem_available_before_kib"] / 1048576.0,
              js["mem_available_idle_kib"] / 1048576.0))
    print("      busiest threads: " + ", ".join("%s/%d %.3f%%" % x for x in per[:5]))
    if a.json:
        print(json.dumps(js))
    sane = (js["fork_clones_per_s"] > 0 and js["up_last_running_s"] > 0 and
            js["up_seen_s"] > 0 and js["down_s"] > 0 and js["idle_up_s"] > 0 and
            js["idle_down_s"] > 0 and js["idle_cpu_pct"] >= 0 and js["clone_pss_kib"] > 0)
    if js["idle_reconcile_cpu_pct"] is None:
        print("FAIL: mvmd has no thread named %s (its threads: %s)"
              % (RECONCILE_THREAD, ", ".join(names)))
        return 1
    if not sane:
        print("FAIL: a figure is missing or not positive (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
