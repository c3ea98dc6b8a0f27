#!/usr/bin/python3
"""reconcile_test.py - the reconcile loop, the sleep policy and
NodeService.Apply / GetStatus / WatchStatus, through a real mvmd; with
lifecycle_test.py's options and harness (one suite, run against the
Firecracker simulator and against the real binary booting the test guest).

usage: reconcile_test.py --build BUILD --mode sim|real [-v] [TestName ...]

mvmd runs with short --reconcile-interval-ms and --activity-interval-ms;
every wait is for a state (L.wait_for, a hang guard), never a timing
assertion.

Covers: a pool's desired_instances made (cold boots without a base
snapshot, clones of a READY one; Instance.managed) and removed (sleeping
before running, newest first), callers' instances (CreateInstance,
ForkInstances) never counted nor removed nor started, a failed managed
instance replaced, a stopped one started again, desired_warm (a sleeping
spare woken and paused first, then a running one paused), the sleep policy
(RUNNING -> WARM -> SLEEPING for managed and unmanaged instances, spares
kept WARM, a wake counting as activity, last_activity_time), backoff (a
kernel image removed; in sim mode a Firecracker error) and recovery,
Pool.status counts, Apply (created/updated/unchanged, fields, generations,
invalid requests changing nothing, dry_run, prune with deleting and
un-deleting, the order of removal), GetStatus and WatchStatus (an
intermediate PROGRESSING, then CONVERGED; cancel), and mvmd SIGKILLed while
the loop makes clones, cold boots or removes instances, then restarted:
exactly desired_instances, no stray process or directory.
"""
import os
import signal
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lifecycle_test as L  # noqa: E402
import clones_test as CL  # noqa: E402

# mvmd's reconcile timer and activity sampling, short for the tests.
FLAGS = ["--reconcile-interval-ms", "200", "--activity-interval-ms", "200"]
WAIT = 60  # hang guard for any one wait (backoff waits double: 1, 2, 4 s ...)


def reconcile_node(env=None):
    """A fresh mvmd (L.Node) restarted with FLAGS, and env for mvmd."""
    n = L.Node(env=env)
    n.d.extra_args += FLAGS
    n.restart(env=env)
    return n


def shared():
    if L.NODE is None:
        L.NODE = reconcile_node()
    return L.NODE


# -- reading ---------------------------------------------------------------
def ts(t):
    return t.seconds + t.nanos / 1e9


def sname(inst):
    return L.I.InstanceState.Name(inst.state)[len("INSTANCE_STATE_"):]


def rstate(status):
    return L.P.ReconcileState.Name(status.state)[len("RECONCILE_STATE_"):]


def action(change):
    return L.N.ApplyAction.Name(change.action)[len("APPLY_ACTION_"):]


def get_pool(n, t, name="web"):
    return n.c.pools.GetPool(L.P.GetPoolRequest(tenant=t, name=name))


def pages(call, request, field, **kw):
    """Every item of a List call, all pages (request: its request type)."""
    out, token = [], ""
    while True:
        r = call(request(page_size=1000, page_token=token, **kw))
        out += list(getattr(r, field))
        token = r.next_page_token
        if not token:
            return out


def instances(n, t=None, pool=None):
    """Every instance (of tenant t, of pool)."""
    return pages(n.c.instances.ListInstances, L.I.ListInstancesRequest, "instances",
                 tenant=t or "", pool=pool or "")


def managed(n, t, pool="web"):
    return [i for i in instances(n, t, pool) if i.managed]


def all_pools(n):
    return pages(n.c.pools.ListPools, L.P.ListPoolsRequest, "pools")


def all_tenants(n):
    return pages(n.c.tenants.ListTenants, L.T.ListTenantsRequest, "tenants")


def versions(n):
    """Every tenant's and pool's resource_version: equal before and after a
    call that must change nothing."""
    return ({t.name: t.resource_version for t in all_tenants(n)},
            {(p.tenant, p.name): p.resource_version for p in all_pools(n)})


def code_of(call):
    """The gRPC code call() fails with, or None."""
    try:
        call()
    except Exception as e:  # grpc.RpcError
        if not hasattr(e, "code"):
            raise
        return e.code()
    return None


def gone(call):
    return code_of(call) == L.C.NOT_FOUND


# -- changing --------------------------------------------------------------
def update_pool(n, t, name="web", **fields):
    """UpdatePool of exactly the named fields (sleep_policy as a dict)."""
    if "sleep_policy" in fields and isinstance(fields["sleep_policy"], dict):
        fields["sleep_policy"] = L.P.SleepPolicy(**fields["sleep_policy"])
    return n.c.pools.UpdatePool(L.P.UpdatePoolRequest(
        pool=L.P.Pool(tenant=t, name=name, **fields), update_mask=CL.mask(*fields)))


def policy(warm, sleep):
    return L.P.SleepPolicy(warm_after_idle_seconds=warm, sleep_after_warm_seconds=sleep)


# -- waiting ---------------------------------------------------------------
def wait_pool(n, t, pred, what, name="web"):
    """Waits until pred(pool) holds; returns the pool. Fails with the last
    status seen."""
    last = [None]

    def check():
        p = get_pool(n, t, name)
        last[0] = p
        return p if pred(p) else None
    try:
        return L.wait_for(check, what)
    except AssertionError as e:
        raise AssertionError("%s; the pool's last status:\n%s" % (e, last[0].status
                                                                  if last[0] else None))


