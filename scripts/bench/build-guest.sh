#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build mvf-guest, the freestanding multiboot guest of issue 8
# (tools/testing/selftests/vfio/guest/), with the host's gcc and ld into
# $MVF_CACHE/guest.  Needs no kernel tree.  Extra arguments go to make
# (e.g. V=1, GUEST_CFLAGS=...).  Prints the path of the image, to boot with
# qemu-system-x86_64 -M q35 -kernel <image> [-append "jobs=N ..."].
set -euo pipefail
. "$(dirname "$0")/common.sh"

out="$MVF_CACHE/guest"
mkdir -p "$out"
make -s -C "$MVF_ROOT/tools/testing/selftests/vfio/guest" OUTPUT="$out" \
	REPO_ROOT="$MVF_ROOT" "$@" all >&2 ||
	die "guest: the build failed (its errors are above)"
[ -f "$out/mvf-guest.elf" ] || die "guest: $out/mvf-guest.elf was not built"
echo "$out/mvf-guest.elf"
