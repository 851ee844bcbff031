#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the console logs of `make bench` into docs/perf.md, its data and plots.

Each log is one boot, named <arch>-<flavour>-<kind>-r<round>.log (kind:
"icount", where the guest's nanosecond is one instruction, "wall", or
"cache": -icount under the ARM926 cache model, whose window lines are in
<arch>-<flavour>-cache-r<round>.windows beside the log), and holds the
BENCH lines of test/suite/fuse_bench.c and test/suite/ubench.c. Figures
are medians over the rounds; ratios are patched/stock of those medians,
or a mode over copy_{to,from}_user. The cache boots' counts, weighed with
test/arm926-timing.json, are modeled ARM926 cycles.

    test/bench.py --out docs build/bench/*.log
    test/bench.py --out docs --from-tsv docs/perf/bench.tsv

writes docs/perf/bench.tsv (every figure of every boot), docs/perf/cache.tsv
(the cache model's counts of every point of every cache boot),
docs/perf/cycles.json (the modeled cycles), docs/perf/summary.json
(the headline figures, which the cover letter of make mail quotes),
docs/perf/*.png (gnuplot) and docs/perf.md, rendered from them; exits
non-zero if a boot is missing figures.  --from-tsv renders all of it again
from an earlier run's bench.tsv (and the cache.tsv beside it) instead of
console logs.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict

NAME = re.compile(r"^(?P<arch>[^-]+)-(?P<flavour>stock|patched)-"
                  r"(?P<kind>icount|wall|cache)-r(?P<round>\d+)\.log$")
BENCH = re.compile(r"BENCH (fuse|ubench) (.*)$")
WINDOW = re.compile(r"^window (fuse|ubench)/(\S+) (.*)$")
COUNTS = ["load_hit", "load_miss", "store_hit", "store_miss", "wb_halves",
          "line_ops", "cache_ops"]
CACHE_COLS = ["arch", "flavour", "round", "bench", "dir", "variant", "size",
              "bytes", "instructions"] + COUNTS + ["dsize"]
DSIZE = re.compile(r"^cache926: VIVT D-cache (\d+) bytes")
TIMING = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "arm926-timing.json")
SIZES = [4096, 16384, 65536, 262144, 1048576]
USIZES = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576]
SERVERS = ["t1", "t2", "vec"]
MODES = ["user", "gup", "kthread", "iter"]
MODE_TEXT = {"user": "(a) copy_*_user", "gup": "(b) GUP + kmap",
             "kthread": "(c) kthread_use_mm", "iter": "(d) copy_*_iter"}


def size_text(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else \
        f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def parse_windows(path):
    """{(bench, dir, variant, size): {count: n}} of a cache boot's window
    lines (test/qemu-plugins/cache926.c), and the error lines it holds."""
    wins, errors, dsize = {}, [], 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("error:"):
                errors.append(line)
            d = DSIZE.match(line)
            if d:
                dsize = int(d.group(1))
            m = WINDOW.match(line)
            if not m:
                continue
            parts = m.group(2).split("/")
            kv = dict(x.split("=", 1) for x in m.group(3).split() if "=" in x)
            wins[(m.group(1), parts[0], "/".join(parts[1:-1]), int(parts[-1]))] = \
                {c: int(kv[c]) for c in COUNTS if c in kv}
    return wins, errors, dsize


def parse(paths):
    """{key: [value per round]} for fuse and ubench figures (ns per byte),
    the rows of bench.tsv, the cache boots' rows of cache.tsv and the
    problems found."""
    fuse = defaultdict(list)
    ub = defaultdict(list)
    rows, cache_rows = [], []
    problems = []
    for p in sorted(paths):
        m = NAME.match(os.path.basename(p))
        if not m:
            sys.exit(f"bench.py: {p}: not a bench log name")
        g = m.groupdict()
        nf = nu = 0
        points = {}     # of a cache boot: (bench, dir, variant, size) -> (bytes, instructions)
        with open(p, errors="replace") as f:
            for line in f:
                b = BENCH.search(line.rstrip("\r\n"))
                if not b:
                    continue
                kv = dict(x.split("=", 1) for x in b.group(2).split())
                if b.group(1) == "fuse":
                    v = int(kv["ns"]) / int(kv["bytes"])
                    key = (g["arch"], g["kind"], g["flavour"], kv["dir"],
                           kv["io"], kv["server"], int(kv["size"]))
                    fuse[key].append(v)
                    nf += 1
                    rows.append((g["arch"], g["flavour"], g["kind"], g["round"],
                                 "fuse", kv["dir"], f"{kv['io']}/{kv['server']}",
                                 kv["size"], f"{v:.6f}", kv["requests"],
                                 kv["max_request"]))
                    points[("fuse", kv["dir"], f"{kv['io']}/{kv['server']}",
                            int(kv["size"]))] = (int(kv["bytes"]), int(kv["ns"]))
                else:
                    v = float(kv["ns_per_byte"])
                    key = (g["arch"], g["kind"], g["flavour"], kv["dir"],
                           kv["mode"], int(kv["size"]))
                    ub[key].append(v)
                    nu += 1
                    rows.append((g["arch"], g["flavour"], g["kind"], g["round"],
                                 "ubench", kv["dir"], kv["mode"], kv["size"],
                                 f"{v:.6f}", "", ""))
                    n = int(kv["calls"]) * int(kv["size"])
                    points[("ubench", kv["dir"], kv["mode"], int(kv["size"]))] = \
                        (n, round(v * n))
        want_f = 2 * 2 * len(SERVERS) * len(SIZES)
        want_u = 2 * len(MODES) * len(USIZES)
        if nf != want_f or nu != want_u:
            problems.append(f"{p}: {nf} of {want_f} fuse and {nu} of {want_u} "
                            "ubench figures")
        if g["kind"] != "cache":
            continue
        wpath = p[:-len(".log")] + ".windows"
        if not os.path.exists(wpath):
            problems.append(f"{p}: no {os.path.basename(wpath)} (the cache model's log)")
            continue
        wins, errors, dsize = parse_windows(wpath)
        problems += [f"{wpath}: {e}" for e in errors]
        missing = 0
        for k, (nbytes, instr) in sorted(points.items()):
            w = wins.get(k)
            if not w or len(w) != len(COUNTS):
                missing += 1
                continue
            cache_rows.append((g["arch"], g["flavour"], g["round"]) + k +
                              (nbytes, instr) + tuple(w[c] for c in COUNTS) + (dsize,))
        if missing:
            problems.append(f"{wpath}: {missing} of {len(points)} points without "
                            "a window of counts")
    return fuse, ub, rows, cache_rows, problems


def parse_tsv(path):
    """parse()'s result from the rows of a bench.tsv (and the cache.tsv
    beside it), and the boots it holds as (arch, flavour, kind, round)."""
    fuse = defaultdict(list)
    ub = defaultdict(list)
    rows, boots = [], defaultdict(lambda: [0, 0])
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            r = tuple(line.rstrip("\n").split("\t"))
            arch, flavour, kind, rnd, bench, d, variant, size, v = r[:9]
            boot = (arch, flavour, kind, rnd)
            if bench == "fuse":
                io, server = variant.split("/")
                fuse[(arch, kind, flavour, d, io, server, int(size))].append(float(v))
                boots[boot][0] += 1
            else:
                ub[(arch, kind, flavour, d, variant, int(size))].append(float(v))
                boots[boot][1] += 1
            rows.append(r)
    want_f = 2 * 2 * len(SERVERS) * len(SIZES)
    want_u = 2 * len(MODES) * len(USIZES)
    problems = [f"{'-'.join(b)}: {nf} of {want_f} fuse and {nu} of {want_u} ubench figures"
                for b, (nf, nu) in sorted(boots.items()) if nf != want_f or nu != want_u]
    cache_rows = []
    ctsv = os.path.join(os.path.dirname(path), "cache.tsv")
    if os.path.exists(ctsv):
        with open(ctsv) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                r = line.rstrip("\n").split("\t")
                cache_rows.append(tuple(r[:6]) + tuple(int(x) for x in r[6:]))
    return fuse, ub, rows, cache_rows, problems, sorted(boots)


def made_line(path):
    """The "# made ..." line of a TSV bench.py wrote, without "# ", or None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            if line.startswith("# made "):
                return line[2:].strip()
            if not line.startswith("#"):
                return None
    return None


def med(d, key):
    v = d.get(key)
    return statistics.median(v) if v else None


def spread(d, kind):
    """(largest (max - min) / median over the rounds of one figure, its key,
    how many figures are within 0.1 %, how many figures)."""
    worst, which, close, n = 0.0, None, 0, 0
    for k, v in d.items():
        if k[1] != kind or len(v) < 2 or not statistics.median(v):
            continue
        x = (max(v) - min(v)) / statistics.median(v)
        n += 1
        close += x <= 0.001
        if x > worst:
            worst, which = x, k
    return worst, which, close, n


def spread_text(d, kind, what):
    worst, which, close, n = spread(d, kind)
    if not n:
        return f"{what}: one round, no spread"
    where = " ".join(str(x) for x in which) if which else ""
    return (f"{what}: {close} of {n} figures within 0.1 %, the largest spread "
            f"{worst * 100:.2f} % ({where})")


def fmt(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return None if a is None or b is None or not b else a / b


def points():
    """(op, I/O, size) of every FUSE table row, in order."""
    for d in ("read", "write"):
        for io in ("cache", "dio"):
            for s in SIZES:
                yield d, io, s


def pair(fuse, arch, kind, d, io, srv, s):
    """(stock, patched) medians of one FUSE figure."""
    return tuple(med(fuse, (arch, kind, f, d, io, srv, s)) for f in ("stock", "patched"))


def fuse_tables(fuse, ub, arch, out):
    floor = {  # FUSE read takes the reply with copy_from_user; write gives it with copy_to_user
        "read": lambda s: med(ub, (arch, "icount", "stock", "write", "user", s)),
        "write": lambda s: med(ub, (arch, "icount", "stock", "read", "user", s)),
    }
    out.append(f"#### {arch}: instructions per byte, one server thread "
               "(-icount; median of the rounds)\n")
    out.append("| op | I/O | size | stock | patched | patched/stock | floor | "
               "stock / floor | patched / floor | patched - stock, per 4 KiB |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d, io, s in points():
        st, pa = pair(fuse, arch, "icount", d, io, "t1", s)
        fl = floor[d](s)
        diff = None if st is None or pa is None else (pa - st) * 4096
        out.append(f"| {d} | {io} | {size_text(s)} | {fmt(st)} | {fmt(pa)} | "
                   f"**{fmt(ratio(pa, st))}** | {fmt(fl)} | {fmt(ratio(st, fl), 2)} | "
                   f"{fmt(ratio(pa, fl), 2)} | {fmt(diff, 0)} |")
    out.append("")
    out.append(f"#### {arch}: patched/stock instructions per byte, every server\n")
    out.append("| op | I/O | size | 1 thread | 2 threads | ~1 KiB iovecs |")
    out.append("|---|---|---:|---:|---:|---:|")
    for d, io, s in points():
        cells = [fmt(ratio(*pair(fuse, arch, "icount", d, io, srv, s)[::-1]))
                 for srv in SERVERS]
        out.append(f"| {d} | {io} | {size_text(s)} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"#### {arch}: throughput, MB/s in the guest (plain TCG, one "
               "server thread; median of the rounds)\n")
    out.append("| op | I/O | size | stock | patched | patched/stock |")
    out.append("|---|---|---:|---:|---:|---:|")
    for d, io, s in points():
        mst, mpa = (1000 / x if x else None
                    for x in pair(fuse, arch, "wall", d, io, "t1", s))
        out.append(f"| {d} | {io} | {size_text(s)} | {fmt(mst, 1)} | "
                   f"{fmt(mpa, 1)} | {fmt(ratio(mpa, mst))} |")
    out.append("")


# the head of a table of uaccess_bench's four methods, per direction and size
UBENCH_HEAD = ["| dir | size | (a) copy_*_user | (b)/(a) GUP + kmap | "
               "(c)/(a) kthread_use_mm | (d)/(a) copy_*_iter |",
               "|---|---:|---:|---:|---:|---:|"]


def ubench_tables(ub, arch, out):
    for fl in ("stock", "patched"):
        out.append(f"#### {arch}: test/kmod/uaccess_bench on the {fl} kernel, "
                   "instructions per byte (-icount) and ratio to (a)\n")
        out += UBENCH_HEAD
        for d in ("read", "write"):
            for s in USIZES:
                a = med(ub, (arch, "icount", fl, d, "user", s))
                cells = [fmt(ratio(med(ub, (arch, "icount", fl, d, m, s)), a), 2)
                         for m in ("gup", "kthread", "iter")]
                out.append(f"| {d} | {size_text(s)} | {fmt(a)} | " +
                           " | ".join(cells) + " |")
        out.append("")


# ------------------------------------------------ modeled ARM926 cycles

def load_timing(path=TIMING):
    with open(path) as f:
        return json.load(f)


def penalty(expr, lat, beat):
    """Core cycles of one event: arithmetic on L (latency) and B (beat)."""
    if not re.fullmatch(r"[0-9LB+*/. ()-]+", expr):
        sys.exit(f"bench.py: {TIMING}: '{expr}' is not arithmetic on L and B")
    return eval(expr, {"__builtins__": {}}, {"L": lat, "B": beat})


