#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The alias sanitizer's reports: the sites the cache model
(test/qemu-plugins/cache926.c, argument sites=FILE) wrote for a whole boot,
symbolized, deduplicated and judged.

  sanitize.py report SITES --map System.map [--console LOG] [--suite-dir D]
                     [--nm NM] [--json OUT]
      prints one line per report, most frequent first, and writes them as
      JSON: {"run": {...}, "reports": [...]}
  sanitize.py judge JSON --flavour stock|patched [--triage T] [--expect E]
      the verdicts run-qemu.py writes into a cache boot's TAP, as text

A site is a (kind, reader instruction, writer instruction, window): the
load that returned stale data and the store that wrote the data it
missed; for a clobber, the write-back and the store whose old line it
wrote; for a loss, the invalidation and the store it dropped. A report
merges the sites whose two instructions are in the same functions, with
the same first caller each, in the same window. Kernel addresses are looked up in System.map and in the
module symbols the guest printed (FUSELAB-KSYMS); user addresses, within a
window of the suite, in that suite binary's symbols, else "user".

What is judged (docs/sanitizer.md):
  - the model saw everything it models (no unknown CP15 c7 operation, no
    access without a physical address);
  - each micro-check of test/expect/sanitizer.tsv: a window that breaks a
    rule has a report at its site, a window that follows one has none;
  - every report matches a row of docs/sanitizer/triage.tsv;
  - on patched, no report matches a row the series fixes.
"""
import argparse
import bisect
import fnmatch
import json
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIAGE = os.path.join(TOP, "docs", "sanitizer", "triage.tsv")
EXPECT = os.path.join(TOP, "test", "expect", "sanitizer.tsv")
CROSSCHECK = os.path.join(TOP, "docs", "sanitizer", "crosscheck.tsv")
KINDS = ("stale_hit", "stale_fill", "clobber", "lost", "remap")
STACK_DEPTH = 6


class Symbols:
    """Address -> (name, offset) over sorted (address, name) pairs, no
    further than @reach past the last one."""

    def __init__(self, pairs, reach=1 << 16):
        pairs = sorted(pairs)
        self.addr = [a for a, _ in pairs]
        self.name = [n for _, n in pairs]
        self.reach = reach

    def lookup(self, a):
        i = bisect.bisect_right(self.addr, a) - 1
        if i < 0 or (i == len(self.addr) - 1 and a - self.addr[i] >= self.reach):
            return None
        return self.name[i], a - self.addr[i]


def text_pairs(lines):
    """(address, name) of the text symbols of System.map or nm lines."""
    for l in lines:
        f = l.split()
        if len(f) >= 3 and f[1] in "TtWw" and re.fullmatch(r"[0-9a-f]+", f[0]):
            yield int(f[0], 16), f[2]


def kernel_symbols(system_map, console):
    """The kernel's text (System.map, _stext.._etext and the init text)
    and the modules' (FUSELAB-KSYMS lines of the console log)."""
    with open(system_map) as f:
        pairs = list(text_pairs(f))
    ends = {n: a for a, n in pairs if n in ("_stext", "_etext",
                                            "_sinittext", "_einittext")}
    if len(ends) != 4:
        raise SystemExit(f"sanitize: {system_map}: no _stext, _etext, "
                         "_sinittext or _einittext: not a System.map")
    mods = []
    if console:
        with open(console, errors="replace") as f:
            inside = False
            for l in f:
                l = l.strip()
                if l == "FUSELAB-KSYMS-BEGIN":
                    inside = True
                elif l == "FUSELAB-KSYMS-END":
                    inside = False
                elif inside:
                    m = re.match(r"([0-9a-f]{8}) [tTwW] (\S+)\s+\[(\S+)\]", l)
                    if m:
                        mods.append((int(m.group(1), 16),
                                     (m.group(2), m.group(3))))
    return Symbols(pairs), Symbols(mods), \
        ((ends["_stext"], ends["_etext"]), (ends["_sinittext"], ends["_einittext"]))


