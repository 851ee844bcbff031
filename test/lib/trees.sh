# SPDX-License-Identifier: GPL-2.0
# Source trees, one per state of KVER's sources, made once and never
# switched (sourced by test/lab.sh).
#
#   stock    Debian's source as unpacked (build/src/linux-source-KVER), or
#            KSRC: nothing writes in it but its object directories
#   patched  build/src/<stock's name>-patched: a hard-linked copy of stock
#            with the series pushed; the files the series names get
#            inodes of their own first (quilt would touch its backups,
#            hard links to stock's files, and so stock's mtimes)
#   old      the same with OLD_SERIES's series (FLAVOUR=old)
#   scratch  the same with nothing pushed, made afresh for per-patch work
#            (cmd_applies, cmd_bisect push one patch at a time)
# A derived tree is made again when what it was made from changes
# (its .lab-tree holds the key).
#
# A tree's object directories are its direct subdirectories lab-obj-NAME
# (NAME: an arch, x-<cross-build>): kbuild then names every source relative
# to them (srctree is ".."), so that a derived tree's object directory can
# start as a copy of stock's and compile only the files the series wrote.

tree() {
	local stock
	stock=$(ksrc) || exit 1
	case $1 in
	stock) echo "$stock" ;;
	# Debian's trees by name; a KSRC tree also by its path
	patched | old | scratch)
		if [ -n "${KSRC:-}" ]; then
			echo "$B/src/${stock##*/}-$(echo "$stock" | sha256sum | cut -c1-8)-$1"
		else
			echo "$B/src/${stock##*/}-$1"
		fi ;;
	*) die "no tree '$1' (stock, patched, old, scratch)" ;;
	esac
}

# Which stock tree this is: its path, Debian's package it was unpacked
# from, its Makefile's inode (a new unpack), and for a git tree its HEAD and
# what is not committed.
stock_id() {
	local stock
	stock=$(ksrc) || exit 1
	echo "$stock $(cat "$stock/.lab-unpacked" 2>/dev/null || true) $(stat -c %i "$stock/Makefile")"
	[ ! -e "$stock/.git" ] || git -C "$stock" status --porcelain=v1 --untracked-files=no 2>/dev/null
	[ ! -e "$stock/.git" ] || git -C "$stock" rev-parse HEAD 2>/dev/null || true
}

# What a derived tree is made from: stock's tree and the series
# (QUILT_PATCHES, QUILT_SERIES: use_old_series sets them for old).
tree_key() {
	local flavour=$1 p
	{
		echo "$flavour"
		stock_id
		[ "$flavour" = scratch ] && return
		cat "$QUILT_SERIES"
		for p in $(series_patches); do cat "$QUILT_PATCHES/$p"; done
	} | sha256sum | cut -c1-16
}

# The tree of state $1, made if it is missing or out of date.
make_tree() {
	local flavour=$1 stock dir key out
	[ "$flavour" != stock ] || return 0
	stock=$(ksrc) || exit 1
	dir=$(tree "$flavour")
	key=$(tree_key "$flavour")
	[ "$flavour" = scratch ] || [ "$(cat "$dir/.lab-tree" 2>/dev/null)" != "$key" ] || return 0
	# an older lab pushed the series into the stock tree itself
	[ ! -s "$stock/.pc/applied-patches" ] ||
		die "$stock has patches pushed ($stock/.pc/applied-patches): pop them (quilt --quiltrc=- pop -a -f) or unpack it again" \
		    "rm -rf $stock && test/lab.sh setup"
	case $flavour in
	scratch) step "tree scratch: a hard-linked copy of $stock, for one patch at a time ($dir)" ;;
	*) step "tree $flavour: a hard-linked copy of $stock, ${QUILT_SERIES#$TOP/} pushed ($dir)" ;;
	esac
	# hard links; a tree on another file system is copied
	copy_tree "$stock" "$dir" -al 2>/dev/null || copy_tree "$stock" "$dir" -a ||
		die "could not copy $stock to $dir"
	unshare_series_files "$dir"
	if [ "$flavour" != scratch ] && [ -n "$(series_patches)" ]; then
		out=$(cd "$dir" && quilt --quiltrc=- push -a --fuzz=0 2>&1) || {
			echo "$out" | tail -n 20 >&2
			die "the series does not apply to $stock" \
			    "cd $dir && QUILT_PATCHES=$QUILT_PATCHES QUILT_SERIES=$QUILT_SERIES quilt --quiltrc=- push -a --fuzz=0"
		}
		! quilt_drift "$out" >&2 || die "the series applies only with offsets or fuzz: refresh it"
	fi
	# quilt touches its backups: none may be a link to a stock file
	out=
	[ ! -d "$dir/.pc" ] ||
		out=$(find "$dir/.pc" -mindepth 2 -type f -links +1 ! -name .timestamp | head -n 3)
	[ -z "$out" ] || die "quilt's backups are links to stock's files (unshare_series_files missed them): $out"
	echo "$key" >"$dir/.lab-tree"
}

