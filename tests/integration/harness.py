#!/usr/bin/python3
"""harness.py - starts a throwaway mvmd for integration tests and tools.

As a module:

    from harness import Mvmd
    with Mvmd("build") as d:          # certs, state dir, ports: all temporary
        d.tls_addr, d.unix_path, d.metrics_addr, d.certs, d.state_dir, d.proc
        # with extra_args=["--insecure"]: d.insecure_addr instead of d.tls_addr;
        # d.tcp_addr is whichever of the two mvmd listens on
        d.restart()                   # SIGTERM, then start again, same state
        rc = d.stop()                 # SIGTERM; returns mvmd's exit status
    # leaving the block kills mvmd if still running and removes the temp dir

As a command (runs CMD against a fresh mvmd, then stops it):

    harness.py --build BUILD_DIR [--mvmd-arg=ARG ...] -- CMD [ARGS...]

CMD sees MVM_ENDPOINT (127.0.0.1:PORT), MVM_SOCKET, MVM_CERT, MVM_KEY,
MVM_CA, MVM_CERTS_DIR, MVM_METRICS, MVM_STATE_DIR, MVMD_PID, and
MVM_KERNEL_IMAGE / MVM_ROOTFS_IMAGE (placeholder image files) (and
MVM_INSECURE=1 if mvmd got --insecure, MVM_ENDPOINT then being h2c). The exit
status is CMD's, or 1 if CMD succeeded but mvmd did not exit 0 on SIGTERM.
The mvmd binary is BUILD_DIR/service/mvmd unless --mvmd or $MVMD names one.
"""
import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN_CERTS = os.path.join(REPO, "scripts", "gen-certs.sh")
# What mvmd is given as --firecracker when a test does not name one.
NO_FIRECRACKER = "/nonexistent/firecracker"


