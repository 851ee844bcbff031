#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Which .c files of a kernel tree Kconfig can build on an architecture
whose D-cache can alias (coccinelle/aliasing_arches.tsv): code that cannot
run on such a CPU cannot have the bugs gup_kmap_alias.cocci looks for.

    buildable.py --tree T --cache DIR [--arches TSV] [--configs DIR] < FILES
        prints the files kept; on stderr, "skip FILE" for the others

For each row of the TSV, `make ARCH=<arch> allyesconfig` with
CONFIG_COMPILE_TEST off (and the row's settings) writes a .config under
DIR/<digest of the tree's Kconfig files> (once per Kconfig; with --configs, DIR/<arch>-<row>.config are read as
they are: the unit tests).  A file is kept when, on one of those configs,
every kbuild line that can link it is enabled: the line of its object in
its directory's Makefile or Kbuild (obj-$(CONFIG_X) += f.o, or a composite
object's list, followed to the composite's own line), and so on up
through the directories (obj-$(CONFIG_Y) += dir/), up to the top, where
arch/<a>/ counts only for <a> itself.  What cannot be resolved keeps the
file: a file mentioned by no Makefile line (an #included .c, a list built
in make variables), ifeq blocks (read as if true), and every line with a
condition other than $(CONFIG_...).  Only a provable "no aliasing
configuration builds this" drops a file.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def read_arches(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.startswith('#') or not line.strip():
                continue
            fields = line.rstrip('\n').split('\t')
            if len(fields) != 3 or not all(fields):
                sys.exit('buildable.py: %s:%d: want arch<TAB>settings<TAB>why'
                         % (path, n))
            arch, settings, why = fields
            settings = [] if settings == '-' else settings.split()
            for st in settings:
                if not re.match(r'^\w+=[yn]$', st):
                    sys.exit('buildable.py: %s:%d: setting %r is not '
                             'SYMBOL=y or SYMBOL=n' % (path, n, st))
            rows.append((arch, settings, '%s:%d' % (path, n)))
    return rows


def check_arches(tree, rows):
    """The TSV's arches are the tree's, where the tree says which."""
    sel = set()
    adir = os.path.join(tree, 'arch')
    for a in sorted(os.listdir(adir)):
        try:
            with open(os.path.join(adir, a, 'Kconfig')) as f:
                if not re.search(r'^\s*select ARCH_HAS_CPU_CACHE_ALIASING\b',
                                 f.read(), re.M):
                    continue
        except OSError:
            continue
        try:
            with open(os.path.join(adir, a, 'include/asm/cachetype.h')) as f:
                if re.search(r'#define cpu_dcache_is_aliasing\(\)\s+false\s*$',
                             f.read(), re.M):
                    continue
        except OSError:
            pass
        sel.add(a)
    if not sel:
        return 'the tree has no ARCH_HAS_CPU_CACHE_ALIASING: TSV taken as is'
    tsv = {a for a, s, _ in rows}
    if sel != tsv:
        sys.exit('buildable.py: %s: arches whose D-cache can alias: %s; '
                 'aliasing_arches.tsv: %s' % (tree, ' '.join(sorted(sel)),
                                              ' '.join(sorted(tsv))))
    return 'the tree agrees: ' + ' '.join(sorted(sel))


def kconfig_key(tree, rows):
    """A digest of the tree's Kconfig files and the rows: the configs of
    a tree whose Kconfig is the same (the patched tree) are reused."""
    h = hashlib.sha1(repr([(a, s) for a, s, _ in rows]).encode())
    for d, dirs, files in os.walk(tree):
        dirs[:] = sorted(x for x in dirs if x not in ('.pc', '.git')
                         and not x.startswith('lab-obj-'))
        for n in sorted(files):
            if n.startswith('Kconfig'):
                with open(os.path.join(d, n), 'rb') as f:
                    h.update(os.path.relpath(os.path.join(d, n), tree).encode())
                    h.update(f.read())
    return h.hexdigest()[:16]


