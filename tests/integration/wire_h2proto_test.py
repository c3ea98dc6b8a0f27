#!/usr/bin/python3
"""wire_h2proto_test - HTTP/2 protocol garbage: a bad connection preface or
a malformed frame ends that connection (GOAWAY where the peer spoke HTTP/2),
and mvmd goes on serving every other connection.

Run: python3 wire_h2proto_test.py BUILD_DIR
"""
import struct
import time
import unittest

from wire_h2 import (
    DATA, FRAME_SIZE_ERROR, GOAWAY, HEADERS, OK, PING, PREFACE, PROTOCOL_ERROR,
    RST_STREAM, SETTINGS, TENANT_SVC, WINDOW_UPDATE, FLAG_END_HEADERS,
    FLAG_END_STREAM, INTERNAL_ERROR, connect_unix, protos, NO_ERROR, REFUSED_STREAM, ConnectionClosed, grpc_frame, H2Conn, SharedMvmd, raw_frame, tls_context, tls_socket, main)
import socket

FLOW_CONTROL_ERROR, STREAM_CLOSED, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 3, 5, 9, 11
PUSH_PROMISE, CONTINUATION = 5, 9


class _Base(SharedMvmd):
    def setUp(self):
        # A connection opened before the garbage, used after it.
        self.bystander = self.connect()
        self.assertEqual(self.bystander.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)

    def tearDown(self):
        self.assertIsNone(self.mvmd.proc.poll(), "mvmd exited: %s" % self.mvmd.log_tail())
        r = self.bystander.call(TENANT_SVC + "ListTenants", b"")
        self.assertEqual(r.grpc_status, OK, "a bystander connection broke: %s" % r)
        r = self.connect().call(TENANT_SVC + "ListTenants", b"")
        self.assertEqual(r.grpc_status, OK, "a new connection after the garbage failed: %s" % r)

    def raw_socket(self):
        if self.transport == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(self.mvmd.unix_path)
        else:
            s = tls_socket(self.mvmd.tls_addr, tls_context(self.mvmd.certs))
        self.addCleanup(s.close)
        return s

    def read_until_closed(self, s, timeout=15.0):
        """Everything the server sends until it closes; fails if it keeps
        the connection open past timeout."""
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(0.5)
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return got
            if not d:
                return got
            got += d
        self.fail("server kept the connection open %.0fs after garbage; got %r" % (timeout, got[:200]))

    def frames_of(self, data):
        """[(type, flags, stream, payload)] of a server byte stream."""
        out, i = [], 0
        while len(data) - i >= 9:
            n = int.from_bytes(data[i:i + 3], "big")
            if len(data) - i - 9 < n:
                break
            out.append((data[i + 3], data[i + 4],
                        int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF,
                        data[i + 9:i + 9 + n]))
            i += 9 + n
        return out

    def goaway_after(self, garbage, codes, what, preface=True):
        """Sends a valid preface + SETTINGS, then garbage; the server must
        answer with GOAWAY carrying one of codes and close."""
        s = self.raw_socket()
        hello = (PREFACE + raw_frame(SETTINGS, 0, 0, b"")) if preface else b""
        s.sendall(hello + garbage)
        data = self.read_until_closed(s)
        frames = self.frames_of(data)
        gas = [f for f in frames if f[0] == GOAWAY]
        self.assertTrue(gas, "%s: no GOAWAY before close; frames %s" %
                        (what, [(f[0], f[1], f[2]) for f in frames]))
        last, code = struct.unpack(">II", gas[-1][3][:8])
        self.assertIn(code, codes, "%s: GOAWAY error code %d, want one of %s" % (what, code, codes))
        self.assertEqual(gas[-1][2], 0, "%s: GOAWAY on a stream" % what)
        return last


