"""cli_check.py - the few helpers the mvm-cli test drivers share: check()
records a failed expectation without stopping the run, finish() reports
and gives the exit status."""
import sys

FAILURES = []


def check(cond, what):
    """Records a failed expectation (the run goes on, and fails at the end)."""
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, file=sys.stderr)


def finish():
    """Prints the outcome; returns the process exit status."""
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok")
    return 0
