# SPDX-License-Identifier: GPL-2.0
# W=1 cross-builds of what the series touches (sourced by test/lab.sh).

# The cross-builds are test/xbuilds.tsv's rows, without comments.
xbuilds() { grep -v '^#' "$TOP/test/xbuilds.tsv"; }
XBUILD_ARCHES=${XBUILD_ARCHES:-$(kver_field "$KVER" 6)}

# Debian's kernel configuration $1 (e.g. armel_none_marvell) from
# linux-config-KVER of its architecture, downloaded once; prints its path.
debian_config() {
	local flavour=$1 arch=${1%%_*} d=$B/dl/linux-config-$KVER deb
	if [ ! -f "$d/config.$flavour" ]; then
		step "xbuild: downloading linux-config-$KVER:$arch from $(src_suite "$KVER")" >&2
		APT_ARCH=$arch deb_fetch "$(src_suite "$KVER")" "$d/$arch" "linux-config-$KVER" ||
			die "cannot download linux-config-$KVER:$arch (see $(APT_ARCH=$arch apt_log "$(src_suite "$KVER")"))" "test/lab.sh xbuild"
		deb=$(ls "$d/$arch"/linux-config-"$KVER"_*_"$arch".deb | head -n1)
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-config-$KVER/config.$flavour.xz" | xz -d >"$d/config.$flavour.tmp" &&
			[ -s "$d/config.$flavour.tmp" ] ||
			die "$deb has no config.$flavour" "dpkg-deb -c $deb"
		mv "$d/config.$flavour.tmp" "$d/config.$flavour"
	fi
	echo "$d/config.$flavour"
}

# Of the targets given, those configuration $1 can build: an object its
# directory's Makefile names only under an option (obj-$(CONFIG_X) +=
# x.o) that is off here is left out and said (e.g. kernel/events/uprobes.o
# where the architecture has no uprobes: sh, parisc; or Debian's marvell
# configuration, without them).  A single-target build would compile it
# all the same, and fail.
xbuild_configured() {
	local cfg=$1 t opt
	shift
	for t in "$@"; do
		opt=
		case $t in
		*.o) [ ! -f "$(tree stock)/${t%/*}/Makefile" ] ||
			opt=$(sed -n "s|^obj-\$(\(CONFIG_[A-Z0-9_]*\))[[:space:]]*+=.*[[:space:]]${t##*/}\([[:space:]].*\)\{0,1\}$|\1|p" \
				"$(tree stock)/${t%/*}/Makefile" | head -n 1) ;;
		esac
		if [ -n "$opt" ] && ! grep -qE "^$opt=[ym]$" "$cfg"; then
			step "xbuild: $t is not built here ($opt is off in ${cfg#$B/})" >&2
			continue
		fi
		printf '%s ' "$t"
	done
}

# W=1 cross-builds of what the series touches, stock then patched: each
# must build, and no W=1 warning of the patched tree may be new.  The
# objects are removed before each build so that every one of them is
# compiled, and so warned about, in both states.
cmd_xbuild() {
	local name karch cross defcfg asserts obj targets f log frags key bad t new n KARCH CROSS_COMPILE KCC_PLUGIN
	# on a backport's tree, what it lacks (test/config/<KVER>.config) wins
	tap_step "$KVER-xbuild"
	frags=xbuild.config
	[ ! -f "$TOP/test/config/$KVER.config" ] || frags="$frags $KVER.config"
	for name in $XBUILD_ARCHES; do
		karch=
		IFS=$'\t' read -r _ karch cross defcfg asserts < <(xbuilds | awk -F '\t' -v n="$name" '$1 == n') || true
		[ -n "${karch:-}" ] || die "unknown cross-build '$name' (have: $(xbuilds | cut -f1 | xargs))"
		[ "$cross" = - ] && cross=
		need_pkgs ${cross:+gcc-${cross%-}}
	done
	for name in $XBUILD_ARCHES; do
		IFS=$'\t' read -r _ karch cross defcfg asserts < <(xbuilds | awk -F '\t' -v n="$name" '$1 == n')
		[ "$cross" = - ] && cross=
		KARCH=$karch CROSS_COMPILE=$cross
		make_tree patched
		obj=$(kobj stock "x-$name")
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
			# the patched tree's objects start again from these
			rm -rf "$(kobj patched "x-$name")"
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
						(cd "$obj" && ARCH=$karch ../scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" \
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
		targets=$(xbuild_configured "$obj/.config" $targets)
		for f in stock patched; do
			# after stock's build: its generated files serve patched's too
			seed_obj "$f" "x-$name"
			obj=$(kobj "$f" "x-$name")
			log=$B/logs/xbuild-$name-$f.log
			step "xbuild: $name $f: make W=1 $targets(log: build/logs/xbuild-$name-$f.log)"
			forget_objs "$obj" $targets
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
