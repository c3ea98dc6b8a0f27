#!/usr/bin/python3
"""cli_test.py - end-to-end tests of mvm-cli against a real mvmd.

Each run starts its own mvmd (fresh dev PKI from scripts/gen-certs.sh,
temporary state dir, --listen 127.0.0.1:0 and a ready file), runs one
scenario that drives mvm-cli over mTLS or the Unix socket and checks exit
codes, stderr and parsed JSON output, then stops mvmd with SIGTERM and
removes its files. 'help' needs no server.

usage: cli_test.py --cli PATH [--mvmd PATH --gen-certs PATH] SCENARIO
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from cli_check import FAILURES, check, finish



class Node:
    """One mvmd with its certificates and state in a temporary directory."""

    def __init__(self, args):
        self.dir = tempfile.mkdtemp(prefix="mvm-cli-test-")
        self.certs = os.path.join(self.dir, "certs")
        subprocess.run(["sh", args.gen_certs, self.certs], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = os.path.join(self.dir, "ready")
        self.sock = os.path.join(self.dir, "mvmd.sock")
        self.log = open(os.path.join(self.dir, "mvmd.log"), "w")
        self.proc = subprocess.Popen(
            [args.mvmd, "--listen", "127.0.0.1:0", "--socket", self.sock,
             "--state-dir", os.path.join(self.dir, "state"),
             "--tls-cert", self.cert("server.pem"), "--tls-key", self.cert("server.key"),
             "--client-ca", self.cert("ca.pem"), "--metrics-listen", "127.0.0.1:0",
             "--ready-file", ready],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.tls = self.unix = None
        deadline = time.monotonic() + 60  # a hang guard, not an assertion
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(ready):
                lines = dict(l.split(" ", 1) for l in open(ready).read().splitlines() if " " in l)
                if "tls" in lines and "unix" in lines:
                    self.tls, self.unix = lines["tls"], "unix:" + lines["unix"]
                    break
            time.sleep(0.05)
        if not self.tls:
            self.stop()
            sys.exit("mvmd did not become ready:\n" + open(self.log.name).read())

    def cert(self, name):
        return os.path.join(self.certs, name)

    def tls_env(self, client="client"):
        return {"MVM_ENDPOINT": self.tls, "MVM_CA": self.cert("ca.pem"),
                "MVM_CERT": self.cert(client + ".pem"), "MVM_KEY": self.cert(client + ".key")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
                check(rc == 0, "mvmd exits 0 on SIGTERM (got %s)" % rc)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                check(False, "mvmd stops on SIGTERM")
        self.log.close()
        if FAILURES:
            sys.stderr.write("---- mvmd log ----\n" + open(self.log.name).read())
        shutil.rmtree(self.dir, ignore_errors=True)


class Cli:
    """Runs mvm-cli with a clean environment plus the given variables."""

    def __init__(self, path, env, home):
        self.path, self.env = path, dict(env)
        self.base = {k: v for k, v in os.environ.items() if not k.startswith("MVM_")}
        self.base["HOME"] = home  # no stray ~/.config/mvm/cli.conf

    def run(self, *argv, env=None):
        e = dict(self.base)
        e.update(self.env if env is None else env)
        p = subprocess.run([self.path] + list(argv), env=e, capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *argv):
        rc, out, err = self.run(*argv)
        check(rc == 0, "%s: exit 0 (got %d: %s)" % (" ".join(argv), rc, err.strip()))
        return out

    def json(self, *argv):
        out = self.ok(*(list(argv) + ["-o", "json"]))
        try:
            return json.loads(out)
        except ValueError:
            check(False, "%s: JSON output (got %r)" % (" ".join(argv), out))
            return {}

    def fails(self, code, name, *argv, env=None):
        rc, out, err = self.run(*argv, env=env)
        check(rc == code, "%s: exit %d (got %d: %s)" % (" ".join(argv), code, rc, err.strip()))
        if name:
            check(err.startswith("mvm-cli: %s: " % name),
                  "%s: stderr starts with 'mvm-cli: %s: ' (got %r)" % (" ".join(argv), name, err))
        return err


def crud(cli):
    """Create, get, list, update, delete of tenants, pools and instances."""
    t = cli.json("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24",
                 "--label", "env=prod", "--quota-max-instances", "10")
    check(t.get("name") == "acme" and t.get("netId") == 3, "create returns the tenant: %r" % t)
    check(t.get("labels") == {"env": "prod"}, "labels round-trip: %r" % t)
    t = cli.json("tenant", "get", "acme")
    check(t.get("subnet") == "10.240.3.0/24", "get returns the subnet: %r" % t)
    check(t.get("quota", {}).get("maxInstances") == 10, "quota round-trips: %r" % t)
    version = int(t.get("resourceVersion", "0"))
    check(version > 0, "resourceVersion is a positive string: %r" % t)
    cli.ok("tenant", "create", "beta", "--net-id", "4", "--subnet", "10.240.4.0/24",
           "--label", "env=dev")
    names = [x["name"] for x in cli.json("tenant", "list").get("tenants", [])]
    check(names == ["acme", "beta"], "list has both tenants in name order: %r" % names)
    sel = [x["name"] for x in cli.json("tenant", "list", "--label-selector", "env=dev")
           .get("tenants", [])]
    check(sel == ["beta"], "label selector env=dev finds beta only: %r" % sel)
    table = cli.ok("tenant", "list")
    check((table.splitlines() or [""])[0].split()[:3] == ["NAME", "NET-ID", "SUBNET"] and
          "acme" in table, "table output has a header and the tenant: %r" % table)

    u = cli.json("tenant", "update", "acme", "--quota-max-instances", "5",
                 "--resource-version", str(version))
    check(u.get("quota", {}).get("maxInstances") == 5, "update changes the quota: %r" % u)
    check(u.get("labels") == {"env": "prod"}, "update leaves labels alone (mask): %r" % u)
    check(int(u.get("resourceVersion", "0")) > version, "update bumps resourceVersion")
    cli.fails(10, "ABORTED", "tenant", "update", "acme", "--label", "x=y",
              "--resource-version", str(version))

    p = cli.json("pool", "create", "web", "--tenant", "acme", "--vcpus", "2",
                 "--mem-mib", "512", "--kernel-image", "/images/k", "--rootfs-image", "/images/r")
    check(p.get("name") == "web" and p.get("vcpus") == 2, "pool create: %r" % p)
    p = cli.json("pool", "update", "web", "--tenant", "acme", "--desired-instances", "3")
    check(p.get("desiredInstances") == 3 and p.get("memMib") == 512, "pool update: %r" % p)
    pools = [x["name"] for x in cli.json("pool", "list", "--tenant", "acme").get("pools", [])]
    check(pools == ["web"], "pool list: %r" % pools)

    i = cli.json("instance", "create", "--tenant", "acme", "--pool", "web", "--label", "app=x")
    iid = i.get("id", "")
    check(iid.startswith("i-"), "instance id: %r" % i)
    g = cli.json("instance", "get", iid, "--tenant", "acme")
    check(g.get("pool") == "web" and g.get("ip", "").startswith("10.240.3."), "instance get: %r" % g)
    ids = [x["id"] for x in cli.json("instance", "list", "--tenant", "acme").get("instances", [])]
    check(ids == [iid], "instance list: %r" % ids)
    check(cli.json("instance", "delete", iid, "--tenant", "acme") == {}, "instance delete: {}")
    cli.fails(5, "NOT_FOUND", "instance", "get", iid, "--tenant", "acme")
    cli.ok("pool", "delete", "web", "--tenant", "acme")
    cli.ok("tenant", "delete", "acme")
    cli.ok("tenant", "delete", "beta")
    cli.fails(5, "NOT_FOUND", "tenant", "get", "acme")
    check(cli.json("tenant", "list") == {}, "no tenants left")


def scenario_crud_tls(node, cli):
    crud(cli)


def scenario_crud_unix(node, cli):
    cli.env = {"MVM_ENDPOINT": node.unix}
    crud(cli)
    cli.ok("--endpoint", "unix://" + node.sock, "node", "info")  # unix:///abs/path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scenario_errors(node, cli):
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    err = cli.fails(5, "NOT_FOUND", "tenant", "get", "nosuch")
    check("nosuch" in err, "NOT_FOUND names the tenant: %r" % err)
    cli.fails(6, "ALREADY_EXISTS", "tenant", "create", "acme", "--net-id", "9",
              "--subnet", "10.240.9.0/24")
    cli.fails(3, "INVALID_ARGUMENT", "tenant", "create", "Bad_Name", "--net-id", "5",
              "--subnet", "10.240.5.0/24")
    cli.fails(3, "INVALID_ARGUMENT", "tenant", "create", "ok", "--net-id", "5",
              "--subnet", "not-a-subnet")
    cli.fails(5, "NOT_FOUND", "pool", "create", "web", "--tenant", "nosuch", "--vcpus", "1",
              "--mem-mib", "128", "--kernel-image", "/images/k", "--rootfs-image", "/images/r")
    err = cli.fails(64, None, "tenant", "create", "x", "--bogus", "1")
    check("--bogus" in err and "--net-id" in err, "unknown flag lists valid flags: %r" % err)
    err = cli.fails(64, None, "tenant", "create", "x", "--net-id", "4294967296")
    check("out of range" in err, "range check: %r" % err)
    cli.fails(64, None, "tenant", "explode")
    cli.fails(64, None, "nothing", "list")
    cli.fails(64, None, "tenant", "update", "acme")  # nothing to update
    cli.fails(14, "UNAVAILABLE", "--endpoint", "127.0.0.1:%d" % free_port(), "tenant", "list")
    cli.fails(14, "UNAVAILABLE", "--endpoint", "unix:" + node.dir + "/nosuch.sock",
              "tenant", "list")
    t = cli.json("tenant", "get", "acme")
    check(t.get("netId") == 3, "failed calls changed nothing: %r" % t)


def scenario_refused(node, cli):
    cli.ok("node", "info")
    cli.fails(14, "UNAVAILABLE", "tenant", "list", env=node.tls_env("other-client"))
    env = node.tls_env()
    env["MVM_CA"] = node.cert("other-ca.pem")  # server cert not trusted
    err = cli.fails(14, "UNAVAILABLE", "tenant", "list", env=env)
    check("certificate" in err, "says the certificate is not trusted: %r" % err)
    env = node.tls_env()
    del env["MVM_CERT"], env["MVM_KEY"]  # no client certificate at all
    cli.fails(14, "UNAVAILABLE", "tenant", "list", env=env)
    env = node.tls_env()
    env["MVM_CERT"] = node.cert("nosuch.pem")
    cli.fails(64, None, "tenant", "list", env=env)
    check(cli.json("tenant", "list") == {}, "refused calls created nothing")


def scenario_watch(node, cli):
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", "/images/k", "--rootfs-image", "/images/r")
    first = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id")
    e = dict(cli.base)
    e.update(cli.env)
    w = subprocess.Popen([cli.path, "instance", "watch", "--tenant", "acme", "--send-initial",
                          "--count", "3", "-o", "json"], env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        # The initial ADDED event shows the watch is established.
        ev = [json.loads(w.stdout.readline() or "{}")]
        second = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id")
        cli.ok("instance", "delete", first, "--tenant", "acme")
        out, err = w.communicate(timeout=60)
        ev += [json.loads(l) for l in out.splitlines() if l.strip()]
        check(w.returncode == 0, "watch exits 0 after --count 3 (got %s: %s)" % (w.returncode, err))
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    seen = [(x.get("type"), x.get("instance", {}).get("id")) for x in ev]
    check(seen == [("ADDED", first), ("ADDED", second), ("DELETED", first)],
          "watch sees initial, create, delete: %r" % seen)
    rc, out, err = cli.run("instance", "watch", "--tenant", "acme", "--send-initial",
                           "--count", "1")
    check(rc == 0 and (out.splitlines() or [""])[0].split()[:2] == ["EVENT", "ID"] and
          second in out,
          "table watch prints a header and the event: %r %r" % (out, err))


def scenario_config(node, cli):
    conf = os.path.join(node.dir, "cli.conf")
    with open(conf, "w") as f:
        f.write("# test config\nendpoint = %s\nca = %s\ncert = %s\nkey = %s\n" % (
            node.tls, node.cert("ca.pem"), node.cert("client.pem"), node.cert("client.key")))
    bad = "127.0.0.1:%d" % free_port()
    cli.env = {"MVM_CONFIG": conf}
    cli.ok("node", "info")  # all from the file
    cli.env = {}
    cli.ok("--config", conf, "node", "info")
    cli.env = {"MVM_CONFIG": conf, "MVM_ENDPOINT": bad}
    cli.fails(14, "UNAVAILABLE", "node", "info")  # environment beats the file
    cli.ok("--endpoint", node.tls, "node", "info")  # flag beats environment
    cli.ok("node", "info", "--endpoint=" + node.unix)  # options anywhere
    home = os.path.join(node.dir, "home")
    os.makedirs(os.path.join(home, ".config", "mvm"))
    shutil.copy(conf, os.path.join(home, ".config", "mvm", "cli.conf"))
    cli.base["HOME"] = home
    cli.env = {}
    info = cli.json("node", "info")  # the default file
    check(info.get("version"), "node info has a version: %r" % info)
    cli.fails(64, None, "--config", os.path.join(node.dir, "missing.conf"), "node", "info")
    err = cli.fails(64, None, "node", "info", env={"MVM_TIMEOUT": "soon"})
    check("MVM_TIMEOUT" in err, "a bad environment value is named: %r" % err)
    with open(conf, "a") as f:
        f.write("colour = blue\n")
    cli.fails(64, None, "--config", conf, "node", "info")


def scenario_health(node, cli):
    out = cli.ok("health", "check")
    check("SERVING" in out, "health check: SERVING (got %r)" % out)
    h = cli.json("health", "check", "mvm.v1.TenantService")
    check(h.get("status") == "SERVING", "TenantService is SERVING: %r" % h)
    cli.fails(5, "NOT_FOUND", "health", "check", "no.such.Service")
    rc, out, err = cli.run("health", "watch", "--count", "1", "-o", "json")
    check(rc == 0 and json.loads(out or "{}").get("status") == "SERVING",
          "health watch sends the current status: %r %r" % (out, err))
    info = cli.json("node", "info")
    check(info.get("capacity", {}).get("cpus", 0) > 0, "node info capacity: %r" % info)


def scenario_help(cli):
    rc, out, err = cli.run("--help")
    check(rc == 0 and "Exit codes" in out and "64" in out, "top help lists exit codes")
    rc, out, err = cli.run("tenant", "--help")
    check(rc == 0 and "create" in out and "CreateTenant" in out, "object help lists verbs")
    rc, out, err = cli.run("tenant", "create", "--help")
    check(rc == 0 and "--net-id uint32" in out and "--quota-max-instances" in out
          and "Network id" in out, "verb help shows flags, types, comments: %r" % out)
    rc, out, err = cli.run("pool", "update", "--help")
    check("--sleep-policy-warm-after-idle-seconds" in out and "update_mask" in out,
          "update help: %r" % out)
    rc, out, err = cli.run()
    check(rc == 64, "no arguments: usage, exit 64 (got %d)" % rc)
    rc, out, err = cli.run("tenant", "get", "x")
    check(rc == 64 and "no endpoint" in err, "no endpoint: exit 64 (got %d %r)" % (rc, err))
    rc, out, err = cli.run("tenant", "create", "x", "--net-id", "-3", "--endpoint", "unix:/x")
    check(rc == 64, "negative uint32: exit 64 (got %d)" % rc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mvmd")
    ap.add_argument("--gen-certs")
    ap.add_argument("scenario")
    args = ap.parse_args()
    if args.scenario == "help":
        home = tempfile.mkdtemp(prefix="mvm-cli-test-")
        try:
            scenario_help(Cli(args.cli, {}, home))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    else:
        fn = globals().get("scenario_" + args.scenario)
        if not fn or not args.mvmd or not args.gen_certs:
            sys.exit("unknown scenario or missing --mvmd/--gen-certs")
        node = Node(args)
        try:
            fn(node, Cli(args.cli, node.tls_env(), node.dir))
        finally:
            node.stop()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
