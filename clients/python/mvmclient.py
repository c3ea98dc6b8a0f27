"""mvmclient.py - channels and stubs for talking to mvmd from Python.

The message and stub modules are generated at build time (see
CMakeLists.txt here) into BUILD/clients/python/gen; this module puts that
directory on sys.path, taking it from $MVM_PY_GEN or, failing that, from
build/ next to the source tree.

    from mvmclient import Client, tls_channel
    c = Client(tls_channel("127.0.0.1:7443", "ca.pem", "client.pem", "client.key"))
    c.tenants.GetTenant(c.pb.tenant.GetTenantRequest(name="acme"))
"""
import os
import sys
import types

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _add_gen_dir():
    gen = os.environ.get("MVM_PY_GEN") or os.path.join(_REPO, "build", "clients", "python", "gen")
    if not os.path.isdir(os.path.join(gen, "mvm")):
        raise ImportError("no generated Python stubs in %s: build the mvm_python_stubs "
                          "target or set MVM_PY_GEN" % gen)
    if gen not in sys.path:
        sys.path.insert(0, gen)


_add_gen_dir()

import grpc  # noqa: E402
from mvm.v1 import instance_pb2, instance_pb2_grpc, node_pb2, node_pb2_grpc  # noqa: E402
from mvm.v1 import pool_pb2, pool_pb2_grpc, tenant_pb2, tenant_pb2_grpc  # noqa: E402
from grpcstd.health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpcstd.reflection.v1 import reflection_pb2 as reflection_v1_pb2  # noqa: E402
from grpcstd.reflection.v1 import reflection_pb2_grpc as reflection_v1_pb2_grpc  # noqa: E402
from grpcstd.reflection.v1alpha import reflection_pb2 as reflection_v1alpha_pb2  # noqa: E402
from grpcstd.reflection.v1alpha import reflection_pb2_grpc as reflection_v1alpha_pb2_grpc  # noqa: E402

# Message modules by short name: pb.tenant.Tenant, pb.instance.InstanceEvent ...
pb = types.SimpleNamespace(tenant=tenant_pb2, pool=pool_pb2, instance=instance_pb2,
                           node=node_pb2, health=health_pb2,
                           reflection_v1=reflection_v1_pb2,
                           reflection_v1alpha=reflection_v1alpha_pb2)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def tls_channel(endpoint, ca, cert=None, key=None, server_name=None):
    """An mTLS channel to HOST:PORT. cert/key may be None to connect
    without a client certificate (mvmd must then refuse the calls)."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(ca),
        private_key=_read(key) if key else None,
        certificate_chain=_read(cert) if cert else None)
    opts = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(endpoint, creds, options=opts)


def unix_channel(path):
    """A plaintext channel to mvmd's local Unix socket."""
    return grpc.insecure_channel("unix:" + path)


def channel_from_env(env=os.environ):
    """The mTLS channel described by MVM_ENDPOINT, MVM_CA, MVM_CERT and
    MVM_KEY (as set by tests/integration/harness.py), or the Unix socket
    MVM_SOCKET if MVM_ENDPOINT is unset."""
    if env.get("MVM_ENDPOINT"):
        return tls_channel(env["MVM_ENDPOINT"], env["MVM_CA"], env.get("MVM_CERT"),
                           env.get("MVM_KEY"))
    if env.get("MVM_SOCKET"):
        return unix_channel(env["MVM_SOCKET"])
    raise RuntimeError("set MVM_ENDPOINT (+ MVM_CA, MVM_CERT, MVM_KEY) or MVM_SOCKET")


class Client:
    """Every service stub over one channel."""

    pb = pb

    def __init__(self, channel):
        self.channel = channel
        self.tenants = tenant_pb2_grpc.TenantServiceStub(channel)
        self.pools = pool_pb2_grpc.PoolServiceStub(channel)
        self.instances = instance_pb2_grpc.InstanceServiceStub(channel)
        self.node = node_pb2_grpc.NodeServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.reflection_v1 = reflection_v1_pb2_grpc.ServerReflectionStub(channel)
        self.reflection_v1alpha = reflection_v1alpha_pb2_grpc.ServerReflectionStub(channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
