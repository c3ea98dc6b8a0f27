#!/usr/bin/python3
"""tls_mtls_test - mvmd's TLS listener admits only mutually authenticated
TLS 1.2+ with ALPN h2, and plaintext TCP only on loopback. Every mvmd here
is started by tests/integration/harness.py.

Run: python3 tls_mtls_test.py BUILD_DIR
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from wire_h2 import (
    BUILD_DIR, OK, PREFACE, SETTINGS, TENANT_SVC, H2Conn, SharedMvmd, connect_tls, grpc_frame,
    parse_addr, raw_frame, tls_context, main)
from harness import Mvmd, MvmdError


def h2_hello():
    """Client preface, SETTINGS, and a ListTenants request (HPACK literal
    headers without indexing, no Huffman), so a server that accepted the
    connection has something to answer."""
    def lit(name, value):
        n, v = name.encode(), value.encode()
        return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
    block = b"".join(lit(k, v) for k, v in (
        (":method", "POST"), (":scheme", "https"), (":path", TENANT_SVC + "ListTenants"),
        (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")))
    return (PREFACE + raw_frame(SETTINGS, 0, 0, b"") + raw_frame(1, 0x4, 1, block) +
            raw_frame(0, 0x1, 1, grpc_frame(b"")))


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Refusal:
    """How one TLS attempt ended."""

    def __init__(self, stage, detail, app_bytes=b""):
        self.stage = stage            # "handshake", "after-handshake", or "served"
        self.detail = detail
        self.app_bytes = app_bytes

    def __repr__(self):
        return "<%s: %s; %d application bytes>" % (self.stage, self.detail, len(self.app_bytes))


class TLS(SharedMvmd, unittest.TestCase):

    def tearDown(self):
        # Every refused attempt leaves mvmd serving good clients.
        self.assertIsNone(self.mvmd.proc.poll(), "mvmd exited: %s" % self.mvmd.log_tail())
        c = connect_tls(self.mvmd.tls_addr, self.mvmd.certs)
        try:
            r = c.call(TENANT_SVC + "ListTenants", b"")
        finally:
            c.close()
        self.assertEqual(r.grpc_status, OK, "a good client failed after %s: %s" % (self.id(), r))

    def attempt(self, ctx):
        """Connects with ctx, and if the handshake passes, speaks HTTP/2.
        With TLS 1.3 a refused client certificate shows only after the
        client's handshake is done, as an alert on the first read."""
        host, port = parse_addr(self.mvmd.tls_addr)
        raw = socket.create_connection((host, port), timeout=10)
        self.addCleanup(raw.close)
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError) as e:
            return Refusal("handshake", e)
        self.addCleanup(s.close)
        got = b""
        try:
            s.sendall(h2_hello())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                got += d
                if len(got) >= 9:       # a whole frame header: it speaks HTTP/2
                    break
        except (ssl.SSLError, OSError) as e:
            return Refusal("after-handshake" if not got else "served", e, got)
        if got:
            return Refusal("served", "server sent %d bytes" % len(got), got)
        return Refusal("after-handshake", "EOF", got)

    def assert_refused(self, ctx, what):
        r = self.attempt(ctx)
        self.assertNotEqual(r.stage, "served",
                            "%s: the server spoke HTTP/2 to this client: %r" % (what, r))
        return r

    def test_valid_mtls_works(self):
        s = socket.create_connection(parse_addr(self.mvmd.tls_addr), timeout=10)
        t = tls_context(self.mvmd.certs).wrap_socket(s, server_hostname="localhost")
        self.addCleanup(t.close)
        self.assertEqual(t.selected_alpn_protocol(), "h2")
        self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
        cert = t.getpeercert()
        self.assertIn(("DNS", "localhost"), cert.get("subjectAltName", ()))
        c = H2Conn(t, "https")
        r = c.call(TENANT_SVC + "ListTenants", b"")
        self.assertEqual(r.grpc_status, OK, "%s" % r)
        name = self.create_tenant(c)
        self.assert_present(name, c)
        # The control for the refusal tests: attempt() sees a served client.
        self.assertEqual(self.attempt(tls_context(self.mvmd.certs)).stage, "served")

    def test_tls12_with_client_cert_works(self):
        ctx = tls_context(self.mvmd.certs, max_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.attempt(ctx).stage, "served", "mTLS over TLS 1.2 refused")

    def test_no_client_certificate_refused(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=v.name):
                self.assert_refused(tls_context(self.mvmd.certs, client=None, max_version=v),
                                    "no client certificate, %s" % v.name)

    def test_client_certificate_from_other_ca_refused(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=v.name):
                self.assert_refused(tls_context(self.mvmd.certs, client="other-client", max_version=v),
                                    "client certificate of other-ca, %s" % v.name)

    def test_self_signed_ca_cert_as_client_cert_refused(self):
        # other-ca.pem/key is a self-signed certificate unknown to mvmd.
        ctx = tls_context(self.mvmd.certs, client="other-ca")
        self.assert_refused(ctx, "self-signed client certificate")

    def test_server_cert_as_client_cert_refused(self):
        # Signed by the right CA but only for serverAuth.
        ctx = tls_context(self.mvmd.certs, client="server")
        self.assert_refused(ctx, "certificate without clientAuth")

    def test_tls11_refused(self):
        # Lower the client's own security level so that it can offer TLS 1.1
        # at all; then the refusal is the server's.
        ctx = tls_context(self.mvmd.certs, min_version=ssl.TLSVersion.TLSv1_1,
                          max_version=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
        r = self.assert_refused(ctx, "TLS 1.1")
        self.assertEqual(r.stage, "handshake", "TLS 1.1 handshake completed: %r" % r)
        self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(r.detail),
                         "this client could not offer TLS 1.1, so the test proves nothing: %r" % r)

    def test_alpn_without_h2_refused(self):
        for alpn in (["http/1.1"], ["h2c", "http/1.1"], ["grpc-exp"]):
            with self.subTest(alpn=alpn):
                r = self.attempt(tls_context(self.mvmd.certs, alpn=alpn))
                self.assertNotEqual(r.stage, "served",
                                    "ALPN %s: the server spoke HTTP/2: %r" % (alpn, r))

    def test_plaintext_h2c_to_tls_port_refused(self):
        s = socket.create_connection(parse_addr(self.mvmd.tls_addr), timeout=10)
        self.addCleanup(s.close)
        s.sendall(h2_hello())
        got = b""
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except OSError:
            pass
        self.assertTrue(time.monotonic() < deadline, "the TLS port kept a plaintext client open")
        # At most a TLS alert record (content type 21), never HTTP/2 frames.
        if got:
            self.assertEqual(got[0], 21, "plaintext h2c got a non-alert answer: %r" % got[:40])
        self.assertNotIn(PREFACE[:3], got)

    def test_handshake_never_finished_does_not_block_others(self):
        # A client that connects and sends half a ClientHello, kept open while
        # a good client is served.
        s = socket.create_connection(parse_addr(self.mvmd.tls_addr), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        r = self.connect().call(TENANT_SVC + "ListTenants", b"")
        self.assertEqual(r.grpc_status, OK, "a stalled handshake blocked a good client: %s" % r)

    def test_stalled_handshake_is_closed_eventually(self):
        # A client that never finishes its handshake does not hold a
        # connection forever (generous bound).
        s = socket.create_connection(parse_addr(self.mvmd.tls_addr), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        deadline = time.monotonic() + 90
        closed = False
        while time.monotonic() < deadline and not closed:
            s.settimeout(5)
            try:
                closed = s.recv(4096) == b""
            except socket.timeout:
                continue
            except OSError:
                closed = True
        self.assertTrue(closed, "a connection stuck mid-handshake was still open after 90s")

    def make_client_cert(self, name, not_before, not_after):
        """A clientAuth certificate signed by the dev CA with the given
        validity (datetimes); returns the path stem for tls_context()."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        d = tempfile.mkdtemp(prefix="mvm-tls-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(self.mvmd.certs, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(self.mvmd.certs, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now + not_before).not_valid_after(now + not_after)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .sign(ca_key, hashes.SHA256()))
        stem = os.path.join(d, name)
        with open(stem + ".pem", "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(stem + ".key", "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return stem

    def test_client_certificate_outside_its_validity_refused(self):
        import datetime
        day = datetime.timedelta(days=1)
        # The control: the same recipe, valid now, is served.
        ok = self.make_client_cert("fresh", -day, day)
        self.assertEqual(self.attempt(tls_context(self.mvmd.certs, client=ok)).stage, "served",
                         "a freshly made valid client certificate was refused")
        for what, nb, na in (("expired", -10 * day, -day), ("not yet valid", day, 10 * day)):
            for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(cert=what, version=v.name):
                    stem = self.make_client_cert(what.replace(" ", "-"), nb, na)
                    self.assert_refused(tls_context(self.mvmd.certs, client=stem, max_version=v),
                                        "%s client certificate, %s" % (what, v.name))


class UnixSocketAccess(SharedMvmd, unittest.TestCase):
    """The Unix socket is not authenticated by TLS: its file permissions are
    the access control, so other users must not be able to connect."""

    def test_socket_file_has_no_access_for_others(self):
        import stat
        st = os.stat(self.mvmd.unix_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0,
                         "socket file mode %o lets every user connect" % stat.S_IMODE(st.st_mode))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to try as another user")
    def test_other_user_cannot_connect(self):
        # Open the harness's temp dir for traversal, so only the socket's own
        # permissions stand in the way.
        d = os.path.dirname(self.mvmd.unix_path)
        mode = os.stat(d).st_mode & 0o777
        os.chmod(d, mode | 0o011)
        self.addCleanup(os.chmod, d, mode)
        code = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(13)\n"
                "sys.exit(0)\n")
        p = subprocess.run(["/usr/bin/python3", "-c", code, self.mvmd.unix_path],
                           user=65534, group=65534, extra_groups=[], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 13, "user 65534 connected to the mvmd socket (rc %d, %r)"
                         % (p.returncode, p.stderr))
        # The owner still can.
        self.assertEqual(self.connect_unix_ok(), OK)

    def connect_unix_ok(self):
        from wire_h2 import connect_unix
        c = connect_unix(self.mvmd.unix_path)
        self.addCleanup(c.close)
        return c.call(TENANT_SVC + "ListTenants", b"").grpc_status


class InsecureListen(unittest.TestCase):
    """--insecure (plaintext TCP) is refused unless the address is loopback.
    mvmd is started by the shared harness (harness.py); the --listen given
    here comes after the harness's own, and the last one counts."""

    def mvmd(self, listen):
        m = Mvmd(BUILD_DIR, extra_args=["--insecure", "--listen", listen], ready_timeout=20)
        self.addCleanup(m.close)
        return m

    def test_insecure_on_non_loopback_refuses_to_start(self):
        for listen in ("0.0.0.0:0", "[::]:0"):
            with self.subTest(listen=listen):
                m = self.mvmd(listen)
                try:
                    m.start()
                except MvmdError as e:
                    refusal = str(e)
                else:
                    self.fail("mvmd --insecure --listen %s started, serving %s"
                              % (listen, m.insecure_addr))
                rc = m.proc.returncode
                self.assertIsNotNone(rc, "mvmd --insecure --listen %s still running" % listen)
                self.assertGreater(rc, 0, "mvmd --insecure --listen %s: %s" % (listen, refusal))
                text = m.log_tail().lower()
                self.assertTrue("loopback" in text or "insecure" in text,
                                "no clear message for --insecure on %s: %r" % (listen, text))
                # where the harness has mvmd write its ready file
                self.assertEqual(read_text(os.path.join(m.tmp, "ready")), "",
                                 "mvmd reported listeners before refusing")

    def test_insecure_on_loopback_starts(self):
        # The control for the test above: the same command line on loopback
        # serves plaintext HTTP/2 and drains on SIGTERM.
        m = self.mvmd("127.0.0.1:0")
        m.start()
        self.assertIsNone(m.tls_addr)
        s = socket.create_connection(parse_addr(m.insecure_addr), timeout=10)
        c = H2Conn(s, "http")
        try:
            r = c.call(TENANT_SVC + "ListTenants", b"")
        finally:
            c.close()
        self.assertEqual(r.grpc_status, OK, "h2c ListTenants on %s: %s" % (m.insecure_addr, r))
        self.assertEqual(m.stop(30), 0, m.log_tail())


if __name__ == "__main__":
    main()
