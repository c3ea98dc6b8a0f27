#!/usr/bin/python3
"""clones_test.py - pools' base snapshots, clones, forks, lineage, TTLs and
collection, through a real mvmd; with lifecycle_test.py's options and
harness (one suite, run against the Firecracker simulator and against the
real binary booting the test guest).

usage: clones_test.py --build BUILD --mode sim|real [-v] [TestName ...]
  --linux-kernel VMLINUX (real mode, with --linux-only) runs the Linux case:
  a base snapshot of the Linux test guest (its one boot), clones of it that
  continue its userspace, and a sleep and wake of one.

Covers: BuildBaseSnapshot (BUILDING -> READY, the Snapshot record, the
template's directory and process gone), CreateInstance cloning the base
(RUNNING at once, the guest's tick counter continuing from the template's,
each clone with its own disk and process, MMDS identity), cold_boot,
ForkInstances of the base and of a running instance (the source goes on;
the fork snapshot retired and then collected), a replaced base collected
once its last clone is gone, a rebuild on an image change, base and
sleeping-instance TTLs, a failing build (FAILED with the reason and the
console tail), a damaged base refused, DeleteBaseSnapshot, GetDiskUsage,
clones sleeping and waking, and mvmd SIGKILLed at each step of a build, a
clone and a fork, then restarted (consistent, nothing leaked).
"""
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lifecycle_test as L  # noqa: E402

READY_PATTERN = r"^tick 3$"  # the template is snapshotted at its third tick


def mask(*paths):
    from google.protobuf import field_mask_pb2
    return field_mask_pb2.FieldMask(paths=list(paths))


def node():
    if L.NODE is None:
        L.NODE = L.Node()
    return L.NODE


def state_name(inst):
    return L.I.InstanceState.Name(inst.state)


def base_state(pool):
    return L.P.BaseSnapshotState.Name(pool.base_snapshot.state)


def get_pool(n, t):
    return n.c.pools.GetPool(L.P.GetPoolRequest(tenant=t, name="web"))


def wait_base(n, t, want="BASE_SNAPSHOT_STATE_READY", old_id=None, wait=None):
    """Waits for the pool's base snapshot to reach want (and, with old_id, to
    be another snapshot than old_id); returns the pool."""
    deadline = time.monotonic() + (wait or L.WAIT)
    while True:
        p = get_pool(n, t)
        st = base_state(p)
        if st == want and (old_id is None or p.base_snapshot.snapshot_id != old_id):
            return p
        if st == "BASE_SNAPSHOT_STATE_FAILED" and want != st:
            raise AssertionError("the build failed: " + p.base_snapshot.message)
        if time.monotonic() > deadline:
            raise AssertionError("base snapshot still %s (want %s): %s" % (st, want, p))
        time.sleep(0.05)


def build(n, t):
    p = n.c.pools.BuildBaseSnapshot(L.P.BuildBaseSnapshotRequest(tenant=t, name="web"))
    return p


def snapshot(n, t, sid):
    return n.c.pools.GetSnapshot(L.P.GetSnapshotRequest(tenant=t, id=sid))


def snapshots_dir(n):
    return os.path.join(n.d.state_dir, "snapshots")


def snapshot_ids(n):
    try:
        return sorted(os.listdir(snapshots_dir(n)))
    except FileNotFoundError:
        return []


def collected(n, t, sid):
    """True once the janitor is done with snapshot sid: it removes the files
    first, then the record, so both must be gone."""
    if sid in snapshot_ids(n):
        return False
    try:
        snapshot(n, t, sid)
        return False
    except Exception as e:  # grpc.RpcError
        if not hasattr(e, "code") or e.code() != L.C.NOT_FOUND:
            raise
        return True


def first_tick(text):
    t = L.ticks(text)
    return t[0] if t else None