class ProtocolGarbageTLS(_Base, unittest.TestCase):
    transport = "tls"

    def test_http1_request_instead_of_preface_closes_connection(self):
        s = self.raw_socket()
        s.sendall(b"GET /mvm.v1.TenantService/ListTenants HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = self.read_until_closed(s)
        self.assertFalse(data.startswith(b"HTTP/1.1 2"), "HTTP/1.1 request served: %r" % data[:100])

    def test_wrong_preface_bytes_close_connection(self):
        s = self.raw_socket()
        bad = bytearray(PREFACE)
        bad[5] ^= 0x20                        # "PRI * http/2.0..."
        s.sendall(bytes(bad) + raw_frame(SETTINGS, 0, 0, b""))
        data = self.read_until_closed(s)
        # Whatever came back (a GOAWAY at most) is not a served stream.
        self.assertNotIn(HEADERS, [f[0] for f in self.frames_of(data)],
                         "HEADERS sent on a connection with a bad preface")

    def test_truncated_preface_then_close_is_harmless(self):
        s = self.raw_socket()
        s.sendall(PREFACE[:10])
        s.close()

    def test_settings_with_bad_length_is_frame_size_error(self):
        self.goaway_after(raw_frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"),
                          (FRAME_SIZE_ERROR,), "SETTINGS of 5 bytes")

    def test_data_on_stream_zero_is_protocol_error(self):
        self.goaway_after(raw_frame(DATA, 0, 0, b"xx"), (PROTOCOL_ERROR,), "DATA on stream 0")

    def test_headers_with_garbage_hpack_is_compression_error(self):
        self.goaway_after(raw_frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1,
                                    b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
                          (COMPRESSION_ERROR,), "undecodable HPACK block")

    def test_window_update_zero_on_connection_is_protocol_error(self):
        self.goaway_after(raw_frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"),
                          (PROTOCOL_ERROR,), "WINDOW_UPDATE increment 0 on stream 0")

    def test_ping_with_bad_length_is_frame_size_error(self):
        self.goaway_after(raw_frame(PING, 0, 0, b"1234567"), (FRAME_SIZE_ERROR,), "PING of 7 bytes")

    def test_frame_over_max_frame_size_is_frame_size_error(self):
        # SETTINGS_MAX_FRAME_SIZE is 16384 unless the server raised it; even
        # then a DATA frame on an idle stream is a connection error.
        self.goaway_after(raw_frame(DATA, 0, 1, b"\0" * ((1 << 14) + 1)),
                          (FRAME_SIZE_ERROR, PROTOCOL_ERROR), "oversized DATA on idle stream 1")

    def test_even_stream_id_from_client_is_protocol_error(self):
        hdr = b"\x83\x86\x84"                 # :method POST, :scheme https, :path /
        self.goaway_after(raw_frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 2, hdr),
                          (PROTOCOL_ERROR,), "HEADERS on even stream 2")

    def test_rst_stream_on_idle_stream_is_protocol_error(self):
        self.goaway_after(raw_frame(RST_STREAM, 0, 9, b"\x00\x00\x00\x08"),
                          (PROTOCOL_ERROR,), "RST_STREAM on idle stream 9")

    def test_garbage_after_a_served_call_goaway_names_last_stream(self):
        # A call is served first; the GOAWAY for the later garbage must
        # report it as processed (last-stream-id >= 1).
        s = self.raw_socket()
        c = H2Conn(s, "https")
        r = c.call(TENANT_SVC + "ListTenants", b"")
        self.assertEqual(r.grpc_status, OK, "%s" % r)
        c.send_raw(raw_frame(DATA, 0, 0, b"zz"))
        self.assertTrue(c.wait_closed(15), "server kept a connection open after DATA on stream 0")
        self.assertIsNotNone(c.goaway, "no GOAWAY before close")
        self.assertEqual(c.goaway[1], PROTOCOL_ERROR, "GOAWAY %s" % (c.goaway,))
        self.assertGreaterEqual(c.goaway[0], 1, "GOAWAY last-stream-id %s" % (c.goaway,))

    def test_many_garbage_connections_in_a_row(self):
        for i in range(20):
            s = self.raw_socket()
            s.sendall(b"\0" * 24 + bytes([i]) * 40)
            self.read_until_closed(s)

    def test_settings_with_bad_values(self):
        cases = (
            ("INITIAL_WINDOW_SIZE 2^31", 0x4, 1 << 31, (FLOW_CONTROL_ERROR,)),
            ("ENABLE_PUSH 2", 0x2, 2, (PROTOCOL_ERROR,)),
            ("MAX_FRAME_SIZE 100", 0x5, 100, (PROTOCOL_ERROR,)),
            ("MAX_FRAME_SIZE 2^24", 0x5, 1 << 24, (PROTOCOL_ERROR,)),
        )
        for what, ident, value, codes in cases:
            with self.subTest(setting=what):
                self.goaway_after(raw_frame(SETTINGS, 0, 0, struct.pack(">HI", ident, value)),
                                  codes, "SETTINGS %s" % what)

    def test_window_update_overflow_on_connection_is_flow_control_error(self):
        self.goaway_after(raw_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)),
                          (FLOW_CONTROL_ERROR,), "connection window over 2^31-1")

    def test_push_promise_from_client_is_protocol_error(self):
        self.goaway_after(raw_frame(PUSH_PROMISE, FLAG_END_HEADERS, 1, b"\x00\x00\x00\x02\x82"),
                          (PROTOCOL_ERROR,), "PUSH_PROMISE from a client")

    def test_continuation_without_headers_is_protocol_error(self):
        self.goaway_after(raw_frame(CONTINUATION, FLAG_END_HEADERS, 1, b"\x82"),
                          (PROTOCOL_ERROR,), "CONTINUATION without HEADERS")

    def assert_stream_or_connection_error(self, c, sid, code, what):
        """RFC 9113 asks for a stream error (RST_STREAM with code) here;
        nghttp2 makes some of these a connection error (GOAWAY with the same
        code), which is accepted. Either way the error is reported with the
        right code, and with a stream error the connection stays usable."""
        try:
            c.settle()
        except ConnectionClosed:
            c.wait_closed(10)
        st = c.streams[sid]
        if c.goaway is not None:
            self.assertEqual(c.goaway[1], code, "%s: GOAWAY %s" % (what, c.goaway))
        else:
            self.assertEqual(st.reset, code, "%s: stream frames %r, no GOAWAY" % (what, st.frames))
            self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK,
                             "%s: connection unusable after a stream error" % what)

    def test_data_after_end_stream_is_stream_closed(self):
        # On an open Watch stream the client has half-closed (RFC 9113 5.1).
        c = self.connect()
        w = self.watch(c)
        c.settle()
        c.send_raw(raw_frame(DATA, 0, w, b"\0\0\0\0\0"))
        self.assert_stream_or_connection_error(c, w, STREAM_CLOSED, "DATA after END_STREAM")

    def test_stream_window_overflow_is_flow_control_error(self):
        c = self.connect()
        w = self.watch(c)
        c.settle()
        c.send_raw(raw_frame(WINDOW_UPDATE, 0, w, struct.pack(">I", 0x7FFFFFFF)))
        self.assert_stream_or_connection_error(c, w, FLOW_CONTROL_ERROR, "stream window over 2^31-1")

    def test_more_streams_than_advertised_are_refused(self):
        c = self.connect()
        c.settle()
        limit = c.h2.remote_settings.max_concurrent_streams
        if limit > 5000:
            self.skipTest("mvmd advertises no practical stream limit (%d)" % limit)
        watches = [self.watch(c) for _ in range(limit)]
        c.settle()
        self.assertFalse(any(c.streams[w].done for w in watches),
                         "a watch within the advertised limit of %d ended" % limit)

        class Unlimited:                      # let h2 exceed the peer's limit
            def __init__(self, s):
                self._s = s
            max_concurrent_streams = 1 << 31

            def __getattr__(self, k):
                return getattr(self._s, k)
        real = c.h2.remote_settings
        c.h2.remote_settings = Unlimited(real)
        try:
            extra = self.watch(c)
        except OSError:                       # closed while sending its DATA
            extra = c.h2.highest_outbound_stream_id
        finally:
            c.h2.remote_settings = real
        # RFC 9113 5.1.2: a stream error of type PROTOCOL_ERROR or
        # REFUSED_STREAM; nghttp2 may instead end the connection (GOAWAY
        # PROTOCOL_ERROR) once the limit was acknowledged.
        try:
            c.settle()
        except ConnectionClosed:
            c.wait_closed(10)
        if c.goaway is not None:
            self.assertEqual(c.goaway[1], PROTOCOL_ERROR, "GOAWAY %s" % (c.goaway,))
            self.assertLess(c.goaway[0], extra, "GOAWAY counts the refused stream as processed")
        else:
            self.assertIn(c.streams[extra].reset, (REFUSED_STREAM, PROTOCOL_ERROR),
                          "stream %d over SETTINGS_MAX_CONCURRENT_STREAMS=%d: %r"
                          % (extra, limit, c.streams[extra].frames))
            c.reset(watches[0])
            self.assertEqual(c.call(TENANT_SVC + "ListTenants", b"").grpc_status, OK)

    def test_rapid_reset_flood_server_survives(self):
        # Streams opened and reset at once, many times over (CVE-2023-44487
        # shape): mvmd may end this connection (GOAWAY; nghttp2's reset rate
        # limit uses INTERNAL_ERROR) but must keep serving everyone else.
        c = self.connect()
        try:
            for i in range(2000):
                sid = c.start(TENANT_SVC + "ListTenants", grpc_frame(b""), end=True)
                c.reset(sid)
                if i % 200 == 0:
                    c.pump(0.01)
        except (OSError, ConnectionClosed):
            pass
        if c.goaway is not None:
            self.assertIn(c.goaway[1], (NO_ERROR, ENHANCE_YOUR_CALM, PROTOCOL_ERROR, INTERNAL_ERROR),
                          "GOAWAY after a reset flood: %s" % (c.goaway,))

    def test_huge_header_block_refused_or_served_server_survives(self):
        # 200 KiB of metadata over CONTINUATION frames, far over the 16 KiB
        # SETTINGS_MAX_HEADER_LIST_SIZE mvmd advertises.
        before = self.tenant_names()
        c = self.connect()
        req = self.tenant_req()
        extra = [("x-big-%d" % i, "v" * 4000) for i in range(50)]
        try:
            sid = c.start(TENANT_SVC + "CreateTenant", grpc_frame(req.SerializeToString()), extra=extra)
            r = c.response(sid, timeout=20)
            self.assertTrue(r.reset is not None or r.status == 431 or
                            (r.grpc_status not in (None, OK)),
                            "a 200 KiB header block was served: %s" % r)
        except (ConnectionClosed, OSError):
            # The connection was ended (a GOAWAY before closing is a SHOULD,
            # RFC 9113 5.4.1): not served either.
            pass
        self.assert_absent(req.tenant.name)
        self.assert_state_unchanged(before, "huge header block")

    def test_client_that_never_reads_does_not_block_others(self):
        # A client opens its flow-control windows wide, asks for ~30 MB of
        # replies and never reads: mvmd's writes to it must not stall the
        # I/O threads other connections share.
        import h2.settings
        pb = protos()["tenant"]
        c = self.connect()
        for _ in range(100):
            req = self.tenant_req()
            for j in range(4):
                req.tenant.labels["pad%d" % j] = "x" * 250
            self.assertEqual(c.call(TENANT_SVC + "CreateTenant", req).grpc_status, OK)
        hog = self.connect()
        hog.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0x7FFFFFFF})
        hog.h2.increment_flow_control_window(1 << 30)
        hog.flush()
        body = grpc_frame(pb.ListTenantsRequest(page_size=1000).SerializeToString())
        for _ in range(300):
            hog.start(TENANT_SVC + "ListTenants", body)
        # Several new connections, so that some share the hog's I/O thread.
        for i in range(8):
            r = self.connect().call(TENANT_SVC + "ListTenants", b"", timeout=30)
            self.assertEqual(r.grpc_status, OK, "connection %d while a client does not read: %s" % (i, r))
        u = connect_unix(self.mvmd.unix_path)
        self.addCleanup(u.close)
        self.assertEqual(u.call(TENANT_SVC + "ListTenants", b"", timeout=30).grpc_status, OK)

    def test_control_frame_floods_server_survives(self):
        # Floods that make a server queue replies or do work for nothing
        # (CVE-2019-9512/9515/9518 shapes, CVE-2024-27316): the connection
        # may be ended, mvmd must go on serving others (checked in tearDown).
        floods = {
            "PING": raw_frame(PING, 0, 0, b"12345678") * 20000,
            "SETTINGS": raw_frame(SETTINGS, 0, 0, b"") * 20000,
            "empty DATA": (raw_frame(HEADERS, FLAG_END_HEADERS, 1, b"\x83\x86\x84") +
                           raw_frame(DATA, 0, 1, b"") * 20000),
        }
        for what, data in floods.items():
            with self.subTest(flood=what):
                s = self.raw_socket()
                try:
                    s.sendall(PREFACE + raw_frame(SETTINGS, 0, 0, b"") + data)
                except OSError:
                    pass                # cut off mid-flood: fine
                s.close()
                r = self.connect().call(TENANT_SVC + "ListTenants", b"")
                self.assertEqual(r.grpc_status, OK, "after a %s flood: %s" % (what, r))

    def test_endless_header_block_is_cut_off(self):
        # HEADERS without END_HEADERS, then CONTINUATION frames of 1 KB
        # header fields, 10 MB in all (CVE-2024-27316 shape): mvmd must end
        # the connection rather than take it all in.
        s = self.raw_socket()
        field = b"\x00\x05x-pad\x7f\xe9\x06" + b"a" * 1000   # literal, 1000-byte value
        s.sendall(PREFACE + raw_frame(SETTINGS, 0, 0, b"") +
                  raw_frame(HEADERS, 0, 1, b"\x83\x86\x84"))
        chunk = raw_frame(CONTINUATION, 0, 1, field) * 64
        sent = 0
        try:
            while sent < 10 << 20:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self.assertLess(sent, 10 << 20, "mvmd took a 10 MB header block without ending the connection")
        self.read_until_closed(s)       # ended, not merely stalled


class ProtocolGarbageUnix(_Base, unittest.TestCase):
    transport = "unix"

    def test_bad_preface_closes_connection(self):
        s = self.raw_socket()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = self.read_until_closed(s)
        self.assertFalse(data.startswith(b"HTTP/1.1 2"), "HTTP/1.1 served: %r" % data[:100])

    def test_data_on_stream_zero_is_protocol_error(self):
        self.goaway_after(raw_frame(DATA, 0, 0, b"xx"), (PROTOCOL_ERROR,), "unix: DATA on stream 0")


if __name__ == "__main__":
    main()
