#!/usr/bin/python3
"""bench_clone.py - waking and cloning microVMs through mvmd, against the same
Firecracker restoring the same snapshot files driven by a plain script, and
the host memory clones cost; for both memory backends (FILE, UFFD), in one run
on a real Firecracker. Prints figures; asserts nothing about speed.

    bench_clone.py --build BUILD [--firecracker FC] [--kernel GUEST]
                   [--touch-mib 16] [--rounds 10] [--clones 10]
                   [--backends file,uffd] [--json]

One mvmd, one tenant, one pool of the test guest (128 MiB, the smallest a
pool allows) booting with mvm.touch_mib=N (it fills N MiB at start and reads
them back after every tick), whose base snapshot is built with ready_pattern
"^tick 2$" (the guest has touched its memory and read it back once). The pool's
memory_backend is switched between the backends (UpdatePool does not rebuild
the base for that), so both restore the very same snapshot.

  one guest  the template booted as an ordinary instance (cold_boot), past
             "touched" and two ticks: its PSS (/proc/PID/smaps_rollup).
Per backend:
  clone      --rounds times: CreateInstance of a clone, timed from the call
             to its return and to the clone's first console tick (a
             StreamConsole follower opened as soon as the id is known: the
             tick comes about a second after the restore, the remainder of
             the period the template was paused in); against raw: a fresh
             Firecracker process in a fresh directory (a copy of the base's
             disk), spawn -> API socket -> PUT /snapshot/load (File backend,
             resume_vm) of the base's vm.state / vm.mem copied aside, timed
             from the spawn to the load's answer and to the first tick on
             its standard output. The two alternate, the first one changing
             every round.
  wake       one clone slept and woken once (warm-up: with UFFD the wake then
             records the working set the next one prefetches), then
             --rounds times: SleepInstance; its snapshot's files copied aside
             (and synced); WakeInstance (call to return, and to tick N+1 on a
             follower opened before the call, N the last tick before the
             sleep) against raw restores of the copy (spawn to the load's
             answer, and to its first tick), alternating as above; the guest
             is left to its tick N+2 (the read-back done) before it sleeps
             again.
  fork       ForkInstances clones=--clones: the call's wall time -> clones/s;
             each clone past two ticks (their read-back done), then the sum
             of their PSS, and what mvmd's own PSS grew by (UFFD: the page
             server's mapping of the memory file).
  sequential --clones CreateInstance calls one after the other: wall time ->
             clones/s.

Raw restores use the File backend (Firecracker maps the memory file itself):
that is what a plain script can do; UFFD through mvmd is compared with it too,
so its row shows what the page server costs on top. mvmd's overhead on the
call is (mvmd p50 - raw p50); targets (issue 7): wake overhead <= 3 ms, clone
p50 <= 2x raw load, 10 clones <= 1.5x the memory of one.

The first touch of guest memory is slow on this machine's software hypervisor
(about 2 MiB/s): the template's boot takes N/2 s; keep N small. Exit status:
0; 1 if a figure came out empty or non-positive (the script is broken, not
slow); 77 (SKIP) without a Firecracker or the test guest.
"""
import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "tests", "integration"), os.path.join(REPO, "tests", "guest"),
                os.path.join(REPO, "tests", "unit"), os.path.join(REPO, "clients", "python")]

MEM_MIB = 128         # the smallest a pool allows
WAIT = 120.0          # hang guard for any one wait (not a timing assertion)
BOOT_ARGS = "console=ttyS0 reboot=k panic=1"
READY_PATTERN = "^tick 2$"
TICK = r"^tick (\d+)\r?\n"
SETTLE_MS = 3000      # mvmd's page server records a working set this long (vmm_uffd.c)


class BenchError(RuntimeError):
    pass


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


def proc_kib(path, field):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    return proc_kib("/proc/%d/smaps_rollup" % pid, "Pss")


