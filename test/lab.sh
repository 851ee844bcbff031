#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab: fetch kernel sources as Debian packages, build small kernels
# (stock and with our quilt series), build the FUSE suite and an initramfs,
# boot them under QEMU (TCG) and report TAP.
#
#   test/lab.sh setup                     packages + kernel sources
#   test/lab.sh kernel ARCH FLAVOUR       build one kernel (stock|patched|old:
#                                         OLD_SERIES=<dir of series + patches/>,
#                                         e.g. an earlier version of the series)
#   test/lab.sh suite ARCH                suite binaries + initramfs
#   test/lab.sh run ARCH FLAVOUR          boot it and run the suite (TAP, then
#                                         "N passed, N failed"; exit 1 on a failure)
#   test/lab.sh run ARCH FLAVOUR debian   the same with the Debian guest
#   test/lab.sh run ARCH FLAVOUR alias    the suite's alias windows, counted by
#                                         the alias plugin (test/alias/alias.c)
#   test/lab.sh run ARCH FLAVOUR crash    the tests that BUG a stock kernel, in
#                                         a boot of their own (CRASH_TESTS)
#   test/lab.sh static [ARCH]             W=1 + sparse (unstable's) over what the series touches, stock vs patched
#   test/lab.sh bisect [ARCH]             each patch applies without fuzz and the tree builds after it
#   test/lab.sh xbuild [NAME...]          W=1 cross-builds of what the series touches, stock vs patched
#                                         (x86_64 arm sh mips parisc arm64)
#   test/lab.sh alias                     the alias runs alone (ALIAS_ARCHES)
#   test/lab.sh cache                     the cache model's runs alone (CACHE_ARCHES)
#   test/lab.sh cocci                     the Coccinelle script's tests and FUSE's audit
#   test/lab.sh bench                     stock vs patched, instructions and
#                                         throughput: docs/perf.md (BENCH_ARCHES,
#                                         BENCH_ROUNDS, BENCH_MIB)
#   test/lab.sh check                     make check: stock and patched, suite,
#                                         plugin and crash boots, Debian guest
#                                         (DEBIAN_GUEST=0: not), checkpatch, the
#                                         cocci tests, mails, 6.1's host-side
#                                         checks; not bisect, static, xbuild
#   test/lab.sh check-full                check + bisect and static on every
#                                         arch of ARCHES, and xbuild
#   test/lab.sh check-stable              the 6.1 backport (KVER=6.1): its boots too
#   test/lab.sh stable-host               the backport's host-side checks (KVER=6.1)
#   test/lab.sh mail | mail-check         make mail; its checks
#   test/lab.sh main                      `make`: patched only, short summary
#   test/lab.sh shell ARCH FLAVOUR        boot interactively (busybox shell)
#
# Environment: KSRC=<tree> uses your own tree (it must be KVER); KVER=7.2;
# ARCHES="x86_64 armv5" (check-full, 7.2: "x86_64 armv5 arm64"); ALIAS_ARCHES="armv5" (alias runs; "" for none); ONLY=<suite>[,<suite>] runs a subset of the suite;
# ARGS=-v,<variant> passes harness options; BREAK=pattern|mute makes the
# suite's daemon misbehave on purpose (for the Debian guest: a check name or
# "all", see test/debian/README.md); CACHE_ARCHES="armv5", CRASH_ARCHES="x86_64";
# STATIC_ARCHES (bisect and static in check; check-full: ARCHES);
# BOOT_TIMEOUT=1500 (seconds per boot); XBUILD=1 adds the cross-builds to
# check, STABLE=0 leaves the 6.1 host-side checks out; OLD_SERIES for
# FLAVOUR=old.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/build
KVER=${KVER:-7.2}
# The booted architectures: make check boots x86_64 and armv5, which is
# what fits its 75 minutes cold; make check-full adds arm64 (MTE), 7.2 only
# (the backport's check-stable keeps its two).  ARCHES=... picks any.
case $KVER in
7.2) ALL_ARCHES="x86_64 armv5 arm64" ;;
*) ALL_ARCHES="x86_64 armv5" ;;
esac
if [ -z "${ARCHES:-}" ] && [ "${1:-}" = check-full ]; then
	ARCHES=$ALL_ARCHES
fi
ARCHES=${ARCHES:-x86_64 armv5}
# Runs with the alias plugin in QEMU (test/alias/alias.c), of the suite's
# tests that open alias windows only: the plugin slows every guest memory
# access (the whole ARMv5 suite: 517 s instead of ~220 s).
ALIAS_ARCHES=${ALIAS_ARCHES-armv5}
ALIAS_SUITES=fuse_bufs
ALIAS_TESTS=-t,daemon_buffers_see_no_cross_alias,-t,alias_control_pipe_read,-t,alias_control_process_vm_writev_to_self
# Runs with the ARM926 cache model (test/alias/cache926.c, QEMU 10 from
# bookworm-backports): the same windows, the 2006 race, the cache_rules
# micro-tests.
CACHE_ARCHES=${CACHE_ARCHES-armv5}
CACHE_SUITES=fuse_bufs,cache_rules
CACHE_TESTS=$ALIAS_TESTS,-t,second_thread_loads_during_copy,-t,kmap_write_without_flush_dcache_page,-t,kmap_write_with_flush_dcache_page,-t,kmap_read_of_stores_after_pinning,-t,kmap_read_after_pinning_again,-t,user_events_enable_bit_is_seen
# The tests that BUG a stock kernel (fuse_uring's uring_small: arguments
# larger than the ring's payload buffer) skip in the suite's boot and run in
# a short boot of their own per flavour, so that the BUG takes no other test
# with it.  Where test/expect/<flavour>.xfail lists crash/kernel_log_clean,
# the runner expects CRASH_BUG to be the first report of that boot's log.
# x86_64 only: the ring is the same on every arch; 6.1 has none.
CRASH_ARCHES=${CRASH_ARCHES-x86_64}
[ "$KVER" = 7.2 ] || CRASH_ARCHES=
CRASH_SUITES=fuse_uring
CRASH_TESTS=-f,uring_small
CRASH_BUG='kernel BUG at fs/fuse/dev\.c'
JOBS=${JOBS:-$(($(nproc) + 1))}
export CCACHE_DIR=${CCACHE_DIR:-$B/ccache}
# The TAP stream's numbering and counters (test/tap.py): one file per lab
# process, so that two runs at once do not count into each other; a lab
# started by another (the backport's checks in make check) inherits it.
if [ -z "${TAP_STATE:-}" ]; then
	export TAP_STATE=$B/logs/tap-state-$$.json
	trap 'rm -f "$TAP_STATE"' EXIT
fi
# The series of KVER: mainline's at the top, a backport under stable/<KVER>/.
# KTAG prefixes the TAP names of a backport's checks (series/6.1/...).
case $KVER in
7.2) SERIES_DIR=$TOP KTAG= ;;
*) SERIES_DIR=$TOP/stable/$KVER KTAG=$KVER/ ;;
esac
export QUILT_PATCHES=$SERIES_DIR/patches QUILT_SERIES=$SERIES_DIR/series

# Packages the lab needs on the host (Debian 12).
HOST_PKGS="quilt qemu-system-x86 busybox-static flex bison bc libelf-dev
libssl-dev cpio ccache codespell make gcc libc6-dev xz-utils python3 perl
kmod file rsync coccinelle git"

step() { printf 'lab: %s\n' "$*"; }
die() {
	printf 'lab: error: %s\n' "$1" >&2
	[ $# -gt 1 ] && printf 'lab: to retry this step alone: %s\n' "$2" >&2
	exit 1
}

# ------------------------------------------------------------------ setup

need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	step "installing ${missing[*]} (apt-get)"
	[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >"$B/logs/apt-update.log" 2>&1 ||
		die "apt-get update failed (see $B/logs/apt-update.log)" "apt-get update"
	apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>"$B/logs/apt-install.log" 2>&1 ||
		die "could not install ${missing[*]} (see $B/logs/apt-install.log)" \
		    "apt-get install --no-install-recommends ${missing[*]}"
}

# The machine's own Debian mirror, read from its apt configuration.
mirror_uri() {
	local u
	u=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$u" ] || u=$(awk '/^deb / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list 2>/dev/null | head -n1)
	[ -n "$u" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*.sources}"
	echo "$u"
}

# apt-get with a private source list for one suite, never touching the
# system's lists or installing anything.  APT_ARCH=<debian arch> lists and
# downloads that architecture's packages instead of the host's.
apt_private() {
	local suite=$1; shift
	local d=$B/apt/$suite${APT_ARCH:+-$APT_ARCH}
	local arch=${APT_ARCH:-$(dpkg --print-architecture)}
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror_uri) $suite main" \
		>"$d/sources.list"
	apt-get -q -o Dir::Etc::sourcelist="$d/sources.list" \
		-o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" \
		-o Dir::State::status=/dev/null \
		-o Acquire::Check-Valid-Until=false \
		-o APT::Architecture="$arch" -o APT::Architectures="$arch" \
		-o APT::Sandbox::User=root "$@"
}