def based_pool(n, **kw):
    """A tenant with pool "web" whose base snapshot is READY; returns
    (tenant, pool, snapshot)."""
    kw.setdefault("ready_pattern", READY_PATTERN)
    t = n.tenant_pool(**kw)
    p = build(n, t)
    assert base_state(p) == "BASE_SNAPSHOT_STATE_BUILDING", p
    p = wait_base(n, t)
    return t, p, snapshot(n, t, p.base_snapshot.snapshot_id)


class Clones(unittest.TestCase):
    """Cases sharing one mvmd."""

    @classmethod
    def setUpClass(cls):
        cls.n = node()

    def test_build_and_clone(self):
        n = self.n
        before_dirs = n.dirs()
        t, p, s = based_pool(n)
        self.assertRegex(s.id, r"^s-[0-9a-f]{16}$")
        self.assertEqual(L.P.SnapshotKind.Name(s.kind), "SNAPSHOT_KIND_BASE")
        self.assertEqual(L.P.SnapshotState.Name(s.state), "SNAPSHOT_STATE_READY")
        self.assertEqual((s.vcpus, s.mem_mib), (1, 128))
        self.assertEqual(s.kernel_image, n.kernel)
        self.assertEqual(s.mem_bytes, 128 << 20)
        self.assertEqual(s.disk_bytes, os.path.getsize(n.rootfs))
        self.assertEqual(len(s.state_sha256), 64)
        self.assertRegex(s.snapshot_version, r"^v\d+\.\d+\.\d+$")
        self.assertGreater(s.allocated_bytes, 0)
        self.assertEqual(s.clones, 0)
        self.assertEqual(p.base_snapshot.build_id, "")
        self.assertFalse(p.base_snapshot.HasField("expire_time"), "no TTL set")
        sdir = os.path.join(snapshots_dir(n), s.id)
        self.assertEqual(sorted(os.listdir(sdir)), ["rootfs.ext4", "vm.mem", "vm.state"])
        self.assertEqual(n.dirs(), before_dirs, "the template's directory is gone")

        clones = [n.create(t, n=str(k)) for k in range(2)]
        disks = set()
        for c in clones:
            self.assertEqual(state_name(c), "INSTANCE_STATE_RUNNING", c)
            self.assertEqual(c.base_snapshot_id, s.id)
            self.assertEqual(c.process.memory_snapshot_id, s.id)
            self.assertEqual(L.P.MemoryBackend.Name(c.process.memory_backend),
                             "MEMORY_BACKEND_FILE")
            self.assertFalse(c.HasField("operation"))
            self.assertTrue(L.pid_alive(c.pid))
            text = n.wait_console(t, c.id, r"tick \d+", count=2)
            self.assertNotIn("mvm-test-guest: started", text, "restored, not booted")
            self.assertGreaterEqual(first_tick(text), 4, "continues from the template's tick 3")
            disk = os.path.join(n.instances_dir, c.id, "rootfs.ext4")
            disks.add(os.stat(disk).st_ino)
            got = n.get(t, c.id)
            self.assertGreater(got.disk_bytes, 0)
        self.assertEqual(len(disks), 2, "each clone has its own disk")
        self.assertNotEqual(clones[0].pid, clones[1].pid)
        self.assertNotEqual(clones[0].ip, clones[1].ip)
        self.assertEqual(snapshot(n, t, s.id).clones, 2)
        # cold_boot: from the images, as before
        cold = n.c.instances.CreateInstance(L.I.CreateInstanceRequest(tenant=t, pool="web",
                                                                      cold_boot=True))
        self.assertEqual(state_name(cold), "INSTANCE_STATE_CREATED")
        self.assertEqual(cold.base_snapshot_id, "")
        for c in clones + [cold]:
            n.delete(t, c.id)

    def test_clone_sleeps_and_wakes(self):
        n = self.n
        t, p, s = based_pool(n)
        c = n.create(t)
        n.wait_console(t, c.id, r"tick \d+")
        slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=c.id),
                                            timeout=L.WAIT)
        self.assertEqual(slept.snapshot.parent_id, s.id, "lineage: the base it came from")
        last = L.ticks(n.console(t, c.id))[-1]
        woke = n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=c.id),
                                          timeout=L.WAIT)
        self.assertEqual(woke.process.memory_snapshot_id, slept.snapshot.id)
        n.wait_console(t, c.id, r"tick %d\b" % (last + 1))
        self.assertEqual(snapshot(n, t, s.id).clones, 0, "its memory is its own now")
        n.delete(t, c.id)

    def test_fork_of_base(self):
        n = self.n
        t, p, s = based_pool(n)
        r = n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t, pool="web", clones=3,
                                                                 labels={"batch": "1"}),
                                        timeout=L.WAIT)
        self.assertEqual(r.snapshot_id, s.id)
        self.assertEqual(len(r.results), 3)
        ids = set()
        for res in r.results:
            self.assertEqual(res.code, 0, res.message)
            self.assertEqual(state_name(res.instance), "INSTANCE_STATE_RUNNING")
            self.assertEqual(dict(res.instance.labels), {"batch": "1"})
            ids.add(res.instance.id)
        self.assertEqual(len(ids), 3)
        for iid in ids:
            n.delete(t, iid)

    def test_fork_partial_failure(self):
        n = self.n
        t, p, s = based_pool(n)
        n.c.tenants.UpdateTenant(L.T.UpdateTenantRequest(
            tenant=L.T.Tenant(name=t, quota=L.T.TenantQuota(max_instances=2)),
            update_mask=mask("quota.max_instances")))
        r = n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t, pool="web", clones=3),
                                        timeout=L.WAIT)
        codes = [res.code for res in r.results]
        self.assertEqual(codes[:2], [0, 0])
        self.assertEqual(codes[2], L.C.RESOURCE_EXHAUSTED.value[0], r.results[2].message)
        self.assertIn("max_instances", r.results[2].message)
        self.assertFalse(r.results[2].HasField("instance"))
        for res in r.results[:2]:
            n.delete(t, res.instance.id)
        with self.assertRaises(Exception) as e:  # a bad request fails as a whole
            n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t, pool="web", clones=0))
        self.assertEqual(e.exception.code(), L.C.INVALID_ARGUMENT)
        with self.assertRaises(Exception) as e:
            n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t, pool="web", clones=65))
        self.assertEqual(e.exception.code(), L.C.INVALID_ARGUMENT)
        t2 = n.tenant_pool()
        with self.assertRaises(Exception) as e:  # no base to clone
            n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t2, pool="web", clones=1))
        self.assertEqual(e.exception.code(), L.C.FAILED_PRECONDITION)
        self.assertIn("BuildBaseSnapshot", e.exception.details())

    def test_fork_of_running_instance(self):
        n = self.n
        t = n.tenant_pool()
        src = n.create(t)
        n.start(t, src.id)
        n.wait_console(t, src.id, r"tick 2\b")
        r = n.c.instances.ForkInstances(L.I.ForkInstancesRequest(
            tenant=t, source_instance=src.id, clones=2), timeout=L.WAIT)
        fid = r.snapshot_id
        self.assertEqual([x.code for x in r.results], [0, 0], [x.message for x in r.results])
        f = snapshot(n, t, fid)
        self.assertEqual(L.P.SnapshotKind.Name(f.kind), "SNAPSHOT_KIND_FORK")
        self.assertEqual(L.P.SnapshotState.Name(f.state), "SNAPSHOT_STATE_RETIRED",
                         "no more clones of a fork snapshot")
        self.assertEqual(f.source_instance, src.id)
        self.assertEqual(f.parent_id, "", "the source booted from the images")
        at_fork = L.ticks(n.console(t, src.id))[-1]
        got = n.get(t, src.id)
        self.assertEqual(state_name(got), "INSTANCE_STATE_RUNNING", "the source goes on")
        self.assertFalse(got.HasField("operation"))
        n.wait_console(t, src.id, r"tick %d\b" % (at_fork + 1))
        for res in r.results:
            text = n.wait_console(t, res.instance.id, r"tick \d+")
            self.assertNotIn("mvm-test-guest: started", text)
            self.assertGreaterEqual(first_tick(text), 3)
        self.assertIn(fid, snapshot_ids(n), "kept while its clones map it")
        for res in r.results:
            n.delete(t, res.instance.id)
        L.wait_for(lambda: collected(n, t, fid), "the fork snapshot to be collected")
        with self.assertRaises(Exception) as e:
            snapshot(n, t, fid)
        self.assertEqual(e.exception.code(), L.C.NOT_FOUND)
        # a stopped instance cannot be forked
        n.stop(t, src.id)
        with self.assertRaises(Exception) as e:
            n.c.instances.ForkInstances(L.I.ForkInstancesRequest(
                tenant=t, source_instance=src.id, clones=1), timeout=L.WAIT)
        self.assertEqual(e.exception.code(), L.C.FAILED_PRECONDITION)
        self.assertIn("STOPPED", e.exception.details())
        n.delete(t, src.id)

    def test_replaced_base_collected_when_unused(self):
        n = self.n
        t, p, a = based_pool(n)
        clone = n.create(t)
        p2 = build(n, t)
        self.assertEqual(p2.base_snapshot.snapshot_id, a.id, "clones use A while B builds")
        p2 = wait_base(n, t, old_id=a.id)
        b = p2.base_snapshot.snapshot_id
        old = snapshot(n, t, a.id)
        self.assertEqual(L.P.SnapshotState.Name(old.state), "SNAPSHOT_STATE_RETIRED")
        self.assertIn(b, old.retire_reason)
        self.assertEqual(old.clones, 1)
        time.sleep(0.5)  # a few janitor rounds: A is still mapped
        self.assertIn(a.id, snapshot_ids(n))
        c2 = n.create(t)
        self.assertEqual(c2.base_snapshot_id, b)
        n.delete(t, clone.id)
        L.wait_for(lambda: collected(n, t, a.id), "the replaced base to be collected")
        self.assertIn(b, snapshot_ids(n))
        listed = n.c.pools.ListSnapshots(L.P.ListSnapshotsRequest(tenant=t)).snapshots
        self.assertEqual([x.id for x in listed], [b])
        n.delete(t, c2.id)

    def test_image_change_rebuilds(self):
        n = self.n
        t, p, a = based_pool(n)
        up = n.c.pools.UpdatePool(L.P.UpdatePoolRequest(
            pool=L.P.Pool(tenant=t, name="web", boot_args="console=ttyS0 mvm.v=2"),
            update_mask=mask("boot_args")))
        self.assertEqual(base_state(up), "BASE_SNAPSHOT_STATE_BUILDING")
        self.assertEqual(up.base_snapshot.snapshot_id, "", "the old base no longer fits")
        fresh = wait_base(n, t, old_id=a.id)
        b = snapshot(n, t, fresh.base_snapshot.snapshot_id)
        self.assertEqual(b.boot_args, "console=ttyS0 mvm.v=2")
        self.assertIn("images changed", snapshot(n, t, a.id).retire_reason
                      if a.id in snapshot_ids(n) else "images changed")
        L.wait_for(lambda: collected(n, t, a.id), "the unused old base to be collected")
        c = n.create(t)
        text = n.wait_console(t, c.id, r"tick \d+")
        self.assertNotIn("mvm-test-guest: started", text)
        # a label change does not rebuild
        same = n.c.pools.UpdatePool(L.P.UpdatePoolRequest(
            pool=L.P.Pool(tenant=t, name="web", labels={"k": "v"})))
        self.assertEqual(base_state(same), "BASE_SNAPSHOT_STATE_READY")
        self.assertEqual(same.base_snapshot.snapshot_id, b.id)
        n.delete(t, c.id)

    def test_ttls(self):
        n = self.n
        t, p, a = based_pool(n, base_snapshot_ttl_seconds=1)
        self.assertTrue(p.base_snapshot.HasField("expire_time"))
        expired = wait_base(n, t, want="BASE_SNAPSHOT_STATE_NONE")
        self.assertIn("expired", expired.base_snapshot.message)
        L.wait_for(lambda: collected(n, t, a.id), "the expired base to be collected")
        cold = n.create(t)
        self.assertEqual(state_name(cold), "INSTANCE_STATE_CREATED", "boots from the images")
        # a sleeping instance with a TTL
        n.start(t, cold.id)
        n.wait_console(t, cold.id, r"tick 1\b")
        slept = n.c.instances.SleepInstance(
            L.I.SleepInstanceRequest(tenant=t, id=cold.id, ttl_seconds=1), timeout=L.WAIT)
        self.assertTrue(slept.snapshot.HasField("expire_time"))

        def gone():
            try:
                n.get(t, cold.id)
                return False
            except Exception as e:
                return e.code() == L.C.NOT_FOUND
        L.wait_for(gone, "the sleeping instance to expire")
        self.assertFalse(os.path.exists(os.path.join(n.instances_dir, cold.id)))

    def test_failed_build(self):
        n = self.n
        t = n.tenant_pool(ready_pattern="^never printed$", ready_timeout_seconds=1)
        procs = set(n.procs())
        build(n, t)
        p = wait_base(n, t, want="BASE_SNAPSHOT_STATE_FAILED")
        msg = p.base_snapshot.message
        self.assertIn("ready_pattern", msg)
        self.assertIn("mvm-test-guest", msg, "the template's console tail: " + msg)
        self.assertEqual(p.base_snapshot.snapshot_id, "")
        self.assertEqual(p.base_snapshot.build_id, "")
        L.wait_for(lambda: set(n.procs()) <= procs, "the template's process to end")
        self.assertEqual(state_name(n.create(t)), "INSTANCE_STATE_CREATED")
        for bad in ("(", "a{2,1}"):
            with self.assertRaises(Exception) as e:
                n.c.pools.UpdatePool(L.P.UpdatePoolRequest(
                    pool=L.P.Pool(tenant=t, name="web", ready_pattern=bad),
                    update_mask=mask("ready_pattern")))
            self.assertEqual(e.exception.code(), L.C.INVALID_ARGUMENT)
            self.assertIn("ready_pattern", e.exception.details())
        with self.assertRaises(Exception) as e:
            n.c.pools.BuildBaseSnapshot(L.P.BuildBaseSnapshotRequest(tenant=t, name="nope"))
        self.assertEqual(e.exception.code(), L.C.NOT_FOUND)

    def test_damaged_base_refused(self):
        n = self.n
        t, p, s = based_pool(n)
        state = os.path.join(snapshots_dir(n), s.id, "vm.state")
        good = L.read_file(state)
        with open(state, "r+b") as f:
            f.seek(len(good) // 2)
            f.write(bytes([good[len(good) // 2] ^ 0xFF]))
        before = n.c.instances.ListInstances(L.I.ListInstancesRequest(tenant=t)).instances
        dirs = n.dirs()
        with self.assertRaises(Exception) as e:
            n.create(t)
        self.assertEqual(e.exception.code(), L.C.FAILED_PRECONDITION, e.exception.details())
        self.assertIn("damaged", e.exception.details())
        self.assertIn("cold_boot", e.exception.details())
        after = n.c.instances.ListInstances(L.I.ListInstancesRequest(tenant=t)).instances
        self.assertEqual(len(after), len(before), "no record left")
        self.assertEqual(n.dirs(), dirs, "no directory left")
        with open(state, "wb") as f:
            f.write(good)
        n.delete(t, n.create(t).id)

    def test_delete_base(self):
        n = self.n
        t, p, s = based_pool(n)
        c = n.create(t)
        p = n.c.pools.DeleteBaseSnapshot(L.P.DeleteBaseSnapshotRequest(tenant=t, name="web"))
        self.assertEqual(base_state(p), "BASE_SNAPSHOT_STATE_NONE")
        self.assertEqual(p.base_snapshot.snapshot_id, "")
        self.assertEqual(state_name(n.create(t)), "INSTANCE_STATE_CREATED")
        self.assertEqual(state_name(n.get(t, c.id)), "INSTANCE_STATE_RUNNING", "clones go on")
        n.delete(t, c.id)
        L.wait_for(lambda: collected(n, t, s.id), "the deleted base to be collected")

    def test_uffd_backend(self):
        n = self.n
        uffd = L.P.MemoryBackend.Value("MEMORY_BACKEND_UFFD")
        t, p, s = based_pool(n, memory_backend=uffd)
        c = n.create(t)
        self.assertEqual(c.process.memory_backend, uffd)
        text = n.wait_console(t, c.id, r"tick \d+", count=2)
        self.assertNotIn("mvm-test-guest: started", text)
        self.assertGreaterEqual(first_tick(text), 4)
        slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=c.id),
                                            timeout=L.WAIT)
        if L.ARGS.mode == "real":  # the page server wrote what the clone touched first
            self.assertTrue(os.path.exists(os.path.join(snapshots_dir(n), s.id, "vm.ws")))
        last = L.ticks(n.console(t, c.id))[-1]
        woke = n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=c.id),
                                          timeout=L.WAIT)
        self.assertEqual(woke.process.memory_backend, uffd)
        self.assertEqual(woke.process.memory_snapshot_id, slept.snapshot.id)
        text = n.wait_console(t, c.id, r"tick %d\b" % (last + 1))
        self.assertEqual(text.count("mvm-test-guest: started"), 0)
        self.assertFalse(os.path.exists(os.path.join(n.instances_dir, c.id, "uffd.sock")),
                         "the socket goes once the process has connected")
        n.delete(t, c.id)

    def test_disk_usage(self):
        n = self.n
        t, p, s = based_pool(n)
        c = n.create(t)
        info = n.c.node.GetInfo(L.N.GetInfoRequest())
        self.assertIn(info.disk_copy_method, ("reflink", "sparse copy"))
        self.assertEqual(info.memory_backend, "FILE")
        u = n.c.node.GetDiskUsage(L.N.GetDiskUsageRequest(tenant=t))
        self.assertEqual(u.disk_copy_method, info.disk_copy_method)
        self.assertEqual([(x.tenant, x.pool) for x in u.pools], [(t, "web")])
        pu = u.pools[0]
        self.assertEqual(pu.snapshots, 1)
        self.assertEqual(pu.instances, 1)
        self.assertGreater(pu.snapshot_bytes, 0)
        self.assertGreater(pu.instance_disk_bytes, 0)
        self.assertEqual(len(u.tenants), 1)
        tu = u.tenants[0]
        self.assertEqual(tu.total_bytes,
                         pu.snapshot_bytes + pu.instance_snapshot_bytes + pu.instance_disk_bytes)
        self.assertEqual(u.total_bytes, tu.total_bytes)
        slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=c.id),
                                            timeout=L.WAIT)
        self.assertTrue(slept.snapshot.id)
        u2 = n.c.node.GetDiskUsage(L.N.GetDiskUsageRequest(tenant=t))
        self.assertGreater(u2.pools[0].instance_snapshot_bytes, 0, "the sleeper's snapshot")
        with self.assertRaises(Exception) as e:
            n.c.node.GetDiskUsage(L.N.GetDiskUsageRequest(tenant="Bad!"))
        self.assertEqual(e.exception.code(), L.C.INVALID_ARGUMENT)
        n.delete(t, c.id)


