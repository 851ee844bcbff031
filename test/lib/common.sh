# SPDX-License-Identifier: GPL-2.0
# The lab's settings and the helpers every part uses (sourced by test/lab.sh).

. "$TOP/test/lib/log.sh"
. "$TOP/test/lib/kver.sh"
. "$TOP/test/lib/debsrc.sh"
. "$TOP/test/lib/results.sh"

# KSRC=<tree>: checked here, once, since ksrc() runs in $(...) where its
# die stops nothing but the subshell
if [ -n "${KSRC:-}" ]; then
	[ -d "$KSRC" ] || die "KSRC=$KSRC: no such directory"
	KSRC=$(cd "$KSRC" && pwd)
fi
# The kernel versions are test/kversions.tsv's: KVER, mainline's by default.
MAINLINE=$(kver_mainline)
KVER=${KVER:-$MAINLINE}
kver_field "$KVER" 1 >/dev/null
# The booted architectures: make check's fit its 75 minutes cold; make
# check-full adds arm64 (MTE) on mainline.  ARCHES=... picks any.
ALL_ARCHES=$(kver_field "$KVER" 5)
ARCHES_GIVEN=${ARCHES:-}
ARCHES=${ARCHES:-$(kver_field "$KVER" 4)}
# Runs with the alias plugin in QEMU (test/qemu-plugins/alias.c), of the suite's
# tests that open alias windows only: the plugin slows every guest memory
# access (the whole ARMv5 suite: 517 s instead of ~220 s).
ALIAS_ARCHES=${ALIAS_ARCHES-armv5}
ALIAS_SUITES=fuse_bufs
ALIAS_TESTS=-t,daemon_buffers_see_no_cross_alias,-t,alias_control_pipe_read,-t,alias_control_process_vm_writev_to_self
# Runs with the ARM926 cache model (test/qemu-plugins/cache926.c, QEMU 10 from
# bookworm-backports): the same windows, the 2006 race, the cache_rules
# micro-tests.
CACHE_ARCHES=${CACHE_ARCHES-armv5}
CACHE_SUITES=fuse_bufs,cache_rules
CACHE_TESTS=$ALIAS_TESTS,-t,second_thread_loads_during_copy,-t,kmap_write_without_flush_dcache_page,-t,kmap_write_with_flush_dcache_page,-t,kmap_read_of_stores_after_pinning,-t,kmap_read_after_pinning_again,-t,kmap_write_then_invalidate,-t,kmap_write_flushed_after_user_stores,-t,user_events_enable_bit_is_seen,-t,uprobe_semaphore_is_seen
# The tests that BUG a stock kernel (fuse_uring's uring_small: arguments
# larger than the ring's payload buffer) skip in the suite's boot and run in
# a short boot of their own per flavour, so that the BUG takes no other test
# with it.  Where test/expect/<flavour>.xfail lists crash/kernel_log_clean,
# the runner expects CRASH_BUG to be the first report of that boot's log.
# x86_64 only: the ring is the same on every arch; 6.1 has none.
if [ -n "$(kver_field "$KVER" 7)" ]; then
	CRASH_ARCHES=${CRASH_ARCHES-$(kver_field "$KVER" 7)}
else
	CRASH_ARCHES=
fi
CRASH_SUITES=fuse_uring
CRASH_TESTS=-f,uring_small
CRASH_BUG='kernel BUG at fs/fuse/dev\.c'
JOBS=${JOBS:-$(($(nproc) + 1))}
export CCACHE_DIR=${CCACHE_DIR:-$B/ccache}
# The series of KVER: mainline's at the top, a backport under stable/<KVER>/.
# KTAG prefixes the TAP names of a backport's checks (series/6.1/...).
SERIES_DIR=$TOP/$(kver_field "$KVER" 3) KTAG=
[ "$KVER" = "$MAINLINE" ] || KTAG=$KVER/
export QUILT_PATCHES=$SERIES_DIR/patches QUILT_SERIES=$SERIES_DIR/series

# What a command to retry a step must carry of this run's environment.
lab_env() {
	[ "$KVER" = "$MAINLINE" ] || printf 'KVER=%s ' "$KVER"
	[ -z "${KSRC:-}" ] || printf 'KSRC=%s ' "$KSRC"
	[ -z "${PROFILE:-}" ] || printf 'PROFILE=%s ' "$PROFILE"
	[ -z "${OLD_SERIES:-}" ] || printf 'OLD_SERIES=%s ' "$OLD_SERIES"
}

# A backport's verbs refuse mainline's KVER before they do anything.
need_backport() {
	[ "$KVER" != "$MAINLINE" ] || die "KVER=$KVER is mainline's; the backports: $(kver_all | tail -n +2 | xargs)"
}

# Packages the lab needs on the host (Debian 12).
HOST_PKGS="quilt qemu-system-x86 busybox-static flex bison bc libelf-dev
libssl-dev cpio ccache codespell make gcc libc6-dev xz-utils python3 perl b4
kmod file rsync coccinelle git"

# test/verbs.tsv without its comments: verb, arguments, what (tab-separated).
verbs() { grep -v '^#' "$TOP/test/verbs.tsv"; }
verb_known() { verbs | cut -f1 | grep -qx -- "$1"; }
usage() {
	echo "usage: test/lab.sh VERB [ARGUMENTS]   (make check runs: test/lab.sh check)"
	verbs | awk -F '\t' '{ printf "  %-34s %s\n", $1 " " $2, $3 }'
	echo "environment: the comment at the top of test/lab.sh"
}

