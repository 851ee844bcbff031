#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The tests of coccinelle/api/gup_kmap_flush.cocci must be able to fail:
# break the script one way at a time and check that api.sh then fails,
# on the fixtures alone (QUICK=1: report, patch, context and org modes)
# unless the mutation is meant for one of api.sh's two other checks (the
# GUP family, the kernel patch).
#
#   coccinelle/tests/api_mutate.sh      TAP, then "N passed, N failed"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/judge.sh"
cocci=$here/../api/gup_kmap_flush.cocci
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name # quick or full # the original text (every occurrence) # its replacement
mutations=(
"flush_dcache_page is not seen#quick#\(flush_dcache_page\|flush_dcache_folio\)(...)#flush_dcache_folio(...)"
"flush_dcache_folio is not seen#quick#\(flush_dcache_page\|flush_dcache_folio\)(...)#flush_dcache_page(...)"
"any function counts as GUP#quick#identifier gup = {get_user_pages,#identifier gup = {alloc_page, get_user_pages,"
"the page a GUP call returns is not followed#quick#pp = gup@p1(...)#pp = gup@p1(E2, E2, E2, E2, E2)"
"pages by address are not followed#quick#gup@p1(..., &pp, ...)#gup@p1(&pp, ...)"
"pointers computed from the mapping are not followed#quick#*Q@p2 aop E2#*Q@p2 aop E2 + 1"
"set_bit is not a write#quick#identifier bit = {set_bit, clear_bit,#identifier bit = {clear_bit,"
"memcpy is not a write#quick#identifier cp = {memcpy, #identifier cp = {"
"stores through the mapping are not writes#quick# *V@p2 aop E2# *V@p2 aop E2 + 1"
"stores into an array are not writes#quick#V@p2[E1] aop E2#V@p2[E1] aop E2 + 1"
"a reassigned mapping still counts#quick#    when != V = E1
(#("
"every release is reported, not the first#quick#when != put2(<+...pp...+>, ...)
put@p3#when != put2(E1, E1, E1, E1, E1, E1)
put@p3"
"a page released before the mapping still counts#quick#    when != put2(<+...pp...+>, ...)
(#("
"a page variable reassigned before the mapping still counts#quick#    when != pp = E
#"
"a page released and reassigned before the mapping still counts#quick#... when any
    when != pp = E
    when != put2(<+...pp...+>, ...)
#... when any
"
"a reassigned derived pointer still counts#quick#
    when != Q = E1#"
"memmove and copy_from_user are not writes#quick#identifier cp = {memcpy, memset, memmove, copy_from_user, copy_from_iter};#identifier cp = {memcpy, memset, copy_from_iter};"
"memmove is not a write#quick#identifier cp = {memcpy, memset, memmove, #identifier cp = {memcpy, memset, "
"copy_from_user is not a write#quick#memmove, copy_from_user, #memmove, "
"__set_bit and change_bit are not writes#quick#identifier bit = {set_bit, clear_bit, __set_bit, __clear_bit, change_bit};#identifier bit = {set_bit, clear_bit, __clear_bit};"
"org mode prints nothing#quick#cocci.print_main(\"released with no flush_dcache_page()\", p3)
cocci.print_secs(\"written through a kernel mapping\", p2)
cocci.print_secs(\"pinned\", p1)
#"
"org mode prints only the release#quick#
cocci.print_secs(\"written through a kernel mapping\", p2)
cocci.print_secs(\"pinned\", p1)#"
"context mode marks only the release#quick#* X@p1
|
* X@p2
|
#"
"patch mode inserts nothing#quick#+ flush_dcache_page(pp);
  put@p3(pp);#  put@p3(pp);"
"patch mode does not patch array elements#quick#+ flush_dcache_page(pp[E]);
#"
"the GUP family is not the table's#full#	iov_iter_extract_pages};#	iov_iter_extract_pages, get_user_pages_locked};"
"the kernel patch adds another text#full#// Confidence: Moderate#// Confidence: High"
)

jobs=${JOBS:-$(nproc)}
i=0
for m in "${mutations[@]}"; do
	i=$((i + 1))
	IFS='#' read -r -d '' name how from to <<<"$m"
	to=${to%$'\n'}
	mkdir -p "$work/$i"
	if FROM=$from TO=$to make_mutant "$cocci" "$work/$i/gup_kmap_flush.cocci"
	then
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
		if [ "$how" = quick ]; then
			QUICK=1 "$here/api.sh" "$work/$i/gup_kmap_flush.cocci" gup_kmap_flush >"$work/$i.out" 2>&1 &
		else
			"$here/api.sh" "$work/$i/gup_kmap_flush.cocci" gup_kmap_flush >"$work/$i.out" 2>&1 &
		fi
	fi
done
wait
n=0 pass=0 fail=0
echo "1..${#mutations[@]}"
for m in "${mutations[@]}"; do
	IFS='#' read -r -d '' name how from to <<<"$m"
	n=$((n + 1))
	if judge_mutant "$n" "$name" "$from" "$work/$n/gup_kmap_flush.cocci" "$work/$n.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
