# SPDX-License-Identifier: GPL-2.0
# The suite's binaries and initramfs, and the boots (sourced by test/lab.sh).

cmd_suite() {
	[ $# = 1 ] || die "usage: test/lab.sh suite ARCH"
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
	if [ -n "$GUEST_INIT" ]; then
		nolibc_guest "$arch" "$hdr" "$out"
		return
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

# The arch's GUEST_INIT (test/<path>.c) as the guest's only program, its
# /init: built against the kernel tree's nolibc and uapi headers $2 (with
# the arch's GCC plugin), in an initramfs of its own.  Its suite is the
# source's name.
nolibc_guest() {
	local arch=$1 hdr=$2 out=$3 src=$TOP/test/$GUEST_INIT nolibc name
	nolibc=$(ksrc)/tools/include/nolibc
	name=$(sed -n 's/^#define SUITE[[:space:]]*"\(.*\)"$/\1/p' "$src")
	[ -n "$name" ] || die "$src defines no SUITE \"<name>\""
	rm -rf "$out" && mkdir -p "$out" "$B/initrd"
	step "suite $arch: building /init from ${src#"$TOP"/} with nolibc"
	"${CROSS_COMPILE}gcc" -Os -Wall -static -nostdlib -nostdinc -fno-stack-protector \
		-fno-asynchronous-unwind-tables ${KCC_PLUGIN:+-fplugin=$(cc_plugin)} \
		-I"$nolibc" -isystem "$hdr/include" -include "$nolibc/nolibc.h" \
		-o "$out/init" "$src" -lgcc >"$B/logs/suite-$arch.log" 2>&1 || {
		cat "$B/logs/suite-$arch.log" >&2
		die "the nolibc /init failed to build" "test/lab.sh suite $arch"
	}
	echo "$name" >"$out/tests"
	{
		echo "dir /dev 0755 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /init $out/init 0755 0 0"
	} >"$B/initrd/$KVER-$arch-suite.list"
	"$(gen_init_cpio)" "$B/initrd/$KVER-$arch-suite.list" |
		gzip -1 >"$B/initrd/$KVER-$arch-suite.cpio.gz.tmp"
	mv "$B/initrd/$KVER-$arch-suite.cpio.gz.tmp" "$B/initrd/$KVER-$arch-suite.cpio.gz"
	step "suite $arch: /init ($name) in build/initrd/$KVER-$arch-suite.cpio.gz"
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
		APT_ARCH=$DEB_ARCH deb_fetch bookworm "$B/dl/$DEB_ARCH" busybox-static ||
			die "cannot download busybox-static:$DEB_ARCH (see $(APT_ARCH=$DEB_ARCH apt_log bookworm))" \
			    "test/lab.sh suite $1"
		deb=$(ls "$B/dl/$DEB_ARCH"/busybox-static_*_"$DEB_ARCH".deb | head -n1)
		deb_unpack "$d" "$deb" || die "could not unpack $deb" "test/lab.sh suite $1"
	fi
	echo "$d/bin/busybox"
}

# ------------------------------------------------------------------- boots

# Boot ARCH's FLAVOUR kernel with GUEST: "suite" (our initramfs),
# "debian" (real clients, test/debian/), "sanitize" (the same Debian guest
# under the ARM926 model in whole-system mode, armv5: docs/sanitizer.md),
# the plugin runs or one of the arch's GUESTS.
cmd_run() {
	[ $# -ge 2 ] || die "usage: test/lab.sh run ARCH stock|patched|old [suite|debian|sanitize|alias|cache|crash|<a GUESTS name of the arch>]"
	case $2 in stock | patched | old) ;; *) die "FLAVOUR must be stock, patched or old, not '$2'" ;; esac
	local arch=$1 flavour=$2 guest=${3:-suite} dir initrd suites extra= append tag= xfail= alias= cache= crash= out rc=0 whole= sites=
	local sanitize_suite=- micro=- timeout=${BOOT_TIMEOUT:-1500}
	load_arch "$arch"
	case " suite alias cache crash debian sanitize $(guest_names | xargs) " in *" $guest "*) ;;
	*) die "GUEST must be suite, alias, cache, crash, debian, sanitize$(guest_names | sed 's/^/, /' | tr -d '\n'), not '$guest'" ;;
	esac
	# what the stock kernel must fail: the tests that prove the series
	[ -f "$TOP/test/expect/$flavour.xfail" ] && xfail=$TOP/test/expect/$flavour.xfail
	dir=$(img_dir "$arch" "$flavour")
	[ -f "$dir/image" ] || die "no $flavour kernel for $arch" "$(lab_env)test/lab.sh kernel $arch $flavour"
	case $guest in debian | sanitize) ;; *) false ;; esac || [ -f "$B/suite/$KVER-$arch/tests" ] ||
		die "no suite for $arch" "$(lab_env)test/lab.sh suite $arch"
	# a step of its own, unless boot_flavours gave it its file (BOOT_TAP)
	if [ -n "${BOOT_TAP:-}" ]; then
		TAP_FILE=$BOOT_TAP
	else
		tap_step "$(boot_step_name "$arch" "$flavour" "$guest")"
	fi
	# what the boot leaves: beside its TAP file
	out=${TAP_FILE%.tap}
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
		alias=$out.alias.log
		extra="-plugin $(plugin alias),log=$alias,$ALIAS_ARGS"
		;;
	cache)
		# the same windows and more, in QEMU 10 with the ARM926 cache model
		[ "$arch" = armv5 ] || die "the cache model is an ARM926's: armv5 only"
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(echo "${ONLY:-$CACHE_SUITES}" | tr , ' ')
		append="$append fuselab.only=${ONLY:-$CACHE_SUITES} fuselab.args=${ARGS:-$CACHE_TESTS} fuselab.plugin=cache"
		tag=-cache
		cache=$out.cache.log
		QEMU=$(qemu10 "$QEMU")
		# and in whole-system mode: every stale load of the boot, by site
		sites=$out.sites sanitize_suite=$B/suite/$KVER-$arch micro=micro
		extra="-audio none -plugin $(plugin cache926),log=$cache,sites=$sites,$(sanitizer_args "$dir/System.map")${CACHE_ARGS:+,$CACHE_ARGS}"
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
	debian | sanitize)
		# cached: rebuilt only when its script or test/debian/init changed
		debian_root "$arch"
		suites=debian
		tag=-debian
		append="$append ${BREAK:+fuselab_break=$BREAK} ${ONLY:+fuselab_only=$ONLY} ${REPEAT:+fuselab_repeat=$REPEAT}"
		append="$append ${DEBIAN_MIB:+fuselab_mib=$DEBIAN_MIB}"
		case $arch in
		x86_64)
			initrd=$B/debian/rootfs.cpio.gz
			extra="-m 2G"
			;;
		armv5)
			# 256 MiB hold no initramfs of 200 MB: the root is an ext4
			# disk on the SCSI controller of versatilepb's PCI bus;
			# snapshot=on keeps this boot's writes in a temporary
			# overlay, so boots side by side share the cached image
			# and none changes it
			initrd=
			extra="-drive if=scsi,file=$B/debian/armel/rootfs.ext4,format=raw,snapshot=on"
			append="$append root=/dev/sda rw rootwait init=/init"
			;;
		esac
		if [ "$guest" = sanitize ]; then
			# the same boot in QEMU 10 under the ARM926 cache model
			# (test/qemu-plugins/cache926.c) watching the whole system:
			# every stale load of the boot, judged by test/sanitize.py
			[ "$arch" = armv5 ] || die "the sanitizer's cache model is an ARM926's: armv5 only"
			tag=-sanitize
			QEMU=$(qemu10 "$QEMU")
			sites=$out.sites
			extra="$extra -audio none -plugin $(plugin cache926),log=$out.cache.log,sites=$sites,$(sanitizer_args "$dir/System.map")${CACHE_ARGS:+,$CACHE_ARGS}"
			timeout=${BOOT_TIMEOUT:-5400}
		fi
		;;
	*)
		# one of the arch's GUESTS: the suite's initramfs, with its words
		# on the command line
		initrd=$B/initrd/$KVER-$arch-suite.cpio.gz
		suites=$(cat "$B/suite/$KVER-$arch/tests")
		append="$append $(guest_append "$guest" "$dir/System.map")" || exit 1
		tag=-$guest
		whole=1
		;;
	esac
	[ -z "$KDTB" ] || extra="$extra -dtb $dir/dtb"
	if [ "$suites" != debian ] && [ -f "$dir/kmod.cpio.gz" ]; then
		# this kernel's test modules, as a second archive
		cat "$initrd" "$dir/kmod.cpio.gz" >"$out.initrd.cpio.gz"
		initrd=$out.initrd.cpio.gz
	fi
	python3 "$TOP/test/run-qemu.py" --name "$KVER-$arch/$flavour$tag" \
		--qemu "$QEMU" --qemu-args "$QEMU_ARGS $extra" --console "$CONSOLE" \
		--kernel "$dir/image" ${initrd:+--initrd "$initrd"} \
		--append "$append" --timeout "$timeout" \
		--suites "$suites" \
		--log "$out.console.log" \
		--tap "$TAP_FILE" \
		--rerun "$(lab_env)test/lab.sh run $arch $flavour $guest" \
		${xfail:+--xfail "$xfail"} ${alias:+--alias-log "$alias"} ${cache:+--cache-log "$cache"} \
		${sites:+--sites "$sites" --sanitize "$flavour,$dir/System.map,$sanitize_suite,${CROSS_COMPILE}nm,$micro"} \
		${crash:+--crash "$crash"} ${whole:+--rerun-whole} || rc=$?
	rm -f "$out.initrd.cpio.gz"
	return "$rc"
}

