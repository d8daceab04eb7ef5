#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the QEMU that emulates the MVF device (-device mvf-pf).
#
#   scripts/bench/build-qemu.sh
#
# Takes Debian trixie's QEMU 10.0.x source (fetched once with apt-get
# source into $MVF_CACHE/qemu), adds the device model from qemu/ and the
# interface header include/linux/mvf/mvf_if.h, configures once and builds
# incrementally.  Logs go to stderr; the last line on stdout is the absolute
# path of qemu-system-x86_64.  A second run with nothing changed only checks.
set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

QDIR=$MVF_CACHE/qemu
DL=$QDIR/dl
MODEL_DIR=hw/misc/mvf		# where the model lives inside the QEMU tree

CONFIGURE_ARGS=(
	--target-list=x86_64-softmmu
	--without-default-features
	--enable-kvm
	--enable-fdt=system
	--disable-docs
	--disable-install-blobs
	--enable-virtfs
	--enable-attr
	--enable-cap-ng
	--python=/usr/bin/python3
)

mkdir -p "$DL"

# 1. Source package, once.  Any qemu_*.dsc already in the cache is used.
dsc=$(ls "$DL"/qemu_*.dsc 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$dsc" ]; then
	log "qemu: fetching trixie source package"
	(cd "$DL" && apt-get source --download-only qemu/trixie) >&2 ||
		die "apt-get source qemu/trixie failed (deb-src for trixie? run scripts/deps.sh)"
	dsc=$(ls "$DL"/qemu_*.dsc 2>/dev/null | sort -V | tail -n1 || true)
	[ -n "$dsc" ] || die "no qemu .dsc after download"
fi
ver=$(basename "$dsc" .dsc)
ver=${ver#qemu_}
SRC=$QDIR/src-$ver
BUILD=$QDIR/build-$ver

# 2. Unpack with Debian's patches applied, then ours (qemu/patches/*.patch,
# in name order).  The tree records which set of our patches it carries;
# when that set changes, a fresh tree is made and synced over the old one
# by content, so that only the files the change touches are rebuilt.
PATCHES=("$MVF_ROOT"/qemu/patches/*.patch)
[ -e "${PATCHES[0]}" ] || PATCHES=()
want_patches=$(cat /dev/null "${PATCHES[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$SRC/.mvf-unpacked" ] ||
   [ "$(cat "$SRC/.mvf-patches" 2>/dev/null)" != "$want_patches" ]; then
	log "qemu: unpacking $ver with ${#PATCHES[@]} patch(es) of ours"
	rm -rf "$SRC.tmp"
	(cd "$DL" && dpkg-source -x "$dsc" "$SRC.tmp") >&2 ||
		die "dpkg-source -x failed"
	for p in "${PATCHES[@]}"; do
		log "qemu: applying $(basename "$p")"
		patch -d "$SRC.tmp" -p1 --forward --quiet < "$p" >&2 ||
			die "qemu: $(basename "$p") does not apply to $ver"
	done
	echo "$want_patches" > "$SRC.tmp/.mvf-patches"
	touch "$SRC.tmp/.mvf-unpacked"
	if [ -f "$SRC/.mvf-unpacked" ]; then
		# Keep the model and the hooks that step 4 adds.
		rsync -r --checksum --delete --exclude "/$MODEL_DIR" \
			--exclude /hw/Kconfig --exclude /hw/misc/meson.build \
			"$SRC.tmp/" "$SRC/" >&2
		rm -rf "$SRC.tmp"
	else
		rm -rf "$SRC"
		mv "$SRC.tmp" "$SRC"
	fi
fi

# 3. The +ds tarball has no edk2 blobs: never try to unpack them.
if grep -q 'unpack_edk2_blobs = bzip2.found()' "$SRC/meson.build"; then
	log "qemu: disabling the edk2 blob unpack"
	sed -i 's/unpack_edk2_blobs = bzip2.found()/unpack_edk2_blobs = false/' \
		"$SRC/meson.build"
fi

# 4. Sync the model and the header into the tree.  rsync --checksum only
# rewrites files whose content changed, so ninja rebuilds just those.
[ -d "$MVF_ROOT/qemu" ] || die "no qemu/ directory in $MVF_ROOT"
mkdir -p "$SRC/$MODEL_DIR"
rsync -r --checksum --delete --exclude mvf_if.h --exclude tests --exclude patches \
	"$MVF_ROOT/qemu/" "$SRC/$MODEL_DIR/" >&2
rsync --checksum "$MVF_ROOT/include/linux/mvf/mvf_if.h" \
	"$SRC/$MODEL_DIR/mvf_if.h" >&2

# Hook it into the tree's Kconfig and meson.build (idempotent).
grep -qx 'source misc/mvf/Kconfig' "$SRC/hw/Kconfig" ||
	echo 'source misc/mvf/Kconfig' >>"$SRC/hw/Kconfig"
grep -qx "subdir('mvf')" "$SRC/hw/misc/meson.build" ||
	echo "subdir('mvf')" >>"$SRC/hw/misc/meson.build"

# 5. Configure once (again only if the arguments change).
want_cfg=$(printf '%s\n' "${CONFIGURE_ARGS[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$BUILD/build.ninja" ] ||
   [ "$(cat "$BUILD/.mvf-configure" 2>/dev/null)" != "$want_cfg" ]; then
	log "qemu: configuring in $BUILD"
	rm -rf "$BUILD"
	mkdir -p "$BUILD"
	(cd "$BUILD" && "$SRC/configure" "${CONFIGURE_ARGS[@]}") >&2 ||
		die "configure failed"
	echo "$want_cfg" >"$BUILD/.mvf-configure"
fi

# 6. Build (incremental; ninja re-runs meson itself when a meson.build or
# Kconfig changed).
log "qemu: building with $MVF_JOBS jobs"
ninja -C "$BUILD" -j"$MVF_JOBS" qemu-system-x86_64 >&2 || die "qemu build failed"

BIN=$BUILD/qemu-system-x86_64
[ -x "$BIN" ] || die "no $BIN after the build"
"$BIN" -device help 2>/dev/null | grep -q '"mvf-pf"' ||
	die "$BIN has no mvf-pf device (CONFIG_MVF_PCI not enabled?)"
log "qemu: ok"
echo "$BIN"
