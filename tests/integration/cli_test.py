#!/usr/bin/python3
"""cli_test.py - end-to-end tests of mvm-cli against a real mvmd.

Each run starts its own mvmd through tests/integration/harness.py (fresh dev
PKI, temporary state dir, loopback ports from the ready file), runs one
scenario that drives mvm-cli over mTLS or the Unix socket and checks exit
codes, stderr and parsed JSON output, then stops mvmd with SIGTERM (which
must exit 0) and removes its files. 'help', 'options' and
'handshake_timeout' need no mvmd; 'quickstart' runs scripts/quickstart.sh
(without its apt and build steps) on the build mvm-cli belongs to.

usage: cli_test.py --cli PATH [--mvmd PATH] SCENARIO
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

from cli_check import FAILURES, check, finish
from harness import Mvmd


# Placeholder image files of the scenario's mvmd (pools need readable files).
KERNEL = ROOTFS = None


def tls_env(node, client="client"):
    """mvm-cli's settings for mTLS to node as the given client."""
    return {"MVM_ENDPOINT": node.tls_addr, "MVM_CA": node.cert("ca.pem"),
            "MVM_CERT": node.cert(client + ".pem"), "MVM_KEY": node.cert(client + ".key")}


def unix_endpoint(node):
    return "unix:" + node.unix_path


class Cli:
    """Runs mvm-cli with a clean environment plus the given variables."""

    def __init__(self, path, env, home):
        self.path, self.env = path, dict(env)
        self.base = {k: v for k, v in os.environ.items() if not k.startswith("MVM_")}
        self.base["HOME"] = home  # no stray ~/.config/mvm/cli.conf

    def run(self, *argv, env=None, **kw):
        e = dict(self.base)
        e.update(self.env if env is None else env)
        p = subprocess.run([self.path] + list(argv), env=e, capture_output=True,
                           text=True, timeout=60, **kw)
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

    def fails(self, code, name, *argv, env=None, **kw):
        rc, out, err = self.run(*argv, env=env, **kw)
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
                 "--mem-mib", "512", "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
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
    check(cli.json("tenant", "list") == {"tenants": []}, "no tenants left")


def scenario_crud_tls(node, cli):
    crud(cli)


def scenario_crud_unix(node, cli):
    cli.env = {"MVM_ENDPOINT": unix_endpoint(node)}
    crud(cli)
    cli.ok("--endpoint", "unix://" + node.unix_path, "node", "info")  # unix:///abs/path


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
              "--mem-mib", "128", "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    err = cli.fails(64, None, "tenant", "create", "x", "--bogus", "1")
    check("--bogus" in err and "--net-id" in err, "unknown flag lists valid flags: %r" % err)
    err = cli.fails(64, None, "tenant", "create", "x", "--net-id", "4294967296")
    check("out of range" in err, "range check: %r" % err)
    cli.fails(64, None, "tenant", "explode")
    cli.fails(64, None, "nothing", "list")
    cli.fails(64, None, "tenant", "update", "acme")  # nothing to update
    cli.fails(14, "UNAVAILABLE", "--endpoint", "127.0.0.1:%d" % free_port(), "tenant", "list")
    cli.fails(14, "UNAVAILABLE", "--endpoint", "unix:" + node.tmp + "/nosuch.sock",
              "tenant", "list")
    t = cli.json("tenant", "get", "acme")
    check(t.get("netId") == 3, "failed calls changed nothing: %r" % t)


def scenario_refused(node, cli):
    cli.ok("node", "info")
    cli.fails(14, "UNAVAILABLE", "tenant", "list", env=tls_env(node, "other-client"))
    env = tls_env(node)
    env["MVM_CA"] = node.cert("other-ca.pem")  # server cert not trusted
    err = cli.fails(14, "UNAVAILABLE", "tenant", "list", env=env)
    check("certificate" in err, "says the certificate is not trusted: %r" % err)
    env = tls_env(node)
    del env["MVM_CERT"], env["MVM_KEY"]  # no client certificate at all
    cli.fails(14, "UNAVAILABLE", "tenant", "list", env=env)
    check(cli.json("tenant", "list") == {"tenants": []}, "refused calls created nothing")