# Which suite carries linux-source-<ver>.
src_suite() {
	case $1 in
	7.2) echo unstable ;;
	6.1) echo bookworm ;;
	*) die "no Debian suite known for linux-source-$1" ;;
	esac
}

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

fetch_source() {
	local ver=$1 suite deb tree tmp full
	tree=$B/src/linux-source-$ver
	if [ -f "$tree/.lab-unpacked" ]; then
		full=$(tree_version "$tree" "$ver") || exit 1
		step "linux-source-$ver: Linux $full already unpacked in $tree (SUBLEVEL ${full##*.})"
		return
	fi
	suite=$(src_suite "$ver")
	mkdir -p "$B/dl" "$B/src"
	step "linux-source-$ver: apt lists of $suite"
	apt_private "$suite" update >"$B/logs/apt-$suite.log" 2>&1 ||
		die "apt-get update of $suite failed (see $B/logs/apt-$suite.log)" \
		    "test/lab.sh setup"
	step "linux-source-$ver: downloading from $suite"
	(cd "$B/dl" && apt_private "$suite" download "linux-source-$ver") \
		>>"$B/logs/apt-$suite.log" 2>&1 ||
		die "linux-source-$ver is not in $suite (see $B/logs/apt-$suite.log)" \
		    "test/lab.sh setup"
	deb=$(ls -t "$B/dl"/linux-source-"$ver"_*.deb | head -n1)
	step "linux-source-$ver: unpacking $(basename "$deb")"
	tmp=$(mktemp -d "$B/src/.unpack.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO --wildcards "./usr/src/linux-source-$ver.tar.*" |
		tar -xJ -C "$tmp" ||
		die "could not unpack $deb" "test/lab.sh setup"
	[ -d "$tmp/linux-source-$ver" ] || die "$deb holds no linux-source-$ver tree"
	full=$(tree_version "$tmp/linux-source-$ver" "$ver") || exit 1
	basename "$deb" >"$tmp/linux-source-$ver/.lab-unpacked"
	rm -rf "$tree"
	mv "$tmp/linux-source-$ver" "$tree"
	rmdir "$tmp"
	step "linux-source-$ver: Linux $full in $tree (SUBLEVEL ${full##*.})"
}

ksrc() {
	if [ -n "${KSRC:-}" ]; then
		[ -d "$KSRC" ] || die "KSRC=$KSRC: no such directory"
		(cd "$KSRC" && pwd)
	else
		echo "$B/src/linux-source-$KVER"
	fi
}

cmd_setup() {
	mkdir -p "$B/logs"
	need_pkgs $HOST_PKGS
	local a
	for a in $ARCHES; do
		load_arch "$a"
		need_pkgs $QEMU_PKG $CROSS_PKG
	done
	if [ -n "${KSRC:-}" ]; then
		local tree full
		tree=$(ksrc) || exit 1
		full=$(tree_version "$tree" "$KVER") || exit 1
		step "using KSRC=$tree: Linux $full (SUBLEVEL ${full##*.})"
	else
		fetch_source "$KVER"
	fi
	[ "${LAB_ONLY_KVER:-}" ] || [ "$KVER" = 6.1 ] || fetch_source 6.1
	# a backport's suite is built with mainline's kselftest harness
	[ "$KVER" = 7.2 ] || fetch_source 7.2
}

# The tree whose tools/testing/selftests/kselftest_harness.h the suite is
# built with: mainline's also for a backport, whose own harness is older
# (6.1's runs a test whose FIXTURE_SETUP() said SKIP, and names no skipped
# test in its TAP line).
harness_src() {
	if [ "$KVER" = 7.2 ]; then ksrc; else echo "$B/src/linux-source-7.2"; fi
}

# ---------------------------------------------------------------- kernels

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
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$QUILT_SERIES" | awk '{print $1}'
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

# ------------------------------------------------------------ suite, initrd

cmd_suite() {
	local arch=$1 hdr out root list
	load_arch "$arch"
	hdr=$B/hdr/$KVER-$arch
	out=$B/suite/$KVER-$arch
	if [ ! -f "$hdr/.stamp" ]; then
		step "suite $arch: installing uapi headers of Linux $KVER"
		make -C "$(ksrc)" O="$B/hdr/obj-$KVER-$arch" ARCH="$KARCH" \
			headers_install INSTALL_HDR_PATH="$hdr" >"$B/logs/headers-$arch.log" 2>&1 ||
			die "headers_install failed (see $B/logs/headers-$arch.log)" "test/lab.sh suite $arch"
		touch "$hdr/.stamp"
	fi
	# binaries built with another harness are built again
	[ "$(cat "$out/.harness" 2>/dev/null)" = "$(harness_src)" ] || rm -rf "$out"
	mkdir -p "$out" && harness_src >"$out/.harness"
	step "suite $arch: building static test binaries"
	make -s -C "$TOP/test/suite" KSRC="$(harness_src)" HDR="$hdr" OUT="$out" \
		CROSS_COMPILE="$CROSS_COMPILE" >"$B/logs/suite-$arch.log" 2>&1 || {
		cat "$B/logs/suite-$arch.log" >&2
		die "suite build failed" "test/lab.sh suite $arch"
	}
	list=$(make -s -C "$TOP/test/suite" list)
	mkdir -p "$B/initrd"
	root=$B/initrd/$KVER-$arch-suite.list
	{
		echo "dir /dev 0755 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		for d in /bin /proc /sys /tmp /fuselab; do echo "dir $d 0755 0 0"; done
		echo "file /bin/busybox $(busybox_for "$arch") 0755 0 0"
		echo "file /init $TOP/test/guest/init 0755 0 0"
		echo "file /fuselab/tests $out/tests 0644 0 0"
		for t in $list; do echo "file /fuselab/$t $out/$t 0755 0 0"; done
	} >"$root"
	echo "$list" >"$out/tests"
	"$(gen_init_cpio)" "$root" | gzip -1 >"$B/initrd/$KVER-$arch-suite.cpio.gz.tmp"
	mv "$B/initrd/$KVER-$arch-suite.cpio.gz.tmp" "$B/initrd/$KVER-$arch-suite.cpio.gz"
	step "suite $arch: $(echo $list | wc -w) binaries in build/initrd/$KVER-$arch-suite.cpio.gz"
}

# The static busybox for the guest: the host's for amd64, otherwise
# Debian 12's busybox-static of that architecture, downloaded with a
# private apt list and unpacked.
busybox_for() {
	local d=$B/busybox/$DEB_ARCH deb
	if [ "$DEB_ARCH" = "$(dpkg --print-architecture)" ]; then
		echo /bin/busybox
		return
	fi
	if [ ! -x "$d/bin/busybox" ]; then
		step "suite $1: downloading busybox-static:$DEB_ARCH from bookworm" >&2
		mkdir -p "$d" "$B/dl/$DEB_ARCH"
		{
			APT_ARCH=$DEB_ARCH apt_private bookworm update &&
				(cd "$B/dl/$DEB_ARCH" && APT_ARCH=$DEB_ARCH apt_private bookworm download busybox-static)
		} >>"$B/logs/apt-bookworm-$DEB_ARCH.log" 2>&1 ||
			die "cannot download busybox-static:$DEB_ARCH (see $B/logs/apt-bookworm-$DEB_ARCH.log)" \
			    "test/lab.sh suite $1"
		deb=$(ls "$B/dl/$DEB_ARCH"/busybox-static_*_"$DEB_ARCH".deb | head -n1)
		dpkg -x "$deb" "$d" || die "could not unpack $deb" "test/lab.sh suite $1"
	fi
	echo "$d/bin/busybox"
}

# ------------------------------------------------------------------- boots

# Boot ARCH's FLAVOUR kernel with GUEST: "suite" (our initramfs) or
# "debian" (real clients, test/debian/).
cmd_run() {
	[ $# -ge 2 ] || die "usage: test/lab.sh run ARCH stock|patched|old [suite|debian|alias|cache|crash]"
	case $2 in stock | patched | old) ;; *) die "FLAVOUR must be stock, patched or old, not '$2'" ;; esac
	local arch=$1 flavour=$2 guest=${3:-suite} dir initrd suites extra= append tag= xfail= alias= cache= crash=
	local timeout=${BOOT_TIMEOUT:-1500}
	load_arch "$arch"
	# what the stock kernel must fail: the tests that prove the series
	[ -f "$TOP/test/expect/$flavour.xfail" ] && xfail=$TOP/test/expect/$flavour.xfail
	dir=$(img_dir "$arch" "$flavour")
	[ -f "$dir/image" ] || die "no $flavour kernel for $arch" \
		"${OLD_SERIES:+OLD_SERIES=$OLD_SERIES }test/lab.sh kernel $arch $flavour"
	append="loglevel=4"
	case $guest in
	suite)
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(echo "${ONLY:-$(cat "$B/suite/$KVER-$arch/tests")}" | tr , ' ')
		append="$append ${ONLY:+fuselab.only=$ONLY} ${ARGS:+fuselab.args=$ARGS} ${BREAK:+fuselab.break=$BREAK}"
		;;
	alias)
		# the suite's alias windows, with the alias plugin in QEMU
		[ -n "$ALIAS_ARGS" ] || die "test/arch/$arch.conf sets no ALIAS_ARGS"
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(echo "${ONLY:-$ALIAS_SUITES}" | tr , ' ')
		append="$append fuselab.only=${ONLY:-$ALIAS_SUITES} fuselab.args=${ARGS:-$ALIAS_TESTS} fuselab.plugin=alias"
		tag=-alias
		alias=$B/logs/alias-$KVER-$arch-$flavour.log
		extra="-plugin $(plugin alias),log=$alias,$ALIAS_ARGS"
		;;
	cache)
		# the same windows and more, in QEMU 10 with the ARM926 cache model
		[ "$arch" = armv5 ] || die "the cache model is an ARM926's: armv5 only"
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(echo "${ONLY:-$CACHE_SUITES}" | tr , ' ')
		append="$append fuselab.only=${ONLY:-$CACHE_SUITES} fuselab.args=${ARGS:-$CACHE_TESTS} fuselab.plugin=cache"
		tag=-cache
		cache=$B/logs/cache-$KVER-$arch-$flavour.log
		QEMU=$(qemu10 "$QEMU")
		extra="-audio none -plugin $(plugin cache926),log=$cache${CACHE_ARGS:+,$CACHE_ARGS}"
		;;
	crash)
		# the tests that BUG a stock kernel, in a boot of their own
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(echo "${ONLY:-$CRASH_SUITES}" | tr , ' ')
		append="$append fuselab.only=${ONLY:-$CRASH_SUITES} fuselab.args=${ARGS:-$CRASH_TESTS} fuselab.crash=1"
		tag=-crash
		crash=$CRASH_BUG
		timeout=${BOOT_TIMEOUT:-600}
		;;
	debian)
		[ "$arch" = x86_64 ] || die "the debian guest is x86_64 only"
		# cached: rebuilt only when its script or test/debian/init changed
		bash "$TOP/test/debian/build-rootfs.sh" >&2 ||
			die "debian rootfs failed" "bash test/debian/build-rootfs.sh"
		initrd=$B/debian/rootfs.cpio.gz
		suites=debian
		tag=-debian
		extra="-m 2G"
		append="$append ${BREAK:+fuselab_break=$BREAK} ${ONLY:+fuselab_only=$ONLY} ${REPEAT:+fuselab_repeat=$REPEAT}"
		;;
	*) die "GUEST must be suite, alias, cache, crash or debian" ;;
	esac
	[ -z "$KDTB" ] || extra="$extra -dtb $dir/dtb"
	if [ "$guest" != debian ] && [ -f "$dir/kmod.cpio.gz" ]; then
		# this kernel's test modules, as a second archive
		cat "$initrd" "$dir/kmod.cpio.gz" >"$B/initrd/$KVER-$arch-$flavour-kmod.cpio.gz"
		initrd=$B/initrd/$KVER-$arch-$flavour-kmod.cpio.gz
	fi
	python3 "$TOP/test/run-qemu.py" --name "$KVER-$arch/$flavour$tag" \
		--qemu "$QEMU" --qemu-args "$QEMU_ARGS $extra" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$initrd" \
		--append "$append" --timeout "$timeout" \
		--suites "$suites" \
		--log "$B/logs/console-$KVER-$arch-$flavour$tag.log" \
		--state "$TAP_STATE" \
		${xfail:+--xfail "$xfail"} ${alias:+--alias-log "$alias"} ${cache:+--cache-log "$cache"} \
		${crash:+--crash "$crash"}
}

