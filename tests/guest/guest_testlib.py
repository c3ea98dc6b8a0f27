"""guest_testlib - what the real-Firecracker guest tests share: whether they
can run here (their environment variables name files, /dev/kvm is usable)
and running their unittest cases, or printing the loud "SKIP: <test>: why"
line that ctest's SKIP_REGULAR_EXPRESSION turns into "skipped"."""
import os
import sys
import unittest

import fc_direct


def skip_reason(env_names):
    """Why the tests cannot run here, or None."""
    missing = [name for name in env_names if not os.environ.get(name)]
    if missing:
        return ("%s not set; the guest was NOT booted on a real Firecracker"
                % " and ".join(missing))
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is missing or not read-writable by this user; no VM can run here"
    return None


def run(test_name, env_names, unittest_args):
    """Runs the calling module's unittest cases; returns the exit status.
    Variables that are set must name files: a wrong path fails, it is not
    a reason to skip."""
    reason = skip_reason(env_names)
    if reason:
        print("SKIP: %s: %s" % (test_name, reason))
        return 0
    for name in env_names:
        if not os.path.isfile(os.environ[name]):
            print("%s=%s is not a file" % (name, os.environ[name]), file=sys.stderr)
            return 1
    # A harness giving up (SIGTERM) must not leave VMs behind.
    fc_direct.kill_all_on_signal()
    result = unittest.main(module="__main__", argv=[sys.argv[0]] + unittest_args,
                           exit=False).result
    return 0 if result.wasSuccessful() else 1
