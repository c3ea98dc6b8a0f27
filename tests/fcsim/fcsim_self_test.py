#!/usr/bin/python3
"""fcsim_self_test.py - checks of the Firecracker simulator (a test double)
that have no real-binary counterpart: fault injection (error, crash, hang,
delay, a guest that dies after InstanceStart, no API socket, a stderr
line), the emulated guest (ticks stop while paused, snapshot restore goes
on from the saved count, an incompatible snapshot version is refused; the
memory arguments mvm.touch_mib/touch_seed/touch_write and
mvm.ready_after, across a snapshot too),
metrics lines, 100 processes at once (with the time from spawn to an
accepting API socket printed), and that nothing is left on disk but what
the API asked for. Every wait is bounded.

Prints "N passed, N failed" last; exit status 1 on any failure."""

import json
import os
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcsim_client import SIM, Proc, fake_kernel, ok, run_cases  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nettest  # noqa: E402

PRIVATE_NETNS = [False]  # main() entered a network namespace of its own


def boot(proc, args="console=ttyS0"):
    kernel = fake_kernel(proc.path("vmlinux"))
    r1 = proc.request("PUT", "/boot-source", json.dumps({"kernel_image_path": kernel,
                                                         "boot_args": args}))
    r2 = proc.request("PUT", "/actions", '{"action_type":"InstanceStart"}')
    return r1[0], r2[0]


def with_faults(rules):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "fcsim-faults-%d-%d.json"
                        % (os.getpid(), time.monotonic_ns()))
    with open(path, "w") as f:
        json.dump(rules, f)
    return path


def test_fault_error():
    path = with_faults([{"id": "fc-test", "method": "PUT", "path": "/boot-source",
                         "action": "error", "status": 400, "fault_message": "injected: no",
                         "times": 1},
                        {"id": "other", "path": "*", "action": "error", "status": 500}])
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        r = p.request("PUT", "/boot-source", '{"kernel_image_path":"/nonexistent"}')
        ok(r[0] == 400 and json.loads(r[2]) == {"fault_message": "injected: no"},
           "fault error: given status and message", repr(r))
        r = p.request("PUT", "/boot-source", '{"kernel_image_path":"/nonexistent"}')
        ok(r[0] == 400 and "kernel file cannot be opened" in r[2],
           "fault error: times=1, then the real behaviour", repr(r))
        r = p.request("GET", "/")
        ok(r[0] == 200, "fault error: a rule for another id does not apply", repr(r))
        # the file is re-read before each request
        with open(path, "w") as f:
            json.dump({"rules": [{"method": "GET", "path": "/vers*", "action": "error",
                                  "status": 503, "fault_message": "later"}]}, f)
        r = p.request("GET", "/version")
        ok(r[0] == 503 and "later" in r[2], "fault file re-read per request", repr(r))
    finally:
        p.close()
        os.unlink(path)


def test_fault_crash_hang_delay():
    path = with_faults([{"path": "/machine-config", "method": "PUT", "action": "crash",
                         "signal": "SIGKILL"}])
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        r = p.raw(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 1, timeout=5)
        rc = p.wait_exit(5)
        ok(r == [] and rc == -signal.SIGKILL, "fault crash: killed before answering",
           "%r rc=%r" % (r, rc))
    finally:
        p.close()
    with open(path, "w") as f:
        json.dump([{"path": "/machine-config", "action": "crash", "exit_status": 7}], f)
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        p.raw(b"GET /machine-config HTTP/1.1\r\n\r\n", 1, timeout=5)
        ok(p.wait_exit(5) == 7, "fault crash: given exit status")
    finally:
        p.close()
    with open(path, "w") as f:
        json.dump([{"path": "/vm/config", "action": "hang"}], f)
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        t0 = time.monotonic()
        r = p.raw(b"GET /vm/config HTTP/1.1\r\n\r\n", 1, timeout=1.0)
        ok(r == [] and p.p.poll() is None and time.monotonic() - t0 >= 0.9,
           "fault hang: no answer, process alive", repr(r))
        r = p.raw(b"GET / HTTP/1.1\r\n\r\n", 1, timeout=0.5)
        ok(r == [], "fault hang: later requests get no answer either", repr(r))
    finally:
        p.close()
    with open(path, "w") as f:
        json.dump([{"path": "/", "method": "GET", "action": "delay", "delay_ms": 400}], f)
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        t0 = time.monotonic()
        r = p.request("GET", "/")
        dt = time.monotonic() - t0
        ok(r[0] == 200 and dt >= 0.4, "fault delay: answered after delay_ms", "%r %.3f" % (r, dt))
    finally:
        p.close()
        os.unlink(path)