# QEMU 10 from bookworm-backports (its plugins read registers), unpacked
# into build/qemu10 beside Debian 12's QEMU 7.2; prints a wrapper for
# system emulator $1 that finds its modules and firmware there.
qemu10() {
	local d=$B/qemu10 w=$B/tools/$1-10 deb
	if [ ! -x "$w" ]; then
		step "qemu 10: downloading qemu-system-arm from bookworm-backports" >&2
		rm -rf "$B/dl/qemu10" "$d" && mkdir -p "$B/dl/qemu10" "$d" "$B/tools"
		{
			apt_private bookworm-backports update &&
				(cd "$B/dl/qemu10" && apt_private bookworm-backports download \
					qemu-system-arm qemu-system-common qemu-system-data)
		} >>"$B/logs/apt-backports.log" 2>&1 ||
			die "could not download QEMU 10 (see $B/logs/apt-backports.log)" "test/lab.sh cache"
		for deb in "$B"/dl/qemu10/*.deb; do
			dpkg-deb -x "$deb" "$d" || die "could not unpack $deb" "test/lab.sh cache"
		done
		cat >"$w.tmp" <<EOF
#!/bin/sh
# $1 of QEMU 10 from bookworm-backports (written by test/lab.sh)
QEMU_MODULE_DIR=$d/usr/lib/x86_64-linux-gnu/qemu exec "$d/usr/bin/$1" -L "$d/usr/share/qemu" "\$@"
EOF
		chmod +x "$w.tmp" && mv "$w.tmp" "$w"
		"$w" --version | grep -q "version 10\." ||
			die "$w is not QEMU 10: $("$w" --version | head -n1)" "$w --version"
	fi
	echo "$w"
}

# A QEMU plugin of test/alias/ (alias: for QEMU 7.2, plugin API 1; cache926:
# for QEMU 10, API 2), built into build/tools/ when its source changed.
plugin() {
	local name=$1 so=$B/tools/$1.so src=$TOP/test/alias/$1.c
	mkdir -p "$B/tools"
	if [ ! -f "$so" ] || [ "$src" -nt "$so" ] ||
	   [ "$TOP/test/alias/qemu-plugin-api.h" -nt "$so" ]; then
		step "$name plugin: building $so" >&2
		gcc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -shared -fPIC \
			-o "$so" "$src" -lpthread ||
			die "$name plugin build failed" "gcc -shared -fPIC -o $so $src"
	fi
	echo "$so"
}

cmd_shell() {
	local arch=$1 flavour=${2:-patched} dir
	load_arch "$arch"
	dir=$(img_dir "$arch" "$flavour")
	[ -f "$dir/image" ] || die "no $flavour kernel for $arch" "test/lab.sh kernel $arch $flavour"
	python3 "$TOP/test/run-qemu.py" --interactive --name shell \
		--qemu "$QEMU" --qemu-args "$QEMU_ARGS${KDTB:+ -dtb $dir/dtb}" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$B/initrd/$KVER-$arch-suite.cpio.gz" \
		--append "fuselab.shell=1" --log /dev/null
}

# ---------------------------------------------------------------- static checks

tap_() { python3 "$TOP/test/tap.py" "$TAP_STATE" "$@"; }

# Debian 12's sparse (0.6.4) cannot parse 7.2: scripts/checker-valid.sh
# rejects it and C=1 then checks nothing, successfully.  Unstable's sparse
# runs here with unstable's glibc through that glibc's own loader: two
# packages unpacked into build/sparse, nothing installed, no chroot.
setup_sparse() {
	local d=$B/sparse deb
	SPARSE=$B/tools/sparse
	if [ ! -x "$SPARSE" ]; then
		step "sparse: downloading sparse and libc6 from unstable"
		rm -rf "$B/dl/sparse" "$d" && mkdir -p "$B/dl/sparse" "$d" "$B/tools"
		{
			apt_private unstable update &&
				(cd "$B/dl/sparse" && apt_private unstable download sparse libc6)
		} >>"$B/logs/apt-unstable.log" 2>&1 ||
			die "could not download sparse from unstable (see $B/logs/apt-unstable.log)" \
			    "test/lab.sh static"
		for deb in "$B"/dl/sparse/*.deb; do
			dpkg-deb -x "$deb" "$d" || die "could not unpack $deb" "test/lab.sh static"
		done
		cat >"$SPARSE.tmp" <<EOF
#!/bin/sh
# sparse from Debian unstable with unstable's glibc (written by test/lab.sh)
exec "$d/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \\
	--library-path "$d/usr/lib/x86_64-linux-gnu" "$d/usr/bin/sparse" "\$@"
EOF
		chmod +x "$SPARSE.tmp" && mv "$SPARSE.tmp" "$SPARSE"
	fi
	[ "$("$(ksrc)/scripts/checker-valid.sh" "$SPARSE")" = 1 ] ||
		die "scripts/checker-valid.sh rejects $SPARSE: C=2 would check nothing" \
		    "$(ksrc)/scripts/checker-valid.sh $SPARSE"
	step "sparse: $("$SPARSE" --version) passes scripts/checker-valid.sh"
}

# What kbuild must compile for the series on KARCH: the directory of
# every touched non-uapi header outside include/ and arch/ (fs/fuse/),
# and the object of every touched C file elsewhere (mm/gup.o), arch
# files only on their own architecture.
series_targets() {
	local karch=$1 p f dirs=" "
	for f in $(for p in $(series_patches); do
		sed -n 's|^+++ b/\(.*\.[ch]\)$|\1|p' "$QUILT_PATCHES/$p"; done | sort -u); do
		case $f in include/* | arch/*/include/*) continue ;; esac
		case $f in arch/$karch/*) ;; arch/*) continue ;; esac
		case $f in *.h) dirs="$dirs${f%/*}/ " ;; esac
	done
	dirs=$(echo $dirs | tr ' ' '\n' | sort -u | tr '\n' ' ')
	echo -n "$dirs"
	for f in $(for p in $(series_patches); do
		sed -n 's|^+++ b/\(.*\)\.c$|\1|p' "$QUILT_PATCHES/$p"; done | sort -u); do
		case $f in arch/$karch/*) ;; arch/*) continue ;; esac
		[[ " $dirs " == *" ${f%/*}/ "* ]] || echo -n "$f.o "
	done
	# what a touched header is used by, named in the series ("# xbuild: mm/gup.o")
	sed -n 's|^# xbuild: \([^ ]*\).*|\1 |p' "$QUILT_SERIES" | tr -d '\n'
}

# Of the targets given, those this configuration builds: directories, and
# the objects in their directory's built-in.a.  What the series touches
# outside the configuration is built by cmd_xbuild, whose configuration
# has it (test/config/xbuild.config); each one left out is said.
in_build() {
	local obj=$1 t
	shift
	for t in "$@"; do
		case $t in
		*/) printf '%s ' "$t" ;;
		# a thin archive names its members by the path it was opened
		# with; no grep -q: under pipefail, ar killed by SIGPIPE says no
		*) if (cd "$obj" && ar t "${t%/*}/built-in.a" 2>/dev/null) | grep -cxF "$t" >/dev/null; then
			printf '%s ' "$t"
		   else
			step "static: $t is not in this configuration (make xbuild builds it)" >&2
		   fi ;;
		esac
	done
}