def user_symbols(suite_dir, nm, suite, cache={}):
    """The text symbols of suite binary @suite, or None."""
    if not suite_dir or not suite:
        return None
    if suite not in cache:
        path = os.path.join(suite_dir, suite)
        cache[suite] = None
        if os.path.isfile(path):
            out = subprocess.run([nm, path], capture_output=True, text=True)
            if out.returncode == 0:
                cache[suite] = Symbols(text_pairs(out.stdout.splitlines()))
    return cache[suite]


def parse_sites(path):
    run, sites, windows, complete = {}, [], [], False
    with open(path) as f:
        for l in f:
            kind, _, rest = l.strip().partition(" ")
            if kind == "run":
                run = dict(kv.split("=", 1) for kv in rest.split())
            elif kind == "site":
                s = dict(kv.split("=", 1) for kv in rest.split())
                sites.append(s)
            elif kind == "window":
                windows.append(rest)
            elif kind == "end":
                complete = True
                n = dict(kv.split("=", 1) for kv in rest.split()).get("sites")
                if n is not None and int(n) != len(sites):
                    raise SystemExit(f"sanitize: {path}: {len(sites)} site "
                                     f"lines, the plugin wrote {n}")
    if not complete:
        raise SystemExit(f"sanitize: {path}: no 'end' line: QEMU did not "
                         "exit cleanly, the report is incomplete")
    return run, sites, windows


class Namer:
    def __init__(self, a):
        self.split = None
        self.ksyms, self.msyms, self.text = kernel_symbols(a.map, a.console)
        self.suite_dir, self.nm = a.suite_dir, a.nm
        if not self.msyms.addr and a.console is None:
            print("sanitize: no --console: module addresses stay bare",
                  file=sys.stderr)

    def kernel(self, addr):
        """symbol, offset of kernel text address @addr, or None"""
        if addr < self.text[0][0]:
            # below the kernel: the modules
            return self.msyms.lookup(addr)
        if any(lo <= addr < hi for lo, hi in self.text):
            return self.ksyms.lookup(addr)
        return None

    def __call__(self, addr, window):
        if addr >= self.split:
            hit = self.kernel(addr)
            if not hit:
                return f"kernel:{addr:#x}"
            if isinstance(hit[0], tuple):
                return f"{hit[0][0]}+{hit[1]:#x} [{hit[0][1]}]"
            return f"{hit[0]}+{hit[1]:#x}"
        suite = window.split("/")[0] if window != "-" else None
        syms = user_symbols(self.suite_dir, self.nm, suite)
        hit = syms.lookup(addr) if syms else None
        return f"user:{hit[0]}+{hit[1]:#x}" if hit else "user"

    def frames(self, words, window, own):
        """The kernel text addresses of stack @words (hex, comma-separated)
        not in function @own: return addresses, probably, as in an oops's
        '?' lines."""
        out = []
        for w in filter(None, words.split(",")):
            a = int(w, 16)
            # ARM code: return addresses are word-aligned
            if a >= self.split and a % 4 == 0 and self.kernel(a):
                n = self(a, window)
                if func(n) != func(own) and n not in out:
                    out.append(n)
            if len(out) == STACK_DEPTH:
                break
        return out


def func(site):
    """The function of "name+0xoff" (the module tag kept)."""
    return re.sub(r"\+0x[0-9a-f]+", "", site)