def formula(timing):
    """The estimate as text, from the penalties of test/arm926-timing.json."""
    pen = timing["penalties"]
    terms = [f"{c} x ({pen[c]})" for c in COUNTS if pen[c].strip() != "0"]
    return "cycles = instructions + " + " + ".join(terms)


def cycle_points(cache_rows, timing):
    """{(arch, flavour, bench, dir, variant, size): {what: median over the
    rounds}}: instructions and each count per byte, and cycles per byte at
    each assumed latency (key "cycles@L")."""
    beat = timing["assumed"]["beat"]
    lats = timing["assumed"]["latencies"]
    per = defaultdict(lambda: defaultdict(list))
    for r in cache_rows:
        row = dict(zip(CACHE_COLS, r))
        n = row["bytes"]
        key = (row["arch"], row["flavour"], row["bench"], row["dir"],
               row["variant"], int(row["size"]))
        d = per[key]
        d["instructions"].append(row["instructions"] / n)
        for c in COUNTS:
            d[c].append(row[c] / n)
        for lat in lats:
            cyc = row["instructions"] + sum(
                row[c] * penalty(timing["penalties"][c], lat, beat) for c in COUNTS)
            d[f"cycles@{lat}"].append(cyc / n)
        # the headline's other reading: missed stores as single transfers
        lat = timing["assumed"]["headline_latency"]
        alt = timing["penalties"] | timing["alternatives"]["single_stores"]
        d[f"cycles@{lat}/single"].append((row["instructions"] + sum(
            row[c] * penalty(alt[c], lat, beat) for c in COUNTS)) / n)
        d["dsize"].append(row["dsize"])
    head = f"cycles@{timing['assumed']['headline_latency']}"
    return {k: {w: statistics.median(v) for w, v in d.items()} |
            {"rounds": len(d["instructions"]), "dsize": max(d["dsize"]),
             "spread": (max(d[head]) - min(d[head])) / statistics.median(d[head])}
            for k, d in per.items()}


