// SPDX-License-Identifier: GPL-2.0-only
/// Find user pages that the kernel pins with get_user_pages() and friends
/// and then touches through a kernel mapping (kmap*(), page_address(),
/// memcpy_*_page(), copy_page_*_iter(), vmap()).  On a CPU whose data cache
/// is indexed by virtual address (ARMv5 VIVT, SH-4, PA-RISC, some MIPS) the
/// kernel mapping and the user's mapping of such a page can hold different
/// data, so cachetlb.rst asks for:
///
/// C1 flush_dcache_page()/flush_dcache_folio() after the kernel wrote the
///    page and before it releases or dirties it;
/// (C2, flush_anon_page() before reading GUP-fast pages, is retired: GUP-fast
///    no longer runs where a D-cache aliases, see docs/audit/README.md)
/// C3 (report only) pin + copy through a kernel mapping + release within
///    one call chain: copy_to_user()/copy_from_user() or copy_to_iter()/
///    copy_from_iter() would do the copy through the user's own mapping,
///    which cannot alias;
/// C4 flush_kernel_vmap_range()/invalidate_kernel_vmap_range() around the
///    accesses when the pages stay mapped: vmap(), vm_map_ram(), or a kmap()
///    or page_address() stored in a structure.
///
/// Pages are followed from the GUP call through local variables, array
/// elements, structure fields (by structure type and field name, anywhere
/// in the same file; a field of a type spatch cannot infer joins every
/// field of that name) and one level of helper functions defined in the
/// same file.  Releases and vmaps in a function that fills the carrier
/// with pages of its own (page allocator, page cache) and pins nothing
/// are about those pages, not user pages.  Not seen: pages handed to
/// another file, scatterlists, bio_vecs, helpers of helpers, and whether a
/// copy through a mapping is a read or a write when it happens in a helper
/// the script does not recognise.  Patch mode inserts flush_dcache_page()
/// before the release of a single page (C1) and changes nothing else.
///
// Confidence: Moderate
// Options: --no-includes --include-headers
// Keywords: get_user_pages, pin_user_pages, kmap, flush_dcache_page, vmap
// URL: https://coccinelle.gitlabpages.inria.fr/website

virtual context
virtual patch
virtual org
virtual report

@initialize:python@
@@
import re

PLAIN_MAPS = {'kmap', 'kmap_local_page', 'kmap_atomic', 'page_address',
              'kmap_local_folio', 'folio_address'}
# page helpers that copy out of the page, and those that copy into it and
# flush_dcache_page() by themselves (highmem.h)
READ_HELPERS = {'memcpy_from_page', 'copy_page_to_iter', 'memcpy_from_folio'}
FLUSHING = {'memcpy_to_page', 'memzero_page', 'zero_user', 'zero_user_segment',
            'zero_user_segments', 'memcpy_to_folio', 'folio_zero_range',
            'folio_zero_segment', 'folio_zero_segments'}
# the functions that fill a page array of the kernel's own: which argument
KFILL = {'__readahead_batch': 1, 'alloc_pages_bulk_array': 2,
         'alloc_pages_bulk': 2, 'find_get_pages_range_tag': 5,
         'find_get_pages_contig': 3}
MAPS = r'\b(kmap\w*|page_address|folio_address|vmap|vm_map_ram)\s*\('

# Facts of each file, kept as they come; state holds the current file.
# Every rule is applied to a file (with the headers spatch is told to
# include, whose matches come in between) before it reports and goes on.
# Which pages came from which GUP call is worked out at the end, over the
# assignments, calls and returns seen.  A fact is (node, function, line,
# column, position, extra).
files = {}
state = {}

def switch(f):
    global state
    if f not in files:
        files[f] = dict(file=f, gups=[], edges={}, maps=[], copies=[],
                        writes=[], dflush=[], vflush=[], rel=[],
                        vmaps=[], mapvars=[], sites=[], owner=None,
                        types={}, kpages=[])
    state = files[f]

def at(p):
    if state.get('file') != p.file:
        switch(p.file)
    return p