def test_process_faults():
    path = with_faults([{"action": "exit_after_start", "delay_ms": 200, "exit_status": 3}])
    p = Proc(SIM, env={"FCSIM_FAULTS": path})
    try:
        codes = boot(p)
        rc = p.wait_exit(5)
        ok(codes == (204, 204) and rc == 3 and "mvm-test-guest: started" in p.console(),
           "process fault exit_after_start", "%r rc=%r" % (codes, rc))
    finally:
        p.close()
    with open(path, "w") as f:
        json.dump([{"action": "no_api_socket"}, {"action": "stderr", "line": "fcsim says hi"}], f)
    p = Proc(SIM, env={"FCSIM_FAULTS": path}, wait=False)
    try:
        rc = p.wait_exit(5)
        ok(rc == 1 and not os.path.exists(p.sock_path), "process fault no_api_socket: exit 1",
           repr(rc))
        ok("fcsim says hi" in p.stderr(), "process fault stderr line", p.stderr())
    finally:
        p.close()
        os.unlink(path)


def test_guest_and_snapshot():
    a = Proc(SIM)
    b = c = None
    try:
        ok(boot(a, "console=ttyS0 quiet") == (204, 204), "boot")
        ok(a.wait_console(r"^tick 2$", 5) is not None, "guest ticks once a second")
        lines = a.console().split("\n")
        ok("mvm-test-guest: cmdline console=ttyS0 quiet" in lines, "guest prints the cmdline")
        a.request("PATCH", "/vm", '{"state":"Paused"}')
        n1 = len(re.findall(r"^tick", a.console(), re.M))
        time.sleep(1.3)
        n2 = len(re.findall(r"^tick", a.console(), re.M))
        ok(n1 == n2, "no ticks while paused", "%d %d" % (n1, n2))
        r = a.request("PUT", "/snapshot/create", '{"snapshot_path":"st","mem_file_path":"mem"}')
        ok(r[0] == 204 and os.path.getsize(a.path("mem")) == 128 << 20
           and os.stat(a.path("mem")).st_blocks == 0, "snapshot: sparse memory file of the "
           "configured size", repr(r))
        with open(a.path("st")) as f:
            head = f.readline()
        ok(head.startswith("FCSIM-SNAPSHOT firecracker-sim data-format 4.0.0"),
           "snapshot header names the simulator and format 4.0.0", head)
        b = Proc(SIM)
        r = b.request("PUT", "/snapshot/load", '{"snapshot_path":"%s","mem_file_path":"%s"}'
                      % (a.path("st"), a.path("mem")))
        info = json.loads(b.request("GET", "/")[2])
        ok(r[0] == 204 and info["state"] == "Paused", "load without resume_vm: Paused", repr(r))
        time.sleep(1.2)
        ok("tick" not in b.console(), "restored and paused: no ticks")
        b.request("PATCH", "/vm", '{"state":"Resumed"}')
        m = b.wait_console(r"^tick (\d+)$", 5)
        ok(m is not None and int(m.group(1)) == n2 + 1, "restored guest goes on from the saved "
           "tick count", repr(m and m.group(0)))
        # incompatible version
        with open(a.path("st")) as f:
            text = f.read()
        with open(a.path("st5"), "w") as f:
            f.write(text.replace("data-format 4.0.0", "data-format 5.0.0", 1))
        c = Proc(SIM)
        r = c.request("PUT", "/snapshot/load", '{"snapshot_path":"%s","mem_file_path":"%s"}'
                      % (a.path("st5"), a.path("mem")))
        ok(r[0] == 400 and json.loads(r[2])["fault_message"] ==
           "Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state "
           "from file: Failed to load snapshot state from file: Invalid data version: 5.0.0",
           "incompatible snapshot version refused", repr(r))
        ok(c.wait_exit(5) == 1, "failed load ends the process with 1")
        r = b.request("PUT", "/actions", '{"action_type":"SendCtrlAltDel"}')
        ok(r[0] == 204 and b.wait_exit(5) == 0 and
           "mvm-test-guest: ctrl-alt-del, rebooting" in b.console().split("\n"),
           "SendCtrlAltDel: line, then exit 0")
    finally:
        for p in (a, b, c):
            if p:
                p.close()


