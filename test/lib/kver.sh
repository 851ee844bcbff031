# SPDX-License-Identifier: GPL-2.0
# test/kversions.tsv, the kernel versions (sourced; needs TOP and die).

# kver_field KVER N: column N of KVER's row ("-" is empty, commas are
# spaces); dies if the table has no KVER.
kver_field() {
	local v
	v=$(awk -F '\t' -v k="$1" -v n="$2" '!/^#/ && $1 == k { print $n; f = 1 } END { exit !f }' \
		"$TOP/test/kversions.tsv") ||
		die "Linux $1 is not in test/kversions.tsv (the versions: $(kver_all | xargs))"
	[ "$v" = - ] && v=
	echo "${v//,/ }"
}

# The patches of quilt series file $1, in order (comments and options
# dropped).
series_of() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1" | awk '{ print $1 }'; }

# Every version of the table, mainline's first.
kver_all() { awk -F '\t' '!/^#/ && NF { print $1 }' "$TOP/test/kversions.tsv"; }
kver_mainline() { kver_all | head -n 1; }