def typeof(base, fn):
    """The structure type of the expression base in function fn, as spatch
    inferred it ('?' when it could not: a type from a header it was not
    given, a field of a field)."""
    t = state['types'].get((fn, base)) or state['types'].get((None, base))
    if not t:
        return '?'
    return re.sub(r'\b(const|volatile)\b|\*|\s', '', t)

def strip_index(e):
    """e without what follows its first top-level + or -, and without its
    trailing [index]es: a->b[i].c[j] + 1 is a->b[i].c."""
    depth = 0
    for i, c in enumerate(e):
        depth += c in '[(' and 1 or c in '])' and -1 or 0
        if depth == 0 and (c == '+' or c == '-' and e[i + 1:i + 2] != '>'):
            e = e[:i]
            break
    while e.endswith(']'):
        depth = 0
        for i in range(len(e) - 1, -1, -1):
            depth += e[i] == ']' and 1 or e[i] == '[' and -1 or 0
            if depth == 0:
                break
        e = e[:i]
    return e

def node(e, fn):
    """What carries the pages in expression e inside function fn: a field
    ('f', type, name) of a structure of that type, a variable ('l', fn,
    name), or what a function of this file returns ('r', name)."""
    e = re.sub(r'\s+', '', e)
    m = re.match(r'^(\w+)\(', e)
    if m and m.group(1) not in ('page_folio', 'virt_to_page', 'folio_page'):
        return ('r', m.group(1))
    m = re.match(r'^(page_folio|virt_to_page|folio_page)\((.*?)(,.*)?\)$', e)
    if m:
        e = m.group(2)
    while e[:1] in ('&', '*', '('):
        e = e[1:-1] if e[0] == '(' and e[-1] == ')' else e[1:]
    e = strip_index(e)
    m = re.search(r'(->|\.)(\w+)$', e)
    if m:
        return ('f', typeof(e[:m.start()], fn), m.group(2))
    return ('l', fn, e) if re.match(r'^[A-Za-z_]\w*$', e) else None

def edge(a, b, p):
    """Pages in a move on to b at position p."""
    if a is not None and b is not None and a != b:
        state['edges'].setdefault(a, set()).add((b, p.current_element,
                                                 int(p.line)))

def untyped():
    """A field of a structure whose type spatch could not infer may be the
    field of that name of any structure: join them both ways."""
    fields = {}
    for n in list(state['edges']) + [b for bs in state['edges'].values()
                                     for b, fn, line in bs] + \
            [g['node'] for g in state['gups']]:
        if n and n[0] == 'f':
            fields.setdefault(n[2], set()).add(n)
    for name, ns in fields.items():
        q = ('f', '?', name)
        if q in ns:
            for n in ns - {q}:
                state['edges'].setdefault(q, set()).add((n, None, 0))
                state['edges'].setdefault(n, set()).add((q, None, 0))

def kernel_pages():
    """(function, node): what a function fills with pages of the kernel's
    own (the page allocator, the page cache) and what it derives from them
    there, when that function calls no GUP: its releases and vmaps of
    that node are of those pages, whatever else the node carries
    elsewhere (6.1's cifs: rdata->pages holds user pages for direct I/O
    and alloc_page() ones for the rest)."""
    gfn = {g['fn'] for g in state['gups']}
    out = set()
    for n, fn in state['kpages']:
        if fn in gfn:
            continue
        todo = [n]
        while todo:
            x = todo.pop()
            if x is None or (fn, x) in out:
                continue
            out.add((fn, x))
            todo.extend(b for b, f, line in state['edges'].get(x, ())
                        if f == fn)
    return out

def owners():
    """Node -> the GUP calls whose pages reach it, first one first."""
    if state['owner'] is None:
        # the types of fields are known once the whole file has been seen
        for g in state['gups']:
            g['node'] = node(g['pg'], g['fn'])
        untyped()
        own = {}
        for g in sorted(state['gups'], key=lambda g: g['line']):
            todo, seen = [g['node']], set()
            while todo:
                n = todo.pop()
                if n in seen or n is None:
                    continue
                seen.add(n)
                own.setdefault(n, []).append(g)
                # in the function of the GUP call, what was assigned before the
                # call cannot hold its pages (loops aside)
                todo.extend(b for b, fn, line in state['edges'].get(n, ())
                            if fn != g['fn'] or line >= g['line'])
        state['owner'] = own
        through_mappings()
    return state['owner']

