#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""fixes.py TOP: check docs/audit/fixes.tsv against docs/audit/triage.txt.

Every true finding of triage.txt (a line whose verdict is "true", of any
class, and every "miss" line) must have at least one row in fixes.tsv;
every row must name a true finding, and either a patch that is in its
kernel version's series or "argued" with a reason.  Prints one line per
problem and exits 1 if there is any."""
import os
import sys


def series(top, kver):
    """The patches of kver's series, or None when it has none."""
    path = os.path.join(top, 'series' if kver == '7.2' else
                        'stable/%s/series' % kver)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {l.strip() for l in f if l.strip() and not l.startswith('#')}


def true_findings(path):
    found = set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith('#'):
                continue
            fields = [x.strip() for x in line.split(' | ')]
            if len(fields) != 5:
                sys.exit('fixes.py: %s:%d: want 5 fields separated by " | "'
                         % (path, n))
            cls, file, func, verdict, _ = fields
            if cls != 'miss' and verdict not in ('true', 'arch-only', 'false'):
                sys.exit('fixes.py: %s:%d: verdict %r is not true, arch-only '
                         'or false' % (path, n, verdict))
            if cls == 'miss' or verdict == 'true':
                found.add((cls, file, func))
    return found


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else '.'
    audit = os.path.join(top, 'docs/audit')
    found = true_findings(os.path.join(audit, 'triage.txt'))
    covered, bad = set(), []
    with open(os.path.join(audit, 'fixes.tsv')) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith('#'):
                continue
            row = line.rstrip('\n').split('\t')
            where = 'fixes.tsv:%d' % n
            if len(row) != 6 or not all(row):
                bad.append('%s: want 6 non-empty fields' % where)
                continue
            kver, cls, file, func, fix, why = row
            patches = series(top, kver)
            if patches is None:
                bad.append('%s: kernel version %s has no series' % (where, kver))
                continue
            if (cls, file, func) not in found:
                bad.append('%s: %s %s %s is no true finding of triage.txt'
                           % (where, cls, file, func))
            covered.add((cls, file, func))
            if fix != 'argued' and fix not in patches:
                bad.append('%s: %s is not in the %s series' % (where, fix, kver))
    for cls, file, func in sorted(found - covered):
        bad.append('triage.txt: %s %s %s: true, but neither fixed nor argued '
                   'in fixes.tsv' % (cls, file, func))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
