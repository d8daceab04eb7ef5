#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the MVF VFIO selftests, their user library and the demo against the
# test kernel's uAPI headers and kselftest harness; upstream's VFIO
# selftests with MVF's plugin (build-upstream-selftests.sh); the bench's own
# guest-side check (bench/mmio-race); and install the stock-QEMU migration
# test and demo with their guest (mvf_qemu_migrate_test, mvf_qemu_demo,
# mvf-guest.elf).  Needs the kernel tree of scripts/bench/build-kernel.sh
# (built first if missing).  Extra arguments are passed to make (e.g.
# V=1).  Prints the output directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$(kernel_dir)
if [ ! -f "$kdir/.mvf-done" ]; then
	[ -d "$kdir.tmp" ] && die "kernel tree $kdir is still being built"
	kdir=$("$MVF_ROOT/scripts/bench/build-kernel.sh")
fi
hdr="$kdir/mvf-hdr/include"
ksft="$kdir/tools/testing/selftests"
[ -f "$hdr/linux/iommufd.h" ] || die "no installed uAPI headers in $hdr"
[ -f "$ksft/kselftest_harness.h" ] || die "no kselftest_harness.h in $ksft"

out="$MVF_CACHE/selftests"
mkdir -p "$out"
log "selftests: building into $out"
make -C "$MVF_ROOT/tools/testing/selftests/vfio" -j"$MVF_JOBS" \
	OUTPUT="$out" REPO_ROOT="$MVF_ROOT" KSFT_DIR="$ksft" \
	KHDR_INCLUDES="-isystem $hdr" "$@" all >&2
# Upstream's VFIO selftests, with our driver plugin and migration tests.
"$MVF_ROOT/scripts/bench/build-upstream-selftests.sh" "$kdir" "$out"
# The bench's own check of the emulator (scripts/bench/mmio-race.c).
mkdir -p "$out/bench"
src=$MVF_ROOT/scripts/bench/mmio-race.c
if [ ! "$out/bench/mmio-race" -nt "$src" ]; then
	gcc -O2 -Wall -Wextra -Werror -o "$out/bench/mmio-race" "$src" -lpthread >&2 ||
		die "building $src failed"
fi
# The stock-QEMU tests (issue 8): mvf-guest, the QMP driver, the test and
# the demo, side by side so that each finds the others next to itself.
guest=$("$MVF_ROOT/scripts/bench/build-guest.sh")
qsrc=$MVF_ROOT/tools/testing/selftests/vfio/qemu
install -m 0644 "$guest" "$out/mvf-guest.elf"
install -m 0644 "$qsrc/mvf_qemu.py" "$out/mvf_qemu.py"
install -m 0755 "$qsrc/mvf_qemu_migrate_test.py" "$out/mvf_qemu_migrate_test"
install -m 0755 "$qsrc/mvf_qemu_demo.py" "$out/mvf_qemu_demo"
# libvirt's managed mode (issue 11): Debian's libvirtd 11.3 with the same guest
install -m 0755 "$qsrc/mvf_libvirt_test.py" "$out/mvf_libvirt_test"
echo "$out"
