#!/usr/bin/python3
"""mvmd_check_store_test.py - `mvmd --check-store`: a sound store (beside a
running mvmd and after it stopped) is reported and exits 0; no store, a
truncated data file and an emptied one exit 1 naming what is wrong, and the
check changes nothing in the state dir.

usage: mvmd_check_store_test.py BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
BUILD = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "build")
MVMD = os.path.join(BUILD, "service", "mvmd")


def check(state_dir):
    r = subprocess.run([MVMD, "--check-store", "--state-dir", state_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def listing(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            if f == "lock.mdb":  # LMDB's reader table: any reader writes it
                continue
            p = os.path.join(root, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


class CheckStore(unittest.TestCase):
    def test_sound_running_and_stopped(self):
        from harness import Mvmd
        with Mvmd(BUILD, metrics=False) as d:
            rc, out = check(d.state_dir)  # beside the running mvmd
            self.assertEqual(rc, 0, out)
            self.assertIn("is sound", out)
            self.assertEqual(d.stop(), 0)
            before = listing(d.state_dir)
            rc, out = check(d.state_dir)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"revision \d+")
            self.assertEqual(listing(d.state_dir), before, "the check changed the state dir")

    def test_no_store(self):
        with tempfile.TemporaryDirectory() as t:
            rc, out = check(t)
            self.assertEqual(rc, 1, out)
            self.assertIn("NOT_FOUND", out)
            self.assertEqual(os.listdir(t), [], "the check created something")

    def test_damaged(self):
        from harness import Mvmd
        d = Mvmd(BUILD, metrics=False)
        try:
            d.start()
            self.assertEqual(d.stop(), 0)
            data = os.path.join(d.state_dir, "store", "data.mdb")
            size = os.path.getsize(data)
            with open(data, "r+b") as f:
                f.truncate(size // 2)
            rc, out = check(d.state_dir)
            self.assertEqual(rc, 1, out)
            self.assertIn("DATA_LOSS", out)
            self.assertIn(data, out)
            with open(data, "r+b") as f:
                f.truncate(0)
            rc, out = check(d.state_dir)
            self.assertEqual(rc, 1, out)
            self.assertIn("DATA_LOSS", out)
        finally:
            d.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
