#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run the kernel's scripts/checkpatch.pl --strict over every patch of
# `series` (KVER=6.1: of stable/6.1/series, the backport), in order, with
# Debian's codespell dictionary. Any ERROR, WARNING or CHECK fails.
# KSRC=<tree> picks the tree whose checkpatch is used (default: KVER's).
#   ./checkpatch.sh MAIL...   checks those files instead, as mails that must
#                             carry their Signed-off-by (make mail's output)
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
TOP=$top LOG_PREFIX=checkpatch
. "$top/test/lib/log.sh"
. "$top/test/lib/kver.sh"
. "$top/test/lib/debsrc.sh"
kver=${KVER:-$(kver_mainline)}
dir=$top/$(kver_field "$kver" 3)
[ -f "$dir/series" ] || die "Linux $kver has no series ($dir/series)"
ksrc=${KSRC:-$top/build/src/linux-source-$kver}
dict=/usr/lib/python3/dist-packages/codespell_lib/data/dictionary.txt

if [ ! -x "$ksrc/scripts/checkpatch.pl" ]; then
	[ -n "${KSRC:-}" ] || die "no $ksrc/scripts/checkpatch.pl" "make setup"
	die "no $ksrc/scripts/checkpatch.pl" "KSRC=<a Linux $kver tree> ./checkpatch.sh"
fi
tree_version "$ksrc" "$kver" >/dev/null || exit 1
[ -f "$dict" ] ||
	die "no codespell dictionary $dict" "apt-get install codespell"

if [ $# -gt 0 ]; then
	signoff= ignore=,FILE_PATH_CHANGES files=()
	for f in "$@"; do files+=("$(realpath -m -- "$f")"); done
else
	# The submitter adds Signed-off-by when mailing: do not ask for it here.
	files=() signoff=--no-signoff ignore=
	for p in $(series_of "$dir/series"); do
		files+=("$dir/patches/$p")
	done
fi
n=0 bad=0
for f in "${files[@]}"; do
	n=$((n + 1))
	p=${f##*/}
	[ -f "$f" ] || { echo "not ok $n - $p"; echo "# $f: no such file"; bad=$((bad + 1)); continue; }
	# Debian's tree has no git history, so checkpatch cannot look up the
	# ids of Fixes: and "commit <id>" lines (UNKNOWN_COMMIT_ID); their
	# format is still checked (GIT_COMMIT_ID), the ids were checked by hand
	# against the mailing-list threads of those commits.
	# A mail that adds a file (format-patch's "create mode") makes
	# checkpatch ask whether MAINTAINERS needs updating (FILE_PATH_CHANGES);
	# that every file of a set has its maintainers is what make mail's
	# recipients check asks get_maintainer.pl (test/mail/recipients.py).
	if out=$(cd "$ksrc" && scripts/checkpatch.pl --strict $signoff \
		--ignore "UNKNOWN_COMMIT_ID$ignore" \
		--codespell --codespellfile "$dict" --terse --show-types \
		"$f" 2>&1); then
		echo "ok $n - $p"
	else
		echo "not ok $n - $p"
		echo "$out" | sed 's/^/#   /'
		bad=$((bad + 1))
	fi
done
echo "1..$n"
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
