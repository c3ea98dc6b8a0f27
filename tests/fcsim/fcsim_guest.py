"""fcsim_guest.py - part of the Firecracker simulator (a test double): the
emulated guest, which prints on the serial console (the process's stdout)
what the project's freestanding test guest (tests/guest/) prints. These
constants ARE the guest protocol; tests/fcsim/README.md repeats them and
the real guest follows them:

  mvm-test-guest: started                    once, at boot
  mvm-test-guest: cmdline <command line>     once, right after
  mvm-test-guest: ignoring mvm.K=V: not a decimal number
                                             per guest argument whose value
                                             is not a decimal number
  mvm-test-guest: touched N MiB seed S       mvm.touch_mib=N (N > 0) that fits
  mvm-test-guest: touch_mib N does not fit in M MiB
                                             mvm.touch_mib=N that does not
  mvm-test-guest: ready                      mvm.ready_after=0: here;
                                             mvm.ready_after=S: after tick S
  tick 1, tick 2, ...                        once per second of running
                                             time (nothing while paused)
  mvm-test-guest: ctrl-alt-del, rebooting    on SendCtrlAltDel; then the
                                             guest resets and Firecracker
                                             exits with status 0

Ticks count running time: a pause stops them and a snapshot carries the
counter into the restored VM, which goes on from it. The real guest fills
the touched memory with a pattern and checks it on every tick, printing
"mvm-test-guest: memory check FAILED at ..." if a word changed; this guest
has no memory, prints the touched line at once and never fails the check.
Its guest arguments are read from the command line as the real guest (and
Linux) splits it: on whitespace outside double quotes, one pair of quotes
dropped around an argument or its value, the last occurrence winning,
nothing after a "--" argument."""

import time

BANNER = "mvm-test-guest: started"
CMDLINE_PREFIX = "mvm-test-guest: cmdline "
TICK_FORMAT = "tick %d"
TICK_PERIOD_S = 1.0
CTRL_ALT_DEL_LINE = "mvm-test-guest: ctrl-alt-del, rebooting"
RESET_EXIT_DELAY_S = 0.02  # from the reset to Firecracker's exit
TOUCHED_FORMAT = "mvm-test-guest: touched %d MiB seed %d"
TOUCH_DOES_NOT_FIT_FORMAT = "mvm-test-guest: touch_mib %d does not fit in %d MiB"
IGNORED_ARG_FORMAT = "mvm-test-guest: ignoring %s=%s: not a decimal number"
READY_LINE = "mvm-test-guest: ready"
# The guest's arguments, in the order it reads them (tests/guest/src/main.c).
GUEST_ARGS = ("mvm.touch_mib", "mvm.touch_seed", "mvm.touch_write", "mvm.ready_after")
DEFAULT_TOUCH_SEED = 1
# tests/guest/src/pattern.h: the touched region starts at 2 MiB and must end
# in RAM and in the first GiB. Firecracker's e820 map has RAM from 1 MiB to
# the memory size (or to the 32-bit MMIO gap at 3.25 GiB).
TOUCH_REGION_START_MIB = 2
TOUCH_REGION_LIMIT_MIB = 1024
MMIO_GAP_START_MIB = 3328
SPACES = " \t\n\r\f\v"
U64_MAX = (1 << 64) - 1


def boot_arg(cmdline, key):
    """The value of the last key=value argument of the command line, or
    None; split as the guest's cmdline.c splits it."""
    value, i, n = None, 0, len(cmdline)
    while i < n:
        while i < n and cmdline[i] in SPACES:
            i += 1
        if i == n:
            break
        start, equals, in_quote = i, None, False
        while i < n and (in_quote or cmdline[i] not in SPACES):
            if cmdline[i] == "=" and equals is None:
                equals = i
            if cmdline[i] == '"':
                in_quote = not in_quote
            i += 1
        if equals is None:
            if cmdline[start:i] == "--":
                break
            continue
        quoted = cmdline[start] == '"'
        if cmdline[start + 1 if quoted else start:equals] != key:
            continue
        v, v_end = equals + 1, i
        if v < v_end and cmdline[v] == '"':
            v += 1
        if (v > equals + 1 or quoted) and v < v_end and cmdline[v_end - 1] == '"':
            v_end -= 1
        value = cmdline[v:v_end]
    return value