def report(a):
    run, sites, windows = parse_sites(a.sites)
    name = Namer(a)
    name.split = int(run.get("split", "bf000000"), 16)
    if "text" in run and run["text"] != "%x-%x" % name.text[0]:
        raise SystemExit(f"sanitize: {a.map} is not the System.map of the "
                         f"kernel that ran (its text: {'%x-%x' % name.text[0]}, "
                         f"the run's: {run['text']})")
    merged = {}
    for s in sites:
        win = s["window"]
        rpc, wpc = int(s["rpc"], 16), int(s["wpc"], 16)
        reader, writer = name(rpc, win), name(wpc, win) if wpc else "none"
        wstack = name.frames(s.get("wstack", ""), win, writer)
        rstack = name.frames(s["stack"], win, reader)
        # a report: the functions of the load and of the store, and who
        # called each (the first frame); the offsets of its first site
        key = (s["kind"], func(reader), func(writer),
               tuple(map(func, rstack[:1])), tuple(map(func, wstack[:1])), win)
        r = merged.get(key)
        if r is None:
            r = merged[key] = {
                "kind": s["kind"], "count": 0, "reader": reader,
                "writer": writer, "window": win,
                "stack": rstack,
                "wstack": wstack, "sites": 0,
                "pa": s["pa"], "rva": s["rva"], "wva": s["wva"],
            }
        r["count"] += int(s["count"])
        r["sites"] += 1
    reports = sorted(merged.values(), key=lambda r: (-r["count"], r["kind"],
                                                     r["reader"], r["writer"]))
    out = {"run": run, "windows": windows, "reports": reports}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    for r in reports:
        print(render(r))
    return out


def render(r):
    def chain(frames):
        return f" [< {' < '.join(frames)}]" if frames else ""
    win = f" in {r['window']}" if r["window"] != "-" else ""
    sites = f" ({r['sites']} sites)" if r.get("sites", 1) > 1 else ""
    verb = {"clobber": "wrote back, over newer data, the line of the store of",
            "lost": "dropped, unwritten, the store of"}.get(r["kind"],
                                                          "missed the store of")
    return (f"{r['kind']} x{r['count']}{sites}: {r['reader']}{chain(r['stack'])} "
            f"{verb} {r['writer']}{chain(r.get('wstack', []))} "
            f"(va {r['rva']} vs {r['wva']}, pa {r['pa']}){win}")


def read_tsv(path, width):
    rows = []
    with open(path) as f:
        for n, l in enumerate(f, 1):
            if not l.strip() or l.startswith("#"):
                continue
            c = l.rstrip("\n").split("\t")
            if len(c) != width:
                raise SystemExit(f"sanitize: {path}:{n}: {len(c)} columns, "
                                 f"not {width}")
            rows.append(c)
    return rows


def glob(pattern):
    """@pattern with "*" and "?" as wildcards and "[" as itself, so that
    a module's "<function> [<module>]" is written as the report writes it"""
    return pattern.replace("[", "[[]")


def matches(r, kind, reader, writer, via="*"):
    """Does report @r match these globs? @via: a function on either
    stack ("*": any report, even one without stacks)."""
    kind, reader, writer, via = map(glob, (kind, reader, writer, via))
    frames = [func(f) for f in r["stack"] + r.get("wstack", [])]
    return (fnmatch.fnmatchcase(r["kind"], kind) and
            fnmatch.fnmatchcase(func(r["reader"]), reader) and
            fnmatch.fnmatchcase(func(r["writer"]), writer) and
            (via == "*" or any(fnmatch.fnmatchcase(f, via) for f in frames)))


def triage_of(r, rows):
    for row in rows:
        if matches(r, *row[:4]):
            return row
    return None


