#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build mvf_core.ko and mvf-vfio-pci.ko against the test kernel, or with
# --kdir DIR --out DIR against another kernel build dir (e.g. Debian's 6.12
# headers, see fetch-headers.sh) in another cache dir.  The sources are
# copied to the cache first so the repo stays free of build products, and
# the kernel feature probes (kprobe.sh) write mvf_compat.h into the copy.
# Extra make arguments are passed on (e.g. C=2 for sparse).
# Prints the directory that holds the two .ko files.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir='' out="$MVF_CACHE/kmod"
while [ $# -gt 0 ]; do
	case "$1" in
	--kdir) kdir=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) break ;;
	esac
done
[ -n "$kdir" ] || kdir=$("$MVF_ROOT/scripts/bench/build-kernel.sh")
mkdir -p "$out"
rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
	--exclude='*.mod*' --exclude=modules.order --exclude=Module.symvers \
	--filter='P *.o' --filter='P *.ko' --filter='P .*.cmd' --filter='P *.mod*' \
	--filter='P modules.order' --filter='P Module.symvers' \
	--filter='P mvf_compat.h' \
	"$MVF_ROOT/Kbuild" "$MVF_ROOT/include" "$MVF_ROOT/drivers" "$out/"
"$MVF_ROOT/scripts/bench/kprobe.sh" "$kdir" "$out/mvf_compat.h"
make -s -C "$kdir" M="$out" CONFIG_MVF_CORE=m CONFIG_MVF_VFIO_PCI=m \
	W=1 -j"$MVF_JOBS" "$@" modules >&2 ||
	die "modules: the build against $kdir failed (its errors are above)"
for m in drivers/net/ethernet/mvf/mvf_core.ko drivers/vfio/pci/mvf/mvf-vfio-pci.ko; do
	[ -f "$out/$m" ] || die "modules: $m was not built"
done
echo "$out"