def copy_synced(src, dst):
    """A copy of src at dst (holes kept as holes where the kernel copies
    ranges), on disk before the timed part starts."""
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ws_pages(path):
    """Pages in a working-set file (service/vmm/vmm_uffd_ws.c), or 0."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return 0
    return int.from_bytes(head[24:32], "little") if head[:8] == b"MVMUFWS1" else 0


class Follower:
    """A StreamConsole follower of one instance; keeps the text and when each
    chunk arrived, so a line's arrival time can be looked up."""

    def __init__(self, c, I, tenant, iid):
        self.iid = iid
        self.stream = c.instances.StreamConsole(
            I.StreamConsoleRequest(tenant=tenant, id=iid, follow=True), timeout=WAIT * 2)
        self.text = ""
        self.ends = []  # [(end offset in text, monotonic time)]
        self.done = False
        self.error = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ch in self.stream:
                now = time.monotonic()
                with self.cond:
                    self.text += ch.data.decode("utf-8", "replace")
                    self.ends.append((len(self.text), now))
                    self.cond.notify_all()
        except Exception as e:  # cancelled, or the deadline
            self.error = e
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def wait(self, pattern, count=1):
        """The arrival time of the chunk that completed the count-th match
        of pattern (multi-line regex), and that match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + WAIT
        with self.cond:
            while True:
                found = list(rx.finditer(self.text))
                if len(found) >= count:
                    m = found[count - 1]
                    for end, t in self.ends:
                        if end >= m.end():
                            return t, m
                left = deadline - time.monotonic()
                if self.done or left <= 0:
                    raise BenchError("console of %s never showed %r x%d (%s); it ends:\n%s"
                                     % (self.iid, pattern, count, self.error, self.text[-800:]))
                self.cond.wait(left)

    def close(self):
        self.stream.cancel()
        self.thread.join(5)


class Raw:
    """The baseline: a plain script restoring snapshot files with Firecracker,
    File backend, or Uffd served by mvm's page server through
    BUILD/tests/vmm_uffd_tool (the same code as mvmd's, behind a line
    protocol; started at its first use)."""

    def __init__(self, a, work):
        self.fc_bin, self.work, self.n = a.firecracker, work, 0
        self.tool_bin = os.path.join(a.build, "tests", "vmm_uffd_tool")
        self.tool = None

    def close(self):
        if self.tool:
            self.tool.close()

    def restore(self, state, mem, disk, ws=None, uffd=False):
        """Spawn, API socket, (Uffd: a page server session on mem, given the
        working set ws,) PUT /snapshot/load with resume, in a fresh directory
        holding a copy of disk; returns (load ms, first tick ms, that tick),
        both from the spawn."""
        from fc_direct import Firecracker
        from uffd_tool import UffdTool, load_uffd
        if uffd and not self.tool:
            self.tool = UffdTool(self.tool_bin, settle_ms=SETTLE_MS)
        self.n += 1
        name = "raw-%d" % self.n
        d = os.path.join(self.work, name)
        os.makedirs(d)
        shutil.copyfile(disk, os.path.join(d, "rootfs.ext4"))
        fc = Firecracker(self.fc_bin, workdir=d, vm_id=name, api_timeout=WAIT)
        served = False
        try:
            t0 = time.monotonic()
            fc.spawn()
            if uffd:
                sock = os.path.join(d, "uffd.sock")
                self.tool.serve(name, sock, mem, ws)
                served = True
                load_uffd(fc, state, sock)
            else:
                fc.snapshot_load(state, mem, resume=True)
            t1 = time.monotonic()
            _, t2, line = fc.console.wait_for(r"^tick \d+$", WAIT)
        finally:
            fc.close()
            if served:
                self.tool.wait(name, "ended", 30000)
                self.tool.free(name)
            shutil.rmtree(d, ignore_errors=True)
        return (t1 - t0) * 1000, (t2 - t0) * 1000, int(line.split()[1])


class Node:
    """mvmd, its client, the tenant and the pool."""

    def __init__(self, a, work):
        from harness import Mvmd
        from mvmclient import Client, pb, unix_channel
        self.a = a
        self.I, self.T, self.P = pb.instance, pb.tenant, pb.pool
        self.d = Mvmd(a.build, metrics=False, extra_args=[
            "--firecracker", a.firecracker, "--capacity-vcpus", "64",
            "--stop-grace-seconds", "1", "--janitor-interval-ms", "500"])
        self.d.start()
        self.c = Client(unix_channel(self.d.unix_path))
        self.rootfs = os.path.join(work, "rootfs.ext4")
        with open(self.rootfs, "wb") as f:
            f.truncate(1 << 20)
        self.boot_args = BOOT_ARGS + (" mvm.touch_mib=%d" % a.touch_mib if a.touch_mib else "")
        self.c.tenants.CreateTenant(self.T.CreateTenantRequest(tenant=self.T.Tenant(
            name="bench", net_id=1, subnet="10.240.1.0/24")))
        self.c.pools.CreatePool(self.P.CreatePoolRequest(pool=self.P.Pool(
            tenant="bench", name="guest", vcpus=1, mem_mib=MEM_MIB, kernel_image=a.kernel,
            rootfs_image=self.rootfs, boot_args=self.boot_args, ready_pattern=READY_PATTERN,
            ready_timeout_seconds=600)))

    def close(self):
        try:
            for i in self.c.instances.ListInstances(self.I.ListInstancesRequest(
                    tenant="bench")).instances:
                self.delete(i.id)
            self.c.close()
            self.d.stop()
        finally:
            if os.environ.get("BENCH_LOG"):
                print(self.d.log_tail(1 << 22))
            self.d.close()  # kills whatever is left

    # -- calls ------------------------------------------------------------
    def follow(self, iid):
        return Follower(self.c, self.I, "bench", iid)

    def set_backend(self, name):
        from google.protobuf import field_mask_pb2
        self.c.pools.UpdatePool(self.P.UpdatePoolRequest(
            pool=self.P.Pool(tenant="bench", name="guest",
                             memory_backend=self.P.MemoryBackend.Value(
                                 "MEMORY_BACKEND_" + name.upper())),
            update_mask=field_mask_pb2.FieldMask(paths=["memory_backend"])))

    def build_base(self):
        """Builds the pool's base snapshot; returns (its directory, the
        template's boot-to-ready ms)."""
        self.c.pools.BuildBaseSnapshot(self.P.BuildBaseSnapshotRequest(tenant="bench",
                                                                       name="guest"))
        deadline = time.monotonic() + 900
        while True:
            p = self.c.pools.GetPool(self.P.GetPoolRequest(tenant="bench", name="guest"))
            st = self.P.BaseSnapshotState.Name(p.base_snapshot.state)
            if st == "BASE_SNAPSHOT_STATE_READY":
                break
            if st == "BASE_SNAPSHOT_STATE_FAILED":
                raise BenchError("the base snapshot build failed: " + p.base_snapshot.message)
            if time.monotonic() > deadline:
                raise BenchError("base snapshot still %s" % st)
            time.sleep(0.1)
        sid = p.base_snapshot.snapshot_id
        s = self.c.pools.GetSnapshot(self.P.GetSnapshotRequest(tenant="bench", id=sid))
        return os.path.join(self.d.state_dir, "snapshots", sid), s.ready_ms

    def create(self, **kw):
        return self.c.instances.CreateInstance(self.I.CreateInstanceRequest(
            tenant="bench", pool="guest", **kw), timeout=WAIT)

    def delete(self, iid):
        self.c.instances.DeleteInstance(self.I.DeleteInstanceRequest(tenant="bench", id=iid),
                                        timeout=WAIT)

    def console(self, iid, tail=4096):
        out = b""
        for ch in self.c.instances.StreamConsole(self.I.StreamConsoleRequest(
                tenant="bench", id=iid, tail_bytes=tail), timeout=WAIT):
            out += ch.data
        return out.decode("utf-8", "replace")

    def last_tick(self, iid):
        ticks = re.findall(TICK, self.console(iid), re.M)
        if not ticks:
            raise BenchError("no tick on the console of %s" % iid)
        return int(ticks[-1])

    def wait_ticks(self, iid, count):
        """Waits until iid's console has count ticks in all."""
        f = self.follow(iid)
        try:
            f.wait(TICK, count)
        finally:
            f.close()

    def mvmd_pss(self):
        return pss_kib(self.d.proc.pid)


