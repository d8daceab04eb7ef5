#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# A sparse that can check the test kernel's modules.  Linux 7.x uses
# __typeof_unqual__, which bookworm's (and trixie's) sparse 0.6.4 does not
# know; the kernel then skips the checker with only a make warning, so
# C=2 would check nothing.  Debian unstable carries sparse 0.6.5~rc1,
# which does: its source package is fetched once (a private apt state
# directory, the mirror from the machine's apt configuration) and built
# in the cache, never installed.  Prints the path of the sparse binary.
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$MVF_CACHE/sparse
done=$(ls "$dir"/src-*/.mvf-done 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$done" ]; then
	echo "${done%/.mvf-done}/sparse"
	exit 0
fi

uri=$(debian_mirror | head -1)
[ -n "$uri" ] || die "sparse: no bookworm entry in the apt configuration"
log "sparse: fetching Debian unstable's sparse source"
apt=$dir/apt
mkdir -p "$apt/lists/partial" "$dir/dl"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" \
	> "$apt/sources.list"
o=(-q -o "Dir::State::Lists=$apt/lists" -o "Dir::Etc::SourceList=$apt/sources.list"
   -o Dir::Etc::SourceParts=/dev/null -o Debug::NoLocking=1
   -o APT::Sandbox::User=root)
apt-get "${o[@]}" update >&2 || die "sparse: apt-get update of sid sources failed"
(cd "$dir/dl" && apt-get "${o[@]}" source --download-only sparse) >&2 ||
	die "sparse: apt-get source sparse (sid) failed"
dsc=$(ls "$dir"/dl/sparse_*.dsc | sort -V | tail -1)
ver=$(basename "$dsc" .dsc)
ver=${ver#sparse_}
rm -rf "$dir/src-$ver"
# Debian's patches only adapt the packaging to unstable's compiler.
(cd "$dir/dl" && dpkg-source -x --skip-patches "$dsc" "$dir/src-$ver") >&2 ||
	die "sparse: dpkg-source -x $dsc failed"
log "sparse: building $ver"
make -C "$dir/src-$ver" -j"$MVF_JOBS" CC=gcc sparse HAVE_LIBXML=no \
	HAVE_GTK=no HAVE_LLVM=no > "$dir/build.log" 2>&1 ||
	die "sparse: build of $ver failed, see $dir/build.log"
touch "$dir/src-$ver/.mvf-done"
echo "$dir/src-$ver/sparse"