def make_configs(tree, rows, cache, jobs):
    """allyesconfig of each row, jobs at a time, under cache/<key>/."""
    key = os.path.join(cache, kconfig_key(tree, rows))
    os.makedirs(key, exist_ok=True)
    out, todo = [], []
    for i, (arch, settings, where) in enumerate(rows):
        cfg = os.path.join(key, '%s-%d.config' % (arch, i))
        out.append((arch, cfg))
        if os.path.exists(cfg):
            continue
        odir = os.path.join(key, 'o-%s-%d' % (arch, i))
        os.makedirs(odir, exist_ok=True)
        allc = os.path.join(odir, 'allconfig')
        with open(allc, 'w') as f:
            f.write('# CONFIG_COMPILE_TEST is not set\n')
            for st in settings:
                k, v = st.split('=')
                f.write('# CONFIG_%s is not set\n' % k if v == 'n'
                        else 'CONFIG_%s=%s\n' % (k, v))
        todo.append((arch, cfg, odir, allc, settings, where))
    running = []
    while todo or running:
        while todo and len(running) < jobs:
            arch, cfg, odir, allc, settings, where = todo.pop(0)
            p = subprocess.Popen(['make', '-s', '-C', tree, 'O=' + odir,
                                  'ARCH=' + arch, 'CC=gcc', 'HOSTCC=gcc',
                                  'KCONFIG_ALLCONFIG=' + allc, 'allyesconfig'],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            running.append((p, arch, cfg, odir, settings, where))
        p, arch, cfg, odir, settings, where = running.pop(0)
        err = p.communicate()[1]
        if p.returncode:
            sys.exit('buildable.py: make ARCH=%s allyesconfig failed: %s'
                     % (arch, err[-500:]))
        os.replace(os.path.join(odir, '.config'), cfg)
        subprocess.run(['rm', '-rf', odir])
    # a setting Kconfig could not honour (a misspelt symbol, a CPU the
    # platform allyesconfig picked cannot have) would silently audit
    # another configuration: refuse it
    for (arch, cfg), (_, settings, where) in zip(out, rows):
        on = read_config(cfg)
        bad = [st for st in settings
               if (('CONFIG_' + st[:-2]) in on) != st.endswith('=y')]
        if bad:
            sys.exit('buildable.py: %s: ARCH=%s allyesconfig did not keep %s'
                     % (where, arch, ' '.join(bad)))
    return out


def read_config(path):
    on = set()
    with open(path) as f:
        for line in f:
            m = re.match(r'^(CONFIG_\w+)=[ym]$', line)
            if m:
                on.add(m.group(1))
    return on


class Kbuild:
    def __init__(self, tree):
        self.tree = tree
        self.mk = {}

    def lines(self, d):
        """(lhs, rhs words) of the assignments of directory d's Makefile
        and Kbuild."""
        if d not in self.mk:
            text = ''
            for n in ('Makefile', 'Kbuild'):
                try:
                    with open(os.path.join(self.tree, d, n),
                              errors='replace') as f:
                        text += f.read() + '\n'
                except OSError:
                    pass
            text = re.sub(r'\\\n', ' ', text)
            out = []
            for line in text.split('\n'):
                line = line.split('#')[0]
                m = re.match(r'^\s*([^\s:+?=]+)\s*(\+=|:=|=|\?=)(.*)$', line)
                if m:
                    out.append((m.group(1), m.group(3).split()))
            self.mk[d] = out
        return self.mk[d]


def built(kb, path, arch, on, memo):
    """Can kbuild link path (dir/f.o, or dir/ for a directory) on this
    config?  True when it cannot tell."""
    key = path
    if key in memo:
        return memo[key]
    memo[key] = True            # cycles: do not know
    parts = path.rstrip('/').split('/')
    if parts[0] == 'arch' and len(parts) >= 2 and parts[1] != arch:
        memo[key] = False
        return False
    if len(parts) == 1 or (parts[0] == 'arch' and len(parts) == 2):
        return True
    found, ok = False, False
    for k in range(len(parts) - 1, 0, -1):
        d = '/'.join(parts[:k])
        rel = '/'.join(parts[k:]) + ('/' if path.endswith('/') else '')
        for lhs, words in kb.lines(d):
            if rel not in words and ('$(obj)/' + rel) not in words:
                continue
            syms = re.findall(r'CONFIG_\w+', lhs)
            m = re.match(r'^(obj|lib|core|drivers|libs|head)-', lhs)
            c = re.match(r'^([\w.-]+?)-(y|objs|\$\(CONFIG_\w+\))$', lhs)
            if m:
                up = d + '/'
            elif c:
                up = d + '/' + c.group(1) + '.o'
            else:
                continue
            if re.sub(r'\$\(CONFIG_\w+\)', '', lhs).count('$'):
                found, ok = True, True          # a condition we cannot read
                continue
            found = True
            if all(s in on for s in syms) and built(kb, up, arch, on, memo):
                ok = True
        if found:
            break
    if found:
        memo[key] = ok
    elif path.endswith('/'):
        memo[key] = True
    else:
        # in no Makefile (an #included .c): as its directory
        memo[key] = built(kb, '/'.join(parts[:-1]) + '/', arch, on, memo)
    return memo[key]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tree', required=True)
    ap.add_argument('--cache')
    ap.add_argument('--configs')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--arches', default=os.path.join(here,
                                                     'aliasing_arches.tsv'))
    a = ap.parse_args()
    rows = read_arches(a.arches)
    if a.configs:
        cfgs = [(arch, os.path.join(a.configs, '%s-%d.config' % (arch, i)))
                for i, (arch, s, _) in enumerate(rows)]
    else:
        print('buildable: ' + check_arches(a.tree, rows), file=sys.stderr)
        cfgs = make_configs(a.tree, rows, a.cache, a.jobs)
    kb = Kbuild(a.tree)
    confs = [(arch, read_config(c), {}) for arch, c in cfgs]
    for f in sys.stdin.read().split():
        obj = re.sub(r'\.c$', '.o', f)
        if any(built(kb, obj, arch, on, memo) for arch, on, memo in confs):
            print(f)
        else:
            print('skip ' + f, file=sys.stderr)


if __name__ == '__main__':
    main()