def rotate(r, ways):
    """Runs each of ways once, starting with a different one every round."""
    k = r % len(ways)
    for way in ways[k:] + ways[:k]:
        way()


def settle(since, backend):
    """With UFFD: waits until the page server has stopped recording the
    working set of the restore made at since (see the README: a snapshot
    written while it records puts every page of guest memory into it)."""
    if backend == "uffd":
        left = since + SETTLE_MS / 1000.0 + 0.3 - time.monotonic()
        if left > 0:
            time.sleep(left)


def one_guest(n):
    """The template booted as an ordinary instance: its PSS once it touched
    its memory and read it back (two ticks)."""
    inst = n.create(cold_boot=True)
    f = n.follow(inst.id)
    try:
        n.c.instances.StartInstance(n.I.StartInstanceRequest(tenant="bench", id=inst.id),
                                    timeout=WAIT)
        if n.a.touch_mib:
            f.wait(r"^mvm-test-guest: touched \d+ MiB")
        f.wait(TICK, 2)
        pid = n.c.instances.GetInstance(n.I.GetInstanceRequest(tenant="bench",
                                                               id=inst.id)).pid
        time.sleep(0.3)  # the read-back after tick 2
        return pss_kib(pid)
    finally:
        f.close()
        n.delete(inst.id)


