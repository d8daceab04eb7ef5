#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build upstream's VFIO selftests (tools/testing/selftests/vfio of the test
# kernel's tree) with what MVF adds to them: the mvf driver plugin, the
# migration helpers and vfio_pci_migration_test.  Their tree is left as it
# is: a copy of the parts the build needs is assembled under the cache, our
# new files are put in at the same paths, and the small changes to
# upstream's own files are patches/selftests/*.patch.  Installs the
# binaries into $OUT/upstream and, for each test, a link named after it
# to scripts/bench/upstream-run.sh, which picks its devices in the VM.
#
#   build-upstream-selftests.sh KDIR OUT
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$1
out=$2
hdr="$kdir/mvf-hdr/include"
ksft=tools/testing/selftests
[ -d "$kdir/$ksft/vfio/lib" ] || die "no upstream VFIO selftests in $kdir"

# Our files in upstream's layout: new there, so no patch carries them.
OURS="include/linux/mvf/mvf_if.h
$ksft/vfio/lib/drivers/mvf/mvf.c
$ksft/vfio/lib/include/libvfio/vfio_pci_migration.h
$ksft/vfio/lib/vfio_pci_migration.c
$ksft/vfio/vfio_pci_migration_test.c"

tree=$MVF_CACHE/upstream-selftests
rm -rf "$tree"
mkdir -p "$tree/$ksft" "$tree/scripts" "$tree/tools/arch/x86"
# tools/include holds links into the kernel's include/: copy what they name.
cp -aL "$kdir/tools/include" "$tree/tools/"
cp -aL "$kdir/tools/arch/x86/include" "$tree/tools/arch/x86/"
cp -aL "$kdir/$ksft"/{lib.mk,kselftest.h,kselftest_harness.h,kselftest,vfio} \
	"$tree/$ksft/"
cp "$kdir/scripts/subarch.include" "$tree/scripts/"
while read -r f; do
	[ -f "$tree/$f" ] && die "upstream-selftests: $f is upstream's, not ours: make it a patch"
	install -D -m 0644 "$MVF_ROOT/$f" "$tree/$f"
done <<< "$OURS"
for p in "$MVF_ROOT"/patches/selftests/*.patch; do
	patch -d "$tree" -p1 --quiet --no-backup-if-mismatch < "$p" >&2 ||
		die "upstream-selftests: $(basename "$p") does not apply to $kdir"
done

log "upstream-selftests: building into $out/upstream"
mkdir -p "$out/upstream"
make -C "$tree/$ksft/vfio" -j"$MVF_JOBS" KHDR_INCLUDES="-isystem $hdr" \
	OUTPUT="$out/upstream" >&2 || die "upstream-selftests: build failed"

# The tests, as the VM suite sees them: links to the runner.
install -m 0755 "$MVF_ROOT/scripts/bench/upstream-run.sh" "$out/upstream/run"
for t in $(sed -n 's/^TEST_GEN_PROGS += //p' "$tree/$ksft/vfio/Makefile"); do
	[ -x "$out/upstream/$t" ] || die "upstream-selftests: $t was not built"
	ln -sfn upstream/run "$out/$t"
done