# The cache model's whole-system arguments for the kernel of System.map
# $1: its text (text=_stext-_etext) and the ARM926 DMA API's invalidation
# (dma_inv=, from arm926_dma_inv_range to the symbol after it), where
# dirty lines are dropped on purpose before a device writes the buffer.
sanitizer_args() {
	awk '$3 == "_stext" { lo = $1 } $3 == "_etext" { hi = $1 }
	     inv && !inv_hi && $1 != inv { inv_hi = $1 }
	     $3 == "arm926_dma_inv_range" { inv = $1 }
	     END { if (!lo || !hi || !inv || !inv_hi) exit 1
		   print "text=" lo "-" hi ",dma_inv=" inv "-" inv_hi }' "$1" ||
		die "no _stext, _etext or arm926_dma_inv_range (and a symbol after it) in $1"
}

# The names of the arch's GUESTS (test/arch/<arch>.conf), one a line.
guest_names() {
	local g
	for g in $GUESTS; do echo "${g%%:*}"; done
}

# The words guest $1 of the arch's GUESTS (NAME:WORD,...) adds to the
# kernel command line, each "KEY=@symbol" as KEY=<the symbol's address in
# System.map $2>.
guest_append() {
	local g w addr out=()
	for g in $GUESTS; do
		[ "${g%%:*}" = "$1" ] || continue
		for w in $(echo "${g#*:}" | tr , ' '); do
			case $w in
			*=@*)
				addr=$(awk -v s="${w#*=@}" '$3 == s { print $1; exit }' "$2")
				[ -n "$addr" ] || die "guest $1: no symbol ${w#*=@} in $2"
				w=${w%%=@*}=$addr
				;;
			esac
			out+=("$w")
		done
	done
	echo "${out[*]}"
}