def judge(data, flavour, triage=TRIAGE, expect=EXPECT, opened=None):
    """[(ok, test name, diag lines, skip reason)] for a run's @data;
    @opened: the windows the guest says it opened (None: unknown), so
    that a micro-check whose test did not run is skipped, not failed."""
    out = []
    run, reports = data["run"], data["reports"]
    blind = [f"{k}={run.get(k)}" for k in ("unknown_cp15_c7_ops", "unresolved",
                                           "stacks_dropped")
             if run.get(k) != "0"]
    out.append((not blind, "sanitizer/model_saw_everything",
                [f"the model missed what it needs: {', '.join(blind)}"]
                if blind else []))
    for win, fl, want, kind, reader, writer in \
            (read_tsv(expect, 6) if expect else []):
        if not fnmatch.fnmatchcase(flavour, fl):
            continue
        mine = [r for r in reports if r["window"] == win]
        if win not in data.get("windows", []):
            if opened is not None and win not in opened:
                out.append((True, f"sanitizer/{win}", [],
                            "its test did not run in this boot"))
            else:
                out.append((False, f"sanitizer/{win}",
                            ["the model never saw the window open"]))
            continue
        if want == "none":
            ok, diag = not mine, [render(r) for r in mine[:10]]
        else:
            hit = [r for r in mine if matches(r, kind, reader, writer)]
            ok = bool(hit)
            diag = [] if ok else \
                [f"expected a {kind} report: {reader} missing {writer}'s store"] + \
                [f"saw: {render(r)}" for r in mine[:10]]
        out.append((ok, f"sanitizer/{win}", diag))
    rows = read_tsv(triage, 7)
    with open(os.path.join(TOP, "series")) as f:
        series = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    unknown = sorted({t[5] for t in rows if t[5] != "-" and t[5] not in series})
    out.append((not unknown, "sanitizer/triage_names_patches_of_the_series",
                [f"not in series: {p}" for p in unknown]))
    untriaged = [r for r in reports if triage_of(r, rows) is None]
    out.append((not untriaged, "sanitizer/every_report_triaged",
                [f"untriaged: {render(r)}" for r in untriaged[:20]] +
                ([f"add a row to {os.path.relpath(triage, TOP)}"]
                 if untriaged else [])))
    if flavour == "patched":
        back = [(r, t) for r in reports if (t := triage_of(r, rows))
                and t[5] != "-"]
        out.append((not back, "sanitizer/fixed_sites_gone",
                    [f"{t[5]} fixes it, yet: {render(r)}" for r, t in back[:20]]))
    return [t + (None,) * (4 - len(t)) for t in out]


def md_cell(text):
    return str(text).replace("|", "\\|")


