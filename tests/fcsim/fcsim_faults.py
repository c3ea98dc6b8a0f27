"""fcsim_faults.py - part of the Firecracker simulator (a test double):
fault injection for tests of error paths. FCSIM_FAULTS names a JSON file,
re-read before each request (so a test can change it while the process
runs): a list of rules, or {"rules": [...]}. Format: README.md.

Request rules (matched on instance id, method and path; first match wins):
  {"id": "vm1" | "*", "method": "PUT" | "*", "path": "/boot-source" (fnmatch),
   "action": "error", "status": 400, "fault_message": "...",
   "times": 1, "skip": 0}
  action "crash": exit before answering, "exit_status": N or "signal": "SIGKILL"
  action "hang": never answer this nor any later request (process stays up)
  action "delay": answer after "delay_ms"
Process rules (matched on id only):
  {"action": "exit_after_start", "delay_ms": 0, "exit_status": 1 | "signal"}
  {"action": "no_api_socket", "message": "..."}: startup fails, exit 1
  {"action": "stderr", "line": "..."}: printed on stderr at startup
"""

import fnmatch
import json

PROCESS_ACTIONS = ("exit_after_start", "no_api_socket", "stderr")


class Faults:
    def __init__(self, instance_id, path):
        self.instance_id = instance_id
        self.path = path
        self.used = {}  # rule key -> times matched

    def _rules(self):
        if not self.path:
            return []
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return []
        rules = data.get("rules", []) if isinstance(data, dict) else data
        return [r for r in rules if isinstance(r, dict)]

    def _mine(self, rule):
        rid = rule.get("id", "*")
        return rid == "*" or rid == self.instance_id

    @staticmethod
    def _key(rule):
        return json.dumps(rule, sort_keys=True)

    def _live(self, rule):
        """Counts a match; True when this match fires (after `skip`, within
        `times`)."""
        n = self.used.get(self._key(rule), 0)
        skip, times = rule.get("skip", 0), rule.get("times")
        if n < skip:
            return False
        return times is None or n - skip < times

    def _count(self, rule):
        k = self._key(rule)
        self.used[k] = self.used.get(k, 0) + 1

    def request_rule(self, method, path):
        for rule in self._rules():
            if rule.get("action", "error") in PROCESS_ACTIONS or not self._mine(rule):
                continue
            m = rule.get("method", "*")
            if m != "*" and m.upper() != method:
                continue
            if not fnmatch.fnmatchcase(path, rule.get("path", "*")):
                continue
            fire = self._live(rule)
            if not fire:
                self._count(rule)
                continue
            return rule
        return None

    def consume(self, rule):
        self._count(rule)

    def process_rule(self, action):
        for rule in self._rules():
            if rule.get("action") == action and self._mine(rule) and self._live(rule):
                return rule
        return None

    def startup_stderr_lines(self):
        return [r.get("line", "") for r in self._rules()
                if r.get("action") == "stderr" and self._mine(r)]
