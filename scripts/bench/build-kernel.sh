#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build (or reuse) the MVF test kernel.  The build tree is kept in the cache,
# keyed on the linux-source version, the config fragment and the recipe,
# because the MVF modules are built against it out of tree.  Our kernel
# patches (patches/linux/*.patch, in name order) are applied on top; when
# that set changes, a fresh tree is synced over the old one by content, so
# only what the patches touch is rebuilt.  Prints the tree's path.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$(kernel_dir)
PATCHES=("$MVF_ROOT"/patches/linux/*.patch)
[ -e "${PATCHES[0]}" ] || PATCHES=()
want_patches=$(cat /dev/null "${PATCHES[@]}" | sha256sum | cut -c1-16)

if [ -f "$out/.mvf-done" ] &&
   [ "$(cat "$out/.mvf-patches" 2>/dev/null)" = "$want_patches" ]; then
	echo "$out"
	exit 0
fi

# unpack DIR: the source with our patches, in DIR.
unpack() {
	rm -rf "$1"
	mkdir -p "$1"
	tar -C "$1" --strip-components=1 -xf "$(linux_src_tarball)"
	for p in "${PATCHES[@]}"; do
		log "kernel: applying $(basename "$p")"
		patch -d "$1" -p1 --forward --quiet < "$p" >&2 ||
			die "kernel: $(basename "$p") does not apply to $(linux_src_version)"
	done
}

if [ -f "$out/.mvf-done" ]; then
	log "kernel: our patch set changed, rebuilding what it touches"
	unpack "$out.new"
	rsync -r --checksum "$out.new/" "$out/" >&2
	rm -rf "$out.new" "$out/.mvf-done"
	cd "$out"
else
	rm -rf "$out"
	log "kernel: unpacking $(linux_src_version) into $out"
	unpack "$out.tmp"
	cd "$out.tmp"
	make -s x86_64_defconfig kvm_guest.config >/dev/null
	scripts/kconfig/merge_config.sh -m .config \
		"$MVF_ROOT/scripts/bench/kernel.config" >/dev/null
	make -s olddefconfig
	# Every =y/=m the fragment asks for must have survived olddefconfig.
	miss=0
	while IFS= read -r l; do
		case "$l" in CONFIG_*=[ym]) ;; *) continue ;; esac
		grep -qx "$l" .config || { log "kernel: config lost: $l"; miss=1; }
	done < "$MVF_ROOT/scripts/bench/kernel.config"
	[ $miss = 0 ] || die "kernel config fragment not satisfied"
fi

log "kernel: building with -j$MVF_JOBS (cold: about 20-40 minutes on 2 cores)"
t0=$(date +%s)
# Quiet make, but a line of progress every minute: a cold build is long.
make -s -j"$MVF_JOBS" bzImage modules > mvf-build.log 2>&1 &
mk=$!
while ! wait_for "$mk" 60; do
	log "kernel: building, $(( ($(date +%s) - t0) / 60 )) min," \
	    "$(find . -name '*.o' -newer .config 2>/dev/null | wc -l) objects so far"
done
wait "$mk" || { tail -30 mvf-build.log >&2
		 die "kernel build failed, see $PWD/mvf-build.log"; }
rm -rf mvf-mods mvf-hdr
make -s modules_install INSTALL_MOD_PATH="$PWD/mvf-mods" >/dev/null
make -s headers_install INSTALL_HDR_PATH="$PWD/mvf-hdr" >/dev/null
echo "$(( $(date +%s) - t0 ))" > .mvf-build-seconds
log "kernel: built in $(cat .mvf-build-seconds) s"
echo "$want_patches" > .mvf-patches
touch .mvf-done
if [ "$PWD" = "$out.tmp" ]; then
	cd /
	mv "$out.tmp" "$out"
fi
echo "$out"
