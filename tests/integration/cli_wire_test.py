#!/usr/bin/python3
"""cli_wire_test.py - libmvmc's side of the gRPC HTTP/2 protocol, checked
against a scripted HTTP/2 server (python3-h2, h2c on loopback) that sends
exactly the responses a case needs: a reply split across DATA frames,
several streamed messages in one frame, an oversize, a compressed and a
truncated message, a Trailers-Only error with a percent-encoded
grpc-message, an HTTP error status without grpc headers, RST_STREAM, a
server that never answers, and a check of the request's own headers and
framing. mvm-cli is the client.

usage: cli_wire_test.py --cli PATH
"""
import json
import socket
import subprocess
import sys
import threading

import h2.config
import h2.connection
import h2.events

from cli_check import check, finish
from wire_h2 import varint


def node_info(version):
    """mvm.v1.NodeInfo with field 1 (version) set, encoded by hand."""
    v = version.encode()
    return b"\x0a" + varint(len(v)) + v


def grpc_frame(payload):
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


class Server:
    """Serves one behaviour to every request on 127.0.0.1:port (h2c)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn_sock, _ = self.sock.accept()
        except OSError:
            return
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        conn_sock.sendall(conn.data_to_send())
        headers, bodies = {}, {}
        while True:
            try:
                data = conn_sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    headers[ev.stream_id] = dict(ev.headers)
                    bodies[ev.stream_id] = b""
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.requests.append((headers[ev.stream_id], bodies[ev.stream_id]))
                    self.behaviour(conn, ev.stream_id, headers[ev.stream_id],
                                   bodies[ev.stream_id])
            conn_sock.sendall(conn.data_to_send())
        conn_sock.close()

    def close(self):
        self.sock.close()


GRPC_OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


def split_reply(conn, sid, hdrs, body):
    msg = grpc_frame(node_info("v" * 40000))
    conn.send_headers(sid, GRPC_OK_HEADERS)
    # The 5-byte prefix itself split, then the rest in frame-sized chunks.
    chunks = [msg[:3], msg[3:5], msg[5:1000]]
    rest = msg[1000:]
    while rest:
        chunks.append(rest[:16000])
        rest = rest[16000:]
    for c in chunks:
        conn.send_data(sid, c)
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def trailers_only(conn, sid, hdrs, body):
    conn.send_headers(sid, GRPC_OK_HEADERS + [
        ("grpc-status", "5"),
        ("grpc-message", "tenant%20%22x%22%20does%20not%20exist%20%E2%9C%93")],
        end_stream=True)


def http_415(conn, sid, hdrs, body):
    conn.send_headers(sid, [(":status", "415"), ("content-type", "text/plain")])
    conn.send_data(sid, b"unsupported media type", end_stream=True)


def http_503(conn, sid, hdrs, body):
    conn.send_headers(sid, [(":status", "503")], end_stream=True)


def refuse(conn, sid, hdrs, body):
    conn.reset_stream(sid, error_code=7)  # REFUSED_STREAM


def silent(conn, sid, hdrs, body):
    pass


def error_after_message(conn, sid, hdrs, body):
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, grpc_frame(node_info("partial")))
    conn.send_headers(sid, [("grpc-status", "13"), ("grpc-message", "broke%25")],
                      end_stream=True)


def missing_status(conn, sid, hdrs, body):
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, grpc_frame(node_info("x")), end_stream=True)


def three_in_one_frame(conn, sid, hdrs, body):
    """A stream of three health statuses: two whole messages and the start of
    the third in one DATA frame, the rest of the third in the next."""
    serving = grpc_frame(b"\x08\x01")  # HealthCheckResponse{status: SERVING}
    not_serving = grpc_frame(b"\x08\x02")
    data = serving + not_serving + serving
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, data[:-3])
    conn.send_data(sid, data[-3:])
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def oversize_prefix(conn, sid, hdrs, body):
    """A message prefix declaring 65 MiB (over libmvmc's 64 MiB limit)."""
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, b"\x00" + (65 << 20).to_bytes(4, "big") + b"x" * 10)


def compressed_reply(conn, sid, hdrs, body):
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, b"\x01" + grpc_frame(node_info("x"))[1:])
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def truncated_reply(conn, sid, hdrs, body):
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, grpc_frame(node_info("y" * 100))[:40])
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def echo_request(conn, sid, hdrs, body):
    """Replies OK; the test inspects the recorded request."""
    conn.send_headers(sid, GRPC_OK_HEADERS)
    conn.send_data(sid, grpc_frame(node_info("ok")))
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def cli(path, port, *args):
    p = subprocess.run([path, "--endpoint", "127.0.0.1:%d" % port, "--insecure"] + list(args),
                       capture_output=True, text=True, timeout=60,
                       env={"HOME": "/nonexistent", "PATH": "/usr/bin:/bin"})
    return p.returncode, p.stdout, p.stderr


