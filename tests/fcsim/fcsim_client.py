"""fcsim_client.py - test helpers shared by the Firecracker simulator's test
suites: start a Firecracker-like process (the simulator or the real
binary) in its own temporary directory, talk HTTP/1.1 to its API socket
over one kept-alive connection (or raw bytes), and read its console. All
waits are bounded."""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "firecracker_sim.py")
REQUEST_TIMEOUT_S = 10.0


class Proc:
    """One process with its work directory, API socket and console file."""

    def __init__(self, binary, extra_args=(), env=None, instance_id="fc-test", wait=True,
                 netns=None):
        """netns: a named network namespace to run it in (`ip netns exec`,
        which execs it: the pid is the process's own)."""
        self.dir = tempfile.mkdtemp(prefix="fcsim-")
        self.sock_path = os.path.join(self.dir, "api.sock")
        self.out_path = os.path.join(self.dir, "console.out")
        self.err_path = os.path.join(self.dir, "stderr.out")
        self.binary = binary
        args = [binary, "--api-sock", self.sock_path, "--id", instance_id] + list(extra_args)
        if netns:
            args = ["ip", "netns", "exec", netns] + args
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      cwd=self.dir, env=full_env, start_new_session=True)
        self.conn = None
        self.ready_s = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                return False
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                self.ready_s = time.monotonic() - t0
                self.conn = s
                return True
            except OSError:
                s.close()
                time.sleep(0.002)
        return False

    def path(self, name):
        return os.path.join(self.dir, name)

    def request(self, method, path, body=None, headers=None):
        """One request on the kept-alive connection: (status, headers, body)."""
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        return self.raw(raw, 1)[0]

    def raw(self, data, n_responses, timeout=REQUEST_TIMEOUT_S, conn=None):
        """Sends bytes, reads up to n responses: [(status, headers, body)]
        (fewer when the peer closes or the time runs out)."""
        s = conn or self.conn
        s.sendall(data)
        out, buf = [], b""
        deadline = time.monotonic() + timeout
        while len(out) < n_responses:
            resp, buf = parse_response(buf)
            if resp:
                out.append(resp)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return out

    def console(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_console(self, pattern, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.console(), re.M)
            if m:
                return m
            if self.p.poll() is not None:
                return re.search(pattern, self.console(), re.M)
            time.sleep(0.05)
        return None

    def wait_exit(self, timeout=10.0):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self, keep_dir=False):
        if self.conn:
            self.conn.close()
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(10)
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def parse_response(buf):
    """One HTTP response from the front of buf: ((status, headers, body), rest)
    or (None, buf)."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None, buf
    head = buf[:i].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
    if not m:
        return (0, {}, buf), b""
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if len(buf) < i + 4 + n:
        return None, buf
    return (int(m.group(1)), headers, buf[i + 4:i + 4 + n].decode("utf-8", "replace")), \
        buf[i + 4 + n:]


def fake_kernel(path):
    """A file the simulator accepts as a kernel (an x86_64 ELF header); the
    real binary needs a real guest (MVM_TEST_GUEST_KERNEL)."""
    hdr = bytearray(64)
    hdr[0:4] = b"\x7fELF"
    hdr[4], hdr[5], hdr[6] = 2, 1, 1
    hdr[16:18] = (2).to_bytes(2, "little")
    hdr[18:20] = (62).to_bytes(2, "little")
    with open(path, "wb") as f:
        f.write(bytes(hdr) + b"\0" * 4096)
    return path


# A suite's tally: ok() counts, run_cases() reports.
PASSED, FAILED = [0], []


def ok(cond, what, detail=""):
    """One check: counted when cond holds, else recorded and printed."""
    if cond:
        PASSED[0] += 1
    else:
        FAILED.append(what)
        print("FAIL %s %s" % (what, detail))


def run_cases(cases):
    """Runs each case (a function), printing its name and time, then the
    failed checks and "N passed, N failed"; returns the exit status (1 on a
    failure)."""
    for case in cases:
        t0 = time.monotonic()
        case()
        print("%-32s %.1fs" % (case.__name__, time.monotonic() - t0))
    if FAILED:
        print("failures:\n  " + "\n  ".join(FAILED))
    print("%d passed, %d failed" % (PASSED[0], len(FAILED)))
    return 1 if FAILED else 0
