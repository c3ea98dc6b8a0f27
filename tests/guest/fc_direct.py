#!/usr/bin/python3
"""fc_direct - drive a Firecracker binary directly through its API socket.

A plain, dependency-free driver: spawn one Firecracker process per VM (no
jailer, no shell), talk HTTP/1.1 to its API Unix socket, collect its serial
console (Firecracker's standard output) line by line with arrival times.
The guest tests use it as a library; as a command it boots a kernel N times
and reports timings, the baseline that tests/bench/ compares mvmd with
(a process, the same PUTs, InstanceStart, the guest's first console line).

Library:
    with Firecracker(binary, workdir) as fc:
        fc.spawn()
        fc.configure(kernel, boot_args, mem_mib=8)
        fc.start()
        fc.console.wait_for(r"^mvm-test-guest: started$", timeout=30)

Command:
    fc_direct.py --firecracker BIN --kernel VMLINUX [--boot-args ARGS]
                 [--count N] [--parallel P] [--mem-mib M] [--wait-for REGEX]
                 [--timeout S] [--json]
Prints one line per boot (spawn-to-socket, each PUT, InstanceStart, start to
first line, total) and p50 / p99 over the boots. Exit status 1 if any boot
failed.

Firecracker's own log goes to a file in the VM's directory (--log-path), so
its standard output carries nothing but the guest's serial console.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


class FirecrackerError(Exception):
    """A Firecracker API call failed, or the process misbehaved."""


class ApiError(FirecrackerError):
    """An API call answered with an error status; fault_message is
    Firecracker's explanation (the body's "fault_message")."""

    def __init__(self, method, path, status, fault_message):
        super().__init__("%s %s: HTTP %d: %s" % (method, path, status, fault_message))
        self.status = status
        self.fault_message = fault_message


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix stream socket (Firecracker's API socket)."""

    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Console:
    """The guest's serial console: a thread reads the process's standard
    output and keeps every line (without its line ending) with the
    time.monotonic() at which it was read."""

    def __init__(self, stream):
        self.lines = []          # [(monotonic time, text)]
        self.closed = False      # end of file: the process closed stdout
        self._cond = threading.Condition()
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        partial = b""
        while True:
            chunk = os.read(self._stream.fileno(), 65536)
            now = time.monotonic()
            if not chunk:
                break
            partial += chunk
            *complete, partial = partial.split(b"\n")
            if complete:
                with self._cond:
                    for raw in complete:
                        self.lines.append((now, raw.rstrip(b"\r").decode("utf-8", "replace")))
                    self._cond.notify_all()
        with self._cond:
            if partial:
                self.lines.append((time.monotonic(), partial.decode("utf-8", "replace")))
            self.closed = True
            self._cond.notify_all()

    def text(self):
        with self._cond:
            return [line for _, line in self.lines]

    def count(self):
        with self._cond:
            return len(self.lines)

    def wait_for(self, pattern, timeout, start=0):
        """Waits for a line at index >= start matching the regular
        expression; returns (index, time, line). Raises FirecrackerError on
        timeout or end of output."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self.lines):
                    t, line = self.lines[index]
                    if regex.search(line):
                        return index, t, line
                    index += 1
                if self.closed:
                    raise FirecrackerError("console ended without a line matching %r; last lines: %r"
                                           % (pattern, [l for _, l in self.lines[-5:]]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FirecrackerError("no console line matching %r within %.0f s; last lines: %r"
                                           % (pattern, timeout, [l for _, l in self.lines[-5:]]))
                self._cond.wait(left)

    def join(self, timeout):
        self._thread.join(timeout)


# Every Firecracker object between spawn() and close(), for kill_all_on_signal().
_live = set()
_live_lock = threading.RLock()  # the signal handler may interrupt a holder
_shutting_down = False          # set by the handler: spawn() refuses from then on


def kill_all_on_signal(signals=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)):
    """On these signals, SIGKILL every Firecracker process this module
    started and still runs (they run in their own sessions, so they would
    outlive this process), remove their directories, and exit 128+signal.
    Call from the main thread."""
    def handler(signum, frame):
        global _shutting_down
        with _live_lock:
            _shutting_down = True
            vms = list(_live)
        for fc in vms:
            fc.kill()
            if fc._own_workdir:
                shutil.rmtree(fc.workdir, ignore_errors=True)
        os._exit(128 + signum)
    for s in signals:
        signal.signal(s, handler)


class Firecracker:
    """One Firecracker process and its directory (API socket, log file).

    Not thread-safe: one thread drives one instance. close() (or leaving the
    with block) kills the process if it still runs, reaps it and removes
    the directory if this object created it."""

    SOCKET_TIMEOUT = 10.0

    def __init__(self, binary, workdir=None, vm_id="fc-direct", api_timeout=30.0, netns=None):
        self.binary = binary
        self.netns = netns       # a named network namespace to run it in (`ip netns exec`)
        self.vm_id = vm_id
        self.api_timeout = api_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="fc-direct-")
        os.makedirs(self.workdir, exist_ok=True)
        self.socket_path = os.path.join(self.workdir, "api.sock")
        self.log_path = os.path.join(self.workdir, "firecracker.log")
        self.proc = None
        self.console = None
        self._conn = None
        self._stderr = None
        self.timings = {}        # name -> seconds, filled by spawn/configure/start

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- process --------------------------------------------------------

    def spawn(self):
        """Starts the process and waits until its API socket accepts."""
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        open(self.log_path, "w").close()  # Firecracker opens, never creates, it
        self._stderr = open(os.path.join(self.workdir, "stderr"), "wb")
        t0 = time.monotonic()
        with _live_lock:
            if _shutting_down:
                raise FirecrackerError("not starting a VM: shutting down on a signal")
            # `ip netns exec` execs the binary: the pid stays Firecracker's.
            prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
            self.proc = subprocess.Popen(
                prefix + [self.binary, "--api-sock", self.socket_path, "--id", self.vm_id,
                 "--log-path", self.log_path],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                cwd=self.workdir, start_new_session=True)
            _live.add(self)
        self.console = Console(self.proc.stdout)
        deadline = t0 + self.SOCKET_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise FirecrackerError("firecracker exited with status %d before its API socket "
                                       "was up; stderr: %s" % (self.proc.returncode, self.stderr()))
            try:
                self._conn = UnixHTTPConnection(self.socket_path, self.api_timeout)
                self._conn.connect()
                break
            except OSError:
                self._conn = None
                if time.monotonic() > deadline:
                    raise FirecrackerError("API socket %s not accepting after %.0f s"
                                           % (self.socket_path, self.SOCKET_TIMEOUT))
                time.sleep(0.0005)
        self.timings["spawn_to_socket"] = time.monotonic() - t0
        self.timings["spawned_at"] = t0

    def pid(self):
        return self.proc.pid

    def stderr(self):
        path = os.path.join(self.workdir, "stderr")
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-2000:]
        except OSError:
            return ""

    def wait_exit(self, timeout):
        """Waits for the process to exit by itself; returns its status
        (negative: killed by that signal). Raises FirecrackerError."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise FirecrackerError("firecracker pid %d still running after %.0f s"
                                   % (self.proc.pid, timeout)) from None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        with _live_lock:
            _live.discard(self)
        if self._conn:
            self._conn.close()
            self._conn = None
        if self.proc:
            self.kill()
            if self.console:
                self.console.join(5)
            self.proc.stdout.close()
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def rss_kib(self):
        """(VmRSS of the process, resident KiB of the guest-memory mapping)
        from /proc; the guest mapping is the one whose size is the
        configured memory (None if not found)."""
        total = None
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total = int(line.split()[1])
        guest = None
        want = getattr(self, "mem_mib", None)
        if want:
            size = None
            with open("/proc/%d/smaps" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("Size:"):
                        size = int(line.split()[1])
                    elif line.startswith("Rss:") and size == want * 1024:
                        guest = (guest or 0) + int(line.split()[1])
        return total, guest

    # ---- API ------------------------------------------------------------

    def request(self, method, path, body=None):
        """One API call; returns the parsed JSON body (or None). Raises
        ApiError for an error status."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = UnixHTTPConnection(self.socket_path, self.api_timeout)
            try:
                self._conn.request(method, path, body=payload, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                break
            except ConnectionError:  # includes RemoteDisconnected, BrokenPipeError
                # The server closed a kept-alive connection: one retry on a
                # fresh one (the request was not read).
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self._conn.close()
            self._conn = None
        parsed = None
        if data:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode("utf-8", "replace")
        if response.status >= 300:
            fault = parsed.get("fault_message") if isinstance(parsed, dict) else parsed
            raise ApiError(method, path, response.status, fault)
        return parsed

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def get(self, path):
        return self.request("GET", path)

    def _timed(self, name, fn, *args):
        t0 = time.monotonic()
        result = fn(*args)
        self.timings[name] = time.monotonic() - t0
        return result

    def configure(self, kernel, boot_args, mem_mib=8, vcpus=1, initrd=None):
        """machine-config and boot-source. Paths are made absolute: the
        process runs in its own directory."""
        self.mem_mib = mem_mib
        self._timed("put_machine_config", self.put, "/machine-config",
                    {"vcpu_count": vcpus, "mem_size_mib": mem_mib})
        boot = {"kernel_image_path": os.path.abspath(kernel), "boot_args": boot_args}
        if initrd:
            boot["initrd_path"] = os.path.abspath(initrd)
        self._timed("put_boot_source", self.put, "/boot-source", boot)

    def configure_net(self, tap, guest_mac=None, iface="eth0"):
        """A virtio-net interface on the host TAP device `tap` (in the
        process's network namespace); without guest_mac the guest picks
        its own."""
        body = {"iface_id": iface, "host_dev_name": tap}
        if guest_mac:
            body["guest_mac"] = guest_mac
        self.put("/network-interfaces/" + iface, body)

    def start(self):
        self.timings["start_sent_at"] = time.monotonic()
        self._timed("instance_start", self.put, "/actions", {"action_type": "InstanceStart"})

    def pause(self):
        self.patch("/vm", {"state": "Paused"})

    def resume(self):
        self.patch("/vm", {"state": "Resumed"})

    def ctrl_alt_del(self):
        self.put("/actions", {"action_type": "SendCtrlAltDel"})

    def snapshot_create(self, snapshot_path, mem_path):
        """Full snapshot; the VM must be paused."""
        self.put("/snapshot/create", {"snapshot_type": "Full",
                                      "snapshot_path": os.path.abspath(snapshot_path),
                                      "mem_file_path": os.path.abspath(mem_path)})

    def snapshot_load(self, snapshot_path, mem_path, resume=True):
        """Loads a snapshot into this (fresh, unconfigured) process."""
        self.mem_mib = os.path.getsize(mem_path) // (1 << 20)
        self.put("/snapshot/load", {"snapshot_path": os.path.abspath(snapshot_path),
                                    "mem_backend": {"backend_type": "File",
                                                    "backend_path": os.path.abspath(mem_path)},
                                    "resume_vm": resume})


def boot_once(binary, kernel, boot_args, mem_mib, wait_for, timeout, vm_id="fc-direct"):
    """Boots one VM to its first console line matching wait_for, then kills
    it. Returns a dict of timings in milliseconds (or raises)."""
    with Firecracker(binary, vm_id=vm_id) as fc:
        fc.spawn()
        fc.configure(kernel, boot_args, mem_mib=mem_mib)
        fc.start()
        _, seen_at, line = fc.console.wait_for(wait_for, timeout)
        t = fc.timings
        ms = lambda s: round(s * 1000, 3)
        return {
            "spawn_to_socket_ms": ms(t["spawn_to_socket"]),
            "put_machine_config_ms": ms(t["put_machine_config"]),
            "put_boot_source_ms": ms(t["put_boot_source"]),
            "instance_start_ms": ms(t["instance_start"]),
            "start_to_line_ms": ms(seen_at - t["start_sent_at"]),
            "total_ms": ms(seen_at - t["spawned_at"]),
            "line": line,
        }


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--firecracker", required=True, help="the firecracker binary")
    ap.add_argument("--kernel", required=True, help="kernel image (ELF vmlinux)")
    ap.add_argument("--boot-args", default="console=ttyS0 reboot=k panic=1")
    ap.add_argument("--mem-mib", type=int, default=8)
    ap.add_argument("--count", type=int, default=10, help="boots (default 10)")
    ap.add_argument("--parallel", type=int, default=1, help="boots at once (default 1)")
    ap.add_argument("--wait-for", default="", help="regex of the console line to time "
                    "(default: the first line)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per boot")
    ap.add_argument("--json", action="store_true", help="one JSON object per boot, then a summary")
    args = ap.parse_args(argv)

    results, failures = [None] * args.count, []
    lock = threading.Lock()
    next_index = [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= args.count:
                    return
                next_index[0] += 1
            try:
                results[i] = boot_once(args.firecracker, args.kernel, args.boot_args,
                                       args.mem_mib, args.wait_for, args.timeout,
                                       vm_id="fc-direct-%d" % i)
            except (FirecrackerError, OSError) as e:
                with lock:
                    failures.append("boot %d: %s" % (i, e))

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    done = [r for r in results if r]
    for i, r in enumerate(results):
        if not r:
            continue
        if args.json:
            print(json.dumps(dict(r, boot=i)))
        else:
            print("boot %3d: socket %7.2f  machine-config %6.2f  boot-source %6.2f  "
                  "InstanceStart %6.2f  start->line %8.2f  total %8.2f ms"
                  % (i, r["spawn_to_socket_ms"], r["put_machine_config_ms"],
                     r["put_boot_source_ms"], r["instance_start_ms"],
                     r["start_to_line_ms"], r["total_ms"]))
    for f in failures:
        print("FAILED " + f, file=sys.stderr)
    if done:
        summary = {"boots": len(done), "failed": len(failures)}
        for key in ("total_ms", "start_to_line_ms", "spawn_to_socket_ms", "instance_start_ms"):
            values = [r[key] for r in done]
            summary[key] = {"p50": percentile(values, 50), "p99": percentile(values, 99),
                            "min": min(values), "max": max(values)}
        if args.json:
            print(json.dumps({"summary": summary}))
        else:
            for key in ("total_ms", "start_to_line_ms", "spawn_to_socket_ms", "instance_start_ms"):
                s = summary[key]
                print("%-19s p50 %8.2f  p99 %8.2f  min %8.2f  max %8.2f  (%d boots)"
                      % (key, s["p50"], s["p99"], s["min"], s["max"], len(done)))
    return 1 if failures or not done else 0


if __name__ == "__main__":
    kill_all_on_signal()
    sys.exit(main())