def render_md(runs, rows, cross):
    """docs/sanitizer/reports.md from @runs: [(name, flavour, data)] and
    the cross-check's rows @cross."""
    out = ["<!-- generated by test/sanitize.py render from make sanitize's "
           "runs (docs/sanitizer/reports.json); do not edit -->",
           "# The sanitizer's reports", "",
           "Each report is one (kind, reader, writer) of a whole boot under "
           "the ARM926 model, judged by the first matching row of "
           "[triage.tsv](triage.tsv). How to read them: "
           "[../sanitizer.md](../sanitizer.md).", ""]
    out += ["| run | flavour | loads | stale hits | stale fills | clobbers "
            "| lost | remaps | reports | true | consequence | false "
            "| untriaged |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: | ---: |"]
    for name, flavour, d in runs:
        run = d["run"]
        verdicts = [t[4] if (t := triage_of(r, rows)) else "untriaged"
                    for r in d["reports"]]
        loads = int(run["load_hit"]) + int(run["load_miss"])
        out.append(f"| {name} | {flavour} | {loads} | {run['stale_hit']} | "
                   f"{run['stale_fill']} | {run['clobber']} | {run['lost']} | "
                   f"{run['remap']} | {len(d['reports'])} | "
                   f"{verdicts.count('true')} | {verdicts.count('consequence')} "
                   f"| {verdicts.count('false')} | {verdicts.count('untriaged')} |")
    out += ["", "## The sanitizer against the audit", "",
            "From [crosscheck.tsv](crosscheck.tsv).", "",
            "| finding | site | from | reached by | model | script "
            "| what was done, or why not |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in cross]
    for name, flavour, d in runs:
        out += ["", f"## {name} ({flavour})", ""]
        if not d["reports"]:
            out.append("No report.")
            continue
        out += ["| kind | count | reader | writer | window | verdict "
                "| fixed by |", "| --- | ---: | --- | --- | --- | --- | --- |"]
        for r in d["reports"]:
            t = triage_of(r, rows)
            rs = " < ".join([r["reader"]] + r["stack"][:3])
            ws = " < ".join([r["writer"]] + r.get("wstack", [])[:3])
            out.append(f"| {r['kind']} | {r['count']} | `{md_cell(rs)}` | "
                       f"`{md_cell(ws)}` | {md_cell(r['window'])} | "
                       f"{t[4] if t else 'untriaged'} | "
                       f"{t[5].split('-')[0] if t and t[5] != '-' else '-'} |")
    return "\n".join(out) + "\n"


def render_docs(a):
    rows = read_tsv(a.triage, 7)
    cross = read_tsv(CROSSCHECK, 7)
    runs = []
    for spec in a.runs:
        name, flavour, path = spec.split(":", 2)
        runs.append((name, flavour, load_report(path)))
    text = render_md(runs, rows, cross)
    os.makedirs(a.out, exist_ok=True)
    for name, body in (("reports.json", json.dumps(
            [{"run": n, "flavour": fl, **d} for n, fl, d in runs],
            indent=1) + "\n"), ("reports.md", text)):
        with open(os.path.join(a.out, name + ".tmp"), "w") as f:
            f.write(body)
        os.replace(os.path.join(a.out, name + ".tmp"), os.path.join(a.out, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report", help="symbolize and merge a run's sites")
    p.add_argument("sites")
    p.add_argument("--map", required=True, help="the kernel's System.map")
    p.add_argument("--console", help="the boot's console log: the modules' "
                   "symbols (without it, module addresses stay bare)")
    p.add_argument("--suite-dir", help="the suite's binaries: user symbols "
                   "in the suite's windows (without it, user addresses are "
                   "'user' and the micro-checks cannot match)")
    p.add_argument("--nm", default="nm")
    p.add_argument("--json", help="write the reports here")
    p = sub.add_parser("render", help="docs/sanitizer/reports.{json,md} "
                       "from runs given as NAME:FLAVOUR:JSON")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default=os.path.join(TOP, "docs", "sanitizer"))
    p.add_argument("--triage", default=TRIAGE)
    p = sub.add_parser("judge", help="the verdicts on a report's JSON")
    p.add_argument("json")
    p.add_argument("--flavour", required=True, choices=("stock", "patched"))
    p.add_argument("--triage", default=TRIAGE)
    p.add_argument("--expect", default=EXPECT, help="the micro-checks; "
                   "'-': none (a run without the suite's windows)")
    p.add_argument("--console", help="the boot's console log: a micro-check "
                   "whose test did not run there is skipped, not failed")
    a = ap.parse_args()
    if getattr(a, "expect", None) == "-":
        a.expect = None
    if a.cmd == "render":
        bad = [r for r in a.runs if r.count(":") < 2 or
               r.split(":")[1] not in ("stock", "patched")]
        if bad:
            sys.exit(f"sanitize: render: '{bad[0]}': give each run as "
                     "NAME:stock|patched:JSON")
    files = {"report": lambda: (a.sites, a.map, a.console),
             "judge": lambda: (a.json, a.triage, a.expect, a.console),
             "render": lambda: [r.split(":", 2)[-1] for r in a.runs] +
             [a.triage]}[a.cmd]()
    for f in files:
        if f and not os.path.isfile(f):
            sys.exit(f"sanitize: {f}: no such file")
    try:
        run_cmd(a)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        # a malformed input: say which, not where in this script
        sys.exit(f"sanitize: {a.cmd}: {type(e).__name__}: {e} "
                 "(is each file what it should be?)")


def load_report(path):
    """A report's JSON, as report writes it, or SystemExit."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or not {"run", "reports"} <= data.keys():
        raise SystemExit(f"sanitize: {path}: not a report of "
                         "test/sanitize.py report")
    return data


def opened_windows(console):
    """The windows the guest says it opened (fl_plugin.c), or None."""
    if not console:
        return None
    with open(console, errors="replace") as f:
        return [m.group(1) for l in f
                if (m := re.search(r"alias window opened: (\S+)", l))]


def run_cmd(a):
    if a.cmd == "report":
        report(a)
        return
    if a.cmd == "render":
        render_docs(a)
        return
    data = load_report(a.json)
    bad = 0
    for ok, name, diag, skip in judge(data, a.flavour, a.triage, a.expect,
                                      opened_windows(a.console)):
        bad += not ok
        print(f"{'ok' if ok else 'not ok'} {name}" + (f" # SKIP {skip}" if skip else ""))
        for d in diag:
            print(f"  # {d}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