# Warnings of a W=1 C=2 log without line numbers, sorted: "W=1 file: text"
# for the compiler's [-W...] and kernel-doc's, "sparse file: text" for sparse's.
warnings_of() {
	sed -n -E -e 's|^Warning: ([^ :]+):[0-9]+ (.*)$|W=1 \1: \2|p' \
		-e 's|^([^ :]+):[0-9]+(:[0-9]+)?: (warning\|error): (.*\[-W.*)$|W=1 \1: \4|p' \
		-e '/\[-W/!s|^([^ :]+):[0-9]+(:[0-9]+)?: (warning\|error): (.*)$|sparse \1: \4|p' "$1" |
		sed "s| $(ksrc)/| |" | sort
}

# W=1 and sparse over the directories the series touches, stock then
# patched: no warning of the patched tree may be new.  The sparse run is
# proved live twice: every object kbuild built there went through sparse
# (its command line is in the V=1 log), and the command kbuild used for one
# of them reports a deliberate __user dereference (test/sparse-probe.c).
cmd_static() {
	local arch=${1:-x86_64} obj dirs f log cmd src n total o new probe kind
	load_arch "$arch"
	setup_sparse
	obj=$B/obj/$KVER-$arch
	[ -f "$obj/.config" ] || die "no configured $arch tree in $obj" "test/lab.sh kernel $arch stock"
	dirs=$(in_build "$obj" $(series_targets "$KARCH"))
	[ -n "$dirs" ] || { step "static: the series touches no C files"; return 0; }
	for f in stock patched; do
		tree_state "$f"
		log=$B/logs/static-$arch-$f.log
		step "static: $arch $f: make W=1 C=2 $dirs(log: build/logs/static-$arch-$f.log)"
		# compiled, and so warned about, in both states
		for o in $dirs; do
			case $o in */) rm -f "$obj/$o"*.o ;; *) rm -f "$obj/$o" ;; esac
		done
		kmake "$obj" -j"$JOBS" W=1 C=2 CHECK="$SPARSE" V=1 $dirs >"$log" 2>&1 || {
			grep -E "error" "$log" | head -n 20 >&2
			die "W=1 C=2 build failed (see $log)" "test/lab.sh static $arch"
		}
		warnings_of "$log" >"$log.warnings"
		# every object kbuild built in those directories went through sparse
		n=0 total=0
		for o in $(cd "$obj" && ls $(for d in $dirs; do
			case $d in */) echo "$d*.o" ;; *) echo "$d" ;; esac; done) 2>/dev/null); do
			total=$((total + 1))
			grep -q "^[[:space:]]*$SPARSE .*-MMD,${o%/*}/\.${o##*/}\.d " "$log" ||
				{ n=$((n + 1)); echo "not checked by sparse: ${o%.o}.c" >&2; }
		done
		if [ "$n" = 0 ] && [ "$total" -gt 0 ]; then
			tap_ ok "static/$arch/$f/sparse_checked_every_file" "measured: $total objects in ${dirs% }, each checked"
		else
			tap_ fail "static/$arch/$f/sparse_checked_every_file" "$n C files not checked" "log: $log"
		fi
	done
	cmd=$(grep -m1 "^[[:space:]]*$SPARSE .*-MMD,${dirs%% *}.*\.c\$" "$B/logs/static-$arch-patched.log" | sed 's/^[[:space:]]*//')
	src=${cmd##* }
	probe=$(cd "$obj" && ${cmd% *} "$TOP/test/sparse-probe.c" 2>&1)
	if echo "$probe" | grep -q "dereference of noderef expression"; then
		tap_ ok "static/$arch/sparse_reports_a_deliberate_user_dereference"
	else
		tap_ fail "static/$arch/sparse_reports_a_deliberate_user_dereference" \
			"the command kbuild used for $src says nothing about test/sparse-probe.c:" "$probe"
	fi
	for kind in W=1 sparse; do
		new=$(comm -13 "$B/logs/static-$arch-stock.log.warnings" \
			"$B/logs/static-$arch-patched.log.warnings" | grep "^$kind " || true)
		if [ -z "$new" ]; then
			tap_ ok "static/$arch/no_new_${kind/=/}_warnings" \
				"measured: $(grep -c "^$kind " "$B/logs/static-$arch-patched.log.warnings") $kind warnings in ${dirs% }, all also on stock"
		else
			tap_ fail "static/$arch/no_new_${kind/=/}_warnings" "$(echo "$new" | head -n 20)"
		fi
	done
}

# checkpatch.sh's verdict per patch, in the lab's TAP stream.
cmd_checkpatch() {
	local line log=$B/logs/checkpatch-$KVER.tap t=checkpatch
	[ "$KVER" = 7.2 ] || t=checkpatch/$KVER
	KVER=$KVER KSRC=$(ksrc) "$TOP/checkpatch.sh" >"$log" 2>&1 || true
	while IFS= read -r line; do
		case $line in
		"ok "*) tap_ ok "$t/${line#ok * - }" ;;
		"not ok "*) tap_ fail "$t/${line#not ok * - }" "$(grep -F "${line#not ok * - }:" "$log")" ;;
		esac
	done <"$log"
	grep -q "^1\.\." "$log" || tap_ fail "$t/ran" "$(cat "$log")" "KVER=$KVER ./checkpatch.sh"
}

# The audit script: its unit tests, the proof that they can fail (each
# rule broken on purpose), and FUSE's own sites on Debian's 7.2 before and
# after the series (make audit runs it over whole trees).
cmd_cocci() {
	local line log out f rc
	for f in run mutate; do
		log=$B/logs/cocci-$f.tap
		"$TOP/coccinelle/tests/$f.sh" >"$log" 2>&1 || true
		while IFS= read -r line; do
			case $line in
			"ok "*) tap_ ok "cocci/$f/${line#ok * - }" ;;
			"not ok "*) tap_ fail "cocci/$f/${line#not ok * - }" \
				"$(awk -v l="$line" '$0 == l { f = 1; next } f && /^(not )?ok / { exit } f' "$log")" \
				"coccinelle/tests/$f.sh" ;;
			esac
		done <"$log"
		grep -q '^1\.\.' "$log" || tap_ fail "cocci/$f/ran" "$(cat "$log")" "coccinelle/tests/$f.sh"
	done
	tree_state stock
	out=$(KSRC=$(ksrc) M=fs/fuse "$TOP/coccinelle/audit.sh" 2>&1) || true
	if echo "$out" | grep -q '^fs/fuse/dev.c:[0-9:-]*: C3: fuse_copy_fill()' &&
	   echo "$out" | grep -q '^fs/fuse/dev.c:[0-9:-]*: C2: fuse_copy_do()'; then
		tap_ ok "cocci/audit/stock_fuse_flags_fuse_copy_fill_and_fuse_copy_do"
	else
		tap_ fail "cocci/audit/stock_fuse_flags_fuse_copy_fill_and_fuse_copy_do" "$out" \
			"KSRC=$(ksrc) M=fs/fuse coccinelle/audit.sh"
	fi
	tree_state patched
	out=$(KSRC=$(ksrc) M=fs/fuse "$TOP/coccinelle/audit.sh" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ] && ! echo "$out" | grep -q '^fs/fuse/'; then
		tap_ ok "cocci/audit/patched_fuse_has_no_hit"
	else
		tap_ fail "cocci/audit/patched_fuse_has_no_hit" "$out" \
			"test/lab.sh cocci (the tree patched: KSRC=$(ksrc) M=fs/fuse coccinelle/audit.sh)"
	fi
	tree_state stock
}