# The name of the step of a boot.
boot_step_name() { echo "$KVER-$1-$2-$3"; }

# QEMU 10 from bookworm-backports (its plugins read registers), unpacked
# into build/qemu10 beside Debian 12's QEMU 7.2; prints a wrapper for
# system emulator $1 that finds its modules and firmware there.
qemu10() {
	local d=$B/qemu10 w=$B/tools/$1-10
	if [ ! -x "$w" ]; then
		step "qemu 10: downloading qemu-system-arm from bookworm-backports" >&2
		rm -rf "$B/dl/qemu10" "$d" && mkdir -p "$B/tools"
		deb_fetch bookworm-backports "$B/dl/qemu10" \
			qemu-system-arm qemu-system-common qemu-system-data ||
			die "could not download QEMU 10 (see $(apt_log bookworm-backports))" "test/lab.sh cache"
		deb_unpack "$d" "$B"/dl/qemu10/*.deb || die "could not unpack QEMU 10's packages" "test/lab.sh cache"
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

# A QEMU plugin of test/qemu-plugins/ (alias: for QEMU 7.2, plugin API 1; cache926:
# for QEMU 10, API 2), built into build/tools/ when its source changed.
plugin() {
	local name=$1 so=$B/tools/$1.so src=$TOP/test/qemu-plugins/$1.c
	mkdir -p "$B/tools"
	if [ ! -f "$so" ] || [ "$src" -nt "$so" ] ||
	   [ "$TOP/test/qemu-plugins/qemu-plugin-api.h" -nt "$so" ] ||
	   [ "$TOP/test/qemu-plugins/marker.h" -nt "$so" ]; then
		step "$name plugin: building $so" >&2
		gcc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -shared -fPIC \
			-o "$so" "$src" -lpthread ||
			die "$name plugin build failed" "gcc -shared -fPIC -o $so $src"
	fi
	echo "$so"
}

cmd_shell() {
	[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: test/lab.sh shell ARCH [stock|patched|old]"
	local arch=$1 flavour=${2:-patched} dir
	load_arch "$arch"
	[ -z "$GUEST_INIT" ] || die "$arch has no shell: its guest is test/$GUEST_INIT alone"
	dir=$(img_dir "$arch" "$flavour")
	[ -f "$dir/image" ] || die "no $flavour kernel for $arch" "$(lab_env)test/lab.sh kernel $arch $flavour"
	[ -f "$B/initrd/$KVER-$arch-suite.cpio.gz" ] || die "no suite for $arch" "$(lab_env)test/lab.sh suite $arch"
	python3 "$TOP/test/run-qemu.py" --interactive --name shell \
		--qemu "$QEMU" --qemu-args "$QEMU_ARGS${KDTB:+ -dtb $dir/dtb}" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$B/initrd/$KVER-$arch-suite.cpio.gz" \
		--append "fuselab.shell=1" --log /dev/null
}

# The boots of the suite and the plugin runs on ARCHES, each of the
# flavours given, after their kernels and the suite are built.
run_flavours() {
	local a g t0=$SECONDS
	cmd_setup
	for a in $ARCHES; do
		for g in "$@"; do cmd_kernel "$a" "$g"; done
		cmd_suite "$a"
	done
	# the suite, or the boots an arch has instead (GUESTS)
	for a in $ARCHES; do
		load_arch "$a"
		for g in $(guest_names); do boot_flavours "$a" "$g" "$@"; done
		[ -n "$GUESTS" ] || boot_flavours "$a" suite "$@"
	done
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
	debian) debian_root "$1" ;;
	sanitize) debian_root "$1" && qemu10 "$QEMU" >/dev/null && plugin cache926 >/dev/null ;;
	esac
}

# The Debian guest's root for ARCH (test/debian/build-rootfs.sh, cached):
# x86_64's an initramfs, armv5's (armel) a disk image.
debian_root() {
	local a
	case $1 in
	x86_64) a=amd64 ;;
	armv5) a=armel ;;
	*) die "the debian guest is x86_64 and armv5 only, not $1" ;;
	esac
	bash "$TOP/test/debian/build-rootfs.sh" $a >&2 ||
		die "debian rootfs failed" "bash test/debian/build-rootfs.sh $a"
}

# Boots GUEST on ARCH for each flavour given, side by side: TCG runs a
# guest CPU on one host thread, armv5's guests have one CPU and the others
# seldom keep two busy, so two boots at once take about the time of the
# longer one.  Each boot writes a step file of its own, numbered before
# they start; their output (build/results/<run>/NNN-*.out) joins stdout in
# the order given once both have ended.  LAB_SERIAL=1: one after the
# other, straight to stdout.
boot_flavours() {
	local arch=$1 guest=$2 f i rc=0 failed=() pids=() taps=()
	shift 2
	tap_end
	if [ "${LAB_SERIAL:-0}" = 1 ] || [ $# -lt 2 ]; then
		for f in "$@"; do cmd_run "$arch" "$f" "$guest"; done
		return
	fi
	prepare_guest "$arch" "$guest"
	for f in "$@"; do taps+=("$(tap_new "$(boot_step_name "$arch" "$f" "$guest")")"); done
	step "boot $KVER-$arch $guest: $* side by side (in ${LAB_RESULTS#"$TOP"/}: ${taps[*]##*/})"
	for i in "${!taps[@]}"; do
		BOOT_TAP=${taps[$i]} cmd_run "$arch" "${@:$((i + 1)):1}" "$guest" >"${taps[$i]%.tap}.out" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { rc=$?; failed+=("${@:$((i + 1)):1}"); }
	done
	for i in "${!taps[@]}"; do
		echo "# step: ${taps[$i]##*/}"
		cat "${taps[$i]%.tap}.out"
	done
	[ $rc = 0 ] || die "the $guest boot of $KVER-$arch ${failed[*]} did not run to its end (its output is above)" \
		"test/lab.sh run $arch ${failed[0]} $guest"
}