def converged(n, t, count, name="web", **counts):
    """Waits until the pool is CONVERGED with count managed instances (and
    the given status counts); returns the pool."""
    def ok(p):
        s = p.status
        return (rstate(s) == "CONVERGED" and s.instances == count and
                all(getattr(s, k) == v for k, v in counts.items()))
    return wait_pool(n, t, ok, "%s/%s CONVERGED with %d managed %s" % (t, name, count, counts),
                     name)


def wait_managed(n, t, pred, what, pool="web"):
    """Waits until pred(managed instances) holds; returns them."""
    last = [[]]

    def check():
        ms = managed(n, t, pool)
        last[0] = ms
        return (ms,) if pred(ms) else None  # truthy when ms is empty too
    try:
        return L.wait_for(check, what)[0]
    except AssertionError as e:
        raise AssertionError("%s; managed: %s" % (e, [(i.id, sname(i)) for i in last[0]]))


def all_in(state, count):
    return lambda ms: len(ms) == count and all(sname(i) == state for i in ms)


def settle(n, t, name="web"):
    """Waits until the reconcile loop has looked at the pool again, well
    after now (its status.observe_time): what it would do about the
    current state it has begun."""
    since = time.time() + 0.5
    wait_pool(n, t, lambda p: ts(p.status.observe_time) > since,
              "the reconcile loop to look at %s/%s again" % (t, name), name)


def wait_state(n, t, iid, state):
    try:
        return L.wait_for(lambda: (lambda g: g if sname(g) == state else None)(n.get(t, iid)),
                          "%s to be %s" % (iid, state))
    except AssertionError as e:
        raise AssertionError("%s; it is %s (%s); the pool's instances: %s; its status: %s" % (
            e, sname(n.get(t, iid)), n.get(t, iid).last_error,
            [(i.id, sname(i), i.managed) for i in instances(n, t)], get_pool(n, t).status))


def no_strays(tc, n):
    """Only instances have directories; only instances with a process
    (RUNNING, WARM) have one; no snapshot files without a record."""
    insts = instances(n)
    tc.assertEqual(sorted(n.dirs()), sorted(i.id for i in insts), "stray instance directory")
    want = set(i.pid for i in insts if sname(i) in ("RUNNING", "WARM"))
    L.wait_for(lambda: set(p for p in n.procs() if L.pid_alive(p)) == want,
               "only the instances' processes (have %s, want %s)" % (n.procs(), want))
    recorded = {s.id for s in n.c.pools.ListSnapshots(L.P.ListSnapshotsRequest()).snapshots}
    tc.assertTrue(set(CL.snapshot_ids(n)) <= recorded, "snapshot files without a record")


def oldest_first(insts):
    return sorted(insts, key=lambda i: ts(i.create_time))


