# SPDX-License-Identifier: GPL-2.0
# Host-side checks of the series: static, checkpatch, cocci, applies, bisect (sourced by test/lab.sh).

# Debian 12's sparse (0.6.4) cannot parse 7.2: scripts/checker-valid.sh
# rejects it and C=1 then checks nothing, successfully.  Unstable's sparse
# runs here with unstable's glibc through that glibc's own loader: two
# packages unpacked into build/sparse, nothing installed, no chroot.
setup_sparse() {
	local d=$B/sparse
	SPARSE=$B/tools/sparse
	if [ ! -x "$SPARSE" ]; then
		step "sparse: downloading sparse and libc6 from unstable"
		rm -rf "$B/dl/sparse" "$d" && mkdir -p "$B/tools"
		deb_fetch unstable "$B/dl/sparse" sparse libc6 ||
			die "could not download sparse from unstable (see $(apt_log unstable))" \
			    "test/lab.sh static"
		deb_unpack "$d" "$B"/dl/sparse/*.deb || die "could not unpack sparse and libc6" "test/lab.sh static"
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
		sed -e 's| \.\./| |' -e "s| $(tree stock)/| |" -e "s| $(tree patched)/| |" | sort
}

# W=1 and sparse over the directories the series touches, stock then
# patched: no warning of the patched tree may be new.  The sparse run is
# proved live twice: every object kbuild built there went through sparse
# (its command line is in the V=1 log), and the command kbuild used for one
# of them reports a deliberate __user dereference (test/sparse-probe.c).
cmd_static() {
	local arch=${1:-x86_64} obj dirs f log cmd src n total o new probe kind
	load_arch "$arch"
	tap_step "$KVER-static-$arch"
	[ -n "$(series_targets "$KARCH")" ] || { step "static: the series touches no C files"; return 0; }
	# the series as it is now, on stock's configuration
	make_tree patched
	seed_obj patched "$arch"
	for f in stock patched; do
		obj=$(kobj "$f" "$arch")
		[ -f "$obj/.config" ] || die "no configured $arch $f tree in $obj" "$(lab_env)test/lab.sh kernel $arch $f"
	done
	setup_sparse
	dirs=$(in_build "$obj" $(series_targets "$KARCH"))
	[ -n "$dirs" ] || { step "static: the series touches no C files"; return 0; }
	for f in stock patched; do
		obj=$(kobj "$f" "$arch")
		log=$B/logs/static-$arch-$f.log
		step "static: $arch $f: make W=1 C=2 $dirs(log: build/logs/static-$arch-$f.log)"
		# compiled, and so warned about, in both states
		forget_objs "$obj" $dirs
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

# checkpatch.sh's verdict per patch, a step of its own.
cmd_checkpatch() {
	local line log t=checkpatch
	[ "$KVER" = "$MAINLINE" ] || t=checkpatch/$KVER
	tap_step "$KVER-checkpatch"
	log=${TAP_FILE%.tap}.checkpatch.out
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
	local line log out f rc k t
	tap_step cocci
	for f in run mutate heldout api api_mutate; do
		log=${TAP_FILE%.tap}.$f.out
		rc=0
		"$TOP/coccinelle/tests/$f.sh" >"$log" 2>&1 || rc=$?
		while IFS= read -r line; do
			case $line in
			"ok "*) tap_ ok "cocci/$f/${line#ok * - }" ;;
			"not ok "*) tap_ fail "cocci/$f/${line#not ok * - }" \
				"$(awk -v l="$line" '$0 == l { f = 1; next } f && /^(not )?ok / { exit } f' "$log")" \
				"coccinelle/tests/$f.sh" ;;
			esac
		done <"$log"
		# the runner's plan, its results and its exit code agree
		k=$(grep -cE '^(not )?ok ' "$log")
		if ! grep -qx "1\.\.$k" "$log"; then
			tap_ fail "cocci/$f/ran" "$(tail -n 20 "$log")" "plan $(grep -m1 '^1\.\.' "$log" || echo none), $k results" "coccinelle/tests/$f.sh"
		elif [ "$rc" != 0 ] && ! grep -q '^not ok ' "$log"; then
			tap_ fail "cocci/$f/ran" "$(tail -n 20 "$log")" "exit code $rc with no failed test" "coccinelle/tests/$f.sh"
		fi
	done
	out=$(KSRC=$(tree stock) M=fs/fuse "$TOP/coccinelle/audit.sh" 2>&1) || true
	# (C2 at fuse_copy_do() was checked here too until the class was retired)
	if echo "$out" | grep -q '^fs/fuse/dev.c:[0-9:-]*: C3: fuse_copy_fill()'; then
		tap_ ok "cocci/audit/stock_fuse_flags_fuse_copy_fill"
	else
		tap_ fail "cocci/audit/stock_fuse_flags_fuse_copy_fill" "$out" \
			"KSRC=$(tree stock) M=fs/fuse coccinelle/audit.sh"
	fi
	make_tree patched
	out=$(KSRC=$(tree patched) M=fs/fuse "$TOP/coccinelle/audit.sh" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ] && ! echo "$out" | grep -q '^fs/fuse/'; then
		tap_ ok "cocci/audit/patched_fuse_has_no_hit"
	else
		tap_ fail "cocci/audit/patched_fuse_has_no_hit" "$out" \
			"KSRC=$(tree patched) M=fs/fuse coccinelle/audit.sh"
	fi
	# every true finding of triage.txt is fixed by a patch of a series or
	# argued (docs/audit/fixes.tsv)
	if out=$(python3 "$TOP/coccinelle/fixes.py" "$TOP" 2>&1); then
		tap_ ok "cocci/fixes/every_true_finding_is_fixed_or_argued"
	else
		tap_ fail "cocci/fixes/every_true_finding_is_fixed_or_argued" "$out" \
			"reproduce: python3 coccinelle/fixes.py ."
	fi
	# docs/audit's reports are rendered from their data, never edited, and
	# the data holds triage.txt's verdicts as they are now
	for k in $(kver_all); do
		t=cocci/audit/linux-${k}_md_is_rendered_from_its_json
		if ! out=$(python3 "$TOP/coccinelle/report.py" --render "$TOP/docs/audit/linux-$k.json" 2>&1); then
			tap_ fail "$t" "$out" "reproduce: python3 coccinelle/report.py --render docs/audit/linux-$k.json"
		elif out=$(echo "$out" | diff -u "$TOP/docs/audit/linux-$k.md" - 2>&1); then
			tap_ ok "$t"
		else
			tap_ fail "$t" "$(echo "$out" | head -n 20)" \
				"reproduce: python3 coccinelle/report.py --render docs/audit/linux-$k.json | diff -u docs/audit/linux-$k.md -"
		fi
		t=cocci/audit/linux-${k}_json_has_the_verdicts_of_triage_txt
		if out=$(python3 "$TOP/coccinelle/report.py" --check "$TOP/docs/audit/linux-$k.json" \
			--triage "$TOP/docs/audit/triage.txt" 2>&1); then
			tap_ ok "$t"
		else
			tap_ fail "$t" "$(echo "$out" | head -n 20)" "make audit writes it anew" \
				"reproduce: python3 coccinelle/report.py --check docs/audit/linux-$k.json --triage docs/audit/triage.txt"
		fi
	done
}

# quilt push of the next patch, $1, into the scratch tree with no fuzz: one
# TAP line; fails only when the patch did not apply at all.
push_one() {
	local p=$1 out
	out=$(cd "$(tree scratch)" && quilt --quiltrc=- push --fuzz=0 "$p" 2>&1) || {
		tap_ fail "series/$KTAG$p/applies_without_fuzz" "$out" \
			"reproduce: cd $(tree scratch) && QUILT_PATCHES=$QUILT_PATCHES QUILT_SERIES=$QUILT_SERIES quilt --quiltrc=- push --fuzz=0"
		return 1
	}
	if out=$(quilt_drift "$out"); then
		tap_ fail "series/$KTAG$p/applies_without_fuzz" "$out"
	else
		tap_ ok "series/$KTAG$p/applies_without_fuzz"
	fi
}

# Each patch applies to KVER's tree without fuzz (no builds: see bisect).
cmd_applies() {
	local p
	tap_step "$KVER-applies"
	make_tree scratch
	for p in $(series_patches); do push_one "$p" || break; done
}

# The tree builds after each patch of the series, in the scratch tree (its objects: a copy of the
# stock kernel's).
cmd_bisect() {
	local arch=${1:-x86_64} obj p i=0
	load_arch "$arch"
	tap_step "$KVER-bisect-$arch"
	[ -f "$(kobj stock "$arch")/.config" ] ||
		die "no configured $arch tree in $(kobj stock "$arch")" "test/lab.sh kernel $arch stock"
	make_tree scratch
	seed_obj scratch "$arch"
	obj=$(kobj scratch "$arch")
	for p in $(series_patches); do
		i=$((i + 1))
		# whether it applies cleanly is cmd_applies' line
		(cd "$(tree scratch)" && quilt --quiltrc=- push -q --fuzz=0 "$p" >/dev/null 2>&1) || {
			tap_ fail "series/$KTAG$p/$arch/builds" "it does not apply (series/$KTAG$p/applies_without_fuzz says why)"
			break
		}
		step "bisect: $arch: building after $p"
		if kmake "$obj" -j"$JOBS" $KIMAGE_TARGET >"$B/logs/bisect-$arch-$i.log" 2>&1; then
			tap_ ok "series/$KTAG$p/$arch/builds"
		else
			tap_ fail "series/$KTAG$p/$arch/builds" "$(grep -E "error" "$B/logs/bisect-$arch-$i.log" | head -n 5)" \
				"log: $B/logs/bisect-$arch-$i.log"
		fi
	done
}

# The verb list is test/verbs.tsv: every verb there has its arm in
# test/lab.sh's dispatcher and no arm is missing from it; every verb the
# Makefile calls is there; README.md names every Makefile target.
cmd_verbs_check() {
	local v bad=() arms targets
	tap_step lab-verbs
	arms=$(sed -n '/^\tcase $verb in$/,/^\tesac$/p' "$TOP/test/lab.sh" |
		sed -n 's/^\t\([a-z0-9-]*\)).*/\1/p')
	for v in $(verbs | cut -f1); do
		echo "$arms" | grep -qx -- "$v" || bad+=("verbs.tsv: '$v' has no arm in test/lab.sh")
	done
	for v in $arms; do
		verb_known "$v" || bad+=("test/lab.sh: the arm '$v' is not in test/verbs.tsv")
	done
	for v in $(sed -n 's/.*$(LAB) \([a-z0-9-]*\).*/\1/p' "$TOP/Makefile"); do
		verb_known "$v" || bad+=("Makefile: calls '$v', which test/verbs.tsv does not have")
	done
	targets=$(sed -n 's/^\([a-z0-9-]*\):.*/\1/p' "$TOP/Makefile" | grep -vx 'all\|clean')
	for v in $targets; do
		grep -qE "make $v([^a-z0-9-]|\$)" "$TOP/README.md" || bad+=("README.md: no 'make $v'")
	done
	if [ ${#bad[@]} = 0 ]; then
		tap_ ok "lab/verbs_agree" "measured: $(verbs | wc -l) verbs, $(echo $targets | wc -w) make targets"
	else
		tap_ fail "lab/verbs_agree" "${bad[@]}" "reproduce: test/lab.sh verbs-check"
	fi
}
