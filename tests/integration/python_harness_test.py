#!/usr/bin/python3
"""python_harness_test.py - tests of tests/integration/harness.py itself.

Instead of mvmd it runs small shell scripts that take mvmd's arguments,
record them, and then write a ready file, die, hang or exit with a chosen
status on SIGTERM, so the harness's own promises can be checked: the
arguments it passes, readiness, error reports, stop/kill/restart, cleanup,
and the command-line mode's environment and exit status.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import Mvmd, MvmdError  # noqa: E402

# The fake: records its arguments in STATE/args (one a line), then acts on
# the settings baked in below ({ready}, {die}, {term_rc}).
FAKE = r"""#!/bin/sh
for a in "$@"; do
  case $prev in
    --ready-file) ready=$a ;; --socket) sock=$a ;; --state-dir) state=$a ;;
  esac
  prev=$a
done
printf '%s\n' "$@" > "$state/args"
n=$(( $(cat "$state/starts" 2>/dev/null || echo 0) + 1 )); echo $n > "$state/starts"
if [ -n "{die}" ]; then echo "{die}" >&2; exit 3; fi
trap 'exit {term_rc}' TERM
tcp=tls; case " $* " in *" --insecure "*) tcp=insecure ;; esac
if [ -n "{ready}" ]; then
  printf '%s 127.0.0.1:%d\nunix %s\nmetrics 127.0.0.1:9\npid %d\n' $tcp $((1000 + n)) "$sock" $$ > "$ready.tmp"
  mv "$ready.tmp" "$ready"
fi
while :; do sleep 0.05; done
"""


class HarnessTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def fake(self, ready=True, die="", term_rc=0):
        path = os.path.join(self.dir, "fake-mvmd-%d-%s-%d" % (ready, bool(die), term_rc))
        with open(path, "w") as f:
            f.write(FAKE.replace("{ready}", "y" if ready else "").replace("{die}", die)
                    .replace("{term_rc}", str(term_rc)))
        os.chmod(path, 0o755)
        return path

    def args_of(self, d):
        with open(os.path.join(d.state_dir, "args")) as f:
            return f.read().split("\n")[:-1]

    def test_start_passes_args_and_reads_endpoints(self):
        with Mvmd(binary=self.fake(), extra_args=["--verbose"]) as d:
            tmp = d.tmp
            self.assertEqual(d.tls_addr, "127.0.0.1:1001")
            self.assertEqual(d.tcp_addr, d.tls_addr)
            self.assertIsNone(d.insecure_addr)
            self.assertEqual(d.metrics_addr, "127.0.0.1:9")
            args = self.args_of(d)
            self.assertEqual(args[args.index("--socket") + 1], d.unix_path)
            self.assertEqual(args[args.index("--listen") + 1], "127.0.0.1:0")
            self.assertEqual(args[args.index("--metrics-listen") + 1], "127.0.0.1:0")
            self.assertEqual(args[args.index("--client-ca") + 1], d.cert("ca.pem"))
            self.assertEqual(args[args.index("--tls-cert") + 1], d.cert("server.pem"))
            self.assertEqual(args[-1], "--verbose")
            for name in ("ca.pem", "server.key", "client.pem", "client.key",
                         "other-client.pem", "other-ca.pem"):
                self.assertTrue(os.path.isfile(d.cert(name)), name)
            env = d.env()
            self.assertEqual(env["MVM_ENDPOINT"], d.tls_addr)
            self.assertEqual(env["MVMD_PID"], str(d.proc.pid))
            self.assertNotIn("MVM_INSECURE", env)
            self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(tmp), "temp dir left behind")

    def test_insecure_listener(self):
        with Mvmd(binary=self.fake(), extra_args=["--insecure"]) as d:
            self.assertIsNone(d.tls_addr)
            self.assertEqual(d.insecure_addr, "127.0.0.1:1001")
            self.assertEqual(d.env()["MVM_ENDPOINT"], d.insecure_addr)
            self.assertEqual(d.env()["MVM_INSECURE"], "1")

    def test_stop_returns_exit_status(self):
        with Mvmd(binary=self.fake(term_rc=7)) as d:
            self.assertEqual(d.stop(), 7)

    def test_kill(self):
        with Mvmd(binary=self.fake()) as d:
            self.assertEqual(d.kill(), -9)

    def test_restart_keeps_state_and_rereads_endpoints(self):
        with Mvmd(binary=self.fake(term_rc=4)) as d:
            state, first = d.state_dir, d.tls_addr
            with open(os.path.join(state, "marker"), "w") as f:
                f.write("x")
            self.assertEqual(d.restart(), 4)
            self.assertEqual(d.state_dir, state)
            self.assertTrue(os.path.exists(os.path.join(state, "marker")))
            self.assertNotEqual(d.tls_addr, first)
            self.assertIsNone(d.proc.poll())

    def test_early_death_reports_output_and_cleans_up(self):
        m = Mvmd(binary=self.fake(die="boom: no such flag"))
        with self.assertRaises(MvmdError) as cm:
            m.__enter__()
        self.assertIn("status 3", str(cm.exception))
        self.assertIn("boom: no such flag", str(cm.exception))
        self.assertIsNone(m.tmp, "temp dir not removed")

    def test_never_ready_is_bounded_and_killed(self):
        m = Mvmd(binary=self.fake(ready=False), ready_timeout=0.5)
        with self.assertRaises(MvmdError) as cm:
            m.__enter__()
        self.assertIn("not ready", str(cm.exception))
        self.assertIsNotNone(m.proc.poll(), "mvmd left running")

    def test_missing_binary(self):
        with self.assertRaises(MvmdError):
            Mvmd(binary=os.path.join(self.dir, "none")).__enter__()

    def test_half_written_ready_line_is_ignored(self):
        path = os.path.join(self.dir, "ready")
        with open(path, "w") as f:
            f.write("tls 127.0.0.1:5\nunix /tmp/x.so")
        self.assertEqual(harness._read_ready(path), {"tls": "127.0.0.1:5"})

    def cli(self, fake, *cmd):
        return subprocess.run([sys.executable, os.path.join(HERE, "harness.py"), "--mvmd", fake,
                               "--mvmd-arg=--insecure", "--"] + list(cmd),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)

    def test_cli_env_and_status(self):
        script = ('test "$MVM_ENDPOINT" = 127.0.0.1:1001 && test "$MVM_INSECURE" = 1 && '
                  'test -f "$MVM_CA" && '
                  'test -f "$MVM_CERT" && test -f "$MVM_KEY" && test -d "$MVM_CERTS_DIR" && '
                  'test -n "$MVM_SOCKET" && test "$MVM_METRICS" = 127.0.0.1:9 && '
                  'grep -qx -- --insecure "$MVM_STATE_DIR/args" && kill -0 "$MVMD_PID" && exit 5')
        r = self.cli(self.fake(), "sh", "-c", script)
        self.assertEqual(r.returncode, 5, r.stderr.decode())
        self.assertEqual(self.cli(self.fake(), "true").returncode, 0)

    def test_cli_fails_when_mvmd_does_not_exit_zero(self):
        r = self.cli(self.fake(term_rc=2), "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"status 2 on SIGTERM", r.stderr)

    def test_cli_fails_when_mvmd_does_not_start(self):
        r = self.cli(self.fake(die="bad config"), "true")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"bad config", r.stderr)


if __name__ == "__main__":
    unittest.main()
