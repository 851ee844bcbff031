#!/bin/bash
# Build a small Debian bookworm root holding real FUSE clients (bindfs,
# ntfs-3g, fuse2fs, libfuse's example daemons), fio and stress-ng, with
# test/debian/init as /init, for one Debian architecture:
#   amd64 (default)  build/debian/rootfs.cpio.gz: a gzip'd newc cpio initramfs
#   armel            build/debian/armel/rootfs.ext4: a raw ext4 disk image (the
#                    armv5 guest's 256 MiB of RAM cannot hold it as an
#                    initramfs), with free room for the checks' files
#
# Usage: test/debian/build-rootfs.sh [--force] [amd64|armel]
#
# Two cached stages, both in the arch's directory:
#   base.tar          mmdebstrap output (rebuilt when this script changes)
#   rootfs.*          base.tar + /init  (rebuilt when this script or init changes)
# Everything is built in a temp dir there and moved into place only on
# success. Nothing is installed on the host except the build tools
# (mmdebstrap, cpio; for a foreign arch qemu-user-static, binfmt-support and
# arch-test, whose emulation runs the guest's maintainer scripts and compiler).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
self="$top/test/debian/build-rootfs.sh"
init_src="$top/test/debian/init"

force=0
arch=amd64
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    amd64 | armel) arch=$a ;;
    *) echo "usage: $0 [--force] [amd64|armel]" >&2; exit 2 ;;
  esac
done
# per arch: where the tree goes, its dynamic loader (the customize hook
# lists each test binary's libraries with it), the packed root
case $arch in
  amd64) outdir="$top/build/debian" out="$outdir/rootfs.cpio.gz" ldso=/lib64/ld-linux-x86-64.so.2 ;;
  armel) outdir="$top/build/debian/armel" out="$outdir/rootfs.ext4" ldso=/lib/ld-linux.so.3 ;;
esac
base="$outdir/base.tar"
log="$outdir/build.log"
rerun="bash test/debian/build-rootfs.sh --force $arch   (from $top)"
# armel: the ext4 image has this much room beyond the tree, for what the
# guest writes there (little: its checks' files are on tmpfs); the file is
# sparse
free_mb=256

say() { echo "debian rootfs: $*"; }

step="start"
tmp=""

# Remove the temp dir, but never recursively delete through a live mount.
cleanup() {
  [ -n "$tmp" ] && [ -d "$tmp" ] || return 0
  if awk -v t="$tmp" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "debian rootfs: WARNING: something is still mounted under $tmp; not deleting it" >&2
    return 0
  fi
  rm -rf --one-file-system "$tmp"
}

on_err() {
  local rc=$?
  trap - ERR
  echo "debian rootfs: FAILED in step '$step' (exit $rc): $BASH_COMMAND" >&2
  if [ -s "$log" ]; then
    echo "debian rootfs: last lines of $log:" >&2
    tail -n 30 "$log" | sed 's/^/  | /' >&2
  fi
  echo "debian rootfs: rerun this step alone with: $rerun" >&2
  exit "$rc"
}
trap on_err ERR
trap cleanup EXIT

mkdir -p "$outdir"

# Cache check: output newer than this script and the init file.
if [ "$force" = 0 ] && [ -s "$out" ] && [ "$out" -nt "$self" ] && [ "$out" -nt "$init_src" ]; then
  say "up to date ($out)"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "debian rootfs: must run as root (mmdebstrap root mode, device nodes)" >&2; exit 1; }
[ -f "$init_src" ] || { echo "debian rootfs: missing $init_src" >&2; exit 1; }

step="install build tools"
need=""
command -v mmdebstrap >/dev/null || need="$need mmdebstrap"
command -v cpio >/dev/null || need="$need cpio"
command -v gzip >/dev/null || need="$need gzip"
foreign=0
[ "$arch" = "$(dpkg --print-architecture)" ] || foreign=1
if [ "$foreign" = 1 ]; then
  command -v qemu-arm-static >/dev/null || need="$need qemu-user-static"
  command -v update-binfmts >/dev/null || need="$need binfmt-support"
  command -v arch-test >/dev/null || need="$need arch-test"
  command -v mke2fs >/dev/null || need="$need e2fsprogs"
