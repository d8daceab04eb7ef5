#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the MVF drivers with DKMS (as root):
#   scripts/dkms/install.sh [DKMS-OPTION...]
# copies what the build needs (dkms.conf, Kbuild, include/, drivers/,
# scripts/kprobe/, scripts/dkms/) to /usr/src/mvf-<version>, then runs
# dkms add, build and install for it: for the running kernel, or for the
# one named with -k.  <version> is the device interface version,
# MVF_IF_VERSION_MAJOR.MINOR in include/linux/mvf/mvf_if.h, and must be
# dkms.conf's PACKAGE_VERSION.  If that version is in the dkms tree
# already, it is removed first (from every kernel), so that a second run
# installs the source as it is now.
#
# DKMS-OPTIONs are dkms's own: --sourcetree, --dkmstree and --installtree
# go to every dkms command (and the copy goes to --sourcetree's
# directory), --no-depmod to remove and install, the others (-k VER,
# --kernelsourcedir DIR, -j N, ...) to build and install.  The host check
# dkms-build (./mvf check dkms-build) runs this with private trees.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "dkms-install: error: $*" >&2; exit 1; }

hdr=$root/include/linux/mvf/mvf_if.h
ver=$(awk '$1 == "#define" && $2 == "MVF_IF_VERSION_MAJOR" { ma = $3 }
	   $1 == "#define" && $2 == "MVF_IF_VERSION_MINOR" { mi = $3 }
	   END { if (ma != "" && mi != "") print ma "." mi }' "$hdr")
[ -n "$ver" ] || die "no MVF_IF_VERSION_MAJOR/MINOR in $hdr"
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$root/dkms.conf")
conf_ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$root/dkms.conf")
[ -n "$name" ] || die "no PACKAGE_NAME in $root/dkms.conf"
[ "$conf_ver" = "$ver" ] ||
	die "dkms.conf's PACKAGE_VERSION is \"$conf_ver\", the interface version in mvf_if.h $ver"
command -v dkms > /dev/null || die "no dkms (apt-get install dkms)"

trees=() rm_opts=() opts=() src=/usr/src dtree=/var/lib/dkms
while [ $# -gt 0 ]; do
	case "$1" in
	--sourcetree | --dkmstree | --installtree)
		[ $# -ge 2 ] || die "$1 needs a directory"
		[ "$1" != --sourcetree ] || src=$2
		[ "$1" != --dkmstree ] || dtree=$2
		trees+=("$1" "$2")
		shift 2 ;;
	--sourcetree=* | --dkmstree=* | --installtree=*)
		[ "${1%%=*}" != --sourcetree ] || src=${1#*=}
		[ "${1%%=*}" != --dkmstree ] || dtree=${1#*=}
		trees+=("$1")
		shift ;;
	--no-depmod)
		rm_opts+=("$1")
		opts+=("$1")
		shift ;;
	*)
		opts+=("$1")
		shift ;;
	esac
done

if [ -n "$(dkms status "$name/$ver" "${trees[@]}")" ]; then
	echo "dkms-install: removing the $name/$ver there is first"
	dkms remove "$name/$ver" --all "${trees[@]}" "${rm_opts[@]}" ||
		die "dkms remove $name/$ver failed"
fi

dst=$src/$name-$ver
echo "dkms-install: copying the source to $dst"
rm -rf "$dst"
mkdir -p "$dst"
# Only sources: a build in the repo (make M=...) leaves its products there.
(cd "$root" &&
 tar --owner=0 --group=0 --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
	--exclude='*.mod.c' --exclude='.*.cmd' --exclude=modules.order \
	--exclude=Module.symvers --exclude=mvf_compat.h --exclude=.kprobe \
	-cf - dkms.conf Kbuild include drivers scripts/kprobe scripts/dkms) |
	tar -C "$dst" -xf - || die "copying the source to $dst failed"

dkms add "$name/$ver" "${trees[@]}" || die "dkms add $name/$ver failed"
dkms build "$name/$ver" "${trees[@]}" "${opts[@]}" ||
	die "dkms build $name/$ver failed, see $dtree/$name/$ver/build/make.log"
dkms install "$name/$ver" "${trees[@]}" "${opts[@]}" ||
	die "dkms install $name/$ver failed"
dkms status "$name/$ver" "${trees[@]}"
