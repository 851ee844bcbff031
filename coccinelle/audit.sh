#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make audit: run coccinelle/gup_kmap_alias.cocci over a kernel tree.
#
#   KSRC=<tree> [M=<dir>] [MODE=report|org|context|patch] coccinelle/audit.sh
#       audits that tree (or its subdirectory M) and prints spatch's output
#   coccinelle/audit.sh
#       the reports of docs/audit/: Debian's source of every version of
#       test/kversions.tsv, unpacked afresh under build/audit/, mainline's
#       also with its series applied, each hit joined with its verdict from
#       docs/audit/triage.txt: data (.json) and its rendering (.md)
#
# Only the .c files that call the GUP family are given to spatch (a grep
# first, the same names as the script's first rule), and of those only the
# ones Kconfig can build on an architecture whose D-cache can alias
# (coccinelle/buildable.py, the arches of coccinelle/aliasing_arches.tsv;
# ALIASING=all gives spatch every file), one spatch per file,
# JOBS at a time (default: the number of CPUs).  A file that spatch cannot
# finish (parse failure, TIMEOUT seconds) fails the run: a check that
# silently checks nothing is worse than none.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
TOP=$top LOG_PREFIX=audit STEP_FD=2
. "$top/test/lib/log.sh"
. "$top/test/lib/kver.sh"
. "$top/test/lib/debsrc.sh"
cocci=$top/coccinelle/gup_kmap_alias.cocci
B=$top/build
JOBS=${JOBS:-$(nproc)}
TIMEOUT=${TIMEOUT:-300}
# the audited rows of test/gup_functions.tsv, as an extended regex
GUP_RE="\\b($(awk -F '\t' '!/^#/ && $2 == "yes" { printf "%s%s", s, $1; s = "|" }' \
	"$top/test/gup_functions.tsv"))[[:space:]]*\\("

need_spatch() {
	command -v spatch >/dev/null && return
	[ "$(id -u)" = 0 ] || die "spatch not found; run as root or: apt-get install coccinelle"
	step "installing coccinelle (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		coccinelle >/dev/null 2>&1 ||
		die "could not install coccinelle" "apt-get install coccinelle"
}

