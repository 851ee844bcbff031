#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make mail's sets: test/mail/sets.tsv (the sets of a version, in the
order they are sent) and test/mail/patches.tsv (the set of each patch).

    sets.py check KVER          what is wrong with the tables (nothing: fine)
    sets.py list KVER           a line per set, in order: number, set,
                                prefix, cover, after, paths (tab-separated,
                                "-" for none)
    sets.py patches KVER SET    the set's patches, in the series' order
    sets.py readme KVER OUT     OUT/README.md from OUT's mails

TOP is this file's repository.
"""
import email
import email.policy
import email.utils
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
MAIL = TOP / "test/mail"


def table(name, ncols):
    """The rows of test/mail/NAME, comments and blank lines dropped."""
    rows = []
    for n, line in enumerate((MAIL / name).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != ncols:
            sys.exit(f"test/mail/{name}:{n}: {len(cols)} columns, not {ncols}")
        rows.append(cols)
    return rows


def sets(kver):
    out = []
    for k, name, prefix, cover, after, paths in table("sets.tsv", 6):
        if k == kver:
            out.append({"set": name, "prefix": prefix, "cover": cover,
                        "after": after, "paths": paths.split(",")})
    return out


def members(kver):
    """(patch, set) of KVER, in the table's order."""
    return [(p, s) for k, p, s in table("patches.tsv", 3) if k == kver]


def series_dir(kver):
    for line in (TOP / "test/kversions.tsv").read_text().splitlines():
        cols = line.split("\t")
        if not line.startswith("#") and cols[0] == kver:
            return TOP / cols[2]
    sys.exit(f"Linux {kver} is not in test/kversions.tsv")


def series(kver):
    """The patches of KVER's quilt series, in order."""
    out = []
    for line in (series_dir(kver) / "series").read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            out.append(line[0])
    return out


def set_patches(kver, name):
    mine = {p for p, s in members(kver) if s == name}
    return [p for p in series(kver) if p in mine]


def check(kver):
    """Print what is wrong with KVER's rows of both tables; how many."""
    bad = []

    def say(msg):
        bad.append(msg)
        print(msg)

    rows = sets(kver)
    names = [r["set"] for r in rows]
    ser = series(kver)
    pdir = series_dir(kver) / "patches"
    if not rows:
        say(f"test/mail/sets.tsv has no set of {kver}")
    for n in {n for n in names if names.count(n) > 1}:
        say(f"set {n} is in test/mail/sets.tsv twice")
    seen = {}
    for p, s in members(kver):
        if p in seen:
            say(f"{p} is in two sets: {seen[p]} and {s}")
        seen[p] = s
        if s not in names:
            say(f"{p}: set {s} is not in test/mail/sets.tsv")
        if p not in ser:
            say(f"{p} (set {s}) is not in the series")
        elif not (pdir / p).is_file():
            say(f"{p} (set {s}): no such file in {pdir}")
    for p in ser:
        if p not in seen:
            say(f"{p} of the series is in no set (test/mail/patches.tsv)")
    for i, r in enumerate(rows):
        n = len(set_patches(kver, r["set"]))
        if n == 0:
            say(f"set {r['set']} has no patch")
        if n > 1 and r["cover"] == "-":
            say(f"set {r['set']} has {n} patches and no cover letter")
        if n == 1 and r["cover"] != "-":
            say(f"set {r['set']} has one patch: no cover letter ({r['cover']})")
        if r["cover"] != "-" and not (MAIL / r["cover"]).is_file():
            say(f"set {r['set']}: no test/mail/{r['cover']}")
        if r["after"] != "-" and r["after"] not in names[:i]:
            say(f"set {r['set']} comes after {r['after']}, "
                  "which is not a set sent before it")
    return len(bad)


def parse(path):
    return email.message_from_bytes(path.read_bytes(),
                                    policy=email.policy.default)


def subject(msg):
    return " ".join(str(msg["Subject"]).split())


def addresses(msg, name):
    """The addresses of header NAME, as "Name <addr>"."""
    h = msg[name]
    return [str(a) for a in h.addresses] if h else []


def readme(kver, out):
    """OUT/README.md: where each set goes, in which order, with what."""
    out = Path(out)
    text = [f"# The mails of Linux {kver}'s series, a set per destination",
            "",
            "Written by `make mail` from test/mail/sets.tsv and",
            "test/mail/patches.tsv; nothing was sent.  Send the sets in "
            "this order",
            "(fixes first), each a thread of its own: `git send-email "
            "NN-SET/*.eml`",
            "(the headers are in the files).  A set's To: and Cc: are "
            "those of its",
            "first mail; a patch's own Cc: trailers reach that patch and "
            "the cover",
            "letter only.  Within a set, the patches apply in order.",
            ""]
    if series_dir(kver) != TOP:
        text += ["This is a backport: send it after the mainline sets are "
                 "merged, with",
                 "each patch's \"commit <sha> upstream.\" line added and "
                 "To: stable@vger.kernel.org.",
                 ""]
    for i, r in enumerate(sets(kver), 1):
        d = out / f"{i:02d}-{r['set']}"
        mails = sorted(d.glob("*.eml"))
        if not mails:
            sys.exit(f"readme: no mails in {d}")
        first = parse(mails[0])
        text += [f"## {i}. {r['set']}: {subject(first)}", ""]
        if r["after"] != "-":
            text += [f"Send after set `{r['after']}` is merged: this set "
                     f"applies alone, but its change is only right with "
                     f"`{r['after']}` in.", ""]
        text += [f"In `{d.name}/`:", ""]
        text += [f"- `{m.name}`: {subject(parse(m))}" for m in mails]
        text.append("")
        for h in ("To", "Cc"):
            text += [f"{h}: " + ", ".join(addresses(first, h)), ""]
    (out / "README.md").write_text("\n".join(text))


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "check":
        sys.exit(1 if check(a[1]) else 0)
    elif len(a) == 2 and a[0] == "list":
        for i, r in enumerate(sets(a[1]), 1):
            print("\t".join([f"{i:02d}", r["set"], r["prefix"], r["cover"],
                             r["after"], ",".join(r["paths"])]))
    elif len(a) == 3 and a[0] == "patches":
        print("\n".join(set_patches(a[1], a[2])))
    elif len(a) == 3 and a[0] == "readme":
        readme(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
