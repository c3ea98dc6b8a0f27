"""wire_h2 - raw HTTP/2 + gRPC client pieces for the wire/TLS battery.

The wire suites speak HTTP/2 themselves (python3-h2 over ssl or a Unix
socket) instead of using a gRPC library, so that they can send exactly the
frames and headers a test needs, including wrong ones, and see exactly what
mvmd sends back (frame by frame).

Incoming bytes are split into frames here before h2 sees them: GOAWAY frames
are recorded and kept from h2 (h2 closes its state machine on a GOAWAY and
would refuse the frames a draining server still sends on open streams), and
every frame's type and flags are logged per stream, so a test can check, for
example, that a Trailers-Only response was one HEADERS frame with END_STREAM.

Usage from a suite:  python3 wire_x_test.py BUILD_DIR [unittest args]
"""

import atexit
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
PROTO_DIR = os.path.join(SOURCE_DIR, "proto")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# HTTP/2 frame types and flags (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4

# HTTP/2 error codes.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, \
    SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = range(9)

# gRPC status codes.
OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, \
    ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, \
    ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, \
    UNAUTHENTICATED = range(17)

MAX_MESSAGE = 4 * 1024 * 1024

TENANT_SVC = "/mvm.v1.TenantService/"
INSTANCE_SVC = "/mvm.v1.InstanceService/"


def build_dir_from_argv():
    """Takes the build directory off sys.argv (the first argument) so that the
    rest can go to unittest.main()."""
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        d = sys.argv.pop(1)
    else:
        d = os.environ.get("MVM_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
    return os.path.abspath(d)


BUILD_DIR = build_dir_from_argv()
sys.path.insert(0, HERE)


# ---------------------------------------------------------------- protobuf

_pb = {}


def protos():
    """Generates Python modules for proto/mvm/v1 once per process (into a
    temp dir removed at exit) and returns {"tenant": module, ...}."""
    if _pb:
        return _pb
    import importlib
    import grpc_tools
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="mvm-wire-pb-")
    atexit.register(shutil.rmtree, out, True)
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    names = ["options", "tenant", "pool", "instance", "node"]
    files = ["mvm/v1/%s.proto" % n for n in names]
    rc = protoc.main(["protoc", "-I" + PROTO_DIR, "-I" + wkt,
                      "--python_out=" + out] + files)
    if rc != 0:
        raise RuntimeError("protoc failed on %s" % files)
    sys.path.insert(0, out)
    for n in names:
        _pb[n] = importlib.import_module("mvm.v1.%s_pb2" % n)
    return _pb


# ---------------------------------------------------------------- gRPC framing

def grpc_frame(payload, compressed=0, length=None):
    """One length-prefixed message: flag byte, 4-byte big-endian length
    (the real one unless length says otherwise), payload."""
    if length is None:
        length = len(payload)
    return struct.pack(">BI", compressed, length) + payload


def grpc_unframe(data):
    """Splits a DATA payload into [(flag, payload)]; raises ValueError on a
    trailing partial message."""
    msgs = []
    i = 0
    while i < len(data):
        if len(data) - i < 5:
            raise ValueError("partial message prefix: %r" % data[i:])
        flag, n = struct.unpack(">BI", data[i:i + 5])
        if len(data) - i - 5 < n:
            raise ValueError("partial message: want %d bytes, have %d" % (n, len(data) - i - 5))
        msgs.append((flag, data[i + 5:i + 5 + n]))
        i += 5 + n
    return msgs


def percent_decode(raw, errors="strict"):
    """Decodes a grpc-message value (bytes) per the gRPC spec."""
    return urllib.parse.unquote_to_bytes(raw).decode("utf-8", errors)


def parse_addr(a):
    """'host:port', '[v6]:port' or (host, port) -> (host, port)."""
    if isinstance(a, (tuple, list)):
        return a[0], int(a[1])
    host, _, port = str(a).rpartition(":")
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------- certificates