def guest_lines(proc):
    return [ln for ln in proc.console().split("\n") if ln.startswith(("mvm-test-guest:", "tick "))]


def boot_mem(mem_mib, args):
    p = Proc(SIM)
    r = p.request("PUT", "/machine-config", '{"vcpu_count":1,"mem_size_mib":%d}' % mem_mib)
    return p, (r[0],) + boot(p, args)


def test_guest_memory_arguments():
    G = "mvm-test-guest: "
    args = "console=ttyS0 mvm.touch_mib=16 mvm.touch_seed=9 mvm.ready_after=2 mvm.touch_write=bad"
    a, codes = boot_mem(128, args)
    b = None
    try:
        ok(codes == (204, 204, 204) and guest_lines(a) == [
            G + "started", G + "cmdline " + args,
            G + "ignoring mvm.touch_write=bad: not a decimal number",
            G + "touched 16 MiB seed 9"], "touched line at once after the cmdline line",
           repr(guest_lines(a)))
        ok(a.wait_console(r"^tick 1$", 5) is not None, "ticks after touching")
        a.request("PATCH", "/vm", '{"state":"Paused"}')
        r = a.request("PUT", "/snapshot/create", '{"snapshot_path":"st","mem_file_path":"mem"}')
        saved = guest_lines(a)
        b = Proc(SIM)
        r2 = b.request("PUT", "/snapshot/load", '{"snapshot_path":"%s","mem_file_path":"%s",'
                       '"resume_vm":true}' % (a.path("st"), a.path("mem")))
        ok(b.wait_console(r"^tick 3$", 5) is not None, "restored guest ticks")
        last = int(saved[-1].split()[1])
        want = ["tick %d" % n for n in range(last + 1, 3)] + [G + "ready", "tick 3"]
        if last >= 2:
            want = ["tick 3"]
        got = guest_lines(b)
        ok(r[0] == 204 and r2[0] == 204 and got[:len(want)] == want,
           "restored: no banner or touched line again, ready after tick 2 (saved at tick %d)"
           % last, repr(got))
        ok(not any("FAILED" in ln for ln in saved + got), "never a memory check failure")
    finally:
        a.close()
        if b:
            b.close()
    # Fit: the region is [2 MiB, 2 MiB + N) in RAM and in the first GiB.
    for mem_mib, mib, fits in ((8, 6, True), (8, 7, False), (4096, 1022, True),
                               (4096, 1023, False)):
        p, _ = boot_mem(mem_mib, "mvm.touch_mib=%d mvm.ready_after=0" % mib)
        try:
            line = (G + "touched %d MiB seed 1" % mib if fits
                    else G + "touch_mib %d does not fit in %d MiB" % (mib, mem_mib))
            ok(guest_lines(p)[2:] == [line, G + "ready"],
               "touch_mib %d in %d MiB: %s, then ready at once" % (mib, mem_mib, line),
               repr(guest_lines(p)))
        finally:
            p.close()


