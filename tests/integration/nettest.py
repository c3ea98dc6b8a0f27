"""nettest - small helpers for tests that send real packets to guests (mvm's
network suites, tests/guest/linux_net_test.py, the simulator's own tests).

Everything runs in namespaces the test makes; nothing touches the host's
interfaces. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, raw sockets).

    import nettest
    nettest.enter_private_netns()        # once, first thing, before threads
    nettest.ns_create("vm1")
    nettest.ip("-n", "vm1", "tuntap", "add", "tap0", "mode", "tap")
    ...
    assert nettest.ping("vm1", "172.16.0.2")
    assert nettest.udp_echo("vm1", "172.16.0.2", 7, b"x") == b"x"
    with nettest.udp_listen("vm1", "172.16.0.1", 5000) as listener:
        assert nettest.guest_send("vm1", "172.16.0.2", "172.16.0.1", 5000, "hi") == "sent"
        assert listener.receive(5) == (b"hi", ("172.16.0.2", 9))

Namespaces are named as `ip netns` names them (bind mounts under
/run/netns); `ns=None` everywhere means the test process's own namespace.
Sockets for a named namespace are made by switching the calling thread
into it with setns(2) for the socket() call only (a socket stays in the
namespace it was made in), so the helpers are plain Python sockets and run
no subprocess except `ip`.

The guest side answers the protocol in tests/guest/README.md ("Network
responder"): ICMP echo, UDP 7 echo, UDP 9 control ("send A.B.C.D PORT
TEXT" -> the guest sends TEXT from its port 9, answers "sent" or
"error <why>"), TCP 7 echo.

Errors: NetTestUnavailable when the namespaces cannot be made here (not
root, unshare refused): callers print a SKIP line. A failing `ip` command
raises NetTestError with its output.
"""
import contextlib
import ctypes
import ctypes.util
import os
import select
import socket
import struct
import subprocess
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
NETNS_DIR = "/run/netns"
CONTROL_PORT = 9
ECHO_PORT = 7

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]


class NetTestError(Exception):
    """A command or system call the helpers ran failed."""


class NetTestUnavailable(NetTestError):
    """This process cannot make network namespaces (not root, refused)."""


def _check(result, what):
    if result != 0:
        e = ctypes.get_errno()
        raise NetTestError("%s: %s" % (what, os.strerror(e)))


def ip(*args, check=True):
    """Runs `ip ARGS` (iproute2); returns its standard output. Raises
    NetTestError when it fails and check is true."""
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise NetTestError("ip %s: status %d: %s" % (" ".join(args), r.returncode, out.strip()))
    return out