def _die_with_parent():
    """In the child before exec: SIGTERM it when the test process dies (a
    killed or timed-out test must not leave an mvmd behind)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class MvmdError(RuntimeError):
    """mvmd failed to start or to report that it is listening."""


class Mvmd:
    """One mvmd process on loopback ports and a unix socket in a temp dir."""

    def __init__(self, build_dir=None, extra_args=(), binary=None,
                 ready_timeout=30.0, metrics=True, prefix=(), env=None):
        if binary is None:
            binary = os.environ.get("MVMD") or os.path.join(
                build_dir or os.path.join(REPO, "build"), "service", "mvmd")
        self.binary = os.path.abspath(binary)
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.metrics = metrics
        self.prefix = list(prefix)  # e.g. ["taskset", "-c", "0"]; must exec mvmd
        self.mvmd_env = dict(env or {})  # extra environment for mvmd (changeable between starts)
        self.tmp = None
        self.proc = None
        self.tls_addr = self.insecure_addr = self.tcp_addr = None
        self.unix_path = self.metrics_addr = None
        self._log = None

    # -- paths inside the temp dir -------------------------------------
    @property
    def certs(self):
        return os.path.join(self.tmp, "certs")

    @property
    def state_dir(self):
        return os.path.join(self.tmp, "state")

    @property
    def log_path(self):
        return os.path.join(self.tmp, "mvmd.log")

    @property
    def kernel_image(self):
        """A placeholder kernel file (pools need readable image files)."""
        return os.path.join(self.tmp, "images", "vmlinux")

    @property
    def rootfs_image(self):
        return os.path.join(self.tmp, "images", "rootfs.ext4")

    def cert(self, name):
        """Path of a file made by gen-certs.sh, e.g. cert("client.pem")."""
        return os.path.join(self.certs, name)

    # -- lifecycle -------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        """Starts mvmd (making certs and state dir the first time) and waits
        until its ready file names every endpoint."""
        if self.proc is not None and self.proc.poll() is None:
            raise MvmdError("mvmd is already running")
        if not os.access(self.binary, os.X_OK):
            raise MvmdError("no mvmd executable at %s" % self.binary)
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="mvmd-")
            os.mkdir(self.state_dir, 0o700)
            subprocess.run(["sh", GEN_CERTS, self.certs], check=True,
                           stdout=subprocess.DEVNULL)
            os.mkdir(os.path.join(self.tmp, "images"))
            for path in (self.kernel_image, self.rootfs_image):
                with open(path, "wb") as f:
                    f.truncate(1 << 16)
        ready = os.path.join(self.tmp, "ready")
        sock = os.path.join(self.tmp, "mvmd.sock")
        for stale in (ready, sock):
            if os.path.exists(stale):
                os.unlink(stale)
        args = self.prefix + [self.binary, "--listen", "127.0.0.1:0", "--socket", sock,
                "--state-dir", self.state_dir,
                "--tls-cert", self.cert("server.pem"),
                "--tls-key", self.cert("server.key"),
                "--client-ca", self.cert("ca.pem"),
                "--ready-file", ready]
        # Never the default metrics port: tests run side by side.
        args += ["--metrics-listen", "127.0.0.1:0" if self.metrics else "off"]
        # Deterministic whatever the machine has on PATH: no Firecracker
        # unless the test names one (the lifecycle suites do).
        if not any(a == "--firecracker" or a.startswith("--firecracker=") for a in self.extra_args):
            args += ["--firecracker", NO_FIRECRACKER]
        # No tenant bridges or nftables on the machine running the tests:
        # networking only where a suite asks for it (the network suite runs
        # mvmd inside network namespaces of its own).
        if not any(a == "--network" or a.startswith("--network=") for a in self.extra_args):
            args += ["--network", "off"]
        args += self.extra_args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **self.mvmd_env),
                                     preexec_fn=_die_with_parent)
        self._wait_ready(ready)
        return self

    def _wait_ready(self, ready):
        deadline = time.monotonic() + self.ready_timeout
        while True:
            got = _read_ready(ready)
            tcp = got.get("tls") or got.get("insecure")  # "insecure" with --insecure
            if tcp and "unix" in got and (got.get("metrics") or not self.metrics):
                self.tls_addr = got.get("tls")
                self.insecure_addr = got.get("insecure")
                self.tcp_addr = tcp
                self.unix_path = got["unix"]
                self.metrics_addr = got.get("metrics")
                return
            rc = self.proc.poll()
            if rc is not None:
                raise MvmdError("mvmd exited with status %d before it was ready:\n%s"
                                % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill()
                raise MvmdError("mvmd not ready after %.0fs:\n%s"
                                % (self.ready_timeout, self.log_tail()))
            time.sleep(0.02)

    def log_tail(self, limit=4000):
        """The last `limit` bytes mvmd wrote to stdout/stderr."""
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def stop(self, timeout=30.0):
        """SIGTERM, wait for the drain, return the exit status (negative
        signal number if it had to be killed after `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash, as far as mvmd's state is concerned)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()
        return self.proc.returncode if self.proc else None

    def restart(self, timeout=30.0):
        """Stops mvmd gracefully and starts it again on the same state dir
        and certs; the endpoints change. Returns the stop's exit status."""
        rc = self.stop(timeout)
        self.start()
        return rc

    def close(self):
        """Kills mvmd if it still runs, then every process it left working
        inside the temp dir (microVMs outlive mvmd by design), and removes
        the temp dir."""
        self.kill()
        if self.tmp is not None:
            for pid in processes_in(self.tmp):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def env(self):
        """Environment variables describing this mvmd (see module doc)."""
        env = {
            "MVM_ENDPOINT": self.tcp_addr,
            "MVM_SOCKET": self.unix_path,
            "MVM_CERT": self.cert("client.pem"),
            "MVM_KEY": self.cert("client.key"),
            "MVM_CA": self.cert("ca.pem"),
            "MVM_CERTS_DIR": self.certs,
            "MVM_METRICS": self.metrics_addr or "",
            "MVM_STATE_DIR": self.state_dir,
            "MVMD_PID": str(self.proc.pid),
            "MVM_KERNEL_IMAGE": self.kernel_image,
            "MVM_ROOTFS_IMAGE": self.rootfs_image,
        }
        if self.insecure_addr:
            env["MVM_INSECURE"] = "1"
        return env


def processes_in(directory):
    """Pids of the processes whose working directory is inside directory
    (mvmd runs each Firecracker in its instance's directory)."""
    directory = os.path.realpath(directory)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + "/"):
            pids.append(int(entry))
    return pids


def _read_ready(path):
    """Complete "key value" lines of the ready file, as a dict."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.split("\n")[:-1]:  # the last piece may be half-written
        key, _, value = line.strip().partition(" ")
        if key and value:
            out[key] = value.strip()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Run a command against a fresh mvmd.")
    p.add_argument("--build", help="build directory (default: build/ in the repo)")
    p.add_argument("--mvmd", help="mvmd binary (default BUILD/service/mvmd)")
    p.add_argument("--mvmd-arg", action="append", default=[],
                   help="extra argument for mvmd (repeatable)")
    p.add_argument("--no-metrics", action="store_true",
                   help="run mvmd with metrics off")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for readiness and for the drain")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command given after --")
    try:
        return _run(a, cmd)
    except (MvmdError, subprocess.CalledProcessError) as e:
        print("harness: %s" % e, file=sys.stderr)
        return 1


def _run(a, cmd):
    with Mvmd(a.build, a.mvmd_arg, a.mvmd, a.timeout, not a.no_metrics) as d:
        env = dict(os.environ, **d.env())
        try:
            status = subprocess.call(cmd, env=env)
        except OSError as e:
            print("harness: cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
            status = 127
        rc = d.stop(a.timeout)
        if status != 0 or rc != 0:
            sys.stderr.write("harness: mvmd log tail:\n%s\n" % d.log_tail())
        if rc != 0:
            print("harness: mvmd exited with status %s on SIGTERM" % rc, file=sys.stderr)
            if status == 0:
                status = 1
    if status < 0:  # the command died of a signal
        status = 128 - status
    return status


if __name__ == "__main__":
    sys.exit(main())