def cycles_spread(cp, bench):
    """spread_text()'s sentence for the modeled cycles of @bench's points."""
    what = {"fuse": "FUSE", "ubench": "uaccess-bench"}[bench]
    s = [(v["spread"], k) for k, v in cp.items() if k[2] == bench and v["rounds"] > 1]
    if not s:
        return f"{what}, modeled cycles (cache boots): one round, no spread"
    worst, which = max(s)
    close = sum(x <= 0.01 for x, _ in s)
    return (f"{what}, modeled cycles (cache boots): {close} of {len(s)} figures within "
            f"1 %, the largest spread {worst * 100:.2f} % ({' '.join(str(x) for x in which)})")


def cyc(cp, arch, flavour, bench, d, variant, size, what):
    v = cp.get((arch, flavour, bench, d, variant, size))
    return v.get(what) if v else None


def cyc_pair(cp, arch, bench, d, variant, size, what):
    return tuple(cyc(cp, arch, f, bench, d, variant, size, what)
                 for f in ("stock", "patched"))


def cycles_summary(cp, timing):
    """The headline as data: per arch and op, the range of patched/stock
    over the FUSE points (4 KiB .. 1 MiB, page cache and direct I/O, 1 and
    2 server threads) of instructions and of modeled cycles at each
    latency, in the cache boots."""
    lats = timing["assumed"]["latencies"]
    head = timing["assumed"]["headline_latency"]
    arches = sorted({k[0] for k in cp})
    large = timing["alternatives"]["large_from"]
    cols = ["arch", "op", "instructions (the same boots)"] + \
        [f"modeled cycles, L = {lat}" for lat in lats] + \
        [f"... with ~1 KiB iovecs, L = {head}",
         f"L = {head}, missed stores single transfers",
         f"L = {head}, {large >> 10} KiB per call and more"]
    rows, ranges = [], {}
    for arch in arches:
        for d in ("read", "write"):
            def rng(what, servers=("t1", "t2"), least=0):
                r = [ratio(*cyc_pair(cp, arch, "fuse", d, f"{io}/{srv}", sz, what)[::-1])
                     for op, io, sz in points() if op == d and sz >= least
                     for srv in servers]
                r = [x for x in r if x is not None]
                return (min(r), max(r)) if r else None
            cells = [rng("instructions")] + [rng(f"cycles@{lat}") for lat in lats] + \
                [rng(f"cycles@{head}", ("vec",)), rng(f"cycles@{head}/single"),
                 rng(f"cycles@{head}", least=large)]
            ranges[(arch, d)] = cells
            rows.append([arch, d] + [f"{c[0]:.2f} .. {c[1]:.2f}" if c else "n/a"
                                     for c in cells])
    dsize = sorted({v["dsize"] for v in cp.values()})
    return {"latency": timing["assumed"]["headline_latency"],
            "beat": timing["assumed"]["beat"], "latencies": lats, "large": large,
            "dsize": dsize, "columns": cols, "rows": rows}, ranges


