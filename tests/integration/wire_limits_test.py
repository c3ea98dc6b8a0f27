#!/usr/bin/python3
"""wire_limits_test - the transport's memory limits and request deadline,
from raw HTTP/2 clients that misbehave, against a real mvmd (default
limits, or one made small with its own flag, e.g. --max-stream-queue-bytes):

- a WatchInstances whose initial listing overflows its stream queue while
  the client reads nothing is cut RESOURCE_EXHAUSTED, and mvmd survives
  (this was a use-after-free: the cut ran the stream's end hook, freeing
  the watch, inside the send the listing was making; the ASan build
  aborts mvmd on it);
- thousands of watches that never read are cut once their connection's
  unsent replies pass the bound, mvmd's RSS stays bounded, and a client on
  another connection is served throughout;
- streams that each declare a 4 MiB message and never finish it are cut
  once their connection holds too much partial input, with the same
  guarantees;
- a request whose message does not arrive in full in time ends
  DEADLINE_EXCEEDED.

Memory is read from /proc/PID/status (VmRSS): the assertions are on bytes,
never on time.

Run: python3 wire_limits_test.py BUILD_DIR
"""
import os
import re
import time
import unittest
import urllib.request

import h2.settings

from wire_h2 import (
    BUILD_DIR, DEADLINE_EXCEEDED, INSTANCE_SVC, OK, RESOURCE_EXHAUSTED, TENANT_SVC,
    ConnectionClosed, H2Conn, SharedMvmd, connect_unix, grpc_frame, main, protos, start_mvmd,
    tls_context, tls_socket)

MIB = 1 << 20


