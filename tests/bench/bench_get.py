#!/usr/bin/python3
"""bench_get.py - unary GetTenant throughput and latency: mvmd vs grpc-go.

h2load drives POST /mvm.v1.TenantService/GetTenant over TLS with a client
certificate (h2load has no option for one, so the h2load_client_cert.so
preload shim supplies it) against a fresh mvmd and against the grpc-go
reference server (tests/bench/grpcgo_server), with the same settings, and
prints QPS and p50/p99 latency of each and the ratio mvmd/grpc-go. Then it
sends --rss-requests (default 1,000,000) more requests to mvmd and prints
its VmRSS before and after.

h2load only sees HTTP statuses, so the request is also sent once with
nghttp (its grpc-status trailer must be 0) and once with Python grpc
before and after each run (the tenant must come back). Any failure makes
the exit status non-zero; no timing is ever judged.

    tests/bench/bench_get.sh --build build            # the full benchmark
    tests/bench/bench_get.py --build build --smoke    # a quick check (ctest)

By default the servers are pinned to CPU 0 and h2load to CPU 1 (taskset),
so each server gets one core and the load generator does not steal it;
--no-pin lets the scheduler place everything.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "tests", "integration"), os.path.join(REPO, "clients", "python")]

TENANT = "bench"
PATH = "/mvm.v1.TenantService/GetTenant"
HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]


def fail(msg):
    raise SystemExit("bench_get: FAIL: " + msg)


def framed_request(pb):
    """The gRPC message frame h2load posts: flag 0, 4-byte length, body."""
    body = pb.tenant.GetTenantRequest(name=TENANT).SerializeToString()
    return b"\0" + len(body).to_bytes(4, "big") + body


class Load:
    """Runs h2load and nghttp against one TLS endpoint with the client cert."""

    def __init__(self, a, certs, body_file, tmp):
        self.a, self.body, self.tmp = a, body_file, tmp
        self.env = dict(os.environ,
                        LD_PRELOAD=os.path.join(a.build, "tests", "bench", "libh2load_client_cert.so"),
                        H2LOAD_CLIENT_CERT=os.path.join(certs, "client.pem"),
                        H2LOAD_CLIENT_KEY=os.path.join(certs, "client.key"))
        if not os.path.exists(self.env["LD_PRELOAD"]):
            fail("no %s: build the h2load_client_cert target" % self.env["LD_PRELOAD"])
        self.pin = [] if a.no_pin else ["taskset", "-c", a.client_cpus]

    def grpc_status(self, addr):
        """Sends the framed request once with nghttp; returns grpc-status."""
        out = subprocess.run(["nghttp", "-v", "-d", self.body] + HEADERS +
                             ["https://%s%s" % (addr, PATH)], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60).stdout
        m = re.search(rb"grpc-status: (\d+)", out)
        if not m:
            fail("nghttp got no grpc-status from %s:\n%s" % (addr, out[-2000:].decode(errors="replace")))
        return int(m.group(1))

    def h2load(self, addr, what, requests=None):
        """One h2load run; returns dict(qps, p50_ms, p99_ms, done)."""
        log = os.path.join(self.tmp, "h2load-%s.log" % what)
        args = self.pin + ["h2load", "-c", str(self.a.clients), "-m", str(self.a.streams),
                           "-t", "1", "-d", self.body] + HEADERS
        if requests:
            args += ["-n", str(requests)]
        else:
            args += ["-D", str(self.a.duration), "--log-file", log]
            if self.a.warm_up:
                args += ["--warm-up-time", str(self.a.warm_up)]
        args.append("https://%s%s" % (addr, PATH))
        r = subprocess.run(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=3600)
        out = r.stdout.decode(errors="replace")
        m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
        req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                        r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        st = re.search(r"status codes: (\d+) 2xx", out)
        if r.returncode != 0 or not (m and req and st):
            fail("h2load against %s (%s) exited %d:\n%s" % (what, addr, r.returncode, out[-3000:]))
        total, done, ok2xx = int(req.group(1)), int(req.group(3)), int(st.group(1))
        bad = sum(int(req.group(i)) for i in (5, 6, 7))
        if bad or done == 0 or ok2xx != done or (requests and done != total):
            fail("h2load against %s: %s / %s" % (what, req.group(0), st.group(0)))
        res = {"qps": float(m.group(1)), "done": done, "p50_ms": None, "p99_ms": None}
        if not requests:
            res["p50_ms"], res["p99_ms"] = percentiles(log)
            os.unlink(log)
        return res


def percentiles(log):
    """p50 and p99 (ms) of the per-request times in an h2load --log-file."""
    times = []
    with open(log) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1] == "200":
                times.append(int(cols[2]))
    if not times:
        fail("h2load wrote no successful requests to %s" % log)
    times.sort()

    def at(q):
        return times[min(len(times) - 1, int(q * len(times)))] / 1000.0
    return at(0.50), at(0.99)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


def check_get(client, pb, what):
    """One GetTenant through Python grpc; the tenant must come back."""
    t = client.tenants.GetTenant(pb.tenant.GetTenantRequest(name=TENANT), timeout=30)
    if t.name != TENANT or t.subnet != "10.240.1.0/24":
        fail("%s returned %r" % (what, t))


class GoServer:
    """The grpc-go reference server, started with its own ready file."""

    def __init__(self, a, certs, tmp):
        binary = os.path.join(a.build, "tests", "bench", "grpcgo_server")
        if not os.access(binary, os.X_OK):
            fail("no %s: build the mvm_bench_grpcgo_server target" % binary)
        ready = os.path.join(tmp, "grpcgo.ready")
        pin = [] if a.no_pin else ["taskset", "-c", a.server_cpus]
        self.proc = subprocess.Popen(pin + [
            binary, "-listen", "127.0.0.1:0", "-cert", os.path.join(certs, "server.pem"),
            "-key", os.path.join(certs, "server.key"), "-ca", os.path.join(certs, "ca.pem"),
            "-tenant", TENANT, "-ready-file", ready])
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                fail("grpcgo_server did not start")
            time.sleep(0.02)
        with open(ready) as f:
            self.addr = f.read().split()[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def fmt(r):
    lat = "p50 %7.3f ms  p99 %7.3f ms" % (r["p50_ms"], r["p99_ms"]) if r["p50_ms"] is not None else ""
    return "%10.0f req/s  %s  (%d requests)" % (r["qps"], lat, r["done"])


def median_run(rs):
    """Per-figure medians over rounds (each figure on its own)."""
    def med(key):
        vals = sorted(r[key] for r in rs)
        return None if vals[0] is None else vals[len(vals) // 2]
    return {"qps": med("qps"), "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"),
            "done": sum(r["done"] for r in rs)}


def settings(a):
    load = "-n %d" % a.requests if a.requests else "%ds (+%ds warm-up)" % (a.duration, a.warm_up)
    pin = "unpinned" if a.no_pin else "servers on CPU %s, h2load on CPU %s" % (
        a.server_cpus, a.client_cpus)
    return "h2load -c %d -m %d -t 1, %s per run, %s" % (a.clients, a.streams, load, pin)


def run(a):
    from harness import Mvmd
    from mvmclient import Client, pb, tls_channel

    pin = [] if a.no_pin else ["taskset", "-c", a.server_cpus]
    with tempfile.TemporaryDirectory(prefix="bench-get-") as tmp, Mvmd(a.build, prefix=pin) as d:
        body = os.path.join(tmp, "get_tenant.grpc")
        with open(body, "wb") as f:
            f.write(framed_request(pb))
        load = Load(a, d.certs, body, tmp)
        mc = Client(tls_channel(d.tls_addr, d.cert("ca.pem"), d.cert("client.pem"), d.cert("client.key")))
        mc.tenants.CreateTenant(pb.tenant.CreateTenantRequest(tenant=pb.tenant.Tenant(
            name=TENANT, net_id=1, subnet="10.240.1.0/24",
            quota=pb.tenant.TenantQuota(max_instances=10, max_pools=2), labels={"bench": "yes"})),
            timeout=30)
        fresh = rss_kib(d.proc.pid)
        go = GoServer(a, d.certs, tmp)
        try:
            gc = Client(tls_channel(go.addr, d.cert("ca.pem"), d.cert("client.pem"), d.cert("client.key")))
            servers = (("mvmd", d.tls_addr, mc), ("grpc-go", go.addr, gc))
            for name, addr, client in servers:
                check_get(client, pb, name)
                code = load.grpc_status(addr)
                if code != 0:
                    fail("%s answered the h2load request with grpc-status %d" % (name, code))
            runs = {"mvmd": [], "grpc-go": []}
            for rnd in range(a.rounds):  # alternate the order to spread drift evenly
                for name, addr, client in (servers if rnd % 2 == 0 else servers[::-1]):
                    r = load.h2load(addr, name, a.requests)
                    check_get(client, pb, name + " after the run")
                    runs[name].append(r)
                    print("round %d  %-8s %s" % (rnd + 1, name, fmt(r)), flush=True)
            gc.close()
        finally:
            go_rc = go.stop()
        if go_rc != 0:
            fail("grpcgo_server exited %s on SIGTERM" % go_rc)
        m, g = median_run(runs["mvmd"]), median_run(runs["grpc-go"])
        print("median of %d round(s), %s:" % (a.rounds, settings(a)))
        print("  mvmd     %s" % fmt(m))
        print("  grpc-go  %s" % fmt(g))
        print("ratio mvmd/grpc-go: QPS %.2f" % (m["qps"] / g["qps"]), end="")
        if m["p50_ms"] is not None:
            print("  p50 %.2f  p99 %.2f" % (m["p50_ms"] / g["p50_ms"], m["p99_ms"] / g["p99_ms"]), end="")
        print(flush=True)

        before = rss_kib(d.proc.pid)
        r = load.h2load(d.tls_addr, "mvmd-rss", a.rss_requests)
        check_get(mc, pb, "mvmd after the RSS run")
        after = rss_kib(d.proc.pid)
        print("mvmd VmRSS: %d KiB fresh; %d KiB before and %d KiB after %d more requests "
              "(%+d KiB; %.0f req/s)" % (fresh, before, after, r["done"], after - before, r["qps"]))
        mc.close()
        rc = d.stop()
        if rc != 0:
            fail("mvmd exited %s on SIGTERM:\n%s" % (rc, d.log_tail()))
    print("bench_get: OK (every check passed: HTTP 200s, grpc-status 0, tenant returned)")
    return 0


def main():
    ap = argparse.ArgumentParser(description="GetTenant benchmark: mvmd vs grpc-go, via h2load")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("-c", "--clients", type=int, default=8, help="h2load connections")
    ap.add_argument("-m", "--streams", type=int, default=64, help="h2load streams per connection")
    ap.add_argument("-D", "--duration", type=int, default=10, help="seconds measured per server")
    ap.add_argument("--warm-up", type=int, default=2, help="seconds of warm-up per server")
    ap.add_argument("--requests", type=int, help="fixed request count instead of --duration "
                    "(no latency percentiles then)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs per server, alternating; medians are reported")
    ap.add_argument("--rss-requests", type=int, default=1000000)
    ap.add_argument("--server-cpus", default="0", help="taskset CPU list for the servers")
    ap.add_argument("--client-cpus", default="1", help="taskset CPU list for h2load")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument("--smoke", action="store_true",
                    help="short run for ctest: 1s per server, 20000 requests for RSS")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    os.environ.setdefault("MVM_PY_GEN", os.path.join(a.build, "clients", "python", "gen"))
    if a.smoke:
        a.duration, a.warm_up, a.rss_requests, a.rounds = 1, 0, 20000, 1
    if not a.no_pin and len(os.sched_getaffinity(0)) < 2:
        print("bench_get: fewer than 2 CPUs available; not pinning", file=sys.stderr)
        a.no_pin = True
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