def clone_latency(n, raw, base, backend, rounds):
    """CreateInstance of a clone vs raw restores of the base's files."""
    files = os.path.join(raw.work, "base-files")
    shutil.rmtree(files, ignore_errors=True)
    os.makedirs(files)
    for name in ("vm.state", "vm.mem", "rootfs.ext4"):
        copy_synced(os.path.join(base, name), os.path.join(files, name))
    state, mem, disk, ws = (os.path.join(files, x) for x in
                            ("vm.state", "vm.mem", "rootfs.ext4", "vm.ws"))
    # warm-up, unmeasured: with UFFD it records the base's working set
    w = n.create()
    n.wait_ticks(w.id, 2)
    n.delete(w.id)
    if os.path.exists(os.path.join(base, "vm.ws")):
        shutil.copyfile(os.path.join(base, "vm.ws"), ws)
    out = {k: [] for k in ("call", "tick", "raw_load", "raw_tick", "rawu_load", "rawu_tick")}

    def via_mvmd():
        t0 = time.monotonic()
        inst = n.create()
        t1 = time.monotonic()
        if n.I.InstanceState.Name(inst.state) != "INSTANCE_STATE_RUNNING":
            raise BenchError("clone %s is %s" % (inst.id, inst.state))
        f = n.follow(inst.id)
        try:
            t2, _ = f.wait(TICK)
        finally:
            f.close()
        n.delete(inst.id)
        out["call"].append((t1 - t0) * 1000)
        out["tick"].append((t2 - t0) * 1000)

    def via_raw(uffd):
        load, tick, _ = raw.restore(state, mem, disk, ws if uffd else None, uffd)
        key = "rawu" if uffd else "raw"
        out[key + "_load"].append(load)
        out[key + "_tick"].append(tick)

    ways = [via_mvmd, lambda: via_raw(False)]
    if backend == "uffd":
        ways.append(lambda: via_raw(True))
    for r in range(rounds):
        rotate(r, ways)
    return out


def wake_latency(n, raw, backend, rounds):
    """WakeInstance of a slept clone vs raw restores of its snapshot's files."""
    inst = n.create()
    made = time.monotonic()
    iid = inst.id
    idir = os.path.join(n.d.state_dir, "instances", iid)
    keys = ("call", "tick", "raw_load", "raw_tick", "rawu_load", "rawu_tick", "sleep",
            "ws_pages")
    out = {k: [] for k in keys}
    try:
        n.wait_ticks(iid, 2)
        settle(made, backend)
        for r in range(-1, rounds):  # -1: the warm-up
            t0 = time.monotonic()
            slept = n.c.instances.SleepInstance(n.I.SleepInstanceRequest(tenant="bench", id=iid),
                                                timeout=WAIT)
            sleep_ms = (time.monotonic() - t0) * 1000
            last = n.last_tick(iid)
            sdir = os.path.join(idir, "snapshots", slept.snapshot.id)
            files = os.path.join(raw.work, "sleep-files")
            shutil.rmtree(files, ignore_errors=True)
            os.makedirs(files)
            for name in ("vm.state", "vm.mem"):
                copy_synced(os.path.join(sdir, name), os.path.join(files, name))
            copy_synced(os.path.join(idir, "rootfs.ext4"), os.path.join(files, "rootfs.ext4"))
            ws = os.path.join(files, "vm.ws")
            if os.path.exists(os.path.join(sdir, "vm.ws")):
                shutil.copyfile(os.path.join(sdir, "vm.ws"), ws)
            got = {"sleep": sleep_ms, "ws_pages": ws_pages(ws)}

            def via_mvmd():
                f = n.follow(iid)
                try:
                    f.wait(r"^tick %d\r?\n" % last)  # the backlog is in
                    t0 = time.monotonic()
                    woke = n.c.instances.WakeInstance(n.I.WakeInstanceRequest(
                        tenant="bench", id=iid), timeout=WAIT)
                    t1 = time.monotonic()
                    got["woke_at"] = t0
                    t2, _ = f.wait(r"^tick %d\r?\n" % (last + 1))
                finally:
                    f.close()
                if n.I.InstanceState.Name(woke.state) != "INSTANCE_STATE_RUNNING":
                    raise BenchError("woken %s is %s" % (iid, woke.state))
                got["call"], got["tick"] = (t1 - t0) * 1000, (t2 - t0) * 1000

            def via_raw(uffd):
                load, tick, first = raw.restore(
                    *(os.path.join(files, x) for x in ("vm.state", "vm.mem", "rootfs.ext4")),
                    ws=ws if uffd else None, uffd=uffd)
                if first != last + 1:
                    raise BenchError("the raw restore's first tick is %d, not %d"
                                     % (first, last + 1))
                key = "rawu" if uffd else "raw"
                got[key + "_load"], got[key + "_tick"] = load, tick

            ways = [via_mvmd, lambda: via_raw(False)]
            if backend == "uffd":
                ways.append(lambda: via_raw(True))
            rotate(r, ways)
            f = n.follow(iid)
            try:
                f.wait(r"^tick %d\r?\n" % (last + 2))  # its read-back is done
            finally:
                f.close()
            settle(got.pop("woke_at"), backend)
            if r < 0:
                continue
            for k, v in got.items():
                out[k].append(v)
    finally:
        n.delete(iid)
    return out


