#!/usr/bin/python3
"""bench_net.py - tenant networking: N instances' networks made, reconciled
and removed through mvm_net / mvm_net_nft (BUILD/tests/bench/bench_net)
against the same configuration made with ip and nft commands, one process per
command as an operator's script would, and again the way a careful operator
would (ip -batch, ip -n). Prints figures and ratios; asserts nothing about
speed.

    bench_net.py --build BUILD [--instances 1000] [--cmd-instances 100]
                 [--per-tenant 250] [--leak-pct 10] [--json]

Everything runs in a network and mount namespace of its own (unshare(2), a
tmpfs on /run/netns), a fresh network namespace per path, so the host's
interfaces and tables are never touched. Needs root: without it, or without
namespaces, it says SKIP and exits 77.

mvm path (bench_net.c): tenant bridges (one per --per-tenant instances), per
instance net_instance_ensure + net_nft_instance_apply in its netns, one
net_nft_host_apply (the tenants, a port forward per instance, two host
services, an egress allowlist); a reconcile pass as after a restart
(net_list, every ensure and NAT again, one host apply); net_list finding
--leak-pct% leaked instances and removing them; net_instance_remove each.

Command paths, on --cmd-instances (per-instance figures extrapolate; the host
table is the full N's in both paths): "commands" is one ip/nft process per
step (ip netns add, ip link add ... veth peer ... netns, ip link set master
up, ip -n ... addr/route/tuntap/link, ip netns exec ... sysctl, ip netns exec
... nft -f -); "batched" is ip -batch / ip -n NS -batch per instance plus one
ip netns exec for forwarding and NAT. Both are bash scripts, timed whole.

Both paths' results are read back the same way (ip -j, nft -j) and compared:
device and netns counts, and one instance's addresses, MAC, route, TAP,
forwarding and NAT rules.

Exit status: 0; 1 if a path failed or the configurations differ; 77 SKIP.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
UID, GID = 123, 456

libc = ctypes.CDLL(None, use_errno=True)


class BenchError(RuntimeError):
    pass


def skip(why):
    print(f"SKIP: bench_net.py: {why}")
    sys.exit(77)


def fresh_netns(first):
    """A new network namespace for this process (and its children), and a new
    empty /run/netns; the first call also makes the mount namespace private."""
    flags = CLONE_NEWNET | (CLONE_NEWNS if first else 0)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if first and libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "making / private")
    os.makedirs("/run/netns", exist_ok=True)
    if libc.mount(b"tmpfs", b"/run/netns", b"tmpfs", 0, b"mode=0755") != 0:
        raise OSError(ctypes.get_errno(), "tmpfs on /run/netns")


def sh(cmd, inp=None):
    r = subprocess.run(cmd, input=inp, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


# ---- the configuration (the same numbers as bench_net.c) ----

def inst(i, per):
    t, host = i // per, 2 + i % per
    return {"id": f"bench-{i:05d}", "ns": f"mvm-bench-{i:05d}", "net_id": 1 + t,
            "ip": f"10.240.{t}.{host}", "gw": f"10.240.{t}.1",
            "mac": f"02:00:0a:f0:{t:02x}:{host:02x}", "veth": veth_name(f"bench-{i:05d}"),
            "br": f"br-tenant-{1 + t}"}


def veth_name(instance_id):
    """net_host_veth_name: "vm" + 12 hex digits of FNV-1a 64 of the id."""
    h = 0xcbf29ce484222325
    for b in instance_id.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "vm" + f"{h:016x}"[:12]


def nat_nft(x):
    return (f"table ip mvm-nat {{\n"
            f" chain prerouting {{ type nat hook prerouting priority -100;\n"
            f"  iifname \"eth0\" ip daddr {x['ip']} dnat to 172.16.0.2 comment \"mvm:instance:dnat\"\n }}\n"
            f" chain postrouting {{ type nat hook postrouting priority 100;\n"
            f"  oifname \"eth0\" ip saddr 172.16.0.2 snat to {x['ip']} comment \"mvm:instance:snat\"\n }}\n"
            f"}}\n")


def host_nft(n, per):
    tenants = (n + per - 1) // per
    fw = ["  ct state established,related accept comment \"mvm:ct\""]
    fw += [f"  iifname \"br-tenant-{1 + t}\" oifname \"br-tenant-{1 + t}\" accept "
           f"comment \"mvm:tenant:{1 + t}:intra\"" for t in range(tenants)]
    fw.append("  iifname \"br-tenant-*\" oifname \"br-tenant-*\" drop comment \"mvm:cross-tenant\"")
    for cidr in ("203.0.113.0/24", "198.51.100.7/32"):
        fw.append(f"  iifname \"br-tenant-1\" meta nfproto ipv4 ip daddr {cidr} accept "
                  f"comment \"mvm:tenant:1:egress:{cidr}\"")
    fw.append("  iifname \"br-tenant-1\" drop comment \"mvm:tenant:1:egress-drop\"")
    inp = ["  iifname \"br-tenant-*\" ct state established,related accept comment \"mvm:ct\"",
           "  iifname \"br-tenant-*\" meta l4proto udp th dport 53 accept comment \"mvm:service:udp:53\"",
           "  iifname \"br-tenant-*\" meta l4proto tcp th dport 53 accept comment \"mvm:service:tcp:53\"",
           "  iifname \"br-tenant-*\" drop comment \"mvm:guest-input-drop\""]
    dnat = [f"  meta nfproto ipv4 fib daddr type local meta l4proto tcp th dport {20000 + i} "
            f"dnat ip to {inst(i, per)['ip']}:22 comment \"mvm:forward:tcp:{20000 + i}\""
            for i in range(n)]
    post = [f"  meta nfproto ipv4 ip saddr 10.240.{t}.0/24 oifname \"uplink0\" masquerade "
            f"comment \"mvm:tenant:{1 + t}:masquerade\"" for t in range(tenants)]

    def chain(name, head, rules):
        return f" chain {name} {{\n  {head}\n" + "\n".join(rules) + "\n }\n"
    return ("table inet mvm {\n"
            + chain("forward", "type filter hook forward priority 0;", fw)
            + chain("input", "type filter hook input priority 0;", inp)
            + chain("prerouting", "type nat hook prerouting priority -100;", dnat)
            + chain("output", "type nat hook output priority -100;", dnat)
            + chain("postrouting", "type nat hook postrouting priority 100;", post) + "}\n")


# ---- the command paths: bash scripts ----

def tenants_script(n, per):
    out = []
    for t in range((n + per - 1) // per):
        br = f"br-tenant-{1 + t}"
        out += [f"ip link add {br} type bridge", f"ip addr add 10.240.{t}.1/24 dev {br}",
                f"ip link set {br} up"]
    return "\n".join(out) + "\n"


def setup_script(n, per, batched):
    out = ["set -e"]
    for i in range(n):
        x = inst(i, per)
        ns = x["ns"]
        if not batched:
            out += [f"ip netns add {ns}",
                    f"ip link add {x['veth']} type veth peer name eth0 netns {ns}",
                    f"ip link set {x['veth']} master {x['br']} up",
                    f"ip -n {ns} link set eth0 address {x['mac']} up",
                    f"ip -n {ns} link set lo up",
                    f"ip -n {ns} addr add {x['ip']}/24 dev eth0",
                    f"ip -n {ns} route add default via {x['gw']}",
                    f"ip -n {ns} tuntap add tap0 mode tap user {UID} group {GID}",
                    f"ip -n {ns} addr add 172.16.0.1/30 dev tap0",
                    f"ip -n {ns} link set tap0 up",
                    f"ip netns exec {ns} sysctl -qw net.ipv4.ip_forward=1",
                    f"ip netns exec {ns} nft -f - <<'EOF'\n{nat_nft(x)}EOF"]
        else:
            out += [f"ip -batch - <<'EOF'\nnetns add {ns}\n"
                    f"link add {x['veth']} master {x['br']} up type veth peer name eth0 "
                    f"address {x['mac']} netns {ns}\nEOF",
                    f"ip -n {ns} -batch - <<'EOF'\nlink set lo up\nlink set eth0 up\n"
                    f"addr add {x['ip']}/24 dev eth0\nroute add default via {x['gw']}\n"
                    f"tuntap add tap0 mode tap user {UID} group {GID}\n"
                    f"addr add 172.16.0.1/30 dev tap0\nlink set tap0 up\nEOF",
                    f"ip netns exec {ns} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward && "
                    f"exec nft -f -' <<'EOF'\n{nat_nft(x)}EOF"]
    return "\n".join(out) + "\n"


def teardown_script(n, per, batched):
    out = ["set -e"]
    for i in range(n):
        x = inst(i, per)
        if not batched:
            out += [f"ip link del {x['veth']}", f"ip -n {x['ns']} link del tap0",
                    f"ip netns del {x['ns']}"]
        else:
            out += [f"ip -n {x['ns']} link del tap0",
                    f"ip -batch - <<'EOF'\nlink del {x['veth']}\nnetns del {x['ns']}\nEOF"]
    return "\n".join(out) + "\n"


def run_script(text):
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        t0 = time.monotonic()
        r = subprocess.run(["bash", path], capture_output=True, text=True)
        dt = time.monotonic() - t0
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise BenchError(f"command script failed: {r.stderr.strip()[-400:]}")
    return dt * 1e6


# ---- reading back (the same for both paths) ----

def describe(n, per):
    """Counts, and instance 1's configuration, read with ip -j and nft -j."""
    links = json.loads(sh(["ip", "-j", "-d", "link", "show"]))
    veths = [l for l in links if l["ifname"].startswith("vm")
             and l.get("linkinfo", {}).get("info_kind") == "veth"]
    bridges = [l for l in links if l["ifname"].startswith("br-tenant-")]
    netns = [f for f in os.listdir("/run/netns") if f.startswith("mvm-")]
    d = {"netns": len(netns), "veths": len(veths), "bridges": len(bridges),
         "veths_on_their_bridge": sum(1 for l in veths if l.get("master", "").startswith("br-"))}
    if n < 2:
        return d
    x = inst(1, per)
    ns = x["ns"]
    nl = {l["ifname"]: l for l in json.loads(sh(["ip", "-n", ns, "-j", "-d", "link", "show"]))}
    addrs = {a["ifname"]: sorted(f"{i['local']}/{i['prefixlen']}" for i in a["addr_info"]
                                 if i["family"] == "inet")
             for a in json.loads(sh(["ip", "-n", ns, "-j", "addr", "show"]))}
    routes = [(r["dst"], r.get("gateway"), r.get("dev"))
              for r in json.loads(sh(["ip", "-n", ns, "-j", "route", "show"]))]
    tap = nl.get("tap0", {}).get("linkinfo", {}).get("info_data", {})
    nat = json.loads(sh(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "ip", "mvm-nat"]))
    nat_rules = sorted(r["rule"]["comment"] for r in nat["nftables"] if "rule" in r)
    fwd = sh(["ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward"]).strip()
    d["instance_1"] = {
        "links": sorted(nl), "eth0_mac": nl.get("eth0", {}).get("address"),
        "up": sorted(k for k, l in nl.items() if "UP" in l.get("flags", [])),
        "addrs": addrs, "routes": sorted(routes),
        "tap": {k: tap.get(k) for k in ("type", "pi", "vnet_hdr", "persist", "user", "group")},
        "ip_forward": fwd, "nat_rules": nat_rules}
    host = json.loads(sh(["nft", "-j", "list", "table", "inet", "mvm"]))
    d["host_rules"] = sum(1 for r in host["nftables"] if "rule" in r)
    return d