# quilt push of the next patch, $1, with no fuzz: one TAP line; fails only
# when the patch did not apply at all.
push_one() {
	local p=$1 out
	out=$(quilt_ push --fuzz=0 "$p" 2>&1) || {
		tap_ fail "series/$KTAG$p/applies_without_fuzz" "$out" \
			"reproduce: cd $(ksrc) && QUILT_PATCHES=$QUILT_PATCHES QUILT_SERIES=$QUILT_SERIES quilt --quiltrc=- push --fuzz=0"
		return 1
	}
	if echo "$out" | grep -q "with offset\|with fuzz"; then
		tap_ fail "series/$KTAG$p/applies_without_fuzz" "$(echo "$out" | grep "offset\|fuzz")"
	else
		tap_ ok "series/$KTAG$p/applies_without_fuzz"
	fi
}

# Each patch applies to KVER's tree without fuzz (no builds: see bisect).
cmd_applies() {
	local p
	tree_state stock
	for p in $(series_patches); do push_one "$p" || break; done
}

# Every patch of the series applies in order without fuzz and the tree
# builds after each one.
cmd_bisect() {
	local arch=${1:-x86_64} obj p i=0
	load_arch "$arch"
	obj=$B/obj/$KVER-$arch
	[ -f "$obj/.config" ] || die "no configured $arch tree in $obj" "test/lab.sh kernel $arch stock"
	tree_state stock
	for p in $(series_patches); do
		i=$((i + 1))
		push_one "$p" || break
		step "bisect: $arch: building after $p"
		if kmake "$obj" -j"$JOBS" $KIMAGE_TARGET >"$B/logs/bisect-$arch-$i.log" 2>&1; then
			tap_ ok "series/$KTAG$p/$arch/builds"
		else
			tap_ fail "series/$KTAG$p/$arch/builds" "$(grep -E "error" "$B/logs/bisect-$arch-$i.log" | head -n 5)" \
				"log: $B/logs/bisect-$arch-$i.log"
		fi
	done
}

# ------------------------------------------------------------- cross-builds

# The architectures whose caches the series is about, built with W=1
# (compile only: fs/fuse/, mm/gup.o and what else the series touches).
#   name   KARCH  CROSS_COMPILE        defconfig                 options asserted in the .config
XBUILDS="
x86_64 x86    -                    x86_64_defconfig          CONFIG_64BIT
arm    arm    arm-linux-gnueabi-   versatile_defconfig       CONFIG_CPU_ARM926T,CONFIG_CPU_CACHE_VIVT
sh     sh     sh4-linux-gnu-       rts7751r2dplus_defconfig  CONFIG_CPU_SH4,CONFIG_MMU,CONFIG_HAVE_GUP_FAST|CONFIG_HAVE_FAST_GUP
mips   mips   mips-linux-gnu-      malta_defconfig           CONFIG_32BIT,CONFIG_MIPS_MALTA,CONFIG_HAVE_GUP_FAST
parisc parisc hppa-linux-gnu-      generic-32bit_defconfig   CONFIG_PA7100LC
arm64  arm64  aarch64-linux-gnu-   defconfig                 CONFIG_HAVE_GUP_FAST
marvell arm   arm-linux-gnueabi-   debian:armel_none_marvell CONFIG_CPU_FEROCEON,CONFIG_CPU_CACHE_VIVT,CONFIG_HIGHMEM,CONFIG_FUSE_FS=m
"
# marvell is Debian 12's own armel configuration (Kirkwood/Orion NAS boxes,
# a Feroceon VIVT D-cache, highmem), for the 6.1 backport; sh is there for
# the backport's gup_fast_permitted()
case $KVER in
7.2) XBUILD_ARCHES=${XBUILD_ARCHES:-x86_64 arm sh mips parisc arm64} ;;
*) XBUILD_ARCHES=${XBUILD_ARCHES:-marvell sh} ;;
esac

# Debian's kernel configuration $1 (e.g. armel_none_marvell) from
# linux-config-KVER of its architecture, downloaded once; prints its path.
debian_config() {
	local flavour=$1 arch=${1%%_*} d=$B/dl/linux-config-$KVER deb
	if [ ! -f "$d/config.$flavour" ]; then
		step "xbuild: downloading linux-config-$KVER:$arch from $(src_suite "$KVER")" >&2
		mkdir -p "$d/$arch"
		{
			APT_ARCH=$arch apt_private "$(src_suite "$KVER")" update &&
				(cd "$d/$arch" && APT_ARCH=$arch apt_private "$(src_suite "$KVER")" download "linux-config-$KVER")
		} >>"$B/logs/apt-linux-config-$KVER.log" 2>&1 ||
			die "cannot download linux-config-$KVER:$arch (see $B/logs/apt-linux-config-$KVER.log)" "test/lab.sh xbuild"
		deb=$(ls "$d/$arch"/linux-config-"$KVER"_*_"$arch".deb | head -n1)
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-config-$KVER/config.$flavour.xz" | xz -d >"$d/config.$flavour.tmp" &&
			[ -s "$d/config.$flavour.tmp" ] ||
			die "$deb has no config.$flavour" "dpkg-deb -c $deb"
		mv "$d/config.$flavour.tmp" "$d/config.$flavour"
	fi
	echo "$d/config.$flavour"
}

# W=1 cross-builds of what the series touches, stock then patched: each
# must build, and no W=1 warning of the patched tree may be new.  The
# objects are removed before each build so that every one of them is
# compiled, and so warned about, in both states.
cmd_xbuild() {
	local name karch cross defcfg asserts obj targets f log frags key bad t new n KARCH CROSS_COMPILE
	# on a backport's tree, what it lacks (test/config/<KVER>.config) wins
	frags=xbuild.config
	[ ! -f "$TOP/test/config/$KVER.config" ] || frags="$frags $KVER.config"
	for name in $XBUILD_ARCHES; do
		read -r _ karch cross defcfg asserts < <(echo "$XBUILDS" | awk -v n="$name" '$1 == n')
		[ -n "${karch:-}" ] || die "unknown cross-build '$name' (have: $(echo "$XBUILDS" | awk 'NF { printf "%s ", $1 }'))"
		[ "$cross" = - ] && cross=
		need_pkgs ${cross:+gcc-${cross%-}}
	done
	for name in $XBUILD_ARCHES; do
		read -r _ karch cross defcfg asserts < <(echo "$XBUILDS" | awk -v n="$name" '$1 == n')
		[ "$cross" = - ] && cross=
		KARCH=$karch CROSS_COMPILE=$cross
		obj=$B/obj/x-$KVER-$name
		targets=$(series_targets "$karch")
		case $defcfg in
		debian:*)
			# Debian's configuration as it is, no fragment
			f=$(debian_config "${defcfg#debian:}") || exit 1
			key=$(sha256sum <"$f" | cut -c1-16)-$defcfg
			;;
		*) key=$(cd "$TOP/test/config" && cat $frags | sha256sum | cut -c1-16)-$defcfg ;;
		esac
		if [ "$(cat "$obj/.lab-config" 2>/dev/null)" != "$key" ]; then
			tree_state stock
			mkdir -p "$obj"
			case $defcfg in
			debian:*)
				step "xbuild: $name: configuring (Debian's config.${defcfg#debian:}, olddefconfig)"
				{ cp "$f" "$obj/.config" && kmake "$obj" olddefconfig; } >"$B/logs/xbuild-$name-config.log" 2>&1
				;;
			*)
				step "xbuild: $name: configuring ($defcfg + $frags)"
				{
					kmake "$obj" "$defcfg" &&
						(cd "$(ksrc)" && ARCH=$karch scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" \
							$(for f in $frags; do echo "$TOP/test/config/$f"; done)) &&
						kmake "$obj" olddefconfig
				} >"$B/logs/xbuild-$name-config.log" 2>&1
				;;
			esac ||
				die "configuring $name failed (see $B/logs/xbuild-$name-config.log)" "test/lab.sh xbuild $name"
			bad=
			case $defcfg in debian:*) ;; *) bad=$(KCONFIG_FRAGMENTS=$frags check_kconfig "$obj/.config") ;; esac
			# CONFIG_X (=y), CONFIG_X=<value>, or one of CONFIG_X|CONFIG_Y
			for f in ${asserts//,/ }; do
				t=
				for n in ${f//|/ }; do
					[[ $n == *=* ]] || n=$n=y
					! grep -qx "$n" "$obj/.config" || t=1
				done
				[ -n "$t" ] || bad="$bad $f"
			done
			[ -z "$(echo $bad)" ] || die "$name: options the cross-build relies on are not in $obj/.config: $(echo $bad)" \
				"test/lab.sh xbuild $name"
			echo "$key" >"$obj/.lab-config"
		fi
		for f in stock patched; do
			tree_state "$f"
			log=$B/logs/xbuild-$name-$f.log
			step "xbuild: $name $f: make W=1 $targets(log: build/logs/xbuild-$name-$f.log)"
			for t in $targets; do
				case $t in */) rm -f "$obj/$t"*.o ;; *) rm -f "$obj/$t" ;; esac
			done
			t=$SECONDS
			if ! kmake "$obj" -j"$JOBS" W=1 $targets >"$log" 2>&1; then
				tap_ fail "xbuild/$KTAG$name/$f/builds" "$(grep -E "error" "$log" | head -n 10)" \
					"log: $log" "reproduce: test/lab.sh xbuild $name"
				continue 2
			fi
			warnings_of "$log" >"$log.warnings"
			n=$(grep -cE "^  CC( \[M\])? +($(echo $targets | sed 's/ /|/g'))" "$log" || true)
			tap_ ok "xbuild/$KTAG$name/$f/builds" \
				"measured: $n files of ${targets% } compiled with W=1 in $((SECONDS - t)) s, $(sort -u "$log.warnings" | wc -l) distinct warnings"
		done
		new=$(comm -13 "$B/logs/xbuild-$name-stock.log.warnings" "$B/logs/xbuild-$name-patched.log.warnings")
		if [ -z "$new" ]; then
			tap_ ok "xbuild/$KTAG$name/no_new_W1_warnings"
		else
			tap_ fail "xbuild/$KTAG$name/no_new_W1_warnings" "$(echo "$new" | head -n 20)" \
				"reproduce: test/lab.sh xbuild $name"
		fi
	done
}