def many(n, count):
    """ForkInstances of count and count sequential CreateInstance: wall
    times; the fork's clones past two ticks: their summed PSS, mvmd's
    growth."""
    out = {}
    mvmd_before = n.mvmd_pss()
    t0 = time.monotonic()
    r = n.c.instances.ForkInstances(n.I.ForkInstancesRequest(tenant="bench", pool="guest",
                                                             clones=count), timeout=WAIT * 4)
    out["fork_ms"] = (time.monotonic() - t0) * 1000
    bad = [x.message for x in r.results if x.code != 0]
    ids = [x.instance.id for x in r.results if x.code == 0]
    try:
        if bad or len(ids) != count:
            raise BenchError("ForkInstances: %d of %d made: %s" % (len(ids), count, bad))
        for iid in ids:
            n.wait_ticks(iid, 2)
        time.sleep(0.3)  # the last one's read-back after its second tick
        pids = [n.c.instances.GetInstance(n.I.GetInstanceRequest(tenant="bench", id=i)).pid
                for i in ids]
        out["pss_each_kib"] = [pss_kib(p) for p in pids]
        out["pss_sum_kib"] = sum(out["pss_each_kib"])
        out["mvmd_growth_kib"] = n.mvmd_pss() - mvmd_before
    finally:
        for iid in ids:
            n.delete(iid)
    t0 = time.monotonic()
    ids = []
    try:
        for _ in range(count):
            ids.append(n.create().id)
        out["sequential_ms"] = (time.monotonic() - t0) * 1000
    finally:
        for iid in ids:
            n.delete(iid)
    return out


