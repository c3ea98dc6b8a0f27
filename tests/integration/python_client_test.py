#!/usr/bin/python3
"""python_client_test.py - the Python gRPC client against a real mvmd.

Starts mvmd with tests/integration/harness.py (build dir from $MVM_BUILD_DIR,
default build/) and drives every mvm.v1 service over mTLS with the stubs
generated into BUILD/clients/python/gen, plus gRPC health and reflection,
deadlines, refused client certificates and the Unix socket endpoint.
Run: MVM_BUILD_DIR=build python3 tests/integration/python_client_test.py -v
"""
import itertools
import os
import queue
import re
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("MVM_BUILD_DIR", os.path.join(REPO, "build")))
os.environ.setdefault("MVM_PY_GEN", os.path.join(BUILD, "clients", "python", "gen"))
sys.path[:0] = [HERE, os.path.join(REPO, "clients", "python")]

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, field_mask_pb2  # noqa: E402
from harness import Mvmd  # noqa: E402
from mvmclient import Client, pb, tls_channel, unix_channel  # noqa: E402

T, P, I, H = pb.tenant, pb.pool, pb.instance, pb.health
C = grpc.StatusCode
WAIT = 20  # seconds any single call or event may take before the test fails

MVMD = None
_seq = itertools.count(1)


def setUpModule():
    global MVMD
    MVMD = Mvmd(BUILD).__enter__()


def tearDownModule():
    rc = MVMD.stop()
    log = MVMD.log_tail()
    MVMD.close()
    if rc != 0:
        raise AssertionError("mvmd exited %s on SIGTERM; log:\n%s" % (rc, log))


def connect(cert="client.pem", key="client.key", ca="ca.pem", addr=None):
    d = MVMD
    return Client(tls_channel(addr or d.tls_addr, d.cert(ca),
                              d.cert(cert) if cert else None, d.cert(key) if key else None))


