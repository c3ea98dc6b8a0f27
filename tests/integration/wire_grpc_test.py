#!/usr/bin/python3
"""wire_grpc_test - mvmd follows gRPC over HTTP/2 for good requests and
refuses bad ones precisely, without any change of state.

Run: python3 wire_grpc_test.py BUILD_DIR
"""
import unittest
import gzip

from wire_h2 import (
    DATA, pb_field, varint,
    HEADERS, FLAG_END_STREAM, MAX_MESSAGE, PROTOCOL_ERROR, TENANT_SVC, INSTANCE_SVC,
    OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, SharedMvmd,
    grpc_frame, header, protos, main)


class _Base(SharedMvmd):
    def assert_ok_reply_shape(self, r, what):
        """Response HEADERS :status 200 + application/grpc content-type, one
        uncompressed message, trailers with grpc-status 0 ending the stream."""
        self.assertIsNone(r.reset, "%s: %s" % (what, r))
        self.assertEqual(r.status, 200, "%s: %s" % (what, r))
        ct = header(r.headers, "content-type") or ""
        self.assertTrue(ct.startswith("application/grpc"), "%s: content-type %r" % (what, ct))
        self.assertIsNone(header(r.headers, "grpc-status"),
                          "%s: grpc-status in the leading HEADERS of a reply with a message: %s"
                          % (what, r))
        self.assertFalse(r.trailers_only, "%s: %s" % (what, r))
        self.assertIsNone(r.framing_error, "%s: %s" % (what, r))
        self.assertEqual(len(r.messages), 1, "%s: %s" % (what, r))
        self.assertEqual(r.grpc_status, OK, "%s: %s" % (what, r))
        # The last frame on the stream is the trailers HEADERS with END_STREAM.
        self.assertEqual(r.frames[-1][0], HEADERS, "%s: frames %s" % (what, r.frames))
        self.assertTrue(r.frames[-1][1] & FLAG_END_STREAM, "%s: frames %s" % (what, r.frames))
        self.assertEqual(r.frames[0][0], HEADERS, "%s: frames %s" % (what, r.frames))