class Reconcile(unittest.TestCase):
    """The loop on one pool at a time, sharing one mvmd."""

    @classmethod
    def setUpClass(cls):
        cls.n = shared()

    def scale_to_zero(self, t):
        update_pool(self.n, t, desired_instances=0, desired_warm=0)
        wait_managed(self.n, t, lambda ms: not ms, "the managed instances to go")

    def test_01_cold_boots_and_scale_down(self):
        n = self.n
        t = n.tenant_pool(desired_instances=2)
        ms = wait_managed(n, t, all_in("RUNNING", 2), "2 managed RUNNING")
        for i in ms:
            self.assertTrue(i.managed)
            self.assertEqual(i.pool, "web")
            self.assertEqual(i.base_snapshot_id, "", "no base: a cold boot")
            text = n.wait_console(t, i.id, r"tick \d+")
            self.assertIn("mvm-test-guest: started", text, "booted from the images")
        p = converged(n, t, 2)
        s = p.status
        self.assertEqual((s.running, s.warm, s.sleeping, s.stopped, s.failed, s.pending,
                          s.unmanaged), (2, 0, 0, 0, 0, 0, 0), s)
        self.assertEqual(s.message, "")
        self.assertEqual(s.failures, 0)
        self.assertTrue(s.HasField("observe_time"))
        listed = [x for x in n.c.pools.ListPools(L.P.ListPoolsRequest(tenant=t)).pools]
        self.assertEqual(rstate(listed[0].status), "CONVERGED", "ListPools carries status too")
        self.assertEqual(listed[0].status.instances, 2)

        # a caller's instance: not managed, not counted, never started or removed
        u = n.create(t)
        self.assertFalse(u.managed)
        settle(n, t)
        self.assertEqual(get_pool(n, t).status.unmanaged, 1)
        self.assertEqual(sorted(i.id for i in managed(n, t)), sorted(i.id for i in ms),
                         "the same 2 managed instances: the caller's is not counted")
        self.assertEqual(sname(n.get(t, u.id)), "CREATED", "the loop does not start it")
        n.start(t, u.id)
        n.stop(t, u.id)
        settle(n, t)
        self.assertEqual(sname(n.get(t, u.id)), "STOPPED",
                         "the loop starts again only the STOPPED instances it made")

        update_pool(n, t, desired_instances=0)
        wait_managed(n, t, lambda ms: not ms, "the managed instances to go")
        p = converged(n, t, 0, unmanaged=1)
        self.assertEqual(sname(n.get(t, u.id)), "STOPPED", "scale-down leaves it alone")
        for i in ms:
            self.assertTrue(gone(lambda: n.get(t, i.id)))
            self.assertFalse(os.path.exists(os.path.join(n.instances_dir, i.id)))
        n.delete(t, u.id)
        no_strays(self, n)

    def test_02_clones_of_the_base_and_forks(self):
        n = self.n
        t, p, s = CL.based_pool(n)
        update_pool(n, t, desired_instances=3)
        ms = wait_managed(n, t, all_in("RUNNING", 3), "3 managed clones RUNNING")
        for i in ms:
            self.assertEqual(i.base_snapshot_id, s.id, "a clone of the READY base")
            text = n.wait_console(t, i.id, r"tick \d+")
            self.assertNotIn("mvm-test-guest: started", text, "restored, not booted")
        self.assertEqual(CL.snapshot(n, t, s.id).clones, 3)
        r = n.c.instances.ForkInstances(L.I.ForkInstancesRequest(tenant=t, pool="web",
                                                                 clones=2), timeout=L.WAIT)
        self.assertEqual([x.code for x in r.results], [0, 0], [x.message for x in r.results])
        forks = [x.instance for x in r.results]
        for f in forks:
            self.assertFalse(f.managed, "ForkInstances makes the caller's instances")
        settle(n, t)
        self.assertEqual(sorted(i.id for i in managed(n, t)), sorted(i.id for i in ms),
                         "forks are not counted: no managed instance removed or added")
        st = converged(n, t, 3, running=3, unmanaged=2).status
        self.assertEqual(st.pending, 0)
        self.scale_to_zero(t)
        for f in forks:
            self.assertEqual(sname(n.get(t, f.id)), "RUNNING", "forks stay")
        converged(n, t, 0, unmanaged=2)
        for f in forks:
            n.delete(t, f.id)
        no_strays(self, n)

    def test_03_removal_order(self):
        """Sleeping before running, whatever their age; among running ones
        the newest first."""
        n = self.n
        t = n.tenant_pool(desired_instances=4)
        ms = oldest_first(wait_managed(n, t, all_in("RUNNING", 4), "4 managed RUNNING"))
        self.assertEqual(len(set(ts(i.create_time) for i in ms)), 4, "distinct create times")
        a, b, c, d = ms
        slept = n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=a.id),
                                            timeout=L.WAIT)
        self.assertEqual(sname(slept), "SLEEPING")
        converged(n, t, 4, running=3, sleeping=1)
        update_pool(n, t, desired_instances=3)
        left = wait_managed(n, t, lambda ms: len(ms) == 3, "one managed instance removed")
        self.assertEqual(sorted(i.id for i in left), sorted([b.id, c.id, d.id]),
                         "the SLEEPING one (the oldest) went first")
        update_pool(n, t, desired_instances=2)
        left = wait_managed(n, t, lambda ms: len(ms) == 2, "one more removed")
        self.assertEqual(sorted(i.id for i in left), sorted([b.id, c.id]),
                         "then the newest RUNNING one")
        update_pool(n, t, desired_instances=1)
        left = wait_managed(n, t, lambda ms: len(ms) == 1, "one more removed")
        self.assertEqual([i.id for i in left], [b.id])
        converged(n, t, 1, running=1)
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_04_failed_replaced_stopped_started(self):
        n = self.n
        t = n.tenant_pool(desired_instances=2)
        x, y = wait_managed(n, t, all_in("RUNNING", 2), "2 managed RUNNING")
        os.kill(x.pid, signal.SIGKILL)
        L.wait_for(lambda: gone(lambda: n.get(t, x.id)), "the FAILED instance to be deleted")
        ms = wait_managed(n, t, all_in("RUNNING", 2), "a replacement RUNNING")
        ids = sorted(i.id for i in ms)
        self.assertIn(y.id, ids)
        self.assertNotIn(x.id, ids)
        self.assertFalse(os.path.exists(os.path.join(n.instances_dir, x.id)))
        stopped = n.stop(t, y.id)
        self.assertEqual(sname(stopped), "STOPPED")
        again = wait_state(n, t, y.id, "RUNNING")
        self.assertNotEqual(again.pid, y.pid, "a new process")
        n.wait_console(t, y.id, r"mvm-test-guest: started", count=2)  # booted again
        self.assertEqual(sorted(i.id for i in managed(n, t)), ids, "the same instance, started")
        converged(n, t, 2, running=2, stopped=0, failed=0)
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_05_desired_warm(self):
        n = self.n
        t = n.tenant_pool(desired_instances=3)
        a, b, c = oldest_first(wait_managed(n, t, all_in("RUNNING", 3), "3 managed RUNNING"))
        n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=a.id), timeout=L.WAIT)
        converged(n, t, 3, running=2, sleeping=1)
        # a sleeping one is woken and paused first
        update_pool(n, t, desired_warm=1)
        spare = wait_state(n, t, a.id, "WARM")
        self.assertTrue(L.pid_alive(spare.pid), "a WARM instance has its process")
        for i in (b, c):
            got = n.get(t, i.id)
            self.assertEqual((sname(got), got.pid), ("RUNNING", i.pid),
                             "the sleeping one was chosen, not a running one")
        converged(n, t, 3, running=2, warm=1, sleeping=0)
        # none sleeping: a running one is paused
        update_pool(n, t, desired_warm=2)
        converged(n, t, 3, running=1, warm=2)
        self.assertEqual(sname(n.get(t, a.id)), "WARM")
        # all spares; one put to sleep by a caller is woken and paused again
        # (no running one is left to pause instead)
        update_pool(n, t, desired_warm=3)
        converged(n, t, 3, running=0, warm=3)
        n.c.instances.SleepInstance(L.I.SleepInstanceRequest(tenant=t, id=a.id), timeout=L.WAIT)
        back = wait_state(n, t, a.id, "WARM")
        self.assertNotEqual(back.pid, spare.pid, "restored from its snapshot: a new process")
        converged(n, t, 3, running=0, warm=3, sleeping=0)
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_06_sleep_policy_keeps_spares_warm(self):
        n = self.n
        t = n.tenant_pool(desired_instances=3, desired_warm=1, sleep_policy=policy(1, 1))
        converged(n, t, 3, warm=1, sleeping=2, running=0)
        spare = [i for i in managed(n, t) if sname(i) == "WARM"][0]
        for _ in range(3):  # each more than sleep_after_warm_seconds later
            settle(n, t)
            settle(n, t)
            got = n.get(t, spare.id)
            self.assertEqual((sname(got), got.pid), ("WARM", spare.pid),
                             "the desired_warm spare is not put to sleep")
        self.assertEqual(get_pool(n, t).status.sleeping, 2)
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_07_sleep_policy_and_activity(self):
        """Every instance of the pool, here a caller's one: idle RUNNING ->
        WARM -> SLEEPING; a wake is activity."""
        n = self.n
        t = n.tenant_pool(sleep_policy=policy(2, 2))
        u = n.create(t)
        n.start(t, u.id)
        started = n.get(t, u.id)
        self.assertTrue(started.HasField("last_activity_time"), "set by a lifecycle call")
        first = ts(started.last_activity_time)
        warm = wait_state(n, t, u.id, "WARM")
        # (the loop's own pause may count as activity: measured from the start)
        self.assertGreaterEqual(ts(warm.state_time) - first, 2 - 0.05,
                                "paused only after warm_after_idle_seconds without activity")
        slept = wait_state(n, t, u.id, "SLEEPING")
        self.assertGreaterEqual(ts(slept.state_time) - ts(warm.state_time), 2 - 0.05,
                                "put to sleep only after sleep_after_warm_seconds in WARM")
        self.assertEqual(slept.pid, 0)
        self.assertTrue(slept.snapshot.id)
        before = time.time()
        woke = n.c.instances.WakeInstance(L.I.WakeInstanceRequest(tenant=t, id=u.id),
                                          timeout=L.WAIT)
        self.assertEqual(sname(woke), "RUNNING")
        got = n.get(t, u.id)
        self.assertGreater(ts(got.last_activity_time), first, "the wake is activity")
        self.assertGreaterEqual(ts(got.last_activity_time), before - 1.0)
        woke_at = ts(got.last_activity_time)
        again = wait_state(n, t, u.id, "WARM")
        self.assertGreaterEqual(ts(again.state_time) - woke_at, 2 - 0.05,
                                "idle time counted from the wake")
        self.assertEqual(get_pool(n, t).status.unmanaged, 1)
        n.delete(t, u.id)
        no_strays(self, n)

    def test_08_backoff_missing_kernel(self):
        n = self.n
        kernel = n.image("reconcile-kernel.elf", 0, L.read_file(n.kernel))
        t = n.tenant_pool(kernel_image=kernel, desired_instances=1)
        x, = wait_managed(n, t, all_in("RUNNING", 1), "1 managed RUNNING")
        os.unlink(kernel)
        os.kill(x.pid, signal.SIGKILL)  # its replacement cannot be made
        p = wait_pool(n, t, lambda p: rstate(p.status) == "BACKOFF", "BACKOFF")
        self.assertIn(kernel, p.status.message)
        self.assertGreaterEqual(p.status.failures, 1)
        self.assertTrue(p.status.HasField("next_attempt_time"))
        first = p.status.failures
        p = wait_pool(n, t, lambda p: p.status.failures > first, "failures to grow")
        self.assertEqual(rstate(p.status), "BACKOFF")
        entry = [e for e in n.c.node.GetStatus(L.N.GetStatusRequest()).pools
                 if (e.tenant, e.name) == (t, "web")][0]
        self.assertEqual(rstate(entry.status), "BACKOFF")
        self.assertFalse(n.c.node.GetStatus(L.N.GetStatusRequest()).converged)
        with open(kernel, "wb") as f:  # the cause removed
            f.write(L.read_file(n.kernel))
        p = converged(n, t, 1, running=1)
        self.assertEqual(p.status.failures, 0)
        self.assertEqual(p.status.message, "")
        self.assertEqual(len(managed(n, t)), 1)
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_09_backoff_firecracker_error(self):
        if L.ARGS.mode != "sim":
            self.skipTest("the real binary cannot be made to fail on cue")
        n = self.n
        t = n.tenant_pool()
        n.set_faults([{"method": "PUT", "path": "/boot-source", "action": "error",
                       "status": 400, "fault_message": "injected: reconcile backoff"}])
        try:
            update_pool(n, t, desired_instances=1)
            p = wait_pool(n, t, lambda p: rstate(p.status) == "BACKOFF" and
                          p.status.failures >= 2, "BACKOFF after 2 failures")
            self.assertIn("injected: reconcile backoff", p.status.message)
            self.assertTrue(p.status.HasField("next_attempt_time"))
        finally:
            n.set_faults([])
        p = converged(n, t, 1, running=1, pending=0)
        self.assertEqual(p.status.failures, 0)
        self.assertEqual(len(instances(n, t)), 1, "nothing left of the failed attempts")
        self.scale_to_zero(t)
        no_strays(self, n)

    def test_10_status_computed_on_read(self):
        """Pool.status is "computed on read": right after a change it
        describes the pool as it is now, not as the loop last saw it."""
        n = self.n
        t = n.tenant_pool()
        converged(n, t, 0)
        u = n.create(t)
        self.assertEqual(get_pool(n, t).status.unmanaged, 1, "the new caller's instance")
        update_pool(n, t, desired_instances=1)
        st = get_pool(n, t).status
        self.assertNotEqual(rstate(st), "CONVERGED",
                            "0 of 1 desired instances is not converged: %s" % st)
        converged(n, t, 1)
        self.scale_to_zero(t)
        n.delete(t, u.id)


