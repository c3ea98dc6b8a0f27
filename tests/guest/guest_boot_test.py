#!/usr/bin/python3
"""guest_boot_test - the freestanding test guest (tests/guest/src) on a real
Firecracker: its protocol (banner, command-line echo, one tick a second),
pause / resume, a full snapshot restored in a new Firecracker process,
Ctrl-Alt-Del ending the Firecracker process through an i8042 reset, and
the touched memory (mvm.touch_mib and friends): its pattern as a
snapshot's memory file holds it, its check going on after a restore and
catching a changed word, the page rewritten per tick, the refusal when the
VM is too small, and mvm.ready_after.

Run: MVM_TEST_FIRECRACKER=/path/to/firecracker \\
         python3 guest_boot_test.py --kernel BUILD/tests/guest/mvm-test-guest [-v]
Without MVM_TEST_FIRECRACKER (or without a usable /dev/kvm) it prints a line
starting "SKIP: guest_boot" and exits 0; ctest reports the test as skipped.
"""
import argparse
import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_testlib  # noqa: E402
from fc_direct import Firecracker  # noqa: E402

BANNER = "mvm-test-guest: started"
CMDLINE_PREFIX = "mvm-test-guest: cmdline "
CTRL_ALT_DEL = "mvm-test-guest: ctrl-alt-del, rebooting"
TICK = r"^tick (\d+)$"
TOUCHED = "mvm-test-guest: touched %d MiB seed %d"
READY = "mvm-test-guest: ready"
FAILED = "memory check FAILED"
MEM_MIB = 8
# Generous: the machine may be busy with other tests. Nothing here is a
# timing assertion; these only bound how long a failure takes to show.
LINE_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0
PAUSED_WINDOW = 2.5       # seconds a paused guest must stay silent (> 2 ticks)

FIRECRACKER = os.environ.get("MVM_TEST_FIRECRACKER", "")
KERNEL = None


class GuestCase(unittest.TestCase):
    """Helpers: boot a guest, read its ticks."""

    def firecracker(self, vm_id):
        fc = Firecracker(FIRECRACKER, vm_id=vm_id)  # in a temporary directory
        self.addCleanup(fc.close)
        return fc

    def boot(self, boot_args, vm_id="guest-boot", mem_mib=MEM_MIB):
        fc = self.firecracker(vm_id)
        fc.spawn()
        fc.configure(KERNEL, boot_args, mem_mib=mem_mib)
        fc.start()
        fc.console.wait_for("^" + BANNER + "$", LINE_TIMEOUT)
        return fc

    def wait_tick(self, fc, start=0):
        """The first tick line at index >= start: (index, tick number)."""
        index, _, line = fc.console.wait_for(TICK, LINE_TIMEOUT, start)
        return index, int(line.split()[1])

    def ticks(self, fc):
        return [int(l.split()[1]) for l in fc.console.text() if l.startswith("tick ")]

    def assert_consecutive(self, ticks, first):
        self.assertEqual(ticks, list(range(first, first + len(ticks))),
                         "ticks must count up by one from %d" % first)


