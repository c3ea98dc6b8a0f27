#!/usr/bin/python3
"""nettest_test - the nettest helpers (tests/integration/nettest.py) against
the real kernel, in a network and mount namespace of their own: two "outside"
namespaces linked to the test's namespace by veths, the test's namespace
routing between them; the guest's network responder (netecho, the program
the Linux test guest runs, built by tests/guest/linux.cmake) runs in one of
them as `ip netns exec b netecho`, so its protocol is checked here too.

Run: nettest_test.py --netecho BUILD/tests/guest/netecho
Exit 77 (ctest: skipped) when not root or namespaces cannot be made.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nettest  # noqa: E402

failures = 0
checks = 0


def ok(cond, what, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print("ok   %s" % what)
    else:
        failures += 1
        print("FAIL %s %s" % (what, detail))


def test_private_namespace(host_netns_inode):
    ok(os.stat("/proc/self/ns/net").st_ino != host_netns_inode,
       "enter_private_netns: a new network namespace")
    links = nettest.ip("-o", "link", "show").splitlines()
    ok(len(links) == 1 and " lo:" in links[0] and "UP" in links[0],
       "the new namespace has its loopback alone, up", repr(links))
    ok(os.listdir(nettest.NETNS_DIR) == [], "/run/netns is empty (a fresh tmpfs)")


def test_namespaces_and_veths():
    nettest.ns_create("a")
    nettest.ns_create("b")
    ok(sorted(os.listdir(nettest.NETNS_DIR)) == ["a", "b"], "ns_create made a and b")
    nettest.veth_to("a", "10.9.0.2/24", "10.9.0.1/24")
    # b routes only to a's subnet: a destination beyond is unreachable there.
    nettest.veth_to("b", "10.9.1.2/24", "10.9.1.1/24", default_route=False)
    nettest.ip("-n", "b", "route", "add", "10.9.0.0/24", "via", "10.9.1.1")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1\n")
    ok(nettest.ping(None, "10.9.0.2"), "ping from here to a")
    ok(nettest.ping("a", "10.9.0.1", count=2), "ping from a to here, twice")
    ok(nettest.ping("a", "10.9.1.2"), "ping from a to b, routed through here")
    ok(not nettest.ping("a", "10.9.0.77", timeout=1.0), "no answer from an absent address")
    mac = nettest.link_mac("a", "o-a")
    ok(nettest.neighbour_mac(None, "10.9.0.2") == mac,
       "neighbour_mac: here learned a's MAC", "%r" % mac)


def test_responder(netecho):
    proc = subprocess.Popen(["ip", "netns", "exec", "b", netecho], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        line = proc.stdout.readline().decode().strip()
        ok(line == "mvm-linux-guest: netecho up", "netecho says it is up", repr(line))
        ok(nettest.udp_echo("a", "10.9.1.2", 7, b"one two") == b"one two", "UDP echo on 7")
        ok(nettest.udp_echo("a", "10.9.1.2", 7, b"") == b"", "UDP echo of an empty datagram")
        big = bytes(range(256)) * 32
        ok(nettest.udp_echo("a", "10.9.1.2", 7, big) == big, "UDP echo of 8 KiB")
        ok(nettest.udp_echo("a", "10.9.1.2", 8, b"x", timeout=1.0) is None,
           "nothing comes back from a port nobody serves")
        ok(nettest.tcp_echo("a", "10.9.1.2", 7, b"stream " * 1000) == b"stream " * 1000,
           "TCP echo on 7")
        ok(nettest.tcp_echo("a", "10.9.1.2", 8, b"x", timeout=1.0) is None,
           "TCP to a closed port fails")
        with nettest.udp_listen("a", "10.9.0.2", 5000) as listener:
            answer = nettest.guest_send("a", "10.9.1.2", "10.9.0.2", 5000, "hello there")
            ok(answer == "sent", "control: send answers sent", repr(answer))
            got = listener.receive(5)
            ok(got == (b"hello there", ("10.9.1.2", 9)),
               "control: the datagram came from the responder's port 9", repr(got))
            for request, want in ((b"send 10.9.0.2 5000", "error usage: send A.B.C.D PORT TEXT"),
                                  (b"send 10.9.0 5000 x", "error bad address"),
                                  (b"send 10.9.0.2 70000 x", "error bad port"),
                                  (b"send 10.9.0.2 0 x", "error bad port"),
                                  (b"hello", "error usage: send A.B.C.D PORT TEXT")):
                answer = nettest.udp_exchange("a", "10.9.1.2", 9, request)
                ok(answer == want.encode(), "control: %r -> %r" % (request, want), repr(answer))
            ok(listener.receive(0.5) is None, "refused requests sent nothing")
            answer = nettest.guest_send("a", "10.9.1.2", "10.9.0.2", 5000, "")
            got = listener.receive(5)
            ok(answer == "sent" and got == (b"", ("10.9.1.2", 9)), "control: empty text",
               repr((answer, got)))
        answer = nettest.guest_send("a", "10.9.1.2", "192.0.2.1", 5000, "x")
        ok(answer and answer.startswith("error "), "control: an unroutable destination is an "
           "error with the reason", repr(answer))
        ok(nettest.guest_send("a", "10.9.1.77", "10.9.0.2", 5000, "x", timeout=1.0) is None,
           "guest_send to an absent guest: None")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_tap_and_delete():
    mac = nettest.ns_tap("a", "172.16.0.1/30")
    ok(len(mac.split(":")) == 6, "ns_tap made tap0 in a", mac)
    out = nettest.ip("-n", "a", "-o", "addr", "show", "dev", "tap0")
    ok("172.16.0.1/30" in out, "tap0 holds its address", out)
    nettest.ns_delete("b")
    nettest.ns_delete("b")
    ok(sorted(os.listdir(nettest.NETNS_DIR)) == ["a"], "ns_delete removed b (twice is fine)")
    # The kernel dismantles a namespace asynchronously, its veth with it.
    gone = nettest.wait_until(lambda: not nettest.ping(None, "10.9.1.2", timeout=0.5), 20)
    ok(gone, "b's address is gone with it")
    nettest.ns_delete("a")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netecho", required=True, help="the built netecho program")
    args = ap.parse_args()
    host_netns_inode = os.stat("/proc/self/ns/net").st_ino
    try:
        nettest.enter_private_netns()
    except nettest.NetTestUnavailable as e:
        print("SKIP: nettest: %s" % e)
        return 77
    if not os.access(args.netecho, os.X_OK):
        print("FAIL: %s is not an executable (build the mvm-netecho target)" % args.netecho)
        return 1
    t0 = time.monotonic()
    test_private_namespace(host_netns_inode)
    test_namespaces_and_veths()
    test_responder(args.netecho)
    test_tap_and_delete()
    print("%d checks, %d failed (%.1f s)" % (checks, failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
