# SPDX-License-Identifier: GPL-2.0
# make bench (sourced by test/lab.sh).

# `make bench`: the stock and the patched kernel of PROFILE=bench (the
# lab's configuration without its debug options) boot alternately,
# BENCH_ROUNDS times each, in two kinds of run (three on armv5, below):
# "icount" (QEMU -icount shift=0,sleep=off -smp 1: the guest's clock
# counts instructions, the same from boot to boot) and "wall" (plain TCG:
# throughput, noisy). Each
# boot runs fuse_bench and ubench in their bench mode; test/bench.py
# turns the BENCH lines of every console log into docs/perf.md, its data
# and its plots.
#
# On the arches of the cache model (CACHE_ARCHES: armv5) a third kind,
# "cache": -icount as above, in QEMU 10 with the ARM926 D-cache model
# (test/qemu-plugins/cache926.c, log= only) and fuselab.plugin=cache, so
# that each point's timed loop is a window whose line fills, write-backs
# and cache operations the plugin logs (<boot>.windows beside the console
# log); test/bench.py weighs them with test/arm926-timing.json into
# modeled ARM926 cycles. The model makes TCG about twice as slow: ubench
# runs one round there, and the FUSE points move BENCH_CACHE_MIB each
# (BENCH_MIB unless set: the same calls as the icount boots). BENCH_KINDS
# narrows the kinds, e.g. BENCH_KINDS=cache.
BENCH_ARCHES=${BENCH_ARCHES:-x86_64 armv5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_MIB=${BENCH_MIB:-8}
BENCH_CACHE_MIB=${BENCH_CACHE_MIB:-$BENCH_MIB}
BENCH_KINDS=${BENCH_KINDS:-icount wall cache}

cmd_bench() {
	local a f r kind order out=$B/bench n=0 total=0 t0=$SECONDS t1 k
	local -A secs=()
	for k in $BENCH_KINDS; do
		case $k in icount | wall | cache) ;; *) die "BENCH_KINDS: '$k' is not icount, wall or cache" ;; esac
	done
	PROFILE=bench
	cmd_setup
	need_pkgs gnuplot-nox
	results_open bench
	rm -rf "$out" && mkdir -p "$out"
	for a in $BENCH_ARCHES; do
		for f in stock patched; do cmd_kernel "$a" "$f"; done
		cmd_suite "$a"
		total=$((total + $(bench_kinds "$a" | wc -l) * BENCH_ROUNDS * 2))
	done
	for r in $(seq "$BENCH_ROUNDS"); do
		# alternate which kernel goes first, round by round
		order="stock patched"
		[ $((r % 2)) = 1 ] || order="patched stock"
		for a in $BENCH_ARCHES; do
			for kind in $(bench_kinds "$a"); do
				for f in $order; do
					n=$((n + 1))
					step "bench: boot $n of $total: $a $f, $kind, round $r"
					t1=$SECONDS
					bench_boot "$a" "$f" "$kind" "$out/$a-$f-$kind-r$r.log" "$kind-r$r"
					secs[$a $kind]=$((${secs[$a $kind]:-0} + SECONDS - t1))
				done
			done
		done
	done
	for k in "${!secs[@]}"; do
		step "bench: the $k boots took ${secs[$k]} s"
	done
	step "bench: $total boots done, $((SECONDS - t0)) s with the kernel builds; writing docs/perf.md"
	python3 "$TOP/test/bench.py" --out "$TOP/docs" "$out"/*.log ||
		die "test/bench.py failed" "python3 test/bench.py --out docs build/bench/*.log"
	summary
}

# The kinds of boot of ARCH that BENCH_KINDS asks for, one a line: cache
# only where the cache model is.
bench_kinds() {
	local k
	for k in $BENCH_KINDS; do
		case $k in
		icount | wall) echo "$k" ;;
		cache) [[ " $CACHE_ARCHES " != *" $1 "* ]] || echo cache ;;
		esac
	done
}

# One bench boot of ARCH's FLAVOUR kernel, of KIND (icount, wall, cache).
bench_boot() {
	local arch=$1 flavour=$2 kind=$3 log=$4 tag=$5 dir initrd rc=0 qemu args append
	load_arch "$arch"
	dir=$(img_dir "$arch" "$flavour")
	qemu=$QEMU args=$QEMU_ARGS
	append="fuselab.only=fuse_bench,ubench fuselab.args=bench,$BENCH_MIB"
	[ "$kind" = wall ] ||
		args="$(echo "$QEMU_ARGS" | sed 's/-smp [0-9]*//') -smp 1 -icount shift=0,sleep=off"
	if [ "$kind" = cache ]; then
		qemu=$(qemu10 "$QEMU")
		args="$args -audio none -plugin $(plugin cache926),log=${log%.log}.windows${CACHE_ARGS:+,$CACHE_ARGS}"
		append="fuselab.only=fuse_bench,ubench fuselab.args=bench,$BENCH_CACHE_MIB fuselab.plugin=cache"
	fi
	tap_step "$KVER-$arch-$flavour-bench-$tag"
	initrd=${TAP_FILE%.tap}.initrd.cpio.gz
	cat "$B/initrd/$KVER-$arch-suite.cpio.gz" "$dir/kmod.cpio.gz" >"$initrd"
	python3 "$TOP/test/run-qemu.py" --name "$KVER-$arch/$flavour-bench-$tag" \
		--qemu "$qemu" --qemu-args "$args${KDTB:+ -dtb $dir/dtb}" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$initrd" \
		--append "loglevel=4 $append" \
		--timeout "${BOOT_TIMEOUT:-1800}" --suites "fuse_bench ubench" \
		--log "$log" --tap "$TAP_FILE" || rc=$?
	rm -f "$initrd"
	return "$rc"
}
