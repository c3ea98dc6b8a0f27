#!/usr/bin/python3
"""wire_deadline_test - grpc-timeout, grpc-message percent-encoding and
client cancellation (RST_STREAM) as the gRPC over HTTP/2 spec has them.

Run: python3 wire_deadline_test.py BUILD_DIR
"""
import re
import unittest

from wire_h2 import (
    CANCEL, DEADLINE_EXCEEDED, HEADERS, INVALID_ARGUMENT, OK, TENANT_SVC,
    SharedMvmd, grpc_frame, main)


class Timeouts(SharedMvmd, unittest.TestCase):

    def test_malformed_grpc_timeout_refused(self):
        # TimeoutValue is 1 to 8 ASCII digits, TimeoutUnit one of H M S m u n.
        before = self.tenant_names()
        c = self.connect()
        for bad in ("", "S", "10", "abc", "1x", "-1S", "1.5S", "123456789S", "1 S", "0x10S", "5s"):
            with self.subTest(grpc_timeout=bad):
                req = self.tenant_req()
                r = c.call(TENANT_SVC + "CreateTenant", req, grpc_timeout=bad)
                self.assertIsNone(r.reset, "grpc-timeout %r: %s" % (bad, r))
                self.assertTrue(r.status == 400 or (r.status == 200 and r.grpc_status not in (None, OK)),
                                "malformed grpc-timeout %r accepted: %s" % (bad, r))
                self.assert_absent(req.tenant.name, c)
        self.assert_state_unchanged(before, "malformed grpc-timeout")

    def test_valid_grpc_timeout_units_accepted(self):
        c = self.connect()
        for ok in ("99999999n", "30000000u", "30000m", "30S", "1M", "1H", "00000060S"):
            with self.subTest(grpc_timeout=ok):
                r = c.call(TENANT_SVC + "ListTenants", b"", grpc_timeout=ok)
                self.assertEqual(r.grpc_status, OK, "grpc-timeout %r: %s" % (ok, r))

    def test_tiny_timeout_ends_watch_with_deadline_exceeded(self):
        c = self.connect()
        for t in ("200m", "1n", "1u"):
            with self.subTest(grpc_timeout=t):
                sid = self.watch(c, grpc_timeout=t)
                r = c.response(sid, timeout=30)
                self.assertIsNone(r.reset, "watch with grpc-timeout %s was reset: %s" % (t, r))
                self.assertEqual(r.status, 200, "grpc-timeout %s: %s" % (t, r))
                self.assertEqual(r.grpc_status, DEADLINE_EXCEEDED, "grpc-timeout %s: %s" % (t, r))
        # The connection is still good.
        self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)

    def test_deadline_passes_while_request_incomplete(self):
        # The deadline runs from the request's HEADERS: a client that never
        # finishes its message gets DEADLINE_EXCEEDED, and the late rest of
        # the message creates nothing.
        before = self.tenant_names()
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False, grpc_timeout="300m")
        c.send(sid, body[:-2])
        r = c.response(sid, timeout=30)
        self.assert_grpc_error(r, DEADLINE_EXCEEDED, "CreateTenant left incomplete past its deadline")
        try:
            c.send(sid, body[-2:], end=True)
        except Exception:
            pass                        # the stream may be closed already
        c.settle()
        self.assert_absent(req.tenant.name, c)
        self.assert_state_unchanged(before, "expired CreateTenant")

    def test_watch_without_timeout_stays_open(self):
        # The counterpart of the test above: with no deadline (and no events)
        # the stream is not ended by the server.
        c = self.connect()
        sid = self.watch(c)
        c.settle()
        self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)
        c.settle()
        self.assertFalse(c.streams[sid].done, "watch ended by itself: %r" % vars(c.streams[sid]))
        c.reset(sid, CANCEL)


class MessageEncoding(SharedMvmd, unittest.TestCase):

    def test_error_message_percent_encoded(self):
        before = self.tenant_names()
        c = self.connect()
        for name in ("bad-\u00e9l\u00e8ve", "100%-bad", "caf\u00e9 %41", "\u65e5\u672c"):
            with self.subTest(name=name):
                r = c.call(TENANT_SVC + "CreateTenant", self.tenant_req(name=name))
                self.assert_grpc_error(r, INVALID_ARGUMENT, "tenant name %r" % name)
                raw = r.grpc_message_raw
                self.assertIsNotNone(raw, "INVALID_ARGUMENT without grpc-message: %s" % r)
                bad = [b for b in raw if b < 0x20 or b > 0x7E]
                self.assertEqual(bad, [], "grpc-message has raw bytes outside 0x20-0x7E: %r" % raw)
                self.assertIsNone(re.search(rb"%(?![0-9A-Fa-f]{2})", raw),
                                  "grpc-message has a '%%' that is not an escape: %r" % raw)
                self.assertIn(name, r.grpc_message,
                              "decoded grpc-message %r does not name the rejected name %r (raw %r)"
                              % (r.grpc_message, name, raw))
        self.assert_state_unchanged(before, "invalid tenant names")

    def test_ascii_error_message_readable(self):
        # Printable ASCII other than '%' needs no escaping; the message must
        # still decode to text naming what is wrong.
        c = self.connect()
        r = self.get_tenant("no-such-tenant-xyz", c)
        self.assert_grpc_error(r, 5, "GetTenant of a missing tenant")
        self.assertIn("no-such-tenant-xyz", r.grpc_message, "NOT_FOUND message: %s" % r)


class Cancellation(SharedMvmd, unittest.TestCase):

    def test_rst_stream_cancels_watch_and_server_keeps_serving(self):
        c = self.connect()
        other = self.connect()
        w1 = self.watch(c)
        w2 = self.watch(other)
        c.settle()
        c.reset(w1, CANCEL)
        c.settle()
        # Frames on the cancelled stream may have crossed the RST_STREAM, but
        # the connection is not torn down and new calls work, on it and others.
        self.assertIsNone(c.goaway, "GOAWAY after a client RST_STREAM: %s" % (c.goaway,))
        name = self.create_tenant(c)
        self.assert_present(name, c)
        self.assertFalse(other.streams[w2].done, "cancelling one watch ended another")
        # A second watch on the same connection, cancelled before the server
        # can have sent anything on it.
        w3 = self.watch(c)
        c.reset(w3, CANCEL)
        self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)
        self.assertEqual(self.connect().call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)
        other.reset(w2, CANCEL)

    def test_rst_stream_mid_request_leaves_no_state(self):
        before = self.tenant_names()
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, body[:-2])
        c.reset(sid, CANCEL)
        c.settle()
        self.assertNotIn(HEADERS, [f[0] for f in c.streams[sid].frames],
                         "a reply to a request that never completed: %r" % c.streams[sid].frames)
        self.assert_absent(req.tenant.name, c)
        self.assert_state_unchanged(before, "cancelled CreateTenant")


if __name__ == "__main__":
    main()
