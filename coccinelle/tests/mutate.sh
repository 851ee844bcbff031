#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The unit tests must be able to fail: break each rule of
# gup_kmap_alias.cocci (and of buildable.py) on purpose, one at a time, and check that run.sh
# then fails.  A mutation that no test notices is a hole in the tests.
#
#   coccinelle/tests/mutate.sh      TAP, then "N passed, N failed"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/judge.sh"
cocci=$here/../gup_kmap_alias.cocci
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name | what is broken | python: the original text | its replacement
mutations=(
"flush_dcache_page is not seen|flush_dcache_page@fp(P)|xflush_dcache_page@fp(P)"
"the vmap flushes are not seen|(flush_kernel_vmap_range@fp|(xflush_kernel_vmap_range@fp"
"pages are not followed through fields|        return ('f', typeof(e[:m.start()], fn), m.group(2))|        return None"
"pages are not followed into helpers|edge(('p', h, int(n)), ('l', h, y), p)|pass"
"pages are not followed out of helpers|edge(node(X, p.current_element), ('r', p.current_element), p)|pass"
"what a variable held before the GUP call counts|if fn != g['fn'] or line >= g['line']|if True"
"reads count as writes|                       int(p.line), int(p.column), p, False))|                       int(p.line), int(p.column), p, True))"
"stores through a pointer are not writes| *X@wp aop E| *X@wp aop E + 0"
"C3 takes any mm|        if g['mm'] != 'current->mm':|        if False:"
"patch mode inserts nothing|+ flush_dcache_page(P);|"
"fields are followed by name alone|        return ('f', typeof(e[:m.start()], fn), m.group(2))|        return ('f', '?', m.group(2))"
"fields of a type spatch cannot infer are not joined|        if q in ns:|        if False:"
"buildable: arch/<a>/ is not checked against the arch|    if parts[0] == 'arch' and len(parts) >= 2 and parts[1] != arch:|    if False:"
"buildable: composite objects are not followed|                up = d + '/' + c.group(1) + '.o'|                up = d + '/'"
"buildable: the CONFIG_ conditions are not read|            if all(s in on for s in syms) and|            if True and"
"buildable: a file in no Makefile is dropped|        memo[key] = built(kb, '/'.join(parts[:-1]) + '/', arch, on, memo)|        memo[key] = False"
"the field of an array element is taken for the array's|    e = strip_index(e)|    e = e.split('[')[0]"
"pages the kernel allocated count as user pages|    for n, fn in state['kpages']:|    for n, fn in []:"
"the page array of __readahead_batch() is not seen|KFILL = {'__readahead_batch': 1,|KFILL = {'__readahead_batch': 0,"
"the GUP call's pages are typed outside its function|            g['node'] = node(g['pg'], g['fn'])|            g['node'] = node(g['pg'], None)"
)

# each mutant's run.sh, $jobs at a time; their verdicts in order
jobs=${JOBS:-$(nproc)}
i=0
for m in "${mutations[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name from to <<<"$m"
	# "buildable: ..." mutates coccinelle/buildable.py instead
	src=$cocci dst=$work/$i.cocci env=()
	case $name in "buildable: "*)
		src=$here/../buildable.py dst=$work/$i.py env=(BUILDABLE="$dst")
		;;
	esac
	if FROM=$from TO=$to make_mutant "$src" "$dst"
	then
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
		[ "$dst" = "$work/$i.cocci" ] || cp "$cocci" "$work/$i.cocci"
		env QUICK=1 "${env[@]}" "$here/run.sh" "$work/$i.cocci" >"$work/$i.out" 2>&1 &
	fi
done
wait
n=0 pass=0 fail=0
echo "1..${#mutations[@]}"
for m in "${mutations[@]}"; do
	IFS='|' read -r name from to <<<"$m"
	n=$((n + 1))
	if judge_mutant "$n" "$name" "$from" "$work/$n.cocci" "$work/$n.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