def small_asan_quarantine():
    """For an mvmd built with ASan (the environment names ASAN_OPTIONS):
    ASan keeps up to 256 MiB of freed memory to catch use-after-free; that
    is the tool's memory, not mvmd's, so keep it small where RSS is
    measured. Ignored by uninstrumented builds."""
    opts = os.environ.get("ASAN_OPTIONS")
    if opts is not None and "quarantine_size_mb" not in opts:
        os.environ["ASAN_OPTIONS"] = opts + ":quarantine_size_mb=16"


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def metric(mvmd, name, **labels):
    """Sum of the samples of metric `name` whose labels include `labels`."""
    with urllib.request.urlopen("http://%s/metrics" % mvmd.metrics_addr, timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.split("\n"):
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


class Fixture(SharedMvmd):
    """One mvmd per class, started with mvmd_kw (see start_mvmd); with
    measures_rss, ASan's quarantine is kept small. Helpers to fill a store
    with instances quickly (pipelined creates)."""

    mvmd_kw = {}
    measures_rss = False

    @classmethod
    def setUpClass(cls):
        if cls.measures_rss:
            small_asan_quarantine()
        cls.mvmd = start_mvmd(**cls.mvmd_kw)

    def make_instances(self, conn, count, per_tenant=250, labels=None):
        """Creates `count` instances (with labels) over tenants of up to
        per_tenant each (a tenant's /24 holds 253); returns the tenant names."""
        tpb, ppb, ipb = protos()["tenant"], protos()["pool"], protos()["instance"]
        tenants = []
        left = count
        while left > 0:
            name = self.create_tenant(conn)
            tenants.append(name)
            r = conn.call("/mvm.v1.PoolService/CreatePool", ppb.CreatePoolRequest(pool=ppb.Pool(
                tenant=name, name="web", vcpus=1, mem_mib=128, kernel_image=self.mvmd.kernel_image,
                rootfs_image=self.mvmd.rootfs_image)))
            self.assertEqual(r.grpc_status, OK, "CreatePool: %s" % r)
            n = min(left, per_tenant)
            body = grpc_frame(ipb.CreateInstanceRequest(
                tenant=name, pool="web", labels=labels or {}).SerializeToString())
            for start in range(0, n, 50):  # 50 in flight at a time
                sids = [conn.start(INSTANCE_SVC + "CreateInstance", body)
                        for _ in range(min(50, n - start))]
                for sid in sids:
                    r = conn.response(sid, timeout=60)
                    self.assertEqual(r.grpc_status, OK, "CreateInstance: %s" % r)
            left -= n
        del tpb
        return tenants

    def assert_served(self, what):
        """A well-behaved client on a fresh connection gets an answer."""
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", b"", timeout=30)
        self.assertEqual(r.grpc_status, OK, "%s: a well-behaved client was not served: %s"
                         % (what, r))
        c.close()


class StreamQueueCut(Fixture, unittest.TestCase):
    """A 16 KiB stream queue, and a watch whose initial listing is larger,
    on a connection whose flow-control window is 0: nothing can be written,
    so the listing overflows the queue inside the handler's sends."""

    mvmd_kw = {"extra_args": ["--max-stream-queue-bytes", "16384", "--io-threads", "1"]}

    def test_listing_over_the_queue_is_cut_and_mvmd_survives(self):
        c = self.connect()
        tenants = self.make_instances(c, 150)
        hog = H2Conn(tls_socket(self.mvmd.tls_addr, tls_context(self.mvmd.certs)), "https",
                     settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        self.addCleanup(hog.close)
        hog.settle()
        sid = self.watch(hog, tenant=tenants[0], send_initial=True)
        hog.settle()  # the handler has run (mvmd processed the request before the PING)
        self.assertEqual(self.mvmd.proc.poll(), None, "mvmd died:\n" + self.mvmd.log_tail())
        self.assert_served("after the cut")
        # The cut ended the subscription (the end hook ran, once).
        self.assertEqual(metric(self.mvmd, "mvm_watchers"), 0)
        self.assertEqual(metric(self.mvmd, "mvm_grpc_requests_total",
                                method=INSTANCE_SVC + "WatchInstances",
                                code="RESOURCE_EXHAUSTED"), 1)
        # Opening the window lets the status through: RESOURCE_EXHAUSTED,
        # after at most what had been queued (whole messages).
        hog.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        hog.flush()
        r = hog.response(sid, timeout=30)
        self.assertEqual(r.grpc_status, RESOURCE_EXHAUSTED, r)
        self.assertIn("not reading", r.grpc_message)
        self.assertIsNone(r.framing_error, r)
        self.assertLess(len(r.messages), 150, "the whole listing was kept: %s" % r)
        # A watch that fits still works, on the same server.
        ok = self.connect()
        wid = self.watch(ok, tenant=tenants[0], pool="none", send_initial=True)
        ok.settle()
        self.assertFalse(ok.streams[wid].done, "a small watch ended: %s" % ok.streams[wid].frames)


class RequestDeadline(Fixture, unittest.TestCase):
    """request_timeout_ms=1000: a request must arrive in full within 1 s."""

    mvmd_kw = {"extra_args": ["--request-timeout-ms", "1000"]}

    def test_partial_message_ends_deadline_exceeded(self):
        c = self.connect()
        pb = protos()["tenant"]
        whole = grpc_frame(pb.GetTenantRequest(name="x" * 40).SerializeToString())
        sid = c.start(TENANT_SVC + "GetTenant", whole[:10], end=False)
        r = c.response(sid, timeout=20)
        self.assertEqual(r.grpc_status, DEADLINE_EXCEEDED, r)
        self.assertIn("did not arrive in full", r.grpc_message)

    def test_message_without_end_stream_ends_deadline_exceeded(self):
        c = self.connect()
        pb = protos()["tenant"]
        sid = c.start(TENANT_SVC + "GetTenant",
                      grpc_frame(pb.GetTenantRequest(name="x").SerializeToString()), end=False)
        r = c.response(sid, timeout=20)
        self.assertEqual(r.grpc_status, DEADLINE_EXCEEDED, r)
        self.assert_served("after a request deadline")

    def test_watch_after_its_request_is_not_cut(self):
        # the deadline covers the request only: a watch stays open after it
        c = self.connect()
        sid = self.watch(c)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            c.pump(0.5)
        self.assertFalse(c.streams[sid].done, "a watch was cut: %s" % c.streams[sid].frames)


class PartialInputBound(Fixture, unittest.TestCase):
    """Default limits (real mvmd): 100 streams on one connection each
    declare a 4 MiB message and send all of it but its last byte. Before
    the bound, mvmd held all of it (4 MiB x streams)."""

    measures_rss = True

    def test_partial_messages_are_bounded_per_connection(self):
        pid = self.mvmd.proc.pid
        self.assert_served("before")
        base = rss_mib(pid)
        hog = connect_unix(self.mvmd.unix_path)
        self.addCleanup(hog.close)
        size = 4 * MIB
        payload = grpc_frame(b"\0" * (size - 1), length=size)  # one byte short
        piece = 256 << 10
        cut, peak = [], base
        for i in range(100):
            sid = hog.start(TENANT_SVC + "CreateTenant", None, end=False)
            for off in range(0, len(payload), piece):
                hog.pump(0.001)
                if hog.streams[sid].done:
                    break
                hog.sock.settimeout(30)  # pump left a short one; sends may block
                hog.send(sid, payload[off:off + piece], end=False)
            hog.pump(0.01)
            if hog.streams[sid].done:
                cut.append(sid)
            peak = max(peak, rss_mib(pid))
        hog.settle(30)
        peak = max(peak, rss_mib(pid))
        print("\n  %d of 100 streams cut, RSS %.0f -> %.0f MiB" % (len(cut), base, peak))
        self.assertGreater(len(cut), 50, "streams holding partial messages were not cut")
        r = hog.response(cut[-1])
        self.assertEqual(r.grpc_status, RESOURCE_EXHAUSTED, r)
        self.assertIn("partly received", r.grpc_message)
        self.assert_served("while the hog's connection is open")
        # Unbounded, this held 100 x 4 MiB = 400 MiB. Bounded: 32 MiB per
        # connection, plus allocator slack (and ASan's quarantine).
        self.assertLess(peak - base, 200, "mvmd's RSS grew from %.0f to %.0f MiB" % (base, peak))
        self.assertEqual(self.mvmd.proc.poll(), None, "mvmd died:\n" + self.mvmd.log_tail())


class UnreadWatchesBound(Fixture, unittest.TestCase):
    """Default limits (real mvmd): 4 connections x 1000 WatchInstances with
    send_initial over 1000 instances, none of them reading. Before the
    bound, every event for every watch was queued: about 1 GB."""

    measures_rss = True

    def test_unread_watches_are_cut_and_memory_stays_bounded(self):
        pid = self.mvmd.proc.pid
        c = self.connect()
        self.make_instances(c, 1000, labels={"role": "r" * 60, "zone": "z" * 60})
        c.close()
        base = rss_mib(pid)
        hogs = []
        for _ in range(4):
            h = connect_unix(self.mvmd.unix_path)
            self.addCleanup(h.close)
            hogs.append(h)
            for _ in range(1000):  # never read: mvmd's replies pile up
                try:
                    self.watch(h, send_initial=True)
                except (ConnectionClosed, OSError):
                    break
        peak = rss_mib(pid)
        # Wait until mvmd has run every watch: each is then either cut or
        # still subscribed (the same counts twice: no end hook pending).
        deadline = time.monotonic() + 300
        last = None
        while True:
            peak = max(peak, rss_mib(pid))
            cut = metric(self.mvmd, "mvm_grpc_requests_total",
                         method=INSTANCE_SVC + "WatchInstances", code="RESOURCE_EXHAUSTED")
            open_ = metric(self.mvmd, "mvm_watchers")
            if cut + open_ == 4000 and last == (cut, open_):
                break
            last = (cut, open_)
            self.assertEqual(self.mvmd.proc.poll(), None, "mvmd died:\n" + self.mvmd.log_tail())
            self.assertLess(time.monotonic(), deadline,
                            "%d of 4000 watches ran; RSS %.0f MiB" % (cut + open_, peak))
            time.sleep(0.5)
        peak = max(peak, rss_mib(pid))
        print("\n  %d watches cut, %d open, RSS %.0f -> %.0f MiB" % (cut, open_, base, peak))
        self.assertGreater(cut, 2000, "unread watches were not cut (%d cut, %d open)" % (cut, open_))
        self.assert_served("with 4000 unread watches open")
        # 4 connections x 32 MiB of unsent replies, plus slack (and ASan's
        # quarantine of what was dropped).
        self.assertLess(peak - base, 450, "mvmd's RSS grew from %.0f to %.0f MiB" % (base, peak))
        for h in hogs:
            h.close()
        deadline = time.monotonic() + 60
        while metric(self.mvmd, "mvm_watchers") != 0:
            self.assertLess(time.monotonic(), deadline, "watchers left after their clients left")
            time.sleep(0.2)


if __name__ == "__main__":
    main()