def cycles_json(cp, timing, summary):
    """docs/perf/cycles.json: the parameters, the formula, every point."""
    pts = []
    for k in sorted(cp):
        arch, flavour, bench, d, variant, size = k
        pts.append({"arch": arch, "flavour": flavour, "bench": bench,
                    "dir": d, "variant": variant, "size": size,
                    "per_byte": {w: round(v, 6) for w, v in sorted(cp[k].items())
                                 if w not in ("rounds", "dsize", "spread")},
                    "rounds": cp[k]["rounds"], "dsize": cp[k]["dsize"]})
    return {"timing": timing, "formula": formula(timing),
            "summary": summary, "points": pts}


def saving(lo, hi):
    """A range of patched/stock as what the series saves, in words."""
    if hi <= 1:
        return f"saves {round(100 * (1 - hi))} % to {round(100 * (1 - lo))} %"
    if lo >= 1:
        return f"costs {round(100 * (lo - 1))} % to {round(100 * (hi - 1))} % more"
    return f"saves up to {round(100 * (1 - lo))} %, and costs up to {round(100 * (hi - 1))} % more,"


def cycles_headline(csum, ranges, out):
    """The top of docs/perf.md: what the series saves on an ARM926."""
    lat, beat = csum["latency"], csum["beat"]
    i = 1 + csum["latencies"].index(lat)
    kib = ", ".join(f"{x >> 10} KiB" for x in csum["dsize"])
    out.append("## On an ARM926: modeled cycles\n")
    for (arch, d), cells in sorted(ranges.items()):
        if not cells[i] or not cells[0]:
            continue
        vec, single, large = cells[-3:]
        more = "".join(f"; {what} {c[0]:.2f} .. {c[1]:.2f}" for what, c in (
            ("with missed stores priced as single transfers", single),
            ("with the server's ~1 KiB iovecs", vec)) if c)
        big = large or cells[i]
        out.append(f"- **FUSE {d}s ({arch}): the series {saving(*big)} of the "
                   f"modeled ARM926 cycles per byte at {csum['large'] >> 10} KiB per "
                   f"call and more** (patched/stock {big[0]:.2f} .. {big[1]:.2f}); "
                   f"over all the points, 4 KiB to 1 MiB, {cells[i][0]:.2f} .. "
                   f"{cells[i][1]:.2f} ({saving(*cells[i])}; instructions alone "
                   f"{cells[0][0]:.2f} .. {cells[0][1]:.2f}{more}).")
    out.append("")
    out.append("How far to trust it: the lowest ratios come from points where the "
               "null server's buffer stays in the cache between calls, which a "
               "real server's would not; the formula prices a missed store as one "
               "beat of a burst, which copy_to_user()'s single STRTs never make; it "
               "leaves out the extra cycles of LDM/STM (memcpy() through kmap: it "
               "understates the saving), the I-cache and the TLB (refilled on each "
               "switch_mm, on both kernels: it overstates it); and the model's counts "
               "vary by up to 20 % from boot to boot on single points.\n")
    if csum.get("provenance"):
        out.append("Where the figures come from: " + "; ".join(csum["provenance"]) + ".\n")
    out.append(f"Patched/stock over the FUSE points of 4 KiB to 1 MiB per call, page "
               f"cache and direct I/O, 1 and 2 server threads, counted by the ARM926 "
               f"D-cache model ({kib}, VIVT) over the same boots' instructions, with a "
               f"memory latency of {lat} core cycles and {beat} per further bus beat "
               f"(assumed: ARM's manual leaves them to the SoC); other latencies in the table:\n")
    out += md_table({"columns": csum["columns"], "rows": csum["rows"]})
    out.append("Below 1: the patched kernel takes fewer. How the counts become "
               "cycles, and the tables: [What VIVT costs](#what-vivt-costs-modeled-arm926-cycles).\n")


