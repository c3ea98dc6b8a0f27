"""uffd_tool - drives vmm_uffd_tool (the userfaultfd page server of
service/vmm behind a line protocol, tests/unit/vmm_uffd_tool.c) from Python,
and loads a snapshot into a Firecracker process with the Uffd memory backend.
Used by vmm_uffd_fc_test.py and tests/bench/bench_uffd.py."""
import json
import os
import subprocess


class ToolError(Exception):
    """The tool answered an error line, or died."""


class UffdTool:
    """One vmm_uffd_tool process: one page server, many sessions by name."""

    def __init__(self, binary, settle_ms=None, handshake_ms=None, populate=False):
        argv = [binary]
        if settle_ms is not None:
            argv += ["--settle-ms", str(settle_ms)]
        if handshake_ms is not None:
            argv += ["--handshake-ms", str(handshake_ms)]
        if populate:
            argv.append("--populate")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ask(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise ToolError("vmm_uffd_tool died (status %s)" % self.proc.poll()) from None
        answer = self.proc.stdout.readline()
        if not answer:
            raise ToolError("vmm_uffd_tool died (status %s)" % self.proc.wait())
        kind, _, rest = answer.rstrip("\n").partition(" ")
        if kind == "error":
            raise ToolError(rest)
        return kind, rest

    def serve(self, name, sock, mem, ws=None):
        """Starts a session listening at sock (absolute path)."""
        self._ask("serve %s %s %s %s" % (name, sock, mem, ws or "-"))

    def wait(self, name, state, timeout_ms):
        """Waits for "serving" or "ended"; returns the state reached."""
        _, rest = self._ask("wait %s %s %d" % (name, state, timeout_ms))
        return rest.split()[1]

    def stats(self, name):
        _, rest = self._ask("stats " + name)
        return json.loads(rest.partition(" ")[2])

    def end(self, name):
        """Ends the session; returns its final figures."""
        _, rest = self._ask("end " + name)
        return json.loads(rest.partition(" ")[2])

    def free(self, name):
        self._ask("free " + name)

    def server(self):
        _, rest = self._ask("server")
        return json.loads(rest)

    def close(self):
        """Ends the tool (its server and sessions); returns its exit status
        (non-zero: it failed, e.g. a sanitizer report)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        return self.proc.returncode


def load_uffd(fc, snapshot_path, sock_path, resume=True):
    """PUT /snapshot/load into a fresh fc_direct.Firecracker, guest memory
    served over the Unix socket sock_path (the page server listens there)."""
    fc.mem_mib = None
    fc.put("/snapshot/load", {"snapshot_path": os.path.abspath(snapshot_path),
                              "mem_backend": {"backend_type": "Uffd",
                                              "backend_path": os.path.abspath(sock_path)},
                              "resume_vm": resume})


def load_file(fc, snapshot_path, mem_path, resume=True):
    """PUT /snapshot/load with the File backend (Firecracker maps the file
    MAP_PRIVATE itself)."""
    fc.mem_mib = os.path.getsize(mem_path) >> 20
    fc.put("/snapshot/load", {"snapshot_path": os.path.abspath(snapshot_path),
                              "mem_backend": {"backend_type": "File",
                                              "backend_path": os.path.abspath(mem_path)},
                              "resume_vm": resume})
