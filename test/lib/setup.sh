# SPDX-License-Identifier: GPL-2.0
# Setup: host packages, Debian's kernel sources (sourced by test/lab.sh).

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

# deb_fetch SUITE DIR PKG...: Debian packages of SUITE (APT_ARCH's, else the
# host's architecture) downloaded into DIR through a private apt list; the
# output in apt_log's file.  0, or apt-get's failure.
deb_fetch() {
	local suite=$1 dir=$2
	shift 2
	mkdir -p "$dir" "$B/logs"
	{
		apt_private "$suite" update &&
			(cd "$dir" && apt_private "$suite" download "$@")
	} >>"$(apt_log "$suite")" 2>&1
}
apt_log() { echo "$B/logs/apt-$1${APT_ARCH:+-$APT_ARCH}.log"; }

# deb_unpack DEST DEB...: the packages' files under DEST, nothing installed.
deb_unpack() {
	local dest=$1 deb
	shift
	mkdir -p "$dest"
	for deb in "$@"; do
		dpkg-deb -x "$deb" "$dest" || return 1
	done
}

# Which suite carries linux-source-<ver>.
src_suite() { kver_field "$1" 2; }

fetch_source() {
	local ver=$1 suite deb tree full
	tree=$B/src/linux-source-$ver
	if [ -f "$tree/.lab-unpacked" ]; then
		full=$(tree_version "$tree" "$ver") || exit 1
		step "linux-source-$ver: Linux $full already unpacked in $tree (SUBLEVEL ${full##*.})"
		return
	fi
	suite=$(src_suite "$ver")
	mkdir -p "$B/dl" "$B/src"
	step "linux-source-$ver: downloading from $suite"
	deb_fetch "$suite" "$B/dl" "linux-source-$ver" ||
		die "cannot download linux-source-$ver from $suite (see $(apt_log "$suite"))" \
		    "test/lab.sh setup"
	deb=$(ls -t "$B/dl"/linux-source-"$ver"_*.deb | head -n1)
	step "linux-source-$ver: unpacking $(basename "$deb")"
	full=$(unpack_linux_source "$deb" "$ver" "$tree" .lab-unpacked) ||
		die "could not unpack $deb" "test/lab.sh setup"
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
	# the backports' host-side checks run in make check
	local k
	for k in $(kver_all | tail -n +2); do
		[ "${LAB_ONLY_KVER:-}" ] || [ "$KVER" = "$k" ] || fetch_source "$k"
	done
	# a backport's suite is built with mainline's kselftest harness
	[ "$KVER" = "$MAINLINE" ] || fetch_source "$MAINLINE"
}

# The tree whose tools/testing/selftests/kselftest_harness.h the suite is
# built with: mainline's also for a backport, whose own harness is older
# (6.1's runs a test whose FIXTURE_SETUP() said SKIP, and names no skipped
# test in its TAP line).
harness_src() {
	if [ "$KVER" = "$MAINLINE" ]; then ksrc; else echo "$B/src/linux-source-$MAINLINE"; fi
}