def tenant_msg(prefix, **kw):
    """A valid new tenant with a name, net_id and subnet no other test uses."""
    n = next(_seq)
    kw.setdefault("name", "%s-%d" % (prefix, n))
    kw.setdefault("net_id", 100 + n)
    kw.setdefault("subnet", "10.%d.%d.0/24" % (240 + (100 + n) // 256, (100 + n) % 256))
    return T.Tenant(**kw)


def pool_msg(tenant, name, **kw):
    kw.setdefault("vcpus", 1)
    kw.setdefault("mem_mib", 256)
    kw.setdefault("kernel_image", "/var/lib/mvm/images/vmlinux")
    kw.setdefault("rootfs_image", "/var/lib/mvm/images/rootfs.ext4")
    return P.Pool(tenant=tenant, name=name, **kw)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = connect()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def assertCode(self, code, fn, *args, **kw):
        kw.setdefault("timeout", WAIT)
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        self.assertTrue(cm.exception.details(), "error without a message")
        return cm.exception

    def new_tenant(self, prefix="t", **kw):
        t = self.c.tenants.CreateTenant(T.CreateTenantRequest(tenant=tenant_msg(prefix, **kw)),
                                        timeout=WAIT)
        self.addCleanup(self._drop_tenant, t.name)
        return t

    def new_pool(self, tenant, name="p", **kw):
        p = self.c.pools.CreatePool(P.CreatePoolRequest(pool=pool_msg(tenant, name, **kw)),
                                    timeout=WAIT)
        return p

    def _drop_tenant(self, name):
        """Cleanup: deletes the tenant's instances, pools and itself."""
        c = self.c
        for i in c.instances.ListInstances(I.ListInstancesRequest(tenant=name, page_size=1000),
                                           timeout=WAIT).instances:
            c.instances.DeleteInstance(I.DeleteInstanceRequest(tenant=name, id=i.id), timeout=WAIT)
        for p in c.pools.ListPools(P.ListPoolsRequest(tenant=name, page_size=1000),
                                   timeout=WAIT).pools:
            c.pools.DeletePool(P.DeletePoolRequest(tenant=name, name=p.name), timeout=WAIT)
        try:
            c.tenants.DeleteTenant(T.DeleteTenantRequest(name=name), timeout=WAIT)
        except grpc.RpcError as e:
            if e.code() != C.NOT_FOUND:
                raise


class TenantTest(Base):
    def test_create_get_delete(self):
        want = tenant_msg("crud", quota=T.TenantQuota(max_instances=3, max_pools=2),
                          labels={"team": "a"})
        got = self.c.tenants.CreateTenant(T.CreateTenantRequest(tenant=want), timeout=WAIT)
        self.addCleanup(self._drop_tenant, want.name)
        self.assertEqual((got.name, got.net_id, got.subnet), (want.name, want.net_id, want.subnet))
        self.assertEqual(got.quota, want.quota)
        self.assertEqual(dict(got.labels), {"team": "a"})
        self.assertGreater(got.resource_version, 0)
        self.assertGreater(got.create_time.seconds, 0)
        again = self.c.tenants.GetTenant(T.GetTenantRequest(name=want.name), timeout=WAIT)
        self.assertEqual(again.resource_version, got.resource_version)
        self.assertEqual(again.subnet, want.subnet)
        self.c.tenants.DeleteTenant(T.DeleteTenantRequest(name=want.name), timeout=WAIT)
        self.assertCode(C.NOT_FOUND, self.c.tenants.GetTenant, T.GetTenantRequest(name=want.name))
        self.assertCode(C.NOT_FOUND, self.c.tenants.DeleteTenant,
                        T.DeleteTenantRequest(name=want.name))

    def test_already_exists(self):
        t = self.new_tenant("dup")
        other = tenant_msg("dup")
        for clash in (dict(name=t.name), dict(net_id=t.net_id), dict(subnet=t.subnet)):
            m = T.Tenant()
            m.CopyFrom(other)
            for k, v in clash.items():
                setattr(m, k, v)
            with self.subTest(clash=list(clash)):
                self.assertCode(C.ALREADY_EXISTS, self.c.tenants.CreateTenant,
                                T.CreateTenantRequest(tenant=m))
        self.assertCode(C.NOT_FOUND, self.c.tenants.GetTenant, T.GetTenantRequest(name=other.name))

    def test_invalid_argument(self):
        bad = [dict(name="Bad_Name"), dict(name=""), dict(name="x" * 64),
               dict(subnet="192.168.1.0/24"), dict(subnet="10.240.1.0/16"),
               dict(subnet="not-a-cidr"), dict(net_id=4096)]
        for b in bad:
            with self.subTest(**b):
                self.assertCode(C.INVALID_ARGUMENT, self.c.tenants.CreateTenant,
                                T.CreateTenantRequest(tenant=tenant_msg("inv", **b)))

    def test_list_paging_and_label_selector(self):
        suite = "s%d" % next(_seq)
        names = []
        for i in range(5):
            labels = {"suite": suite}
            if i % 2 == 0:
                labels["tier"] = "gold"
            names.append(self.new_tenant("list", labels=labels).name)

        def collect(selector, size):
            out, token, pages = [], "", 0
            while True:
                r = self.c.tenants.ListTenants(T.ListTenantsRequest(
                    page_size=size, page_token=token, label_selector=selector), timeout=WAIT)
                self.assertLessEqual(len(r.tenants), size)
                out += [t.name for t in r.tenants]
                pages += 1
                token = r.next_page_token
                if not token:
                    return out, pages
                self.assertLess(pages, 100, "paging does not end")

        got, pages = collect("suite=" + suite, 2)
        self.assertEqual(got, sorted(names))
        self.assertEqual(pages, 3)
        gold = sorted(n for i, n in enumerate(names) if i % 2 == 0)
        plain = sorted(n for i, n in enumerate(names) if i % 2 == 1)
        self.assertEqual(collect("suite=%s,tier=gold" % suite, 100)[0], gold)
        self.assertEqual(collect("suite=%s,!tier" % suite, 100)[0], plain)
        self.assertEqual(collect("suite=%s,tier!=gold" % suite, 100)[0], plain)
        self.assertEqual(collect("suite=%s,tier" % suite, 100)[0], gold)
        self.assertEqual(collect("suite=%s-none" % suite, 100)[0], [])
        self.assertCode(C.INVALID_ARGUMENT, self.c.tenants.ListTenants,
                        T.ListTenantsRequest(page_token="not-a-token"))

    def test_update_mask_and_resource_version(self):
        t = self.new_tenant("upd", quota=T.TenantQuota(max_instances=1, max_pools=1),
                            labels={"a": "1"})
        upd = T.Tenant(name=t.name, quota=T.TenantQuota(max_instances=7, max_pools=9),
                       labels={"b": "2"})
        u1 = self.c.tenants.UpdateTenant(T.UpdateTenantRequest(
            tenant=upd, update_mask=field_mask_pb2.FieldMask(paths=["labels"])), timeout=WAIT)
        self.assertEqual(dict(u1.labels), {"b": "2"})
        self.assertEqual(u1.quota.max_instances, 1, "quota changed though not in the mask")
        self.assertGreater(u1.resource_version, t.resource_version)
        u2 = self.c.tenants.UpdateTenant(T.UpdateTenantRequest(
            tenant=upd, update_mask=field_mask_pb2.FieldMask(paths=["quota.max_instances"])),
            timeout=WAIT)
        self.assertEqual((u2.quota.max_instances, u2.quota.max_pools), (7, 1))
        # conditional update with the current version succeeds, a stale one aborts
        upd.resource_version = u2.resource_version
        upd.labels["c"] = "3"
        u3 = self.c.tenants.UpdateTenant(T.UpdateTenantRequest(
            tenant=upd, update_mask=field_mask_pb2.FieldMask(paths=["labels"])), timeout=WAIT)
        self.assertEqual(dict(u3.labels), {"b": "2", "c": "3"})
        upd.resource_version = u2.resource_version
        upd.labels["d"] = "4"
        self.assertCode(C.ABORTED, self.c.tenants.UpdateTenant, T.UpdateTenantRequest(
            tenant=upd, update_mask=field_mask_pb2.FieldMask(paths=["labels"])))
        now = self.c.tenants.GetTenant(T.GetTenantRequest(name=t.name), timeout=WAIT)
        self.assertEqual(dict(now.labels), {"b": "2", "c": "3"})
        self.assertEqual(now.resource_version, u3.resource_version)
        self.assertCode(C.NOT_FOUND, self.c.tenants.UpdateTenant, T.UpdateTenantRequest(
            tenant=T.Tenant(name="no-such-tenant")))


class PoolTest(Base):
    def test_pool_crud_and_codes(self):
        t = self.new_tenant("pool", quota=T.TenantQuota(max_pools=2))
        self.assertCode(C.NOT_FOUND, self.c.pools.CreatePool,
                        P.CreatePoolRequest(pool=pool_msg("no-such-tenant", "p")))
        for bad in (dict(vcpus=0), dict(vcpus=33), dict(mem_mib=64), dict(kernel_image=""),
                    dict(name="Bad_Pool")):
            with self.subTest(**bad):
                name = bad.pop("name", "bad")
                self.assertCode(C.INVALID_ARGUMENT, self.c.pools.CreatePool,
                                P.CreatePoolRequest(pool=pool_msg(t.name, name, **bad)))
        a = self.new_pool(t.name, "a", labels={"kind": "web"}, boot_args="console=ttyS0")
        self.assertEqual((a.tenant, a.name, a.vcpus, a.mem_mib), (t.name, "a", 1, 256))
        self.assertGreater(a.resource_version, 0)
        self.assertCode(C.ALREADY_EXISTS, self.c.pools.CreatePool,
                        P.CreatePoolRequest(pool=pool_msg(t.name, "a")))
        self.new_pool(t.name, "b")
        self.assertCode(C.RESOURCE_EXHAUSTED, self.c.pools.CreatePool,
                        P.CreatePoolRequest(pool=pool_msg(t.name, "c")))
        got = self.c.pools.GetPool(P.GetPoolRequest(tenant=t.name, name="a"), timeout=WAIT)
        self.assertEqual(got.boot_args, "console=ttyS0")
        self.assertCode(C.NOT_FOUND, self.c.pools.GetPool, P.GetPoolRequest(tenant=t.name, name="zz"))

        r1 = self.c.pools.ListPools(P.ListPoolsRequest(tenant=t.name, page_size=1), timeout=WAIT)
        self.assertEqual([p.name for p in r1.pools], ["a"])
        self.assertTrue(r1.next_page_token)
        r2 = self.c.pools.ListPools(P.ListPoolsRequest(tenant=t.name, page_size=1,
                                                       page_token=r1.next_page_token), timeout=WAIT)
        self.assertEqual([p.name for p in r2.pools], ["b"])
        self.assertEqual(r2.next_page_token, "")
        sel = self.c.pools.ListPools(P.ListPoolsRequest(tenant=t.name, label_selector="kind=web"),
                                     timeout=WAIT)
        self.assertEqual([p.name for p in sel.pools], ["a"])

        upd = pool_msg(t.name, "a", desired_instances=3, vcpus=2)
        u = self.c.pools.UpdatePool(P.UpdatePoolRequest(
            pool=upd, update_mask=field_mask_pb2.FieldMask(paths=["desired_instances"])),
            timeout=WAIT)
        self.assertEqual((u.desired_instances, u.vcpus), (3, 1))
        self.assertGreater(u.resource_version, a.resource_version)
        upd.resource_version = a.resource_version
        self.assertCode(C.ABORTED, self.c.pools.UpdatePool, P.UpdatePoolRequest(
            pool=upd, update_mask=field_mask_pb2.FieldMask(paths=["vcpus"])))

        self.assertCode(C.FAILED_PRECONDITION, self.c.tenants.DeleteTenant,
                        T.DeleteTenantRequest(name=t.name))
        for n in ("a", "b"):
            self.c.pools.DeletePool(P.DeletePoolRequest(tenant=t.name, name=n), timeout=WAIT)
        self.assertCode(C.NOT_FOUND, self.c.pools.DeletePool, P.DeletePoolRequest(tenant=t.name, name="a"))
        self.c.tenants.DeleteTenant(T.DeleteTenantRequest(name=t.name), timeout=WAIT)


class InstanceTest(Base):
    def test_instance_create_list_delete(self):
        t = self.new_tenant("inst", quota=T.TenantQuota(max_instances=2))
        self.new_pool(t.name, "web", vcpus=2, mem_mib=512)
        self.assertCode(C.NOT_FOUND, self.c.instances.CreateInstance,
                        I.CreateInstanceRequest(tenant=t.name, pool="nope"))
        made = [self.c.instances.CreateInstance(I.CreateInstanceRequest(
            tenant=t.name, pool="web", labels={"n": str(k)}), timeout=WAIT) for k in range(2)]
        net = t.subnet.rsplit(".", 1)[0] + "."
        for i in made:
            self.assertRegex(i.id, r"^i-[0-9a-f]{16}$")
            self.assertEqual(i.state, I.INSTANCE_STATE_CREATED)
            self.assertEqual((i.vcpus, i.mem_mib), (2, 512))
            self.assertTrue(i.ip.startswith(net), i.ip)
            octets = [int(x) for x in i.ip.split(".")]
            self.assertEqual(i.mac, "06:00:" + ":".join("%02x" % o for o in octets))
            self.assertTrue(i.tap)
        self.assertEqual(len({i.ip for i in made}), 2, "two instances share an address")
        self.assertCode(C.RESOURCE_EXHAUSTED, self.c.instances.CreateInstance,
                        I.CreateInstanceRequest(tenant=t.name, pool="web"))

        got = self.c.instances.GetInstance(I.GetInstanceRequest(tenant=t.name, id=made[0].id),
                                           timeout=WAIT)
        self.assertEqual(got.ip, made[0].ip)
        listed = self.c.instances.ListInstances(I.ListInstancesRequest(tenant=t.name),
                                                timeout=WAIT).instances
        self.assertEqual(sorted(i.id for i in listed), sorted(i.id for i in made))
        usage = self.c.tenants.GetTenant(T.GetTenantRequest(name=t.name), timeout=WAIT).usage
        self.assertEqual((usage.instances, usage.vcpus, usage.mem_mib), (2, 4, 1024))

        self.assertCode(C.FAILED_PRECONDITION, self.c.pools.DeletePool,
                        P.DeletePoolRequest(tenant=t.name, name="web"))
        self.c.instances.DeleteInstance(I.DeleteInstanceRequest(tenant=t.name, id=made[0].id),
                                        timeout=WAIT)
        self.assertCode(C.NOT_FOUND, self.c.instances.GetInstance,
                        I.GetInstanceRequest(tenant=t.name, id=made[0].id))
        self.assertCode(C.NOT_FOUND, self.c.instances.DeleteInstance,
                        I.DeleteInstanceRequest(tenant=t.name, id=made[0].id))
        # freed quota can be used again
        self.c.instances.CreateInstance(I.CreateInstanceRequest(tenant=t.name, pool="web"),
                                        timeout=WAIT)

    def test_lifecycle_without_driver(self):
        t = self.new_tenant("life")
        self.new_pool(t.name, "p")
        i = self.c.instances.CreateInstance(I.CreateInstanceRequest(tenant=t.name, pool="p"),
                                            timeout=WAIT)
        self.assertCode(C.UNIMPLEMENTED, self.c.instances.StartInstance,
                        I.StartInstanceRequest(tenant=t.name, id=i.id))
        # transitions CREATED does not allow are refused by the state machine
        for method in ("StopInstance", "SleepInstance", "WakeInstance"):
            with self.subTest(method=method):
                req = getattr(I, method + "Request")(tenant=t.name, id=i.id)
                self.assertCode(C.FAILED_PRECONDITION, getattr(self.c.instances, method), req)
        after = self.c.instances.GetInstance(I.GetInstanceRequest(tenant=t.name, id=i.id),
                                             timeout=WAIT)
        self.assertEqual(after.state, I.INSTANCE_STATE_CREATED)
        self.assertCode(C.NOT_FOUND, self.c.instances.StartInstance,
                        I.StartInstanceRequest(tenant=t.name, id="i-0000000000000000"))


class WatchTest(Base):
    def _watch(self, req, timeout=60):
        """Starts a watch; returns (call, queue of events or the final error)."""
        call = self.c.instances.WatchInstances(req, timeout=timeout)
        q = queue.Queue()

        def pump():
            try:
                for ev in call:
                    q.put(ev)
            except grpc.RpcError as e:
                q.put(e)
        th = threading.Thread(target=pump, daemon=True)
        th.start()
        self.addCleanup(th.join, WAIT)
        self.addCleanup(call.cancel)
        return call, q

    def _next(self, q):
        item = q.get(timeout=WAIT)
        if isinstance(item, grpc.RpcError):
            self.fail("watch ended early: %s %s" % (item.code(), item.details()))
        return item

    def test_events_for_create_and_delete_then_cancel(self):
        t = self.new_tenant("watch")
        self.new_pool(t.name, "a")
        self.new_pool(t.name, "b")
        first = self.c.instances.CreateInstance(I.CreateInstanceRequest(tenant=t.name, pool="a"),
                                                timeout=WAIT)
        call, q = self._watch(I.WatchInstancesRequest(tenant=t.name, pool="a", send_initial=True))
        ev = self._next(q)  # the initial ADDED proves the stream is established
        self.assertEqual((ev.type, ev.instance.id), (I.InstanceEvent.ADDED, first.id))
        # an instance in pool b must not show up in a watch on pool a
        self.c.instances.CreateInstance(I.CreateInstanceRequest(tenant=t.name, pool="b"),
                                        timeout=WAIT)
        second = self.c.instances.CreateInstance(I.CreateInstanceRequest(tenant=t.name, pool="a"),
                                                 timeout=WAIT)
        ev = self._next(q)
        self.assertEqual((ev.type, ev.instance.id), (I.InstanceEvent.ADDED, second.id))
        self.assertEqual(ev.instance.pool, "a")
        self.c.instances.DeleteInstance(I.DeleteInstanceRequest(tenant=t.name, id=first.id),
                                        timeout=WAIT)
        ev = self._next(q)
        while ev.type == I.InstanceEvent.MODIFIED and ev.instance.id == first.id:
            ev = self._next(q)  # a DESTROYED transition may precede the deletion
        self.assertEqual((ev.type, ev.instance.id), (I.InstanceEvent.DELETED, first.id))
        call.cancel()
        end = q.get(timeout=WAIT)
        self.assertIsInstance(end, grpc.RpcError)
        self.assertEqual(end.code(), C.CANCELLED)

    def test_deadline_ends_watch(self):
        call, q = self._watch(I.WatchInstancesRequest(tenant="no-events-here"), timeout=0.5)
        end = q.get(timeout=WAIT)
        self.assertIsInstance(end, grpc.RpcError, "a watch with no changes sent an event")
        self.assertEqual(end.code(), C.DEADLINE_EXCEEDED)


class HealthTest(Base):
    SERVICES = ["mvm.v1.TenantService", "mvm.v1.PoolService", "mvm.v1.InstanceService",
                "mvm.v1.NodeService"]

    def test_check(self):
        for svc in [""] + self.SERVICES:
            with self.subTest(service=svc):
                r = self.c.health.Check(H.HealthCheckRequest(service=svc), timeout=WAIT)
                self.assertEqual(r.status, H.HealthCheckResponse.SERVING)
        self.assertCode(C.NOT_FOUND, self.c.health.Check, H.HealthCheckRequest(service="no.Such"))

    def test_watch(self):
        call = self.c.health.Watch(H.HealthCheckRequest(service=""), timeout=WAIT)
        self.assertEqual(next(call).status, H.HealthCheckResponse.SERVING)
        call.cancel()
        with self.assertRaises(grpc.RpcError) as cm:
            next(call)
        self.assertEqual(cm.exception.code(), C.CANCELLED)
        call = self.c.health.Watch(H.HealthCheckRequest(service="no.Such"), timeout=WAIT)
        self.assertEqual(next(call).status, H.HealthCheckResponse.SERVICE_UNKNOWN)
        call.cancel()


class ReflectionTest(Base):
    def _ask(self, version, **req):
        mod = getattr(pb, "reflection_" + version)
        stub = getattr(self.c, "reflection_" + version)
        resps = list(stub.ServerReflectionInfo(iter([mod.ServerReflectionRequest(**req)]),
                                               timeout=WAIT))
        self.assertEqual(len(resps), 1)
        return resps[0]

    def _files(self, resp):
        self.assertEqual(resp.WhichOneof("message_response"), "file_descriptor_response",
                         str(resp))
        out = {}
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
            out[fd.name] = fd
        return out

    def _pool(self, files):
        """Loads the files into a fresh descriptor pool, dependencies first;
        fails if one is missing."""
        pool, done = descriptor_pool.DescriptorPool(), set()

        def add(name):
            if name in done:
                return
            self.assertIn(name, files, "dependency not sent")
            for dep in files[name].dependency:
                add(dep)
            pool.Add(files[name])
            done.add(name)
        for name in files:
            add(name)
        return pool

    def test_reflection(self):
        for v in ("v1", "v1alpha"):
            with self.subTest(version=v):
                self._check_version(v)

    def _check_version(self, v):
        r = self._ask(v, list_services="*")
        names = {s.name for s in r.list_services_response.service}
        for want in HealthTest.SERVICES + ["grpc.health.v1.Health",
                                          "grpc.reflection.v1.ServerReflection",
                                          "grpc.reflection.v1alpha.ServerReflection"]:
            self.assertIn(want, names)

        files = self._files(self._ask(v, file_containing_symbol="mvm.v1.TenantService"))
        self.assertIn("mvm/v1/tenant.proto", files)
        pool = self._pool(files)
        svc = pool.FindServiceByName("mvm.v1.TenantService")
        self.assertEqual(svc.FindMethodByName("GetTenant").input_type.full_name,
                         "mvm.v1.GetTenantRequest")
        ts = pool.FindMessageTypeByName("mvm.v1.Tenant").fields_by_name["create_time"]
        self.assertEqual(ts.message_type.full_name, "google.protobuf.Timestamp")

        files = self._files(self._ask(v, file_containing_symbol="mvm.v1.Pool"))
        self.assertIn("mvm/v1/pool.proto", files)

        files = self._files(self._ask(v, file_by_filename="mvm/v1/instance.proto"))
        fd = files["mvm/v1/instance.proto"]
        methods = {m.name: m for s in fd.service for m in s.method}
        self.assertTrue(methods["WatchInstances"].server_streaming)
        self.assertFalse(methods["GetInstance"].server_streaming)
        self._pool(files)

        for bad in (dict(file_containing_symbol="mvm.v1.NoSuchThing"),
                    dict(file_by_filename="mvm/v1/none.proto")):
            r = self._ask(v, **bad)
            self.assertEqual(r.WhichOneof("message_response"), "error_response")
            self.assertEqual(r.error_response.error_code, C.NOT_FOUND.value[0])

    def test_many_requests_on_one_stream(self):
        R = pb.reflection_v1
        reqs = [R.ServerReflectionRequest(list_services=""),
                R.ServerReflectionRequest(file_containing_symbol="mvm.v1.NodeService"),
                R.ServerReflectionRequest(file_by_filename="mvm/v1/pool.proto")]
        resps = list(self.c.reflection_v1.ServerReflectionInfo(iter(reqs), timeout=WAIT))
        self.assertEqual([r.WhichOneof("message_response") for r in resps],
                         ["list_services_response", "file_descriptor_response",
                          "file_descriptor_response"])
        self.assertEqual(resps[1].original_request, reqs[1])


class TransportTest(Base):
    def test_unknown_method_is_unimplemented(self):
        call = self.c.channel.unary_unary("/mvm.v1.TenantService/NoSuchMethod")
        self.assertCode(C.UNIMPLEMENTED, call, b"")

    def test_node_info(self):
        info = self.c.node.GetInfo(pb.node.GetInfoRequest(), timeout=WAIT)
        self.assertTrue(info.version)
        self.assertGreaterEqual(info.capacity.cpus, 1)
        self.assertGreater(info.capacity.mem_mib, 0)

    def _refused(self, **kw):
        with connect(**kw) as c:
            with self.assertRaises(grpc.RpcError) as cm:
                c.tenants.ListTenants(T.ListTenantsRequest(), timeout=WAIT)
        self.assertIn(cm.exception.code(), (C.UNAVAILABLE, C.UNAUTHENTICATED),
                      cm.exception.details())

    def test_no_client_cert_refused(self):
        self._refused(cert=None, key=None)

    def test_other_ca_client_cert_refused(self):
        self._refused(cert="other-client.pem", key="other-client.key")

    def test_server_not_trusted_by_other_ca(self):
        # the client refuses mvmd if it trusts only the other CA
        self._refused(ca="other-ca.pem")

    def test_unix_socket(self):
        t = self.new_tenant("unix")
        with Client(unix_channel(MVMD.unix_path)) as u:
            got = u.tenants.GetTenant(T.GetTenantRequest(name=t.name), timeout=WAIT)
            self.assertEqual(got.subnet, t.subnet)
            r = u.health.Check(H.HealthCheckRequest(), timeout=WAIT)
            self.assertEqual(r.status, H.HealthCheckResponse.SERVING)


class RestartTest(unittest.TestCase):
    """State survives a graceful restart and a SIGKILL (own mvmd)."""

    def test_state_survives_restart_and_kill(self):
        with Mvmd(BUILD) as d:
            def client():
                return Client(tls_channel(d.tls_addr, d.cert("ca.pem"), d.cert("client.pem"),
                                          d.cert("client.key")))
            with client() as c:
                t = c.tenants.CreateTenant(T.CreateTenantRequest(tenant=tenant_msg("keep")),
                                           timeout=WAIT)
                c.pools.CreatePool(P.CreatePoolRequest(pool=pool_msg(t.name, "p")), timeout=WAIT)
            self.assertEqual(d.restart(), 0, d.log_tail())
            with client() as c:
                names = [t.name for t in c.tenants.ListTenants(T.ListTenantsRequest(),
                                                               timeout=WAIT).tenants]
                self.assertEqual(len(names), 1)
                self.assertTrue(re.match(r"keep-\d+$", names[0]))
                c.pools.GetPool(P.GetPoolRequest(tenant=names[0], name="p"), timeout=WAIT)
            d.kill()
            d.start()
            with client() as c:
                got = c.tenants.GetTenant(T.GetTenantRequest(name=names[0]), timeout=WAIT)
                self.assertEqual(got.name, names[0])
            self.assertEqual(d.stop(), 0, d.log_tail())


if __name__ == "__main__":
    unittest.main()