class CloneCrashPoints(L.CrashHarness):
    """mvmd SIGKILLed at each step of a build, a clone and a fork."""

    def assert_no_strays(self, t):
        n = self.n
        want = set()
        for i in n.c.instances.ListInstances(L.I.ListInstancesRequest()).instances:
            want.add(i.id)
        self.assertEqual(set(n.dirs()), want, "only instances have directories")
        recorded = {s.id for s in n.c.pools.ListSnapshots(L.P.ListSnapshotsRequest()).snapshots}
        self.assertEqual(set(snapshot_ids(n)), recorded, "only recorded snapshots have files")

    def test_clone_points(self):
        n = self.n
        t, p, s = based_pool(n)
        for point in ("clone.recorded", "clone.loaded"):
            self.crash(point, lambda t, _: n.create(t), t, None)
            got = n.c.instances.ListInstances(L.I.ListInstancesRequest(tenant=t)).instances
            self.assertEqual(list(got), [], "an unfinished clone never was (%s)" % point)
            self.assert_clean(t, {})
            self.assert_no_strays(t)
        c = n.create(t)
        self.assertEqual(state_name(c), "INSTANCE_STATE_RUNNING")
        n.delete(t, c.id)

    def test_fork_points(self):
        n = self.n
        t = n.tenant_pool()
        src = n.create(t)
        n.start(t, src.id)
        n.wait_console(t, src.id, r"tick 1\b")
        for point in ("fork.intent", "fork.sealed"):
            self.crash(point, lambda t, i: n.c.instances.ForkInstances(
                L.I.ForkInstancesRequest(tenant=t, source_instance=i, clones=1), timeout=L.WAIT),
                t, src.id)
            self.assert_clean(t, {src.id: "RUNNING"})
            self.assert_no_strays(t)
            last = L.ticks(n.console(t, src.id))[-1]
            n.wait_console(t, src.id, r"tick %d\b" % (last + 1))  # it goes on
        n.delete(t, src.id)

    def test_build_points(self):
        n = self.n
        for point in ("base.booted", "base.written", "base.sealed"):
            t = n.tenant_pool(ready_pattern=READY_PATTERN)
            self.crash(point, lambda t, _: (build(n, t), wait_base(n, t)), t, None)
            # the build starts again after the restart (or is recorded, if sealed)
            p = wait_base(n, t)
            self.assertEqual(snapshot(n, t, p.base_snapshot.snapshot_id).kind,
                             L.P.SnapshotKind.Value("SNAPSHOT_KIND_BASE"))
            self.assert_clean(t, {})
            self.assert_no_strays(t)
            c = n.create(t)
            self.assertEqual(state_name(c), "INSTANCE_STATE_RUNNING", point)
            n.delete(t, c.id)


    def test_uffd_instances_at_restart(self):
        n = self.n
        uffd = L.P.MemoryBackend.Value("MEMORY_BACKEND_UFFD")
        t, p, s = based_pool(n, memory_backend=uffd)
        clone = n.create(t)
        woken = n.create(t)
        n.wait_console(t, woken.id, r"tick \d+")
        slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=woken.id),
                                            timeout=L.WAIT)
        n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=woken.id),
                                   timeout=L.WAIT)
        n.restart(kill=True)  # the page server dies with mvmd
        got = n.get(t, clone.id)
        self.assertEqual(state_name(got), "INSTANCE_STATE_FAILED")
        self.assertIn("page server", got.last_error)
        got = n.get(t, woken.id)
        self.assertEqual(state_name(got), "INSTANCE_STATE_SLEEPING", got.last_error)
        self.assertEqual(got.snapshot.id, slept.snapshot.id)
        self.assertIn("put back to sleep", got.last_error)
        self.assert_clean(t, {clone.id: "FAILED", woken.id: "SLEEPING"})
        last = L.ticks(n.console(t, woken.id))[-1]
        n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=woken.id),
                                   timeout=L.WAIT)
        n.wait_console(t, woken.id, r"tick %d\b" % (last + 1))
        for i in (clone, woken):
            n.delete(t, i.id)