def enter_private_netns():
    """Moves the calling process into a fresh network namespace (loopback up)
    and a private mount namespace with an empty tmpfs on /run/netns, so
    `ip netns` names made from here on are the test's alone and vanish with
    it. Call it first, while the process has one thread (unshare of the mount
    namespace is refused to a multi-threaded process). Child processes
    inherit both namespaces. Raises NetTestUnavailable when not root or when
    the kernel refuses."""
    if os.geteuid() != 0:
        raise NetTestUnavailable("needs root (network and mount namespaces)")
    if _libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        raise NetTestUnavailable("unshare(CLONE_NEWNET|CLONE_NEWNS): %s"
                                 % os.strerror(ctypes.get_errno()))
    # Mounts made from here on stay in this mount namespace.
    _check(_libc.mount(b"", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    os.makedirs(NETNS_DIR, exist_ok=True)
    _check(_libc.mount(b"tmpfs", NETNS_DIR.encode(), b"tmpfs", 0, b"mode=0755"),
           "tmpfs on " + NETNS_DIR)
    ip("link", "set", "lo", "up")


def ns_create(name):
    """A named network namespace with its loopback up."""
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")


def ns_delete(name):
    """Deletes a named namespace (nothing if it does not exist)."""
    if os.path.exists(os.path.join(NETNS_DIR, name)):
        ip("netns", "delete", name)


def ns_tap(name, address="172.16.0.1/30", tap="tap0"):
    """A persistent TAP device in namespace `name` (None: here), up, with the
    address (CIDR) on it: the host side of a guest's network interface, as
    mvm makes it for an instance. Returns its MAC address ("aa:bb:..")."""
    prefix = ["-n", name] if name else []
    ip(*prefix, "tuntap", "add", tap, "mode", "tap")
    ip(*prefix, "addr", "add", address, "dev", tap)
    ip(*prefix, "link", "set", tap, "up")
    return link_mac(name, tap)


def link_mac(name, dev):
    """The MAC address of device `dev` in namespace `name` (None: here)."""
    prefix = ["-n", name] if name else []
    out = ip(*prefix, "-o", "link", "show", dev)
    words = out.split()
    return words[words.index("link/ether") + 1]


def neighbour_mac(name, address, dev=None):
    """The MAC address namespace `name` has learned for `address`, or None."""
    prefix = ["-n", name] if name else []
    args = prefix + ["neigh", "show", address] + (["dev", dev] if dev else [])
    words = ip(*args).split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else None


def veth_to(ns, ns_address, here_address, ns_dev=None, here_dev=None, here_ns=None,
            default_route=True):
    """Links namespace `ns` (the "outside") to `here_ns` (None: the test's own
    namespace) with a veth pair: `ns_dev` in ns holds ns_address (CIDR),
    `here_dev` holds here_address (CIDR); both up. With default_route, ns
    routes everything through here_address, so it can answer any source.
    Device names default to "v-<ns>" / "o-<ns>" (cut to 15 bytes). Returns
    (ns_dev, here_dev)."""
    ns_dev = ns_dev or ("o-" + ns)[:15]
    here_dev = here_dev or ("v-" + ns)[:15]
    here = ["-n", here_ns] if here_ns else []
    ip(*here, "link", "add", here_dev, "type", "veth", "peer", "name", ns_dev, "netns", ns)
    ip(*here, "addr", "add", here_address, "dev", here_dev)
    ip(*here, "link", "set", here_dev, "up")
    ip("-n", ns, "addr", "add", ns_address, "dev", ns_dev)
    ip("-n", ns, "link", "set", ns_dev, "up")
    if default_route:
        ip("-n", ns, "route", "add", "default", "via", here_address.split("/")[0])
    return ns_dev, here_dev


@contextlib.contextmanager
def _in_netns(ns):
    """The calling thread inside namespace `ns` (None: unchanged) for the
    with block, back in its own after."""
    if ns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(target, CLONE_NEWNET), "setns into " + ns)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _check(_libc.setns(own, CLONE_NEWNET), "setns back from " + ns)
    finally:
        os.close(own)


def socket_in(ns, family=socket.AF_INET, kind=socket.SOCK_DGRAM, proto=0):
    """A socket made in namespace `ns` (None: here)."""
    with _in_netns(ns):
        return socket.socket(family, kind, proto)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def ping(ns, address, count=1, timeout=5.0):
    """Sends ICMP echo requests to address from namespace ns, one at a time,
    each waited for up to `timeout` seconds; True when every one is answered
    (by an echo reply with the request's identifier, sequence and payload),
    False when one is not or cannot be sent (no route)."""
    s = socket_in(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        ident = os.getpid() & 0xffff
        for seq in range(1, count + 1):
            payload = b"mvm-nettest %d %d" % (ident, seq)
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
            try:
                s.sendto(packet, (address, 0))
            except OSError:  # no route, no neighbour: not answered
                return False
            if not _await_reply(s, address, ident, seq, payload, timeout):
                return False
        return True
    finally:
        s.close()


def _await_reply(s, address, ident, seq, payload, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return False
        data, (source, _) = s.recvfrom(65536)
        header_len = (data[0] & 0x0f) * 4
        icmp = data[header_len:]
        if source != address or len(icmp) < 8:
            continue
        kind, _, _, r_ident, r_seq = struct.unpack("!BBHHH", icmp[:8])
        if kind == 0 and r_ident == ident and r_seq == seq and icmp[8:] == payload:
            return True


def udp_exchange(ns, address, port, payload, timeout=5.0, source=None):
    """Sends one UDP datagram from namespace ns (from `source`, an (address,
    port) to bind, when given) and returns the first datagram that comes back
    from (address, port) within timeout seconds, or None (also when it cannot
    be sent: no route)."""
    s = socket_in(ns)
    try:
        if source:
            s.bind(source)
        try:
            s.sendto(payload, (address, port))
        except OSError:  # no route: nothing can come back
            return None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                return None
            data, sender = s.recvfrom(65536)
            if sender == (address, port):
                return data
    finally:
        s.close()


def udp_echo(ns, address, port=ECHO_PORT, payload=b"mvm-nettest", timeout=5.0):
    """The guest's UDP echo: the datagram that came back, or None."""
    return udp_exchange(ns, address, port, payload, timeout)


def tcp_echo(ns, address, port=ECHO_PORT, payload=b"mvm-nettest", timeout=5.0):
    """Connects from namespace ns, sends payload, half-closes, returns what
    came back until the peer closed (or None if the connection failed or
    timed out)."""
    s = socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((address, port))
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got
    except OSError:
        return None
    finally:
        s.close()


class UdpListener:
    """A UDP socket bound in a namespace; receive() returns (payload,
    (source address, source port)) or None after timeout seconds."""

    def __init__(self, ns, address, port):
        self.sock = socket_in(ns)
        try:
            self.sock.bind((address, port))
        except OSError:
            self.sock.close()
            raise

    def receive(self, timeout=5.0):
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        return self.sock.recvfrom(65536)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def udp_listen(ns, address, port):
    """A UdpListener on address:port in namespace ns (use it in a with)."""
    return UdpListener(ns, address, port)


def guest_send(ns, guest_address, dest, port, text, timeout=5.0):
    """The guest's control port: asks the guest at guest_address (from
    namespace ns) to send `text` as one UDP datagram from its port 9 to
    dest:port. Returns the guest's answer ("sent" or "error <why>"), or None
    when none came within timeout seconds."""
    request = ("send %s %d %s" % (dest, port, text)).encode()
    answer = udp_exchange(ns, guest_address, CONTROL_PORT, request, timeout)
    return None if answer is None else answer.decode("utf-8", "replace")


def wait_until(predicate, timeout, interval=0.2):
    """Calls predicate until it returns something true (returned) or
    timeout seconds pass (the last result is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


__all__ = ["NetTestError", "NetTestUnavailable", "enter_private_netns", "ns_create", "ns_delete",
           "ns_tap", "link_mac", "neighbour_mac", "veth_to", "socket_in", "ping", "udp_exchange",
           "udp_echo", "tcp_echo", "udp_listen", "UdpListener", "guest_send", "wait_until", "ip"]