# audit TREE SUBDIR MODE OUT: spatch's output in OUT, the time it took and
# the file counts in OUT.stats, the files left out (no arch whose D-cache
# aliases builds them) in OUT.skipped
audit_tree() {
	local tree=$1 sub=$2 mode=$3 out=$4 t0 t1 nall n list errs bad ngup
	[ -f "$tree/Makefile" ] && [ -d "$tree/scripts" ] ||
		die "$tree is not a kernel tree (no Makefile or scripts/)"
	[ -d "$tree/$sub" ] || die "$tree has no directory '$sub'"
	list=$(mktemp) errs=$(mktemp -d)
	t0=$(date +%s.%N)
	# quilt's backups (.pc/), git's objects and the lab's object
	# directories (lab-obj-*, test/lib/trees.sh) are not the tree
	nall=$(cd "$tree" && find "${sub:-.}" \( -name .pc -o -name .git -o -name 'lab-obj-*' \) -prune -o \
		-name '*.c' -print | sed 's|^\./||' | grep -cvE '^(tools|scripts)/' || true)
	(cd "$tree" && grep -rlE --include='*.c' --exclude-dir=.pc --exclude-dir=.git --exclude-dir='lab-obj-*' "$GUP_RE" "${sub:-.}" |
		grep -vE '^(\./)?(tools|scripts)/' | sed 's|^\./||' | sort) >"$list" || true
	ngup=$(wc -l <"$list")
	: >"$out.skipped"
	if [ "${ALIASING:-}" != all ]; then
		python3 "$top/coccinelle/buildable.py" --tree "$tree" --cache "$B/audit/kconfig" \
			--jobs "$JOBS" <"$list" >"$list.kept" 2>"$errs/buildable" ||
			die "coccinelle/buildable.py failed: $(tail -n 3 "$errs/buildable")"
		sed -n 's/^skip //p' "$errs/buildable" >"$out.skipped"
		grep -v '^skip ' "$errs/buildable" | while read -r l; do step "$l"; done
		mv "$list.kept" "$list"
	fi
	n=$(wc -l <"$list")
	step "$(basename "$tree")${sub:+/$sub}: $ngup of $nall .c files call GUP, $((ngup - n)) of them built on no arch whose D-cache aliases; spatch -D $mode on $n, $JOBS at a time"
	# one spatch per file: its errors in a file of their own
	(cd "$tree" && xargs -a "$list" -P "$JOBS" -I{} sh -c '
		e=$1/$(echo "$2" | tr / _)
		timeout "$3" spatch --very-quiet -D "$4" --no-includes \
			--include-headers --sp-file "$5" "$2" >"$e.out" 2>"$e.err"
		echo $? >"$e.rc"' sh "$errs" {} "$TIMEOUT" "$mode" "$cocci")
	bad=0
	while read -r f; do
		e=$errs/$(echo "$f" | tr / _)
		if [ "$(cat "$e.rc")" != 0 ] || [ -s "$e.err" ]; then
			bad=$((bad + 1))
			step "spatch failed on $f (rc $(cat "$e.rc")): $(head -c 300 "$e.err")"
			step "to rerun it alone: cd $tree && spatch -D $mode --no-includes --include-headers --sp-file $cocci $f"
		fi
	done <"$list"
	if [ "$mode" = report ] || [ "$mode" = org ]; then
		while read -r f; do cat "$errs/$(echo "$f" | tr / _).out"; done <"$list" |
			sort -t: -k1,1 -k2,2n -s >"$out"
	else
		while read -r f; do cat "$errs/$(echo "$f" | tr / _).out"; done <"$list" >"$out"
	fi
	t1=$(date +%s.%N)
	printf 'files=%s gup_files=%s spatch_files=%s seconds=%.0f failed=%s\n' "$nall" "$ngup" "$n" \
		"$(echo "$t1 - $t0" | bc)" "$bad" >"$out.stats"
	rm -rf "$list" "$errs"
	step "$(basename "$tree")${sub:+/$sub}: $(grep -c . "$out" || true) lines in $(sed 's/.*seconds=\([0-9]*\).*/\1/' "$out.stats") s"
	[ "$bad" = 0 ] || die "spatch failed on $bad file(s), see above"
}

# A pristine tree of Debian's linux-source-VER under build/audit/.
fresh_tree() {
	local ver=$1 deb dir=$B/audit/linux-$1
	deb=$(ls -t "$B/dl"/linux-source-"$ver"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "no linux-source-$ver package in $B/dl" "test/lab.sh setup"
	if [ "$(cat "$dir/.audit-unpacked" 2>/dev/null)" != "$(basename "$deb")" ]; then
		step "linux-$ver: unpacking $(basename "$deb") into $dir"
		unpack_linux_source "$deb" "$ver" "$dir" .audit-unpacked >/dev/null ||
			die "could not unpack $deb" "coccinelle/audit.sh"
	fi
	echo "$dir"
}

# The same with the series applied.
patched_tree() {
	local src=$1 dir=$1-patched out
	step "$(basename "$src"): copying and applying the series into $dir"
	rm -rf "$dir" && cp -a "$src" "$dir"
	out=$(cd "$dir" && QUILT_PATCHES=$top/patches QUILT_SERIES=$top/series \
		quilt --quiltrc=- push -a --fuzz=0 -q 2>&1) ||
		die "the series does not apply to $dir: $out"
	echo "$dir"
}

# docs/audit/linux-<kver>.{json,md} for every version of
# test/kversions.tsv; mainline's also with its series applied.
docs() {
	local k t tp raw=$B/audit/raw mainline
	"$top/test/lab.sh" setup >&2
	mkdir -p "$raw" "$top/docs/audit"
	mainline=$(kver_mainline)
	for k in $(kver_all); do
		t=$(fresh_tree "$k")
		audit_tree "$t" "" report "$raw/linux-$k.txt"
		if [ "$k" = "$mainline" ]; then
			tp=$(patched_tree "$t")
			audit_tree "$tp" "" report "$raw/linux-$k-patched.txt"
		fi
		python3 "$top/coccinelle/report.py" --triage "$top/docs/audit/triage.txt" \
			--tree "$t" --raw "$raw/linux-$k.txt" \
			${tp:+--patched "$raw/linux-$k-patched.txt"} \
			--baseline "$top/docs/audit/baseline.tsv" \
			--jobs "$JOBS" --json "$top/docs/audit/linux-$k.json" \
			--out "$top/docs/audit/linux-$k.md"
		step "wrote docs/audit/linux-$k.json and linux-$k.md"
		tp=
	done
}

need_spatch
if [ -z "${KSRC:-}" ]; then
	[ -z "${M:-}" ] && [ -z "${MODE:-}" ] ||
		die "M= and MODE= are for your tree: KSRC=<tree> M=${M:-<dir>} coccinelle/audit.sh"
	docs
	exit
fi
[ -d "$KSRC" ] || die "KSRC=$KSRC: no such directory"
case ${MODE:=report} in
report | org | context | patch) ;;
*) die "MODE=$MODE: one of report, org, context, patch" ;;
esac
out=$(mktemp)
trap 'rm -f "$out" "$out.stats" "$out.skipped"' EXIT
audit_tree "$(cd "$KSRC" && pwd)" "${M:-}" "$MODE" "$out"
cat "$out"