class Boot(GuestCase):

    def test_banner_then_cmdline_echo(self):
        boot_args = "console=ttyS0 reboot=k panic=1 mvm.test=banner-%d x=\"a b\"" % os.getpid()
        fc = self.boot(boot_args)
        fc.console.wait_for("^" + CMDLINE_PREFIX, LINE_TIMEOUT)
        lines = fc.console.text()
        self.assertEqual(lines[0], BANNER, "the first console line is the banner")
        self.assertEqual(lines[1], CMDLINE_PREFIX + boot_args,
                         "the second line echoes the boot_args given to /boot-source")

    def test_ticks_advance_by_one_from_one(self):
        fc = self.boot("console=ttyS0")
        fc.console.wait_for("^tick 3$", LINE_TIMEOUT * 3)
        self.assert_consecutive(self.ticks(fc), 1)
        lines = fc.console.text()
        self.assertEqual(lines[:2], [BANNER, CMDLINE_PREFIX + "console=ttyS0"])
        self.assertTrue(all(l.startswith("tick ") for l in lines[2:]), lines)

    def test_pause_stops_ticks_resume_restarts_them(self):
        fc = self.boot("console=ttyS0")
        self.wait_tick(fc)
        fc.pause()
        # Output already emitted may still be in the pipe: let it arrive,
        # then the paused guest must print nothing at all.
        time.sleep(0.3)
        before = fc.console.count()
        last = self.ticks(fc)[-1]
        time.sleep(PAUSED_WINDOW)
        self.assertEqual(fc.console.text()[before:], [], "a paused guest printed")
        fc.resume()
        _, tick = self.wait_tick(fc, before)
        self.assertEqual(tick, last + 1, "after resume the count goes on from where it stopped")
        self.assert_consecutive(self.ticks(fc), 1)

    def test_snapshot_restored_in_new_process_continues_count(self):
        fc = self.boot("console=ttyS0", vm_id="guest-snap-src")
        self.wait_tick(fc)
        fc.pause()
        snapshot = os.path.join(fc.workdir, "vm.snap")
        memory = os.path.join(fc.workdir, "vm.mem")
        fc.snapshot_create(snapshot, memory)
        time.sleep(0.3)
        last = self.ticks(fc)[-1]
        self.assertEqual(os.path.getsize(memory), MEM_MIB << 20, "a full memory file")
        fc.kill()

        restored = self.firecracker("guest-snap-dst")
        restored.spawn()
        restored.snapshot_load(snapshot, memory, resume=True)
        _, tick = self.wait_tick(restored)
        self.assertEqual(tick, last + 1,
                         "the restored guest continues the count (last before the snapshot: %d)"
                         % last)
        restored.console.wait_for("^tick %d$" % (last + 2), LINE_TIMEOUT)
        lines = restored.console.text()
        self.assertNotIn(BANNER, lines, "a restored guest does not boot again")
        self.assert_consecutive(self.ticks(restored), last + 1)

        # The restored guest's keyboard and reset work too.
        restored.ctrl_alt_del()
        restored.console.wait_for("^" + CTRL_ALT_DEL + "$", LINE_TIMEOUT)
        self.assertEqual(restored.wait_exit(EXIT_TIMEOUT), 0,
                         "Firecracker exits with status 0 on the guest's i8042 reset")

    def test_ctrl_alt_del_resets_and_firecracker_exits(self):
        fc = self.boot("console=ttyS0")
        self.wait_tick(fc)
        fc.ctrl_alt_del()
        fc.console.wait_for("^" + CTRL_ALT_DEL + "$", LINE_TIMEOUT)
        status = fc.wait_exit(EXIT_TIMEOUT)
        self.assertEqual(status, 0, "Firecracker exits with status 0 on the guest's i8042 reset")
        self.assertEqual(fc.console.text()[-1], CTRL_ALT_DEL, "nothing printed after the reset")

    def test_memory_footprint_is_reported(self):
        # Not an assertion on size (the figure depends on the machine);
        # checks the guest memory is found and prints it for the record.
        fc = self.boot("console=ttyS0")
        self.wait_tick(fc)
        total, guest = fc.rss_kib()
        self.assertIsNotNone(guest, "no %d MiB guest-memory mapping in /proc/%d/smaps"
                             % (MEM_MIB, fc.pid()))
        self.assertLess(guest, MEM_MIB * 1024, "the guest touched all of its memory")
        print("\n  firecracker RSS %d KiB, of which guest memory %d KiB" % (total, guest),
              file=sys.stderr)


