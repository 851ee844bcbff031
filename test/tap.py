#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The lab's results: one TAP file per step, and their summary.

A lab run keeps its results in a directory of its own,
build/results/<verb>-<date>-<pid>/ (test/lib/results.sh makes it). Each
step writes NNN-<step>.tap there as it runs: a TAP document of its own,
numbered from 1, its plan last. NNN is the order in which the steps
started. run-qemu.py writes a boot's file through Tap below; the shell's
host-side checks write theirs with tap_ (test/lib/results.sh).

At the end of the run

    tap.py summary RUN_DIR

nests the step files into RUN_DIR/run.tap as the kselftest runner does
(each step's lines behind "# ", then "ok N <step>" or "not ok N <step>"),
prints one line per step, the failures and "N passed, N failed", and
exits 1 if a test failed, a step has no plan (it did not finish) or
nothing ran. Expected failures are the producers' (run-qemu.py knows the
kernel it booted): a "# TODO" result counts as failed on stock as it must.
"""
import os
import re
import sys
import time

RESULT = re.compile(r"^(not ok|ok) (\d+)(?: - (.*?))?(?: # (SKIP|TODO)\b ?(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)$")


class Tap:
    """A step's TAP file: each result goes to the file and to stdout."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        if path and os.path.exists(path):
            with open(path, errors="replace") as f:
                self.n = sum(1 for line in f if RESULT.match(line.rstrip("\n")))
        self.f = open(path, "a") if path else None

    def emit(self, line):
        print(line)
        if self.f:
            self.f.write(line + "\n")

    def result(self, ok, name, diag=(), skip=None, xfail=None, race=False):
        """@xfail: why this test must fail here; @race: its failure needs
        a race to be lost, so that a pass says nothing (SKIP)."""
        self.n += 1
        for d in diag:
            for line in str(d).splitlines():
                self.emit("# " + line)
        if xfail is not None and skip is None and ok and race:
            self.emit(f"# passes, but must fail on this kernel ({xfail}) "
                      "when it loses a race: it did not lose it this time")
            self.emit(f"ok {self.n} - {name} # SKIP inconclusive: the race "
                      "was not lost")
        elif xfail is not None and skip is None:
            if ok:
                self.emit(f"# passes, but must fail on this kernel ({xfail}): "
                          "it cannot tell the kernels apart")
                self.emit(f"not ok {self.n} - {name}")
            else:
                self.emit(f"not ok {self.n} - {name} # TODO fails here as it "
                          f"must ({xfail})")
        elif skip is not None:
            self.emit(f"ok {self.n} - {name} # SKIP {skip}")
        else:
            self.emit(f"{'ok' if ok else 'not ok'} {self.n} - {name}")
        self.flush()

    def close(self):
        """The plan, last: the step has ended."""
        self.emit(f"1..{self.n}")
        self.flush()

    def flush(self):
        sys.stdout.flush()
        if self.f:
            self.f.flush()


# How many of a failure's diagnostic lines the summary repeats: enough for
# a boot's "timed out" and its last console lines, where a CI log that
# keeps only its tail still shows them.
WHY_LINES = 20


def count(lines):
    """The counters of one step's TAP lines, its failures' names, and what
    is wrong with the document itself ("broken"): no plan, or not one plan
    after the last result, or results not numbered 1..n."""
    c = {"passed": 0, "failed": 0, "skipped": 0, "xfail": 0, "plan": None,
         "results": 0, "failures": [], "why": {}, "broken": None}
    plans = 0
    diag = []
    for line in lines:
        if line.startswith("# "):
            diag.append(line[2:])
            continue
        m = PLAN.match(line)
        if m:
            c["plan"] = int(m.group(1))
            plans += 1
            continue
        m = RESULT.match(line)
        if not m:
            continue
        c["results"] += 1
        why, diag = diag, []
        if plans and not c["broken"]:
            c["broken"] = f"result {m.group(2)} after the plan"
        if int(m.group(2)) != c["results"] and not c["broken"]:
            c["broken"] = f"result {m.group(2)} where {c['results']} was due"
        if m.group(4) == "SKIP":
            c["skipped"] += 1
        elif m.group(4) == "TODO":
            c["xfail"] += 1
        elif m.group(1) == "ok":
            c["passed"] += 1
        else:
            c["failed"] += 1
            c["failures"].append(m.group(3) or f"#{m.group(2)}")
            c["why"][c["failures"][-1]] = why[-WHY_LINES:]
    if c["broken"]:
        pass
    elif plans != 1:
        c["broken"] = ("no plan: the step did not finish" if not plans
                       else f"{plans} plans")
    elif c["plan"] != c["results"]:
        c["broken"] = f"plan 1..{c['plan']}, {c['results']} results"
    if c["broken"]:
        c["failed"] += 1
    return c