def through_mappings():
    """Accesses through a pointer that a mapping of pages returned, or
    that was derived from one, become facts about those pages."""
    pages = {}
    for v, pg in state['mapvars']:
        todo = [v]
        while todo:
            n = todo.pop()
            if n is None or n in pages:
                continue
            pages[n] = pg
            todo.extend(b for b, fn, line in state['edges'].get(n, ()))
    for x, fn, line, col, p, write in state['sites']:
        if x in pages:
            f = (pages[x], fn, line, col, p, None)
            state['copies'].append(f)
            if write:
                state['writes'].append(f)

def fact(p, e, extra=None):
    return (node(e, p.current_element), p.current_element, int(p.line),
            int(p.column), p, extra)

def gups_of(f):
    return owners().get(f[0], []) if f[0] is not None else []

def gup_of(f):
    g = gups_of(f)
    return g[0] if g else None

def mine(facts):
    return [f for f in facts if gups_of(f)]

def same(a, b):
    """Facts a and b are about pages of the same GUP call."""
    return any(g in gups_of(b) for g in gups_of(a))

def between(f, a, b):
    """Fact f lies on the way from fact a to fact b."""
    if f[1] == b[1] and f[2] < b[2] and (f[1] != a[1] or f[2] > a[2]):
        return True
    return f[1] == a[1] and f[1] != b[1] and f[2] > a[2]

def first(facts):
    """The first fact per function and pages."""
    out = {}
    for f in sorted(facts, key=lambda f: (f[2], f[3])):
        out.setdefault((f[1], id(gup_of(f))), f)
    return list(out.values())

def c1_sites():
    """Releases of pages written through a kernel mapping with no
    flush_dcache_*() on the way: the first release per function."""
    out = []
    kp = kernel_pages()
    for r in first(mine(state['rel'])):
        if (r[1], r[0]) in kp:
            continue
        for w in mine(state['writes']):
            if not same(w, r) or (w[1] == r[1] and w[2] > r[2]):
                continue
            if any(same(f, w) and between(f, w, r) for f in state['dflush']):
                continue
            out.append((r, w))
            break
    return out

def c1_at(p, single):
    p = p[0]
    if p.file not in files:
        return False
    switch(p.file)
    for r, w in c1_sites():
        if (r[1], r[2], r[3]) == (p.current_element, int(p.line),
                                   int(p.column)) and (r[5] or not single):
            return True
    return False

def c3_sites():
    """GUP calls on the current mm whose pages are copied through a kernel
    mapping and released in the same file."""
    out = []
    for g in state['gups']:
        if g['mm'] != 'current->mm':
            continue
        cp = [c for c in mine(state['copies']) if g in gups_of(c)]
        rl = [r for r in mine(state['rel']) if g in gups_of(r)]
        if cp and rl:
            out.append((g, min(cp, key=lambda f: f[2]),
                        min(rl, key=lambda f: f[2])))
    return out

def c4_sites():
    kp = kernel_pages()
    return [] if state['vflush'] else [v for v in mine(state['vmaps'])
                                       if (v[1], v[0]) not in kp]

def where(f, here):
    if f[1] == here:
        return 'line %d' % f[2]
    return '%s() line %d' % (f[1], f[2])

def tell_all(mode):
    for f in sorted(files):
        if files[f]['gups']:
            switch(f)
            tell_file(mode)
    files.clear()

def tell_file(mode):
    out = []
    for r, w in c1_sites():
        out.append((r[4], "C1: written through a kernel mapping at %s, "
                    "released here with no flush_dcache_page()/"
                    "flush_dcache_folio() before" % where(w, r[1])))
    for g, c, r in c3_sites():
        out.append((g['pos'], "C3: pinned here, copied through a kernel "
                    "mapping at %s, released at %s: copy_{to,from}_user() "
                    "or copy_{to,from}_iter() would not alias"
                    % (where(c, g['fn']), where(r, g['fn']))))
    for v in c4_sites():
        out.append((v[4], "C4: user pages kept mapped by %s with no "
                    "flush_kernel_vmap_range()/invalidate_kernel_vmap_range()"
                    " in this file" % v[5]))
    for p, msg in sorted(out, key=lambda o: (int(o[0].line), int(o[0].column), o[1])):
        msg = msg[:4] + p.current_element + '(): ' + msg[4:]
        if mode == 'org':
            coccilib.org.print_todo(p, msg.replace('[', '@(').replace(']', ')'))
        else:
            coccilib.report.print_report(p, msg)