# ------------------------------------------------------------------ bench

# `make bench`: the stock and the patched kernel of PROFILE=bench (the
# lab's configuration without its debug options) boot alternately,
# BENCH_ROUNDS times each, in two kinds of run: "icount" (QEMU -icount
# shift=0,sleep=off -smp 1: the guest's clock counts instructions, the
# same from boot to boot) and "wall" (plain TCG: throughput, noisy). Each
# boot runs fuse_bench and ubench in their bench mode; test/bench.py
# turns the BENCH lines of every console log into docs/perf.md, its data
# and its plots.
BENCH_ARCHES=${BENCH_ARCHES:-x86_64 armv5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_MIB=${BENCH_MIB:-8}

# ------------------------------------------------------------------- mail

# A throw-away git repository of KVER's tree as Debian ships it, the base
# the mails are made on and applied to again; rebuilt when the tree changes.
mail_base() {
	local base=$1 full=$2 stamp
	stamp="$KVER $full $(ksrc) $(cat "$(ksrc)/.lab-unpacked" 2>/dev/null || true)"
	[ "$(cat "$base/.git/lab-stamp" 2>/dev/null)" != "$stamp" ] || return 0
	step "mail: committing the Linux $full tree to a throw-away git repository ($base)"
	tree_state stock
	rm -rf "$base" && mkdir -p "$base"
	rsync -a --exclude=/.pc --exclude=/.lab-unpacked --exclude=.git "$(ksrc)/" "$base/"
	{
		git -C "$base" init -q &&
			git -C "$base" add -A -f &&
			git -C "$base" -c user.name=lab -c user.email=lab@localhost \
				commit -q -m "Linux $full" &&
			git -C "$base" tag lab-base
	} >"$B/logs/mail-base-$KVER.log" 2>&1 ||
		die "could not commit the base tree (see $B/logs/mail-base-$KVER.log)" "test/lab.sh mail"
	echo "$stamp" >"$base/.git/lab-stamp"
}

# The addresses get_maintainer.pl gives for a patch, comma-separated;
# $2: to (maintainers) or cc (reviewers and lists).
mail_addrs() {
	# the throw-away repository has no history: no --git, no --fixes
	local tree=$1 kind=$2 patch=$3 opts=(--no-git --no-git-fallback --no-rolestats --nofixes)
	case $kind in
	to) opts+=(--nol --nor) ;;
	cc) opts+=(--nom) ;;
	esac
	(cd "$tree" && perl scripts/get_maintainer.pl "${opts[@]}" "$patch") | paste -sd, - | sed 's/,/, /g'
}