class ValidCallsTLS(_Base, unittest.TestCase):
    """Well-formed calls, framed every legal way, succeed."""

    transport = "tls"

    def test_unary_reply_headers_message_trailers(self):
        pb = protos()["tenant"]
        c = self.connect()
        req = self.tenant_req()
        r = c.call(TENANT_SVC + "CreateTenant", req)
        self.assert_ok_reply_shape(r, "CreateTenant")
        t = r.message(pb.Tenant)
        self.assertEqual((t.name, t.net_id, t.subnet),
                         (req.tenant.name, req.tenant.net_id, req.tenant.subnet))
        g = self.get_tenant(req.tenant.name, c)
        self.assert_ok_reply_shape(g, "GetTenant")
        self.assertEqual(g.message(pb.Tenant).name, req.tenant.name)

    def test_message_split_across_data_frames(self):
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        # The prefix itself is split (3 + 2 bytes), then the payload in 4 pieces.
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, body[:3])
        c.send(sid, body[3:5])
        rest = body[5:]
        q = max(1, len(rest) // 4)
        for i in range(0, len(rest), q):
            c.send(sid, rest[i:i + q], end=(i + q >= len(rest)))
        r = c.response(sid)
        self.assert_ok_reply_shape(r, "split CreateTenant")
        self.assert_present(req.tenant.name, c)

    def test_message_byte_by_byte_with_empty_frames(self):
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, b"")                  # an empty DATA frame is legal
        c.send(sid, body, chunk=1)        # one DATA frame per byte
        c.send(sid, b"", end=True)        # END_STREAM on an empty DATA frame
        r = c.response(sid)
        self.assert_ok_reply_shape(r, "byte-by-byte CreateTenant")
        self.assert_present(req.tenant.name, c)

    def test_end_stream_on_headers_frame_after_data(self):
        # END_STREAM may also come on the last DATA frame's own flag; here the
        # message goes in one frame and the half-close is a separate empty frame.
        c = self.connect()
        pb = protos()["tenant"]
        sid = c.start(TENANT_SVC + "ListTenants", grpc_frame(pb.ListTenantsRequest().SerializeToString()),
                      end=False)
        c.end(sid)
        self.assert_ok_reply_shape(c.response(sid), "ListTenants half-closed later")

    def test_two_concurrent_requests_one_connection(self):
        pb = protos()["tenant"]
        c = self.connect()
        a, b = self.tenant_req(), self.tenant_req()
        fa = grpc_frame(a.SerializeToString())
        fb = grpc_frame(b.SerializeToString())
        sa = c.start(TENANT_SVC + "CreateTenant", end=False)
        sb = c.start(TENANT_SVC + "CreateTenant", end=False)
        # Interleave the two bodies; finish the second stream first.
        c.send(sa, fa[:7])
        c.send(sb, fb[:9])
        c.send(sb, fb[9:], end=True)
        c.send(sa, fa[7:], end=True)
        ra, rb = c.response(sa), c.response(sb)
        self.assert_ok_reply_shape(ra, "stream A")
        self.assert_ok_reply_shape(rb, "stream B")
        self.assertEqual(ra.message(pb.Tenant).name, a.tenant.name)
        self.assertEqual(rb.message(pb.Tenant).name, b.tenant.name)

    def test_many_concurrent_streams_get_their_own_replies(self):
        pb = protos()["tenant"]
        c = self.connect()
        names = [self.create_tenant(c) for _ in range(3)]
        sids = {}
        for i in range(24):
            n = names[i % 3] if i % 2 == 0 else "absent-%d" % i
            sids[c.start(TENANT_SVC + "GetTenant",
                         grpc_frame(pb.GetTenantRequest(name=n).SerializeToString()))] = n
        for sid, n in sids.items():
            r = c.response(sid)
            if n.startswith("absent"):
                self.assert_grpc_error(r, 5, "GetTenant %s" % n)
            else:
                self.assert_ok_reply_shape(r, "GetTenant %s" % n)
                self.assertEqual(r.message(pb.Tenant).name, n)

    def test_empty_message_is_a_valid_request(self):
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", b"")     # 5-byte prefix, length 0
        self.assert_ok_reply_shape(r, "ListTenants with a zero-length message")

    def test_content_type_grpc_proto_and_generous_timeout_accepted(self):
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", b"",
                   replace={"content-type": "application/grpc+proto"}, grpc_timeout="60S")
        self.assert_ok_reply_shape(r, "content-type application/grpc+proto, grpc-timeout 60S")

    def test_user_agent_and_custom_metadata_accepted(self):
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", b"",
                   extra=[("user-agent", "wire-test/1"), ("x-request-id", "abc"),
                          ("x-bin-bin", "AAEC"), ("grpc-accept-encoding", "identity")])
        self.assert_ok_reply_shape(r, "custom metadata")

    def test_reply_respects_client_flow_control_window(self):
        # The client allows 7 bytes per stream until it sends WINDOW_UPDATE:
        # the server must send the reply in pieces (h2 fails the connection
        # on any DATA beyond the window).
        import h2.settings
        pb = protos()["tenant"]
        names = [self.create_tenant() for _ in range(3)]
        c = self.connect()
        c.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 7})
        c.flush()
        c.settle()
        r = c.call(TENANT_SVC + "ListTenants", pb.ListTenantsRequest(page_size=1000))
        self.assertIsNone(c.h2_error, "server broke flow control: %s" % c.h2_error)
        self.assert_ok_reply_shape(r, "ListTenants with a 7-byte window")
        got = [t.name for t in r.message(pb.ListTenantsResponse).tenants]
        for n in names:
            self.assertIn(n, got)
        self.assertGreater(len([f for f in r.frames if f[0] == DATA]), 3,
                           "reply not split by the window: %s" % r.frames)

    def test_message_of_exactly_max_size_accepted(self):
        # ListTenantsRequest padded with an unknown length-delimited field
        # (number 1000) to exactly 4 MiB: not over the limit, so not refused.
        n = MAX_MESSAGE
        tag = b"\xc2\x3e"                 # field 1000, wire type 2
        # varint of the pad length (4 bytes for values < 2^28)
        pad = n - len(tag) - 4
        v = bytes([(pad & 0x7F) | 0x80, ((pad >> 7) & 0x7F) | 0x80,
                   ((pad >> 14) & 0x7F) | 0x80, (pad >> 21) & 0x7F])
        msg = tag + v + b"\0" * pad
        self.assertEqual(len(msg), n)
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", msg, timeout=60)
        self.assertNotEqual(r.grpc_status, RESOURCE_EXHAUSTED,
                            "a message of exactly the 4 MiB limit was refused: %s" % r)
        self.assert_ok_reply_shape(r, "4 MiB ListTenants")