def decimal_u64(text):
    """The number a decimal string stands for, or None (empty, another
    character than 0-9, or more than 2^64 - 1)."""
    if not text or any(c not in "0123456789" for c in text):
        return None
    n = int(text)
    return n if n <= U64_MAX else None


def guest_args(cmdline):
    """({argument: number} for the guest arguments present with a decimal
    value, [the lines the guest prints for the others])."""
    values, lines = {}, []
    for key in GUEST_ARGS:
        text = boot_arg(cmdline, key)
        if text is None:
            continue
        n = decimal_u64(text)
        if n is None:
            lines.append(IGNORED_ARG_FORMAT % (key, text))
        else:
            values[key] = n
    return values, lines


def touch_fits(mib, mem_mib):
    ram_end = min(mem_mib, MMIO_GAP_START_MIB, TOUCH_REGION_LIMIT_MIB)
    return mib <= ram_end - TOUCH_REGION_START_MIB


class Guest:
    def __init__(self, sim):
        self.sim = sim
        self.cmdline = None
        self.printed = 0          # ticks printed
        self.run_s = 0.0          # running time before `since`
        self.since = None         # monotonic time it last started running
        self.pending_cad = False
        self.fd = 1
        self.banner_done = False
        self.ready_after = None   # mvm.ready_after
        self.mem_mib = None

    def set_serial_fd(self, fd):
        self.fd = fd

    def _print(self, line):
        from firecracker_sim import write_all
        write_all(self.fd, (line + "\n").encode("utf-8", "replace"))
        self.sim.metrics.inc("uart", "write_count", len(line) + 1)

    def boot(self, cmdline, mem_mib):
        self.cmdline = cmdline
        self.mem_mib = mem_mib
        self._boot_lines()
        self.since = time.monotonic()

    def force_banner(self):
        if not self.banner_done and self.cmdline is not None:
            self._boot_lines()

    def _boot_lines(self):
        """What the guest prints before its first tick."""
        self._print(BANNER)
        self._print(CMDLINE_PREFIX + self.cmdline)
        self.banner_done = True
        args, ignored = guest_args(self.cmdline)
        for line in ignored:
            self._print(line)
        mib = args.get("mvm.touch_mib", 0)
        if mib and touch_fits(mib, self.mem_mib):
            self._print(TOUCHED_FORMAT % (mib, args.get("mvm.touch_seed", DEFAULT_TOUCH_SEED)))
        elif mib:
            self._print(TOUCH_DOES_NOT_FIT_FORMAT % (mib, self.mem_mib))
        self.ready_after = args.get("mvm.ready_after")
        if self.ready_after == 0:
            self._print(READY_LINE)

    def load(self, cmdline, ticks):
        """A restored guest: its arguments are what its command line said
        (the real guest keeps them in its memory); it prints nothing."""
        self.cmdline = cmdline
        self.printed = ticks
        self.run_s = float(ticks)
        self.banner_done = True
        self.ready_after = guest_args(cmdline)[0].get("mvm.ready_after")

    def restored(self, running):
        if running:
            self.since = time.monotonic()

    def ticks(self):
        return self.printed

    def running_time(self, now):
        return self.run_s + (now - self.since if self.since is not None else 0.0)

    def pause(self):
        if self.since is not None:
            now = time.monotonic()
            self.on_time(now)
            self.run_s += now - self.since
            self.since = None

    def resume(self):
        if self.since is None and self.cmdline is not None:
            self.since = time.monotonic()
            if self.pending_cad:
                self.pending_cad = False
                self._ctrl_alt_del()

    def ctrl_alt_del(self):
        if self.since is None:
            self.pending_cad = True  # the keyboard IRQ waits for the vCPU
            return
        self._ctrl_alt_del()

    def _ctrl_alt_del(self):
        self._print(CTRL_ALT_DEL_LINE)
        self.sim.metrics.inc("i8042", "reset_count")
        self.sim.logger.info("main", "Vmm is stopping.")
        self.sim.schedule_exit(RESET_EXIT_DELAY_S, 0)

    def next_deadline(self):
        if self.since is None:
            return None
        return self.since + (self.printed + 1) * TICK_PERIOD_S - self.run_s

    def on_time(self, now):
        if self.since is None:
            return
        while self.running_time(now) >= (self.printed + 1) * TICK_PERIOD_S:
            self.printed += 1
            self._print(TICK_FORMAT % self.printed)
            if self.printed == self.ready_after:
                self._print(READY_LINE)
