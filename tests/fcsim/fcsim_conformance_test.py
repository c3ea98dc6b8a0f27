#!/usr/bin/python3
"""fcsim_conformance_test.py - runs the same API request sequences against
the Firecracker simulator (tests/fcsim/firecracker_sim.py, a test double)
and, when MVM_TEST_FIRECRACKER names one, against the real Firecracker
binary, and compares status codes and bodies (fault_message texts
exactly, after the normalisation below).

Each scenario runs on a fresh process of each implementation, in its own
temporary directory; "{dir}" in a request stands for that directory and
"{kernel}" for the guest kernel. Normalisation before comparing: the
directory path becomes "<DIR>"; nothing else (OS error texts come from the
same libc on both sides, so "(os error 2)" compares as is).

Scenarios marked `boot` start the guest: against the real binary they need
MVM_TEST_GUEST_KERNEL (the project's test guest); without it they are
skipped for the real binary, loudly. Against the simulator alone every
scenario runs, with a stand-in kernel file, and each step's expected
status (written in the table, checked against the real binary) is
asserted.

Usage: fcsim_conformance_test.py [--real PATH] [--kernel PATH] [-v]
Prints "N passed, N failed" last; exit status 1 on any failure."""

import argparse
import json
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcsim_client import SIM, Proc, fake_kernel  # noqa: E402

PUT, GET, PATCH = "PUT", "GET", "PATCH"
BS = '{"kernel_image_path":"{kernel}","boot_args":"console=ttyS0 reboot=k panic=1"}'


def step(method, path, body=None, expect=None):
    return ("REQ", method, path, body, expect)


def raw(data, n=1, expect=None):
    return ("RAW", data, n, expect)


def mkfile(name, size=1 << 20):
    return ("FILE", name, size)


def mkfifo(name):
    return ("FIFO", name)


def sleep(s):
    return ("SLEEP", s)


