#!/usr/bin/python3
"""linux_net_test - real packets to a real Linux guest on a real Firecracker,
laid out as mvm lays out an instance: a network namespace holding a TAP
`tap0` (172.16.0.1/30), Firecracker started in it with `tap0` as the
guest's eth0, the guest on 172.16.0.2 from the kernel's
`ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off`. The initramfs holds
netecho (tests/guest/linux/netecho.c), the guest's network responder.

From the namespace: ICMP echo, UDP echo on 7, TCP echo on 7, and the control
port 9 making the guest send a datagram to a listener on 172.16.0.1. Then
the guest is paused, snapshotted, and restored into a fresh Firecracker in a
second namespace with its own tap0 and the same addresses (what a clone
is), where it answers the same way, with the template's MAC.

The test makes its namespaces inside a network and mount namespace of its
own (tests/integration/nettest.py), so the host's interfaces are never
touched. Needs root.

Slow: about a minute or two to userspace on a software hypervisor; each
console wait is bounded by MVM_TEST_LINUX_TIMEOUT seconds (default 240).

Run: MVM_TEST_FIRECRACKER=... MVM_TEST_LINUX_KERNEL=... \\
         python3 linux_net_test.py --cache BUILD/tests/guest/linux \\
                                   --netecho BUILD/tests/guest/netecho [-v]
Without the variables (or /dev/kvm, or root) it prints a line starting
"SKIP: linux_net" and exits 0; ctest reports the test as skipped.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "linux"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import build_initramfs  # noqa: E402
import guest_testlib  # noqa: E402
import nettest  # noqa: E402
from fc_direct import Firecracker  # noqa: E402

NETECHO_UP = "mvm-linux-guest: netecho up"
GUEST_IP = "172.16.0.2"
HOST_IP = "172.16.0.1"
GUEST_MAC = "06:00:ac:10:00:02"
IP_ARG = "ip=%s::%s:255.255.255.252::eth0:off" % (GUEST_IP, HOST_IP)
MEM_MIB = 128

FIRECRACKER = os.environ.get("MVM_TEST_FIRECRACKER", "")
KERNEL = os.environ.get("MVM_TEST_LINUX_KERNEL", "")
TIMEOUT = float(os.environ.get("MVM_TEST_LINUX_TIMEOUT", "240"))
# Round trips to this guest take 10-60 ms, more when the host is busy; a
# timeout bounds a failure, it is not an assertion.
PACKET_TIMEOUT = 10.0
CACHE = None
NETECHO = None


def boot_args():
    return guest_testlib.linux_boot_args(KERNEL,
                                         "%s mvm.test=linux-net-%d" % (IP_ARG, os.getpid()))


def instance_netns(name):
    """A namespace as mvm makes one for an instance: tap0 with the host's
    side of the guest's /30."""
    nettest.ns_create(name)
    return nettest.ns_tap(name, HOST_IP + "/30")


class LinuxNet(unittest.TestCase):

    def assert_answers(self, ns, where):
        """The responder's protocol, seen from namespace ns."""
        # The first packet may wait for ARP: retried, each try bounded.
        self.assertTrue(nettest.wait_until(
            lambda: nettest.ping(ns, GUEST_IP, timeout=PACKET_TIMEOUT), 3 * PACKET_TIMEOUT),
            "%s: the guest answers ping" % where)
        self.assertTrue(nettest.ping(ns, GUEST_IP, count=3, timeout=PACKET_TIMEOUT),
                        "%s: three more pings answered" % where)
        payload = ("udp echo %s" % where).encode()
        self.assertEqual(nettest.udp_echo(ns, GUEST_IP, 7, payload, PACKET_TIMEOUT), payload,
                         "%s: UDP echo on 7" % where)
        payload = ("tcp echo %s " % where).encode() * 100
        self.assertEqual(nettest.tcp_echo(ns, GUEST_IP, 7, payload, PACKET_TIMEOUT), payload,
                         "%s: TCP echo on 7" % where)
        with nettest.udp_listen(ns, HOST_IP, 5000) as listener:
            text = "egress from the guest %s" % where
            answer = nettest.guest_send(ns, GUEST_IP, HOST_IP, 5000, text, PACKET_TIMEOUT)
            self.assertEqual(answer, "sent", "%s: the control port sent" % where)
            self.assertEqual(listener.receive(PACKET_TIMEOUT), (text.encode(), (GUEST_IP, 9)),
                             "%s: the datagram reached 172.16.0.1:5000 from the guest's port 9"
                             % where)
        self.assertEqual(nettest.neighbour_mac(ns, GUEST_IP, "tap0"), GUEST_MAC,
                         "%s: the guest answers ARP with its configured MAC" % where)

    def test_packets_and_clone(self):
        initramfs = build_initramfs.build(os.path.join(CACHE, "initramfs-net.cpio"), CACHE,
                                          extra=[(NETECHO, "bin/netecho")])
        template_tap_mac = instance_netns("vm1")
        work = tempfile.mkdtemp(prefix="linux-net-")
        snapshot, memory = os.path.join(work, "vm.snap"), os.path.join(work, "vm.mem")
        self.addCleanup(shutil.rmtree, work, True)

        fc = Firecracker(FIRECRACKER, vm_id="linux-net", netns="vm1")
        self.addCleanup(fc.close)
        fc.spawn()
        fc.configure(KERNEL, boot_args(), mem_mib=MEM_MIB, initrd=initramfs)
        fc.configure_net("tap0", GUEST_MAC)
        fc.start()
        started = fc.timings["start_sent_at"]
        _, seen, _ = fc.console.wait_for("^" + NETECHO_UP + "$", TIMEOUT)
        print("\n  InstanceStart to '%s': %.1f s" % (NETECHO_UP, seen - started), file=sys.stderr)
        self.assert_answers("vm1", "booted")

        fc.pause()
        self.assertFalse(nettest.ping("vm1", GUEST_IP, timeout=2.0),
                         "a paused guest answers nothing")
        fc.snapshot_create(snapshot, memory)
        fc.close()
        nettest.ns_delete("vm1")

        clone_tap_mac = instance_netns("vm2")
        print("  tap0 MACs: template %s, clone %s" % (template_tap_mac, clone_tap_mac),
              file=sys.stderr)
        clone = Firecracker(FIRECRACKER, vm_id="linux-net-clone", netns="vm2")
        self.addCleanup(clone.close)
        clone.spawn()
        t0 = time.monotonic()
        clone.snapshot_load(snapshot, memory, resume=True)
        print("  snapshot load: %.3f s" % (time.monotonic() - t0), file=sys.stderr)
        self.assert_answers("vm2", "restored")
        self.assertIsNone(clone.proc.poll(), "the clone's Firecracker still runs")


def main():
    global CACHE, NETECHO
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True,
                    help="directory for the busybox-static .deb and the initramfs")
    ap.add_argument("--netecho", required=True, help="the built netecho program")
    args, rest = ap.parse_known_args()
    CACHE = os.path.abspath(args.cache)
    NETECHO = os.path.abspath(args.netecho)
    env = ["MVM_TEST_FIRECRACKER", "MVM_TEST_LINUX_KERNEL"]
    if guest_testlib.skip_reason(env) is None:
        try:
            nettest.enter_private_netns()
        except nettest.NetTestUnavailable as e:
            print("SKIP: linux_net: %s" % e)
            return 0
    return guest_testlib.run("linux_net", env, rest)


if __name__ == "__main__":
    sys.exit(main())