def cycles_tables(cp, timing, out):
    """The section of docs/perf.md on the modeled cycles."""
    lats = timing["assumed"]["latencies"]
    lat = timing["assumed"]["headline_latency"]
    beat = timing["assumed"]["beat"]
    out.append("## What VIVT costs: modeled ARM926 cycles\n")
    out.append("QEMU counts instructions, but on an ARM926 a copy through a second "
               "mapping also costs what its cache does: the line fills of data it "
               "reads, the write-backs of dirty lines that flush_dcache_page() cleans "
               "and that evictions push out, the stores that miss and go through the "
               "write buffer. The `cache` boots of `make bench` run the -icount boot "
               "once more under the ARM926 D-cache model (test/qemu-plugins/cache926.c, "
               "QEMU 10), each FUSE and uaccess point of the bench a window of its own, "
               f"with {', '.join(f'{x >> 10} KiB' for x in sorted({v['dsize'] for v in cp.values()}))} "
               "of D-cache (CACHE_ARGS in test/arch/armv5.conf). Per point:\n")
    out.append(f"    {formula(timing)}\n")
    out.append("with L the memory latency (core cycles from a miss to the first word) "
               "and B the core cycles per further AHB beat. load_miss: line fills; "
               "wb_halves: dirty half lines written back (evictions, cleans); "
               "store_miss: stores that missed (write buffer); line_ops, cache_ops: "
               "CP15 c7 operations by address and on the whole cache, which cost their "
               "instruction and what they write back or make miss.\n")
    out.append(f"What ARM's manual gives ({timing['source']}), and what the estimate "
               "takes from it (the data: test/arm926-timing.json):\n")
    out.append("| what | the TRM | section | in the estimate |")
    out.append("|---|---|---|---|")
    for g in timing["given"]:
        out.append(f"| {g['what']} | {g['value']} | {g['section']} | {g['used']} |")
    out.append("")
    out.append(f"Assumed (the SoC's, not the TRM's): {timing['assumed']['about']} "
               f"B = {beat}; L = {', '.join(str(x) for x in lats)}, the headline at "
               f"L = {lat}.\n")
    out.append("Not in the estimate: the I-cache and the TLB (the model has "
               "neither), load-use interlocks, LDM/STM's cycle per register beyond "
               "the first (memcpy() and copy_{to,from}_user() share "
               "arch/arm/lib/copy_template.S), and any overlap of the bus with "
               "execution.\n")
    for arch in sorted({k[0] for k in cp}):
        out.append(f"#### {arch}: modeled cycles per byte, one server thread "
                   f"(L = {lat}, B = {beat}; median of the rounds)\n")
        out.append("| op | I/O | size | instructions stock | patched | patched/stock "
                   "| fills per KiB stock | patched | write-back halves per KiB stock | patched "
                   "| missed stores per KiB stock | patched "
                   "| cycles stock | patched | **patched/stock** | "
                   + " | ".join(f"patched/stock, L = {x}" for x in lats if x != lat) + " |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                   + "---:|" * (len(lats) - 1))
        for d, io, sz in points():
            v = f"{io}/t1"
            ist, ipa = cyc_pair(cp, arch, "fuse", d, v, sz, "instructions")
            fst, fpa = (None if x is None else x * 1024
                        for x in cyc_pair(cp, arch, "fuse", d, v, sz, "load_miss"))
            wst, wpa = (None if x is None else x * 1024
                        for x in cyc_pair(cp, arch, "fuse", d, v, sz, "wb_halves"))
            sst, spa = (None if x is None else x * 1024
                        for x in cyc_pair(cp, arch, "fuse", d, v, sz, "store_miss"))
            cst, cpa = cyc_pair(cp, arch, "fuse", d, v, sz, f"cycles@{lat}")
            other = [fmt(ratio(*cyc_pair(cp, arch, "fuse", d, v, sz, f"cycles@{x}")[::-1]))
                     for x in lats if x != lat]
            out.append(f"| {d} | {io} | {size_text(sz)} | {fmt(ist)} | {fmt(ipa)} | "
                       f"{fmt(ratio(ipa, ist))} | {fmt(fst, 1)} | {fmt(fpa, 1)} | "
                       f"{fmt(wst, 1)} | {fmt(wpa, 1)} | {fmt(sst, 1)} | {fmt(spa, 1)} | "
                       f"{fmt(cst)} | {fmt(cpa)} | "
                       f"**{fmt(ratio(cpa, cst))}** | " + " | ".join(other) + " |")
        out.append("")
        out.append("The instructions here are the cache boots' own (-icount, "
                   "BENCH_CACHE_MIB per point); the -icount boots' patched/stock, "
                   "with BENCH_MIB, is in the tables of the next section.\n")
        out.append(f"#### {arch}: patched/stock modeled cycles per byte, every server "
                   f"(L = {lat})\n")
        out.append("| op | I/O | size | 1 thread | 2 threads | ~1 KiB iovecs |")
        out.append("|---|---|---:|---:|---:|---:|")
        for d, io, sz in points():
            cells = [fmt(ratio(*cyc_pair(cp, arch, "fuse", d, f"{io}/{srv}", sz,
                                         f"cycles@{lat}")[::-1])) for srv in SERVERS]
            out.append(f"| {d} | {io} | {size_text(sz)} | " + " | ".join(cells) + " |")
        out.append("")
        if not any(k[0] == arch and k[2] == "ubench" for k in cp):
            continue
        out.append(f"#### {arch}: test/kmod/uaccess_bench on the stock kernel, modeled "
                   f"cycles per byte (L = {lat}) and ratio to (a); instructions' ratio "
                   "in brackets\n")
        out += UBENCH_HEAD
        for d in ("read", "write"):
            for sz in USIZES:
                a = cyc(cp, arch, "stock", "ubench", d, "user", sz, f"cycles@{lat}")
                ai = cyc(cp, arch, "stock", "ubench", d, "user", sz, "instructions")
                cells = [f"{fmt(ratio(cyc(cp, arch, 'stock', 'ubench', d, m, sz, f'cycles@{lat}'), a), 2)} "
                         f"({fmt(ratio(cyc(cp, arch, 'stock', 'ubench', d, m, sz, 'instructions'), ai), 2)})"
                         for m in ("gup", "kthread", "iter")]
                out.append(f"| {d} | {size_text(sz)} | {fmt(a)} | " + " | ".join(cells) + " |")
        out.append("")


SUMMARY_FUSE = ["arch", "op",
                "patched/stock instructions per byte, 4 KiB .. 1 MiB, page cache "
                "and direct I/O, 1 and 2 threads",
                "... with ~1 KiB iovecs",
                "patched/stock MB/s (plain TCG, 1 thread)"]
SUMMARY_UBENCH = ["arch", "dir", "(b)/(a) GUP + kmap at 4 KiB / 1 MiB",
                  "(c)/(a) kthread_use_mm at 64 B / 4 KiB / 1 MiB",
                  "(d)/(a) copy_*_iter at 4 KiB / 1 MiB"]


def summary_data(fuse, ub, arches, boots):
    """The headline: ranges of the ratios of the tables below, as data
    (docs/perf/summary.json): the boots, then two tables of text cells."""
    frows, urows = [], []
    for arch in arches:
        for d in ("read", "write"):
            def rng(kind, servers, inv=False):
                r = [ratio(*pair(fuse, arch, kind, op, io, srv, sz)[::-1])
                     for op, io, sz in points() if op == d for srv in servers]
                r = [1 / x if inv else x for x in r if x]
                return f"{min(r):.2f} .. {max(r):.2f}" if r else "n/a"
            frows.append([arch, d, rng("icount", ("t1", "t2")),
                          rng("icount", ("vec",)), rng("wall", ("t1",), True)])
    for arch in arches:
        for d in ("read", "write"):
            def r(m, sz):
                return fmt(ratio(med(ub, (arch, "icount", "stock", d, m, sz)),
                                 med(ub, (arch, "icount", "stock", d, "user", sz))), 2)
            urows.append([arch, d, f"{r('gup', 4096)} / {r('gup', 1 << 20)}",
                          f"{r('kthread', 64)} / {r('kthread', 4096)} / {r('kthread', 1 << 20)}",
                          f"{r('iter', 4096)} / {r('iter', 1 << 20)}"])
    rounds = {a: len({b[3] for b in boots if b[0] == a}) for a in arches}
    return {"boots": len(boots), "rounds": rounds,
            "fuse": {"columns": SUMMARY_FUSE, "rows": frows},
            "ubench": {"columns": SUMMARY_UBENCH, "rows": urows}}


def md_table(t):
    out = ["| " + " | ".join(t["columns"]) + " |",
           "|---|---|" + "---:|" * (len(t["columns"]) - 2)]
    out += ["| " + " | ".join(r) + " |" for r in t["rows"]]
    return out + [""]


def summary(data, out):
    out.append("## Summary\n")
    out += md_table(data["fuse"])
    out += md_table(data["ubench"])
    out.append("In the instruction columns, below 1 means that the patched kernel "
               "executes fewer instructions per byte; in the MB/s column, above 1 means "
               "that it moves more. The module's ratios are instructions, on the stock "
               "kernel.\n")


def write_dat(path, header, rows):
    with open(path, "w") as f:
        f.write("# " + "\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join("nan" if x is None else f"{x}" for x in r) + "\n")


def xtics(sizes):
    return "set xtics (" + ", ".join(f"'{size_text(x)}' {x}" for x in sizes) + "); "


def has(rows, cols):
    """Whether a plot's data has a figure in columns @cols (from 1)."""
    return any(r[c - 1] is not None for r in rows for c in cols)


def plots(fuse, ub, arches, pdir):
    """gnuplot PNGs; returns their file names."""
    term = "pngcairo size 900,560 font ',10'"
    probe = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"],
                           capture_output=True, text=True)
    if probe.returncode:
        term = "png size 900,560"
    made = []
    for arch in arches:
        for d in ("read", "write"):
            fl_dir = "write" if d == "read" else "read"
            rows = []
            for s in SIZES:
                r = [s]
                for io in ("cache", "dio"):
                    for f in ("stock", "patched"):
                        r.append(med(fuse, (arch, "icount", f, d, io, "t1", s)))
                r.append(med(ub, (arch, "icount", "stock", fl_dir, "user", s)))
                for io in ("cache", "dio"):
                    for f in ("stock", "patched"):
                        v = med(fuse, (arch, "wall", f, d, io, "t1", s))
                        r.append(1000 / v if v else None)
                rows.append(r)
            dat = f"fuse-{arch}-{d}.dat"
            write_dat(os.path.join(pdir, dat),
                      ["size", "cache_stock", "cache_patched", "dio_stock",
                       "dio_patched", "floor", "mbs_cache_stock",
                       "mbs_cache_patched", "mbs_dio_stock", "mbs_dio_patched"],
                      rows)
            for what, cols, ylabel, png in (
                    ("instructions", (2, 3, 4, 5, 6), "guest instructions per byte",
                     f"fuse-{arch}-{d}-instructions.png"),
                    ("throughput", (7, 8, 9, 10), "MB/s in the guest (TCG)",
                     f"fuse-{arch}-{d}-throughput.png")):
                if not has(rows, cols):
                    continue    # no boots of that kind (BENCH_KINDS)
                titles = ["page cache, stock", "page cache, patched",
                          "direct I/O, stock", "direct I/O, patched",
                          f"floor: copy_{'from' if d == 'read' else 'to'}_user"]
                lines = ", ".join(
                    f"'{dat}' using 1:{c} with linespoints title \"{titles[c - cols[0]]}\""
                    for c in cols)
                script = (f"set terminal {term} noenhanced; set output '{png}'; "
                          "set logscale x 2; set grid; set key top right; " + xtics(SIZES) +
                          f"set xlabel 'bytes per {d}() call'; set ylabel '{ylabel}'; "
                          "set yrange [0:*]; "
                          f"set title 'FUSE {d}, null server, {arch}: {what}'; "
                          f"plot {lines}")
                subprocess.run(["gnuplot", "-e", script], cwd=pdir, check=True)
                made.append(png)
        rows = []
        for s in USIZES:
            r = [s]
            for d in ("read", "write"):
                for m in MODES:
                    r.append(med(ub, (arch, "icount", "stock", d, m, s)))
            rows.append(r)
        dat = f"ubench-{arch}.dat"
        write_dat(os.path.join(pdir, dat),
                  ["size"] + [f"{d}_{m}" for d in ("read", "write") for m in MODES],
                  rows)
        png = f"ubench-{arch}.png"
        if not has(rows, range(2, 2 + 2 * len(MODES))):
            continue
        script = (f"set terminal {term.replace('900,560', '1200,520')} noenhanced; "
                  f"set output '{png}'; set multiplot layout 1,2 "
                  f"title 'test/kmod/uaccess_bench, {arch}, stock kernel (-icount)'; "
                  "set logscale x 2; set logscale y 2; set grid; set key top right; " +
                  xtics(USIZES[::2]) + "set xlabel 'bytes per call'; "
                  "set ylabel 'guest instructions per byte'; ")
        for i, d in enumerate(("read", "write")):
            lines = ", ".join(
                f"'{dat}' using 1:{2 + i * 4 + j} with linespoints title \"{MODE_TEXT[m]}\""
                for j, m in enumerate(MODES))
            script += (f"set title '{d}(): kernel {'to' if d == 'read' else 'from'} user'; "
                       f"plot {lines}; ")
        script += "unset multiplot"
        subprocess.run(["gnuplot", "-e", script], cwd=pdir, check=True)
        made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the docs directory")
    ap.add_argument("--from-tsv", help="an earlier run's bench.tsv instead of logs")
    ap.add_argument("logs", nargs="*")
    a = ap.parse_args()
    if bool(a.from_tsv) == bool(a.logs):
        ap.error("give the console logs of the boots, or --from-tsv, not both")
    if a.from_tsv:
        fuse, ub, rows, cache_rows, problems, boots = parse_tsv(a.from_tsv)
        made = {n: made_line(os.path.join(os.path.dirname(a.from_tsv), n))
                for n in ("bench.tsv", "cache.tsv")}
    else:
        fuse, ub, rows, cache_rows, problems = parse(a.logs)
        boots = sorted(tuple(NAME.match(os.path.basename(p)).group("arch", "flavour", "kind", "round"))
                       for p in a.logs)
        here = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                               "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip() or "?"
        made = {n: f"made {time.strftime('%Y-%m-%d')} by make bench at {here}"
                for n in ("bench.tsv", "cache.tsv")}
    arches = sorted({k[0] for k in fuse} | {k[0] for k in ub},
                    key=lambda x: (x != "x86_64", x))
    # the cache boots are counted apart (perf.md's first line)
    data = summary_data(fuse, ub, arches, [b for b in boots if b[2] != "cache"])
    timing = load_timing()
    cp = cycle_points(cache_rows, timing)
    if cp:
        data["cycles"], ranges = cycles_summary(cp, timing)
        data["cycles"]["provenance"] = [
            f"{what}: {made[n]}" for what, n in (
                ("instructions and MB/s (bench.tsv)", "bench.tsv"),
                ("the cache model's counts (cache.tsv)", "cache.tsv")) if made.get(n)]
    pdir = os.path.join(a.out, "perf")
    os.makedirs(pdir, exist_ok=True)
    rows = [tuple(str(x) for x in r) for r in rows]
    with open(os.path.join(pdir, "bench.tsv.tmp"), "w") as f:
        if made.get("bench.tsv"):
            f.write(f"# {made['bench.tsv']}\n")
        f.write("# arch\tflavour\tkind\tround\tbench\tdir\tvariant\tsize\t"
                "ns_per_byte\trequests\tmax_request\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(os.path.join(pdir, "bench.tsv.tmp"), os.path.join(pdir, "bench.tsv"))
    if cache_rows:
        with open(os.path.join(pdir, "cache.tsv.tmp"), "w") as f:
            if made.get("cache.tsv"):
                f.write(f"# {made['cache.tsv']}\n")
            f.write("# " + "\t".join(CACHE_COLS) + "\n")
            for r in cache_rows:
                f.write("\t".join(str(x) for x in r) + "\n")
        os.replace(os.path.join(pdir, "cache.tsv.tmp"), os.path.join(pdir, "cache.tsv"))
        with open(os.path.join(pdir, "cycles.json"), "w") as f:
            json.dump(cycles_json(cp, timing, data["cycles"]), f, indent=1)
            f.write("\n")
    else:
        for n in ("cache.tsv", "cycles.json"):
            if os.path.exists(os.path.join(pdir, n)) and not a.from_tsv:
                os.remove(os.path.join(pdir, n))
    with open(os.path.join(pdir, "summary.json"), "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    pngs = plots(fuse, ub, arches, pdir)

    out = []
    out.append("# Performance: stock against patched\n")
    cboots = sorted({r[:3] for r in cache_rows})
    crounds = {a: len({b[2] for b in cboots if b[0] == a}) for a in sorted({b[0] for b in cboots})}
    out.append("Generated by `make bench` (test/bench.py) from "
               f"{data['boots']} boots: {', '.join(f'{x} ({n} rounds)' for x, n in data['rounds'].items())}"
               + (f", and {len(cboots)} boots under the cache model: "
                  + ", ".join(f"{x} ({n} round{'s' if n != 1 else ''})"
                              for x, n in crounds.items()) if cboots else "")
               + ". Do not edit: run `make bench` again.\n")
    if cp:
        cycles_headline(data["cycles"], ranges, out)
    summary(data, out)
    out.append(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "bench-method.md")).read())
    out.append("## Repeatability\n")
    out.append("Spread of a figure over the rounds, (max - min) / median:\n")
    out.append(f"- {spread_text(fuse, 'icount', 'FUSE, -icount')};")
    out.append(f"- {spread_text(ub, 'icount', 'uaccess-bench, -icount')};")
    if cp:
        out.append(f"- {spread_text(fuse, 'wall', 'FUSE, plain TCG')};")
        out.append(f"- {cycles_spread(cp, 'fuse')};")
        out.append(f"- {cycles_spread(cp, 'ubench')}.\n")
    else:
        out.append(f"- {spread_text(fuse, 'wall', 'FUSE, plain TCG')}.\n")
    if problems:
        out.append("Boots with missing figures:\n")
        out += [f"- {p}" for p in problems] + [""]
    if cp:
        cycles_tables(cp, timing, out)
    out.append("## FUSE through /dev/fuse\n")
    for arch in arches:
        fuse_tables(fuse, ub, arch, out)
        for d in ("read", "write"):
            for what in ("instructions", "throughput"):
                if f"fuse-{arch}-{d}-{what}.png" in pngs:
                    out.append(f"![FUSE {d}, {arch}, {what}](perf/fuse-{arch}-{d}-{what}.png)\n")
    out.append("## The four copy methods (test/kmod/uaccess_bench)\n")
    for arch in arches:
        ubench_tables(ub, arch, out)
        if f"ubench-{arch}.png" in pngs:
            out.append(f"![uaccess-bench, {arch}](perf/ubench-{arch}.png)\n")
    out.append("## Raw data\n")
    out.append("`perf/bench.tsv`: every figure of every boot (ns per byte: "
               "instructions per byte in the icount and cache boots); `perf/summary.json`: "
               "the summary's figures; `perf/*.dat`: the medians each plot draws" +
               ("; `perf/cache.tsv`: the cache model's counts of every point of every "
                "cache boot; `perf/cycles.json`: the timing parameters, the formula "
                "and the modeled cycles of every point" if cp else "") + ".\n")
    with open(os.path.join(a.out, "perf.md"), "w") as f:
        f.write("\n".join(out))
    print(f"bench.py: {os.path.join(a.out, 'perf.md')}, {len(rows)} figures, "
          f"{len(pngs)} plots")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
