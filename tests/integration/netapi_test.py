#!/usr/bin/python3
"""netapi_test.py - the network settings of the API (issue 9) through a real
mvmd and the Python client: Tenant.egress_cidrs, Pool.network_limits,
Instance.port_forwards (CreateInstance and SetPortForwards) and
NodeService.Apply carrying them. Every bad input gets its precise status
and changes nothing (resource versions, lists and the store revision as
they were); mvm-cli shows what was stored.

usage: netapi_test.py --build BUILD --mode sim [--firecracker SIM] [-v] [TestName ...]

Nothing here starts a microVM: the suite runs against the Firecracker
simulator's node (lifecycle_test.py's harness), without Firecracker or KVM.
"""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lifecycle_test as L  # noqa: E402
import clones_test as CL  # noqa: E402


def node():
    if L.NODE is None:
        L.NODE = L.Node()
    return L.NODE


def code_of(call):
    """(code, details) call() fails with, or (None, None)."""
    try:
        call()
    except Exception as e:  # grpc.RpcError
        if not hasattr(e, "code"):
            raise
        return e.code(), e.details()
    return None, None


def fwd(proto, host, inst):
    return L.I.PortForward(protocol=L.I.PortProtocol.Value("PORT_PROTOCOL_" + proto),
                           host_port=host, instance_port=inst)


def everything(n):
    """Every tenant, pool and instance as stored, serialized: equal before
    and after a call that must change nothing."""
    c = n.c
    ts = c.tenants.ListTenants(L.T.ListTenantsRequest(page_size=1000)).tenants
    ps = c.pools.ListPools(L.P.ListPoolsRequest(page_size=1000)).pools
    ins = c.instances.ListInstances(L.I.ListInstancesRequest(page_size=1000)).instances
    # computed on read: usage of the disk, the reconcile status
    out = []
    for i in ins:
        i.ClearField("disk_bytes")
        out.append(i.SerializeToString(deterministic=True))
    for p in ps:
        p.ClearField("status")
        out.append(p.SerializeToString(deterministic=True))
    out += [t.SerializeToString(deterministic=True) for t in ts]
    return out


class NetApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.n = node()

    def refused(self, code, call, *needles):
        """call() fails with code, a message holding needles, and changes
        nothing."""
        before = everything(self.n)
        got, details = code_of(call)
        self.assertEqual(got, code, details)
        for s in needles:
            self.assertIn(s, details)
        self.assertEqual(everything(self.n), before, "a refused call changed something")

    # -- tenants -------------------------------------------------------------
    def test_egress(self):
        c = self.n.c
        self.n.n += 1
        k = self.n.n
        name = "t%d" % k

        def create(cidrs):
            return lambda: c.tenants.CreateTenant(L.T.CreateTenantRequest(tenant=L.T.Tenant(
                name=name, net_id=k, subnet="10.240.%d.0/24" % k, egress_cidrs=cidrs)))

        for bad, says in (("203.0.113.1/24", "host bits"), ("10.0.0.0/33", "0-32"),
                          ("10.0.0.0", "canonical"), ("010.0.0.0/8", "canonical"),
                          ("", "empty")):
            self.refused(L.C.INVALID_ARGUMENT, create(["192.0.2.0/24", bad]), says,
                         "egress_cidrs[1]")
        self.refused(L.C.INVALID_ARGUMENT, create(["192.0.2.0/24", "192.0.2.0/24"]),
                     "appears twice")
        self.refused(L.C.INVALID_ARGUMENT, create(["192.0.%d.0/24" % i for i in range(65)]),
                     "at most 64")
        t = create(["203.0.113.0/24", "198.51.100.7/32"])()
        self.assertEqual(list(t.egress_cidrs), ["203.0.113.0/24", "198.51.100.7/32"])
        got = c.tenants.GetTenant(L.T.GetTenantRequest(name=name))
        self.assertEqual(list(got.egress_cidrs), ["203.0.113.0/24", "198.51.100.7/32"])

        def update(cidrs, *paths, version=0):
            return lambda: c.tenants.UpdateTenant(L.T.UpdateTenantRequest(
                tenant=L.T.Tenant(name=name, egress_cidrs=cidrs, resource_version=version),
                update_mask=CL.mask(*paths)))

        self.refused(L.C.INVALID_ARGUMENT, update(["192.0.2.1/24"], "egress_cidrs"),
                     "host bits")
        self.refused(L.C.INVALID_ARGUMENT, update(["192.0.2.1/24"]), "host bits")
        self.refused(L.C.ABORTED, update(["192.0.2.0/24"], "egress_cidrs",
                                         version=got.resource_version - 1))
        u = update(["192.0.2.0/24"])()
        self.assertEqual(list(u.egress_cidrs), ["192.0.2.0/24"])
        u = update([], "egress_cidrs")()  # the path with none: egress open
        self.assertEqual(list(u.egress_cidrs), [])

    # -- pools ---------------------------------------------------------------
    def test_network_limits(self):
        n = self.n
        t = n.tenant_pool()
        c = n.c

        def create(name, **lim):
            return lambda: c.pools.CreatePool(L.P.CreatePoolRequest(pool=L.P.Pool(
                tenant=t, name=name, vcpus=1, mem_mib=128, kernel_image=n.kernel,
                rootfs_image=n.rootfs, network_limits=L.P.NetworkLimits(**lim))))

        for f in ("rx_bytes_per_second", "tx_bytes_per_second", "rx_packets_per_second",
                  "tx_packets_per_second"):
            self.refused(L.C.INVALID_ARGUMENT, create("lim", **{f: 10**12 + 1}), f)
        p = create("lim", rx_bytes_per_second=10**12, tx_packets_per_second=5000)()
        self.assertEqual(p.network_limits.rx_bytes_per_second, 10**12)
        self.assertEqual(p.network_limits.tx_packets_per_second, 5000)

        def update(path, **lim):
            return lambda: c.pools.UpdatePool(L.P.UpdatePoolRequest(
                pool=L.P.Pool(tenant=t, name="lim", network_limits=L.P.NetworkLimits(**lim)),
                update_mask=CL.mask(path)))

        self.refused(L.C.INVALID_ARGUMENT,
                     update("network_limits.rx_packets_per_second",
                            rx_packets_per_second=2**64 - 1), "rx_packets_per_second")
        u = update("network_limits.tx_bytes_per_second", tx_bytes_per_second=777)()
        self.assertEqual((u.network_limits.rx_bytes_per_second,
                          u.network_limits.tx_bytes_per_second,
                          u.network_limits.tx_packets_per_second), (10**12, 777, 5000))
        got = c.pools.GetPool(L.P.GetPoolRequest(tenant=t, name="lim"))
        self.assertEqual(got.network_limits.tx_bytes_per_second, 777)

    # -- instances -----------------------------------------------------------
    def test_port_forwards(self):
        n = self.n
        t1, t2 = n.tenant_pool(), n.tenant_pool()
        c = n.c

        def create(t, *f):
            return lambda: c.instances.CreateInstance(
                L.I.CreateInstanceRequest(tenant=t, pool="web", port_forwards=list(f)))

        def setf(t, iid, *f, version=0):
            return lambda: c.instances.SetPortForwards(L.I.SetPortForwardsRequest(
                tenant=t, id=iid, port_forwards=list(f), resource_version=version))

        bad = ((L.I.PortForward(protocol=0, host_port=1, instance_port=1), "not TCP or UDP"),
               (fwd("TCP", 0, 80), "host_port 0"), (fwd("TCP", 65536, 80), "host_port 65536"),
               (fwd("UDP", 53, 0), "instance_port 0"),
               (fwd("UDP", 53, 70000), "instance_port 70000"))
        for f, says in bad:
            self.refused(L.C.INVALID_ARGUMENT, create(t1, fwd("TCP", 9100, 80), f), says,
                         "port_forwards[1]")
        self.refused(L.C.INVALID_ARGUMENT,
                     create(t1, fwd("TCP", 9200, 80), fwd("TCP", 9200, 81)), "given twice")
        self.refused(L.C.INVALID_ARGUMENT,
                     create(t1, *[fwd("TCP", 20000 + i, 80) for i in range(33)]), "at most 32")

        a = create(t1, fwd("TCP", 18080, 80), fwd("UDP", 18080, 53))()
        self.assertEqual([(x.protocol, x.host_port, x.instance_port) for x in a.port_forwards],
                         [(1, 18080, 80), (2, 18080, 53)])
        self.assertEqual(a.tap, "tap0")
        got = n.get(t1, a.id)
        self.assertEqual(len(got.port_forwards), 2)

        # the port is the node's: another instance, of any tenant, is refused
        self.refused(L.C.ALREADY_EXISTS, create(t2, fwd("TCP", 18080, 8080)), a.id,
                     "tcp host port 18080")
        b = create(t2, fwd("TCP", 18081, 80))()
        self.refused(L.C.ALREADY_EXISTS, setf(t2, b.id, fwd("UDP", 18080, 1)), a.id)
        for bad_f, says in bad:
            self.refused(L.C.INVALID_ARGUMENT, setf(t2, b.id, bad_f), says)
        self.refused(L.C.NOT_FOUND, setf(t2, "i-0000000000000000", fwd("TCP", 1, 1)))
        self.refused(L.C.NOT_FOUND, setf(t1, b.id, fwd("TCP", 1, 1)))
        self.refused(L.C.INVALID_ARGUMENT, setf(t2, "nope", fwd("TCP", 1, 1)))
        self.refused(L.C.ABORTED, setf(t2, b.id, fwd("TCP", 1, 1),
                                       version=b.resource_version - 1))

        # replacing a's list frees its old ports; deleting b frees b's
        a2 = setf(t1, a.id, fwd("TCP", 18082, 80), version=got.resource_version)()
        self.assertEqual([x.host_port for x in a2.port_forwards], [18082])
        self.assertGreater(a2.resource_version, got.resource_version)
        b2 = setf(t2, b.id, fwd("TCP", 18080, 80), fwd("TCP", 18081, 81))()
        self.assertEqual(len(b2.port_forwards), 2)
        self.refused(L.C.ALREADY_EXISTS, setf(t1, a.id, fwd("TCP", 18081, 1)), b.id)
        n.delete(t2, b.id)
        a3 = setf(t1, a.id, fwd("TCP", 18081, 1))()
        self.assertEqual([x.host_port for x in a3.port_forwards], [18081])
        a4 = setf(t1, a.id)()  # none
        self.assertEqual(len(a4.port_forwards), 0)
        n.delete(t1, a.id)

    # -- Apply ---------------------------------------------------------------
    def test_apply_carries_network_settings(self):
        n = self.n
        c = n.c
        n.n += 1
        k = n.n
        name = "t%d" % k
        gen = [c.node.GetStatus(L.N.GetStatusRequest()).applied_generation]

        def apply(cidrs, **lim):
            gen[0] += 1
            return c.node.Apply(L.N.ApplyRequest(
                generation=gen[0],
                tenants=[L.T.Tenant(name=name, net_id=k, subnet="10.240.%d.0/24" % k,
                                    egress_cidrs=cidrs)],
                pools=[L.P.Pool(tenant=name, name="web", vcpus=1, mem_mib=128,
                                kernel_image=n.kernel, rootfs_image=n.rootfs,
                                network_limits=L.P.NetworkLimits(**lim))]))

        r = apply(["203.0.113.0/24"], rx_bytes_per_second=1000)
        self.assertEqual([L.N.ApplyAction.Name(x.action) for x in r.changes],
                         ["APPLY_ACTION_CREATED"] * 2)
        r = apply(["203.0.113.0/24", "192.0.2.0/24"], rx_bytes_per_second=2000)
        self.assertEqual([list(x.fields) for x in r.changes],
                         [["egress_cidrs"], ["network_limits.rx_bytes_per_second"]])
        self.assertEqual(list(c.tenants.GetTenant(L.T.GetTenantRequest(name=name)).egress_cidrs),
                         ["203.0.113.0/24", "192.0.2.0/24"])
        gen[0] += 1
        self.refused(L.C.INVALID_ARGUMENT, lambda: c.node.Apply(L.N.ApplyRequest(
            generation=gen[0],
            tenants=[L.T.Tenant(name=name, net_id=k, subnet="10.240.%d.0/24" % k,
                                egress_cidrs=["192.0.2.1/24"])])), "host bits")

    # -- mvm-cli shows it ----------------------------------------------------
    def test_cli_shows(self):
        n = self.n
        t = n.tenant_pool()
        cli = os.path.join(L.ARGS.build, "cli", "mvm-cli")

        def run(*args):
            p = subprocess.run([cli, "--endpoint", "unix://" + n.d.unix_path]
                               + list(args), capture_output=True, text=True, timeout=L.WAIT)
            return p.returncode, p.stdout, p.stderr

        rc, out, err = run("instance", "create", "--tenant", t, "--pool", "web",
                           "--forward", "tcp:18090:80", "--forward", "udp:18091:53", "-ojson")
        self.assertEqual(rc, 0, err)
        inst = json.loads(out)
        self.assertEqual(inst["portForwards"],
                         [{"protocol": "PORT_PROTOCOL_TCP", "hostPort": 18090, "instancePort": 80},
                          {"protocol": "PORT_PROTOCOL_UDP", "hostPort": 18091, "instancePort": 53}])
        rc, out, err = run("instance", "get", inst["id"])
        self.assertEqual(rc, 0, err)
        self.assertIn("tcp:18090:80,udp:18091:53", out)
        rc, out, err = run("instance", "forward", inst["id"], "--tenant", t,
                           "--forward", "tcp:18092:8080", "-ojson")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(json.loads(out)["portForwards"]), 1)
        # a port another instance holds: exit 6 (ALREADY_EXISTS), nothing changed
        rc, out, err = run("instance", "create", "--tenant", t, "--pool", "web",
                           "--forward", "tcp:18092:80")
        self.assertEqual(rc, 6, err)
        self.assertIn(inst["id"], err)
        rc, out, err = run("instance", "forward", inst["id"], "--tenant", t, "--forward", "none")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(n.get(t, inst["id"]).port_forwards), 0)
        rc, out, err = run("tenant", "update", t, "--egress", "192.0.2.0/24")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("tenant", "get", t)
        self.assertIn("192.0.2.0/24", out)
        rc, out, err = run("tenant", "update", t, "--egress", "none")
        self.assertEqual(rc, 0, err)
        self.assertEqual(list(n.c.tenants.GetTenant(L.T.GetTenantRequest(name=t)).egress_cidrs),
                         [])
        rc, out, err = run("tenant", "update", t, "--egress", "192.0.2.1/24")
        self.assertEqual(rc, 3, err)  # INVALID_ARGUMENT
        rc, out, err = run("pool", "update", "web", "--tenant", t, "--rx-bps", "1000",
                           "--tx-pps", "7")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("pool", "get", "web", "--tenant", t)
        self.assertIn("rx-bps=1000,tx-pps=7", out)
        n.delete(t, inst["id"])


def main():
    rest, status = L.setup("netapi")
    if status is not None:
        return status
    return L.run(rest)


if __name__ == "__main__":
    sys.exit(main())
