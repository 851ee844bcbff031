#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Join the report of gup_kmap_alias.cocci over a tree with the verdicts of
docs/audit/triage.txt into data (JSON: counts per class, every hit with its
verdict, the run with the series applied, what the script missed), and
render that data as Markdown.  The JSON is what other tools read (the
cover letter's counts); the Markdown is only ever rendered from it:

    report.py --triage T --tree DIR --raw HITS [--patched HITS]
              [--baseline TSV] --json OUT.json --out OUT.md
    report.py --render IN.json [--out OUT.md]      (stdout without --out)
    report.py --check IN.json --triage T   the JSON's verdicts are T's now

triage.txt, one hit per line, fields separated by " | ":
    C1 | mm/process_vm_access.c | process_vm_rw_core | true | why
A hit is keyed by class, file and the function it is reported in, so that a
verdict holds across line shifts and across 6.1 and 7.2.  Verdicts: true
(a bug on every aliasing cache), arch-only (only where GUP-fast meets an
aliasing cache), false (the script was fooled, or the code cannot run on
an aliasing cache).  A line "miss | file | function | class | why" records a
bug found by reading that the script does not report.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

# C2 (GUP-fast pages read with no flush_anon_page()) is retired: see
# docs/audit/README.md; it stays in TITLES for the baseline's table
CLASSES = ('C1', 'C3', 'C4')
TITLES = {
    'C1': 'written through a kernel mapping, released with no flush_dcache_*()',
    'C2': 'GUP-fast pages accessed through a kernel mapping, no flush_anon_page()',
    'C3': 'pin + copy through a kernel mapping + release: uaccess would do (report only)',
    'C4': 'long-lived kernel mapping, no flush/invalidate_kernel_vmap_range()',
}
LINE = re.compile(r'^(?P<file>[^:]+):(?P<line>\d+):(?P<col>[\d-]+): '
                  r'(?P<cls>C\d): (?P<func>\w+)\(\): (?P<msg>.*)$')


def read_hits(raw):
    hits = []
    with open(raw) as f:
        for text in f:
            m = LINE.match(text.rstrip('\n'))
            if not m:
                sys.exit('report.py: %s: not a report line: %s' % (raw, text))
            h = m.groupdict()
            h['line'] = int(h['line'])
            hits.append(h)
    return hits


def read_triage(path):
    verdicts, misses = {}, []
    with open(path) as f:
        for n, text in enumerate(f, 1):
            text = text.strip()
            if not text or text.startswith('#'):
                continue
            fields = [x.strip() for x in text.split(' | ')]
            if len(fields) != 5:
                sys.exit('report.py: %s:%d: want 5 fields: %s' % (path, n, text))
            if fields[0] == 'miss':
                misses.append(fields[1:])
                continue
            cls, path_, func, verdict, why = fields
            if verdict not in ('true', 'arch-only', 'false'):
                sys.exit('report.py: %s:%d: verdict %r' % (path, n, verdict))
            verdicts[(cls, path_, func)] = (verdict, why)
    return verdicts, misses


def stats(path):
    with open(path + '.stats') as f:
        return dict(kv.split('=') for kv in f.read().split())


def version(tree):
    with open(os.path.join(tree, 'Makefile')) as f:
        mk = f.read()
    get = lambda k: re.search(r'^%s = (\S*)' % k, mk, re.M).group(1)
    return '%s.%s.%s' % (get('VERSION'), get('PATCHLEVEL'), get('SUBLEVEL'))


def baseline(a, ver):
    """The counts per class before the precision work (--baseline)."""
    if not a.baseline:
        return None
    out = {}
    kver = ver.rsplit('.', 1)[0]
    with open(a.baseline) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            k, c, rep_, tr, ar, fa = line.split()
            if k == kver:
                out[c] = {'reported': int(rep_), 'true': int(tr),
                          'arch-only': int(ar), 'false': int(fa)}
    return out or None


def pct(a, b):
    return '%d %%' % round(100.0 * a / b) if b else '-'


def collect(a):
    """The audit of one tree as data."""
    verdicts, misses = read_triage(a.triage)
    hits = read_hits(a.raw)
    for h in hits:
        h['verdict'], h['why'] = verdicts.get((h['cls'], h['file'], h['func']),
                                              ('untriaged', ''))
    st = stats(a.raw)
    try:
        with open(a.raw + '.skipped') as f:
            skipped = f.read().split()
    except OSError:
        skipped = []
    ver = version(a.tree)
    spv = subprocess.run(['spatch', '--version'], capture_output=True,
                         text=True).stdout.split('\n')[0]
    counts = {}
    for c in CLASSES + ('all',):
        n = collections.Counter(h['verdict'] for h in hits
                                if c == 'all' or h['cls'] == c)
        counts[c] = {k: n[k] for k in ('true', 'arch-only', 'false',
                                       'untriaged')}
        counts[c]['reported'] = sum(n.values())
    d = {'kernel': ver, 'source': 'linux-source-' + ver.rsplit('.', 1)[0],
         'spatch': spv, 'files': int(st['files']),
         'gup_files': int(st['gup_files']), 'jobs': int(a.jobs),
         'spatch_files': int(st.get('spatch_files', st['gup_files'])),
         'not_aliasing': skipped, 'baseline': baseline(a, ver),
         'seconds': int(st['seconds']), 'counts': counts, 'hits': hits,
         'patched': None, 'missed': []}
    if a.patched:
        ph = read_hits(a.patched)
        key = lambda h: (h['cls'], h['file'], h['func'])
        site = lambda k: {'cls': k[0], 'file': k[1], 'func': k[2]}
        d['patched'] = {
            'hits': len(ph), 'seconds': int(stats(a.patched)['seconds']),
            'fuse': [h for h in ph if h['file'].startswith('fs/fuse/')],
            'gone': [site(k) for k in
                     sorted(set(map(key, hits)) - set(map(key, ph)))],
            'new': [site(k) for k in
                    sorted(set(map(key, ph)) - set(map(key, hits)))]}

    def in_tree(path, func):
        try:
            with open(os.path.join(a.tree, path), errors='replace') as f:
                return re.search(r'\b%s\(' % re.escape(func), f.read())
        except OSError:
            return False
    d['missed'] = [{'file': f, 'func': func, 'cls': cls, 'why': why}
                   for f, func, cls, why in misses if in_tree(f, func)]
    return d


def render(d):
    """The Markdown of docs/audit/linux-<version>.md, from collect()'s data."""
    out = []
    w = out.append
    w('# Audit of Linux %s (Debian %s)' % (d['kernel'], d['source']))
    w('')
    w('Generated by `make audit` (coccinelle/audit.sh); do not edit: the '
      'verdicts live in `docs/audit/triage.txt`, the data in the `.json` '
      'beside this file.')
    w('')
    w('- script: `coccinelle/gup_kmap_alias.cocci`, %s' % d['spatch'])
    w('- files: %d `.c` files outside tools/ and scripts/, %d of them call '
      'the GUP family and are given to spatch (a grep first), one spatch per '
      'file, %s at a time' % (d['files'], d['gup_files'], d['jobs']))
    if d.get('not_aliasing') is not None:
        w('- of those, %d are built by Kconfig on no architecture whose '
          'D-cache can alias (`coccinelle/buildable.py`, '
          '`coccinelle/aliasing_arches.tsv`) and are not given to spatch: '
          '%d files audited' % (len(d['not_aliasing']), d['spatch_files']))
    w('- wall time of the whole-tree run on this 2-core machine: %d s '
      '(grep, Kconfig and spatch)' % d['seconds'])
    w('- hits: %d' % len(d['hits']))
    w('')

    w('## Counts and precision')
    w('')
    w('| class | reported | true | arch-only | false | untriaged | '
      'precision (true / reported) | true + arch-only |')
    w('|---|---|---|---|---|---|---|---|')
    for c in CLASSES + ('all',):
        n = d['counts'][c]
        w('| %s | %d | %d | %d | %d | %d | %s | %s |' % (
            c, n['reported'], n['true'], n['arch-only'], n['false'],
            n['untriaged'], pct(n['true'], n['reported']),
            pct(n['true'] + n['arch-only'], n['reported'])))
    w('')
    b = d.get('baseline')
    if b:
        w('Before and after the precision work of issue 19 (before: '
          '`docs/audit/baseline.tsv`, this report at commit dc5be7d; C2 '
          'retired since):')
        w('')
        w('| class | reported before | true before | precision before | '
          'reported now | true now | precision now |')
        w('|---|---|---|---|---|---|---|')
        for c in ('C1', 'C2', 'C3', 'C4', 'all'):
            o = b.get(c, {'reported': 0, 'true': 0})
            n = d['counts'].get(c, {'reported': 0, 'true': 0})
            w('| %s | %d | %d | %s | %s | %s | %s |' % (
                c, o['reported'], o['true'], pct(o['true'], o['reported']),
                n['reported'] if c in d['counts'] else 'retired',
                n['true'] if c in d['counts'] else '-',
                pct(n['true'], n['reported'])))
        w('')
    w('C3 is a report of places where uaccess would do the copy; its "true" '
      'means the pages are the current process\'s and the copy is '
      'synchronous, so copy_to_user()/copy_from_user() or copy_to_iter()/'
      'copy_from_iter() could replace pin + kmap.')
    w('')

    p = d['patched']
    if p:
        w('## With the series applied')
        w('')
        w('The same run over the tree after `quilt push -a` of `series`: '
          '%d hits (stock: %d), in %d s.' % (p['hits'], len(d['hits']),
                                             p['seconds']))
        w('')
        w('fs/fuse/ on stock %s:' % d['kernel'].rsplit('.', 1)[0])
        w('')
        for h in d['hits']:
            if h['file'].startswith('fs/fuse/'):
                w('- `%s:%d` %s(): %s: %s' % (h['file'], h['line'], h['func'],
                                              h['cls'], h['msg']))
        w('')
        w('fs/fuse/ with the series: %s' % (
            'no hit.' if not p['fuse'] else
            ', '.join('%s:%d %s' % (h['file'], h['line'], h['cls'])
                      for h in p['fuse'])))
        w('')
        w('Hits gone with the series: %s.  New hits: %s.' % (
            ', '.join('%(cls)s %(file)s %(func)s()' % g for g in p['gone'])
            or 'none',
            ', '.join('%(cls)s %(file)s %(func)s()' % g for g in p['new'])
            or 'none'))
        w('')

    for c in CLASSES:
        ch = [h for h in d['hits'] if h['cls'] == c]
        w('## %s: %s (%d)' % (c, TITLES[c], len(ch)))
        w('')
        for h in ch:
            v = h['verdict'] if h['verdict'] != 'untriaged' else 'UNTRIAGED'
            w('- `%s:%d` %s(): **%s**%s' % (h['file'], h['line'], h['func'],
                                             v, ': ' + h['why'] if h['why'] else ''))
            w('  <br>spatch: %s' % h['msg'])
        w('')

    if d.get('not_aliasing'):
        w('## Not audited: built on no architecture whose D-cache can alias')
        w('')
        w('They call the GUP family, but Kconfig builds them for none of the '
          'configurations of `coccinelle/aliasing_arches.tsv` '
          '(`coccinelle/buildable.py`): %s.' % ', '.join(
              '`%s`' % f for f in d['not_aliasing']))
        w('')

    if d['missed']:
        w('## Missed: bugs found by reading that the script does not report')
        w('')
        w('Found by reading 7.2 (and 6.1 for cifs); each is listed where this '
          'tree has a function of that name in that file, which was not '
          'read again for this tree.')
        w('')
        for m in d['missed']:
            w('- `%s` %s(), %s: %s' % (m['file'], m['func'], m['cls'], m['why']))
        w('')
    return '\n'.join(out)


def load(path):
    """collect()'s data from @path, or exit with why not."""
    try:
        with open(path) as f:
            d = json.load(f)
        for k in ('kernel', 'source', 'counts', 'hits', 'patched', 'missed'):
            d[k]
        return d
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit('report.py: %s: not an audit (make audit writes it): %s: %s'
                 % (path, type(e).__name__, e))


def check(d, triage):
    """What differs between the verdicts in @d and triage.txt's now."""
    verdicts, _ = read_triage(triage)
    bad = []
    for h in d['hits']:
        v = verdicts.get((h['cls'], h['file'], h['func']), ('untriaged', ''))
        if (h['verdict'], h['why']) != v:
            bad.append('%s %s %s(): %s in the JSON, %s in %s' % (
                h['cls'], h['file'], h['func'], h['verdict'], v[0], triage))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--render', metavar='JSON',
                    help='render this data as Markdown, nothing else')
    ap.add_argument('--check', metavar='JSON',
                    help='compare its verdicts with --triage, nothing else')
    ap.add_argument('--triage')
    ap.add_argument('--tree')
    ap.add_argument('--raw')
    ap.add_argument('--patched')
    ap.add_argument('--jobs', default='?')
    ap.add_argument('--baseline')
    ap.add_argument('--json')
    ap.add_argument('--out')
    a = ap.parse_args()

    if a.check:
        if not a.triage:
            ap.error('--check needs --triage')
        bad = check(load(a.check), a.triage)
        for b in bad:
            print(b)
        sys.exit(1 if bad else 0)
    if a.render:
        md = render(load(a.render))
        if a.out:
            with open(a.out, 'w') as f:
                f.write(md)
        else:
            sys.stdout.write(md)
        return
    if not (a.triage and a.tree and a.raw and a.json and a.out):
        ap.error('--triage, --tree, --raw, --json and --out, or --render')
    d = collect(a)
    with open(a.json, 'w') as f:
        json.dump(d, f, indent=1, sort_keys=True)
        f.write('\n')
    with open(a.out, 'w') as f:
        f.write(render(d))
    untriaged = d['counts']['all']['untriaged']
    if untriaged:
        print('report.py: %s: %d hit(s) without a verdict in %s' %
              (a.out, untriaged, a.triage), file=sys.stderr)


if __name__ == '__main__':
    main()
