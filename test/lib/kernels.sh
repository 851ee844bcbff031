# SPDX-License-Identifier: GPL-2.0
# Kernels: configuration, build, test modules (sourced by test/lab.sh).

# The keys of test/arch/<arch>.conf: those every arch sets, then those an
# arch may leave empty.
ARCH_KEYS="KARCH DEB_ARCH KCONFIG_BASE KCONFIG_FRAGMENTS KIMAGE_TARGET KIMAGE QEMU QEMU_PKG QEMU_ARGS CONSOLE"
ARCH_KEYS_OPTIONAL="CROSS_COMPILE CROSS_PKG KDTB ALIAS_ARGS CACHE_ARGS KCC_PLUGIN GUEST_INIT GUESTS"

# The data of test/arch/$1.conf into ARCH_KEYS' variables: KEY=value, then
# KEY@KVER=value for this KVER.
load_arch() {
	local conf=$TOP/test/arch/$1.conf line key val pass
	[ -f "$conf" ] || die "unknown ARCH '$1' (have: $(ls "$TOP/test/arch" | sed 's/\.conf$//' | tr '\n' ' '))"
	LAB_ARCH=$1
	# what an arch leaves unset must not leak from the previous one
	for key in $ARCH_KEYS $ARCH_KEYS_OPTIONAL; do printf -v "$key" '%s' ""; done
	for pass in plain "@$KVER"; do
		while IFS= read -r line; do
			case $line in '#'* | '') continue ;; esac
			key=${line%%=*} val=${line#*=}
			[ "$key" != "$line" ] || die "$conf: not KEY=value: '$line'"
			case $pass:$key in
			plain:*@*) continue ;;
			plain:*) ;;
			*"$pass") key=${key%@*} ;;
			*) continue ;;
			esac
			[[ " $ARCH_KEYS $ARCH_KEYS_OPTIONAL " == *" $key "* ]] ||
				die "$conf: unknown key '$key' (test/lib/kernels.sh ARCH_KEYS)"
			printf -v "$key" '%s' "$val"
		done <"$conf"
	done
	for key in $ARCH_KEYS; do
		[ -n "${!key}" ] || die "$conf sets no $key"
	done
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

# Remove from object directory $1 the objects of the make targets after it
# (a directory ends in /), so that make compiles them, and warns, again.
forget_objs() {
	local obj=$1 t
	shift
	for t in "$@"; do
		case $t in */) rm -f "$obj/$t"*.o ;; *) rm -f "$obj/$t" ;; esac
	done
}

img_dir() { echo "$B/img/$KVER-$1-$2${PROFILE:+-$PROFILE}"; }

# What a kernel image depends on, besides the sources' own version.
kernel_key() {
	local flavour=$1 p full
	full=$(tree_version "$(ksrc)" "$KVER") || exit 1
	{
		echo "$KVER $full $(tree "$flavour")"
		stock_id
		cat "$TOP/test/arch/$LAB_ARCH.conf"
		[ -z "$KCC_PLUGIN" ] || cat "$TOP/test/$KCC_PLUGIN"
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

# Two lab processes must not build in one object directory, nor make one
# tree, at once: kernel builds take turns.
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
	*) die "FLAVOUR must be stock, patched or old, not '$flavour'" ;;
	esac
	dir=$(img_dir "$arch" "$flavour")
	key=$(kernel_key "$flavour") || exit 1
	# up to date: the image, and the objects that static and bisect build on
	if [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$key" ] && [ -f "$dir/image" ] &&
	   [ -f "$(kobj "$flavour" "$arch${PROFILE:+-$PROFILE}")/vmlinux" ]; then
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
	make_tree "$flavour"
	[ -z "$KCC_PLUGIN" ] || cc_plugin >/dev/null
	seed_obj "$flavour" "$arch${PROFILE:+-$PROFILE}"
	obj=$(kobj "$flavour" "$arch${PROFILE:+-$PROFILE}")
	mkdir -p "$obj" "$B/logs"
	step "kernel $KVER $arch $flavour: configuring ($KCONFIG_BASE + $KCONFIG_FRAGMENTS)"
	for f in $KCONFIG_FRAGMENTS; do frags+=("$TOP/test/config/$f"); done
	{
		kmake "$obj" "$KCONFIG_BASE" &&
			(cd "$obj" && ARCH=$KARCH ../scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "${frags[@]}") &&
			kmake "$obj" olddefconfig
	} >"$B/logs/kconfig-$arch.log" 2>&1 ||
		die "configuring failed (see $B/logs/kconfig-$arch.log)" "test/lab.sh kernel $arch $flavour"
	bad=$(check_kconfig "$obj/.config")
	[ -z "$bad" ] || die "options the lab relies on are not in $obj/.config: $(echo $bad)" \
		"test/lab.sh kernel $arch $flavour"
	# ccache earns its keep when a configuration comes back to an object
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

# The directories of the test modules, one module each.
kmod_dirs() { printf '%s\n' "$TOP"/test/kmod/*/; }

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

# KCC_PLUGIN of the arch (test/<path>.cc): a GCC plugin for the cross
# compiler, built against its plugin headers into build/tools/ when its
# source changed; prints the .so.  kmake passes it to every compile.
cc_plugin() {
	local src=$TOP/test/$KCC_PLUGIN so inc
	so=$B/tools/$(basename "$KCC_PLUGIN" .cc)-$LAB_ARCH.so
	if [ ! -f "$so" ] || [ "$src" -nt "$so" ]; then
		mkdir -p "$B/tools"
		inc=$("${CROSS_COMPILE}gcc" -print-file-name=plugin)/include
		step "gcc plugin: building $so for ${CROSS_COMPILE}gcc" >&2
		g++ -shared -fPIC -fno-rtti -O2 -I"$inc" -o "$so" "$src" >&2 ||
			die "the gcc plugin failed to build" \
			    "g++ -shared -fPIC -fno-rtti -O2 -I$inc -o $so $src"
	fi
	echo "$so"
}

gen_init_cpio() {
	if [ ! -x "$B/tools/gen_init_cpio" ]; then
		mkdir -p "$B/tools"
		gcc -O2 -o "$B/tools/gen_init_cpio" "$(ksrc)/usr/gen_init_cpio.c" ||
			die "could not build gen_init_cpio"
	fi
	echo "$B/tools/gen_init_cpio"
}