class ValidCallsUnix(ValidCallsTLS):
    transport = "unix"


class BadRequests(_Base, unittest.TestCase):
    """Bad requests get the precise refusal and change nothing."""

    transport = "tls"

    def setUp(self):
        self.before = self.tenant_names()

    def tearDown(self):
        self.assert_state_unchanged(self.before, self.id())

    def assert_trailers_only(self, r, code, what):
        self.assert_grpc_error(r, code, what)
        self.assertTrue(r.trailers_only, "%s: not Trailers-Only: %s" % (what, r))
        self.assertEqual(len(r.frames), 1, "%s: Trailers-Only must be one HEADERS frame: %s" % (what, r))
        self.assertEqual(r.frames[0][0], HEADERS, "%s: %s" % (what, r))
        self.assertTrue(r.frames[0][1] & FLAG_END_STREAM, "%s: %s" % (what, r))
        ct = header(r.headers, "content-type") or ""
        self.assertTrue(ct.startswith("application/grpc"), "%s: content-type %r" % (what, ct))

    def assert_malformed_refused(self, r, what):
        """RFC 9113 8.1.1: a malformed request is a stream error of type
        PROTOCOL_ERROR (a server may answer 400 first)."""
        self.assertTrue(r.reset == PROTOCOL_ERROR or r.status == 400,
                        "%s: want RST_STREAM(PROTOCOL_ERROR) or :status 400: %s" % (what, r))

    def test_unknown_service_is_unimplemented_trailers_only(self):
        c = self.connect()
        r = c.call("/mvm.v1.NoSuchService/GetTenant", protos()["tenant"].GetTenantRequest(name="x"))
        self.assert_trailers_only(r, UNIMPLEMENTED, "unknown service")

    def test_unknown_method_is_unimplemented_trailers_only(self):
        c = self.connect()
        r = c.call(TENANT_SVC + "NoSuchMethod", self.tenant_req())
        self.assert_trailers_only(r, UNIMPLEMENTED, "unknown method")

    def test_method_of_other_service_is_unimplemented(self):
        # GetTenant exists, but not on InstanceService.
        c = self.connect()
        r = c.call(INSTANCE_SVC + "CreateTenant", self.tenant_req())
        self.assert_trailers_only(r, UNIMPLEMENTED, "CreateTenant on InstanceService")

    def test_paths_not_naming_a_method_are_unimplemented(self):
        c = self.connect()
        for path in ("/", "/mvm.v1.TenantService", "/mvm.v1.TenantService/", "//GetTenant",
                     "/mvm.v1.TenantService/GetTenant/", "/mvm.v1.TenantService/GetTenant?x=1",
                     "/mvm.v1.tenantservice/gettenant", "/mvm.v1.TenantService/CreateTenant%00"):
            with self.subTest(path=path):
                r = c.call(path, self.tenant_req())
                self.assert_trailers_only(r, UNIMPLEMENTED, ":path %r" % path)

    def test_path_without_leading_slash_is_malformed(self):
        c = self._raw_conn()
        for path in ("mvm.v1.TenantService/CreateTenant", "*"):
            with self.subTest(path=path):
                req = self.tenant_req()
                sid = c.start(None, grpc_frame(req.SerializeToString()),
                              headers=c.request_headers(path))
                self.assert_malformed_refused(c.response(sid), ":path %r" % path)
                self.assert_absent(req.tenant.name, c)

    def test_unknown_method_without_end_stream_still_answered(self):
        # The refusal must not wait for the request body.
        c = self.connect()
        sid = c.start(TENANT_SVC + "NoSuchMethod", end=False)
        r = c.response(sid)
        self.assert_grpc_error(r, UNIMPLEMENTED, "unknown method, request still open")

    def test_content_type_not_grpc_is_415(self):
        c = self.connect()
        for ct in ("application/json", "text/plain", "application/grpcx", "application/grp"):
            with self.subTest(content_type=ct):
                req = self.tenant_req()
                r = c.call(TENANT_SVC + "CreateTenant", req, replace={"content-type": ct})
                self.assertIsNone(r.reset, "content-type %s: %s" % (ct, r))
                self.assertEqual(r.status, 415, "content-type %s: %s" % (ct, r))
                self.assert_absent(req.tenant.name, c)

    def test_missing_content_type_is_415(self):
        c = self.connect()
        req = self.tenant_req()
        r = c.call(TENANT_SVC + "CreateTenant", req, drop={"content-type"})
        self.assertIsNone(r.reset, "no content-type: %s" % r)
        self.assertEqual(r.status, 415, "no content-type: %s" % r)
        self.assert_absent(req.tenant.name, c)

    def test_method_not_post_refused(self):
        c = self.connect()
        for m in ("GET", "PUT", "DELETE"):
            with self.subTest(method=m):
                req = self.tenant_req()
                r = c.call(TENANT_SVC + "CreateTenant", req, replace={":method": m})
                self.assertIsNone(r.reset, "%s: %s" % (m, r))
                self.assertTrue(r.status == 405 or (r.status == 200 and r.grpc_status not in (None, OK)),
                                ":method %s: want 405 or a gRPC error: %s" % (m, r))
                self.assert_absent(req.tenant.name, c)

    def test_malformed_requests_are_stream_errors(self):
        cases = {
            "no :path": dict(drop={":path"}),
            "no :method": dict(drop={":method"}),
            "no :scheme": dict(drop={":scheme"}),
            "te: gzip": dict(replace={"te": "gzip"}),
            "connection header": dict(extra=[("connection", "keep-alive")]),
            "uppercase name": dict(extra=[("X-Upper", "1")]),
            "unknown pseudo-header after regular headers": dict(extra=[(":foo", "bar")]),
            "CR LF in a value": dict(extra=[("x-bad", "a\r\nb")]),
            "NUL in a value": dict(extra=[("x-bad", "a\x00b")]),
            "space in a name": dict(extra=[("x bad", "1")]),
            "content-length not matching the body": dict(extra=[("content-length", "3")]),
        }
        for what, kw in cases.items():
            with self.subTest(case=what):
                c = self._raw_conn()
                req = self.tenant_req()
                hs = c.request_headers(TENANT_SVC + "CreateTenant", **kw)
                sid = c.start(None, grpc_frame(req.SerializeToString()), headers=hs)
                r = c.response(sid)
                self.assert_malformed_refused(r, what)
                # A stream error leaves the connection usable.
                self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK,
                                 "connection unusable after %s" % what)
                self.assert_absent(req.tenant.name, c)

    def _raw_conn(self):
        from wire_h2 import H2Conn, tls_socket, tls_context
        s = tls_socket(self.mvmd.tls_addr, tls_context(self.mvmd.certs))
        c = H2Conn(s, "https", validate=False)
        self.addCleanup(c.close)
        return c

    def test_missing_te_trailers_answered_with_grpc_status(self):
        # The spec requires "te: trailers" of clients but does not say how a
        # server treats its absence: either way the reply is well-formed gRPC.
        c = self.connect()
        r = c.call(TENANT_SVC + "ListTenants", b"", drop={"te"})
        self.assertIsNone(r.reset, "no te: %s" % r)
        self.assertIn(r.status, (200, 400), "no te: %s" % r)
        if r.status == 200:
            self.assertIsNotNone(r.grpc_status, "no te: %s" % r)
        self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)

    def test_unsupported_grpc_encoding_is_unimplemented_with_accept_encoding(self):
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(gzip.compress(req.SerializeToString()), compressed=1)
        sid = c.start(TENANT_SVC + "CreateTenant", body, extra=[("grpc-encoding", "gzip")])
        r = c.response(sid)
        self.assert_grpc_error(r, UNIMPLEMENTED, "grpc-encoding gzip")
        acc = header(r.headers, "grpc-accept-encoding") or header(r.trailers, "grpc-accept-encoding")
        self.assertIsNotNone(acc, "no grpc-accept-encoding in the reply: %s" % r)
        self.assertIn("identity", [e.strip() for e in acc.split(",")],
                      "grpc-accept-encoding %r lacks identity" % acc)
        self.assert_absent(req.tenant.name, c)

    def test_compressed_flag_without_grpc_encoding_is_internal(self):
        c = self.connect()
        req = self.tenant_req()
        sid = c.start(TENANT_SVC + "CreateTenant", grpc_frame(req.SerializeToString(), compressed=1))
        r = c.response(sid)
        self.assert_grpc_error(r, INTERNAL, "compressed flag 1 without grpc-encoding")
        self.assertTrue(r.grpc_message, "INTERNAL without a grpc-message: %s" % r)
        self.assert_absent(req.tenant.name, c)

    def test_message_over_4MiB_refused_at_its_prefix(self):
        # Only the 5-byte prefix is sent and the stream stays open: a server
        # that waited for (or buffered) the 4 MiB would never answer.
        c = self.connect()
        for n in (MAX_MESSAGE + 1, 0xFFFFFFFF):
            with self.subTest(length=n):
                sid = c.start(TENANT_SVC + "CreateTenant", end=False)
                c.send(sid, grpc_frame(b"", length=n))
                r = c.response(sid, timeout=20)
                self.assert_grpc_error(r, RESOURCE_EXHAUSTED, "prefix length %d" % n)
                self.assertTrue(r.grpc_message, "RESOURCE_EXHAUSTED without a message: %s" % r)
        self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK,
                         "connection unusable after an oversize prefix")

    def test_truncated_message_is_internal(self):
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        for cut, what in ((len(body) - 3, "payload cut"), (3, "prefix cut")):
            with self.subTest(case=what):
                sid = c.start(TENANT_SVC + "CreateTenant", body[:cut])   # END_STREAM mid-message
                r = c.response(sid)
                self.assert_grpc_error(r, INTERNAL, "END_STREAM mid-message (%s)" % what)
        self.assert_absent(req.tenant.name, c)

    def test_garbage_protobuf_refused_with_message(self):
        c = self.connect()
        for junk in (b"\xff\xff\xff\xff\xff", b"\x0a\x7f\x01", b"\x0a\x05\x0a\xff\xff\xff\xff",
                     b"\x0f", b"\x0a\x03abc\x10"):
            with self.subTest(junk=junk):
                r = c.call(TENANT_SVC + "CreateTenant", junk)
                self.assert_grpc_error(r, (INTERNAL, INVALID_ARGUMENT), "garbage %r" % junk)
                self.assertTrue(r.grpc_message, "garbage %r: no grpc-message: %s" % (junk, r))

    def test_two_messages_on_unary_call_refused(self):
        c = self.connect()
        a, b = self.tenant_req(), self.tenant_req()
        fa, fb = grpc_frame(a.SerializeToString()), grpc_frame(b.SerializeToString())
        with self.subTest(frames="one DATA frame"):
            sid = c.start(TENANT_SVC + "CreateTenant", fa + fb)
            r = c.response(sid)
            self.assertIsNotNone(r.grpc_status, "two messages: %s" % r)
            self.assertNotEqual(r.grpc_status, OK, "two messages on a unary call accepted: %s" % r)
            self.assert_absent(a.tenant.name, c)
            self.assert_absent(b.tenant.name, c)
        a, b = self.tenant_req(), self.tenant_req()
        fa, fb = grpc_frame(a.SerializeToString()), grpc_frame(b.SerializeToString())
        with self.subTest(frames="two DATA frames"):
            sid = c.start(TENANT_SVC + "CreateTenant", end=False)
            c.send(sid, fa)
            c.send(sid, fb, end=True)
            r = c.response(sid)
            self.assertIsNotNone(r.grpc_status, "two messages: %s" % r)
            self.assertNotEqual(r.grpc_status, OK, "two messages on a unary call accepted: %s" % r)
            self.assert_absent(b.tenant.name, c)

    def test_no_message_on_unary_call_refused(self):
        c = self.connect()
        sid = c.start(TENANT_SVC + "CreateTenant")      # HEADERS with END_STREAM, no DATA
        r = c.response(sid)
        self.assertIsNotNone(r.grpc_status, "no message: %s" % r)
        self.assertNotEqual(r.grpc_status, OK, "a unary call without a request message succeeded: %s" % r)

    def test_watch_needs_exactly_one_request_message(self):
        c = self.connect()
        pb = protos()["instance"]
        one = grpc_frame(pb.WatchInstancesRequest().SerializeToString())
        for what, body in (("no message", b""), ("two messages", one + one)):
            with self.subTest(case=what):
                sid = c.start(INSTANCE_SVC + "WatchInstances", body)
                r = c.response(sid)
                self.assertIsNotNone(r.grpc_status, "WatchInstances with %s: %s" % (what, r))
                self.assertNotEqual(r.grpc_status, OK, "WatchInstances with %s: %s" % (what, r))

    def test_connection_dropped_mid_request_leaves_no_state(self):
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, body)                 # the whole message, but no END_STREAM
        c.settle()
        c.close()
        self.assert_absent(req.tenant.name)