class LinuxClones(unittest.TestCase):
    """The Linux test kernel, booted once as a pool's template: clones of its
    base snapshot continue its userspace, and one sleeps and wakes."""

    def test_linux_clones(self):
        if not L.ARGS.linux_only:
            self.skipTest("run on its own with --linux-only (ctest: clones_linux)")
        if L.ARGS.mode != "real" or not L.ARGS.linux_kernel:
            self.skipTest("SKIP: needs --mode real and --linux-kernel ($MVM_TEST_LINUX_KERNEL)")
        sys.path.insert(0, os.path.join(L.REPO, "tests", "guest", "linux"))
        import build_initramfs
        cache = os.path.abspath(L.ARGS.linux_cache or
                                os.path.join(L.ARGS.build, "tests", "guest", "linux"))
        os.makedirs(cache, exist_ok=True)
        initrd = build_initramfs.build(os.path.join(cache, "initramfs-lifecycle.cpio"), cache)
        n = node()
        args_file = os.path.join(os.path.dirname(L.ARGS.linux_kernel), "boot-args")
        boot_args = (L.read_file(args_file).decode().strip() if os.path.exists(args_file)
                     else "console=ttyS0")
        t = n.tenant_pool(kernel_image=L.ARGS.linux_kernel, initrd_image=initrd,
                          boot_args=boot_args, ready_pattern=r"mvm-linux-guest: tick 1$",
                          ready_timeout_seconds=300)
        # This kernel on this hypervisor now and then hangs for good early in
        # its boot (tests/guest/README.md): one more build, said loudly.
        for attempt in (1, 2):
            build(n, t)
            try:
                p = wait_base(n, t, wait=330)
                break
            except AssertionError as e:
                if attempt == 2:
                    raise
                print("RETRY: the Linux template did not become ready (%s); building once "
                      "more" % str(e).splitlines()[0][:300], flush=True)
        s = snapshot(n, t, p.base_snapshot.snapshot_id)
        print("linux base snapshot %s: template ready in %d ms" % (s.id, s.ready_ms), flush=True)
        saved, L.WAIT = L.WAIT, 120
        try:
            clones = [n.create(t) for _ in range(2)]
            for c in clones:
                self.assertEqual(state_name(c), "INSTANCE_STATE_RUNNING")
                text = n.wait_console(t, c.id, r"mvm-linux-guest: tick 2\b")
                self.assertNotIn("Linux version", text, "userspace continued, no boot")
                self.assertNotIn("userspace up", text)
            c = clones[0]
            slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=c.id),
                                                timeout=L.WAIT)
            self.assertEqual(slept.snapshot.parent_id, s.id)
            text = n.console(t, c.id)
            last = int(re.findall(r"mvm-linux-guest: tick (\d+)", text)[-1])
            n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=c.id),
                                       timeout=L.WAIT)
            n.wait_console(t, c.id, r"mvm-linux-guest: tick %d\b" % (last + 1))
            for c in clones:
                n.delete(t, c.id)
        finally:
            L.WAIT = saved


def main():
    rest, status = L.setup("clones")
    if status is not None:
        return status
    if L.ARGS.linux_only:
        if not L.ARGS.linux_kernel:
            print("SKIP: clones_linux: set MVM_TEST_LINUX_KERNEL to the Linux test kernel "
                  "(and MVM_TEST_FIRECRACKER); not run", flush=True)
            return 77
        rest = rest + ["LinuxClones"]
    return L.run(rest)


if __name__ == "__main__":
    sys.exit(main())
