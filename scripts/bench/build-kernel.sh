#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build (or reuse) the MVF test kernel.  The build tree is kept in the cache,
# keyed on the linux-source version and the config fragment, because the MVF
# modules are built against it out of tree.  Prints the tree's path.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$(kernel_dir)
if [ -f "$out/.mvf-done" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out" "$out.tmp"
mkdir -p "$out.tmp"
log "kernel: unpacking $(linux_src_version) into $out"
tar -C "$out.tmp" --strip-components=1 -xf "$(linux_src_tarball)"
cd "$out.tmp"
make -s x86_64_defconfig kvm_guest.config >/dev/null
scripts/kconfig/merge_config.sh -m .config "$MVF_ROOT/scripts/bench/kernel.config" >/dev/null
make -s olddefconfig
# Every =y/=m the fragment asks for must have survived olddefconfig.
miss=0
while IFS= read -r l; do
	case "$l" in CONFIG_*=[ym]) ;; *) continue ;; esac
	grep -qx "$l" .config || { log "kernel: config lost: $l"; miss=1; }
done < "$MVF_ROOT/scripts/bench/kernel.config"
[ $miss = 0 ] || die "kernel config fragment not satisfied"
log "kernel: building with -j$MVF_JOBS (cold: about 20 minutes on 2 cores)"
t0=$(date +%s)
# Quiet make, but a line of progress every minute: a cold build is long.
make -s -j"$MVF_JOBS" bzImage modules > "$out.tmp/mvf-build.log" 2>&1 &
mk=$!
while ! wait_for "$mk" 60; do
	log "kernel: building, $(( ($(date +%s) - t0) / 60 )) min," \
	    "$(find . -name '*.o' -newer .config 2>/dev/null | wc -l) objects so far"
done
wait "$mk" || { tail -30 "$out.tmp/mvf-build.log" >&2
		 die "kernel build failed, see $out.tmp/mvf-build.log"; }
make -s modules_install INSTALL_MOD_PATH="$PWD/mvf-mods" >/dev/null
make -s headers_install INSTALL_HDR_PATH="$PWD/mvf-hdr" >/dev/null
echo "$(( $(date +%s) - t0 ))" > .mvf-build-seconds
log "kernel: built in $(cat .mvf-build-seconds) s"
touch .mvf-done
cd /
mv "$out.tmp" "$out"
echo "$out"