def summarize(a, one, base_ready_ms, results):
    """Prints the per-backend figures and the summary; returns the JSON
    summary and whether every figure is sane (present and positive)."""
    sane = one > 0
    js = {"touch_mib": a.touch_mib, "mem_mib": MEM_MIB, "rounds": a.rounds,
          "clones": a.clones, "one_guest_pss_kib": one, "base_ready_ms": base_ready_ms,
          "backends": {}}
    print("\none guest (cold boot, %d MiB touched): PSS %.1f MiB; base template ready in %.1f s"
          % (a.touch_mib, one / 1024.0, base_ready_ms / 1000.0))
    for b, res in results.items():
        cl, wk, mn = res["clone"], res["wake"], res["many"]
        # the raw baseline of the same backend: File, or Uffd through vmm_uffd_tool
        same = "rawu" if b == "uffd" else "raw"
        j = {}
        print("\n[%s]  (ms; raw: a plain script, spawn -> load answered / -> tick)" % b.upper())
        print("  %-36s %9s %9s" % ("", "p50", "p90"))
        rows = [("wake: WakeInstance call", "wake_call", wk["call"]),
                ("wake: raw File load", "wake_raw_load", wk["raw_load"]),
                ("wake: raw Uffd load (prefetch)", "wake_rawu_load", wk["rawu_load"]),
                ("wake: WakeInstance to tick N+1", "wake_tick", wk["tick"]),
                ("wake: raw File to tick N+1", "wake_raw_tick", wk["raw_tick"]),
                ("wake: raw Uffd to tick N+1", "wake_rawu_tick", wk["rawu_tick"]),
                ("clone: CreateInstance call", "clone_call", cl["call"]),
                ("clone: raw File load", "clone_raw_load", cl["raw_load"]),
                ("clone: raw Uffd load (prefetch)", "clone_rawu_load", cl["rawu_load"]),
                ("clone: CreateInstance to 1st tick", "clone_tick", cl["tick"]),
                ("clone: raw File to 1st tick", "clone_raw_tick", cl["raw_tick"]),
                ("clone: raw Uffd to 1st tick", "clone_rawu_tick", cl["rawu_tick"]),
                ("(SleepInstance call)", "sleep_call", wk["sleep"])]
        for name, key, v in rows:
            if not v and "rawu" in key and b != "uffd":
                continue
            sane = sane and len(v) == a.rounds and min(v) > 0
            if v:
                print("  %-36s %9.2f %9.2f" % (name, pct(v, 50), pct(v, 90)))
                j[key] = {"p50": pct(v, 50), "p90": pct(v, 90), "all": [round(x, 3) for x in v]}
        if not sane:
            continue
        p50 = lambda key: j[key]["p50"]
        over = p50("wake_call") - p50("wake_%s_load" % same)
        over_t = p50("wake_tick") - p50("wake_%s_tick" % same)
        ratio = p50("clone_call") / p50("clone_%s_load" % same)
        print("  wake overhead over the raw %s load (p50): call %+.2f ms, to tick %+.2f ms "
              "(target <= 3 ms)" % ("Uffd" if b == "uffd" else "File", over, over_t))
        if b == "uffd":
            print("  ... over the raw File load: call %+.2f ms, to tick %+.2f ms"
                  % (p50("wake_call") - p50("wake_raw_load"),
                     p50("wake_tick") - p50("wake_raw_tick")))
        print("  clone p50 / raw %s load p50: %.2fx (target <= 2x)%s" % (
            "Uffd" if b == "uffd" else "File", ratio,
            "; / raw File load: %.2fx" % (p50("clone_call") / p50("clone_raw_load"))
            if b == "uffd" else ""))
        if b == "uffd":
            w = pct(wk["ws_pages"], 50)
            print("  working set each wake prefetched: %d pages = %.1f MiB (p50)%s"
                  % (w, w * 4 / 1024.0, "  <- ALL of guest memory" if
                     w >= MEM_MIB * 256 else ""))
        per_s = lambda ms: a.clones / (ms / 1000.0)
        one_x = mn["pss_sum_kib"] / float(one)
        print("  ForkInstances(%d): %.0f ms = %.1f clones/s; %d sequential CreateInstance: "
              "%.0f ms = %.1f clones/s" % (a.clones, mn["fork_ms"], per_s(mn["fork_ms"]),
                                          a.clones, mn["sequential_ms"],
                                          per_s(mn["sequential_ms"])))
        print("  %d clones, each past two ticks: PSS sum %.1f MiB = %.2fx one guest "
              "(target <= 1.5x); mvmd grew %+.1f MiB" % (a.clones, mn["pss_sum_kib"] / 1024.0,
                                                          one_x, mn["mvmd_growth_kib"] / 1024.0))
        sane = sane and mn["fork_ms"] > 0 and mn["sequential_ms"] > 0 and min(
            mn["pss_each_kib"]) > 0
        j.update({"wake_overhead_ms": over, "wake_tick_overhead_ms": over_t,
                  "clone_ratio": ratio, "ws_pages_p50": pct(wk["ws_pages"], 50),
                  "fork_ms": mn["fork_ms"], "fork_clones_per_s": per_s(mn["fork_ms"]),
                  "sequential_ms": mn["sequential_ms"],
                  "sequential_clones_per_s": per_s(mn["sequential_ms"]),
                  "pss_sum_kib": mn["pss_sum_kib"], "pss_x_one": one_x,
                  "mvmd_growth_kib": mn["mvmd_growth_kib"]})
        js["backends"][b] = j
    if not sane:
        return js, False

    print("\nsummary (p50 ms; %d rounds; %d clones; guest %d MiB, %d MiB touched; raw = the "
          "same backend)" % (a.rounds, a.clones, MEM_MIB, a.touch_mib))
    print("  %-7s %7s %7s %8s %9s %8s %7s %7s %6s %7s %7s %7s" % (
        "backend", "wake", "raw", "overhd", "wake>tick", "raw>tick", "clone", "raw", "x raw",
        "fork/s", "seq/s", "PSS x1"))
    for b, j in js["backends"].items():
        same = "rawu" if b == "uffd" else "raw"
        print("  %-7s %7.2f %7.2f %+8.2f %9.1f %8.1f %7.2f %7.2f %6.2f %7.1f %7.1f %7.2f" % (
            b, j["wake_call"]["p50"], j["wake_%s_load" % same]["p50"], j["wake_overhead_ms"],
            j["wake_tick"]["p50"], j["wake_%s_tick" % same]["p50"], j["clone_call"]["p50"],
            j["clone_%s_load" % same]["p50"], j["clone_ratio"], j["fork_clones_per_s"],
            j["sequential_clones_per_s"], j["pss_x_one"]))
    bk = js["backends"]
    if len(bk) > 1:
        # the call is what a client waits for; to the tick, each backend's wakes
        # restore different snapshots (another phase of the guest's timer), so
        # they compare through the raw File restore of the same files
        best = min(bk, key=lambda b: bk[b]["wake_call"]["p50"])
        other = [b for b in bk if b != best][0]
        late = lambda b: bk[b]["wake_tick"]["p50"] - bk[b]["wake_raw_tick"]["p50"]
        print("  better for wake latency: %s (WakeInstance call p50 %.2f vs %.2f ms; next tick "
              "%+.1f vs %+.1f ms after a raw File restore's)" % (
                  best.upper(), bk[best]["wake_call"]["p50"], bk[other]["wake_call"]["p50"],
                  late(best), late(other)))
        mem = min(bk, key=lambda b: bk[b]["pss_x_one"])
        print("  better for memory: %s (%.2fx one guest)" % (mem.upper(), bk[mem]["pss_x_one"]))
        js["better_wake"], js["better_memory"] = best, mem
    return js, True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--firecracker", default=os.environ.get("MVM_TEST_FIRECRACKER"))
    ap.add_argument("--kernel", help="the test guest (default BUILD/tests/guest/mvm-test-guest)")
    ap.add_argument("--touch-mib", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clones", type=int, default=10)
    ap.add_argument("--backends", default="file,uffd")
    ap.add_argument("--json", action="store_true", help="also print a JSON summary")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.kernel = os.path.abspath(a.kernel or os.path.join(a.build, "tests", "guest",
                                                        "mvm-test-guest"))
    if not a.firecracker or not os.path.exists(a.kernel):
        print("SKIP: bench_clone needs a Firecracker (--firecracker or MVM_TEST_FIRECRACKER) "
              "and the test guest (%s)" % a.kernel)
        return 77
    backends = [b.strip().lower() for b in a.backends.split(",") if b.strip()]
    if not backends or any(b not in ("file", "uffd") for b in backends) or a.rounds < 1 or \
            a.clones < 1:
        ap.error("--backends takes file and/or uffd; --rounds and --clones at least 1")
    os.environ.setdefault("MVM_PY_GEN", os.path.join(a.build, "clients", "python", "gen"))

    def on_signal(signum, frame):  # run the finally blocks: no microVM left behind
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    work = tempfile.mkdtemp(prefix="bench-clone-")
    n = raw = None
    try:
        print("bench_clone: %s on %s; guest %d MiB, %d MiB touched; %d rounds, %d clones; "
              "backends %s" % (a.kernel, a.firecracker, MEM_MIB, a.touch_mib, a.rounds,
                               a.clones, ",".join(backends)), flush=True)
        n = Node(a, work)
        raw = Raw(a, work)
        one = one_guest(n)
        base, ready_ms = n.build_base()
        results = {}
        for b in backends:
            print("[%s] clones..." % b, flush=True)
            n.set_backend(b)
            res = {"clone": clone_latency(n, raw, base, b, a.rounds)}
            print("[%s] sleep and wake..." % b, flush=True)
            res["wake"] = wake_latency(n, raw, b, a.rounds)
            print("[%s] %d at once..." % (b, a.clones), flush=True)
            res["many"] = many(n, a.clones)
            results[b] = res
        js, sane = summarize(a, one, ready_ms, results)
        if a.json:
            print(json.dumps(js))
    finally:
        if raw:
            raw.close()
        if n:
            n.close()
        shutil.rmtree(work, ignore_errors=True)
    if not sane:
        print("FAIL: a figure is missing or not positive (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