@gup@
identifier gf1 = {get_user_pages, pin_user_pages, get_user_pages_fast,
                  pin_user_pages_fast, get_user_pages_fast_only};
identifier gf2 = {get_user_pages_unlocked, pin_user_pages_unlocked};
identifier gf3 = {get_user_pages_remote, pin_user_pages_remote};
identifier gf4 = {iov_iter_get_pages2, iov_iter_get_pages_alloc2,
                  iov_iter_extract_pages};
identifier gf5 = {get_user_page_vma_remote};
expression S, N, F, MM, I, PG;
position gp;
@@

(
 gf1@gp(S, N, F, PG)
|
 gf2@gp(S, N, PG, F)
|
 gf3@gp(MM, S, N, F, PG, ...)
|
 gf4@gp(I, PG, ...)
|
 PG = gf5@gp(MM, ...)
)

@script:python@
gp << gup.gp;
PG << gup.PG;
MM << gup.MM = "current->mm";
gf1 << gup.gf1 = "";
gf2 << gup.gf2 = "";
gf3 << gup.gf3 = "";
gf4 << gup.gf4 = "";
gf5 << gup.gf5 = "";
@@

p = at(gp[0])
name = gf1 + gf2 + gf3 + gf4 + gf5
state['gups'].append({'fn': p.current_element, 'line': int(p.line),
                      'pos': p, 'name': name,
                      'mm': re.sub(r'\s', '', MM),
                      'pg': PG, 'node': None})

// The type of each expression whose field is taken: pages are followed
// through fields by (structure type, field name).
@ftype depends on gup@
type T;
T E;
identifier f;
position fp;
@@

(
 E@fp->f
|
 E@fp.f
)

@script:python@
fp << ftype.fp;
E << ftype.E;
T << ftype.T;
@@

p = at(fp[0])
state['types'][(p.current_element, re.sub(r'\s+', '', E))] = T

// Pages of the kernel's own: from the page allocator or the page cache,
// returned, or filled into the array argument of KFILL.
@kpage depends on gup@
expression L;
identifier ka = {alloc_page, alloc_pages, alloc_pages_node, folio_alloc,
                 __page_cache_alloc, filemap_alloc_folio, find_get_page,
                 find_lock_page, find_or_create_page, grab_cache_page,
                 grab_cache_page_write_begin, readahead_folio,
                 readahead_page, vmalloc_to_page, virt_to_page,
                 __filemap_get_folio, filemap_grab_folio};
identifier kf = {__readahead_batch, alloc_pages_bulk_array,
                 alloc_pages_bulk, find_get_pages_range_tag,
                 find_get_pages_contig};
expression list[n] es;
expression X;
position kp;
@@

(
 L@kp = ka(...)
|
 kf@kp(es, X, ...)
)

@script:python@
kp << kpage.kp;
L << kpage.L = "";
kf << kpage.kf = "";
n << kpage.n = "";
X << kpage.X = "";
@@

p = at(kp[0])
fn = p.current_element
if L:
    state['kpages'].append((node(L, fn), fn))
elif KFILL.get(kf) == int(n):
    state['kpages'].append((node(X, fn), fn))

@kdecl depends on gup@
identifier ka = {alloc_page, alloc_pages, alloc_pages_node, folio_alloc,
                 __page_cache_alloc, filemap_alloc_folio, find_get_page,
                 find_lock_page, find_or_create_page, grab_cache_page,
                 grab_cache_page_write_begin, readahead_folio,
                 readahead_page, vmalloc_to_page, virt_to_page,
                 __filemap_get_folio, filemap_grab_folio};
type T;
identifier y;
position kp;
@@

 T y@kp = ka(...);

@script:python@
kp << kdecl.kp;
y << kdecl.y;
@@

p = at(kp[0])
state['kpages'].append((('l', p.current_element, y), p.current_element))

