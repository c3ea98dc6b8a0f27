#!/usr/bin/python3
"""vmm_uffd_fc_test - the userfaultfd page server (service/vmm/vmm_uffd*.c,
driven through vmm_uffd_tool) with a real Firecracker restoring a snapshot
of the test guest (tests/guest/src) with the Uffd memory backend:

- the restored guest continues its tick count (a restore, not a reboot)
  with every page it touches served by the server, which records them;
- a second restore, given that working set, prefetches it and takes fewer
  faults than the first;
- three restores of one snapshot at once share one mapping of its memory
  file in the server;
- a memory file smaller than the snapshot's memory is refused at the
  handshake (the session ends INVALID_ARGUMENT) and the server goes on.

Run: MVM_TEST_FIRECRACKER=/path/to/firecracker \\
         python3 vmm_uffd_fc_test.py --tool BUILD/tests/vmm_uffd_tool \\
             [--kernel BUILD/tests/guest/mvm-test-guest] [-v]
The kernel defaults to $MVM_TEST_GUEST_KERNEL. Without MVM_TEST_FIRECRACKER
(or without a usable /dev/kvm) it prints "SKIP: vmm_uffd_firecracker: ..."
and exits 0; ctest reports it skipped.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))
sys.path.insert(0, HERE)
import guest_testlib  # noqa: E402
from fc_direct import Firecracker, FirecrackerError  # noqa: E402
from uffd_tool import UffdTool, load_uffd  # noqa: E402

TICK = r"^tick (\d+)$"
BANNER = "mvm-test-guest: started"
MEM_MIB = 8
LINE_TIMEOUT = 30.0      # bounds how long a failure takes to show; not a timing assertion
STATE_TIMEOUT_MS = 10000

FIRECRACKER = os.environ.get("MVM_TEST_FIRECRACKER", "")
KERNEL = None
TOOL = None


def ticks(fc):
    return [int(l.split()[1]) for l in fc.console.text() if l.startswith("tick ")]


class UffdRestore(unittest.TestCase):
    """One snapshot of the test guest, made once for the class."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="vmm-uffd-fc-")
        cls.snapshot = os.path.join(cls.dir, "vm.snap")
        cls.memory = os.path.join(cls.dir, "vm.mem")
        src = Firecracker(FIRECRACKER, os.path.join(cls.dir, "source"), vm_id="uffd-source")
        try:
            src.spawn()
            src.configure(KERNEL, "console=ttyS0", mem_mib=MEM_MIB)
            src.start()
            src.console.wait_for("^tick 2$", LINE_TIMEOUT)
            src.pause()
            time.sleep(0.3)  # what the guest printed before the pause arrives
            src.snapshot_create(cls.snapshot, cls.memory)
            cls.last_tick = ticks(src)[-1]
        finally:
            src.close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.tool = UffdTool(TOOL)
        self.addCleanup(self.close_tool)

    def close_tool(self):
        # Runs after the processes' cleanups (added later, run earlier).
        self.assertEqual(self.tool.close(), 0, "vmm_uffd_tool exited with an error "
                         "(a sanitizer report?)")

    def restore(self, name, ws=None, mem=None, api_timeout=30.0):
        """A new Firecracker process loading the snapshot, its memory served
        by session `name` of the tool. Returns the process."""
        fc = Firecracker(FIRECRACKER, os.path.join(self.dir, name), vm_id=name,
                         api_timeout=api_timeout)
        self.addCleanup(fc.close)
        fc.spawn()
        sock = os.path.join(self.dir, name + ".sock")
        self.tool.serve(name, sock, mem or self.memory, ws)
        load_uffd(fc, self.snapshot, sock)
        return fc

    def assert_continues(self, fc):
        """The restored guest prints last+1, last+2, and no banner."""
        fc.console.wait_for("^tick %d$" % (self.last_tick + 2), LINE_TIMEOUT)
        self.assertEqual(ticks(fc)[:2], [self.last_tick + 1, self.last_tick + 2],
                         "the restored guest continues the count from %d" % self.last_tick)
        self.assertNotIn(BANNER, fc.console.text(), "a restored guest does not boot again")

    def end_by_exit(self, fc, name):
        """Kills the process; the session must end cleanly by itself."""
        fc.kill()
        self.assertEqual(self.tool.wait(name, "ended", STATE_TIMEOUT_MS), "ended")
        st = self.tool.stats(name)
        self.assertEqual(st["end_code"], "OK", st)
        self.assertIn("exited", st["end_reason"])
        return st

    def test_restore_records_then_prefetch_faults_less(self):
        ws = os.path.join(self.dir, "vm.ws")
        if os.path.exists(ws):
            os.unlink(ws)
        first = self.restore("first", ws)
        self.assert_continues(first)
        st = self.tool.stats("first")
        self.assertEqual(st["state"], "serving")
        self.assertEqual(st["peer_pid"], first.pid(), "the peer is the Firecracker process")
        self.assertEqual(st["mem_bytes"], MEM_MIB << 20, st)
        self.assertEqual(st["page_size"], 4096)
        self.assertGreater(st["faults_served"], 0, "the guest's pages came from the server")
        self.assertEqual(st["bytes_copied"], st["faults_served"] * 4096, st)
        self.assertEqual(st["pages_prefetched"], 0)
        st = self.end_by_exit(first, "first")
        self.assertTrue(st["ws_written"], st)
        self.assertEqual(st["ws_pages_out"], st["faults_served"], st)
        print("\n  first restore: %d faults, first fault %d us after connecting"
              % (st["faults"], st["first_fault_us"]), file=sys.stderr)

        second = self.restore("second", ws)
        self.assert_continues(second)
        st2 = self.tool.stats("second")
        self.assertEqual(st2["ws_pages_in"], st["ws_pages_out"], st2)
        self.assertGreater(st2["pages_prefetched"], 0, st2)
        self.assertLess(st2["faults"], st["faults"],
                        "the prefetched restore takes fewer faults: %r" % st2)
        print("  second restore: %d prefetched in %d us, %d faults"
              % (st2["pages_prefetched"], st2["prefetch_us"], st2["faults"]), file=sys.stderr)
        self.end_by_exit(second, "second")

    def test_restores_of_one_snapshot_share_one_mapping(self):
        names = ["clone%d" % i for i in range(3)]
        clones = [self.restore(n) for n in names]
        for fc in clones:
            self.assert_continues(fc)
        server = self.tool.server()
        self.assertEqual(server["sessions_active"], 3, server)
        self.assertEqual(server["files_mapped"], 1, server)
        self.assertEqual(server["bytes_mapped"], MEM_MIB << 20, server)
        for fc, name in zip(clones, names):
            self.assertEqual(self.tool.stats(name)["peer_pid"], fc.pid())
            self.end_by_exit(fc, name)
        self.assertEqual(self.tool.server()["files_mapped"], 0)

    def test_short_memory_file_refused_server_goes_on(self):
        short = os.path.join(self.dir, "short.mem")
        with open(self.memory, "rb") as f, open(short, "wb") as g:
            g.write(f.read((MEM_MIB << 20) // 2))
        fc = Firecracker(FIRECRACKER, os.path.join(self.dir, "short"), vm_id="short",
                         api_timeout=5.0)
        self.addCleanup(fc.close)
        fc.spawn()
        sock = os.path.join(self.dir, "short.sock")
        self.tool.serve("short", sock, short)
        try:
            load_uffd(fc, self.snapshot, sock)
        except (FirecrackerError, OSError):
            pass  # Firecracker may wait for a page nobody serves: its call times out
        self.assertEqual(self.tool.wait("short", "ended", STATE_TIMEOUT_MS), "ended")
        st = self.tool.stats("short")
        self.assertEqual(st["end_code"], "INVALID_ARGUMENT", st)
        self.assertIn("not inside the memory file", st["end_reason"])
        fc.kill()
        # the server still serves
        ok = self.restore("after")
        self.assert_continues(ok)
        self.end_by_exit(ok, "after")


def main():
    global KERNEL, TOOL
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="the vmm_uffd_tool binary")
    ap.add_argument("--kernel", default=os.environ.get("MVM_TEST_GUEST_KERNEL"),
                    help="the mvm-test-guest ELF (default $MVM_TEST_GUEST_KERNEL)")
    args, rest = ap.parse_known_args()
    reason = guest_testlib.skip_reason(["MVM_TEST_FIRECRACKER"])
    if reason:
        print("SKIP: vmm_uffd_firecracker: %s" % reason)
        return 0
    if not args.kernel or not os.path.isfile(args.kernel):
        print("no test guest at %s (build the mvm-test-guest target, or set "
              "MVM_TEST_GUEST_KERNEL)" % args.kernel, file=sys.stderr)
        return 1
    KERNEL = os.path.abspath(args.kernel)
    TOOL = os.path.abspath(args.tool)
    return guest_testlib.run("vmm_uffd_firecracker", ["MVM_TEST_FIRECRACKER"], rest)


if __name__ == "__main__":
    sys.exit(main())
