# SPDX-License-Identifier: GPL-2.0
# Kernels: a tree's state, configuration, build, test modules (sourced by test/lab.sh).

load_arch() {
	local conf=$TOP/test/arch/$1.conf
	[ -f "$conf" ] || die "unknown ARCH '$1' (have: $(ls "$TOP/test/arch" | sed 's/\.conf$//' | tr '\n' ' '))"
	LAB_ARCH=$1
	# what an arch may leave unset must not leak from the previous one
	DEB_ARCH= KDTB= CROSS_COMPILE= CROSS_PKG= ALIAS_ARGS= CACHE_ARGS=
	# shellcheck source=arch/x86_64.conf
	. "$conf"
	# what an older kernel lacks (test/config/<KVER>.config), then
	# PROFILE=bench: test/config/bench.config on top, built apart
	[ ! -f "$TOP/test/config/$KVER.config" ] || KCONFIG_FRAGMENTS="$KCONFIG_FRAGMENTS $KVER.config"
	[ -z "${PROFILE:-}" ] || KCONFIG_FRAGMENTS="$KCONFIG_FRAGMENTS $PROFILE.config"
}

series_patches() {
	[ -f "$QUILT_SERIES" ] || die "Linux $KVER has no series ($QUILT_SERIES)"
	series_of "$QUILT_SERIES"
}

# FLAVOUR=old: the series of OLD_SERIES (a directory holding series and
# patches/, such as a copy of an earlier version) instead of SERIES_DIR's.
use_old_series() {
	local p
	[ -n "${OLD_SERIES:-}" ] ||
		die "FLAVOUR=old needs OLD_SERIES=<dir with series and patches/> (e.g. mkdir /tmp/v0 && git archive <rev> series patches | tar -x -C /tmp/v0)"
	[ -f "$OLD_SERIES/series" ] && [ -d "$OLD_SERIES/patches" ] ||
		die "OLD_SERIES=$OLD_SERIES holds no series file and patches/ directory"
	OLD_SERIES=$(cd "$OLD_SERIES" && pwd)
	export QUILT_PATCHES=$OLD_SERIES/patches QUILT_SERIES=$OLD_SERIES/series
	[ -n "$(series_patches)" ] || die "OLD_SERIES=$OLD_SERIES: its series is empty"
	for p in $(series_patches); do
		[ -f "$QUILT_PATCHES/$p" ] || die "OLD_SERIES=$OLD_SERIES: no patches/$p, which its series names"
	done
	step "FLAVOUR=old: the series of $OLD_SERIES"
}

quilt_() { (cd "$(ksrc)" && quilt --quiltrc=- "$@"); }

# Bring the tree to the stock or the patched state.  The series that was
# pushed is recorded in .lab-series, so that it is the one popped; the pop
# is forced (restored from quilt's backups), since nobody edits this tree
# but a patch file may have changed since it was pushed.
tree_state() {
	local flavour=$1 out pushed
	if [ -f "$(ksrc)/.pc/applied-patches" ]; then
		pushed=$(cat "$(ksrc)/.lab-series" 2>/dev/null || echo "$QUILT_PATCHES $QUILT_SERIES")
		out=$(QUILT_PATCHES=${pushed% *} QUILT_SERIES=${pushed#* } quilt_ pop -a -f -q 2>&1) ||
			die "quilt pop -a failed: $out" "cd $(ksrc) && quilt --quiltrc=- pop -a"
	fi
	# quilt records the series of its first push in .pc/.quilt_{patches,series}
	# and prefers them to QUILT_PATCHES/QUILT_SERIES: forget them, or a
	# patched build after FLAVOUR=old pushes OLD_SERIES again
	rm -f "$(ksrc)/.lab-series" "$(ksrc)/.pc/.quilt_patches" "$(ksrc)/.pc/.quilt_series"
	[ "$flavour" != stock ] || return 0
	echo "$QUILT_PATCHES $QUILT_SERIES" >"$(ksrc)/.lab-series"
	[ -n "$(series_patches)" ] || return 0
	out=$(quilt_ push -a --fuzz=0 2>&1) || {
		echo "$out" | tail -n 20 >&2
		die "the series does not apply to $(ksrc)" \
		    "cd $(ksrc) && QUILT_PATCHES=$QUILT_PATCHES QUILT_SERIES=$QUILT_SERIES quilt --quiltrc=- push -a --fuzz=0"
	}
	if echo "$out" | grep -q "with offset\|with fuzz"; then
		echo "$out" | grep "offset\|fuzz" >&2
		die "the series applies only with offsets or fuzz: refresh it"
	fi
}

# Remove from object directory $1 the objects of the make targets after it
# (a directory ends in /), so that make compiles them, and warns, again.
forget_objs() {
	local obj=$1 t
	shift
	for t in "$@"; do
		case $t in */) rm -f "$obj/$t"*.o ;; *) rm -f "$obj/$t" ;; esac
	done
}