def case(path, behaviour, *args):
    srv = Server(behaviour)
    try:
        return cli(path, srv.port, *args), srv.requests
    finally:
        srv.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "--cli":
        sys.exit("usage: cli_wire_test.py --cli PATH")
    path = sys.argv[2]

    (rc, out, err), _ = case(path, split_reply, "node", "info", "-o", "json")
    check(rc == 0, "split reply: exit 0 (got %d: %s)" % (rc, err))
    check(rc == 0 and json.loads(out).get("version") == "v" * 40000,
          "split reply: the whole 40000-byte version arrives")

    (rc, out, err), _ = case(path, trailers_only, "tenant", "get", "x")
    check(rc == 5, "Trailers-Only NOT_FOUND: exit 5 (got %d)" % rc)
    check(err == 'mvm-cli: NOT_FOUND: tenant "x" does not exist \u2713\n',
          "grpc-message percent-decoded: %r" % err)

    (rc, out, err), _ = case(path, http_415, "node", "info")
    check(rc == 2 and "415" in err, "HTTP 415 without grpc-status: UNKNOWN (got %d %r)" % (rc, err))
    (rc, out, err), _ = case(path, http_503, "node", "info")
    check(rc == 14, "HTTP 503 without grpc-status: UNAVAILABLE (got %d %r)" % (rc, err))

    (rc, out, err), _ = case(path, refuse, "node", "info")
    check(rc == 14, "RST_STREAM REFUSED_STREAM: UNAVAILABLE (got %d %r)" % (rc, err))

    (rc, out, err), _ = case(path, silent, "--timeout", "300ms", "node", "info")
    check(rc == 4 and err.startswith("mvm-cli: DEADLINE_EXCEEDED"),
          "no answer: DEADLINE_EXCEEDED (got %d %r)" % (rc, err))

    (rc, out, err), _ = case(path, error_after_message, "node", "info")
    check(rc == 13 and "broke%" in err and out == "",
          "message then error status: the error wins (got %d %r %r)" % (rc, out, err))

    (rc, out, err), _ = case(path, missing_status, "node", "info")
    check(rc == 13, "stream ended without grpc-status: INTERNAL (got %d %r)" % (rc, err))

    (rc, out, err), _ = case(path, three_in_one_frame, "health", "watch", "-o", "json")
    got = [json.loads(l).get("status") for l in out.splitlines() if l.strip()]
    check(rc == 0 and got == ["SERVING", "NOT_SERVING", "SERVING"],
          "several messages per DATA frame, one split: all arrive in order (got %d %r %r)"
          % (rc, got, err))

    (rc, out, err), _ = case(path, oversize_prefix, "node", "info")
    check(rc == 8 and "reply from the server" in err and "68157440" in err,
          "a 65 MiB reply is refused at its prefix: RESOURCE_EXHAUSTED (got %d %r)" % (rc, err))
    (rc, out, err), _ = case(path, compressed_reply, "node", "info")
    check(rc == 13 and "compressed" in err, "compressed reply: INTERNAL (got %d %r)" % (rc, err))
    (rc, out, err), _ = case(path, truncated_reply, "node", "info")
    check(rc == 13 and "inside a message" in err and out == "",
          "reply cut inside a message: INTERNAL (got %d %r)" % (rc, err))

    (rc, out, err), reqs = case(path, echo_request, "--timeout", "7s", "tenant", "get", "acme")
    check(rc == 0 and len(reqs) == 1, "echo: one request (got %d %r)" % (rc, err))
    if reqs:
        h, body = reqs[0]
        check(h.get(":method") == "POST", "POST: %r" % h)
        check(h.get(":path") == "/mvm.v1.TenantService/GetTenant", ":path: %r" % h)
        check(h.get(":scheme") == "http", ":scheme http for h2c: %r" % h)
        check(h.get("content-type") == "application/grpc", "content-type: %r" % h)
        check(h.get("te") == "trailers", "te: trailers: %r" % h)
        tmo = h.get("grpc-timeout", "")
        units = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
        ok = (2 <= len(tmo) <= 9 and tmo[:-1].isdigit() and tmo[-1] in units and
              0 < int(tmo[:-1]) * units[tmo[-1]] <= 7.0)
        check(ok, "grpc-timeout: %r" % h)
        # GetTenantRequest{name: "acme"} with the 5-byte prefix.
        check(body == b"\x00\x00\x00\x00\x06\x0a\x04acme", "framed request body: %r" % body)

    return finish()


if __name__ == "__main__":
    sys.exit(main())
