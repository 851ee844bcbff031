#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unit tests of the scripts of coccinelle/api/, the ones meant for the
# kernel's scripts/coccinelle/api/: each fixture tests/NAME/*.c is run
# through NAME.cocci in report mode against its .report (lines sorted), in
# patch mode against its .res (or no change when there is none), in
# context mode against its .context (the temporary file name left out) and
# in org mode against its .org (entries sorted), with nothing on stderr;
# a file with no report has empty ones.  Two more checks: the GUP family of
# the script's @r@ rule is test/gup_functions.tsv's, and the patch of
# patches/ that adds the script to scripts/coccinelle/api/ adds this very
# file (one source of truth: UPDATE=1 rewrites the patch from the file).
#
#   coccinelle/tests/api.sh [SCRIPT [NAME]]   TAP, then "N passed, N failed"
#   UPDATE=1 coccinelle/tests/api.sh          rewrite expected files and patch
#   QUICK=1 ...                               the fixtures only (all four modes)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
scripts=("${1:-}")
[ -n "${1:-}" ] || scripts=("$top"/coccinelle/api/*.cocci)
command -v spatch >/dev/null || { echo "tests: spatch not found (apt-get install coccinelle)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 n=0 lines=()
ok() { n=$((n + 1)) pass=$((pass + 1)); lines+=("ok $n - $1"); }
not_ok() {
	n=$((n + 1)) fail=$((fail + 1))
	lines+=("not ok $n - $1" "$(sed 's/^/# /' "$2")" "# to rerun alone: $3")
}

# norm MODE: spatch's output of that mode, the same from run to run: the
# name of context mode's temporary file dropped, org mode's entries (a
# "* TODO" line and the lines under it) sorted
norm() {
	case $1 in
	context) sed -E 's|^(\+\+\+ ).*/cocci-output-[0-9]+-[0-9a-f]+-|\1|' ;;
	org) awk '/^\* /{ if (e != "") print e; e = $0; next } { e = e "\001" $0 }
		END { if (e != "") print e }' | LC_ALL=C sort | tr '\001' '\n' ;;
	esac
}

for cocci in "${scripts[@]}"; do
	[ -f "$cocci" ] || { echo "tests: $cocci: no such file" >&2; exit 2; }
	cocci=$(realpath -- "$cocci")
	name=${2:-$(basename "$cocci" .cocci)}
	dir=$here/$name
	[ -d "$dir" ] || { echo "tests: no fixtures for $name in $dir" >&2; exit 2; }
	opts=(--very-quiet --no-includes --include-headers --sp-file "$cocci")
	if [ -z "${QUICK:-}" ]; then
		# the GUP family is test/gup_functions.tsv's audited rows
		diff <(sed -n '/^identifier gup = {/,/};/p' "$cocci" | tr -c 'a-z0-9_\n' '\n' |
			grep -vx 'identifier\|gup' | grep . | sort -u) \
			<(awk -F '\t' '!/^#/ && $2 == "yes" { print $1 }' "$top/test/gup_functions.tsv" | sort) \
			>"$work/gup" 2>&1 && ok "$name/gup_family_is_test_gup_functions_tsv" ||
			not_ok "$name/gup_family_is_test_gup_functions_tsv" "$work/gup" "bash $0"
		# the kernel patch adds this file, byte for byte
		t=$name/patch_adds_scripts_coccinelle_api_$name
		p=$(grep -l "^+++ b/scripts/coccinelle/api/$name.cocci\$" "$top"/patches/*.patch | head -n1)
		if [ -z "$p" ]; then
			echo "no patch in patches/ adds scripts/coccinelle/api/$name.cocci" >"$work/p"
			not_ok "$t" "$work/p" "bash $0"
		else
			python3 - "$p" "$name" "$cocci" ${UPDATE:+update} >"$work/p" 2>&1 <<'PY'
import sys
path, name, cocci = sys.argv[1:4]
patch = open(path).read().split('\n')
want = open(cocci).read()
i = patch.index('+++ b/scripts/coccinelle/api/%s.cocci' % name)
j = i + 2                                  # after the @@ line
k = j
while k < len(patch) and patch[k].startswith('+'):
    k += 1
got = ''.join(l[1:] + '\n' for l in patch[j:k])
if len(sys.argv) > 4 and got != want:
    body = ['+' + l for l in want.split('\n')[:-1]]
    patch[i + 1] = '@@ -0,0 +1,%d @@' % len(body)
    patch[j:k] = body
    open(path, 'w').write('\n'.join(patch))
    got = want
if got != want:
    import difflib
    sys.stdout.writelines(difflib.unified_diff(got.splitlines(True), want.splitlines(True), path, cocci))
    sys.exit(1)
PY
			[ $? = 0 ] && ok "$t" || not_ok "$t" "$work/p" "UPDATE=1 bash $0 rewrites $(basename "$p") from the file"
		fi
	fi
	modes=(context org)
	cd "$dir" || exit 2
	for c in *.c; do
		t=${c%.c}
		spatch "${opts[@]}" -D report "$c" 2>&1 | sort -t: -k2,2n >"$work/$t.report"
		[ -n "${UPDATE:-}" ] && cp "$work/$t.report" "$t.report"
		diff -u "$t.report" "$work/$t.report" >"$work/diff" 2>&1 && ok "$name/$t/report" ||
			not_ok "$name/$t/report" "$work/diff" "cd $dir && spatch ${opts[*]} -D report $c"
		cp "$c" "$work/$c"
		(cd "$work" && spatch "${opts[@]}" -D patch --in-place "$c" >/dev/null 2>"$t.perr")
		[ -n "${UPDATE:-}" ] && ! cmp -s "$c" "$work/$c" && cp "$work/$c" "$t.res"
		want=$c
		[ -e "$t.res" ] && want=$t.res
		if diff -u "$want" "$work/$c" >"$work/diff" 2>&1 && [ ! -s "$work/$t.perr" ]; then
			ok "$name/$t/patch"
		else
			cat "$work/$t.perr" >>"$work/diff"
			not_ok "$name/$t/patch" "$work/diff" "cd $dir && spatch ${opts[*]} -D patch $c"
		fi
		for mode in "${modes[@]}"; do
			spatch "${opts[@]}" -D "$mode" "$c" 2>"$work/err" | norm "$mode" >"$work/out"
			[ -n "${UPDATE:-}" ] && cp "$work/out" "$t.$mode"
			good=
			if [ ! -e "$t.$mode" ]; then
				echo "no $dir/$t.$mode (UPDATE=1 writes it)" >"$work/diff"
			elif diff -u "$t.$mode" "$work/out" >"$work/diff" 2>&1 && [ ! -s "$work/err" ]; then
				good=1
			fi
			if [ -n "$good" ]; then
				ok "$name/$t/$mode"
			else
				cat "$work/err" >>"$work/diff"
				not_ok "$name/$t/$mode" "$work/diff" "cd $dir && spatch ${opts[*]} -D $mode $c"
			fi
		done
	done
	cd "$here" || exit 2
done
echo "1..$n"
printf '%s\n' "${lines[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
