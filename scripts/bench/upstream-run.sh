#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Run one of upstream's VFIO selftests (built by build-upstream-selftests.sh)
# on MVF devices in the test VM.  Installed as SELFTESTS/upstream/run; each
# test is a link to it named after the test, so that the VM suite runs
# them like our own.  The devices come from the environment the suite sets
# up (scripts/bench/guest-lib.sh): MVF_VFS, the VFs bound to mvf-vfio-pci.
# After the test's own output, a line per IOMMU mode counts its results.
set -uo pipefail

name=${0##*/}
dir=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
bin=$dir/$name
[ -x "$bin" ] || { echo "1..0 # SKIP $name: not built ($bin)"; exit 1; }

read -r -a vfs <<< "${MVF_VFS:-}"
if [ ${#vfs[@]} -lt 4 ]; then
	echo "1..1"
	echo "not ok 1 $name: needs 4 MVF VFs in MVF_VFS, got '${MVF_VFS:-}'"
	exit 1
fi

# spare_pf: an MVF PF other than the suite's first one, bound to mvf_core
# with SR-IOV off (mvf_large_vfs leaves the second one so).
spare_pf() {
	local d v i first=''
	for d in /sys/bus/pci/devices/*; do
		read -r v < "$d/vendor"
		read -r i < "$d/device"
		[ "$v" = 0x6d76 ] && [ "$i" = 0x1000 ] || continue
		[ -n "$first" ] || { first=${d##*/}; continue; }
		read -r i < "$d/sriov_numvfs"
		[ "$i" = 0 ] && [ "$(readlink "$d/driver")" != "" ] &&
			[ "$(basename "$(readlink "$d/driver")")" = mvf_core ] || continue
		echo "${d##*/}"
		return 0
	done
	return 1
}

# pf_to DRIVER PF: rebind PF to DRIVER (vfio-pci or mvf_core).
pf_to() {
	local d=/sys/bus/pci/devices/$2
	[ ! -e "$d/driver" ] || echo "$2" > "$d/driver/unbind" || return 1
	if [ "$1" = vfio-pci ]; then
		echo vfio-pci > "$d/driver_override" || return 1
	else
		echo > "$d/driver_override" || return 1
	fi
	echo "$2" > /sys/bus/pci/drivers_probe || return 1
	[ "$(basename "$(readlink "$d/driver")")" = "$1" ]
}

case "$name" in
vfio_pci_sriov_uapi_test)
	# The PF itself, bound to vfio-pci with SR-IOV allowed: the test
	# creates a VF and opens it with and without the VF token.
	if ! pf=$(spare_pf); then
		echo "1..1"
		echo "not ok 1 $name: no spare MVF PF (bound to mvf_core, SR-IOV off)"
		exit 1
	fi
	modprobe vfio-pci 2>/dev/null
	echo Y > /sys/module/vfio_pci/parameters/enable_sriov || exit 1
	if ! pf_to vfio-pci "$pf"; then
		echo "1..1"
		echo "not ok 1 $name: cannot bind PF $pf to vfio-pci"
		pf_to mvf_core "$pf"
		exit 1
	fi
	trap 'pf_to mvf_core "$pf" || echo "not ok PF $pf not back on mvf_core"' EXIT
	args=("$pf") ;;
vfio_pci_migration_test)
	# Across two VFs: source and destination.
	args=("${vfs[0]}" "${vfs[1]}") ;;
vfio_pci_device_init_perf_test)
	# Opens the devices in parallel threads, one per device.
	args=("${vfs[@]:0:4}") ;;
*)
	args=("${vfs[0]}") ;;
esac

echo "# $name on ${args[*]}"
log=$(mktemp)
"$bin" "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Results per IOMMU mode: the harness names them FIXTURE.VARIANT.TEST,
# the variant being the mode or MODE_SOMETHING.  Longest names first, as
# "iommufd_" starts "iommufd_compat_type1_" too.
modes=(iommufd_compat_type1v2 iommufd_compat_type1 vfio_type1v2_iommu
       vfio_type1_iommu iommufd)
declare -A ok=() bad=() skip=()
while IFS= read -r l; do
	case "$l" in "ok "* | "not ok "*) ;; *) continue ;; esac
	for mode in "${modes[@]}"; do
		case "$l" in *".$mode."* | *".${mode}_"*) ;; *) continue ;; esac
		case "$l" in
		"ok "*"# SKIP"*) skip[$mode]=$((${skip[$mode]:-0} + 1)) ;;
		"ok "*) ok[$mode]=$((${ok[$mode]:-0} + 1)) ;;
		*) bad[$mode]=$((${bad[$mode]:-0} + 1)) ;;
		esac
		break
	done
done < "$log"
for mode in vfio_type1_iommu vfio_type1v2_iommu iommufd_compat_type1 \
	    iommufd_compat_type1v2 iommufd; do
	[ -n "${ok[$mode]:-}${bad[$mode]:-}${skip[$mode]:-}" ] || continue
	echo "# upstream $name $mode: ${ok[$mode]:-0} passed, ${bad[$mode]:-0} failed, ${skip[$mode]:-0} skipped"
done
rm -f "$log"
exit "$rc"
