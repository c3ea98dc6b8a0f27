#!/usr/bin/python3
"""wire_fds_test - mvmd out of file descriptors, and flooded with TCP
connections that never start their TLS handshake, against a real mvmd:

- at EMFILE mvmd pauses accepting instead of spinning on accept4(): its
  CPU time (utime + stime from /proc/PID/stat) barely moves while clients
  wait in the backlog, and it serves again once connections close;
- TCP connections are capped below the descriptor limit, so a local
  operator on the Unix socket still gets in while TCP is saturated;
- connections still in the TLS handshake are capped: past the cap the
  oldest are closed, and a real TLS client is answered while 200 silent
  connections are open.

mvmd runs under prlimit(1) with a low RLIMIT_NOFILE where needed. The
assertions are on CPU seconds used and on which connections were served or
closed; a timeout only bounds how long a failing run waits.

Run: python3 wire_fds_test.py BUILD_DIR
"""
import os
import socket
import time
import unittest

from wire_h2 import (
    OK, TENANT_SVC, SharedMvmd, connect_tls, connect_unix, main, parse_addr, start_mvmd)

NOFILE = 128


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class FdCase(SharedMvmd):
    mvmd_kw = {}

    @classmethod
    def setUpClass(cls):
        cls.mvmd = start_mvmd(**cls.mvmd_kw)

    def served_unix(self, timeout=5):
        c = connect_unix(self.mvmd.unix_path)
        try:
            return c.call(TENANT_SVC + "ListTenants", b"", timeout=timeout).grpc_status == OK
        finally:
            c.close()

    def served_tls(self, timeout=10):
        c = connect_tls(self.mvmd.tls_addr, self.mvmd.certs)
        try:
            return c.call(TENANT_SVC + "ListTenants", b"", timeout=timeout).grpc_status == OK
        finally:
            c.close()

    def wait_served(self, served, what, timeout=30):
        """Retries served() until it answers OK (mvmd recovering)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if served(timeout=2):
                    return
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline, "not served %s" % what)

    def wait_fds_at_least(self, n, what, timeout=30):
        deadline = time.monotonic() + timeout
        while open_fds(self.mvmd.proc.pid) < n:
            self.assertLess(time.monotonic(), deadline, "mvmd never reached %s" % what)
            time.sleep(0.05)


class OutOfDescriptors(FdCase, unittest.TestCase):
    mvmd_kw = {"prefix": ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"]}

    def test_emfile_pauses_accepting_and_recovers(self):
        pid = self.mvmd.proc.pid
        self.assertTrue(self.served_unix(), "not served before the flood")
        clients = []
        try:
            for _ in range(NOFILE + 40):  # more than mvmd can hold: the rest wait in the backlog
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.mvmd.unix_path)
                clients.append(s)
            self.wait_fds_at_least(NOFILE - 2, "its descriptor limit")
            time.sleep(0.5)  # every I/O thread has met EMFILE by now
            before = cpu_seconds(pid)
            time.sleep(2)
            used = cpu_seconds(pid) - before
            # Spinning on accept4() burnt about 1.3 CPU-seconds here.
            self.assertLess(used, 0.3, "mvmd used %.2f CPU-s in 2 s while out of descriptors"
                            % used)
            self.assertIsNone(self.mvmd.proc.poll(), "mvmd died:\n" + self.mvmd.log_tail())
        finally:
            for s in clients:
                s.close()
        # Descriptors come back as mvmd closes the clients that left.
        self.wait_served(self.served_unix, "after the flood")
        self.assertTrue(self.served_tls(), "TLS not served after the flood")

    def test_unix_socket_served_while_tcp_is_saturated(self):
        pid = self.mvmd.proc.pid
        host, port = parse_addr(self.mvmd.tls_addr)
        silent = []
        try:
            for _ in range(NOFILE + 40):  # TCP clients that never send a byte
                silent.append(socket.create_connection((host, port)))
            # mvmd stops accepting TCP at its cap, below the descriptor limit
            time.sleep(0.5)
            self.assertTrue(self.served_unix(timeout=5),
                            "a Unix socket client was not served while TCP was saturated "
                            "(%d descriptors open)" % open_fds(pid))
            before = cpu_seconds(pid)
            time.sleep(2)
            used = cpu_seconds(pid) - before
            self.assertLess(used, 0.3, "mvmd used %.2f CPU-s in 2 s with TCP saturated" % used)
        finally:
            for s in silent:
                s.close()
        self.wait_served(self.served_tls, "over TLS after the flood")


class HandshakeFlood(FdCase, unittest.TestCase):
    """Default limits: at most 128 connections in their TLS handshake."""

    def test_tls_client_served_during_a_handshake_flood(self):
        host, port = parse_addr(self.mvmd.tls_addr)
        silent = [socket.create_connection((host, port)) for _ in range(200)]
        self.addCleanup(lambda: [s.close() for s in silent])
        self.assertTrue(self.served_tls(timeout=10), "a TLS client was not served")
        # Past the cap mvmd closed the oldest silent connections (they were
        # accepted before the real client, in order, so this is settled).
        closed = 0
        for s in silent:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except ConnectionError:
                closed += 1
        self.assertGreaterEqual(closed, 200 - 128,
                                "only %d of 200 silent handshakes were closed" % closed)


if __name__ == "__main__":
    main()