# ---- the paths ----

def bench_net(build, *args):
    exe = os.path.join(build, "tests", "bench", "bench_net")
    r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"bench_net {args[0]}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def mvm_path(a):
    fresh_netns(False)
    n, per = a.instances, a.per_tenant
    res = {"setup": bench_net(a.build, "setup", n, per, UID, GID, a.pool)}
    res["seen"] = describe(n, per)
    res["reconcile"] = bench_net(a.build, "reconcile", n, per, UID, GID)
    res["leak"] = bench_net(a.build, "leak", n, per, UID, GID, a.leak_pct)
    res["teardown"] = bench_net(a.build, "teardown", n, per, UID, GID)
    res["after"] = describe(0, per)
    return res


def cmd_path(a, batched):
    fresh_netns(False)
    n, per = a.cmd_instances, a.per_tenant
    res = {"tenants_us": run_script(tenants_script(n, per))}
    res["instances_us"] = run_script(setup_script(n, per, batched))
    text = host_nft(a.instances, per)
    t0 = time.monotonic()
    sh(["nft", "-f", "-"], inp=text)
    res["host_apply_us"] = (time.monotonic() - t0) * 1e6
    res["seen"] = describe(n, per)
    res["teardown_us"] = run_script(teardown_script(n, per, batched))
    return res


