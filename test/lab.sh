#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab: fetch kernel sources as Debian packages, build small kernels
# (stock and with our quilt series), build the FUSE suite and an initramfs,
# boot them under QEMU (TCG) and report TAP.
#
# The verbs: test/verbs.tsv (test/lab.sh alone prints them).
#
# Environment (defaults in test/lib/common.sh and the tables):
#   KSRC=<tree>        your own tree as the stock tree (it must be KVER)
#   KVER=7.2           a version of test/kversions.tsv
#   ARCHES             the booted arches (kversions.tsv: make check's, or
#                      check-full's); ALIAS_ARCHES, CACHE_ARCHES (armv5),
#                      CRASH_ARCHES (x86_64), STATIC_ARCHES (bisect and
#                      static; check-full: ARCHES), XBUILD_ARCHES
#   ONLY=<suite>[,..]  a subset of the suite; ARGS=-v,<variant> or
#                      -r,<fixture.variant.test>: the harness's options
#   BREAK=pattern|mute the suite's daemon misbehaves on purpose (for the
#                      Debian guest: a check name or "all", test/debian/);
#                      REPEAT=N repeats the Debian guest's checks;
#                      DEBIAN_MIB=N sizes its data (16 x86_64, 4 armv5)
#   BOOT_TIMEOUT=1500  seconds per boot; LAB_SERIAL=1 boots stock and
#                      patched one after the other, not side by side
#   XBUILD=1           the cross-builds in check; STABLE=0 leaves the
#                      backports' host-side checks out; DEBIAN_GUEST=0 the
#                      Debian guest
#   OLD_SERIES=<dir>   the series of FLAVOUR=old; PROFILE=bench: the bench's
#                      kernels (BENCH_ARCHES, BENCH_ROUNDS, BENCH_MIB)
#   JOBS               make -j (nproc + 1); MAIL_OUT, V: make mail's
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/build
. "$TOP/test/lib/common.sh"
for part in setup trees kernels boots static xbuild bench sanitize mail mailcheck; do
	. "$TOP/test/lib/$part.sh"
done

# The suite on every arch, then the Debian guest of real clients (x86_64),
# each stock and patched; the series applies patch by patch; checkpatch,
# the Coccinelle tests, the mails, the backport's host-side checks.  What
# does not fit make check's 75 minutes cold is check-full's: arm64's
# kernels and boots (ARCHES), per-patch builds and W=1/sparse on
# STATIC_ARCHES, the W=1 cross-builds with XBUILD=1.
cmd_check() {
	local f a k
	results_open check
	run_flavours stock patched
	cmd_checkpatch
	cmd_cocci
	cmd_verbs_check
	cmd_applies
	for a in ${STATIC_ARCHES:-}; do
		cmd_bisect "$a"
		cmd_static "$a"
	done
	[ "${XBUILD:-0}" = 0 ] || cmd_xbuild
	if [ "${DEBIAN_GUEST:-1}" = 1 ] && [[ " $ARCHES " == *" x86_64 "* ]]; then
		boot_flavours x86_64 debian stock patched
	fi
	if [ "${DEBIAN_GUEST:-1}" = 1 ] && [[ " $ARCHES " == *" armv5 "* ]]; then
		# Debian armel on the ARMv5 kernels, then the sanitizer's smoke
		boot_flavours armv5 debian stock patched
		sanitize_smoke
	fi
	cmd_mail_check
	# the backports' host-side checks (their boots: make check-stable),
	# each on Debian's tree of its version
	if [ "${STABLE:-1}" != 0 ]; then
		tap_end
		for k in $(kver_all | tail -n +2); do
			KSRC= KVER=$k XBUILD=${XBUILD:-0} "$TOP/test/lab.sh" stable-host
		done
	fi
	summary
}

# A backport's host-side checks: it applies without fuzz, then
# stable_checks.
cmd_stable_host() {
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
	results_open check-stable
	run_flavours stock patched
	cmd_applies
	cmd_bisect x86_64
	stable_checks
	summary
}

# `make alias` / `make cache`: the plugin runs of GUEST (alias or cache)
# alone, stock and patched, on the arches given.
cmd_plugin_runs() {
	local guest=$1 a f
	shift
	cmd_setup
	results_open "$guest"
	for a in "$@"; do
		for f in stock patched; do cmd_kernel "$a" "$f"; done
		cmd_suite "$a"
	done
	for a in "$@"; do boot_flavours "$a" "$guest" stock patched; done
	summary
}

# `make`: the patched kernel only; progress lines and failures, then the
# summary.
cmd_main() {
	results_open main
	# what passes, the runner's own lines and what tests measured stay in
	# the results; failures and their diagnostics come through
	run_flavours patched |
		grep --line-buffered -v -E '^(ok |# step: |# [^ ]+/[^ ]+: |# measured: |TAP version|1\.\.)'
	summary
	echo "lab: stock and patched side by side: make check"
}

# One compound command, read whole before it runs: an edit of this file
# during a long run cannot change what the run executes next.
{
	mkdir -p "$B/logs"
	if [ $# = 0 ]; then
		usage >&2
		exit 1
	fi
	verb=$1
	shift
	verb_known "$verb" || die "unknown verb '$verb' (test/lab.sh alone lists them)"
	case $verb in
	setup) cmd_setup ;;
	kernel) cmd_kernel "$@" ;;
	suite) cmd_suite "$@" ;;
	run)
		# a run of its own: its results, a summary, exit 1 on a failure
		results_open run
		cmd_run "$@"
		summary
		;;
	shell) cmd_shell "$@" ;;
	static) results_open static; cmd_static "$@"; summary ;;
	xbuild) results_open xbuild; XBUILD_ARCHES=${*:-$XBUILD_ARCHES} cmd_xbuild; summary ;;
	bisect) results_open bisect; cmd_applies; cmd_bisect "$@"; summary ;;
	alias) cmd_plugin_runs alias $ALIAS_ARCHES ;;
	cocci) results_open cocci; cmd_setup; cmd_cocci; summary ;;
	verbs-check) results_open verbs-check; cmd_verbs_check; summary ;;
	cache) cmd_plugin_runs cache $CACHE_ARCHES ;;
	bench) cmd_bench ;;
	sanitize) cmd_sanitize ;;
	mail) cmd_setup; cmd_mail ;;
	mail-check) results_open mail-check; cmd_setup; cmd_mail_check; summary ;;
	stable-host) need_backport; results_open stable-host; cmd_setup; cmd_stable_host; summary ;;
	check-stable) need_backport; cmd_check_stable ;;
	check) cmd_check ;;
	check-full)
		ARCHES=${ARCHES_GIVEN:-$ALL_ARCHES}
		STATIC_ARCHES=$ARCHES XBUILD=1 cmd_check
		;;
	main) cmd_main ;;
	*) die "verb '$verb' is in test/verbs.tsv but not here" ;;
	esac
	exit
}