# (name, needs boot, steps). `expect` is the status; every REQ/RAW step is
# one case.
SCENARIOS = [
    ("info-and-version", False, [
        step(GET, "/", expect=200),
        step(GET, "/version", expect=200),
        step(GET, "/machine-config", expect=200),
        step(GET, "/vm/config", expect=200),
        step(GET, "/mmds", expect=200),
        step(GET, "/balloon", expect=400),
        step(GET, "/balloon/statistics", expect=400),
        step(GET, "/balloon/nope", expect=400),
    ]),
    ("routing", False, [
        step(GET, "/nope", expect=400),
        step(PUT, "/nope", "{}", expect=400),
        step(PATCH, "/nope", "{}", expect=400),
        step(GET, "/vm", expect=400),
        step(PUT, "/machine-config", expect=400),          # no body
        step(PATCH, "/machine-config", expect=400),        # no body
        step(GET, "/machine-config", "{}", expect=400),    # GET with a body
        step(PUT, "/snapshot", "{}", expect=400),
        step(PUT, "/snapshot/nope", "{}", expect=400),
        step(PUT, "/mmds/nope", "{}", expect=400),
        step(PUT, "/drives", '{"drive_id":"a"}', expect=400),
        step(PUT, "/drives/a-b", '{"drive_id":"a-b"}', expect=400),
        step(PUT, "/version", "{}", expect=400),
    ]),
    ("bad-json", False, [
        step(PUT, "/boot-source", "not json", expect=400),
        step(PUT, "/boot-source", "{", expect=400),
        step(PUT, "/boot-source", "{}", expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path": 5}', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"/x","bogus":1}', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"/x",}', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"/x"} trailing', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"/x",\n "boot_args": [1]}', expect=400),
        step(PUT, "/boot-source", '[]', expect=400),
        step(PUT, "/boot-source", '"str"', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"/x","kernel_image_path":"/y"}', expect=400),
        step(PUT, "/boot-source", '{1:2}', expect=400),
    ]),
    ("machine-config", False, [
        step(PUT, "/machine-config", '{"vcpu_count":2,"mem_size_mib":256}', expect=204),
        step(GET, "/machine-config", expect=200),
        step(PUT, "/machine-config", '{"vcpu_count":0,"mem_size_mib":256}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":33,"mem_size_mib":256}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":256,"mem_size_mib":256}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":-1,"mem_size_mib":256}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1.5,"mem_size_mib":256}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":3,"mem_size_mib":256,"smt":true}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":0}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":128,"huge_pages":"1G"}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":129,"huge_pages":"2M"}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":128,"cpu_template":"T9"}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":128,"track_dirty_pages":"yes"}', expect=400),
        step(PATCH, "/machine-config", '{}', expect=400),
        step(PATCH, "/machine-config", '{"mem_size_mib":512}', expect=204),
        step(PATCH, "/machine-config", '{"bogus":1}', expect=400),
        step(GET, "/machine-config", expect=200),
    ]),
    ("boot-source-and-drives", False, [
        mkfile("rootfs.img"), mkfile("data.img"),
        step(PUT, "/boot-source", '{"kernel_image_path":"{dir}/missing"}', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"{dir}/rootfs.img","initrd_path":"{dir}/missing"}', expect=400),
        step(PUT, "/boot-source", '{"kernel_image_path":"{dir}/rootfs.img","boot_args":"caf\u00e9"}', expect=204),
        step(PUT, "/boot-source", '{"kernel_image_path":"{dir}/rootfs.img","boot_args":"console=ttyS0"}', expect=204),
        step(PUT, "/drives/rootfs", '{"drive_id":"rootfs","path_on_host":"{dir}/rootfs.img","is_root_device":true,"is_read_only":false}', expect=204),
        step(PUT, "/drives/other", '{"drive_id":"other","path_on_host":"{dir}/rootfs.img","is_root_device":true,"is_read_only":false}', expect=400),
        step(PUT, "/drives/data", '{"drive_id":"data","path_on_host":"{dir}/missing.img","is_root_device":false}', expect=400),
        step(PUT, "/drives/data", '{"drive_id":"data","is_root_device":false}', expect=400),
        step(PUT, "/drives/data", '{"drive_id":"data","path_on_host":"{dir}/data.img"}', expect=400),
        step(PUT, "/drives/data", '{"drive_id":"other","path_on_host":"{dir}/data.img","is_root_device":false}', expect=400),
        step(PUT, "/drives/data", '{"drive_id":"data","path_on_host":"{dir}/data.img","is_root_device":false,"is_read_only":true,"cache_type":"Writeback","rate_limiter":{"bandwidth":{"size":1000,"refill_time":100}}}', expect=204),
        step(PUT, "/drives/data", '{"drive_id":"data","path_on_host":"{dir}/data.img","is_root_device":false,"io_engine":"Turbo"}', expect=400),
        step(PATCH, "/drives/data", '{"drive_id":"data","path_on_host":"{dir}/data.img"}', expect=400),
        step(GET, "/vm/config", expect=200),
    ]),
    ("logger-metrics", False, [
        mkfile("log.txt", 0), mkfifo("metrics.fifo"),
        step(PUT, "/logger", '{"log_path":"{dir}/missing/log"}', expect=400),
        step(PUT, "/logger", '{"log_path":"{dir}/log.txt","level":"Loud"}', expect=400),
        step(PUT, "/logger", '{"log_path":"{dir}/log.txt","level":"debug","show_level":true}', expect=204),
        step(PUT, "/logger", '{"log_path":"{dir}/log.txt","level":"Warning","color":true}', expect=400),
        step(PUT, "/metrics", '{"metrics_path":"{dir}/missing/m"}', expect=400),
        step(PUT, "/metrics", '{"metrics_path":"{dir}/metrics.fifo","extra":1}', expect=204),
        step(PUT, "/metrics", '{"metrics_path":"{dir}/metrics.fifo"}', expect=400),
        step(PUT, "/actions", '{"action_type":"FlushMetrics"}', expect=400),
    ]),
    ("mmds-v1-v2", False, [
        step(PATCH, "/mmds", '{"a":1}', expect=400),
        step(PUT, "/mmds", '{"b":{"c":[1,2.5,"x"]},"a":null}', expect=204),
        step(GET, "/mmds", expect=200),
        step(PATCH, "/mmds", '{"b":{"c":null,"d":"e"},"z":true}', expect=204),
        step(GET, "/mmds", expect=200),
        step(PUT, "/mmds", '{"b":', expect=400),
        step(PUT, "/mmds/config", '{"network_interfaces":["eth0"]}', expect=400),
        step(PUT, "/mmds/config", '{"version":"V3","network_interfaces":[]}', expect=400),
        step(PUT, "/mmds/config", '{"version":"V2","network_interfaces":[]}', expect=400),
        step(PUT, "/mmds/config", '{"version":"V2","network_interfaces":["eth0"],"ipv4_address":"10.0.0.1"}', expect=400),
        step(PUT, "/mmds/config", '{"version":"V2","network_interfaces":["eth0"],"ipv4_address":"nope"}', expect=400),
        step(PUT, "/mmds", '"' + "x" * 51300 + '"', expect=400),  # over the payload limit
    ]),
    ("mmds-size-limit", False, [
        step(PUT, "/mmds", '{"k":"' + "x" * 30000 + '"}', expect=204),
        step(PATCH, "/mmds", '{"k2":"' + "y" * 30000 + '"}', expect=413),
        step(PUT, "/mmds", '{"k":"small"}', expect=204),
        step(PATCH, "/mmds", '{"k2":"' + "y" * 30000 + '"}', expect=204),
        step(GET, "/mmds", expect=200),
        step(PUT, "/mmds", '{"k":"' + "z" * 51150 + '" }', expect=204),
    ]),
    ("vsock", False, [
        step(PUT, "/vsock", '{"guest_cid":3}', expect=400),
        step(PUT, "/vsock", '{"guest_cid":-3,"uds_path":"{dir}/v.sock"}', expect=400),
        step(PUT, "/vsock", '{"guest_cid":3,"uds_path":"{dir}/missing/v.sock"}', expect=400),
        step(PUT, "/vsock", '{"guest_cid":3,"uds_path":"{dir}/v.sock"}', expect=204),
        step(PUT, "/vsock", '{"guest_cid":4,"uds_path":"{dir}/v2.sock","vsock_id":"x"}', expect=204),
        step(GET, "/vm/config", expect=200),
    ]),
    ("entropy-balloon-net-cpu", False, [
        step(PUT, "/entropy", '{}', expect=204),
        step(PUT, "/entropy", '{"rate_limiter":{"ops":{"size":"x"}}}', expect=400),
        step(PUT, "/balloon", '{"amount_mib":1000,"deflate_on_oom":true}', expect=400),
        step(PUT, "/balloon", '{"amount_mib":10}', expect=400),
        step(PUT, "/balloon", '{"amount_mib":10,"deflate_on_oom":false,"stats_polling_interval_s":1}', expect=204),
        step(GET, "/balloon", expect=200),
        step(PATCH, "/balloon", '{"amount_mib":5}', expect=400),
        step(PUT, "/network-interfaces/eth0", '{"iface_id":"eth1","host_dev_name":"tap0"}', expect=400),
        step(PUT, "/network-interfaces/eth0", '{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"zz"}', expect=400),
        step(PUT, "/network-interfaces/eth0", '{"iface_id":"eth0","host_dev_name":"averyveryverylongtapname"}', expect=400),
        # The TAP is opened at PUT time; "lo" exists everywhere and is no TAP
        # (nothing is created on the host).
        step(PUT, "/network-interfaces/eth0", '{"iface_id":"eth0","host_dev_name":"lo"}', expect=400),
        step(PATCH, "/network-interfaces/eth0", '{"iface_id":"eth0"}', expect=400),
        step(PUT, "/cpu-config", '{"kvm_capabilities":[]}', expect=204),
    ]),
    ("preboot-refusals", False, [
        step(PATCH, "/vm", '{"state":"Paused"}', expect=400),
        step(PATCH, "/vm", '{"state":"Frozen"}', expect=400),
        step(PUT, "/snapshot/create", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/m"}', expect=400),
        step(PUT, "/actions", '{"action_type":"SendCtrlAltDel"}', expect=400),
        step(PUT, "/actions", '{"action_type":"Reboot"}', expect=400),
        step(PUT, "/actions", '{"action_type":"InstanceStart"}', expect=400),
        step(PUT, "/snapshot/load", '{"snapshot_path":"{dir}/s"}', expect=400),
        step(PUT, "/snapshot/load", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/m","mem_backend":{"backend_path":"{dir}/m","backend_type":"File"}}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":128}', expect=204),
        step(PUT, "/snapshot/load", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/m"}', expect=400),
    ]),
    ("http-edges", False, [
        raw(b"GET / HTTP/1.1\r\n\r\n" * 3, 3, expect=200),                            # pipelined
        raw(b"PUT /machine-config HTTP/1.1\r\n\r\n", 1, expect=400),                  # no Content-Length
        raw(b"DELETE / HTTP/1.1\r\n\r\n", 1, expect=400),
        raw(b"GET / HTTP/2.0\r\n\r\n", 1, expect=400),
        raw(b"GET / HTTP/1.0\r\n\r\n", 1, expect=200),
        raw(b"GET /version HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 1, expect=400),
        # after a bad header line micro_http goes on reading header lines:
        raw(b"GET / HTTP/1.1\r\nX-Custom: 1\r\n\r\n", 1, expect=400),
    ]),
    ("http-headers", False, [
        raw(b"GET / HTTP/1.1\r\nX-Custom: 1\r\nAccept: text/plain\r\n\r\n", 1, expect=200),
        raw(b"PATCH /vm HTTP/1.1\r\nContent-Length: 17\r\nExpect: 100-continue\r\n\r\n{\"state\":\"Pause\"}", 2, expect=100),
        raw(b"PUT /mmds HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", 1, expect=204),
        raw(b"GET / HTTP/1.1\r\nAccept-Encoding: identity;q=0\r\n\r\n", 1, expect=400),
    ]),
    ("http-keepalive", False, [
        raw(b"".join(b"GET /version HTTP/1.1\r\n\r\n" for _ in range(50)), 50, expect=200),
        raw(b"GET /" + b"x" * 1100 + b" HTTP/1.1\r\n\r\n", 1, expect=400),
    ]),
    ("http-bad-header", False, [
        raw(b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 1, expect=400),
    ]),
    ("postboot", True, [
        mkfile("rootfs.img"), mkfile("log.txt", 0), mkfile("metrics.json", 0),
        step(PUT, "/logger", '{"log_path":"{dir}/log.txt","level":"Info"}', expect=204),
        step(PUT, "/metrics", '{"metrics_path":"{dir}/metrics.json"}', expect=204),
        step(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":64}', expect=204),
        step(PUT, "/boot-source", BS, expect=204),
        step(PUT, "/drives/rootfs", '{"drive_id":"rootfs","path_on_host":"{dir}/rootfs.img","is_root_device":true,"is_read_only":false}', expect=204),
        step(PUT, "/vsock", '{"guest_cid":3,"uds_path":"{dir}/v.sock"}', expect=204),
        step(PUT, "/mmds", '{"instance":{"id":"i-1"}}', expect=204),
        step(PUT, "/actions", '{"action_type":"InstanceStart"}', expect=204),
        step(GET, "/", expect=200),
        step(PUT, "/actions", '{"action_type":"InstanceStart"}', expect=400),
        step(PUT, "/machine-config", '{"vcpu_count":2,"mem_size_mib":64}', expect=400),
        step(PATCH, "/machine-config", '{"vcpu_count":2}', expect=400),
        step(PUT, "/boot-source", BS, expect=400),
        step(PUT, "/logger", '{"level":"Info"}', expect=400),
        step(PUT, "/metrics", '{"metrics_path":"{dir}/metrics.json"}', expect=400),
        step(PUT, "/vsock", '{"guest_cid":3,"uds_path":"{dir}/v3.sock"}', expect=400),
        step(PUT, "/mmds/config", '{"network_interfaces":["eth0"]}', expect=400),
        step(PUT, "/drives/rootfs", '{"drive_id":"rootfs","path_on_host":"{dir}/rootfs.img","is_root_device":true}', expect=400),
        step(PATCH, "/drives/nope", '{"drive_id":"nope","path_on_host":"{dir}/rootfs.img"}', expect=400),
        step(PATCH, "/drives/rootfs", '{"drive_id":"rootfs","path_on_host":"{dir}/rootfs.img"}', expect=204),
        step(PATCH, "/mmds", '{"instance":{"zone":"a"}}', expect=204),
        step(GET, "/mmds", expect=200),
        step(PUT, "/actions", '{"action_type":"FlushMetrics"}', expect=204),
        step(PUT, "/snapshot/create", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/m"}', expect=400),
        step(PUT, "/snapshot/load", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/m"}', expect=400),
        step(PATCH, "/vm", '{"state":"Paused"}', expect=204),
        step(GET, "/", expect=200),
        step(PATCH, "/vm", '{"state":"Paused"}', expect=204),
        step(PUT, "/snapshot/create", '{"snapshot_type":"Diff","snapshot_path":"{dir}/s","mem_file_path":"{dir}/m"}', expect=400),
        step(PUT, "/snapshot/create", '{"snapshot_path":"{dir}/nodir/s","mem_file_path":"{dir}/m"}', expect=400),
        step(PUT, "/snapshot/create", '{"snapshot_path":"{dir}/s","mem_file_path":"{dir}/nodir/m"}', expect=400),
        step(PUT, "/snapshot/create", '{"snapshot_path":"s.state","mem_file_path":"s.mem"}', expect=204),
        step(PATCH, "/vm", '{"state":"Resumed"}', expect=204),
        step(GET, "/vm/config", expect=200),
    ]),
]


def materialize(text, proc, kernel):
    return text.replace("{dir}", proc.dir).replace("{kernel}", kernel)


def normalize(text, proc):
    return text.replace(proc.dir, "<DIR>")


def canon(status, body):
    """A comparable form of one answer."""
    try:
        v = json.loads(body) if body else None
    except ValueError:
        v = body
    return (status, v)


def run_scenario(binary, steps, kernel, env=None):
    """Runs the steps on a fresh process; returns [(label, status, body)]."""
    proc = Proc(binary, env=env)
    results = []
    try:
        if proc.conn is None:
            return [("startup", -1, proc.stderr())]
        for st in steps:
            kind = st[0]
            if kind == "FILE":
                with open(proc.path(st[1]), "wb") as f:
                    f.truncate(st[2])
                continue
            if kind == "FIFO":
                os.mkfifo(proc.path(st[1]))
                continue
            if kind == "SLEEP":
                time.sleep(st[1])
                continue
            if kind == "REQ":
                _, method, path, body, _ = st
                label = "%s %s %s" % (method, path, (body or "")[:70])
                if body is not None:
                    body = materialize(body, proc, kernel)
                r = proc.request(method, materialize(path, proc, kernel), body)
                if r is None:
                    results.append((label, -1, "no answer"))
                else:
                    results.append((label, r[0], normalize(r[2], proc)))
                continue
            if kind == "RAW":
                _, data, n, _ = st
                label = "RAW %r" % data[:60]
                rs = proc.raw(data, n, timeout=5.0)
                results.append((label, [r[0] for r in rs],
                                [normalize(r[2], proc) for r in rs]))
                continue
    finally:
        proc.close()
    return results


def expected_statuses(steps):
    return [st[-1] for st in steps if st[0] in ("REQ", "RAW")]


class Tally:
    def __init__(self, verbose):
        self.passed = self.failed = 0
        self.verbose = verbose
        self.failures = []

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok   %s" % what)
        else:
            self.failed += 1
            self.failures.append(what)
            print("FAIL %s %s" % (what, detail))


def check_sim_expectations(t, name, steps, res):
    for want, (label, status, body) in zip(expected_statuses(steps), res):
        got = status[0] if isinstance(status, list) and status else status
        t.ok(got == want, "sim %s: %s -> %s" % (name, label, want),
             "got %r %s" % (status, str(body)[:300]))


def compare(t, name, sim_res, real_res):
    for (label, s_status, s_body), (_, r_status, r_body) in zip(sim_res, real_res):
        if isinstance(s_status, list):
            same = s_status == r_status and [canon(0, b) for b in s_body] == \
                [canon(0, b) for b in r_body]
        else:
            same = canon(s_status, s_body) == canon(r_status, r_body)
        t.ok(same, "same %s: %s" % (name, label),
             "\n     sim : %r %s\n     real: %r %s" % (s_status, str(s_body)[:400], r_status,
                                                       str(r_body)[:400]))
    t.ok(len(sim_res) == len(real_res), "same %s: number of answers" % name,
         "%d vs %d" % (len(sim_res), len(real_res)))


# ---------------------------------------------------------------- process-level cases
def cli_case(binary, args):
    import subprocess
    p = subprocess.run([binary] + args, capture_output=True, timeout=10, cwd="/tmp",
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    lines = [line.split("] ", 1)[-1] if line[:4].isdigit() else line for line in out.split("\n")]
    return p.returncode, "\n".join(lines), p.stderr.decode(errors="replace")


CLI_CASES = [
    ["--version"],
    ["--bogus"],
    ["--id"],
    ["positional"],
    ["--level", "Loud"],
    ["--snapshot-version"],
    ["--api-sock", "/nonexistent/dir/api.sock", "--id", "x"],
    ["--no-api"],
    ["--id", "a", "--id", "b"],
    ["--seccomp-filter", "/x", "--no-seccomp"],
]


def signal_case(binary, sig):
    proc = Proc(binary)
    try:
        os.kill(proc.p.pid, sig)
        rc = proc.wait_exit(10)
        left = os.path.exists(proc.sock_path)
    finally:
        proc.close()
    return rc, left


def socket_in_use_case(binary):
    proc = Proc(binary)
    try:
        import subprocess
        p = subprocess.run([binary, "--api-sock", proc.sock_path], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        out = normalize(p.stdout.decode(errors="replace"), proc)
        msg = [line.split("] ", 1)[-1] for line in out.split("\n") if "API socket" in line]
        return p.returncode, msg, normalize(p.stderr.decode(errors="replace"), proc)
    finally:
        proc.close()


def restore_failure_exit_case(binary):
    """A failed snapshot load answers 400, then the process exits with 1."""
    proc = Proc(binary)
    try:
        r = proc.request(PUT, "/snapshot/load",
                         '{"snapshot_path":"%s/none","mem_file_path":"%s/none"}'
                         % (proc.dir, proc.dir))
        rc = proc.wait_exit(10)
        return (r[0] if r else None), normalize(r[2] if r else "", proc), rc
    finally:
        proc.close()


def connection_limit_case(binary):
    proc = Proc(binary)
    socks = []
    try:
        for _ in range(10):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(proc.sock_path)
            socks.append(s)
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.connect(proc.sock_path)
        extra.settimeout(5)
        data = b""
        try:
            while True:
                chunk = extra.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        extra.close()
        return data.decode(errors="replace")
    finally:
        for s in socks:
            s.close()
        proc.close()


def boot_console_case(binary, kernel):
    """The guest's first lines and the SendCtrlAltDel exit."""
    proc = Proc(binary)
    try:
        open(proc.path("log"), "w").close()
        proc.request(PUT, "/logger", '{"log_path":"%s"}' % proc.path("log"))
        proc.request(PUT, "/boot-source", materialize(BS, proc, kernel))
        proc.request(PUT, "/actions", '{"action_type":"InstanceStart"}')
        m = proc.wait_console(r"^tick 1$", 30)
        lines = [ln for ln in proc.console().split("\n") if ln.startswith("mvm-test-guest:")]
        r = proc.request(PUT, "/actions", '{"action_type":"SendCtrlAltDel"}')
        rc = proc.wait_exit(30)
        lines2 = [ln for ln in proc.console().split("\n") if ln.startswith("mvm-test-guest:")]
        return bool(m), lines, r[0] if r else None, rc, lines2, os.path.exists(proc.sock_path)
    finally:
        proc.close()


def snapshot_roundtrip_case(binary, kernel):
    """Create on one process, load on a fresh one, with resume: ticks go on
    from the saved count."""
    a = Proc(binary)
    b = None
    try:
        a.request(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":64}')
        a.request(PUT, "/boot-source", materialize(BS, a, kernel))
        a.request(PUT, "/actions", '{"action_type":"InstanceStart"}')
        a.wait_console(r"^tick 2$", 30)
        a.request(PATCH, "/vm", '{"state":"Paused"}')
        r1 = a.request(PUT, "/snapshot/create", '{"snapshot_path":"%s/st","mem_file_path":"%s/mem"}'
                       % (a.dir, a.dir))
        saved = max(int(x) for x in __import__("re").findall(r"^tick (\d+)$", a.console(), 8))
        mem_size = os.path.getsize(a.path("mem"))
        b = Proc(binary)
        r2 = b.request(PUT, "/snapshot/load", '{"snapshot_path":"%s/st","mem_backend":'
                       '{"backend_path":"%s/mem","backend_type":"File"},"resume_vm":true}'
                       % (a.dir, a.dir))
        info = b.request(GET, "/")
        m = b.wait_console(r"^tick (\d+)$", 30)
        r3 = b.request(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":64}')
        return (r1[0], r2[0], json.loads(info[2])["state"], mem_size,
                bool(m) and int(m.group(1)) == saved + 1, r3[0])
    finally:
        a.close()
        if b:
            b.close()


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+ \[")


def log_to_file(proc):
    """Firecracker's own log lines go to stdout (and into the guest's
    console lines) until a logger is configured."""
    open(proc.path("log"), "w").close()
    proc.request(PUT, "/logger", '{"log_path":"%s"}' % proc.path("log"))


def guest_lines_until(proc, tick, timeout=30):
    """The guest's console lines up to and including `tick N` (all of them
    if it does not come within timeout), without the log lines printed
    before the logger was configured."""
    proc.wait_console(r"^tick %d$" % tick, timeout)
    lines = [ln for ln in proc.console().split("\n") if not LOG_LINE.match(ln)]
    return lines[:lines.index("tick %d" % tick) + 1] if "tick %d" % tick in lines else lines


# The guest's memory arguments (mvm.touch_mib and friends): (memory MiB,
# boot_args, last tick). The console up to that tick must be the same.
GUEST_MEMORY_BOOTS = [
    (8, "console=ttyS0 reboot=k panic=1 mvm.touch_mib=2 mvm.touch_write=1 mvm.ready_after=1", 2),
    (8, 'console=ttyS0 mvm.touch_mib=7 y="a mvm.touch_mib=5" mvm.touch_seed=x '
        '"mvm.ready_after=0"', 1),
    (64, 'console=ttyS0 mvm.touch_mib=3 mvm.touch_seed="12345678901234567890" '
         'mvm.touch_mib=62 -- mvm.touch_mib=1', 1),
    # RAM split by the 32-bit MMIO gap (3.25 to 4 GiB): the size is still
    # the sum; the region must end in the first GiB.
    (3400, "console=ttyS0 mvm.touch_mib=1023", 1),
]


def guest_memory_boot_case(binary, kernel, mem_mib, boot_args, tick):
    """The console of a guest booted with memory arguments."""
    proc = Proc(binary)
    try:
        log_to_file(proc)
        proc.request(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":%d}' % mem_mib)
        proc.request(PUT, "/boot-source", json.dumps({"kernel_image_path": kernel,
                                                      "boot_args": boot_args}))
        proc.request(PUT, "/actions", '{"action_type":"InstanceStart"}')
        return guest_lines_until(proc, tick)
    finally:
        proc.close()


def guest_memory_snapshot_case(binary, kernel):
    """A guest that touched 2 MiB, paused after tick 1 and restored in a
    new process: its console there, to tick 4 (ready after tick 3)."""
    a = Proc(binary)
    b = None
    try:
        log_to_file(a)
        a.request(PUT, "/machine-config", '{"vcpu_count":1,"mem_size_mib":16}')
        a.request(PUT, "/boot-source", json.dumps({
            "kernel_image_path": kernel,
            "boot_args": "console=ttyS0 mvm.touch_mib=2 mvm.touch_write=1 mvm.ready_after=3"}))
        a.request(PUT, "/actions", '{"action_type":"InstanceStart"}')
        before = guest_lines_until(a, 1)
        a.request(PATCH, "/vm", '{"state":"Paused"}')
        a.request(PUT, "/snapshot/create", '{"snapshot_path":"%s/st","mem_file_path":"%s/mem"}'
                  % (a.dir, a.dir))
        b = Proc(binary)
        log_to_file(b)
        b.request(PUT, "/snapshot/load", '{"snapshot_path":"%s/st","mem_backend":'
                  '{"backend_path":"%s/mem","backend_type":"File"},"resume_vm":true}'
                  % (a.dir, a.dir))
        return before, guest_lines_until(b, 4)
    finally:
        a.close()
        if b:
            b.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", default=os.environ.get("MVM_TEST_FIRECRACKER"))
    ap.add_argument("--kernel", default=os.environ.get("MVM_TEST_GUEST_KERNEL"))
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    t = Tally(args.v)
    real = args.real
    if real and not os.access(real, os.X_OK):
        print("FAIL: MVM_TEST_FIRECRACKER=%s is not an executable file" % real)
        t.ok(False, "real binary usable")
        real = None
    if not args.real:
        print("SKIP: fcsim_conformance real-binary half: MVM_TEST_FIRECRACKER is not set, so only "
              "the simulator's own expectations are checked")
    real_kernel = args.kernel if args.kernel and os.path.exists(args.kernel) else None
    if real and not real_kernel:
        print("SKIP: fcsim_conformance post-boot cases against the real binary: "
              "MVM_TEST_GUEST_KERNEL is not set (or missing), so the real Firecracker has no "
              "guest to boot")
    if real and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: fcsim_conformance real-binary half: /dev/kvm is not usable here")
        real = None
    sim_kernel_dir = __import__("tempfile").mkdtemp(prefix="fcsim-kernel-")
    sim_kernel = real_kernel or fake_kernel(os.path.join(sim_kernel_dir, "vmlinux"))

    cases = 0
    for name, boot, steps in SCENARIOS:
        cases += len(expected_statuses(steps))
        sim_res = run_scenario(SIM, steps, sim_kernel)
        check_sim_expectations(t, name, steps, sim_res)
        if real and (not boot or real_kernel):
            real_res = run_scenario(real, steps, real_kernel or sim_kernel)
            compare(t, name, sim_res, real_res)

    # process-level cases
    for argv in CLI_CASES:
        cases += 1
        s = cli_case(SIM, argv)
        t.ok(s[0] in (0, 1, 152, 153), "sim cli %s: exit %d" % (argv, s[0]), s[2])
        if real:
            r = cli_case(real, argv)
            t.ok(s == r, "same cli %s" % argv, "\n     sim : %r\n     real: %r" % (s, r))
    for sig in (signal.SIGTERM, signal.SIGINT):
        cases += 1
        s = signal_case(SIM, sig)
        t.ok(s == (-sig, True), "sim %s: killed by it, socket file left" % sig.name, repr(s))
        if real:
            r = signal_case(real, sig)
            t.ok(s == r, "same %s" % sig.name, "sim %r real %r" % (s, r))
    cases += 1
    s = socket_in_use_case(SIM)
    t.ok(s[0] == 1 and s[1], "sim: API socket in use -> exit 1", repr(s))
    if real:
        r = socket_in_use_case(real)
        t.ok(s == r, "same socket in use",
             "sim %r real %r" % (s, r))
    cases += 1
    s = restore_failure_exit_case(SIM)
    t.ok(s[0] == 400 and s[2] == 1, "sim: failed snapshot load -> 400 then exit 1", repr(s))
    if real:
        r = restore_failure_exit_case(real)
        t.ok(s == r, "same failed snapshot load", "sim %r real %r" % (s, r))
    cases += 1
    s = connection_limit_case(SIM)
    t.ok("503" in s and "Too many open connections" in s, "sim: 11th connection -> 503", s)
    if real:
        r = connection_limit_case(real)
        t.ok(s == r, "same connection limit", "sim %r real %r" % (s, r))
    for label, fn in (("boot console", boot_console_case), ("snapshot roundtrip",
                                                            snapshot_roundtrip_case)):
        cases += 1
        s = fn(SIM, sim_kernel)
        if label == "boot console":
            t.ok(s[0] and s[1][:1] == ["mvm-test-guest: started"] and s[2] == 204 and s[3] == 0
                 and s[4][-1] == "mvm-test-guest: ctrl-alt-del, rebooting",
                 "sim %s" % label, repr(s))
        else:
            t.ok(s == (204, 204, "Running", 64 << 20, True, 400), "sim %s" % label, repr(s))
        if real and real_kernel:
            r = fn(real, real_kernel)
            t.ok(s == r, "same %s" % label, "sim %r real %r" % (s, r))
    for mem_mib, boot_args, tick in GUEST_MEMORY_BOOTS:
        cases += 1
        s = guest_memory_boot_case(SIM, sim_kernel, mem_mib, boot_args, tick)
        t.ok(s[-1:] == ["tick %d" % tick] and not any("FAILED" in ln for ln in s),
             "sim guest memory %r" % boot_args, repr(s))
        if real and real_kernel:
            r = guest_memory_boot_case(real, real_kernel, mem_mib, boot_args, tick)
            t.ok(s == r, "same guest memory console %r" % boot_args,
                 "\n     sim : %r\n     real: %r" % (s, r))
    cases += 1
    s = guest_memory_snapshot_case(SIM, sim_kernel)
    t.ok(s == (["mvm-test-guest: started",
                "mvm-test-guest: cmdline console=ttyS0 mvm.touch_mib=2 mvm.touch_write=1 "
                "mvm.ready_after=3", "mvm-test-guest: touched 2 MiB seed 1", "tick 1"],
               ["tick 2", "tick 3", "mvm-test-guest: ready", "tick 4"]),
         "sim guest memory across a snapshot", repr(s))
    if real and real_kernel:
        r = guest_memory_snapshot_case(real, real_kernel)
        t.ok(s == r, "same guest memory across a snapshot", "sim %r real %r" % (s, r))
    __import__("shutil").rmtree(sim_kernel_dir, ignore_errors=True)
    print("%d cases (%d request/response steps in %d scenarios, plus process-level cases)"
          % (cases, sum(len(expected_statuses(s)) for _, _, s in SCENARIOS), len(SCENARIOS)))
    if t.failures:
        print("failures:\n  " + "\n  ".join(t.failures))
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
