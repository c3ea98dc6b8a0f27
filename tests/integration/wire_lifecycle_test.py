#!/usr/bin/python3
"""wire_lifecycle_test - what a client sees on the wire when mvmd stops:
SIGTERM drains (GOAWAY, in-flight unary calls finish, streams end
UNAVAILABLE, new streams are refused, exit status 0) and SIGKILL loses no
acknowledged write.

Run: python3 wire_lifecycle_test.py BUILD_DIR
"""
import os
import signal
import unittest

from wire_h2 import (
    NO_ERROR, OK, REFUSED_STREAM, TENANT_SVC, UNAVAILABLE, ConnectionClosed,
    WireCase, connect_tls, connect_unix, grpc_frame, start_mvmd, main)

NOTICE_ID = 0x7FFFFFFF       # last-stream-id of a graceful shutdown notice


class Lifecycle(WireCase, unittest.TestCase):

    def setUp(self):
        self.mvmd = start_mvmd()
        self.addCleanup(self.mvmd.close)

    def test_sigterm_drain(self):
        c = self.connect()
        kept = self.create_tenant(c)
        w = self.watch(c)
        # A unary call in flight: opened, all but the last byte of its
        # message sent.
        inflight = self.tenant_req()
        body = grpc_frame(inflight.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, body[:-1])
        c.settle()
        # A second watch, on a Unix-socket connection.
        u = connect_unix(self.mvmd.unix_path)
        self.addCleanup(u.close)
        uw = self.watch(u)
        u.settle()

        self.mvmd.proc.send_signal(signal.SIGTERM)

        # GOAWAY, and eventually the one that names the last stream served
        # (a server may send a shutdown notice with 2^31-1 first).
        c.wait(lambda: c.goaway is not None, 30, "GOAWAY after SIGTERM")
        c.wait(lambda: any(g[0] != NOTICE_ID for g in c.goaways), 30,
               "a GOAWAY with the real last-stream-id (got %s)" % c.goaways)
        final = [g for g in c.goaways if g[0] != NOTICE_ID][0]
        self.assertEqual(final[1], NO_ERROR, "drain GOAWAY error code: %s" % (final,))
        self.assertGreaterEqual(final[0], sid,
                                "GOAWAY last-stream-id %d drops the in-flight call on stream %d"
                                % (final[0], sid))

        # A new stream on the draining connection is not served. It is opened
        # while the unfinished in-flight call still holds the connection open.
        late = self.tenant_req()
        late_sid = c.start(TENANT_SVC + "CreateTenant", grpc_frame(late.SerializeToString()))
        self.assertGreater(late_sid, final[0])
        c.settle()

        # The in-flight unary call completes normally.
        c.send(sid, body[-1:], end=True)
        r = c.response(sid, timeout=60)
        self.assertIsNone(r.reset, "in-flight CreateTenant reset during drain: %s" % r)
        self.assertEqual(r.grpc_status, OK, "in-flight CreateTenant during drain: %s" % r)

        # The watch ends UNAVAILABLE.
        rw = c.response(w, timeout=90)
        self.assertIsNone(rw.reset, "watch was reset instead of ending UNAVAILABLE: %s" % rw)
        self.assertEqual(rw.grpc_status, UNAVAILABLE, "watch at drain: %s" % rw)
        ru = u.response(uw, timeout=90)
        self.assertIsNotNone(u.goaway, "no GOAWAY on the Unix-socket connection")
        self.assertIsNone(ru.reset, "unix watch was reset instead of ending UNAVAILABLE: %s" % ru)
        self.assertEqual(ru.grpc_status, UNAVAILABLE, "unix watch at drain: %s" % ru)

        try:
            rl = c.response(late_sid, timeout=60)
            self.assertNotEqual(rl.grpc_status, OK, "a stream opened after GOAWAY was served: %s" % rl)
            self.assertTrue(rl.reset == REFUSED_STREAM or rl.grpc_status == UNAVAILABLE,
                            "stream after GOAWAY: want RST_STREAM(REFUSED_STREAM) or UNAVAILABLE, got %s"
                            % rl)
        except ConnectionClosed:
            pass              # ignored, and the connection closed: not served either

        # A new connection is not served either (refused, closed, or its
        # call fails).
        new = self.tenant_req()
        r2 = None
        try:
            c2 = connect_tls(self.mvmd.tls_addr, self.mvmd.certs)
            self.addCleanup(c2.close)
            r2 = c2.call(TENANT_SVC + "CreateTenant", new, timeout=60)
        except (OSError, ConnectionClosed):
            pass
        if r2 is not None:
            self.assertNotEqual(r2.grpc_status, OK, "a new connection was served while draining: %s" % r2)

        try:
            rc = self.mvmd.proc.wait(90)
        except Exception:
            self.fail("mvmd still running 90s after SIGTERM with all calls done:\n%s"
                      % self.mvmd.log_tail())
        self.mvmd.stop()          # already exited: only tidies up
        self.assertEqual(rc, 0, "mvmd exit status after SIGTERM:\n%s" % self.mvmd.log_tail())
        self.assertTrue(c.wait_closed(10), "connection still open after mvmd exited")

        # State survives the restart: the acknowledged writes are there, the
        # refused ones are not.
        self.mvmd.start()
        c3 = self.connect()
        self.assert_present(kept, c3)
        self.assert_present(inflight.tenant.name, c3)
        self.assert_absent(late.tenant.name, c3)
        self.assert_absent(new.tenant.name, c3)

    def test_drain_cuts_a_stalled_call_after_the_grace_period(self):
        # A client that never finishes its request cannot hold mvmd up past
        # --drain-seconds; its call is cut and creates nothing.
        self.mvmd.close()
        self.mvmd = start_mvmd(extra_args=["--drain-seconds", "2"])
        self.addCleanup(self.mvmd.close)
        c = self.connect()
        req = self.tenant_req()
        body = grpc_frame(req.SerializeToString())
        sid = c.start(TENANT_SVC + "CreateTenant", end=False)
        c.send(sid, body[:-1])
        c.settle()
        self.mvmd.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.mvmd.proc.wait(60)
        except Exception:
            self.fail("mvmd --drain-seconds 2 still running 60s after SIGTERM with a stalled call")
        self.mvmd.stop()
        self.assertEqual(rc, 0, "exit status after a drain that cut a call:\n%s" % self.mvmd.log_tail())
        try:
            r = c.response(sid, timeout=10)
            self.assertNotEqual(r.grpc_status, OK, "the stalled call succeeded: %s" % r)
        except ConnectionClosed:
            pass                        # cut with the connection
        self.mvmd.start()
        self.assert_absent(req.tenant.name)

    def test_sigint_drains_like_sigterm(self):
        c = self.connect()
        name = self.create_tenant(c)
        self.mvmd.proc.send_signal(signal.SIGINT)
        c.wait(lambda: c.goaway is not None, 30, "GOAWAY after SIGINT")
        self.assertEqual(self.mvmd.proc.wait(60), 0)
        self.mvmd.stop()
        self.mvmd.start()
        self.assert_present(name)

    def test_sigterm_idle_exits_zero_and_restart_keeps_state(self):
        c = self.connect()
        names = [self.create_tenant(c) for _ in range(5)]
        rc = self.mvmd.stop(60)
        self.assertEqual(rc, 0, "mvmd exit status after SIGTERM:\n%s" % self.mvmd.log_tail())
        self.assertTrue(c.wait_closed(10), "connection still open after mvmd exited")
        self.mvmd.start()
        self.assertEqual(sorted(self.tenant_names()), sorted(names))

    def test_sigkill_during_writes_loses_no_acknowledged_write(self):
        c = self.connect()
        sent, acked = {}, []
        window = 6
        killed = False
        while True:
            # Keep `window` CreateTenant calls in flight.
            while not c.closed and len([s for s in sent if not c.streams[s].done]) < window:
                req = self.tenant_req()
                try:
                    sent[c.start(TENANT_SVC + "CreateTenant",
                                 grpc_frame(req.SerializeToString()))] = req.tenant.name
                except OSError:
                    break
            if not c.pump(0.5):
                break
            for s, name in sent.items():
                st = c.streams[s]
                if st.done and name not in acked:
                    from wire_h2 import Response
                    r = Response(st)
                    if r.grpc_status == OK:
                        acked.append(name)
                    elif not killed:
                        self.fail("CreateTenant %s failed before the kill: %s" % (name, r))
            if len(acked) >= 40 and not killed:
                os.kill(self.mvmd.proc.pid, signal.SIGKILL)
                killed = True
            self.assertLess(len(sent), 5000, "no progress")
        self.assertTrue(killed, "connection closed before the kill: %s" % c.close_reason)
        self.mvmd.kill()          # reap
        self.mvmd.start()
        listed = set(self.tenant_names())
        missing = [n for n in acked if n not in listed]
        self.assertEqual(missing, [], "acknowledged CreateTenant lost by SIGKILL")
        phantom = listed - set(sent.values())
        self.assertEqual(phantom, set(), "tenants nobody created")
        for n in acked[-3:]:
            self.assert_present(n)


if __name__ == "__main__":
    main()