# -- Apply -------------------------------------------------------------------
APPLIED = [0]  # tenants made by Apply cases on the shared node


def spec_tenant(k, **kw):
    return L.T.Tenant(name="ap%d" % k, net_id=2000 + k, subnet="10.250.%d.0/24" % k, **kw)


def spec_pool(n, tenant, name="web", **kw):
    base = dict(vcpus=1, mem_mib=128, kernel_image=n.kernel, rootfs_image=n.rootfs,
                boot_args="console=ttyS0 reboot=k panic=1")
    base.update(kw)
    return L.P.Pool(tenant=tenant, name=name, **base)


def next_gen(n):
    """One more than the last generation applied on n (the tests are the
    only callers of Apply)."""
    return getattr(n, "applied", 0) + 1


def apply(n, gen, tenants=(), pools=(), **kw):
    req = L.N.ApplyRequest(generation=gen, tenants=list(tenants), pools=list(pools), **kw)
    r = n.c.node.Apply(req, timeout=L.WAIT)
    if not kw.get("dry_run"):
        n.applied, n.applied_req = gen, req
    return r


def assert_still_applied(tc, n):
    """The store's applied generation is still n.applied (with its content):
    sending that request again changes nothing, where a newer recorded
    generation would refuse it."""
    if not getattr(n, "applied", 0):
        return
    r = n.c.node.Apply(n.applied_req, timeout=L.WAIT)
    tc.assertFalse(r.changed, r)
    tc.assertEqual(r.generation, n.applied)


