#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Put To: and Cc: before the Subject: of a mail, one address a line, no
address twice (one in To: is not repeated in Cc:).

Usage: headers.py MAIL TO CC   (TO, CC: addresses separated by ", ")
"""
import sys
path, to, cc = sys.argv[1:4]
def addrs(s, skip=()):
    out = []
    for a in (x.strip() for x in s.split(", ")):
        if a and a not in out and a not in skip:
            out.append(a)
    return out
to = addrs(to)
cc = addrs(cc, to)
if not to:
    to, cc = cc[:1], cc[1:]
lines = open(path).read().split("\n")
i = next(n for n, l in enumerate(lines) if l.startswith("Subject: "))
hdr = ["To: " + ",\n    ".join(to)] + (["Cc: " + ",\n    ".join(cc)] if cc else [])
open(path, "w").write("\n".join(lines[:i] + hdr + lines[i:]))
