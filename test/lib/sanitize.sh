# SPDX-License-Identifier: GPL-2.0
# make sanitize (sourced by test/lab.sh): the alias sanitizer,
# docs/sanitizer.md.  The ARM926 model in whole-system mode over the
# suite's cache boots and over the Debian armel guest's whole run, stock
# and patched side by side; test/sanitize.py judges each boot (TAP) and
# renders the four into docs/sanitizer/reports.{json,md}.
# make check runs the cache boots and SANITIZE_SMOKE of the armel guest.
SANITIZE_SMOKE=${SANITIZE_SMOKE:-bindfs_fio_verify}

cmd_sanitize() {
	local f g j runs=() t0=$SECONDS
	cmd_setup
	results_open sanitize
	for f in stock patched; do cmd_kernel armv5 "$f"; done
	cmd_suite armv5
	step "sanitize: 1 of 2: the suite's cache boots (~3 min)"
	boot_flavours armv5 cache stock patched
	step "sanitize: 2 of 2: the Debian armel guest under the model (~8 min)"
	boot_flavours armv5 sanitize stock patched
	for g in cache sanitize; do
		for f in stock patched; do
			j=$(ls "$LAB_RESULTS"/*-"$(boot_step_name armv5 "$f" "$g")".sites.json 2>/dev/null) ||
				die "the $g boot of $f left no report" "test/lab.sh run armv5 $f $g"
			runs+=("armv5-$g:$f:$j")
		done
	done
	python3 "$TOP/test/sanitize.py" render "${runs[@]}" ||
		die "test/sanitize.py render failed" "python3 test/sanitize.py render ${runs[*]}"
	step "sanitize: docs/sanitizer/reports.md and reports.json written, $((SECONDS - t0)) s"
	summary
}

# make check's window of it: the cache boots run in run_flavours; this is
# the armel guest's SANITIZE_SMOKE check with 1 MiB of data, under the model.
sanitize_smoke() {
	ONLY=$SANITIZE_SMOKE DEBIAN_MIB=1 boot_flavours armv5 sanitize stock patched
}
