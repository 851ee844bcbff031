# SPDX-License-Identifier: GPL-2.0
# make bench (sourced by test/lab.sh).

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

cmd_bench() {
	local a f r kind order args out=$B/bench n=0 total t0=$SECONDS
	PROFILE=bench
	cmd_setup
	need_pkgs gnuplot-nox
	results_open bench
	rm -rf "$out" && mkdir -p "$out"
	for a in $BENCH_ARCHES; do
		for f in stock patched; do cmd_kernel "$a" "$f"; done
		cmd_suite "$a"
	done
	total=$(($(echo $BENCH_ARCHES | wc -w) * BENCH_ROUNDS * 4))
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
	summary
}

# One bench boot of ARCH's FLAVOUR kernel with QEMU arguments ARGS.
bench_boot() {
	local arch=$1 flavour=$2 args=$3 log=$4 tag=$5 dir initrd rc=0
	dir=$(img_dir "$arch" "$flavour")
	tap_step "$KVER-$arch-$flavour-bench-$tag"
	initrd=${TAP_FILE%.tap}.initrd.cpio.gz
	cat "$B/initrd/$KVER-$arch-suite.cpio.gz" "$dir/kmod.cpio.gz" >"$initrd"
	python3 "$TOP/test/run-qemu.py" --name "$KVER-$arch/$flavour-bench-$tag" \
		--qemu "$QEMU" --qemu-args "$args${KDTB:+ -dtb $dir/dtb}" --console "$CONSOLE" \
		--kernel "$dir/image" --initrd "$initrd" \
		--append "loglevel=4 fuselab.only=fuse_bench,ubench fuselab.args=bench,$BENCH_MIB" \
		--timeout "${BOOT_TIMEOUT:-1800}" --suites "fuse_bench ubench" \
		--log "$log" --tap "$TAP_FILE" || rc=$?
	rm -f "$initrd"
	return "$rc"
}
