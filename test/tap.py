#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The lab's TAP stream: one numbering and one set of counters across runs.

Used by run-qemu.py for guest results, and from the shell for host-side
checks:  tap.py STATE ok|fail NAME [DIAG...]
and at the end of a stream:  tap.py STATE summary

Runs that go side by side (test/lab.sh boots stock and patched at once)
each count into a state of their own and write their TAP to a file; then,
one after the other:  tap.py STATE merge PART_STATE PART_TAP
prints the part's TAP numbered on from STATE and adds its counters.
"""
import json
import os
import re
import sys

RESULT = re.compile(r"^(not ok|ok) \d+( - .*)?$")
COUNTERS = ("passed", "failed", "skipped", "xfail")


class Tap:
    def __init__(self, state_path):
        self.path = state_path
        self.st = {"n": 0, "passed": 0, "failed": 0, "skipped": 0,
                   "xfail": 0, "failures": []}
        if state_path and os.path.exists(state_path):
            with open(state_path) as f:
                self.st.update(json.load(f))

    def result(self, ok, name, diag=(), skip=None, xfail=None, race=False):
        """@xfail: why this test must fail here; @race: its failure needs
        a race to be lost, so that a pass says nothing (SKIP)."""
        self.st["n"] += 1
        for d in diag:
            for line in str(d).splitlines():
                print("# " + line)
        if xfail is not None and skip is None and ok and race:
            self.st["skipped"] += 1
            print(f"# passes, but must fail on this kernel ({xfail}) when it "
                  "loses a race: it did not lose it this time")
            print(f"ok {self.st['n']} - {name} # SKIP inconclusive: the race "
                  "was not lost")
        elif xfail is not None and skip is None:
            if ok:
                self.st["failed"] += 1
                self.st["failures"].append(name)
                print(f"# passes, but must fail on this kernel ({xfail}): "
                      "it cannot tell the kernels apart")
                print(f"not ok {self.st['n']} - {name}")
            else:
                self.st["xfail"] += 1
                print(f"not ok {self.st['n']} - {name} # TODO fails here "
                      f"as it must ({xfail})")
        elif skip is not None:
            self.st["skipped"] += 1
            print(f"ok {self.st['n']} - {name} # SKIP {skip}")
        elif ok:
            self.st["passed"] += 1
            print(f"ok {self.st['n']} - {name}")
        else:
            self.st["failed"] += 1
            self.st["failures"].append(name)
            print(f"not ok {self.st['n']} - {name}")
        sys.stdout.flush()
        self.save()

    def merge(self, part_state, part_tap):
        part = Tap(part_state).st
        with open(part_tap, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                m = RESULT.match(line)
                if m:
                    self.st["n"] += 1
                    line = f"{m.group(1)} {self.st['n']}{m.group(2) or ''}"
                print(line)
        for k in COUNTERS:
            self.st[k] += part[k]
        self.st["failures"] += part["failures"]
        sys.stdout.flush()
        self.save()

    def summary(self):
        """The plan, the failures, "N passed, N failed"; False if a test
        failed or none ran."""
        st = self.st
        print(f"1..{st['n']}")
        if st["failures"]:
            print("# failed:")
            for f in st["failures"]:
                print(f"#   {f}")
        tail = f", {st['skipped']} skipped" if st["skipped"] else ""
        if st["xfail"]:
            tail += f", {st['xfail']} failed on stock as they must"
        print(f"{st['passed']} passed, {st['failed']} failed{tail}")
        return not st["failed"] and st["n"] > 0

    def save(self):
        if self.path:
            with open(self.path, "w") as f:
                json.dump(self.st, f)


def main():
    if len(sys.argv) == 3 and sys.argv[2] == "summary":
        sys.exit(0 if Tap(sys.argv[1]).summary() else 1)
    if len(sys.argv) == 5 and sys.argv[2] == "merge":
        Tap(sys.argv[1]).merge(sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) < 4 or sys.argv[2] not in ("ok", "fail"):
        sys.exit("usage: tap.py STATE ok|fail NAME [DIAG...]\n"
                 "       tap.py STATE merge PART_STATE PART_TAP\n"
                 "       tap.py STATE summary")
    Tap(sys.argv[1]).result(sys.argv[2] == "ok", sys.argv[3], sys.argv[4:])


if __name__ == "__main__":
    main()
