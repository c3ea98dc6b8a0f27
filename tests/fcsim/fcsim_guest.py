"""fcsim_guest.py - part of the Firecracker simulator (a test double): the
emulated guest, which prints on the serial console (the process's stdout)
what the project's freestanding test guest (tests/guest/) prints. These
constants ARE the guest protocol; tests/fcsim/README.md repeats them and
the real guest follows them:

  mvm-test-guest: started                    once, at boot
  mvm-test-guest: cmdline <command line>     once, right after
  tick 1, tick 2, ...                        once per second of running
                                             time (nothing while paused)
  mvm-test-guest: ctrl-alt-del, rebooting    on SendCtrlAltDel; then the
                                             guest resets and Firecracker
                                             exits with status 0

Ticks count running time: a pause stops them and a snapshot carries the
counter into the restored VM, which goes on from it."""

import os
import time

BANNER = "mvm-test-guest: started"
CMDLINE_PREFIX = "mvm-test-guest: cmdline "
TICK_FORMAT = "tick %d"
TICK_PERIOD_S = 1.0
CTRL_ALT_DEL_LINE = "mvm-test-guest: ctrl-alt-del, rebooting"
RESET_EXIT_DELAY_S = 0.02  # from the reset to Firecracker's exit


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

    def set_serial_fd(self, fd):
        self.fd = fd

    def _print(self, line):
        from firecracker_sim import write_all
        write_all(self.fd, (line + "\n").encode("utf-8", "replace"))
        self.sim.metrics.inc("uart", "write_count", len(line) + 1)

    def boot(self, cmdline):
        self.cmdline = cmdline
        self._print(BANNER)
        self._print(CMDLINE_PREFIX + cmdline)
        self.banner_done = True
        self.since = time.monotonic()

    def force_banner(self):
        if not self.banner_done and self.cmdline is not None:
            self._print(BANNER)
            self._print(CMDLINE_PREFIX + self.cmdline)
            self.banner_done = True

    def load(self, cmdline, ticks):
        self.cmdline = cmdline
        self.printed = ticks
        self.run_s = float(ticks)
        self.banner_done = True

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


_unused = os