def test_metrics():
    p = Proc(SIM)
    try:
        open(p.path("m.json"), "w").close()
        p.request("PUT", "/metrics", '{"metrics_path":"%s"}' % p.path("m.json"))
        # The TAP is really opened (created: it does not exist), so only in
        # the private network namespace main() entered, never on the host.
        if PRIVATE_NETNS[0]:
            r = p.request("PUT", "/network-interfaces/eth0",
                          '{"iface_id":"eth0","host_dev_name":"tapx"}')
            ok(r[0] == 204, "a net device for the metrics", repr(r))
        boot(p)
        r = p.request("PUT", "/actions", '{"action_type":"FlushMetrics"}')
        with open(p.path("m.json")) as f:
            lines = [json.loads(x) for x in f.read().splitlines()]
        keys = list(lines[0]) if lines else []
        ok(r[0] == 204 and keys[:3] == ["utc_timestamp_ms", "api_server", "balloon"]
           and "rx_bytes_count" in lines[0]["net"] and keys[-1] == "entropy",
           "metrics line layout", repr(keys))
        if PRIVATE_NETNS[0]:
            ok("net_eth0" in keys and keys.index("net_eth0") == keys.index("net") - 1
               and "tx_bytes_count" in lines[0]["net_eth0"], "metrics: net_eth0 before net",
               repr(keys))
    finally:
        p.close()


def test_many_processes():
    """100 simulators at once; prints spawn-to-accepting times."""
    procs = []
    try:
        t0 = time.monotonic()
        for i in range(100):
            procs.append(Proc(SIM, instance_id="vm%d" % i, wait=False))
        ready = [p.wait_ready(30) for p in procs]
        total = time.monotonic() - t0
        ok(all(ready), "100 processes: all API sockets accept", "%d ready" % sum(ready))
        codes = [boot(p)[1] for p in procs if p.conn]
        ok(codes.count(204) == 100, "100 processes: all boot", repr(set(codes)))
        ok(all(p.wait_console(r"^tick 1$", 20) for p in procs), "100 processes: all tick")
        single = []
        for _ in range(10):
            p = Proc(SIM)
            single.append(p.ready_s)
            p.close()
        print("startup, spawn to accepting API socket: alone p50 %.1f ms max %.1f ms; "
              "100 at once: all ready in %.2f s"
              % (statistics.median(single) * 1000, max(single) * 1000, total))
    finally:
        for p in procs:
            p.close()


def test_no_leftovers():
    p = Proc(SIM)
    try:
        boot(p)
        p.request("PUT", "/actions", '{"action_type":"FlushMetrics"}')
        p.request("PATCH", "/vm", '{"state":"Paused"}')
        p.request("PUT", "/snapshot/create", '{"snapshot_path":"st","mem_file_path":"mem"}')
        os.kill(p.p.pid, signal.SIGTERM)
        p.wait_exit(5)
        names = sorted(os.listdir(p.dir))
        ok(names == ["api.sock", "console.out", "mem", "st", "stderr.out", "vmlinux"],
           "only the API socket (left like Firecracker's) and the asked-for files", repr(names))
        tmp = [n for n in os.listdir("/tmp") if n.startswith("fcsim-faults-%d-" % p.p.pid)]
        ok(tmp == [], "nothing of the process in /tmp")
    finally:
        p.close()


def test_version_gate():
    p = Proc(SIM)
    q = Proc(SIM, env={"FCSIM_FIRECRACKER_VERSION": "1.16.1"})
    try:
        r = p.request("PUT", "/serial", '{"serial_out_path":"%s"}' % p.path("serial.out"))
        ok(r[0] == 400 and "Invalid request method and/or path: PUT serial." in r[2],
           "1.10.1: no /serial", repr(r))
        r = q.request("PUT", "/serial", '{"serial_out_path":"%s"}' % q.path("serial.out"))
        v = json.loads(q.request("GET", "/version")[2])
        ok(r[0] == 204 and v == {"firecracker_version": "1.16.1"}, "1.16.1: /serial exists",
           repr(r))
    finally:
        p.close()
        q.close()


def main():
    try:
        nettest.enter_private_netns()
        PRIVATE_NETNS[0] = True
    except nettest.NetTestUnavailable as e:
        print("not root or no namespaces (%s): the metrics case has no net device" % e)
    return run_cases((test_fault_error, test_fault_crash_hang_delay, test_process_faults,
                      test_guest_and_snapshot, test_guest_memory_arguments, test_metrics,
                      test_version_gate, test_no_leftovers, test_many_processes))


if __name__ == "__main__":
    sys.exit(main())
