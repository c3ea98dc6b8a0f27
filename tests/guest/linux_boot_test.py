#!/usr/bin/python3
"""linux_boot_test - a real Linux on a real Firecracker: the test kernel
(MVM_TEST_LINUX_KERNEL, e.g. ../shared/linux-pvm/vmlinux-6.12.117-pvmtest)
with the busybox initramfs that tests/guest/linux/build_initramfs.py builds,
booted to its first userspace console line, then its command-line echo and
first tick.

Slow: on a software hypervisor Linux takes about a minute or two to reach
userspace. The timeout per line is MVM_TEST_LINUX_TIMEOUT seconds (default
240); it bounds how long a failure takes, it is not an assertion.

Run: MVM_TEST_FIRECRACKER=... MVM_TEST_LINUX_KERNEL=... \\
         python3 linux_boot_test.py --cache BUILD/tests/guest/linux [-v]
Boot arguments: MVM_TEST_LINUX_BOOT_ARGS, else the `boot-args` file next to
the kernel, else "console=ttyS0 reboot=k panic=1"; a marker argument is
appended. Without either variable (or /dev/kvm) it prints a line starting
"SKIP: linux_boot" and exits 0; ctest reports the test as skipped.
"""
import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "linux"))
import build_initramfs  # noqa: E402
import guest_testlib  # noqa: E402
from fc_direct import Firecracker  # noqa: E402

USERSPACE_UP = "mvm-linux-guest: userspace up"
CMDLINE_PREFIX = "mvm-linux-guest: cmdline "
MEM_MIB = 128

FIRECRACKER = os.environ.get("MVM_TEST_FIRECRACKER", "")
KERNEL = os.environ.get("MVM_TEST_LINUX_KERNEL", "")
TIMEOUT = float(os.environ.get("MVM_TEST_LINUX_TIMEOUT", "240"))
CACHE = None


def boot_args():
    return guest_testlib.linux_boot_args(KERNEL, "mvm.test=linux-boot-%d" % os.getpid())


class LinuxBoot(unittest.TestCase):

    def test_boots_to_userspace(self):
        initramfs = build_initramfs.build(os.path.join(CACHE, "initramfs.cpio"), CACHE)
        args = boot_args()
        fc = Firecracker(FIRECRACKER, vm_id="linux-boot")
        self.addCleanup(fc.close)
        fc.spawn()
        fc.configure(KERNEL, args, mem_mib=MEM_MIB, initrd=initramfs)
        fc.start()
        started = fc.timings["start_sent_at"]

        index, seen, _ = fc.console.wait_for("^" + USERSPACE_UP + "$", TIMEOUT)
        print("\n  InstanceStart to '%s': %.1f s" % (USERSPACE_UP, seen - started), file=sys.stderr)
        self.assertTrue(any(l.startswith("[") for l in fc.console.text()[:index]),
                        "kernel messages precede userspace on the console")
        _, _, line = fc.console.wait_for("^" + CMDLINE_PREFIX, TIMEOUT, index)
        self.assertEqual(line.strip(), CMDLINE_PREFIX + args,
                         "/proc/cmdline is the boot_args given to /boot-source")
        fc.console.wait_for("^mvm-linux-guest: tick 1$", TIMEOUT, index)
        self.assertIsNone(fc.proc.poll(), "Firecracker still runs")


def main():
    global CACHE
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True,
                    help="directory for the busybox-static .deb and the initramfs")
    args, rest = ap.parse_known_args()
    CACHE = os.path.abspath(args.cache)
    return guest_testlib.run("linux_boot", ["MVM_TEST_FIRECRACKER", "MVM_TEST_LINUX_KERNEL"], rest)


if __name__ == "__main__":
    sys.exit(main())
