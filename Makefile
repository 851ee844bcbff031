# SPDX-License-Identifier: GPL-2.0
# One verb per user act; each is a thin call into test/lab.sh.
#
#   make                 set up if needed, apply the series to 7.2, build,
#                        boot and run the FUSE suite, print a short summary
#   make check           the test command: stock and patched side by side,
#                        our suite and a Debian guest of real FUSE clients
#                        (bindfs, ntfs-3g, fuse2fs, libfuse examples, fio);
#                        a TAP file per step in build/results/<run>/ (nested in
#                        run.tap), ends with "N passed, N failed"
#   make setup           Debian packages + kernel sources only
#   make shell           boot a built kernel with a shell (FLAVOUR=stock|patched|old)
#   make checkpatch      checkpatch --strict over every patch of the series
#   make static          W=1 and sparse (unstable's) over what the series
#                        touches, stock against patched
#   make bisect          each patch applies without fuzz and builds
#   make xbuild          W=1 cross-builds of what the series touches (fs/fuse/,
#                        mm/gup.o, the audit fixes' objects) for x86_64 arm
#                        sh mips parisc arm64, stock vs patched
#   make check-full      check, with bisect and static on every booted arch and
#                        xbuild (make check only checks that the series
#                        applies, and boots it)
#   make alias           the alias runs alone: cross-alias loads on the
#                        daemon's buffers counted by a QEMU plugin, stock
#                        vs patched (ALIAS_ARCHES, default armv5)
#   make cache           the cache model runs alone: loads an ARM926 D-cache
#                        would get stale, stock vs patched, QEMU 10 plugin
#                        (CACHE_ARCHES, default armv5)
#   make sanitize        the alias sanitizer: the ARM926 model over the whole
#                        of the cache boots and of a Debian armel system
#                        (real FUSE clients, stress-ng), stock vs patched;
#                        every stale load by reader and writer, triaged:
#                        docs/sanitizer.md, docs/sanitizer/reports.md
#   make bench           stock vs patched boots, alternately: instructions
#                        (QEMU -icount) and throughput per byte of a null
#                        FUSE server, and of copy_to_user, GUP + kmap,
#                        kthread_use_mm and copy_to_iter (test/kmod/uaccess_bench),
#                        and on armv5 modeled ARM926 cycles (the cache model):
#                        docs/perf.md (BENCH_ARCHES, BENCH_ROUNDS, BENCH_MIB,
#                        BENCH_CACHE_MIB, BENCH_KINDS)
#   make audit           coccinelle/gup_kmap_alias.cocci over Debian's 7.2
#                        (stock and patched) and 6.1: docs/audit/*.json, and
#                        their rendering docs/audit/*.md;
#                        KSRC=<tree> [M=<dir>] [MODE=report|org|context|patch]
#                        audits your tree instead and prints spatch's output
#   make check-stable    the 6.1 backport (stable/6.1/): its suite boots
#                        stock and patched, per-patch builds, checkpatch, the
#                        cross-builds (Debian's armel marvell config, sh),
#                        make mail; its host-side checks are in make check
#   make mail            the series as mails in outgoing/v<V>/, a set per
#                        destination (test/mail/sets.tsv), written by b4:
#                        To/Cc from get_maintainer.pl over each set's files,
#                        trailers from your git config (user.name,
#                        user.email, fuselab.trailer); never sends.
#                        KVER=6.1: the backport; V=2: v2 (docs/mail.md)
#
# Variables: KSRC=<your 7.2 tree>, ARCHES="x86_64 armv5 sh4" (check; check-full adds arm64),
# ONLY=fuse_data,fuse_bufs (suites), KVER=6.1 (the backport)

LAB := test/lab.sh
ARCH ?= x86_64
FLAVOUR ?= patched

all:
	@$(LAB) main

check:
	@$(LAB) check

check-full:
	@$(LAB) check-full

setup:
	@$(LAB) setup

shell:
	@$(LAB) shell $(ARCH) $(FLAVOUR)

checkpatch:
	@./checkpatch.sh

static:
	@$(LAB) static $(ARCH)

bisect:
	@$(LAB) bisect $(ARCH)

xbuild:
	@$(LAB) xbuild

alias:
	@$(LAB) alias

cache:
	@$(LAB) cache

bench:
	@$(LAB) bench

sanitize:
	@$(LAB) sanitize

audit:
	@coccinelle/audit.sh

check-stable:
	@KVER=$(or $(KVER),6.1) $(LAB) check-stable

mail:
	@$(LAB) mail

# the built kernels, suites, logs and results; the sources (build/src) stay, but
# for the trees' object directories and the derived trees
clean:
	rm -rf build/src/*/lab-obj-* build/src/*-patched build/src/*-old build/src/*-scratch build/obj \
		build/img build/suite build/initrd build/logs build/results

.PHONY: all check check-full setup shell checkpatch static bisect xbuild alias cache bench sanitize audit \
	check-stable mail clean