# Tree $1 into a fresh directory $2 with cp $3 (-al: hard links), all but
# the object directories and quilt's and git's state.
copy_tree() {
	rm -rf "$2" && mkdir -p "$2" &&
		(cd "$1" && find . -mindepth 1 -maxdepth 1 ! -name 'lab-obj-*' ! -name .pc ! -name .git \
			! -name .lab-tree -print0 | xargs -0 cp "$3" -t "$2")
}

# The lines of quilt push's output $1 that say a hunk applied with an
# offset or fuzz (patch prints "Hunk #1 succeeded at 15 (offset 3 lines)."
# and "... with fuzz 1 ..."); false if there are none.
quilt_drift() { echo "$1" | grep -E 'succeeded at [0-9]+ .*(\(offset -?[0-9]+ lines?\)|with fuzz)'; }

# The files the series names get, in tree $1, inodes of their own with
# stock's contents and mtimes.
unshare_series_files() {
	local dir=$1 p f
	for f in $(for p in $(series_patches); do
		sed -n 's|^[-+][-+][-+] [ab]/\([^[:space:]]*\).*|\1|p' "$QUILT_PATCHES/$p"; done | sort -u); do
		[ -f "$dir/$f" ] || continue
		cp -p "$dir/$f" "$dir/$f.lab-own" && mv -f "$dir/$f.lab-own" "$dir/$f" ||
			die "could not copy $dir/$f"
	done
}

# The object directory NAME of state FLAVOUR's tree.
kobj() { echo "$(tree "$1")/lab-obj-$2"; }

# A derived tree's object directory NAME, if it has none, starts as a copy
# of stock's (when stock's is configured); the files whose contents differ
# from stock's (of those with a single link: unshared or written by quilt)
# or that stock lacks are then made newer than every object.
seed_obj() {
	local flavour=$1 name=$2 dir from stock f
	[ "$flavour" != stock ] || return 0
	dir=$(kobj "$flavour" "$name") from=$(kobj stock "$name") stock=$(tree stock)
	[ ! -d "$dir" ] && [ -f "$from/.config" ] || return 0
	# made whole under another name, then renamed: a directory of this
	# name is always a seeded one
	rm -rf "$dir.seeding"
	cp -a "$from" "$dir.seeding" || die "could not copy $from to $dir.seeding"
	(cd "${dir%/*}" && find . \( -name .pc -o -name 'lab-obj-*' \) -prune -o -type f -links 1 -print |
		while IFS= read -r f; do
			cmp -s "$f" "$stock/$f" || touch "$f"
		done)
	mv "$dir.seeding" "$dir"
}

# make in the tree whose object directory is $1 (its parent); with the
# arch's GCC plugin (KCC_PLUGIN) in every compile.
kmake() {
	make -C "${1%/*}" O="$1" ARCH="$KARCH" \
		CROSS_COMPILE="$CROSS_COMPILE" CC="ccache ${CROSS_COMPILE}gcc" \
		${KCC_PLUGIN:+KCFLAGS=-fplugin=$(cc_plugin)} "${@:2}"
}
