#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill in git format-patch's cover letter: SUBJECT HERE and BLURB HERE
from TEXT (its first line the subject, the rest the body).

Usage: fill_cover.py COVER TEXT
"""
import sys
path, text = sys.argv[1:3]
subject, body = text.split("\n", 1)
t = open(path).read()
for old in ("*** SUBJECT HERE ***", "*** BLURB HERE ***"):
    if t.count(old) != 1:
        sys.exit(f"{path}: no '{old}' to replace")
t = t.replace("*** SUBJECT HERE ***", subject)
t = t.replace("*** BLURB HERE ***", body.rstrip("\n"))
open(path, "w").write(t)