kmake() {
	make -C "$(ksrc)" O="$1" ARCH="$KARCH" \
		CROSS_COMPILE="$CROSS_COMPILE" CC="ccache ${CROSS_COMPILE}gcc" "${@:2}"
}

img_dir() { echo "$B/img/$KVER-$1-$2${PROFILE:+-$PROFILE}"; }

# What a kernel image depends on, besides the sources' own version.
kernel_key() {
	local flavour=$1 p full
	full=$(tree_version "$(ksrc)" "$KVER") || exit 1
	{
		echo "$KVER $full $(ksrc)"
		cat "$TOP/test/arch/$LAB_ARCH.conf"
		for p in $KCONFIG_FRAGMENTS; do cat "$TOP/test/config/$p"; done
		# the test modules are built with the kernel where modules are on
		! (cd "$TOP/test/config" && grep -q '^CONFIG_MODULES=y' $KCONFIG_FRAGMENTS) ||
			cat $(kmod_dirs | sed 's|$|*|')
		if [ "$flavour" != stock ]; then
			cat "$QUILT_SERIES"
			for p in $(series_patches); do cat "$QUILT_PATCHES/$p"; done
		fi
	} | sha256sum | cut -c1-16
}

# Every CONFIG_X=y|n that the fragments ask for must be in the .config
# (the last fragment that names an option wins, as in merge_config.sh).
check_kconfig() {
	local cfg=$1 frag line opt val bad=()
	local -A want=()
	for frag in $KCONFIG_FRAGMENTS; do
		while IFS= read -r line; do
			case $line in CONFIG_*=*) want[${line%%=*}]=${line#*=} ;; esac
		done <"$TOP/test/config/$frag"
	done
	for opt in "${!want[@]}"; do
		val=${want[$opt]}
		if [ "$val" = n ]; then
			grep -q "^$opt=" "$cfg" && bad+=("$opt should be off")
		else
			grep -qx "$opt=$val" "$cfg" || bad+=("$opt=$val")
		fi
	done
	printf '%s\n' "${bad[@]}"
}

# One source tree serves both flavours (tree_state): two lab processes must
# not switch it under each other's builds, so kernel builds take turns.
cmd_kernel() {
	[ $# -ge 2 ] || die "usage: test/lab.sh kernel ARCH stock|patched|old"
	if [ -n "${LAB_TREE_LOCKED:-}" ]; then
		build_kernel "$@"
		return
	fi
	mkdir -p "$B"
	(
		flock -n 9 || {
			step "kernel $1 $2: waiting for the source tree (another lab process builds in it)"
			flock 9
		}
		LAB_TREE_LOCKED=1 build_kernel "$@"
	) 9>"$B/.tree.lock"
}

build_kernel() {
	local arch=$1 flavour=$2 obj dir key frags=() f bad t0 cold
	load_arch "$arch"
	case $flavour in
	stock | patched) ;;
	old) use_old_series ;;
	*) die "FLAVOUR must be stock, patched or old" ;;
	esac
	dir=$(img_dir "$arch" "$flavour")
	key=$(kernel_key "$flavour") || exit 1
	if [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$key" ] && [ -f "$dir/image" ]; then
		step "kernel $KVER $arch $flavour: up to date ($dir/image)"
		return
	fi
	if [ "$flavour" = patched ] && [ -z "$(series_patches)" ]; then
		cmd_kernel "$arch" stock
		step "kernel $KVER $arch patched: the series is empty, same as stock"
		rm -rf "$dir" && cp -r "$(img_dir "$arch" stock)" "$dir"
		echo "$key" >"$dir/key"
		return
	fi
	obj=$B/obj/$KVER-$arch${PROFILE:+-$PROFILE}
	mkdir -p "$obj" "$B/logs"
	tree_state "$flavour"
	step "kernel $KVER $arch $flavour: configuring ($KCONFIG_BASE + $KCONFIG_FRAGMENTS)"
	for f in $KCONFIG_FRAGMENTS; do frags+=("$TOP/test/config/$f"); done
	{
		kmake "$obj" "$KCONFIG_BASE" &&
			(cd "$(ksrc)" && ARCH=$KARCH scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "${frags[@]}") &&
			kmake "$obj" olddefconfig
	} >"$B/logs/kconfig-$arch.log" 2>&1 ||
		die "configuring failed (see $B/logs/kconfig-$arch.log)" "test/lab.sh kernel $arch $flavour"
	bad=$(check_kconfig "$obj/.config")
	[ -z "$bad" ] || die "options the lab relies on are not in $obj/.config: $(echo $bad)" \
		"test/lab.sh kernel $arch $flavour"
	# ccache earns its keep when a tree switches flavour in this object
	# directory; on the first build it only misses, and a miss costs half
	# as much again as the compile (fs/ and kernel/ of x86_64: 283 s with
	# an empty cache, 177 s without)
	cold=
	[ -f "$obj/vmlinux" ] || cold=" (first build here: no ccache)"
	step "kernel $KVER $arch $flavour: building $KIMAGE_TARGET$cold (log: build/logs/kbuild-$arch-$flavour.log)"
	t0=$SECONDS
	if [ -n "$cold" ]; then
		CCACHE_DISABLE=1 kmake "$obj" -j"$JOBS" $KIMAGE_TARGET
	else
		kmake "$obj" -j"$JOBS" $KIMAGE_TARGET
	fi >"$B/logs/kbuild-$arch-$flavour.log" 2>&1 || {
		grep -E "error|Error" "$B/logs/kbuild-$arch-$flavour.log" | head -n 20 >&2
		die "kernel build failed (see $B/logs/kbuild-$arch-$flavour.log)" \
		    "test/lab.sh kernel $arch $flavour"
	}
	rm -rf "$dir" && mkdir -p "$dir"
	cp "$obj/$KIMAGE" "$dir/image"
	[ -z "$KDTB" ] || cp "$obj/$KDTB" "$dir/dtb"
	cp "$obj/.config" "$dir/config"
	cp "$obj/System.map" "$dir/System.map"
	build_kmods "$obj" "$dir" "$flavour"
	echo "$key" >"$dir/key"
	step "kernel $KVER $arch $flavour: built in $((SECONDS - t0)) s ($dir/image)"
}

