#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Debian's headers for its stock 6.12 kernel, to build the modules against
# (the host check build-6.12).  Installing linux-headers-6.12-amd64 would
# pull in a linux-image, so the three packages it needs are downloaded with
# apt-get download (from the machine's own apt sources) and unpacked into
# the cache, never installed; the absolute paths in them are pointed into
# the unpacked root.  Once per version: a warm run only asks apt-cache.
# Prints the headers dir, the one to pass to make -C.
set -euo pipefail
. "$(dirname "$0")/common.sh"

META=linux-headers-6.12-amd64
base=$MVF_CACHE/headers-6.12

# The version the meta-package's candidate depends on, e.g. 6.12.117+deb12.
ver=$(apt-cache depends "$META" 2>/dev/null |
      sed -n 's/^ *|\{0,1\}Depends: linux-headers-\(6\.12\..*\)-amd64$/\1/p' |
      head -1) || ver=''
if [ -z "$ver" ]; then
	# No bookworm-security in the apt sources: the one unpacked before.
	for d in "$base"/*/.mvf-done; do
		[ -f "$d" ] || continue
		d=${d%/.mvf-done}
		ver=${d##*/}
	done
	[ -n "$ver" ] ||
		die "headers-6.12: apt-cache knows no $META (bookworm-security missing from the apt sources?)"
	log "headers-6.12: apt-cache knows no $META, using the cached $ver"
fi
root=$base/$ver
hdir=$root/usr/src/linux-headers-$ver-amd64
if [ -f "$root/.mvf-done" ]; then
	echo "$hdir"
	exit 0
fi

pkgs=("linux-headers-$ver-amd64" "linux-headers-$ver-common" "linux-kbuild-$ver")
tmp=$root.tmp
rm -rf "$tmp"
mkdir -p "$tmp/debs"
log "headers-6.12: downloading ${pkgs[*]}"
(cd "$tmp/debs" && apt-get -q -o APT::Sandbox::User=root download "${pkgs[@]}") \
	> "$tmp/download.log" 2>&1 ||
	die "headers-6.12: apt-get download of ${pkgs[0]} and co. failed, see $tmp/download.log"
for p in "${pkgs[@]}"; do
	ls "$tmp/debs/${p}"_*.deb >/dev/null 2>&1 ||
		die "headers-6.12: $p was not downloaded, see $tmp/download.log"
done
log "headers-6.12: unpacking into $root"
for d in "$tmp"/debs/*.deb; do
	dpkg-deb -x "$d" "$tmp" || die "headers-6.12: dpkg-deb -x $(basename "$d") failed"
done
rm -rf "$tmp/debs"

# The packages refer to each other by absolute paths: the amd64 Makefile
# includes /usr/src/linux-headers-<ver>-common/Makefile, and
# /lib/modules/<ver>-amd64/{build,source} are absolute symlinks.  Point
# them into the root (the other symlinks, to /usr/lib/linux-kbuild-<ver>,
# are relative already).
grep -rlI --include='Makefile*' -e /usr/src/linux- -e /usr/lib/linux-kbuild- \
	"$tmp/usr/src" 2>/dev/null |
	while IFS= read -r f; do
		sed -i -e "s|/usr/src/linux-|$root/usr/src/linux-|g" \
		       -e "s|/usr/lib/linux-kbuild-|$root/usr/lib/linux-kbuild-|g" "$f"
	done
find "$tmp" -type l -lname '/*' | while IFS= read -r l; do
	ln -sfn "$root$(readlink "$l")" "$l"
done
[ -f "$tmp/usr/src/linux-headers-$ver-amd64/.config" ] &&
[ -x "$tmp/usr/lib/linux-kbuild-$ver/scripts/basic/fixdep" ] ||
	die "headers-6.12: $tmp does not look like unpacked kernel headers"

rm -rf "$root"
mv "$tmp" "$root"
touch "$root/.mvf-done"
# Older versions are of no more use.
for d in "$base"/*; do
	[ "$d" = "$root" ] || rm -rf "$d"
done
log "headers-6.12: $ver ready"
echo "$hdir"