def scenario_cert_files(node, cli):
    """A certificate, key or CA file that cannot be used is a usage error (64)
    that names the file and says what is wrong with it."""
    # Outside mvmd's private temp dir, so that the unprivileged user below
    # reaches every file but the locked one.
    files = tempfile.mkdtemp(prefix="mvm-cli-files-")
    try:
        cert_file_cases(node, cli, files)
    finally:
        shutil.rmtree(files, ignore_errors=True)
    check(cli.json("tenant", "list") == {"tenants": []}, "refused calls created nothing")


def cert_file_cases(node, cli, files):
    """The cases of scenario_cert_files, with copies of the certs in files."""
    os.chmod(files, 0o755)
    for name in ("ca.pem", "client.pem", "client.key", "other-client.key"):
        shutil.copy(node.cert(name), os.path.join(files, name))
        os.chmod(os.path.join(files, name), 0o644)
    junk = os.path.join(files, "junk.pem")
    with open(junk, "w") as f:
        f.write("this is not PEM\n")
    os.chmod(junk, 0o644)
    locked = os.path.join(files, "locked.pem")
    shutil.copy(node.cert("client.pem"), locked)
    os.chmod(locked, 0o600 if os.geteuid() == 0 else 0)
    base = {"MVM_ENDPOINT": node.tls_addr, "MVM_CA": os.path.join(files, "ca.pem"),
            "MVM_CERT": os.path.join(files, "client.pem"),
            "MVM_KEY": os.path.join(files, "client.key")}
    cases = [  # (setting, file, words the message must hold)
        ("MVM_CERT", os.path.join(files, "nosuch.pem"), ["client certificate", "does not exist"]),
        ("MVM_KEY", os.path.join(files, "nosuch.key"), ["client key", "does not exist"]),
        ("MVM_CA", os.path.join(files, "nosuch-ca.pem"), ["CA", "does not exist"]),
        ("MVM_CERT", files, ["client certificate", "not a regular file"]),
        ("MVM_CERT", junk, ["client certificate", "is not a PEM certificate"]),
        ("MVM_KEY", junk, ["client key", "PEM private key"]),
        ("MVM_CA", junk, ["CA", "PEM certificate"]),
        ("MVM_KEY", os.path.join(files, "other-client.key"), ["does not match"]),
    ]
    for setting, path, words in cases:
        env = dict(base)
        env[setting] = path
        err = cli.fails(64, None, "tenant", "list", env=env)
        check(path in err and all(w in err for w in words) and "error:" not in err,
              "%s=%s: the message names the file and %r, no raw OpenSSL code: %r"
              % (setting, path, words, err))
    # Unreadable: as root, run mvm-cli as an unprivileged user (root reads all),
    # from a copy in files: the build tree may sit where that user cannot go.
    env = dict(base, MVM_CERT=locked, HOME=files)
    kw = {}
    runner = cli
    if os.geteuid() == 0:
        kw = {"user": 65534, "group": 65534, "extra_groups": []}
        copy = os.path.join(files, "mvm-cli")
        shutil.copy(cli.path, copy)
        os.chmod(copy, 0o755)
        runner = Cli(copy, cli.env, files)
    err = runner.fails(64, None, "tenant", "list", env=env, **kw)
    check(locked in err and "not readable (permission denied)" in err,
          "an unreadable certificate is named: %r" % err)