# What a boot's results showed, in numbers (headline()): the diagnostics
# of these tests, each group summed per boot.  The windows on the daemon's
# buffers are those of fuse_bufs' own tests, not its controls.  Cross-alias
# loads go both ways: kernel->user is the kernel writing a request through
# kmap; user->kernel also comes from vmsplice()d replies, which FUSE reads
# from the pipe through kmap on any kernel (docs/alias.md).
MEASURES = (
    ("GUP calls under /dev/fuse copies", r"/fuse_bufs/bufs\.",
     re.compile(r"measured: GUP hits: (\d+) under /dev/fuse copies"), ("",)),
    ("cross-alias loads on the daemon's buffers", r"/alias/fuse_bufs/bufs\.",
     re.compile(r"measured: cross-alias loads \d+ \(kernel->user (\d+), "
                r"user->kernel (\d+)"), ("kernel->user ", "user->kernel ")),
    ("stale loads on the daemon's buffers", r"/cache/fuse_bufs/bufs\.",
     re.compile(r"measured: stale loads (\d+) hits \+ (\d+) fills"),
     ("hits ", "fills ")),
    ("GUP under vmsplice (SH-4)", r"/vmsplice_gup/tracer_sees",
     re.compile(r"measured: entries of sys_vmsplice \d+, gup_fast_fallback "
                r"\d+, __get_user_pages (\d+), __flush_anon_page (\d+); "
                r"GUP-fast walks \(gup_fast_fallback -> __pte_offset_map\) "
                r"(\d+)"), ("slow path ", "__flush_anon_page ", "GUP-fast walks ")),
)
BOOT = re.compile(r"^\d{3}-(\S+?)-(stock|patched|old)-(\w+)\.tap$")


def headline(run_dir, steps):
    """One line per boot: its results and what MEASURES found in them."""
    out = []
    for s in steps:
        m = BOOT.match(s)
        if not m:
            continue
        with open(os.path.join(run_dir, s), errors="replace") as f:
            lines = f.read().splitlines()
        c = count(lines)
        words = [f"{c['passed']} passed, {c['failed']} failed"
                 + (f", {c['skipped']} skipped" if c["skipped"] else "")
                 + (f", {c['xfail']} failed as they must" if c["xfail"] else "")]
        for what, test, rx, groups in MEASURES:
            total, tests, diag = [0] * len(groups), 0, None
            for line in lines:
                r = RESULT.match(line)
                if not r:
                    d = rx.search(line)
                    if d:
                        diag = [int(g) for g in d.groups()]
                    continue
                if diag and re.search(test, r.group(3) or ""):
                    total = [t + g for t, g in zip(total, diag)]
                    tests += 1
                diag = None
            if tests:
                sums = ", ".join(f"{g}{t}" for g, t in zip(groups, total))
                words.append(f"{what}: {sums} ({tests} "
                             f"test{'s' if tests > 1 else ''})")
        out.append(f"lab: {m.group(1)} {m.group(2)}, {m.group(3)}: "
                   + "; ".join(words))
    return out


def time_spent(run_dir, top=8):
    """The steps that took longest (steps.tsv: when each began): a step
    lasts until the next one begins."""
    try:
        with open(os.path.join(run_dir, "steps.tsv"), errors="replace") as f:
            rows = [l.rstrip("\n").split("\t", 1) for l in f if "\t" in l]
    except OSError:
        return []
    times = [(int(t), what) for t, what in rows if t.isdigit()]
    if not times:
        return []
    ends = [t for t, _ in times[1:]] + [int(time.time())]
    spent = sorted(((end - t, what) for (t, what), end in zip(times, ends)),
                   reverse=True)
    total = ends[-1] - times[0][0]
    return [f"lab: where the time went ({total} s in all), the longest steps:"] + \
        [f"lab: {s:6d} s  {what}" for s, what in spent[:top]]


def summary(run_dir):
    steps = sorted(f for f in os.listdir(run_dir)
                   if re.match(r"^\d{3}-.*\.tap$", f))
    total = {"passed": 0, "failed": 0, "skipped": 0, "xfail": 0}
    failures = []
    top = []
    with open(os.path.join(run_dir, "run.tap"), "w") as out:
        out.write(f"TAP version 13\n1..{len(steps)}\n")
        for i, s in enumerate(steps, 1):
            name = s[4:-4]
            with open(os.path.join(run_dir, s), errors="replace") as f:
                lines = f.read().splitlines()
            c = count(lines)
            bad = c["failed"] > 0
            if c["broken"]:
                failures.append((f"{name}: {c['broken']}", []))
            failures += [(f"{name}: {t}", c["why"][t]) for t in c["failures"]]
            for k in total:
                total[k] += c[k]
            out.write(f"# step: {name}\n")
            for line in lines:
                out.write(f"# {line}\n")
            counts = ", ".join(f"{c[k]} {k}" for k in total if c[k])
            line = f"{'not ok' if bad else 'ok'} {i} {name} # {counts or 'empty'}"
            out.write(line + "\n")
            top.append(line)
    for line in top:
        print(line)
    if failures:
        print("# failed:")
        for f, why in failures:
            print(f"#   {f}")
            for line in why:
                print(f"#     {line}")
    for line in time_spent(run_dir) + headline(run_dir, steps):
        print(line)
    n = sum(total.values())
    if not n:
        print("# nothing ran")
    print(f"lab: results of this run: {os.path.relpath(run_dir)}/run.tap "
          f"({len(steps)} steps, {n} results)")
    tail = f", {total['skipped']} skipped" if total["skipped"] else ""
    if total["xfail"]:
        tail += f", {total['xfail']} failed on stock as they must"
    print(f"{total['passed']} passed, {total['failed']} failed{tail}")
    return not total["failed"] and n > 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        sys.exit(0 if summary(sys.argv[2]) else 1)
    sys.exit("usage: tap.py summary RUN_DIR")


if __name__ == "__main__":
    main()