fi
if [ -n "$need" ]; then
  say "installing host build tools:$need..."
  # shellcheck disable=SC2086
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need; } >"$log" 2>&1
fi
if [ "$foreign" = 1 ]; then
  # the guest's binaries run on the host through binfmt_misc and qemu-user
  step="binfmt_misc for $arch"
  [ -e /proc/sys/fs/binfmt_misc/status ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc >>"$log" 2>&1
  arch-test "$arch" >>"$log" 2>&1 || update-binfmts --enable >>"$log" 2>&1
  arch-test "$arch" >>"$log" 2>&1 ||
    { echo "debian rootfs: this host cannot run $arch binaries (arch-test $arch; binfmt_misc, qemu-user-static)" >&2; false; }
fi

# Mirror: whatever the host's apt is configured with, read at run time.
step="find mirror"
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {
                  for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "debian rootfs: no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2; exit 1; }

tmp=$(mktemp -d "$outdir/tmp.XXXXXX")
export TMPDIR="$tmp"

# ---------------------------------------------------------------- stage 1
if [ "$force" = 1 ] || ! [ -s "$base" ] || ! [ "$base" -nt "$self" ]; then
  step="mmdebstrap"
  # Runs on the host with the chroot dir as $1: compile libfuse's examples
  # inside the chroot against the guest's own libfuse3 (with a 64-bit off_t, as
# libfuse's own build: fuse_common.h asserts it, armel's default is 32), then
# drop the compiler.
  printf '#!/bin/sh\nset -e\nldso=%s\n' "$ldso" >"$tmp/customize.sh"
  cat >>"$tmp/customize.sh" <<'HOOK'
root=$1
chroot "$root" sh -ec '
  src=/usr/share/doc/libfuse3-dev/examples
  [ -f $src/passthrough_ll.c ] || src=$(dirname "$(dpkg -L libfuse3-dev | grep "/passthrough_ll.c$" | head -n 1)")
  cd "$src"
  for p in passthrough_ll passthrough null; do
    gcc -Wall -O2 -D_FILE_OFFSET_BITS=64 -DHAVE_UTIMENSAT -DHAVE_POSIX_FALLOCATE -DHAVE_FALLOCATE \
        -DHAVE_SETXATTR -DHAVE_COPY_FILE_RANGE \
        $(pkg-config fuse3 --cflags) -o /usr/local/bin/$p $p.c $(pkg-config fuse3 --libs) -lpthread
    echo "built /usr/local/bin/$p"
  done
'
# Drop the compiler and what only it (or mmdebstrap's usrmerge step: perl)
# needed; the unpacked initramfs lives in the guest's RAM.
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
  apt-get purge -y -q --autoremove -o APT::AutoRemove::RecommendsImportant=false \
    -o APT::AutoRemove::SuggestsImportant=false gcc libc6-dev libfuse3-dev pkg-config \
    perl libperl5.36 perl-modules-5.36 libfile-find-rule-perl libnumber-compare-perl \
    libtext-glob-perl libgdbm-compat4 tzdata
# the test binaries must still resolve all their libraries after the purge
for b in passthrough_ll passthrough null fio stress-ng bindfs ntfs-3g fuse2fs; do
  p=$(chroot "$root" env PATH=/usr/local/bin:/usr/bin:/usr/sbin sh -c "command -v $b") ||
    { echo "$b is not in the tree" >&2; exit 1; }
  libs=$(chroot "$root" "$ldso" --list "$p")
  if echo "$libs" | grep 'not found'; then echo "missing library for $p" >&2; exit 1; fi
done
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/libfuse3-dev
# Byte-code caches of python3 (pulled in by fio, unused here) and iconv
# modules for legacy charsets (glibc has UTF-8/ASCII/Latin-1 built in).
find "$root"/usr/lib/python3* -depth -name __pycache__ -type d -exec rm -rf {} +
rm -rf "$root"/usr/lib/*-linux-gnu*/gconv
HOOK
  chmod +x "$tmp/customize.sh"

  pkgs="fuse3,bindfs,ntfs-3g,fuse2fs,e2fsprogs,fio,stress-ng,busybox,procps"
  build_pkgs="gcc,libc6-dev,libfuse3-dev,pkg-config"
  say "mmdebstrap bookworm $arch (amd64 ~1.5-3 min, armel ~3 min; log: $log)..."
  mmdebstrap --variant=minbase --mode=root --format=tar --architectures="$arch" \
    --include="$pkgs,$build_pkgs" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-include=/usr/share/doc/libfuse3-dev/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
    --customize-hook="$tmp/customize.sh" \
    bookworm "$tmp/base.tar" "deb $mirror bookworm main" >"$log" 2>&1
  mv -f "$tmp/base.tar" "$base"
else
  say "base tree up to date ($base)"
fi

# ---------------------------------------------------------------- stage 2
step="unpack base"
say "unpacking base tree..."
mkdir "$tmp/root"
tar -C "$tmp/root" --numeric-owner -xpf "$base"

step="install init"
say "installing /init from test/debian/init..."
install -m 0755 -o 0 -g 0 "$init_src" "$tmp/root/init"
# The kernel opens /dev/console before running /init; devtmpfs is not yet mounted.
[ -e "$tmp/root/dev/console" ] || mknod -m 600 "$tmp/root/dev/console" c 5 1
[ -e "$tmp/root/dev/null" ] || mknod -m 666 "$tmp/root/dev/null" c 1 3
mkdir -p "$tmp/root/mnt" "$tmp/root/sys" "$tmp/root/proc" "$tmp/root/run" "$tmp/root/tmp"
for b in fio stress-ng bindfs ntfs-3g mkntfs fuse2fs mkfs.ext4 busybox timeout cmp dmesg \
         mount umount fusermount3 passthrough_ll passthrough null; do
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    chroot "$tmp/root" sh -c "command -v $b >/dev/null" ||
    { echo "debian rootfs: $b missing from the guest tree" >&2; false; }
done

size_mb=$(du -sm "$tmp/root" | cut -f1)
if [ "$arch" = armel ]; then
  # a disk: the tree copied in by mke2fs -d (no loop mount, no root
  # privileges needed for it), mounted by the kernel as / (root=/dev/sda)
  step="ext4 image"
  say "making the ext4 image (${size_mb} MB tree + ${free_mb} MB free)..."
  mke2fs -q -F -t ext4 -L fuselab -d "$tmp/root" "$tmp/rootfs.ext4" "$((size_mb + free_mb))M" >>"$log" 2>&1
  e2fsck -fn "$tmp/rootfs.ext4" >>"$log" 2>&1
  mv -f "$tmp/rootfs.ext4" "$out"
  say "done: $out ($((size_mb + free_mb)) MB, $(du -m "$out" | cut -f1) MB on disk, ${size_mb} MB tree)"
  exit 0
fi
step="cpio"
say "packing cpio (${size_mb} MB uncompressed)..."
(cd "$tmp/root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -6 >"$tmp/rootfs.cpio.gz")
mv -f "$tmp/rootfs.cpio.gz" "$out"
say "done: $out ($(du -h "$out" | cut -f1) compressed, ${size_mb} MB uncompressed)"