def cert_file(certs, name):
    """Path of a gen-certs.sh output (e.g. 'client.pem') in the harness's
    certs, which may be a directory path or an object with .dir / .path."""
    for attr in ("dir", "path", "directory"):
        if hasattr(certs, attr):
            certs = getattr(certs, attr)
            break
    if isinstance(certs, dict):
        certs = certs.get("dir") or os.path.dirname(certs["ca"])
    return os.path.join(str(certs), name)


def tls_context(certs, client="client", alpn=("h2",), ca="ca",
                min_version=None, max_version=None, ciphers=None):
    """Client context: trusts ca.pem, presents <client>.pem (None: no
    certificate), offers the given ALPN protocols (None: no ALPN)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert_file(certs, ca + ".pem"))
    if client:
        ctx.load_cert_chain(cert_file(certs, client + ".pem"),
                            cert_file(certs, client + ".key"))
    if alpn is not None:
        ctx.set_alpn_protocols(list(alpn))
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def tls_socket(addr, ctx, timeout=10.0):
    host, port = parse_addr(addr)
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


# ---------------------------------------------------------------- responses

class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None      # [(bytes, bytes)] of the first HEADERS
        self.trailers = None     # [(bytes, bytes)] of the trailing HEADERS
        self.data = b""
        self.ended = False       # END_STREAM seen
        self.reset = None        # RST_STREAM error code received before END_STREAM
        self.reset_after_end = None  # RST_STREAM after a complete response
        self.frames = []         # [(type, flags)] as received

    @property
    def done(self):
        return self.ended or self.reset is not None


class Response:
    """What came back on one stream."""

    def __init__(self, st):
        self.stream = st
        self.reset = st.reset
        self.headers = st.headers or []
        self.trailers = st.trailers or []
        self.data = st.data
        self.frames = list(st.frames)
        self.trailers_only = (st.headers is not None and st.trailers is None and
                              not st.data and st.ended)
        final = self.headers if self.trailers_only else self.trailers
        self.final = final
        self.status = _int_or_none(header(self.headers, ":status"))
        gs = header(final, "grpc-status")
        self.grpc_status = _int_or_none(gs)
        self.grpc_message_raw = header_bytes(final, "grpc-message")
        self.grpc_message = (percent_decode(self.grpc_message_raw, "replace")
                             if self.grpc_message_raw is not None else "")
        try:
            self.messages = grpc_unframe(st.data)
            self.framing_error = None
        except ValueError as e:
            self.messages = []
            self.framing_error = str(e)

    def message(self, cls):
        """The single reply message parsed as cls."""
        assert len(self.messages) == 1, "expected one message, got %d" % len(self.messages)
        flag, payload = self.messages[0]
        assert flag == 0, "reply message compressed (flag %d)" % flag
        return cls.FromString(payload)

    def describe(self):
        return ("status=%s grpc-status=%s grpc-message=%r reset=%s headers=%s trailers=%s "
                "frames=%s data=%d bytes" % (
                    self.status, self.grpc_status, self.grpc_message, self.reset,
                    _hdr_text(self.headers), _hdr_text(self.trailers),
                    self.frames, len(self.data)))

    __repr__ = describe


def _hdr_text(hs):
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in hs]


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def header_bytes(hs, name):
    name = name.encode() if isinstance(name, str) else name
    for k, v in hs or []:
        if k == name:
            return v
    return None


def header(hs, name):
    v = header_bytes(hs, name)
    return v.decode("latin-1") if v is not None else None


# ---------------------------------------------------------------- connection

class ConnectionClosed(ConnectionError):
    """The peer closed the connection (an OSError, so that either can be
    caught)."""


class H2Conn:
    """One HTTP/2 client connection on an already connected socket."""

    def __init__(self, sock, scheme="https", validate=True, settings=None):
        self.sock = sock
        self.scheme = scheme
        cfg = h2.config.H2Configuration(
            client_side=True, header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
            validate_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(cfg)
        self.streams = {}
        self.goaway = None          # (last_stream_id, error_code, debug)
        self.goaways = []
        self.closed = False         # the peer closed (EOF or error)
        self.close_reason = None
        self.h2_error = None
        self.conn_frames = []       # [(type, flags)] on stream 0
        self._buf = b""
        self._lock = threading.RLock()
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.flush()

    # -- sending
    def flush(self):
        out = self.h2.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError as e:
                # Not marked closed: what the peer sent before closing may
                # still be read (wait_closed() does).
                raise ConnectionClosed("connection closed while sending: %r" % e) from e

    def send_raw(self, data):
        self.sock.sendall(data)

    def new_stream_id(self):
        return self.h2.get_next_available_stream_id()

    def request_headers(self, path, extra=(), drop=(), replace=None, grpc_timeout=None):
        hs = [(":method", "POST"), (":scheme", self.scheme), (":path", path),
              (":authority", "localhost"), ("content-type", "application/grpc"),
              ("te", "trailers")]
        if grpc_timeout is not None:
            hs.append(("grpc-timeout", grpc_timeout))
        replace = replace or {}
        out = []
        for k, v in hs:
            if k in drop:
                continue
            out.append((k, replace.get(k, v)))
        out.extend(extra)
        return [(k.encode() if isinstance(k, str) else k,
                 v.encode() if isinstance(v, str) else v) for k, v in out]

    def start(self, path, body=None, end=True, headers=None, **kw):
        """Opens a stream: HEADERS (headers, or the usual gRPC request headers
        from request_headers(path, **kw)), then body (bytes, already framed) in
        DATA frames; END_STREAM on the last frame if end."""
        with self._lock:
            sid = self.new_stream_id()
            self.streams[sid] = Stream(sid)
            hs = headers if headers is not None else self.request_headers(path, **kw)
            self.h2.send_headers(sid, hs, end_stream=(end and not body))
            self.flush()
        if body:
            self.send(sid, body, end=end)
        return sid

    def send(self, sid, data, end=False, chunk=None, timeout=30.0):
        """Sends data on sid in DATA frames of at most chunk bytes (else the
        largest allowed), waiting for flow-control window as needed."""
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            with self._lock:
                n = min(len(data) - i, self.h2.max_outbound_frame_size)
                if chunk:
                    n = min(n, chunk)
                win = self.h2.local_flow_control_window(sid)
                if n > win:
                    n = win
                last = i + n >= len(data)
                if n > 0 or (last and end):
                    self.h2.send_data(sid, data[i:i + n], end_stream=(last and end))
                    self.flush()
                    i += n
                if last:
                    return
            if n == 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("no flow-control window to send on stream %d" % sid)
                self.pump(0.2)

    def end(self, sid):
        with self._lock:
            self.h2.end_stream(sid)
            self.flush()

    def reset(self, sid, code=CANCEL):
        with self._lock:
            self.h2.reset_stream(sid, error_code=code)
            self.flush()

    def ping(self, payload=b"wirepng!"):
        with self._lock:
            self.h2.ping(payload)
            self.flush()

    # -- receiving
    def pump(self, timeout):
        """Reads what arrives within timeout seconds (one recv) and handles it.
        Returns False once the connection is closed."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ssl.SSLError, OSError) as e:
            self.closed = True
            self.close_reason = repr(e)
            return False
        if not data:
            self.closed = True
            self.close_reason = "EOF"
            return False
        self._feed(data)
        return True

    def _feed(self, data):
        self._buf += data
        out = b""
        while len(self._buf) >= 9:
            ln = int.from_bytes(self._buf[0:3], "big")
            if len(self._buf) < 9 + ln:
                break
            ftype, flags = self._buf[3], self._buf[4]
            sid = int.from_bytes(self._buf[5:9], "big") & 0x7FFFFFFF
            frame = self._buf[:9 + ln]
            self._buf = self._buf[9 + ln:]
            if sid == 0:
                self.conn_frames.append((ftype, flags))
            elif sid in self.streams and ftype not in (WINDOW_UPDATE, PRIORITY):
                self.streams[sid].frames.append((ftype, flags))
            if ftype == GOAWAY:
                last, code = struct.unpack(">II", frame[9:17])
                self.goaway = (last & 0x7FFFFFFF, code, frame[17:])
                self.goaways.append(self.goaway)
                continue
            out += frame
        if out and self.h2_error is None:
            with self._lock:
                try:
                    events = self.h2.receive_data(out)
                except h2.exceptions.ProtocolError as e:
                    self.h2_error = e
                    events = []
                for ev in events:
                    self._event(ev)
                try:
                    self.flush()
                except OSError:
                    pass

    def _event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None) or 0)
        if isinstance(ev, h2.events.ResponseReceived):
            st.headers = ev.headers
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = ev.headers
        elif isinstance(ev, h2.events.DataReceived):
            st.data += ev.data
            if ev.flow_controlled_length:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                # RFC 9113 8.1: after a complete response a server may reset
                # the stream (NO_ERROR) to stop the client's upload.
                if st.ended:
                    st.reset_after_end = ev.error_code
                else:
                    st.reset = ev.error_code

    def wait(self, pred, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out after %.0fs waiting for %s" % (timeout, what))
            if not self.pump(min(left, 0.5)):
                if pred():
                    return
                raise ConnectionClosed("connection closed (%s) while waiting for %s"
                                       % (self.close_reason, what))

    def settle(self, timeout=10.0):
        """A PING round trip: the server has read everything sent before."""
        n = self.conn_frames.count((PING, FLAG_ACK))
        self.ping()
        self.wait(lambda: self.conn_frames.count((PING, FLAG_ACK)) > n, timeout, "PING ack")

    def wait_closed(self, timeout=10.0):
        """True if the peer closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pump(0.5):
                return True
        return False

    def response(self, sid, timeout=10.0):
        """Waits until stream sid ends (END_STREAM or RST_STREAM) and returns
        its Response. Raises ConnectionClosed if the connection drops first."""
        st = self.streams[sid]
        self.wait(lambda: st.done, timeout, "the end of stream %d" % sid)
        return Response(st)

    def call(self, path, body, timeout=10.0, **kw):
        """Unary call: body is a protobuf message (or raw bytes to frame)."""
        if not isinstance(body, (bytes, bytearray)):
            body = body.SerializeToString()
        return self.response(self.start(path, grpc_frame(bytes(body)), **kw), timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect_tls(addr, certs, **ctx_kw):
    s = tls_socket(addr, tls_context(certs, **ctx_kw))
    if s.selected_alpn_protocol() != "h2":
        s.close()
        raise AssertionError("server did not select ALPN h2 (got %r)" % s.selected_alpn_protocol())
    return H2Conn(s, "https")


def connect_unix(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return H2Conn(s, "http")


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_field(num, payload):
    """A length-delimited protobuf field, bytes as given (no UTF-8 check)."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def raw_frame(ftype, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + \
        (sid & 0x7FFFFFFF).to_bytes(4, "big") + payload


# ---------------------------------------------------------------- test base

class WireCase:
    """Mixin for unittest.TestCase classes that talk to one Mvmd."""

    mvmd = None                  # set by the suite's setUpClass
    transport = "tls"            # or "unix"
    _seq = [0]

    def connect(self, **kw):
        if self.transport == "unix":
            c = connect_unix(self.mvmd.unix_path)
        else:
            c = connect_tls(self.mvmd.tls_addr, self.mvmd.certs, **kw)
        self.addCleanup(c.close)
        return c

    @classmethod
    def next_tenant(cls, prefix="w"):
        """A fresh valid (name, net_id, subnet) triple for this process."""
        cls._seq[0] += 1
        n = cls._seq[0] + 40 * (os.getpid() % 50)
        return "%s-%d-%d" % (prefix, os.getpid(), cls._seq[0]), 100 + n, \
            "10.%d.%d.0/24" % (240 + n // 256, n % 256)

    def watch(self, conn, grpc_timeout=None, **req):
        """Opens InstanceService/WatchInstances on conn; returns the stream id."""
        pb = protos()["instance"]
        body = grpc_frame(pb.WatchInstancesRequest(**req).SerializeToString())
        return conn.start(INSTANCE_SVC + "WatchInstances", body, grpc_timeout=grpc_timeout)

    def tenant_req(self, name=None, net_id=None, subnet=None):
        pb = protos()["tenant"]
        gname, gnet, gsub = self.next_tenant()
        return pb.CreateTenantRequest(tenant=pb.Tenant(
            name=name if name is not None else gname,
            net_id=net_id if net_id is not None else gnet,
            subnet=subnet if subnet is not None else gsub))

    def create_tenant(self, conn=None, **kw):
        conn = conn or self.connect()
        req = self.tenant_req(**kw)
        r = conn.call(TENANT_SVC + "CreateTenant", req)
        self.assertEqual(r.grpc_status, OK, "CreateTenant %s: %s" % (req.tenant.name, r))
        return req.tenant.name

    def get_tenant(self, name, conn=None):
        pb = protos()["tenant"]
        conn = conn or self.connect()
        return conn.call(TENANT_SVC + "GetTenant", pb.GetTenantRequest(name=name))

    def tenant_names(self, conn=None):
        """All tenant names, following next_page_token."""
        pb = protos()["tenant"]
        conn = conn or self.connect()
        names, token = [], ""
        for _ in range(1000):
            r = conn.call(TENANT_SVC + "ListTenants",
                          pb.ListTenantsRequest(page_size=1000, page_token=token))
            self.assertEqual(r.grpc_status, OK, "ListTenants: %s" % r)
            resp = r.message(pb.ListTenantsResponse)
            names.extend(t.name for t in resp.tenants)
            token = resp.next_page_token
            if not token:
                return names
        self.fail("ListTenants never ended")

    def assert_absent(self, name, conn=None):
        r = self.get_tenant(name, conn)
        self.assertEqual(r.grpc_status, NOT_FOUND,
                         "tenant %r must not exist after a refused call: %s" % (name, r))

    def assert_present(self, name, conn=None):
        r = self.get_tenant(name, conn)
        self.assertEqual(r.grpc_status, OK, "tenant %r must exist: %s" % (name, r))
        self.assertEqual(r.message(protos()["tenant"].Tenant).name, name)

    def assert_grpc_error(self, r, codes, what):
        """r is a well-formed gRPC error response with one of codes."""
        codes = (codes,) if isinstance(codes, int) else tuple(codes)
        self.assertIsNone(r.reset, "%s: stream was reset instead of a gRPC status: %s" % (what, r))
        self.assertEqual(r.status, 200, "%s: %s" % (what, r))
        self.assertIn(r.grpc_status, codes, "%s: %s" % (what, r))

    def assert_state_unchanged(self, before, what):
        self.assertEqual(sorted(self.tenant_names()), sorted(before),
                         "%s changed the tenant list" % what)


class SharedMvmd(WireCase):
    """WireCase whose tests share one mvmd per class."""

    @classmethod
    def setUpClass(cls):
        cls.mvmd = start_mvmd()

    @classmethod
    def tearDownClass(cls):
        cls.mvmd.close()


def start_mvmd(build_dir=None, **kw):
    """The shared harness's Mvmd, entered; the caller exits it."""
    from harness import Mvmd
    m = Mvmd(build_dir or BUILD_DIR, **kw)
    m.__enter__()
    return m


def main():
    import unittest
    unittest.main(verbosity=2)