# The directories of the test modules: test/kmod/*/ and the bench's.
kmod_dirs() { printf '%s\n' "$TOP"/test/kmod/*/ "$TOP/test/uaccess-bench/"; }

# The test modules of kmod_dirs (one directory each), built W=1 against
# the kernel just built (CONFIG_MODULES=y only) and packed as a cpio archive
# of /lib/fuselab/*.ko that cmd_run appends to the initrd.
build_kmods() {
	local obj=$1 dir=$2 flavour=$3 src m out log=$B/logs/kmod-$LAB_ARCH-$3.log
	grep -q '^CONFIG_MODULES=y' "$obj/.config" || return 0
	# Module.symvers, and the in-tree modules if the config has any
	kmake "$obj" -j"$JOBS" modules >"$log" 2>&1 ||
		die "modules failed to build (see $log)" "test/lab.sh kernel $LAB_ARCH $flavour"
	mkdir -p "$dir/kmod"
	for src in $(kmod_dirs); do
		m=$(sed -n 's/^obj-m := \(.*\)\.o$/\1/p' "$src/Kbuild")
		out=$B/kmod/$KVER-$LAB_ARCH/$m
		rm -rf "$out" && mkdir -p "$out" && cp "$src"/* "$out"/
		kmake "$obj" M="$out" W=1 modules >"$out/build.log" 2>&1 ||
			die "module $m failed to build (see $out/build.log)" "test/lab.sh kernel $LAB_ARCH $flavour"
		! grep "warning:" "$out/build.log" ||
			die "module $m builds with W=1 warnings" "test/lab.sh kernel $LAB_ARCH $flavour"
		cp "$out/$m.ko" "$dir/kmod/"
	done
	{
		echo "dir /lib 0755 0 0"
		echo "dir /lib/fuselab 0755 0 0"
		for m in "$dir"/kmod/*.ko; do echo "file /lib/fuselab/${m##*/} $m 0644 0 0"; done
	} >"$dir/kmod.list"
	"$(gen_init_cpio)" "$dir/kmod.list" | gzip -1 >"$dir/kmod.cpio.gz"
	step "kernel $KVER $LAB_ARCH $flavour: modules $(cd "$dir/kmod" && echo *.ko)"
}

gen_init_cpio() {
	if [ ! -x "$B/tools/gen_init_cpio" ]; then
		mkdir -p "$B/tools"
		gcc -O2 -o "$B/tools/gen_init_cpio" "$(ksrc)/usr/gen_init_cpio.c" ||
			die "could not build gen_init_cpio"
	fi
	echo "$B/tools/gen_init_cpio"
}
