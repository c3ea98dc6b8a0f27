"""guest_testlib - what the real-Firecracker guest tests share: whether they
can run here (their environment variables name files, /dev/kvm is usable)
and running their unittest cases, or printing the loud "SKIP: <test>: why"
line that ctest's SKIP_REGULAR_EXPRESSION turns into "skipped"; and the
test guest's memory pattern (src/pattern.h), recomputed here to read a
guest's touched memory out of a snapshot's memory file."""
import os
import sys
import unittest

import fc_direct

# src/pattern.h: where the touched region starts, its page size, the
# pattern's constants and the seed the guest uses without mvm.touch_seed.
PATTERN_REGION_START = 2 << 20
PATTERN_PAGE_SIZE = 4096
DEFAULT_TOUCH_SEED = 1
_MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9e3779b97f4a7c15


def mix64(x):
    """SplitMix64's finaliser, mod 2^64."""
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & _MASK64
    return x ^ (x >> 31)


def pattern_page(address, seed, generation=0):
    """The 512 words the guest writes to the page at physical address
    (page-aligned) for seed, in the page's generation (rewrites so far)."""
    key = mix64((seed + generation * _GOLDEN_GAMMA) & _MASK64)
    return [mix64((address + 8 * i) ^ key) for i in range(PATTERN_PAGE_SIZE // 8)]


def pattern_generation(page, pages, rewrites):
    """A page's generation after `rewrites` round-robin rewrites of a
    region of `pages` pages (mvm.touch_write)."""
    return rewrites // pages + (1 if page < rewrites % pages else 0)


def linux_boot_args(kernel, extra):
    """The Linux test kernel's boot arguments: MVM_TEST_LINUX_BOOT_ARGS, else
    the `boot-args` file next to the kernel, else a plain serial console;
    then `extra` (the test's own arguments)."""
    args = os.environ.get("MVM_TEST_LINUX_BOOT_ARGS")
    if args is None:
        path = os.path.join(os.path.dirname(kernel), "boot-args")
        if os.path.isfile(path):
            with open(path) as f:
                args = f.read().strip()
        else:
            args = "console=ttyS0 reboot=k panic=1"
    return args + " " + extra


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