class TouchedMemory(GuestCase):
    """mvm.touch_mib / touch_seed / touch_write / ready_after."""

    def snapshot(self, fc):
        """Pauses fc, writes a full snapshot, kills it; returns (state path,
        memory path, last tick printed)."""
        fc.pause()
        snapshot = os.path.join(fc.workdir, "vm.snap")
        memory = os.path.join(fc.workdir, "vm.mem")
        fc.snapshot_create(snapshot, memory)
        time.sleep(0.3)  # output already emitted may still be in the pipe
        last = self.ticks(fc)[-1]
        fc.kill()
        return snapshot, memory, last

    def restore(self, snapshot, memory, vm_id):
        fc = self.firecracker(vm_id)
        fc.spawn()
        fc.snapshot_load(snapshot, memory, resume=True)
        return fc

    def read_pages(self, memory, address, count):
        """count pages of guest memory from the memory file (which holds
        guest memory from address 0 up, for VMs below 3 GiB)."""
        with open(memory, "rb") as f:
            f.seek(address)
            data = f.read(count * guest_testlib.PATTERN_PAGE_SIZE)
        words = struct.unpack("<%dQ" % (len(data) // 8), data)
        return [list(words[i:i + 512]) for i in range(0, len(words), 512)]

    def assert_pattern(self, memory, mib, seed, rewrites_options=(0,)):
        """The memory file holds the pattern over mib MiB from 2 MiB, for
        one of the rewrite counts given, and zeros in the page after it."""
        pages = mib << 20 >> 12
        got = self.read_pages(memory, guest_testlib.PATTERN_REGION_START, pages + 1)
        self.assertEqual(got[pages], [0] * 512, "the page after the region was not touched")
        matching = []
        for rewrites in rewrites_options:
            if all(got[p] == guest_testlib.pattern_page(
                    guest_testlib.PATTERN_REGION_START + p * 4096, seed,
                    guest_testlib.pattern_generation(p, pages, rewrites))
                   for p in range(pages)):
                matching.append(rewrites)
        self.assertEqual(len(matching), 1,
                         "the region holds the pattern of exactly one of the rewrite counts %r"
                         % (rewrites_options,))
        return matching[0]

    def test_touched_memory_survives_snapshot_restore(self):
        fc = self.boot("console=ttyS0 mvm.touch_mib=4", vm_id="guest-touch-src")
        start = fc.timings["start_sent_at"]
        _, touched_at, _ = fc.console.wait_for("^mvm-test-guest: touched", LINE_TIMEOUT)
        fc.console.wait_for("^tick 2$", LINE_TIMEOUT)
        lines = fc.console.text()
        self.assertEqual(lines[:3], [BANNER, CMDLINE_PREFIX + "console=ttyS0 mvm.touch_mib=4",
                                     TOUCHED % (4, guest_testlib.DEFAULT_TOUCH_SEED)])
        total, guest = fc.rss_kib()
        self.assertGreaterEqual(guest, 4 * 1024, "the 4 MiB touched are resident")
        print("\n  4 MiB: InstanceStart to the touched line %.0f ms; firecracker RSS %d KiB, "
              "guest memory %d KiB" % ((touched_at - start) * 1000, total, guest),
              file=sys.stderr)
        snapshot, memory, last = self.snapshot(fc)
        self.assert_pattern(memory, 4, guest_testlib.DEFAULT_TOUCH_SEED)

        restored = self.restore(snapshot, memory, "guest-touch-dst")
        restored.console.wait_for("^tick %d$" % (last + 3), LINE_TIMEOUT)
        lines = restored.console.text()
        self.assertEqual([l for l in lines if FAILED in l], [],
                         "the restored guest finds its memory as it left it")
        self.assertNotIn(BANNER, lines, "a restored guest does not boot again")
        self.assert_consecutive(self.ticks(restored), last + 1)
        self.assertEqual([l for l in fc.console.text() if FAILED in l], [])

    def test_changed_word_is_reported_once(self):
        fc = self.boot("console=ttyS0 mvm.touch_mib=1 mvm.touch_seed=7", vm_id="guest-corrupt-src")
        fc.console.wait_for("^" + TOUCHED % (1, 7) + "$", LINE_TIMEOUT)
        self.wait_tick(fc)
        snapshot, memory, last = self.snapshot(fc)
        self.assert_pattern(memory, 1, 7)
        address = guest_testlib.PATTERN_REGION_START + 3 * 4096 + 5 * 8
        want = guest_testlib.pattern_page(address & ~4095, 7)[5]
        bad = want ^ (1 << 40)
        with open(memory, "r+b") as f:
            f.seek(address)
            f.write(struct.pack("<Q", bad))

        restored = self.restore(snapshot, memory, "guest-corrupt-dst")
        restored.console.wait_for(FAILED, LINE_TIMEOUT)
        restored.console.wait_for("^tick %d$" % (last + 3), LINE_TIMEOUT)
        failed = [l for l in restored.console.text() if FAILED in l]
        self.assertEqual(failed, ["mvm-test-guest: memory check FAILED at 0x%016x "
                                  "(got 0x%016x, want 0x%016x)" % (address, bad, want)],
                         "one report, naming the word, what it holds and what it should")
        self.assert_consecutive(self.ticks(restored), last + 1)

    def test_touch_write_rewrites_a_page_per_tick(self):
        fc = self.boot("console=ttyS0 mvm.touch_mib=1 mvm.touch_write=1", vm_id="guest-write-src")
        fc.console.wait_for("^tick 3$", LINE_TIMEOUT)
        snapshot, memory, last = self.snapshot(fc)
        # A pause between a rewrite and its tick line leaves one more.
        rewrites = self.assert_pattern(memory, 1, guest_testlib.DEFAULT_TOUCH_SEED,
                                       (last, last + 1))
        self.assertGreaterEqual(rewrites, 3, "one page rewritten per tick")

        restored = self.restore(snapshot, memory, "guest-write-dst")
        restored.console.wait_for("^tick %d$" % (last + 3), LINE_TIMEOUT)
        self.assertEqual([l for l in restored.console.text() if FAILED in l], [],
                         "the check follows the rewrites, across the restore too")

    def test_touch_refused_when_it_does_not_fit_and_ready_after(self):
        # 8 MiB of RAM, the region from 2 MiB: 6 MiB fit, 7 do not. The
        # quoted argument is one argument: its "mvm.touch_mib=5" is not.
        args = 'console=ttyS0 mvm.touch_mib=7 y="a mvm.touch_mib=5" mvm.touch_seed=x mvm.ready_after=1'
        fc = self.boot(args)
        fc.console.wait_for("^tick 2$", LINE_TIMEOUT)
        self.assertEqual(fc.console.text()[:7], [
            BANNER, CMDLINE_PREFIX + args,
            "mvm-test-guest: ignoring mvm.touch_seed=x: not a decimal number",
            "mvm-test-guest: touch_mib 7 does not fit in 8 MiB",
            "tick 1", READY, "tick 2"])

        args = "console=ttyS0 mvm.touch_mib=6 mvm.ready_after=0"
        fc = self.boot(args)
        fc.console.wait_for("^tick 1$", LINE_TIMEOUT)
        self.assertEqual(fc.console.text()[:5], [
            BANNER, CMDLINE_PREFIX + args, TOUCHED % (6, guest_testlib.DEFAULT_TOUCH_SEED),
            READY, "tick 1"])


def main():
    global KERNEL
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True, help="the mvm-test-guest ELF")
    args, rest = ap.parse_known_args()
    if not os.path.isfile(args.kernel):
        print("no test guest at %s (build the mvm-test-guest target)" % args.kernel,
              file=sys.stderr)
        return 1
    KERNEL = os.path.abspath(args.kernel)
    return guest_testlib.run("guest_boot", ["MVM_TEST_FIRECRACKER"], rest)


if __name__ == "__main__":
    sys.exit(main())