// Pages move on by assignment, by initialisation, through calls and
// through what functions return.
@assign depends on gup@
expression L, R;
position ap;
@@

 L@ap = R

@script:python@
ap << assign.ap;
L << assign.L;
R << assign.R;
@@

p = at(ap[0])
if not re.search(MAPS, R):
    edge(node(R, p.current_element), node(L, p.current_element), p)

@decl depends on gup@
type T;
identifier y;
expression R;
position ap;
@@

 T y@ap = R;

@script:python@
ap << decl.ap;
y << decl.y;
R << decl.R;
@@

p = at(ap[0])
if not re.search(MAPS, R):
    edge(node(R, p.current_element), ('l', p.current_element, y), p)

@call depends on gup@
identifier h;
expression list[n] es;
expression X;
position cp;
@@

 h@cp(es, X, ...)

@script:python@
cp << call.cp;
h << call.h;
n << call.n;
X << call.X;
@@

p = at(cp[0])
edge(node(X, p.current_element), ('p', h, int(n)), p)

@def depends on gup@
identifier h, y;
parameter list[n] ps;
type T;
position dp;
@@

 h@dp(ps, T y, ...) { ... }

@script:python@
dp << def.dp;
h << def.h;
n << def.n;
y << def.y;
@@

p = at(dp[0])
edge(('p', h, int(n)), ('l', h, y), p)

@ret depends on gup@
expression X;
position rp;
@@

 return@rp X;

@script:python@
rp << ret.rp;
X << ret.X;
@@

p = at(rp[0])
edge(node(X, p.current_element), ('r', p.current_element), p)

// What is done with the pages: mappings, copies, flushes, releases.
@map depends on gup@
expression P;
identifier m = {kmap, kmap_local_page, kmap_atomic, page_address,
                kmap_local_folio, folio_address, memcpy_from_page,
                memcpy_to_page, memzero_page, copy_page_to_iter,
                copy_page_from_iter, copy_page_from_iter_atomic,
                zero_user, zero_user_segment, zero_user_segments,
                memcpy_from_folio, memcpy_to_folio, folio_zero_range,
                folio_zero_segment, folio_zero_segments};
position mp;
@@

 m@mp(P, ...)

@script:python@
mp << map.mp;
P << map.P;
m << map.m;
@@

p = at(mp[0])
state['maps'].append(fact(p, P, m))
if m not in PLAIN_MAPS:
    state['copies'].append(fact(p, P, m))
    if m not in READ_HELPERS and m not in FLUSHING:
        state['writes'].append(fact(p, P, m))

@mapd depends on gup@
expression P, D;
identifier m = {memcpy_from_page, memcpy_page};
position mp;
@@

 m@mp(D, P, ...)

@script:python@
mp << mapd.mp;
P << mapd.P;
m << mapd.m;
@@

p = at(mp[0])
state['maps'].append(fact(p, P, m))
state['copies'].append(fact(p, P, m))

@wdst depends on gup@
expression P;
position wp;
@@

 memcpy_page@wp(P, ...)

@script:python@
wp << wdst.wp;
P << wdst.P;
@@

p = at(wp[0])
state['maps'].append(fact(p, P, 'memcpy_page'))
state['writes'].append(fact(p, P, 'memcpy_page'))

// Copies through the pointer a mapping returned, or through a pointer
// derived from it (buf = addr + offset): the mappings and the accesses are
// kept apart and joined at the end, over the same assignments.
@mapvar depends on gup@
expression P, V;
identifier m = {kmap, kmap_local_page, kmap_atomic, page_address,
                kmap_local_folio, folio_address};
position vp;
@@

 V@vp = m(P, ...)

@script:python@
vp << mapvar.vp;
P << mapvar.P;
V << mapvar.V;
@@

p = at(vp[0])
state['mapvars'].append((node(V, p.current_element),
                         node(P, p.current_element)))

@mapdecl depends on gup@
expression P;
identifier I;
type T;
identifier m = {kmap, kmap_local_page, kmap_atomic, page_address,
                kmap_local_folio, folio_address};
position vp;
@@

 T I@vp = m(P, ...);

@script:python@
vp << mapdecl.vp;
P << mapdecl.P;
I << mapdecl.I;
@@

