#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print what is wrong with a cover letter: a placeholder left, a figure of
docs/perf.md's summary table that it does not quote. Prints nothing if
all is well.

Usage: check_cover.py COVER PERF_MD
"""
import re, sys
cover, perf = (open(p).read() for p in sys.argv[1:3])
if "***" in cover:
    print("a *** placeholder is left")
summary = re.search(r"^## Summary\n(.*?)^## ", perf, re.S | re.M).group(1)
rows = [[c.strip() for c in l.strip("|").split("|")]
        for l in summary.splitlines() if l.startswith("| x86_64") or l.startswith("| armv5")]
if len(rows) != 8:
    print(f"docs/perf.md's summary has {len(rows)} rows of figures, not 8")
for r in rows:
    if not re.search(r"^\s+" + r"\s+".join(map(re.escape, r)) + r"\s*$", cover, re.M):
        print("not in the cover letter: " + " | ".join(r))
