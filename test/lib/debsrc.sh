# SPDX-License-Identifier: GPL-2.0
# Debian's linux-source-VER packages (sourced; needs die): the lab's trees
# and the audit's.

# Check that a tree is Linux <ver>; print its full version.
tree_version() {
	local tree=$1 want=$2 v p s
	[ -f "$tree/Makefile" ] || die "$tree: not a kernel tree (no Makefile)"
	v=$(sed -n 's/^VERSION = //p' "$tree/Makefile")
	p=$(sed -n 's/^PATCHLEVEL = //p' "$tree/Makefile")
	s=$(sed -n 's/^SUBLEVEL = //p' "$tree/Makefile")
	[ "$v.$p" = "$want" ] ||
		die "$tree is Linux $v.$p.$s, the lab needs $want (KSRC=... or KVER=...)"
	echo "$v.$p.$s"
}

# unpack_linux_source DEB VER DEST MARKER: the tree of Debian's package
# DEB (linux-source-VER) unpacked afresh into DEST, with DEB's name in
# DEST/MARKER; prints the tree's full version.
unpack_linux_source() {
	local deb=$1 ver=$2 dest=$3 marker=$4 tmp full
	mkdir -p "$(dirname "$dest")"
	tmp=$(mktemp -d "$(dirname "$dest")/.unpack.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO --wildcards "./usr/src/linux-source-$ver.tar.*" |
		tar -xJ -C "$tmp" || die "could not unpack $deb"
	[ -d "$tmp/linux-source-$ver" ] || die "$deb holds no linux-source-$ver tree"
	full=$(tree_version "$tmp/linux-source-$ver" "$ver") || exit 1
	basename "$deb" >"$tmp/linux-source-$ver/$marker"
	rm -rf "$dest"
	mv "$tmp/linux-source-$ver" "$dest"
	rmdir "$tmp"
	echo "$full"
}
