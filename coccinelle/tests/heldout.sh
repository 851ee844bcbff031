#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The held-out set: real sites the audit must find, reduced from the kernel,
# that were NOT used to change gup_kmap_alias.cocci (docs/audit/README.md
# says how they were chosen).  Each heldout/NAME.c names what must be
# reported in its header, one "must: CLASS FUNCTION" line each; a line
# reported beyond those is not a failure (these are not negatives).
#
#   coccinelle/tests/heldout.sh [SCRIPT.cocci]   TAP, then "N passed, N failed"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cocci=${1:-$here/../gup_kmap_alias.cocci}
[ -r "$cocci" ] || { echo "heldout: no such script: $cocci" >&2; exit 2; }
cocci=$(realpath -- "$cocci")
command -v spatch >/dev/null || { echo "heldout: spatch not found (apt-get install coccinelle)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here/heldout" || exit 2
# every fixture names what it must find, and every "must:" line parses:
# a line the loop below would skip would pass silently
for c in *.c; do
	grep -q '^ \* must: ' "$c" || { echo "heldout: $c has no ' * must: CLASS FUNCTION' line" >&2; exit 2; }
	bad=$(grep '^ \* must: ' "$c" | grep -v '^ \* must: C[0-9] [A-Za-z_0-9]*$')
	[ -z "$bad" ] || { echo "heldout: $c: not ' * must: CLASS FUNCTION': $bad" >&2; exit 2; }
done
echo "1..$(cat ./*.c | grep -c '^ \* must: ')"
n=0 pass=0 fail=0
for c in *.c; do
	spatch --very-quiet --no-includes --include-headers --sp-file "$cocci" -D report "$c" \
		>"$work/out" 2>&1
	while read -r cls fn; do
		n=$((n + 1))
		t="heldout/${c%.c}/${cls}_$fn"
		if grep -q "^$c:[0-9:-]*: $cls: $fn(): " "$work/out"; then
			pass=$((pass + 1))
			echo "ok $n - $t"
		else
			fail=$((fail + 1))
			echo "not ok $n - $t"
			echo "# $cls at $fn() not reported; spatch said:"
			sed 's/^/# /' "$work/out"
			echo "# to rerun alone: cd $here/heldout && spatch --no-includes --include-headers --sp-file $cocci -D report $c"
		fi
	done < <(sed -n 's/^ \* must: \(C[0-9]\) \([A-Za-z_0-9]*\)$/\1 \2/p' "$c")
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
