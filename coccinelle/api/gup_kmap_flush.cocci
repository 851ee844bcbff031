// SPDX-License-Identifier: GPL-2.0-only
/// Find pages got with get_user_pages() or a relative that are written
/// through a kernel mapping and then released or dirtied with no
/// flush_dcache_page(): where the D-cache aliases (ARMv4/v5, ARMv6 VIPT,
/// SH-4, PA-RISC, some MIPS) the user can read stale data
/// (Documentation/core-api/cachetlb.rst).
///
// Confidence: Moderate
// Comments: One function at a time: a write in a helper or pages kept in
//           a structure are not seen.  A flush_dcache_page() of any page
//           (even another one) on the path suppresses the report.
//           kmap_local_folio() and stores through a cast are not
//           followed.  memcpy_to_page(), memzero_page() and zero_user*()
//           flush by themselves.  iov_iter_get_pages2() and its kin give
//           kernel pages for a BVEC or KVEC iterator: no bug there.
//           Patch mode inserts the flush only before the release of a
//           single page: where pages are released in bulk it adds none,
//           and the flush belongs after the write.
// Options: --no-includes --include-headers
// Keywords: get_user_pages, pin_user_pages, kmap, flush_dcache_page
// URL: https://coccinelle.gitlabpages.inria.fr/website

virtual context
virtual patch
virtual org
virtual report

@r exists@
identifier gup = {get_user_pages, get_user_pages_fast, get_user_pages_fast_only,
	get_user_pages_remote, get_user_pages_unlocked, pin_user_pages,
	pin_user_pages_fast, pin_user_pages_remote, pin_user_pages_unlocked,
	get_user_page_vma_remote, iov_iter_get_pages2, iov_iter_get_pages_alloc2,
	iov_iter_extract_pages};
identifier map = {kmap, kmap_atomic, kmap_local_page, page_address};
identifier put = {put_page, unpin_user_page, unpin_user_pages,
	unpin_user_pages_dirty_lock, set_page_dirty, set_page_dirty_lock};
identifier put2 = {put_page, unpin_user_page, unpin_user_pages,
	unpin_user_pages_dirty_lock, set_page_dirty, set_page_dirty_lock};
identifier cp = {memcpy, memset, memmove, copy_from_user, copy_from_iter};
identifier bit = {set_bit, clear_bit, __set_bit, __clear_bit, change_bit};
idexpression pp;
expression E, E1, E2;
identifier V, Q;
type T;
assignment operator aop;
position p1, p2, p3;
@@

(
gup@p1(..., &pp, ...)
|
gup@p1(..., pp, ...)
|
pp = gup@p1(...)
)
... when any
    when != pp = E
    when != put2(<+...pp...+>, ...)
(
V = map(\(pp\|pp[E]\|*pp\));
|
T V = map(\(pp\|pp[E]\|*pp\));
)
... when != \(flush_dcache_page\|flush_dcache_folio\)(...)
    when != V = E1
(
Q = <+...V...+>;
... when != \(flush_dcache_page\|flush_dcache_folio\)(...)
    when != Q = E1
(
cp@p2(<+...Q...+>, ...)
|
bit@p2(E2, <+...Q...+>)
|
 *Q@p2 aop E2
|
Q@p2[E1] aop E2
)
|
(
cp@p2(<+...V...+>, ...)
|
bit@p2(E2, <+...V...+>)
|
 *V@p2 aop E2
|
V@p2[E1] aop E2
)
)
... when != \(flush_dcache_page\|flush_dcache_folio\)(...)
    when != put2(<+...pp...+>, ...)
put@p3(<+...pp...+>, ...)

@depends on context@
identifier X;
position r.p1, r.p2, r.p3;
@@

(
* X@p1
|
* X@p2
|
* X@p3
)

@depends on patch@
idexpression r.pp;
identifier r.put;
position r.p3;
expression E;
@@

(
+ flush_dcache_page(pp);
  put@p3(pp);
|
+ flush_dcache_page(pp[E]);
  put@p3(pp[E]);
|
+ flush_dcache_page(pp);
  put@p3(&pp, 1, ...);
)

@script:python depends on report@
p1 << r.p1;
p3 << r.p3;
gup << r.gup;
@@

coccilib.report.print_report(p3[0],
	"WARNING: page from %s() on line %s written through a kernel mapping and released with no flush_dcache_page()"
	% (gup, p1[0].line))

@script:python depends on org@
p1 << r.p1;
p2 << r.p2;
p3 << r.p3;
@@

cocci.print_main("released with no flush_dcache_page()", p3)
cocci.print_secs("written through a kernel mapping", p2)
cocci.print_secs("pinned", p1)