# `make mail`: KVER's series as mails in git format-patch form, with a cover
# letter and To/Cc from the tree's get_maintainer.pl, in outgoing/v$V/ (a
# backport's in outgoing/<KVER>/v$V/; or MAIL_OUT). It never sends
# anything. The trailers come from the submitter's git configuration: each
# `git config --add fuselab.trailer "Tag: value"`, then Signed-off-by:
# user.name <user.email>.
cmd_mail() {
	local v=${V:-1} out name email full base work tmp t p f n=0 to cc all_to= all_cc=
	local trailers=()
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "V=$v: a series version is a number from 1"
	name=$(git config user.name) && email=$(git config user.email) ||
		die "who submits? git config user.name and user.email sign the patches off" \
		    "git config --global user.name 'Your Name'; git config --global user.email you@example.org"
	while IFS= read -r t; do
		[[ $t =~ ^[A-Z][A-Za-z-]*:\ [^\ ].*$ ]] ||
			die "git config fuselab.trailer '$t' is not 'Tag: value'" "git config --get-all fuselab.trailer"
		trailers+=(--trailer "$t")
	done < <(git config --get-all fuselab.trailer || true)
	trailers+=(--trailer "Signed-off-by: $name <$email>")
	out=${MAIL_OUT:-$TOP/outgoing/${KTAG}v$v}
	full=$(tree_version "$(ksrc)" "$KVER") || exit 1
	base=$B/mail/$KVER-base
	mail_base "$base" "$full"
	# the patches with the submitter's trailers, imported onto the base
	tmp=$B/mail/$KVER-patches
	rm -rf "$tmp" && mkdir -p "$tmp"
	for p in $(series_patches); do
		git interpret-trailers "${trailers[@]}" "$QUILT_PATCHES/$p" >"$tmp/$p" ||
			die "could not add trailers to $p" "test/lab.sh mail"
	done
	work=$B/mail/$KVER-work
	rm -rf "$work" && git clone -q --shared "$base" "$work"
	git -C "$work" -c user.name="$name" -c user.email="$email" quiltimport \
		--author "$name <$email>" --patches "$tmp" --series "$QUILT_SERIES" \
		>"$B/logs/mail-$KVER.log" 2>&1 ||
		die "git quiltimport failed (see $B/logs/mail-$KVER.log)" "test/lab.sh mail"
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	t=PATCH
	[ "$KVER" = 7.2 ] || t="PATCH $KVER"
	git -C "$work" format-patch -q --cover-letter --thread=shallow \
		$([ "$v" = 1 ] || echo "-v$v") --subject-prefix="$t" \
		-o "$out.tmp" lab-base..HEAD ||
		die "git format-patch failed" "test/lab.sh mail"
	for f in "$out.tmp"/*.patch; do
		case ${f##*/} in *0000-cover-letter.patch) continue ;; esac
		to=$(mail_addrs "$work" to "$f") && cc=$(mail_addrs "$work" cc "$f") ||
			die "get_maintainer.pl failed on ${f##*/}" "cd $work && scripts/get_maintainer.pl $f"
		all_to="$all_to, $to" all_cc="$all_cc, $cc"
		mail_headers "$f" "$to" "$cc"
		n=$((n + 1))
	done
	mail_cover "$out.tmp"/*0000-cover-letter.patch "$full" "${all_to#, }" "${all_cc#, }"
	rm -rf "$out" && mkdir -p "${out%/*}" && mv "$out.tmp" "$out"
	step "mail: $n patches and a cover letter for Linux $full in $out (nothing sent)"
}

# Put To: and Cc: before the Subject: of a mail, one address a line, no
# address twice (one in To: is not repeated in Cc:).
mail_headers() {
	python3 - "$@" <<'EOF'
import sys
path, to, cc = sys.argv[1:4]
def addrs(s, skip=()):
    out = []
    for a in (x.strip() for x in s.split(", ")):
        if a and a not in out and a not in skip:
            out.append(a)
    return out
to = addrs(to)
cc = addrs(cc, to)
if not to:
    to, cc = cc[:1], cc[1:]
lines = open(path).read().split("\n")
i = next(n for n, l in enumerate(lines) if l.startswith("Subject: "))
hdr = ["To: " + ",\n    ".join(to)] + (["Cc: " + ",\n    ".join(cc)] if cc else [])
open(path, "w").write("\n".join(lines[:i] + hdr + lines[i:]))
EOF
}

# The cover letter: its subject and text from test/mail/cover.py, the union
# of the patches' To: and Cc:.
mail_cover() {
	local f=$1 full=$2 text
	text=$(python3 "$TOP/test/mail/cover.py" "$KVER" "$full" "$TOP") ||
		die "the cover letter could not be written" "python3 test/mail/cover.py $KVER $full ."
	python3 - "$f" "$text" <<'EOF' || die "could not fill in $f"
import sys
path, text = sys.argv[1:3]
subject, body = text.split("\n", 1)
t = open(path).read()
for old in ("*** SUBJECT HERE ***", "*** BLURB HERE ***"):
    if t.count(old) != 1:
        sys.exit(f"{path}: no '{old}' to replace")
t = t.replace("*** SUBJECT HERE ***", subject)
t = t.replace("*** BLURB HERE ***", body.rstrip("\n"))
open(path, "w").write(t)
EOF
	mail_headers "$f" "$3" "$4"
}

# make check's tests of `make mail` for KVER's series, as a submitter
# configured for the test (never the machine's own git identity): refused
# with no identity; the mails carry the configured trailers and the cover
# letter the numbers of docs/perf.md; `git am` of them onto a fresh clone
# of the base gives the tree quiltimport made; checkpatch --strict passes on
# each mail.
cmd_mail_check() {
	local t=mail/$KVER cfg=$B/mail/test-gitconfig out=$B/mail/check-$KVER log am f n=0 want
	local me="Lab Submitter <submitter@example.invalid>" tb="Tested-by: Lab Tester <tester@example.invalid>"
	mkdir -p "$B/mail"
	rm -rf "$out-refused"
	if log=$( (export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out-refused
		cd "$B/mail" && cmd_mail) 2>&1); then
		tap_ fail "$t/refused_without_a_submitter" "make mail succeeded with no git identity"
	elif echo "$log" | grep -q "who submits" && [ ! -e "$out-refused" ]; then
		tap_ ok "$t/refused_without_a_submitter"
	else
		tap_ fail "$t/refused_without_a_submitter" "$log"
	fi
	printf '[user]\n\tname = Lab Submitter\n\temail = submitter@example.invalid\n[fuselab]\n\ttrailer = %s\n' "$tb" >"$cfg"
	if ! log=$( (export GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out
		cd "$B/mail" && cmd_mail) 2>&1); then
		tap_ fail "$t/written" "$log" "reproduce: KVER=$KVER test/lab.sh mail"
		return
	fi
	want=$(series_patches | wc -l)
	for f in "$out"/*.patch; do case ${f##*/} in 0000-*) ;; *) n=$((n + 1)) ;; esac; done
	if [ "$n" = "$want" ] && [ -f "$out/0000-cover-letter.patch" ]; then
		tap_ ok "$t/written" "measured: $n patches and a cover letter"
	else
		tap_ fail "$t/written" "$n mails for $want patches, cover letter: $(ls "$out"/0000-* 2>&1)"
	fi
	# every patch: From: the submitter, To: someone, the trailers last
	log=$(for f in "$out"/0*.patch; do
		case ${f##*/} in 0000-*) continue ;; esac
		grep -qx "From: $me" "$f" || echo "${f##*/}: no From: $me"
		grep -q "^To: ." "$f" || echo "${f##*/}: no To:"
		[ "$(sed -n '/^---$/q;p' "$f" | tail -n 2)" = "$tb
Signed-off-by: $me" ] || echo "${f##*/}: does not end with the configured trailers"
	done)
	if [ -z "$log" ]; then tap_ ok "$t/trailers_from_the_submitter"; else tap_ fail "$t/trailers_from_the_submitter" "$log"; fi
	log=$(python3 - "$out/0000-cover-letter.patch" "$TOP/docs/perf.md" <<'EOF'
import re, sys
cover, perf = (open(p).read() for p in sys.argv[1:3])
if "***" in cover:
    print("a *** placeholder is left")
summary = re.search(r"^## Summary\n(.*?)^## ", perf, re.S | re.M).group(1)
rows = [[c.strip() for c in l.strip("|").split("|")]
        for l in summary.splitlines() if l.startswith("| x86_64") or l.startswith("| armv5")]
if len(rows) != 8:
    print(f"docs/perf.md's summary has {len(rows)} rows of figures, not 8")
for r in rows:
    if not re.search(r"^\s+" + r"\s+".join(map(re.escape, r)) + r"\s*$", cover, re.M):
        print("not in the cover letter: " + " | ".join(r))
EOF
)
	if [ -z "$log" ]; then tap_ ok "$t/cover_letter_quotes_docs_perf_md"; else tap_ fail "$t/cover_letter_quotes_docs_perf_md" "$log"; fi
	am=$B/mail/$KVER-am
	rm -rf "$am" && git clone -q --shared "$B/mail/$KVER-base" "$am"
	if log=$(cd "$am" && GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 git am -q $(ls "$out"/0*.patch | grep -v /0000-) 2>&1) &&
		[ "$(git -C "$am" rev-parse 'HEAD^{tree}')" = "$(git -C "$B/mail/$KVER-work" rev-parse 'HEAD^{tree}')" ]; then
		tap_ ok "$t/git_am_onto_a_fresh_base" "measured: $(git -C "$am" rev-list --count lab-base..HEAD) commits, tree $(git -C "$am" rev-parse --short 'HEAD^{tree}')"
	else
		tap_ fail "$t/git_am_onto_a_fresh_base" "$log" "reproduce: cd $am && git am $out/0*.patch"
	fi
	for f in "$out"/0*.patch; do
		if log=$(KVER=$KVER KSRC=$(ksrc) "$TOP/checkpatch.sh" "$f" 2>&1); then
			tap_ ok "$t/checkpatch/${f##*/}"
		else
			tap_ fail "$t/checkpatch/${f##*/}" "$log"
		fi
	done
}

cmd_bench() {
	local a f r kind order args out=$B/bench n=0 total t0=$SECONDS
	PROFILE=bench
	cmd_setup
	need_pkgs gnuplot-nox
	rm -f "$TAP_STATE"
	rm -rf "$out" && mkdir -p "$out"
	for a in $BENCH_ARCHES; do
		for f in stock patched; do cmd_kernel "$a" "$f"; done
		cmd_suite "$a"
	done
	total=$(($(echo $BENCH_ARCHES | wc -w) * BENCH_ROUNDS * 4))
	echo "TAP version 13"
	for r in $(seq "$BENCH_ROUNDS"); do
		# alternate which kernel goes first, round by round
		order="stock patched"
		[ $((r % 2)) = 1 ] || order="patched stock"
		for a in $BENCH_ARCHES; do
			load_arch "$a"
			for kind in icount wall; do
				args=$QEMU_ARGS
				[ "$kind" = wall ] ||
					args="$(echo "$QEMU_ARGS" | sed 's/-smp [0-9]*//') -smp 1 -icount shift=0,sleep=off"
				for f in $order; do
					n=$((n + 1))
					step "bench: boot $n of $total: $a $f, $kind, round $r"
					bench_boot "$a" "$f" "$args" "$out/$a-$f-$kind-r$r.log" "$kind-r$r"
				done
			done
		done
	done
	step "bench: $total boots done, $((SECONDS - t0)) s with the kernel builds; writing docs/perf.md"
	python3 "$TOP/test/bench.py" --out "$TOP/docs" "$out"/*.log ||
		die "test/bench.py failed" "python3 test/bench.py --out docs build/bench/*.log"
	summary bench
}

# One bench boot of ARCH's FLAVOUR kernel with QEMU arguments ARGS.
bench_boot() {
	local arch=$1 flavour=$2 args=$3 log=$4 tag=$5 dir initrd
	dir=$(img_dir "$arch" "$flavour")
	initrd=$B/initrd/$KVER-$arch-$flavour-bench.cpio.gz
	cat "$B/initrd/$KVER-$arch-suite.cpio.gz" "$dir/kmod.cpio.gz" >"$initrd"
	python3 "$TOP/test/run-qemu.py" --name "$KVER-$arch/$flavour-bench-$tag" \
		--qemu "$QEMU" --qemu-args "$args${KDTB:+ -dtb $dir/dtb}" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$initrd" \
		--append "loglevel=4 fuselab.only=fuse_bench,ubench fuselab.args=bench,$BENCH_MIB" \
		--timeout "${BOOT_TIMEOUT:-1800}" --suites "fuse_bench ubench" \
		--log "$log" --state "$TAP_STATE"
}

summary() {
	python3 - "$TAP_STATE" "$1" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
print(f"1..{st['n']}")
if st["failures"]:
    print("# failed:")
    for f in st["failures"]:
        print(f"#   {f}")
tail = f", {st['skipped']} skipped" if st["skipped"] else ""
if st.get("xfail"):
    tail += f", {st['xfail']} failed on stock as they must"
print(f"{st['passed']} passed, {st['failed']} failed{tail}")
sys.exit(1 if st["failed"] or not st["n"] else 0)
EOF
}

# The caller starts the TAP stream ($TAP_STATE); the header is printed
# unless a parent run printed it already (LAB_IN_STREAM).
run_flavours() {
	local a g t0=$SECONDS
	cmd_setup
	for a in $ARCHES; do
		for g in "$@"; do cmd_kernel "$a" "$g"; done
		cmd_suite "$a"
	done
	[ -n "${LAB_IN_STREAM:-}" ] || echo "TAP version 13"
	for a in $ARCHES; do boot_flavours "$a" suite "$@"; done
	for g in alias cache crash; do
		for a in $(guest_arches "$g"); do
			[[ " $ARCHES " == *" $a "* ]] || continue
			boot_flavours "$a" "$g" "$@"
		done
	done
	step "total $((SECONDS - t0)) s"
}

guest_arches() {
	case $1 in
	alias) echo "$ALIAS_ARCHES" ;;
	cache) echo "$CACHE_ARCHES" ;;
	crash) echo "$CRASH_ARCHES" ;;
	esac
}

# What the boots of GUEST on ARCH share, made once before they run side by
# side: the plugins, QEMU 10, the Debian root.
prepare_guest() {
	load_arch "$1"
	case $2 in
	alias) plugin alias >/dev/null ;;
	cache) qemu10 "$QEMU" >/dev/null && plugin cache926 >/dev/null ;;
	debian)
		bash "$TOP/test/debian/build-rootfs.sh" >&2 ||
			die "debian rootfs failed" "bash test/debian/build-rootfs.sh"
		;;
	esac
}

# Boots GUEST on ARCH for each flavour given, side by side: TCG runs a
# guest CPU on one host thread, armv5's guests have one CPU and the others
# seldom keep two busy, so two boots at once take about the time of the
# longer one.  Each boot counts into a TAP state and file of its own
# (build/logs/part-*); they join the stream in the order given once both
# have ended.  LAB_SERIAL=1: one after the other, straight into the stream.
boot_flavours() {
	local arch=$1 guest=$2 f i part rc=0 failed=() pids=()
	shift 2
	if [ "${LAB_SERIAL:-0}" = 1 ] || [ $# -lt 2 ]; then
		for f in "$@"; do cmd_run "$arch" "$f" "$guest"; done
		return
	fi
	prepare_guest "$arch" "$guest"
	step "boot $KVER-$arch $guest: $* side by side (console: build/logs/console-$KVER-$arch-*.log)"
	for f in "$@"; do
		part=$B/logs/part-$KVER-$arch-$f-$guest
		rm -f "$part.json" "$part.tap"
		TAP_STATE=$part.json cmd_run "$arch" "$f" "$guest" >"$part.tap" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { rc=$?; failed+=("${@:$((i + 1)):1}"); }
	done
	for f in "$@"; do
		part=$B/logs/part-$KVER-$arch-$f-$guest
		[ -f "$part.json" ] || echo '{}' >"$part.json"
		python3 "$TOP/test/tap.py" "$TAP_STATE" merge "$part.json" "$part.tap"
	done
	[ $rc = 0 ] || die "the $guest boot of $KVER-$arch ${failed[*]} did not run to its end (its output is above)" \
		"test/lab.sh run $arch ${failed[0]} $guest"
}

# The suite on every arch, then the Debian guest of real clients (x86_64),
# each stock and patched; the series applies patch by patch; checkpatch,
# the Coccinelle tests, the mails, the backport's host-side checks.  What
# does not fit make check's 75 minutes cold is check-full's: arm64's
# kernels and boots (ARCHES), per-patch builds and W=1/sparse on
# STATIC_ARCHES, the W=1 cross-builds with XBUILD=1.
cmd_check() {
	local f a
	rm -f "$TAP_STATE"
	run_flavours stock patched
	cmd_checkpatch
	cmd_cocci
	[ -n "${STATIC_ARCHES:-}" ] || cmd_applies
	for a in ${STATIC_ARCHES:-}; do
		cmd_bisect "$a"
		cmd_static "$a"
	done
	[ "${XBUILD:-0}" = 0 ] || cmd_xbuild
	if [ "${DEBIAN_GUEST:-1}" = 1 ] && [[ " $ARCHES " == *" x86_64 "* ]]; then
		boot_flavours x86_64 debian stock patched
	fi
	cmd_mail_check
	# the 6.1 backport's host-side checks (its boots: make check-stable)
	[ "${STABLE:-1}" = 0 ] ||
		LAB_IN_STREAM=1 KVER=6.1 XBUILD=${XBUILD:-0} "$TOP/test/lab.sh" stable-host
	summary check
}

# A backport's host-side checks: it applies without fuzz, then
# stable_checks.
cmd_stable_host() {
	[ "$KVER" != 7.2 ] || die "KVER=$KVER: the backports are stable/*/ (KVER=6.1)"
	cmd_applies
	stable_checks
}

# checkpatch, the W=1 cross-builds (Debian's armel marvell configuration,
# sh) and make mail, for a backport.
stable_checks() {
	cmd_checkpatch
	[ "${XBUILD:-1}" = 0 ] || cmd_xbuild
	cmd_mail_check
}

# `make check-stable`: the backport's suite boots on ARCHES, stock and
# patched (with the alias and cache runs of armv5), per-patch builds, and
# its host-side checks.
cmd_check_stable() {
	[ "$KVER" != 7.2 ] || die "KVER=$KVER: the backports are stable/*/ (KVER=6.1)"
	rm -f "$TAP_STATE"
	run_flavours stock patched
	cmd_bisect x86_64
	stable_checks
	summary check-stable
}

# `make alias` / `make cache`: the plugin runs of GUEST (alias or cache)
# alone, stock and patched, on the arches given.
cmd_plugin_runs() {
	local guest=$1 a f
	shift
	cmd_setup
	rm -f "$TAP_STATE"
	for a in "$@"; do
		for f in stock patched; do cmd_kernel "$a" "$f"; done
		cmd_suite "$a"
	done
	echo "TAP version 13"
	for a in "$@"; do boot_flavours "$a" "$guest" stock patched; done
	summary "$guest"
}

# `make`: the patched kernel only; progress lines and failures, then one line.
cmd_main() {
	rm -f "$TAP_STATE"
	run_flavours patched | tee "$B/logs/main.tap" |
		grep --line-buffered -v -E '^(ok |TAP version)'
	summary main | tail -n 1
	echo "lab: full TAP in build/logs/main.tap; stock and patched side by side: make check"
}

# One compound command, read whole before it runs: an edit of this file
# during a long run cannot change what the run executes next.
{
	mkdir -p "$B/logs"
	[ $# -ge 1 ] || die "usage: test/lab.sh VERB ...: the verbs and what they do are at the top of test/lab.sh (make check runs: test/lab.sh check)"
	verb=$1
	shift
	case $verb in
	setup) cmd_setup ;;
	kernel) cmd_kernel "$@" ;;
	suite) cmd_suite "$@" ;;
	run)
		# a stream of its own: numbered from 1, a summary, exit 1 on a failure
		rm -f "$TAP_STATE"
		echo "TAP version 13"
		cmd_run "$@"
		summary run
		;;
	shell) cmd_shell "$@" ;;
	static) rm -f "$TAP_STATE"; cmd_static "$@"; summary static ;;
	xbuild) rm -f "$TAP_STATE"; XBUILD_ARCHES=${*:-$XBUILD_ARCHES} cmd_xbuild; summary xbuild ;;
	bisect) rm -f "$TAP_STATE"; cmd_bisect "$@"; summary bisect ;;
	alias) cmd_plugin_runs alias $ALIAS_ARCHES ;;
	cocci) rm -f "$TAP_STATE"; cmd_setup; cmd_cocci; summary cocci ;;
	cache) cmd_plugin_runs cache $CACHE_ARCHES ;;
	bench) cmd_bench ;;
	mail) cmd_setup; cmd_mail ;;
	mail-check) rm -f "$TAP_STATE"; cmd_setup; cmd_mail_check; summary mail ;;
	stable-host) cmd_setup; cmd_stable_host ;;
	check-stable) cmd_check_stable ;;
	check) cmd_check ;;
	check-full) STATIC_ARCHES=$ARCHES XBUILD=1 cmd_check ;;
	main) cmd_main ;;
	*) die "unknown verb '$verb' (setup, kernel, suite, run, shell, static, bisect, xbuild, alias, cache, cocci, bench, mail, mail-check, stable-host, check-stable, check, check-full, main)" ;;
	esac
	exit
}