p = at(vp[0])
state['mapvars'].append((('l', p.current_element, I),
                         node(P, p.current_element)))

@write depends on gup@
expression X, E;
assignment operator aop;
identifier wr = {memcpy, memmove, memset, memset16, memset32, memset64,
                 copy_from_user,
                 __copy_from_user, __copy_from_user_inatomic,
                 copy_from_user_inatomic, copy_from_iter,
                 _copy_from_iter, copy_from_iter_full, strscpy,
                 bitmap_set, bitmap_clear};
identifier bw = {set_bit, clear_bit, __set_bit, __clear_bit,
                 test_and_set_bit, test_and_clear_bit, change_bit};
position wp;
@@

(
 wr@wp(X, ...)
|
 bw@wp(E, X)
|
 *X@wp aop E
|
 X@wp[E] aop E
)

@script:python@
wp << write.wp;
X << write.X;
@@

p = at(wp[0])
state['sites'].append((node(X, p.current_element), p.current_element,
                       int(p.line), int(p.column), p, True))

@read depends on gup@
expression X, D;
identifier rd = {copy_to_user, __copy_to_user, __copy_to_user_inatomic,
                 copy_to_iter, _copy_to_iter};
position rp;
@@

(
 \(memcpy@rp\|memmove@rp\|rd@rp\)(D, X, ...)
|
 rd@rp(X, ...)
)

@script:python@
rp << read.rp;
X << read.X;
@@

p = at(rp[0])
state['sites'].append((node(X, p.current_element), p.current_element,
                       int(p.line), int(p.column), p, False))

@dflush depends on gup@
expression P;
position fp;
@@

 \(flush_dcache_page@fp(P)\|flush_dcache_folio@fp(P)\)

@script:python@
fp << dflush.fp;
P << dflush.P;
@@

p = at(fp[0])
state['dflush'].append(fact(p, P))

@vflush depends on gup@
position fp;
@@

 \(flush_kernel_vmap_range@fp\|invalidate_kernel_vmap_range@fp\)(...)

@script:python@
fp << vflush.fp;
@@

state['vflush'].append(at(fp[0]))

@rel depends on gup@
expression P;
identifier r1 = {put_page, set_page_dirty, set_page_dirty_lock,
                 unpin_user_page, folio_put, unpin_folio};
identifier r2 = {unpin_user_pages, unpin_user_pages_dirty_lock,
                 release_pages, unpin_user_page_range_dirty_lock,
                 unpin_folios};
position rp;
@@

(
 r1@rp(P)
|
 r2@rp(P, ...)
)

@script:python@
rp << rel.rp;
P << rel.P;
r1 << rel.r1 = "";
@@

p = at(rp[0])
# a release of one page can be given a flush_dcache_page() in front
state['rel'].append(fact(p, P, r1 != ""))

@vm depends on gup@
expression P, E;
identifier m = {vmap, vm_map_ram};
identifier k = {kmap, page_address, folio_address};
position vp;
@@

(
 m@vp(P, ...)
|
 E = k@vp(P)
)

@script:python@
vp << vm.vp;
P << vm.P;
E << vm.E = "";
m << vm.m = "";
@@

p = at(vp[0])
if m or (node(E, p.current_element) or ('',))[0] == 'f':
    state['vmaps'].append(fact(p, P, m + "()" if m else
                               "a pointer stored in " + re.sub(r'\s', '', E)))

// ------------------------------------------------------------ output

@c1 depends on gup && context && !patch@
expression P;
identifier r = {put_page, set_page_dirty, set_page_dirty_lock,
                unpin_user_page, folio_put, unpin_folio, unpin_user_pages,
                unpin_user_pages_dirty_lock, release_pages,
                unpin_user_page_range_dirty_lock, unpin_folios};
position rp : script:python() { c1_at(rp, False) };
@@

* r@rp(P, ...)

@c1fix depends on gup && patch@
expression P;
identifier r = {put_page, set_page_dirty, set_page_dirty_lock,
                unpin_user_page};
position rp : script:python() { c1_at(rp, True) };
@@

+ flush_dcache_page(P);
  r@rp(P);

@script:python depends on gup && report@
@@

tell_all('report')

@script:python depends on gup && org@
@@

tell_all('org')