def scenario_watch(node, cli):
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    first = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id")
    e = dict(cli.base)
    e.update(cli.env)
    w = subprocess.Popen([cli.path, "instance", "watch", "--tenant", "acme", "--send-initial",
                          "--count", "4", "-o", "json"], env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        # The initial ADDED event shows the watch is established.
        ev = [json.loads(w.stdout.readline() or "{}")]
        second = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id")
        cli.ok("instance", "delete", first, "--tenant", "acme")
        out, err = w.communicate(timeout=60)
        ev += [json.loads(l) for l in out.splitlines() if l.strip()]
        check(w.returncode == 0, "watch exits 0 after --count 4 (got %s: %s)" % (w.returncode, err))
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    seen = [(x.get("type"), x.get("instance", {}).get("id"), x.get("instance", {}).get("state"))
            for x in ev]
    # a delete is recorded first (DESTROYED, with its operation), then done
    check(seen == [("ADDED", first, "INSTANCE_STATE_CREATED"),
                   ("ADDED", second, "INSTANCE_STATE_CREATED"),
                   ("MODIFIED", first, "INSTANCE_STATE_DESTROYED"),
                   ("DELETED", first, "INSTANCE_STATE_DESTROYED")],
          "watch sees initial, create, delete: %r" % seen)
    rc, out, err = cli.run("instance", "watch", "--tenant", "acme", "--send-initial",
                           "--count", "1")
    check(rc == 0 and (out.splitlines() or [""])[0].split()[:2] == ["EVENT", "ID"] and
          second in out,
          "table watch prints a header and the event: %r %r" % (out, err))


def scenario_config(node, cli):
    conf = os.path.join(node.tmp, "cli.conf")
    with open(conf, "w") as f:
        f.write("# test config\nendpoint = %s\nca = %s\ncert = %s\nkey = %s\n" % (
            node.tls_addr, node.cert("ca.pem"), node.cert("client.pem"), node.cert("client.key")))
    bad = "127.0.0.1:%d" % free_port()
    cli.env = {"MVM_CONFIG": conf}
    cli.ok("node", "info")  # all from the file
    cli.env = {}
    cli.ok("--config", conf, "node", "info")
    cli.env = {"MVM_CONFIG": conf, "MVM_ENDPOINT": bad}
    cli.fails(14, "UNAVAILABLE", "node", "info")  # environment beats the file
    cli.ok("--endpoint", node.tls_addr, "node", "info")  # flag beats environment
    cli.ok("node", "info", "--endpoint=" + unix_endpoint(node))  # options anywhere
    home = os.path.join(node.tmp, "home")
    os.makedirs(os.path.join(home, ".config", "mvm"))
    shutil.copy(conf, os.path.join(home, ".config", "mvm", "cli.conf"))
    cli.base["HOME"] = home
    cli.env = {}
    info = cli.json("node", "info")  # the default file
    check(info.get("version"), "node info has a version: %r" % info)
    cli.fails(64, None, "--config", os.path.join(node.tmp, "missing.conf"), "node", "info")
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


def scenario_required(node, cli):
    """A field the proto declares REQUIRED (or IDENTIFIER) must be given: no
    silent zero for a missing --net-id."""
    err = cli.fails(64, None, "tenant", "create", "acme", "--subnet", "10.240.3.0/24")
    check("missing required argument: --net-id" in err, "names --net-id: %r" % err)
    err = cli.fails(64, None, "tenant", "create")
    check("NAME (or --name), --net-id, --subnet" in err, "names all three: %r" % err)
    check(cli.json("tenant", "list") == {"tenants": []}, "nothing was created")
    cli.ok("tenant", "create", "acme", "--net-id", "0", "--subnet", "10.240.3.0/24")
    check(cli.json("tenant", "get", "acme").get("subnet") == "10.240.3.0/24",
          "an explicit --net-id 0 is fine")
    err = cli.fails(64, None, "pool", "create", "web", "--tenant", "acme", "--vcpus", "1")
    check("--mem-mib, --kernel-image, --rootfs-image" in err, "pool create: %r" % err)
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    # An update needs what selects the resource, not what creating it needed.
    p = cli.json("pool", "update", "web", "--tenant", "acme", "--desired-instances", "2")
    check(p.get("desiredInstances") == 2 and p.get("vcpus") == 1, "pool update: %r" % p)
    err = cli.fails(64, None, "pool", "update", "web", "--desired-instances", "2")
    check("missing required argument: --tenant" in err, "update names --tenant: %r" % err)
    err = cli.fails(64, None, "instance", "stop", "i-0123456789abcdef")
    check("--tenant" in err, "stop still needs the tenant: %r" % err)
    rc, out, err = cli.run("tenant", "create", "--help")
    check(rc == 0 and "(required) Network id" in out, "help marks required flags: %r" % out)


def scenario_options(cli):
    """Global options: --timeout needs a unit and a positive value, "--"
    ends options, -oVALUE, --version. No server needed: all fail or finish
    before connecting."""
    env = {"MVM_ENDPOINT": "unix:/nonexistent/mvmd.sock"}
    for bad in ("5", "0", "0s", "-1s"):
        err = cli.fails(64, None, "--timeout", bad, "node", "info", env=env)
        check("ms, s, m or h" in err and '"%s"' % bad in err,
              "--timeout %s refused, naming the units: %r" % (bad, err))
    e = dict(env, MVM_TIMEOUT="5")
    err = cli.fails(64, None, "node", "info", env=e)
    check("MVM_TIMEOUT" in err and "ms, s, m or h" in err, "MVM_TIMEOUT=5: %r" % err)
    # Accepted forms reach the connection (which fails: no server).
    cli.fails(14, "UNAVAILABLE", "--timeout", "1.5s", "node", "info", env=env)
    cli.fails(14, "UNAVAILABLE", "-ojson", "node", "info", env=env)
    err = cli.fails(64, None, "-oyaml", "node", "info", env=env)
    check("table or json" in err, "-oyaml refused: %r" % err)
    rc, out, err = cli.run("--version")
    check(rc == 0 and out.startswith("mvm-cli ") and out.split()[1][0].isdigit(),
          "--version prints the version: %r %r" % (out, err))
    err = cli.fails(64, None, "--verbose", "node", "info", env=env)
    check("unknown option --verbose" in err, "an unknown option is called one: %r" % err)
    # After "--" nothing is an option: --help is the tenant's name here.
    err = cli.fails(14, "UNAVAILABLE", "tenant", "get", "--", "--help", env=env)
    err = cli.fails(64, None, "tenant", "get", "-x", env=env)
    check('"--"' in err, "a dash argument points at --: %r" % err)


def scenario_lists(node, cli):
    """Empty lists are [] in JSON; a page cut at page_size says how to go on."""
    check(cli.json("tenant", "list") == {"tenants": []}, "empty tenant list")
    check(cli.json("pool", "list") == {"pools": []}, "empty pool list")
    check(cli.json("instance", "list") == {"instances": []}, "empty instance list")
    for n in range(3):
        cli.ok("tenant", "create", "t%d" % n, "--net-id", str(n + 1),
               "--subnet", "10.240.%d.0/24" % (n + 1))
    rc, out, err = cli.run("tenant", "list", "--page-size", "2")
    rows = [l.split()[0] for l in out.splitlines()[1:]]
    check(rc == 0 and rows == ["t0", "t1"], "first page: %r %r" % (out, err))
    token = err.strip().rsplit(" ", 1)[-1]
    check(err.startswith("more results: --page-token ") and token,
          "the cut page says how to get the rest, on stderr: %r" % err)
    rc, out, err = cli.run("tenant", "list", "--page-size", "2", "--page-token", token)
    rows = [l.split()[0] for l in out.splitlines()[1:]]
    check(rc == 0 and rows == ["t2"] and err == "", "second and last page: %r %r" % (out, err))
    j = cli.json("tenant", "list", "--page-size", "2")
    check(len(j.get("tenants", [])) == 2 and j.get("nextPageToken") == token,
          "JSON keeps nextPageToken: %r" % j)


def scenario_delete_says(node, cli):
    """A delete that worked says what it deleted."""
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    iid = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id", "")
    out = cli.ok("instance", "delete", iid, "--tenant", "acme")
    check(out == "deleted instance %s (tenant acme)\n" % iid, "instance delete: %r" % out)
    out = cli.ok("pool", "delete", "web", "--tenant", "acme")
    check(out == "deleted pool web (tenant acme)\n", "pool delete: %r" % out)
    out = cli.ok("tenant", "delete", "acme")
    check(out == "deleted tenant acme\n", "tenant delete: %r" % out)
    cli.fails(5, "NOT_FOUND", "tenant", "delete", "acme")


def scenario_get_by_id(node, cli):
    """Instance ids are unique on the node: get needs no --tenant."""
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    iid = cli.json("instance", "create", "--tenant", "acme", "--pool", "web").get("id", "")
    g = cli.json("instance", "get", iid)
    check(g.get("id") == iid and g.get("tenant") == "acme" and g.get("pool") == "web",
          "get by id alone: %r" % g)
    check(cli.json("instance", "get", iid, "--tenant", "acme").get("id") == iid,
          "get by tenant and id")
    cli.fails(5, "NOT_FOUND", "instance", "get", iid, "--tenant", "other")
    err = cli.fails(5, "NOT_FOUND", "instance", "get", "i-0000000000000000")
    check("i-0000000000000000" in err, "NOT_FOUND names the id: %r" % err)
    cli.fails(3, "INVALID_ARGUMENT", "instance", "get", "i-XYZ")
    cli.ok("instance", "delete", iid, "--tenant", "acme")
    cli.fails(5, "NOT_FOUND", "instance", "get", iid)


# ---- node apply / node status (NodeService.Apply, GetStatus, WatchStatus) ----

def state(generation, pool_labels=None, **extra):
    """An ApplyRequest document: tenant acme with pool web (no instances:
    the scenario's mvmd has no Firecracker), in both JSON name styles."""
    pool = {"tenant": "acme", "name": "web", "vcpus": 1, "mem_mib": 128,
            "kernelImage": KERNEL, "rootfs_image": ROOTFS, "desiredInstances": 0}
    if pool_labels:
        pool["labels"] = pool_labels
    doc = {"generation": generation,
           "tenants": [{"name": "acme", "netId": 7, "subnet": "10.240.7.0/24"}],
           "pools": [pool]}
    doc.update(extra)
    return doc


def write_state(node, name, doc):
    path = os.path.join(node.tmp, name)
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return path


def change_rows(out):
    """(kind, tenant, name, action, fields) of an apply table, and its
    first line."""
    lines = out.splitlines()
    rows = []
    for l in lines[2:]:
        cells = l.split()
        rows.append(tuple(cells[:4]) + ((cells[4] if len(cells) > 4 else "-"),))
    return (lines[0] if lines else ""), (lines[1].split() if len(lines) > 1 else []), rows


def labels_updated(rows):
    """Whether the rows say pool acme/web was UPDATED in its labels."""
    return any(r[:4] == ("pool", "acme", "web", "UPDATED") and r[4].startswith("labels")
               for r in rows)


def scenario_apply(node, cli):
    """apply -f creates, then leaves alone, then updates; --dry-run changes
    nothing; an older generation is refused with the server's message."""
    f1 = write_state(node, "state1.json", state(1))
    rc, out, err = cli.run("node", "apply", "-f", f1)
    check(rc == 0, "node apply -f: exit 0 (got %d: %s)" % (rc, err.strip()))
    if rc != 0:
        return  # the rest builds on it
    head, header, rows = change_rows(out)
    check(head == "generation 1  changed yes", "first apply changed things: %r" % head)
    check(header == ["KIND", "TENANT", "NAME", "ACTION", "FIELDS"], "apply header: %r" % header)
    check(sorted(rows) == [("pool", "acme", "web", "CREATED", "-"),
                           ("tenant", "acme", "-", "CREATED", "-")],
          "first apply created the tenant and the pool: %r" % rows)
    p = cli.json("pool", "get", "web", "--tenant", "acme")
    check(p.get("memMib") == 128 and p.get("kernelImage") == KERNEL, "the pool is there: %r" % p)
    r = cli.json("node", "apply", "-f", f1)
    check(r.get("generation") == "1" and not r.get("changed"), "same again: unchanged: %r" % r)
    check(sorted((c.get("kind"), c.get("action")) for c in r.get("changes", [])) ==
          [("pool", "APPLY_ACTION_UNCHANGED"), ("tenant", "APPLY_ACTION_UNCHANGED")],
          "every object UNCHANGED: %r" % r)
    f2 = write_state(node, "state2.json", state(2, {"tier": "front"}))
    head, _, rows = change_rows(cli.ok("node", "apply", "-f", f2, "--dry-run"))
    check(labels_updated(rows) and head.endswith("changed yes"),
          "a dry run reports the update: %r %r" % (head, rows))
    pg = cli.json("pool", "get", "web", "--tenant", "acme")
    check(not pg.get("labels"), "the dry run changed nothing: %r" % pg)
    # from standard input
    rc, out, err = cli.run("node", "apply", "-f", "-", input=open(f2).read())
    head, _, rows = change_rows(out)
    check(rc == 0 and labels_updated(rows) and
          ("tenant", "acme", "-", "UNCHANGED", "-") in rows,
          "apply -f - updates the pool: %r %r" % (out, err))
    check(cli.json("pool", "get", "web", "--tenant", "acme").get("labels") == {"tier": "front"},
          "the update is stored")
    err = cli.fails(9, "FAILED_PRECONDITION", "node", "apply", "-f", f1)
    check("generation" in err, "an older generation is refused, saying why: %r" % err)
    # --generation over the file's: the same content as generation 2 again
    r = cli.json("node", "apply", "-f", f1, "--generation", "3")
    check(r.get("generation") == "3" and r.get("changed") is True,
          "--generation replaces the file's: %r" % r)
    # prune: a tenant not listed is marked deleting
    cli.ok("tenant", "create", "beta", "--net-id", "8", "--subnet", "10.240.8.0/24")
    r = cli.json("node", "apply", "-f", f1, "--generation", "4", "--prune")
    check(any(c.get("kind") == "tenant" and c.get("tenant") == "beta" and
              c.get("action") == "APPLY_ACTION_DELETING" for c in r.get("changes", [])),
          "--prune marks beta deleting: %r" % r)
    s = status_where(cli, lambda s: s.get("appliedGeneration") == "4", "generation 4")
    check(s.get("appliedGeneration") == "4" and s.get("applyTime"),
          "status has the applied generation and when: %r" % s)


def scenario_apply_file_errors(cli):
    """A file that does not decode is a usage error (64) naming the file
    and the JSON path; the server is never called (there is none)."""
    env = {"MVM_ENDPOINT": "unix:/nonexistent/mvmd.sock"}
    home = cli.base["HOME"]
    bad = os.path.join(home, "bad.json")
    with open(bad, "w") as f:
        json.dump({"generation": 3, "pools": [{"tenant": "acme", "name": "web"},
                                              {"tenant": "acme", "desiredInstance": 1}]}, f)
    err = cli.fails(64, None, "node", "apply", "-f", bad, env=env)
    check("%s: pools[1].desiredInstance: no such field in mvm.v1.Pool" % bad in err,
          "names the file, the path and the problem: %r" % err)
    cases = [('{"generation": "x"}', 'generation: "x" is not a decimal integer (uint64)'),
             ('{"pools": [{"vcpus": 4294967296}]}', "pools[0].vcpus: 4294967296 is out of "
                                                     "range for uint32"),
             ('{"pools": [{"memoryBackend": "FAST"}]}', 'pools[0].memoryBackend: "FAST" is '
                                                         'not a value of mvm.v1.MemoryBackend'),
             ('{"tenants": {"name": "acme"}}', "tenants: expected an array, got an object"),
             ('{"generation": 1,', "(standard input): line 1 column ")]
    for doc, want in cases:
        err = cli.fails(64, None, "node", "apply", "-f", "-", env=env, input=doc)
        check(want in err, "%s: %r in %r" % (doc, want, err))
    err = cli.fails(64, None, "node", "apply", env=env)
    check("-f FILE" in err, "apply without -f says how: %r" % err)
    err = cli.fails(64, None, "node", "apply", "-f", os.path.join(home, "nosuch.json"), env=env)
    check("nosuch.json: cannot open" in err, "a missing file is named: %r" % err)
    err = cli.fails(64, None, "node", "apply", "-f", "-", env=env, input="{}")
    check("--generation" in err, "no generation in file or flags: %r" % err)
    # the file is fine: the call is made (and finds no server)
    cli.fails(14, "UNAVAILABLE", "node", "apply", "-f", "-", "--prune", env=env,
              input='{"generation": 1}')
    cli.fails(14, "UNAVAILABLE", "node", "status", "--watch", env=env)
    err = cli.fails(64, None, "node", "info", "--watch", env=env)
    check("--watch" in err, "--watch only where a verb has it: %r" % err)


def status_where(cli, want, what):
    """The first NodeStatus WatchStatus sends for which want(status) holds
    (the reconcile loop makes statuses: a change shows in a later one)."""
    e = dict(cli.base)
    e.update(cli.env)
    w = subprocess.Popen([cli.path, "--timeout", "60s", "node", "status", "--watch",
                          "-o", "json"], env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for line in w.stdout:
            s = json.loads(line)
            if want(s):
                return s
    finally:
        w.kill()
        w.communicate()
    check(False, "a status with %s came within the --timeout" % what)
    return {}


def scenario_status(node, cli):
    """status: a heading and one row per pool; -o json one NodeStatus per
    line; --watch streams the current status first. (Nothing applied: the
    generation is 0; scenario_apply checks it after an apply.)"""
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    s = status_where(cli, lambda s: "web" in [p.get("name") for p in s.get("pools", [])],
                     "pool web")
    check(not s.get("appliedGeneration"), "nothing applied: generation 0: %r" % s)
    pools = [(p.get("tenant"), p.get("name")) for p in s.get("pools", [])]
    check(pools == [("acme", "web")], "status lists the pool: %r" % s)
    out = cli.ok("node", "status")
    lines = out.splitlines()
    check(len(lines) == 3 and lines[0].startswith("generation 0  converged ") and
          " observed " in lines[0], "status heading: %r" % out)
    check(len(lines) > 1 and lines[1].split() == ["TENANT", "POOL", "DESIRED", "ACTUAL",
                                                  "RUNNING", "WARM", "SLEEPING", "BASE",
                                                  "STATE", "MESSAGE"],
          "status columns: %r" % out)
    check(len(lines) > 2 and lines[2].split()[:3] == ["acme", "web", "0"],
          "status row of acme/web: %r" % out)
    rc, out, err = cli.run("node", "status", "--watch", "--count", "1", "-o", "json")
    docs = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(rc == 0 and len(docs) == 1 and
          [p.get("name") for p in docs[0].get("pools", [])] == ["web"],
          "--watch sends the current status first, one object a line: %r %r" % (out, err))
    rc, out, err = cli.run("--timeout", "1s", "node", "status", "--watch")
    check(rc == 0 and out.startswith("generation 0  converged ") and "acme" in out,
          "a table watch until --timeout exits 0: %r %r" % (out, err))


def scenario_tables(node, cli):
    """The columns of pools (desired, actual, warm of desired, base,
    reconcile state), tenants and instances (managed)."""
    cli.ok("tenant", "create", "acme", "--net-id", "3", "--subnet", "10.240.3.0/24")
    cli.ok("pool", "create", "web", "--tenant", "acme", "--vcpus", "1", "--mem-mib", "128",
           "--kernel-image", KERNEL, "--rootfs-image", ROOTFS)
    out = cli.ok("tenant", "list").splitlines()
    check(out[0].split()[:3] == ["NAME", "NET-ID", "SUBNET"] and out[1].split()[0] == "acme",
          "tenant table: %r" % out)
    out = cli.ok("pool", "list").splitlines()
    header = out[0].split() if out else []
    check(header[:2] == ["TENANT", "NAME"] and
          all(c in header for c in ("DESIRED", "ACTUAL", "WARM", "BASE", "RECONCILE")),
          "pool table columns: %r" % out)
    row = dict(zip(header, out[1].split())) if len(out) > 1 else {}
    check(row.get("NAME") == "web" and row.get("DESIRED") == "0" and
          row.get("WARM", "").endswith("/0"), "pool row: %r" % out)
    check(all(len(l) <= 160 for l in out), "pool lines are not absurdly wide: %r" % out)
    cli.ok("instance", "create", "--tenant", "acme", "--pool", "web")
    out = cli.ok("instance", "list").splitlines()
    header = out[0].split() if out else []
    row = dict(zip(header, out[1].split())) if len(out) > 1 else {}
    check("MANAGED" in header and row.get("MANAGED") == "no",
          "a caller's instance is not managed: %r" % out)


def scenario_handshake_timeout(cli):
    """A server that takes TCP but never answers the TLS ClientHello: the
    CLI gives up at --timeout with UNAVAILABLE and exits 14, the code its
    message names."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)  # the kernel completes TCP; nobody ever reads
        env = {"MVM_ENDPOINT": "127.0.0.1:%d" % s.getsockname()[1]}
        err = cli.fails(14, "UNAVAILABLE", "--timeout", "300ms", "node", "info", env=env)
        check("TLS handshake" in err, "says where it gave up: %r" % err)


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


def run_quickstart(build, dev, listen):
    """scripts/quickstart.sh on the given build, dev dir and --listen address,
    without its apt and build steps; returns (exit status, output)."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVM_")}
    env.update(MVM_SKIP_DEPS="1", MVM_SKIP_BUILD="1", MVM_BUILD_DIR=build,
               MVM_DEV_DIR=dev, MVM_LISTEN=listen, HOME=dev)
    p = subprocess.run(["sh", os.path.join(repo, "scripts", "quickstart.sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    return p.returncode, p.stdout


def scenario_quickstart(cli):
    """The quickstart works while something else holds the default metrics
    port (127.0.0.1:9464), and says what is in the way when its gRPC port is
    taken."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(cli.path)))
    dev = tempfile.mkdtemp(prefix="mvm-quickstart-")
    metrics = socket.socket()
    taken = socket.socket()
    try:
        try:
            metrics.bind(("127.0.0.1", 9464))
            metrics.listen(1)
        except OSError:
            pass  # someone else holds it already: just as good
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = free_port()
        rc, out = run_quickstart(build, dev, "127.0.0.1:%d" % port)
        check(rc == 0 and "Demo finished" in out, "quickstart with 9464 taken: exit 0 "
              "and the demo ran (got %d):\n%s" % (rc, out))
        ready = [l.split()[-1] for l in out.splitlines() if l.startswith("  ready: metrics ")]
        check(len(ready) == 1 and ready[0].startswith("127.0.0.1:") and
              not ready[0].endswith(":9464"), "its mvmd took a free metrics port: %r" % ready)
        busy = "127.0.0.1:%d" % taken.getsockname()[1]
        rc, out = run_quickstart(build, dev, busy)
        check(rc == 1 and "cannot listen on %s: another program holds it" % busy in out
              and "MVM_LISTEN" in out, "a taken gRPC port is named (got %d):\n%s" % (rc, out))
    finally:
        metrics.close()
        taken.close()
        shutil.rmtree(dev, ignore_errors=True)


NO_SERVER = {"help": scenario_help, "options": scenario_options,
             "handshake_timeout": scenario_handshake_timeout,
             "apply_file_errors": scenario_apply_file_errors,
             "quickstart": scenario_quickstart}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mvmd")
    ap.add_argument("scenario")
    args = ap.parse_args()
    if args.scenario in NO_SERVER:
        home = tempfile.mkdtemp(prefix="mvm-cli-test-")
        try:
            NO_SERVER[args.scenario](Cli(args.cli, {}, home))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return finish()
    fn = globals().get("scenario_" + args.scenario)
    if not fn or not args.mvmd:
        sys.exit("unknown scenario or missing --mvmd")
    global KERNEL, ROOTFS
    with Mvmd(binary=args.mvmd) as node:
        KERNEL, ROOTFS = node.kernel_image, node.rootfs_image
        fn(node, Cli(args.cli, tls_env(node), node.tmp))
        rc = node.stop()
        check(rc == 0, "mvmd exits 0 on SIGTERM (got %s)" % rc)
        if FAILURES:
            sys.stderr.write("---- mvmd log (tail) ----\n" + node.log_tail())
    return finish()


if __name__ == "__main__":
    sys.exit(main())
