#!/usr/bin/python3
"""firecracker_sim.py - a TEST DOUBLE of the Firecracker v1.10.1 VMM process.

mvm's tests start it in place of the real binary (mvmd --firecracker
PATH), so that mvmd's real Firecracker driver runs against it: same
command line, same API socket protocol, same status codes and
`fault_message` texts, same pre-/post-boot rules, and a guest that prints
what the project's test guest (tests/guest/) prints on the serial console.
It boots nothing: there is no KVM, no guest memory, no devices. What it
imitates and what it does not: tests/fcsim/README.md. Standard library
only; tests/fcsim/fcsim_conformance_test.py compares it with the real
binary.

Environment:
  FCSIM_FAULTS               JSON file of fault rules, re-read before each
                             request (README.md, "Fault injection")
  FCSIM_FIRECRACKER_VERSION  version to imitate (default 1.10.1); >= 1.16
                             enables the endpoints that 1.16 added
"""

import errno
import json
import os
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Startup time matters (mvm's tests start 100 of these at once): keep the
# compiled modules even when PYTHONDONTWRITEBYTECODE is set, in
# FCSIM_PYCACHE when given (the build directory), else in __pycache__.
sys.dont_write_bytecode = False
if os.environ.get("FCSIM_PYCACHE"):
    sys.pycache_prefix = os.environ["FCSIM_PYCACHE"]

import fcsim_guest  # noqa: E402
import fcsim_net  # noqa: E402
from fcsim_faults import Faults  # noqa: E402
from fcsim_http import (Connection, MAX_CONNECTIONS, SERVER_FULL, parse_error_response,  # noqa: E402
                        response_bytes)
from fcsim_output import Logger, Metrics  # noqa: E402
from fcsim_serde import rust_debug_str  # noqa: E402
from fcsim_vmm import Vmm, Reply  # noqa: E402
import fcsim_cli  # noqa: E402

DEFAULT_VERSION = "1.10.1"
METRICS_PERIOD_S = 60.0
STATUS_TEXT = {200: "200 OK", 204: "204 No Content", 400: "400 Bad Request",
               413: "413 Payload too large", 404: "404 Not Found", 500: "500 Internal Server Error"}


def write_all(fd, data):
    """Writes to a blocking fd; a closed reader ends the process as
    Firecracker's SIGPIPE handler does (exit 155)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BrokenPipeError:
            os._exit(155)
        view = view[n:]


class Sim:
    """One simulated Firecracker process: its options, logger, metrics,
    guest, VMM and API server loop."""

    def __init__(self, opts):
        self.opts = opts
        self.version = os.environ.get("FCSIM_FIRECRACKER_VERSION") or DEFAULT_VERSION
        self.instance_id = opts["id"]
        self.boot_timer = opts["boot-timer"]
        self.payload_limit = opts["http-api-max-payload-size"]
        self.mmds_size_limit = opts["mmds-size-limit"]
        self.logger = Logger(self.instance_id, lambda d: write_all(1, d))
        self.metrics = Metrics()
        self.faults = Faults(self.instance_id, os.environ.get("FCSIM_FAULTS"))
        self.guest = fcsim_guest.Guest(self)
        self.net = fcsim_net.Network(self)
        self.vmm = Vmm(self)
        self.sel = selectors.DefaultSelector()
        self.listener = None
        self.conns = {}
        self.queue = []            # (conn, request) waiting for the API "thread"
        self.busy_until = None     # a delayed answer is being held
        self.held = None           # (conn, bytes) of the delayed answer
        self.hung = False
        self.exit_at = None        # (deadline, status, signal)
        self.metrics_at = None
        self.vsocks = []

    # ------------------------------------------------------------ hooks for Vmm
    def flush_metrics(self):
        self.metrics.write()

    def open_vsock(self, vs):
        self.sel.register(vs["sock"], selectors.EVENT_READ, ("vsock", vs))

    def watch_tap(self, fd, interface):
        self.sel.register(fd, selectors.EVENT_READ, ("tap", interface))

    def unwatch_tap(self, fd):
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def close_vsock(self, vs):
        try:
            self.sel.unregister(vs["sock"])
        except (KeyError, ValueError):
            pass
        vs["sock"].close()

    def schedule_exit(self, delay_s, status=0, sig=None):
        deadline = time.monotonic() + delay_s
        if self.exit_at is None or deadline < self.exit_at[0]:
            self.exit_at = (deadline, status, sig)

    # ------------------------------------------------------------ lifecycle
    def bind(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(path)
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                return ("RunWithApiError error: Failed to open the API socket at: %s. Check that "
                        "it is not already used." % path,
                        "RunWithApi(FailedToBindSocket(%s))" % rust_debug_str(path))
            return ("RunWithApiError error: Failed to bind and run the HTTP server: IO error: "
                    + fcsim_cli.os_text(e),
                    "RunWithApi(FailedToBindAndRunHttpServer(IOError(%s)))"
                    % fcsim_cli.rust_os_debug(e))
        s.listen(128)
        s.setblocking(False)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, ("listen", None))
        return None

    def exit(self, status, sig=None):
        if sig is not None:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
            time.sleep(1)
        if status == 0:
            self.metrics.write()
            self.logger.info("main", "Firecracker exiting successfully. exit_code=0")
        else:
            self.logger.error("main", "Firecracker exiting with error. exit_code=%d" % status)
        os._exit(status)

    def on_started(self):
        """The guest runs: periodic metrics, and the 'guest dies' fault."""
        self.metrics_at = time.monotonic() + METRICS_PERIOD_S
        rule = self.faults.process_rule("exit_after_start")
        if rule:
            self.faults.consume(rule)
            if rule.get("banner", True):
                self.guest.force_banner()
            self.schedule_exit(rule.get("delay_ms", 0) / 1000.0, rule.get("exit_status", 1),
                               fcsim_cli.signal_of(rule.get("signal")))

    # ------------------------------------------------------------ requests
    def process(self, conn, req):
        """Handles one request as the API thread and the VMM do; returns
        True when processing must stop (hang)."""
        path = req.abs_path()
        self._log_request(req, path)
        rule = self.faults.request_rule(req.method, path)
        reply = None
        delay = 0.0
        if rule:
            self.faults.consume(rule)
            action = rule.get("action", "error")
            if action == "crash":
                self.exit(rule.get("exit_status", 1), fcsim_cli.signal_of(rule.get("signal")))
            if action == "hang":
                self.hung = True
                return True
            if action == "error":
                reply = Reply(rule.get("status", 400), None)
                msg = rule.get("fault_message", "fcsim: injected fault")
                reply.body = json.dumps({"fault_message": msg}, separators=(",", ":"),
                                        ensure_ascii=False)
            if action in ("delay", "delay_ms"):
                delay = rule.get("delay_ms", 0) / 1000.0
        if reply is None:
            reply = self.vmm.handle(req.method, path, req.body)
        self._log_reply(reply)
        data = response_bytes(reply.status, reply.body, reply.deprecation)
        if delay > 0:
            self.busy_until = time.monotonic() + delay
            self.held = (conn, data, reply.after)
            return False
        self._send(conn, data)
        self._after(reply.after)
        return False

    def _after(self, after):
        if after == "started":
            self.on_started()
        elif after == "restore_failed":
            self.logger.error("main", "RunWithApiError error: Failed to build MicroVM: Loading "
                              "snapshot failed..")
            self.schedule_exit(0.0, 1)

    def _log_request(self, req, path):
        method = req.method.capitalize()
        if req.body is None or path == "/mmds":
            self.logger.info("fc_api", 'The API server received a %s request on "%s".'
                             % (method, path))
        else:
            body = req.body.decode("utf-8", "replace")
            self.logger.info("fc_api", 'The API server received a %s request on "%s" with body '
                             '%s.' % (method, path, json.dumps(body, ensure_ascii=False)))

    def _log_reply(self, reply):
        if reply.status in (200, 204):
            self.logger.info("fc_api", "The request was executed successfully. Status code: %s."
                             % STATUS_TEXT[reply.status])
        else:
            msg = reply.body or ""
            try:
                msg = json.loads(msg).get("fault_message", msg)
            except (ValueError, AttributeError):
                pass
            self.logger.error("fc_api", "Received Error. Status code: %s. Message: %s"
                              % (STATUS_TEXT.get(reply.status, str(reply.status)), msg))

    def _send(self, conn, data):
        if conn.closed:
            return
        conn.out += data
        self._flush(conn)

    def _flush(self, conn):
        while conn.out and not conn.closed:
            try:
                n = conn.sock.send(conn.out)
            except BlockingIOError:
                break
            except OSError:
                self._close(conn)
                return
            del conn.out[:n]
        if not conn.closed:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
            self.sel.modify(conn.sock, events, ("conn", conn))

    def _close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        self.conns.pop(id(conn), None)

    def _accept(self):
        try:
            s, _ = self.listener.accept()
        except OSError:
            return
        if len(self.conns) >= MAX_CONNECTIONS:
            try:
                s.send(SERVER_FULL)
            except OSError:
                pass
            s.close()
            return
        s.setblocking(False)
        conn = Connection(s, self.payload_limit)
        self.conns[id(conn)] = conn
        self.sel.register(s, selectors.EVENT_READ, ("conn", conn))

    def _read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if self.hung:
            return
        reqs, err = conn.feed(data)
        if err:
            self.logger.error("fc_api", "API Server error on retrieving incoming request: %s"
                              % err)
            conn.out += parse_error_response(err)
            self._flush(conn)
        if conn.out:
            self._flush(conn)
        for r in reqs:
            self.queue.append((conn, r))
        self._drain()

    def _drain(self):
        while self.queue and self.busy_until is None and not self.hung:
            conn, req = self.queue.pop(0)
            if self.process(conn, req):
                return

    # ------------------------------------------------------------ main loop
    def run(self):
        while True:
            now = time.monotonic()
            deadlines = [d for d in (self.guest.next_deadline(), self.net.next_deadline(),
                                     self.busy_until,
                                     self.exit_at[0] if self.exit_at else None,
                                     self.metrics_at) if d is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, mask in self.sel.select(timeout):
                kind, obj = key.data
                if kind == "listen":
                    self._accept()
                elif kind == "vsock":
                    self._vsock_accept(obj)
                elif kind == "tap":
                    self.net.on_readable(obj)
                elif kind == "conn":
                    if mask & selectors.EVENT_WRITE:
                        self._flush(obj)
                    if mask & selectors.EVENT_READ and not obj.closed:
                        self._read(obj)
            now = time.monotonic()
            self.guest.on_time(now)
            self.net.on_time(now)
            if self.busy_until is not None and now >= self.busy_until:
                conn, data, after = self.held
                self.busy_until, self.held = None, None
                self._send(conn, data)
                self._after(after)
                self._drain()
            if self.metrics_at is not None and now >= self.metrics_at:
                self.metrics.write()
                self.metrics_at = now + METRICS_PERIOD_S
            if self.exit_at is not None and now >= self.exit_at[0]:
                _, status, sig = self.exit_at
                self.exit(status, sig)

    def _vsock_accept(self, vs):
        """A host connection to the vsock socket: the guest has no listener,
        so it is closed (after the CONNECT line, as Firecracker's muxer does
        when the guest refuses)."""
        try:
            s, _ = vs["sock"].accept()
            s.close()
        except OSError:
            pass


def main(argv):
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    opts = fcsim_cli.parse(argv)  # exits for --help, --version, bad arguments
    sim = Sim(opts)
    fcsim_cli.install_signal_handlers(sim)
    for line in sim.faults.startup_stderr_lines():
        write_all(2, (line + "\n").encode())
    err = fcsim_cli.apply_startup_options(sim, opts)
    if err:
        sim.logger.error("main", err[0])
        write_all(2, ("Error: %s\n" % err[1]).encode())
        sim.exit(1)
    if opts["no-api"]:
        fcsim_cli.run_config_file(sim, opts)  # boots or exits
        sim.run()
    rule = sim.faults.process_rule("no_api_socket")
    if rule:
        sim.faults.consume(rule)
        e = OSError(errno.EACCES, "")
        err = (rule.get("message") or "RunWithApiError error: Failed to bind and run the HTTP "
               "server: IO error: " + fcsim_cli.os_text(e),
               "RunWithApi(FailedToBindAndRunHttpServer(IOError(%s)))"
               % fcsim_cli.rust_os_debug(e))
    else:
        err = sim.bind(opts["api-sock"])
    if err:
        sim.logger.error("main", err[0])
        write_all(2, ("Error: %s\n" % err[1]).encode())
        sim.exit(1)
    if opts["config-file"] is not None:
        fcsim_cli.run_config_file(sim, opts)
    sim.run()


if __name__ == "__main__":
    main(sys.argv)
