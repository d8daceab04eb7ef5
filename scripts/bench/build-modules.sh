#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build mvf_core.ko and mvf-vfio-pci.ko against the test kernel.  The sources
# are copied to the cache first so the repo stays free of build products.
# Extra make arguments are passed on (e.g. C=2 for sparse).
# Prints the directory that holds the two .ko files.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$("$MVF_ROOT/scripts/bench/build-kernel.sh")
out="$MVF_CACHE/kmod"
mkdir -p "$out"
rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
	--exclude='*.mod*' --exclude=modules.order --exclude=Module.symvers \
	--filter='P *.o' --filter='P *.ko' --filter='P .*.cmd' --filter='P *.mod*' \
	--filter='P modules.order' --filter='P Module.symvers' \
	"$MVF_ROOT/Kbuild" "$MVF_ROOT/include" "$MVF_ROOT/drivers" "$out/"
make -s -C "$kdir" M="$out" CONFIG_MVF_CORE=m CONFIG_MVF_VFIO_PCI=m \
	W=1 -j"$MVF_JOBS" "$@" modules >&2
for m in drivers/net/ethernet/mvf/mvf_core.ko drivers/vfio/pci/mvf/mvf-vfio-pci.ko; do
	[ -f "$out/$m" ] || die "modules: $m was not built"
done
echo "$out"
