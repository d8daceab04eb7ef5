#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install everything the MVF bench needs on a Debian bookworm host.
# Idempotent: a second run only checks.  Needs root (apt-get).
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench/common.sh"

STAMP_PKGS="build-essential bc bison flex libelf-dev libssl-dev dwarves cpio kmod
 ninja-build libglib2.0-dev libfdt-dev libpixman-1-dev
 python3-venv pkg-config libcap-ng-dev libattr1-dev seabios qemu-system-data
 sparse dpkg-dev xz-utils zstd rsync patch dkms uuid-dev"
# uuid-dev: upstream's VFIO selftests library links libuuid (VF tokens).
# qemu-system-x86: Debian's own QEMU 10.0, unmodified, for the stock-VMM
# tests of issue 8 (it runs inside the test VM; our build is separate).
BPO_PKGS="meson python3-pycotap qemu-system-x86"
# libvirt 11.3 for the managed-hostdev test (issue 11): bookworm's 9.0 does
# not pick a VFIO variant driver from modules.alias (that came in 10.0).
# Installed as PKG/bookworm-backports, not with -t: -t would take every
# dependency from backports too (systemd 254 for systemd-container).
LIBVIRT_PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"

have_all() {
	local p
	for p in $STAMP_PKGS $BPO_PKGS $LIBVIRT_PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || return 1
	done
	# meson must be >= 1.5 (the backports one)
	meson --version 2>/dev/null | awk -F. '{exit !($1 > 1 || ($1 == 1 && $2 >= 5))}' ||
		return 1
	# and QEMU 10 (the backports one, not bookworm's 7.2)
	/usr/bin/qemu-system-x86_64 --version 2>/dev/null |
		awk '/QEMU emulator version/ {split($4, v, "."); ok = v[1] >= 10} END {exit !ok}' ||
		return 1
	# and libvirt 10 or later (the backports one, not bookworm's 9.0)
	/usr/sbin/libvirtd --version 2>/dev/null |
		awk '{split($NF, v, "."); ok = v[1] >= 10} END {exit !ok}'
}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

add_sources() {
	local f=/etc/apt/sources.list.d/mvf-bench.sources uri
	[ -f "$f" ] && return 0
	uri=$(debian_mirror | head -1)
	[ -n "$uri" ] ||
		{ echo "deps: no bookworm entry in the apt configuration" >&2; exit 1; }
	echo "deps: adding bookworm-backports and trixie deb-src from $uri" >&2
	$SUDO tee "$f" >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	APT_UPDATED=
}

APT_UPDATED=
apt_update() {
	[ -n "$APT_UPDATED" ] && return 0
	# Third-party lists on some images are unreachable: do not let them
	# fail the whole update, the install below tells if Debian's worked.
	$SUDO apt-get update -q || true
	APT_UPDATED=1
}

add_sources
if ! have_all; then
	apt_update
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $STAMP_PKGS
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports $BPO_PKGS
	# shellcheck disable=SC2046
	$SUDO apt-get install -y -q --no-install-recommends \
		$(printf '%s/bookworm-backports ' $LIBVIRT_PKGS)
	have_all || { echo "deps: packages still missing" >&2; exit 1; }
fi
# Make sure the trixie deb-src index is there for the QEMU source.
if ! ls /var/lib/apt/lists/*trixie*Sources* >/dev/null 2>&1; then
	APT_UPDATED=
	apt_update
fi
# The test kernel's source: Debian's newest linux-source, from
# trixie-backports.  It is an arch-all package holding one tarball, so on
# bookworm it is downloaded and unpacked into the cache, never installed
# (nothing of trixie's lands on this machine).  A private apt state
# directory is used, so the machine's own sources and lists stay as they are.
fetch_linux_source() {
	local dir=$MVF_CACHE/src apt=$MVF_CACHE/apt uri deb
	[ -f "$dir/$LINUX_SRC_PKG.tar.xz" ] && [ -f "$dir/$LINUX_SRC_PKG.version" ] &&
		return 0
	uri=$(debian_mirror | head -1)
	[ -n "$uri" ] ||
		{ echo "deps: no bookworm entry in the apt configuration" >&2; exit 1; }
	echo "deps: downloading $LINUX_SRC_PKG from trixie-backports at $uri" >&2
	mkdir -p "$apt/lists/partial" "$apt/cache" "$dir"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main" \
		>"$apt/sources.list"
	local o=(-q -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		 -o "Dir::Etc::SourceList=$apt/sources.list"
		 -o Dir::Etc::SourceParts=/dev/null -o Debug::NoLocking=1
		 -o APT::Sandbox::User=root)
	apt-get "${o[@]}" update >&2 ||
		{ echo "deps: apt-get update of trixie-backports failed" >&2; exit 1; }
	rm -f "$dir"/"$LINUX_SRC_PKG"_*.deb
	(cd "$dir" && apt-get "${o[@]}" download "$LINUX_SRC_PKG") >&2 ||
		{ echo "deps: apt-get download $LINUX_SRC_PKG failed" >&2; exit 1; }
	deb=$(ls "$dir"/"$LINUX_SRC_PKG"_*.deb)
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO "./usr/src/$LINUX_SRC_PKG.tar.xz" >"$dir/$LINUX_SRC_PKG.tar.xz.tmp"
	mv "$dir/$LINUX_SRC_PKG.tar.xz.tmp" "$dir/$LINUX_SRC_PKG.tar.xz"
	dpkg-deb -f "$deb" Version >"$dir/$LINUX_SRC_PKG.version"
	rm -f "$deb"
}
fetch_linux_source
# The libvirt test (mvf_libvirt_test) gives libvirt a modules.alias for the
# test kernel on a tmpfs mounted at /lib/modules in the VM, whose root is
# this machine's, read-only: the mount point must exist.  Every Debian
# system with a kernel has it; a container may not.
[ -d /lib/modules ] || $SUDO mkdir -p /lib/modules
echo "deps: ok"
