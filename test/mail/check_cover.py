#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print what is wrong with a cover letter: a placeholder left, and, given
docs/perf/summary.json (make bench), a row of its figures that the cover
does not quote.  Prints nothing if all is well.

Usage: check_cover.py COVER [SUMMARY_JSON]
"""
import json
import re
import sys

cover = open(sys.argv[1]).read()
if "***" in cover:
    print("a *** placeholder is left: "
          + " ".join(cover[cover.index("***"):].split("***")[1].split()))
if len(sys.argv) > 2:
    summary = json.load(open(sys.argv[2]))
    rows = summary["fuse"]["rows"] + summary["ubench"]["rows"]
    if not rows:
        print(f"{sys.argv[2]} has no rows of figures")
    for r in rows:
        if not re.search(r"^\s+" + r"\s+".join(map(re.escape, r)) + r"\s*$",
                         cover, re.M):
            print("not in the cover letter: " + " | ".join(r))