def check_same(mvm, cmds, a):
    """The same configuration: counts match each path's N, instance 1 alike."""
    problems = []
    for name, r, n in [("mvm", mvm, a.instances)] + [(k, v, a.cmd_instances) for k, v in cmds.items()]:
        s = r["seen"]
        tenants = (n + a.per_tenant - 1) // a.per_tenant
        want = {"netns": n, "veths": n, "bridges": tenants, "veths_on_their_bridge": n}
        for k, v in want.items():
            if s[k] != v:
                problems.append(f"{name}: {k} {s[k]}, expected {v}")
    for name, r in cmds.items():
        if r["seen"].get("instance_1") != mvm["seen"].get("instance_1"):
            problems.append(f"{name}: instance 1 differs: {r['seen'].get('instance_1')} vs mvm "
                            f"{mvm['seen'].get('instance_1')}")
        if r["seen"].get("host_rules") != mvm["seen"].get("host_rules"):
            problems.append(f"{name}: host table has {r['seen'].get('host_rules')} rules, mvm's "
                            f"{mvm['seen'].get('host_rules')}")
    after = mvm["after"]
    if after["netns"] or after["veths"] or after["bridges"]:
        problems.append(f"mvm teardown left {after}")
    return problems


def report(mvm, cmds, a):
    n, nc = a.instances, a.cmd_instances
    s, rc, lk, td = mvm["setup"], mvm["reconcile"], mvm["leak"], mvm["teardown"]
    mvm_setup = s["instances_us"] / n / 1e3
    mvm_down = td["instances_us"] / n / 1e3
    print(f"== tenant networking, {n} instances, {a.per_tenant} per tenant bridge "
          f"({(n + a.per_tenant - 1) // a.per_tenant} tenants)")
    print(f"mvm setup:     {s['instances_us'] / 1e3:9.1f} ms total, {mvm_setup:.3f} ms/instance "
          f"(ensure {s['ensure_us'] / n / 1e3:.3f} + NAT {s['nat_us'] / n / 1e3:.3f}; first tenth "
          f"{s['first_tenth_mean_us'] / 1e3:.3f}, last tenth {s['last_tenth_mean_us'] / 1e3:.3f}, "
          f"max {s['max_instance_us'] / 1e3:.1f}); tenants {s['tenants_us'] / 1e3:.1f} ms; "
          f"host apply ({n} forwards) {s['host_apply_us'] / 1e3:.1f} ms")
    print(f"mvm teardown:  {td['instances_us'] / 1e3:9.1f} ms total, {mvm_down:.3f} ms/instance; "
          f"tenants + host table {td['tenants_and_host_us'] / 1e3:.1f} ms; the kernel's netns "
          f"cleanup done after {td['settled_us'] / 1e3:.1f} ms ({td['veths_left']} veths left)")
    print(f"mvm reconcile: {rc['total_us'] / 1e3:9.1f} ms for {n} instances "
          f"({rc['total_us'] / n / 1e3:.3f} ms/instance): net_list {rc['list_us'] / 1e3:.1f} ms "
          f"(saw {rc['listed_bridges']} bridges, {rc['listed_veths']} veths, "
          f"{rc['listed_netns']} netns), ensure {rc['ensure_us'] / 1e3:.1f} ms, NAT "
          f"{rc['nat_us'] / 1e3:.1f} ms, host apply {rc['host_apply_us'] / 1e3:.1f} ms")
    print(f"mvm leaks:     {lk['found']} of {lk['leaked']} leaked instances found by net_list and "
          f"removed in {lk['total_us'] / 1e3:.1f} ms ({lk['total_us'] / max(lk['found'], 1) / 1e3:.2f}"
          f" ms each; net_list {lk['list_us'] / 1e3:.1f} ms); left: {lk['veths_after']} veths, "
          f"{lk['netns_after']} netns")
    sample = f" (sample of {nc}, per-instance figures extrapolate)" if nc < n else ""
    for name, r in cmds.items():
        up, down = r["instances_us"] / nc / 1e3, r["teardown_us"] / nc / 1e3
        print(f"{name + ':':14s} setup {up:.3f} ms/instance = {up * n / 1e3:.1f} s for {n}, "
              f"teardown {down:.3f} ms/instance, host nft -f {r['host_apply_us'] / 1e3:.1f} ms, "
              f"tenants {r['tenants_us'] / 1e3:.1f} ms{sample}")
        print(f"{'':14s} mvm is {up / mvm_setup:.1f}x faster at setup, {down / mvm_down:.1f}x at "
              f"teardown, {r['host_apply_us'] / s['host_apply_us']:.1f}x at the host table")
    print(f"target: setup <= 1 ms/instance ({'met' if mvm_setup <= 1 else 'NOT met'}: "
          f"{mvm_setup:.3f}); >= 20x the commands "
          + ", ".join(f"{k} {r['instances_us'] / nc / 1e3 / mvm_setup:.1f}x" for k, r in cmds.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--cmd-instances", type=int, default=100)
    ap.add_argument("--per-tenant", type=int, default=250)
    ap.add_argument("--leak-pct", type=int, default=10)
    ap.add_argument("--pool", type=int, default=0,
                    help="mvm setup with a netns pool of this size, filled before the timed loop")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    a.cmd_instances = min(a.cmd_instances, a.instances)
    if os.geteuid() != 0:
        skip("needs root (network namespaces, devices, nftables)")
    if not os.path.exists(os.path.join(a.build, "tests", "bench", "bench_net")):
        print(f"bench_net.py: {a.build}/tests/bench/bench_net is missing; build it", file=sys.stderr)
        return 1
    try:
        fresh_netns(True)
    except OSError as e:
        skip(f"cannot make private namespaces: {e}")
    try:
        mvm = mvm_path(a)
        cmds = {"commands": cmd_path(a, False), "batched": cmd_path(a, True)}
    except BenchError as e:
        print(f"bench_net.py: FAILED: {e}", file=sys.stderr)
        return 1
    report(mvm, cmds, a)
    problems = check_same(mvm, cmds, a)
    print("same configuration in every path: " + ("yes" if not problems else "NO"))
    for p in problems:
        print("  " + p)
    if a.json:
        print(json.dumps({"mvm": mvm, **cmds}, indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