class InvalidUtf8(_Base, unittest.TestCase):
    """proto3 string fields must hold valid UTF-8, and a parser must refuse
    others: a stored invalid string would break every client that reads it
    back (Python and Go protobuf refuse to parse it). Its own mvmd, so that
    such a tenant, if accepted, does not spoil the other suites' listings."""

    def test_invalid_utf8_in_string_fields_refused(self):
        c = self.connect()
        cases = {
            "label value": lambda b: b + pb_field(5, pb_field(1, b"k") + pb_field(2, b"\xff\xfe")),
            "label key": lambda b: b + pb_field(5, pb_field(1, b"k\xc3") + pb_field(2, b"v")),
            "subnet (overlong '/')": lambda b: b + pb_field(3, b"10.240.0.0\xc0\xaf24"),
        }
        for what, build in cases.items():
            with self.subTest(field=what):
                name, net_id, subnet = self.next_tenant()
                base = pb_field(1, name.encode()) + b"\x10" + varint(net_id)
                if not what.startswith("subnet"):
                    base += pb_field(3, subnet.encode())
                r = c.call(TENANT_SVC + "CreateTenant", pb_field(1, build(base)))
                self.assert_grpc_error(r, (INTERNAL, INVALID_ARGUMENT), "invalid UTF-8 in %s" % what)
                self.assertTrue(r.grpc_message, "no grpc-message: %s" % r)
                self.assert_absent(name, c)

    def test_invalid_utf8_name_refused_with_encoded_message(self):
        c = self.connect()
        _, net_id, subnet = self.next_tenant()
        req = pb_field(1, pb_field(1, b"bad\xe9name") + b"\x10" + varint(net_id) +
                       pb_field(3, subnet.encode()))
        r = c.call(TENANT_SVC + "CreateTenant", req)
        self.assert_grpc_error(r, (INTERNAL, INVALID_ARGUMENT), "invalid UTF-8 in the name")
        raw = r.grpc_message_raw or b""
        self.assertTrue(raw, "no grpc-message: %s" % r)
        self.assertEqual([b for b in raw if b < 0x20 or b > 0x7E], [],
                         "grpc-message not percent-encoded: %r" % raw)


class BadRequestsUnix(_Base, unittest.TestCase):
    """A sample of the refusals over the Unix socket (same transport code,
    different listener)."""

    transport = "unix"

    def test_unknown_method_unimplemented(self):
        c = self.connect()
        r = c.call(TENANT_SVC + "NoSuchMethod", b"")
        self.assert_grpc_error(r, UNIMPLEMENTED, "unknown method over unix")
        self.assertTrue(r.trailers_only, "not Trailers-Only: %s" % r)

    def test_content_type_415(self):
        c = self.connect()
        req = self.tenant_req()
        r = c.call(TENANT_SVC + "CreateTenant", req, replace={"content-type": "application/json"})
        self.assertEqual(r.status, 415, "unix: %s" % r)
        self.assert_absent(req.tenant.name, c)

    def test_oversize_prefix_resource_exhausted(self):
        c = self.connect()
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, grpc_frame(b"", length=MAX_MESSAGE + 1))
        self.assert_grpc_error(c.response(sid, timeout=20), RESOURCE_EXHAUSTED, "unix oversize")


if __name__ == "__main__":
    main()
