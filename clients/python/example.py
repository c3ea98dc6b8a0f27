#!/usr/bin/python3
"""example.py - a tour of the mvm.v1 API from Python over mTLS.

Creates a tenant, a pool and an instance, lists them, watches the
instance's deletion arrive as an event, and removes everything again.

    example.py --endpoint 127.0.0.1:PORT --ca ca.pem --cert client.pem --key client.key
    # or, with the MVM_* variables set (tests/integration/harness.py does):
    harness.py --build build -- clients/python/example.py
"""
import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mvmclient import Client, pb, tls_channel  # noqa: E402


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default=env("MVM_ENDPOINT"))
    ap.add_argument("--ca", default=env("MVM_CA"))
    ap.add_argument("--cert", default=env("MVM_CERT"))
    ap.add_argument("--key", default=env("MVM_KEY"))
    ap.add_argument("--tenant", default="example")
    a = ap.parse_args()
    if not (a.endpoint and a.ca and a.cert and a.key):
        ap.error("need --endpoint, --ca, --cert and --key (or MVM_* variables)")

    with Client(tls_channel(a.endpoint, a.ca, a.cert, a.key)) as c:
        T, P, I = pb.tenant, pb.pool, pb.instance
        tenant = c.tenants.CreateTenant(T.CreateTenantRequest(tenant=T.Tenant(
            name=a.tenant, net_id=42, subnet="10.240.42.0/24",
            quota=T.TenantQuota(max_instances=4, max_pools=2), labels={"env": "demo"})),
            timeout=10)
        print("created tenant %s (version %d)" % (tenant.name, tenant.resource_version))
        pool = c.pools.CreatePool(P.CreatePoolRequest(pool=P.Pool(
            tenant=a.tenant, name="web", vcpus=1, mem_mib=256,
            kernel_image="/var/lib/mvm/images/vmlinux",
            rootfs_image="/var/lib/mvm/images/rootfs.ext4",
            boot_args="console=ttyS0")), timeout=10)
        print("created pool %s/%s" % (pool.tenant, pool.name))
        inst = c.instances.CreateInstance(I.CreateInstanceRequest(
            tenant=a.tenant, pool="web", labels={"role": "demo"}), timeout=10)
        print("created instance %s ip=%s mac=%s tap=%s" % (inst.id, inst.ip, inst.mac, inst.tap))

        for t in c.tenants.ListTenants(T.ListTenantsRequest(label_selector="env=demo"), timeout=10).tenants:
            print("tenant %s net_id=%d subnet=%s" % (t.name, t.net_id, t.subnet))
        for i in c.instances.ListInstances(I.ListInstancesRequest(tenant=a.tenant), timeout=10).instances:
            print("instance %s %s" % (i.id, I.InstanceState.Name(i.state)))

        # Watch the tenant; the first event is the existing instance (send_initial),
        # the second its deletion, which another thread performs.
        stream = c.instances.WatchInstances(I.WatchInstancesRequest(tenant=a.tenant, send_initial=True),
                                            timeout=30)
        seen = []
        for ev in stream:
            seen.append(ev)
            print("event %s %s" % (I.InstanceEvent.Type.Name(ev.type), ev.instance.id))
            if len(seen) == 1:
                threading.Thread(target=c.instances.DeleteInstance, args=(
                    I.DeleteInstanceRequest(tenant=a.tenant, id=inst.id),), kwargs={"timeout": 10}).start()
            if ev.type == I.InstanceEvent.DELETED:
                break
        stream.cancel()

        c.pools.DeletePool(P.DeletePoolRequest(tenant=a.tenant, name="web"), timeout=10)
        c.tenants.DeleteTenant(T.DeleteTenantRequest(name=a.tenant), timeout=10)
        print("cleaned up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
