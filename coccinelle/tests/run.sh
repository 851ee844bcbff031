#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unit tests of the semantic patches in coccinelle/: each fixture NAME.c is
# run through every script in report mode and the lines compared with
# NAME.report; in patch mode the result must equal NAME.res, or be no
# change at all when there is no NAME.res; context and org modes must run
# clean.  spatch --test exits 0 on a mismatch, so the comparison is ours.
#
#   coccinelle/tests/run.sh [SCRIPT.cocci]   TAP, then "N passed, N failed"
#   UPDATE=1 coccinelle/tests/run.sh         rewrite the expected files
#   QUICK=1 coccinelle/tests/run.sh          report and patch modes only
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cocci=${1:-$here/../gup_kmap_alias.cocci}
[ -r "$cocci" ] || { echo "tests: no such script: $cocci" >&2; exit 2; }
cocci=$(realpath -- "$cocci")
command -v spatch >/dev/null || { echo "tests: spatch not found (apt-get install coccinelle)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
opts=(--very-quiet --no-includes --include-headers --sp-file "$cocci")
pass=0 fail=0 n=0

ok() {
	n=$((n + 1)) pass=$((pass + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1)) fail=$((fail + 1))
	echo "not ok $n - $1"
	sed 's/^/# /' "$2"
	echo "# to rerun alone: ${3:-cd $here && spatch ${opts[*]:0:3} --sp-file $cocci -D $4 $5}"
}

cd "$here" || exit 2
fixtures=(*.c)
modes=(context org)
[ -n "${QUICK:-}" ] && modes=()
echo "1..$((${#fixtures[@]} * (2 + ${#modes[@]}) + 2))"

# The script's GUP family is test/gup_functions.tsv's: the identifiers of
# its @gup@ rule are the audited rows.
table=$here/../../test/gup_functions.tsv
names() { tr -c 'a-z0-9_\n' '\n' | grep . | sort -u; }
{
	echo "--- @gup@ identifiers (<) against the audited rows (>)"
	diff <(sed -n '/^@gup@$/,/^@@$/p' "$cocci" | tr '\n' ' ' | grep -o '{[^}]*}' | names) \
		<(awk -F '\t' '!/^#/ && $2 == "yes" { print $1 }' "$table" | sort)
} >"$work/gup" 2>&1
if [ "$(grep -vc '^---' "$work/gup")" = 0 ]; then
	ok "gup_family_is_test_gup_functions_tsv"
else
	not_ok "gup_family_is_test_gup_functions_tsv" "$work/gup" "QUICK=1 bash $0 $cocci"
fi
# buildable.py (which files audit.sh gives spatch) over a fixture tree of
# Makefiles, reduced from 7.2's, with two ready-made .configs: kbuild/expected
# lists what it keeps and skips.  BUILDABLE= names another buildable.py
# (mutate.sh's mutants).
buildable=${BUILDABLE:-$here/../buildable.py}
if python3 "$buildable" --tree kbuild --configs kbuild/configs --arches kbuild/arches.tsv \
	<kbuild/files 2>&1 | sort | diff -u kbuild/expected - >"$work/buildable" 2>&1; then
	ok "buildable/kbuild_fixture"
else
	not_ok "buildable/kbuild_fixture" "$work/buildable" \
		"cd $here && python3 $buildable --tree kbuild --configs kbuild/configs --arches kbuild/arches.tsv <kbuild/files"
fi
for c in "${fixtures[@]}"; do
	t=${c%.c}
	# report: the lines themselves, in order
	spatch "${opts[@]}" -D report "$c" >"$work/$t.report" 2>"$work/$t.err"
	cat "$work/$t.err" >>"$work/$t.report"
	[ -n "${UPDATE:-}" ] && cp "$work/$t.report" "$t.report"
	if diff -u "$t.report" "$work/$t.report" >"$work/diff" 2>&1; then
		ok "$t/report"
	else
		not_ok "$t/report" "$work/diff" "" report "$c"
	fi
	# patch: the fixture after the patch, or unchanged
	cp "$c" "$work/$c"
	(cd "$work" && spatch "${opts[@]}" -D patch --in-place "$c" >/dev/null 2>"$t.perr")
	[ -n "${UPDATE:-}" ] && ! cmp -s "$c" "$work/$c" && cp "$work/$c" "$t.res"
	want=$c
	[ -e "$t.res" ] && want=$t.res
	if diff -u "$want" "$work/$c" >"$work/diff" 2>&1 && [ ! -s "$work/$t.perr" ]; then
		ok "$t/patch"
	else
		cat "$work/$t.perr" >>"$work/diff"
		not_ok "$t/patch" "$work/diff" "" patch "$c"
	fi
	# context and org: they run and say nothing on stderr
	for mode in "${modes[@]}"; do
		if spatch "${opts[@]}" -D $mode "$c" >/dev/null 2>"$work/err" && [ ! -s "$work/err" ]; then
			ok "$t/$mode/runs_clean"
		else
			not_ok "$t/$mode/runs_clean" "$work/err" "" $mode "$c"
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
