#!/usr/bin/python3
"""wire_metrics_test - the metrics listener serves Prometheus text whose
request counters, by method and status code, count exactly the calls made.

Run: python3 wire_metrics_test.py BUILD_DIR
"""
import http.client
import re
import unittest

from wire_h2 import (
    INVALID_ARGUMENT, NOT_FOUND, OK, TENANT_SVC, UNIMPLEMENTED, SharedMvmd,
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


class Metrics(SharedMvmd, unittest.TestCase):

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


if __name__ == "__main__":
    main()
