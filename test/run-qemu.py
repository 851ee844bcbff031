#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot one kernel under QEMU (TCG) and turn what the guest prints into TAP.

The guest's /init (test/guest/init, test/debian/init) prints

    FUSELAB-TAP-BEGIN <suite>  ...TAP of that suite...  FUSELAB-TAP-END <suite> rc=N
    FUSELAB-DMESG-BEGIN ...dmesg... FUSELAB-DMESG-END
    FUSELAB-DONE

Every result line of a suite becomes one line of the boot's TAP file
(--tap, a step of the lab's run: test/tap.py), named <run>/<suite>/<test>;
the boot itself, each suite's completeness and the kernel log add lines of
their own, and the plan ends the file. The same lines go to stdout.

--xfail names tests that must fail on this kernel (the stock kernel fails
the tests that prove the series): such a failure is reported as
"not ok ... # TODO" and counted as xfail; such a test passing is a failure,
since it then cannot tell the kernels apart. Diagnostics that contain
"measured:" are printed for passing tests too.

--crash RX: the boot runs tests that may BUG this kernel (test/lab.sh run
ARCH FLAVOUR crash). Its kernel_log_clean line is then looked up in --xfail
as crash/kernel_log_clean: where listed, the log must fail, and the first
report in it must match RX (the expected BUG; what follows it, such as its
oops, is its consequence). Elsewhere the usual rules hold.
Nothing here knows an architecture: the QEMU command comes from the caller.
"""
import argparse
import contextlib
import io
import fnmatch
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Tap  # noqa: E402
import sanitize  # noqa: E402

# What in the guest's kernel log fails a run.
BAD_DMESG = [
    (re.compile(r"WARNING:"), "WARNING"),
    (re.compile(r"\bBUG[: ]"), "BUG"),
    (re.compile(r"possible circular locking|possible recursive locking|"
                r"inconsistent lock state|lock held when returning|"
                r"bad unlock balance|suspicious RCU usage|"
                r"DEBUG_LOCKS_WARN_ON"), "lockdep"),
    (re.compile(r"sleeping function called from invalid context"),
     "might_sleep"),
    (re.compile(r"KASAN"), "KASAN"),
    (re.compile(r"Oops|general protection fault|Kernel panic|"
                r"Unable to handle kernel"), "oops"),
    (re.compile(r"blocked for more than \d+ seconds"), "hung task"),
]

RESULT = re.compile(r"^(not ok|ok) \d+ (?:- )?(.*?)(?: # (SKIP|TODO)\b ?(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)$")
RERUN = None        # --rerun, for the suites' guests (the Debian guest's
                    # checks are not kselftest tests)
WHOLE = [False]     # --rerun-whole: RERUN reproduces a failure as it is


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="run name, e.g. x86_64/stock")
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--qemu-args", default="")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", help="the initramfs (none: the kernel "
                    "mounts a disk of --qemu-args as its root)")
    ap.add_argument("--append", default="")
    ap.add_argument("--console", required=True)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--suites", default="", help="suites that must report")
    ap.add_argument("--log", required=True, help="full console log")
    ap.add_argument("--tap", help="the boot's TAP file (appended to)")
    ap.add_argument("--xfail", help="file of <suite>/<test> patterns that "
                    "must fail on this kernel")
    ap.add_argument("--alias-log", help="the alias plugin's log (QEMU was "
                    "started with it): one TAP line per window")
    ap.add_argument("--cache-log", help="the cache model's log "
                    "(test/qemu-plugins/cache926.c): one TAP line per window")
    ap.add_argument("--sites", help="the cache model's whole-system report "
                    "(sites=): judged by test/sanitize.py")
    ap.add_argument("--sanitize", default="", help="for --sites: "
                    "FLAVOUR,System.map,SUITE_DIR,NM,MICRO: the suite's "
                    "binaries ('-': none), their nm, MICRO 'micro' to judge "
                    "test/expect/sanitizer.tsv's windows, '-' not to")
    ap.add_argument("--crash", help="the report (regex) the --xfail entry "
                    "crash/kernel_log_clean expects first in the log")
    ap.add_argument("--rerun", help="the lab command that boots this run "
                    "again: a failed test's diagnostics end with it, "
                    "narrowed to that test")
    ap.add_argument("--rerun-whole", action="store_true",
                    help="the guest takes no ONLY= or ARGS=: a failed "
                    "test's reproduce line is --rerun as it is")
    ap.add_argument("--interactive", action="store_true",
                    help="attach the console to this terminal, no parsing")
    a = ap.parse_args()
    global RERUN
    if a.rerun and not a.rerun.endswith(" debian"):
        RERUN = a.rerun
    WHOLE[0] = a.rerun_whole

    for p in (a.kernel,) + ((a.initrd,) if a.initrd else ()) + \
            ((a.xfail,) if a.xfail else ()):
        if not os.path.exists(p):
            sys.exit(f"run-qemu: {p}: no such file")
    if a.xfail:
        load_xfail(a.xfail)
    rdinit = " rdinit=/init" if a.initrd else ""
    append = f"console={a.console} panic=-1{rdinit} {a.append}".strip()
    cmd = [a.qemu] + shlex.split(a.qemu_args) + [
        "-kernel", a.kernel] + (["-initrd", a.initrd] if a.initrd else []) + [
        "-append", append, "-no-reboot"]
    if a.interactive:
        os.execvp(a.qemu, cmd + ["-nographic"])
    cmd += ["-display", "none", "-monitor", "none", "-serial", "stdio"]

    tap = Tap(a.tap)
    name = a.name
    tap.emit(f"# {name}: booting: {shlex.join(cmd)}")
    tap.emit(f"# {name}: console log: {a.log}")
    tap.flush()

    log = open(a.log, "w", errors="replace")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    start = time.monotonic()
    buf = b""
    lines = []
    timed_out = False
    done = False
    while True:
        left = a.timeout - (time.monotonic() - start)
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([proc.stdout], [], [], min(left, 5))
        if not r:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *complete, buf = buf.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            log.write(line + "\n")
            lines.append(line)
            handle_line(line, tap, name)
            if line == "FUSELAB-DONE":
                done = True
        log.flush()
        if done:
            break
    elapsed = time.monotonic() - start
    if proc.poll() is None:
        # After FUSELAB-DONE the guest reboots (= QEMU exits); give it time.
        try:
            proc.wait(timeout=0 if timed_out else 30)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()

    finish(lines, tap, name, a, done, timed_out, elapsed)


# Tests that must fail on this kernel (--xfail): "PATTERN" or "PATTERN race"
# (the failure needs a race to be lost: a pass is inconclusive, not a lab
# failure).
XFAIL = {"file": None, "patterns": []}


def load_xfail(path):
    XFAIL["file"] = os.path.basename(path)
    with open(path) as f:
        for l in f:
            words = l.split()
            if not words or words[0].startswith("#"):
                continue
            if len(words) > 2 or words[1:] not in ([], ["race"]):
                sys.exit(f"run-qemu: {path}: not 'PATTERN [race]': {l.strip()}")
            XFAIL["patterns"].append((words[0], words[1:] == ["race"]))


def xfail_for(test):
    """(the --xfail entry that names @test, whether it is a race), or
    (None, False)."""
    return next(((f"{XFAIL['file']}: {p}", race)
                 for p, race in XFAIL["patterns"]
                 if fnmatch.fnmatchcase(test, p)), (None, False))


# Per-suite parsing state, module level for brevity.
cur = {"suite": None, "diag": [], "plan": None, "results": 0, "failed": 0}
seen = {}


def handle_line(line, tap, name):
    m = re.match(r"^FUSELAB-TAP-BEGIN (\S+)$", line)
    if m:
        cur.update(suite=m.group(1), diag=[], plan=None, results=0, failed=0)
        tap.emit(f"# {name}: running {m.group(1)}")
        tap.flush()
        return
    m = re.match(r"^FUSELAB-TAP-END (\S+) rc=(\d+)$", line)
    if m and cur["suite"]:
        seen[cur["suite"]] = (int(m.group(2)), cur["plan"], cur["results"],
                              cur["failed"])
        cur["suite"] = None
        return
    if not cur["suite"]:
        return
    m = PLAN.match(line)
    if m and cur["plan"] is None:
        cur["plan"] = int(m.group(1))
        return
    m = RESULT.match(line)
    if m:
        ok = m.group(1) == "ok"
        skip = m.group(4) or "skipped" if m.group(3) == "SKIP" else None
        test = m.group(2).strip()
        xfail, race = xfail_for(f"{cur['suite']}/{test}")
        diag = cur["diag"][-30:] if not ok or xfail else \
            [d for d in cur["diag"] if "measured:" in d]
        if not ok and not xfail and RERUN:
            diag.append(f"reproduce: {RERUN}" if WHOLE[0] else
                        f"reproduce: ONLY={cur['suite']} ARGS=-r,{test} {RERUN}")
        tap.result(ok, f"{name}/{cur['suite']}/{test}", diag, skip, xfail,
                   race)
        cur["results"] += 1
        cur["failed"] += not ok
        cur["diag"] = []
        return
    if line.startswith("#"):
        cur["diag"].append(line.lstrip("# ").rstrip())


def finish(lines, tap, name, a, done, timed_out, elapsed):
    tail = lines[-15:]
    if done:
        tap.result(True, f"{name}/boot_and_run_to_completion")
    else:
        why = (f"timed out after {a.timeout} s" if timed_out else
               "QEMU exited before FUSELAB-DONE")
        tap.result(False, f"{name}/boot_and_run_to_completion",
                   [why, "last console lines:"] + tail +
                   [f"full log: {a.log}"])

    for s in a.suites.split():
        rc, plan, results, failed = seen.get(s, (None, None, 0, 0))
        diag = []
        if rc is None:
            diag.append(f"suite {s} never reported")
        else:
            if plan is None or results != plan:
                diag.append(f"plan {plan}, {results} results")
            # the kselftest harness exits 1 when one of its tests failed
            if rc != (1 if failed else 0):
                diag.append(f"exit code {rc} with {failed} failed tests")
        tap.result(not diag, f"{name}/{s}/suite_complete", diag)

    bad = []
    in_dmesg = False
    have_dmesg = False
    for l in lines:
        if l == "FUSELAB-DMESG-BEGIN":
            in_dmesg = have_dmesg = True
            continue
        if l == "FUSELAB-DMESG-END":
            in_dmesg = False
            continue
        # Live console lines carry a timestamp: scan those too (a hang
        # leaves no dmesg dump).
        if in_dmesg or l.startswith("["):
            for rx, what in BAD_DMESG:
                if rx.search(l):
                    bad.append(f"{what}: {l}")
                    break
    diag = sorted(set(bad))[:40]
    dump = lines[lines.index("FUSELAB-DMESG-BEGIN") + 1:] if have_dmesg else []
    if dump and not dump[0].startswith("[    0.000000]"):
        # The ring buffer wrapped: early messages are lost, so is the proof.
        bad.append("kernel log wrapped before the dump (raise LOG_BUF_SHIFT)")
        diag.append(bad[-1])
    if not have_dmesg:
        diag.append("no dmesg dump (guest did not finish); live console "
                    "lines were scanned")
    ok = not bad and have_dmesg
    xfail = xfail_for("crash/kernel_log_clean")[0] if a.crash else None
    if xfail and not ok:
        # this kernel must fail here, and with the expected BUG first
        first = bad[0] if bad else "none"
        diag.insert(0, f"first report: {first}")
        if not re.search(a.crash, first):
            diag.insert(1, f"expected first: /{a.crash}/")
            xfail = None
    tap.result(ok, f"{name}/kernel_log_clean", diag, None, xfail)
    if a.alias_log:
        window_results(lines, tap, name, a.alias_log, ALIAS)
    if a.cache_log:
        window_results(lines, tap, name, a.cache_log, CACHE)
    if a.sites:
        sanitizer_results(lines, tap, name, a)
    tap.emit(f"# {name}: {elapsed:.0f} s in QEMU")
    tap.close()


WINDOW = re.compile(r"^window (\S+) expect=(\S+) (.*)$")
CLASSES = ("k2u", "u2k", "k2k", "u2u")


def alias_verdict(expect, f):
    """None if the counts @f meet the rule @expect, else why not."""
    if expect == "nonzero":
        return None if int(f["cross"]) else "expected some, saw none"
    if expect == "zero":
        classes = CLASSES
    elif expect.startswith("zero:"):
        classes = expect[5:].split(",")
    else:
        return f"unknown rule '{expect}'"
    bad = [f"{c} {f[c]}" for c in classes if c not in f or int(f[c])]
    return f"expected none of {','.join(classes)}: {', '.join(bad)}" if bad \
        else None


def alias_diag(f, expect):
    return [f"measured: cross-alias loads {f['cross']} (kernel->user {f['k2u']}, "
            f"user->kernel {f['u2k']}, kernel->kernel {f['k2k']}, "
            f"user->user {f['u2u']}) of {f['loads']} loads, "
            f"{f['stores']} stores on {f['pages']} tagged pages, rule {expect}; "
            f"{f['unresolved']} accesses without a physical address"] + \
        ([f"first: stored via {f['first']}"] if "first" in f else [])


def cache_verdict(expect, f):
    """None if the stale loads in @f meet the cache rule @expect."""
    stale = int(f["stale_hit"]) + int(f["stale_fill"])
    if expect == "zero":
        return f"{stale} loads would return stale data" if stale else None
    if expect == "nonzero":
        return None if stale else "expected stale loads, saw none"
    return f"unknown rule '{expect}'"


def cache_diag(f, expect):
    return [f"measured: stale loads {f['stale_hit']} hits + {f['stale_fill']} "
            f"fills of {f['loads']} loads on {f['pages']} tagged pages, "
            f"rule {expect}; {f['cacheops']} CP15 c7 operations; every page: "
            f"{f['all_stale_hit']} + {f['all_stale_fill']}; "
            f"{f['unresolved']} accesses without a physical address"]


# What each plugin's window lines mean: its rule is the window's expect=
# before the "/" (alias) or after it (cache, "zero" if none).
ALIAS = {"kind": "alias", "rule": lambda e: e.split("/")[0],
         "verdict": alias_verdict, "diag": alias_diag}
CACHE = {"kind": "cache",
         "rule": lambda e: e.split("/")[1] if "/" in e else "zero",
         "verdict": cache_verdict, "diag": cache_diag}


def sanitizer_results(lines, tap, name, a):
    """The sanitizer's verdicts on the boot's sites (test/sanitize.py)."""
    flavour, smap, suite_dir, nm, expect = a.sanitize.split(",")
    args = types.SimpleNamespace(sites=a.sites, map=smap, console=a.log,
                                 suite_dir=None if suite_dir == "-" else suite_dir,
                                 nm=nm, json=a.sites + ".json")
    try:
        with contextlib.redirect_stdout(io.StringIO()) as text:
            data = sanitize.report(args)
        opened = [m.group(1) for l in lines
                  if (m := re.search(r"alias window opened: (\S+)", l))]
        verdicts = sanitize.judge(
            data, flavour, expect=None if expect == "-" else sanitize.EXPECT,
            opened=opened)
    except (SystemExit, Exception) as e:
        tap.result(False, f"{name}/sanitizer/report",
                   [f"{type(e).__name__}: {e}",
                    f"reproduce: python3 test/sanitize.py report {a.sites} "
                    f"--map {smap} --console {a.log} --suite-dir {suite_dir} "
                    f"--nm {nm} --json {args.json}"])
        return
    tap.emit(f"# {name}: sanitizer: {len(data['reports'])} reports, "
             f"{args.json}")
    for l in text.getvalue().splitlines()[:40]:
        tap.emit(f"# {l}")
    judge = (f"reproduce: python3 test/sanitize.py judge {args.json} "
             f"--flavour {flavour} --console {a.log}"
             + (" --expect -" if expect == "-" else ""))
    for ok, test, diag, skip in verdicts:
        tap.result(ok, f"{name}/{test}", diag + ([] if ok else [judge]), skip)


def window_results(lines, tap, name, path, how):
    """One TAP line per window the guest opened, judged on a plugin's log.

    A window the guest announced on its console ("alias window opened: N")
    but the plugin never reported fails, and so does one that watched no
    page: either would be a check that checked nothing."""
    kind = how["kind"]
    opened = []
    for l in lines:
        m = re.search(r"alias window opened: (\S+)", l)
        if m:
            opened.append(m.group(1))
    try:
        with open(path, errors="replace") as f:
            log = f.read().splitlines()
    except OSError as e:
        tap.result(False, f"{name}/{kind}/plugin_log", [str(e)])
        return
    reported, errors = set(), []
    for l in log:
        if l.startswith("error:"):
            errors.append(l)
            continue
        m = WINDOW.match(l)
        if not m:
            continue
        win, expect = m.group(1), how["rule"](m.group(2))
        f = dict(kv.split("=", 1) for kv in m.group(3).split())
        diag = how["diag"](f, expect)
        why = how["verdict"](expect, f)
        if int(f["unresolved"]):
            why = "QEMU gave no physical address for some accesses: " \
                "the counts are incomplete"
        if int(f["pages"]) == 0:
            why = "no page was tagged: the window watched nothing"
        if why:
            diag.append(why)
        test = f"{kind}/{win}"
        tap.result(why is None, f"{name}/{test}", diag, None,
                   *xfail_for(test))
        reported.add(win)
    tap.result(not errors, f"{name}/{kind}/plugin_log_clean",
               errors[:20] + ([f"plugin log: {path}"] if errors else []))
    missing = [w for w in opened if w not in reported]
    if not opened:
        missing = ["(the guest opened no window)"]
    tap.result(not missing, f"{name}/{kind}/every_window_reported",
               [f"no report for: {w}" for w in missing[:20]] +
               ([f"plugin log: {path}"] if missing else []))


if __name__ == "__main__":
    main()
