#!/usr/bin/python3
"""wire_metrics_test - the metrics listener serves Prometheus text whose
request counters, by method and status code, count exactly the calls made.

Run: python3 wire_metrics_test.py BUILD_DIR
"""
import http.client
import re
import signal
import socket
import threading
import time
import unittest

from wire_h2 import (
    INVALID_ARGUMENT, NOT_FOUND, OK, TENANT_SVC, UNIMPLEMENTED, SharedMvmd, WireCase,
    start_mvmd,
    connect_unix, parse_addr, protos, main)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
CODE_NAMES = {OK: "OK", NOT_FOUND: "NOT_FOUND", INVALID_ARGUMENT: "INVALID_ARGUMENT",
              UNIMPLEMENTED: "UNIMPLEMENTED"}


def parse_labels(s):
    out, i = {}, 0
    while i < len(s):
        m = LABEL.match(s, i)
        if not m:
            raise ValueError("bad label set %r at %d" % (s, i))
        out[m.group(1)] = m.group(2)
        i = m.end()
    return out


def parse_page(text):
    """({(name, frozenset(labels)): value}, {family: type})."""
    samples, types = {}, {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a Prometheus sample line: %r" % line)
        labels = parse_labels(m.group(3) or "")
        key = (m.group(1), frozenset(labels.items()))
        if key in samples:
            raise ValueError("duplicate sample %r" % line)
        samples[key] = float(m.group(4))
    return samples, types


class Trickle:
    """A metrics client sending its request one byte every half second
    (slower than any request should take, faster than an idle timeout)."""

    def __init__(self, addr, seconds=150):
        self.stop = threading.Event()
        self.sock = socket.create_connection(parse_addr(addr), timeout=10)
        data = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * (2 * seconds)
        self.thread = threading.Thread(target=self._run, args=(data,), daemon=True)
        self.thread.start()

    def _run(self, data):
        for b in data:
            if self.stop.wait(0.5):
                return
            try:
                self.sock.sendall(bytes([b]))
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


class _MetricsBase(SharedMvmd):

    def scrape(self, path="/metrics"):
        host, port = parse_addr(self.mvmd.metrics_addr)
        h = http.client.HTTPConnection(host, port, timeout=10)
        try:
            h.request("GET", path)
            r = h.getresponse()
            return r.status, r.getheader("content-type") or "", r.read().decode("utf-8")
        finally:
            h.close()

    def page(self):
        status, ctype, body = self.scrape()
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(ctype.startswith("text/plain"), "metrics content-type %r" % ctype)
        try:
            return parse_page(body)
        except ValueError as e:
            self.fail("metrics page is not Prometheus text: %s" % e)

    @staticmethod
    def method_code(labels):
        """(method label value, code label value) if this sample has them."""
        d = dict(labels)
        meth = next((v for k, v in d.items() if k in ("method", "grpc_method", "rpc")), None)
        code = next((v for k, v in d.items() if k in ("code", "grpc_code", "status")), None)
        return meth, code

    def counters_by_call(self, samples, types):
        """{family: {(method, code): value}} over counter families."""
        out = {}
        for (name, labels), v in samples.items():
            fam = name[:-len("_total")] if name.endswith("_total") else name
            if types.get(fam) != "counter" and types.get(name) != "counter":
                continue
            meth, code = self.method_code(labels)
            if meth is None or code is None:
                continue
            out.setdefault(name, {})[(meth, code)] = v
        return out


class Metrics(_MetricsBase, unittest.TestCase):

    def test_counters_count_calls_by_method_and_code(self):
        pb = protos()["tenant"]
        s0, t0 = self.page()
        tls = self.connect()
        unix = connect_unix(self.mvmd.unix_path)
        self.addCleanup(unix.close)
        expect = {}

        def call(conn, method, req, code):
            r = conn.call(TENANT_SVC + method, req)
            self.assertEqual(r.grpc_status, code, "%s: %s" % (method, r))
            expect[(method, code)] = expect.get((method, code), 0) + 1

        for i in range(3):
            call(tls if i < 2 else unix, "GetTenant", pb.GetTenantRequest(name="nope-%d" % i), NOT_FOUND)
        for i in range(2):
            call(tls, "ListTenants", pb.ListTenantsRequest(), OK)
        call(tls, "CreateTenant", self.tenant_req(name="Bad_Name"), INVALID_ARGUMENT)
        call(unix, "CreateTenant", self.tenant_req(), OK)

        s1, t1 = self.page()
        before, after = self.counters_by_call(s0, t0), self.counters_by_call(s1, t1)
        self.assertTrue(after, "no counter with method and code labels on the metrics page")

        def delta(fam, method, code):
            for (m, c), v in after.get(fam, {}).items():
                if m.endswith(method) and (c == CODE_NAMES[code] or c == str(code)):
                    old = next((ov for (om, oc), ov in before.get(fam, {}).items()
                                if (om, oc) == (m, c)), 0.0)
                    return v - old
            return 0.0

        report = {}
        for fam in after:
            got = {k: delta(fam, *k) for k in expect}
            report[fam] = got
            if all(got[k] == n for k, n in expect.items()):
                return
        self.fail("no request counter family counts these calls %s; deltas seen: %s"
                  % (expect, report))

    def test_counters_are_monotonic_across_scrapes(self):
        s0, t0 = self.page()
        self.get_tenant("still-missing")
        s1, t1 = self.page()
        for key, v in s0.items():
            if t0.get(key[0]) == "counter" or (key[0].endswith("_total") and
                                              t0.get(key[0][:-6]) == "counter"):
                self.assertIn(key, s1, "counter sample %s vanished" % (key,))
                self.assertGreaterEqual(s1[key], v, "counter %s went down" % (key,))

    def test_unknown_methods_do_not_add_label_values(self):
        # Any authenticated client can call arbitrary paths: they must not
        # create a new time series each (unbounded label cardinality).
        c = self.connect()
        paths = ["/wire.Probe%d/Call%d" % (i, i) for i in range(30)]
        for p in paths:
            self.assertEqual(c.call(p, b"").grpc_status, UNIMPLEMENTED)
        samples, _ = self.page()
        values = {v for (_, labels) in samples for _, v in labels}
        leaked = [p for p in paths if any(p in v for v in values)]
        self.assertEqual(leaked, [], "unknown method paths became label values")

    def test_slow_metrics_client_does_not_block_scrapes(self):
        t = Trickle(self.mvmd.metrics_addr)
        self.addCleanup(t.close)
        host, port = parse_addr(self.mvmd.metrics_addr)
        h = http.client.HTTPConnection(host, port, timeout=30)
        try:
            h.request("GET", "/metrics")
            r = h.getresponse()
            body = r.read()
        except OSError as e:
            self.fail("a scrape was not served within 30s while another client sent its "
                      "request slowly: %r" % e)
        finally:
            h.close()
        self.assertEqual(r.status, 200)
        self.assertIn(b"# TYPE", body)


class ConnectionAccounting(_MetricsBase, unittest.TestCase):
    """With its own mvmd: every connection, however it ends, is released
    (the open-connections gauge returns to zero), and a client's
    RST_STREAM really cancels its Watch on the server."""

    def gauge(self):
        samples, types = self.page()
        for (name, labels), v in samples.items():
            if "connections" in name and not labels and types.get(name) == "gauge":
                return v
        self.skipTest("no open-connections gauge on the metrics page")

    def wait_gauge(self, want, what, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            g = self.gauge()
            if g == want:
                return
            if time.monotonic() > deadline:
                self.fail("open-connections gauge is %s, want %s, %ds after %s" % (g, want, timeout, what))
            time.sleep(0.2)

    def test_every_connection_is_released(self):
        from wire_h2 import (PREFACE, SETTINGS, DATA, raw_frame, tls_context, tls_socket,
                             connect_unix, grpc_frame)
        good = [self.connect() for _ in range(3)]
        u = connect_unix(self.mvmd.unix_path)
        good.append(u)
        for c in good:
            c.settle()
        self.wait_gauge(4, "opening 3 TLS and 1 Unix connection")
        addr, certs = self.mvmd.tls_addr, self.mvmd.certs
        bad = []
        s = tls_socket(addr, tls_context(certs))
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")                    # bad preface
        bad.append(s)
        s = tls_socket(addr, tls_context(certs))
        s.sendall(PREFACE + raw_frame(SETTINGS, 0, 0, b"") + raw_frame(DATA, 0, 0, b"x"))
        bad.append(s)                                               # connection error
        s = socket.create_connection(parse_addr(addr))
        s.sendall(b"\x16\x03\x01\x02\x00\x01")                     # half a ClientHello
        bad.append(s)
        try:
            bad.append(tls_socket(addr, tls_context(certs, client=None)))   # no client cert
        except OSError:
            pass
        c = self.connect()                                          # dropped mid-request
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, grpc_frame(b"\x0a\x02")[:6])
        c.settle()
        bad.append(c.sock)
        for s in bad:
            s.close()
        for c in good:
            c.close()
        self.wait_gauge(0, "closing every connection")

    def test_rst_stream_cancels_watch_on_the_server(self):
        def cancelled():
            samples, types = self.page()
            calls = self.counters_by_call(samples, types)
            return max([v for fam in calls.values() for (m, code), v in fam.items()
                        if m.endswith("WatchInstances") and code in ("CANCELLED", "1")] or [0])
        n0 = cancelled()
        c = self.connect()
        w = self.watch(c)
        c.settle()
        c.reset(w)
        c.settle()
        deadline = time.monotonic() + 30
        while cancelled() != n0 + 1:
            if time.monotonic() > deadline:
                self.fail("WatchInstances CANCELLED count stayed %s after a client RST_STREAM" % cancelled())
            time.sleep(0.2)


class MetricsShutdown(WireCase, unittest.TestCase):

    def test_slow_metrics_client_does_not_block_sigterm(self):
        # mvmd drains within its grace period (30 s by default) whatever a
        # metrics client does; 90 s is three times that.
        m = start_mvmd()
        self.addCleanup(m.close)
        t = Trickle(m.metrics_addr)
        self.addCleanup(t.close)
        time.sleep(1.5)                 # let it send a few bytes first
        m.proc.send_signal(signal.SIGTERM)
        try:
            rc = m.proc.wait(90)
        except Exception:
            self.fail("mvmd still running 90s after SIGTERM while a metrics client "
                      "sends its request slowly")
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    main()