def applied(n):
    return n.c.node.GetStatus(L.N.GetStatusRequest()).applied_generation


def wait_applied(n, gen):
    """Waits until GetStatus reports gen applied (it is the status the loop
    published last)."""
    L.wait_for(lambda: applied(n) == gen, "GetStatus to report generation %d applied" % gen)


def changes(r):
    return {(c.kind, c.tenant, c.name): action(c) for c in r.changes}


class Apply(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.n = shared()

    def fresh_tenant(self):
        APPLIED[0] += 1
        return APPLIED[0]

    def refused(self, code, gen, tenants=(), pools=(), *needles, **kw):
        """Apply fails with code, naming needles, and changes nothing."""
        n = self.n
        last = getattr(n, "applied", 0)
        wait_applied(n, last)
        before = versions(n)
        with self.assertRaises(Exception) as e:
            apply(n, gen, tenants, pools, **kw)
        self.assertEqual(e.exception.code(), code, e.exception.details())
        for needle in needles:
            self.assertIn(needle, e.exception.details())
        self.assertEqual(versions(n), before, "nothing changed")
        assert_still_applied(self, n)
        return e.exception.details()

    def test_idempotent_updates_generations(self):
        n = self.n
        k = self.fresh_tenant()
        tn = "ap%d" % k
        tenant, pool = spec_tenant(k), spec_pool(n, tn)
        g = next_gen(n)
        r = apply(n, g, [tenant], [pool])
        self.assertEqual(r.generation, g)
        self.assertTrue(r.changed)
        self.assertEqual(changes(r), {("tenant", tn, ""): "CREATED",
                                      ("pool", tn, "web"): "CREATED"})
        wait_applied(n, g)
        got = get_pool(n, tn)
        self.assertEqual((got.vcpus, got.mem_mib, got.kernel_image), (1, 128, n.kernel))
        self.assertFalse(got.deleting)
        # the same request again: nothing changes
        before = versions(n)
        r = apply(n, g, [tenant], [pool])
        self.assertFalse(r.changed)
        self.assertEqual(r.generation, g)
        self.assertEqual(set(changes(r).values()), {"UNCHANGED"}, r)
        self.assertEqual(len(r.changes), 2)
        self.assertEqual(versions(n), before, "no write")
        # a newer generation with one field changed: exactly that pool, that field
        pool.labels["v"] = "2"
        r = apply(n, g + 1, [tenant], [pool])
        self.assertTrue(r.changed)
        self.assertEqual(changes(r), {("tenant", tn, ""): "UNCHANGED",
                                      ("pool", tn, "web"): "UPDATED"})
        upd = [c for c in r.changes if c.kind == "pool"][0]
        self.assertEqual(list(upd.fields), ["labels"])
        after = versions(n)
        self.assertEqual(after[0], before[0], "no tenant written")
        self.assertEqual({key: v for key, v in after[1].items() if key != (tn, "web")},
                         {key: v for key, v in before[1].items() if key != (tn, "web")},
                         "no other pool written")
        self.assertNotEqual(after[1][(tn, "web")], before[1][(tn, "web")])
        self.assertEqual(dict(get_pool(n, tn).labels), {"v": "2"})
        # desired_instances: the loop makes them after Apply has returned
        pool.desired_instances = 2
        r = apply(n, g + 2, [tenant], [pool])
        upd = [c for c in r.changes if c.kind == "pool"][0]
        self.assertEqual((action(upd), list(upd.fields)), ("UPDATED", ["desired_instances"]))
        converged(n, tn, 2, running=2)
        # an older generation, and the same one with another content
        details = self.refused(L.C.FAILED_PRECONDITION, g, [tenant], [pool])
        self.assertIn(str(g), details)
        self.assertIn(str(g + 2), details)
        pool.labels["v"] = "3"
        self.refused(L.C.FAILED_PRECONDITION, g + 2, [tenant], [pool])
        pool.labels["v"] = "2"
        pool.desired_instances = 0
        apply(n, g + 3, [tenant], [pool])
        wait_managed(n, tn, lambda ms: not ms, "the managed instances to go")

    def test_invalid_changes_nothing(self):
        n = self.n
        k = self.fresh_tenant()
        tn = "ap%d" % k
        tenant, pool = spec_tenant(k), spec_pool(n, tn)
        apply(n, next_gen(n), [tenant], [pool])
        g = next_gen(n)
        inv = L.C.INVALID_ARGUMENT
        self.refused(inv, g, [tenant], [spec_pool(n, tn, desired_instances=1, desired_warm=2)],
                     tn, "web", "desired_warm")
        self.refused(inv, g, [tenant], [pool, spec_pool(n, "nosuchtenant")], "nosuchtenant")
        self.refused(inv, g, [tenant], [pool, spec_pool(n, tn)], tn, "web")  # listed twice
        self.refused(inv, g, [tenant, spec_tenant(k)], [pool], tn)
        self.refused(inv, g, [L.T.Tenant(name=tn, net_id=2000 + k, subnet="10.251.%d.0/24" % k)],
                     [pool], tn, "subnet")
        self.refused(inv, g, [L.T.Tenant(name=tn, net_id=3000 + k,
                                         subnet="10.250.%d.0/24" % k)], [pool], tn, "net_id")
        # a valid new pool beside an invalid one: neither is made
        self.refused(inv, g, [tenant], [pool, spec_pool(n, tn, "new"),
                                        spec_pool(n, tn, "bad", mem_mib=1)], "bad", "mem_mib")
        self.assertTrue(gone(lambda: get_pool(n, tn, "new")))
        self.refused(inv, 0, [tenant], [pool], "generation")

    def test_dry_run_and_no_prune(self):
        n = self.n
        k1, k2 = self.fresh_tenant(), self.fresh_tenant()
        t1, t2 = "ap%d" % k1, "ap%d" % k2
        g = next_gen(n)
        apply(n, g, [spec_tenant(k1)], [spec_pool(n, t1)])
        other = n.tenant_pool()  # made the ordinary way: unlisted from now on
        before = versions(n)
        r = apply(n, g + 1, [spec_tenant(k2)], [spec_pool(n, t2)], dry_run=True)
        self.assertTrue(r.changed)
        self.assertEqual(r.generation, g, "dry_run: the generation applied before")
        self.assertEqual(changes(r), {("tenant", t2, ""): "CREATED",
                                      ("pool", t2, "web"): "CREATED"})
        self.assertTrue(gone(lambda: n.c.tenants.GetTenant(L.T.GetTenantRequest(name=t2))))
        self.assertEqual(versions(n), before)
        assert_still_applied(self, n)  # dry_run records no generation
        # dry_run with prune reports what would be deleted, deletes nothing
        r = apply(n, g + 1, [spec_tenant(k1)], [spec_pool(n, t1)], dry_run=True, prune=True)
        ch = changes(r)
        self.assertEqual(ch[("tenant", other, "")], "DELETING")
        self.assertEqual(ch[("pool", other, "web")], "DELETING")
        self.assertEqual(ch[("tenant", t1, "")], "UNCHANGED")
        self.assertEqual(versions(n), before)
        self.assertFalse(n.c.tenants.GetTenant(L.T.GetTenantRequest(name=other)).deleting)
        self.assertFalse(get_pool(n, other).deleting)
        # without prune, unlisted objects stay
        r = apply(n, g + 1, [spec_tenant(k2)], [spec_pool(n, t2)])
        self.assertEqual(changes(r), {("tenant", t2, ""): "CREATED",
                                      ("pool", t2, "web"): "CREATED"})
        for t in (t1, other):
            self.assertFalse(n.c.tenants.GetTenant(L.T.GetTenantRequest(name=t)).deleting)
            self.assertFalse(get_pool(n, t).deleting)
        self.assertEqual(versions(n)[0][t1], before[0][t1])


class Prune(unittest.TestCase):
    """Apply with prune on a node of its own; each instance delete is slowed
    (a failpoint pause) so that the deleting state can be seen and undone."""

    def setUp(self):
        self.n = reconcile_node(env={"MVMD_FAILPOINTS": "delete.intent=sleep:1000"})

    def tearDown(self):
        rc, log = self.n.close()
        self.assertEqual(rc, 0, log)

    def test_prune_undelete_and_order(self):
        n = self.n
        a, b = spec_tenant(1), spec_tenant(2)
        aw = spec_pool(n, "ap1", desired_instances=1)
        bw = spec_pool(n, "ap2", desired_instances=2)
        bx = spec_pool(n, "ap2", "api")
        r = apply(n, 1, [a, b], [aw, bw, bx])
        self.assertEqual(set(changes(r).values()), {"CREATED"})
        converged(n, "ap1", 1)
        converged(n, "ap2", 2)
        keep, = managed(n, "ap1")
        L.wait_for(lambda: n.c.node.GetStatus(L.N.GetStatusRequest()).converged,
                   "the node converged")
        mine = n.c.instances.CreateInstance(L.I.CreateInstanceRequest(tenant="ap2", pool="api"))
        self.assertFalse(mine.managed)

        r = apply(n, 2, [a], [aw], prune=True)
        self.assertEqual(changes(r), {("tenant", "ap1", ""): "UNCHANGED",
                                      ("pool", "ap1", "web"): "UNCHANGED",
                                      ("tenant", "ap2", ""): "DELETING",
                                      ("pool", "ap2", "web"): "DELETING",
                                      ("pool", "ap2", "api"): "DELETING"})
        self.assertTrue(r.changed)
        self.assertTrue(n.c.tenants.GetTenant(L.T.GetTenantRequest(name="ap2")).deleting)
        p = get_pool(n, "ap2", "api")
        self.assertTrue(p.deleting)
        # Pool.status is computed on read: checked at the end, the rest goes on
        stale = [] if rstate(p.status) == "DELETING" else [
            "GetPool right after the prune: deleting=true but status.state %s"
            % rstate(p.status)]
        wait_pool(n, "ap2", lambda p: rstate(p.status) == "DELETING", "ap2/api DELETING", "api")
        st = L.wait_for(lambda: (lambda s: s if not s.converged else None)(
            n.c.node.GetStatus(L.N.GetStatusRequest())), "GetStatus: not converged")
        self.assertEqual({(e.tenant, e.name) for e in st.pools if e.deleting},
                         {("ap2", "web"), ("ap2", "api")})
        self.assertEqual([e.name for e in st.tenants if e.deleting], ["ap2"])
        # listed again before it is gone: ap2 and ap2/web stay, ap2/api goes
        r = apply(n, 3, [a, b], [aw, bw], prune=True)
        ch = changes(r)
        self.assertIn(ch[("tenant", "ap2", "")], ("UPDATED", "CREATED"), r)
        self.assertIn(ch[("pool", "ap2", "web")], ("UPDATED", "CREATED"), r)
        self.assertEqual(ch.get(("pool", "ap2", "api"), "DELETING"), "DELETING", "still unlisted")
        self.assertFalse(n.c.tenants.GetTenant(L.T.GetTenantRequest(name="ap2")).deleting)
        self.assertFalse(get_pool(n, "ap2").deleting)
        L.wait_for(lambda: gone(lambda: get_pool(n, "ap2", "api")), "ap2/api to be removed")
        self.assertTrue(gone(lambda: n.get("ap2", mine.id)), "its caller's instance too")
        converged(n, "ap2", 2)
        self.assertFalse(n.c.tenants.GetTenant(L.T.GetTenantRequest(name="ap2")).deleting)

        # pruned for good: instances, then the pool, then the tenant
        extra = n.c.instances.CreateInstance(L.I.CreateInstanceRequest(tenant="ap2", pool="web"))
        r = apply(n, 4, [a], [aw], prune=True)
        self.assertEqual(changes(r)[("tenant", "ap2", "")], "DELETING")
        seen = []
        while True:
            pool_there = not gone(lambda: get_pool(n, "ap2"))
            insts = [i for i in instances(n) if i.tenant == "ap2"]
            tenant_there = not gone(lambda: n.c.tenants.GetTenant(
                L.T.GetTenantRequest(name="ap2")))
            pools = [p for p in all_pools(n) if p.tenant == "ap2"]
            seen.append((pool_there, len(insts), tenant_there, len(pools)))
            if not pool_there:
                self.assertEqual(insts, [], "the pool went before its instances: %s" % seen)
            if not tenant_there:
                self.assertEqual(pools, [], "the tenant went before its pools: %s" % seen)
                break
            self.assertLess(len(seen), L.WAIT * 20, "ap2 never went: %s" % seen[-5:])
            time.sleep(0.05)
        self.assertTrue(any(s[1] > 0 for s in seen), "its instances were seen going")
        self.assertTrue(gone(lambda: n.get("ap2", extra.id)))
        got = n.get("ap1", keep.id)
        self.assertEqual(sname(got), "RUNNING", "the listed tenant's instance is untouched")
        st = L.wait_for(lambda: (lambda s: s if s.converged else None)(
            n.c.node.GetStatus(L.N.GetStatusRequest())), "the node converged")
        self.assertEqual(st.applied_generation, 4)
        self.assertEqual([(e.tenant, e.name) for e in st.pools], [("ap1", "web")])
        self.assertEqual([e.name for e in st.tenants], ["ap1"])
        no_strays(self, n)
        self.assertEqual(stale, [])


class Status(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.n = shared()

    def test_get_status_lists_everything(self):
        n = self.n
        t = n.tenant_pool(desired_instances=1, desired_warm=1)
        converged(n, t, 1, warm=1)
        # the node's status is the loop's: it shows the pool converged after
        # the round that saw it so (Pool.status, computed on read, may be first)
        got = {}

        def loop_saw_it():
            got["st"] = n.c.node.GetStatus(L.N.GetStatusRequest())
            return any(e.tenant == t and rstate(e.status) == "CONVERGED" for e in got["st"].pools)
        L.wait_for(loop_saw_it, "GetStatus to show pool %s/web converged" % t)
        st = got["st"]
        self.assertTrue(st.HasField("observe_time"))
        pools = {(p.tenant, p.name): p for p in all_pools(n)}
        self.assertEqual({(e.tenant, e.name) for e in st.pools}, set(pools))
        self.assertEqual(len(st.pools), len(pools), "one entry per pool")
        tenants = all_tenants(n)
        self.assertEqual(sorted(e.name for e in st.tenants), sorted(x.name for x in tenants))
        for e in st.tenants:
            self.assertEqual(e.pools, sum(1 for k in pools if k[0] == e.name), e)
        for e in st.pools:
            p = pools[(e.tenant, e.name)]
            self.assertEqual((e.desired_instances, e.desired_warm),
                             (p.desired_instances, p.desired_warm))
            self.assertEqual(e.base_snapshot_state, p.base_snapshot.state)
            self.assertFalse(e.deleting)
        mine = [e for e in st.pools if e.tenant == t][0]
        self.assertEqual((mine.desired_instances, mine.desired_warm), (1, 1))
        self.assertEqual(rstate(mine.status), "CONVERGED")
        self.assertEqual((mine.status.instances, mine.status.warm), (1, 1))
        update_pool(n, t, desired_instances=0, desired_warm=0)
        wait_managed(n, t, lambda ms: not ms, "the managed instance to go")

    def test_watch_status(self):
        n = self.n
        t = n.tenant_pool()
        L.wait_for(lambda: any((e.tenant, e.name) == (t, "web") for e in
                               n.c.node.GetStatus(L.N.GetStatusRequest()).pools),
                   "the loop to have seen the new pool")
        got, cond = [], threading.Condition()
        end = {}
        stream = n.c.node.WatchStatus(L.N.GetStatusRequest(), timeout=WAIT * 3)

        def reader():
            try:
                for st in stream:
                    with cond:
                        got.append(st)
                        cond.notify_all()
            except Exception as e:  # grpc.RpcError: cancelled
                end["error"] = e
            with cond:
                end["done"] = True
                cond.notify_all()
        th = threading.Thread(target=reader, daemon=True)
        th.start()

        def entry(st):
            m = [e for e in st.pools if (e.tenant, e.name) == (t, "web")]
            return m[0] if m else None

        def wait(pred, what):
            deadline = time.monotonic() + WAIT
            with cond:
                while True:
                    for k, st in enumerate(got):
                        if pred(st):
                            return k
                    left = deadline - time.monotonic()
                    if left <= 0 or end.get("done"):
                        raise AssertionError("WatchStatus never sent %s (%s); last: %s" % (
                            what, end.get("error"), got[-1] if got else None))
                    cond.wait(left)

        wait(lambda st: True, "the current status")
        first = entry(got[0])
        self.assertIsNotNone(first, "the first status is the current one, with the new pool")
        self.assertEqual(first.desired_instances, 0)
        update_pool(n, t, desired_instances=3)

        def done(st):
            e = entry(st)
            return (e is not None and e.desired_instances == 3 and
                    rstate(e.status) == "CONVERGED" and e.status.instances == 3)
        k = wait(done, "the pool CONVERGED with 3")
        with cond:
            before = list(got[:k])
        self.assertTrue(any(entry(st) is not None and entry(st).desired_instances == 3 and
                            rstate(entry(st).status) == "PROGRESSING" for st in before),
                        "an intermediate PROGRESSING status came first: %s"
                        % [(entry(st).desired_instances, rstate(entry(st).status),
                            entry(st).status.instances) for st in before if entry(st)])
        self.assertIn(t, [e.name for e in got[k].tenants])
        stream.cancel()
        th.join(WAIT)
        self.assertFalse(th.is_alive(), "the stream ends when the client cancels")
        self.assertEqual(end["error"].code(), L.C.CANCELLED)
        self.assertTrue(n.c.node.GetStatus(L.N.GetStatusRequest()).HasField("observe_time"),
                        "mvmd serves on")
        update_pool(n, t, desired_instances=0)
        wait_managed(n, t, lambda ms: not ms, "the managed instances to go")


class CrashReconcile(L.CrashHarness):
    """mvmd SIGKILLed while the loop makes or removes instances, then
    restarted clean: exactly desired_instances managed instances, no
    doubles, no stray process, directory or snapshot file."""

    def setUp(self):
        self.n = reconcile_node()

    def killed_at(self, point, change):
        """Restarts mvmd with point armed, makes change (mvmd dies in the
        loop's work), then restarts it clean."""
        n = self.n
        n.restart(env={"MVMD_FAILPOINTS": point})
        try:
            change()
        except Exception as e:  # mvmd may die before it answers
            self.assertEqual(e.code(), L.C.UNAVAILABLE, e)
        L.wait_for(lambda: n.d.proc.poll() is not None, "mvmd to die at " + point)
        n.d.proc.wait()
        n.restart(kill=True)

    def exactly(self, t, count):
        """Converged with exactly count managed RUNNING, each once, and the
        node clean; returns them."""
        converged(self.n, t, count, running=count)
        settle(self.n, t)
        ms = managed(self.n, t)
        self.assertEqual(len(ms), count, [(i.id, sname(i)) for i in ms])
        self.assertEqual(len(set(i.id for i in ms)), count)
        self.assert_clean(t, {i.id: "RUNNING" for i in ms})
        no_strays(self, self.n)
        return ms

    def test_crash_making_clones(self):
        n = self.n
        t, p, s = CL.based_pool(n)
        want = 0
        for point in ("clone.recorded", "clone.loaded"):
            want += 2
            self.killed_at(point, lambda: update_pool(n, t, desired_instances=want))
            for i in self.exactly(t, want):
                self.assertEqual(i.base_snapshot_id, s.id)

    def test_crash_making_cold_boots(self):
        n = self.n
        t = n.tenant_pool()
        want = 0
        for point in ("create.recorded", "start.spawned", "start.booted"):
            want += 2
            self.killed_at(point, lambda: update_pool(n, t, desired_instances=want))
            self.exactly(t, want)

    def test_kill_after_first_appears(self):
        n = self.n
        t, p, s = CL.based_pool(n)
        update_pool(n, t, desired_instances=6)
        L.wait_for(lambda: managed(n, t), "a first managed instance")
        n.restart(kill=True)
        self.exactly(t, 6)

    def test_crash_removing(self):
        n = self.n
        t = n.tenant_pool(desired_instances=3)
        ms = oldest_first(wait_managed(n, t, all_in("RUNNING", 3), "3 managed RUNNING"))
        want = 3
        for point in ("delete.intent", "delete.removed"):
            want -= 1
            self.killed_at(point, lambda: update_pool(n, t, desired_instances=want))
            left = self.exactly(t, want)
            self.assertEqual(sorted(i.id for i in left), sorted(i.id for i in ms[:want]),
                             "the newest went, the oldest stay")


def main():
    rest, status = L.setup("reconcile")
    if status is not None:
        return status
    L.WAIT = WAIT
    return L.run(rest)


if __name__ == "__main__":
    sys.exit(main())
