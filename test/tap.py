#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The lab's TAP stream: one numbering and one set of counters across runs.

Used by run-qemu.py for guest results, and from the shell for host-side
checks:  tap.py STATE ok|fail NAME [DIAG...]
"""
import json
import os
import sys


class Tap:
    def __init__(self, state_path):
        self.path = state_path
        self.st = {"n": 0, "passed": 0, "failed": 0, "skipped": 0,
                   "xfail": 0, "failures": []}
        if state_path and os.path.exists(state_path):
            with open(state_path) as f:
                self.st.update(json.load(f))

    def result(self, ok, name, diag=(), skip=None, xfail=None):
        self.st["n"] += 1
        for d in diag:
            for line in str(d).splitlines():
                print("# " + line)
        if xfail is not None and skip is None:
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

    def save(self):
        if self.path:
            with open(self.path, "w") as f:
                json.dump(self.st, f)


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ("ok", "fail"):
        sys.exit("usage: tap.py STATE ok|fail NAME [DIAG...]")
    Tap(sys.argv[1]).result(sys.argv[2] == "ok", sys.argv[3], sys.argv[4:])


if __name__ == "__main__":
    main()
