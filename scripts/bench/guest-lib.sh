# SPDX-License-Identifier: GPL-2.0-only
# Helpers for jobs running inside the MVF test VM (sourced).
# Needs MVF_KMOD (directory of the built modules).  Every exec is slow in
# the emulated guest, so these stick to bash builtins where they can.

mvf_step() { printf '==> %s\n' "$*"; }

# mvf_link_name PATH: last component of a symlink's target.
mvf_link_name() {
	local t
	t=$(readlink "$1") || return 1
	echo "${t##*/}"
}

mvf_load_modules() {
	mvf_step "loading mvf_core and mvf-vfio-pci"
	insmod "$MVF_KMOD/drivers/net/ethernet/mvf/mvf_core.ko" || return 1
	insmod "$MVF_KMOD/drivers/vfio/pci/mvf/mvf-vfio-pci.ko" || return 1
}

# The PF's BDF: vendor 0x6d76, device 0x1000.
mvf_pf() {
	local d v i
	for d in /sys/bus/pci/devices/*; do
		read -r v < "$d/vendor"
		read -r i < "$d/device"
		if [ "$v" = 0x6d76 ] && [ "$i" = 0x1000 ]; then
			echo "${d##*/}"
			return 0
		fi
	done
	return 1
}

# mvf_enable_vfs N: enable N VFs on the PF through mvf_core.
mvf_enable_vfs() {
	local pf total
	pf=$(mvf_pf) || { echo "no MVF PF found" >&2; return 1; }
	read -r total < "/sys/bus/pci/devices/$pf/sriov_totalvfs"
	mvf_step "PF $pf (driver $(mvf_link_name "/sys/bus/pci/devices/$pf/driver")):" \
		"enabling $1 of $total VFs"
	echo "$1" > "/sys/bus/pci/devices/$pf/sriov_numvfs" || return 1
}

# mvf_vfs: BDFs of the PF's enabled VFs, in VF order.
mvf_vfs() {
	local pf i=0
	pf=$(mvf_pf) || return 1
	while [ -e "/sys/bus/pci/devices/$pf/virtfn$i" ]; do
		mvf_link_name "/sys/bus/pci/devices/$pf/virtfn$i"
		i=$((i + 1))
	done
}

# mvf_bind_vf BDF: hand one VF to mvf-vfio-pci with driver_override.
mvf_bind_vf() {
	local d=/sys/bus/pci/devices/$1 drv
	if [ -e "$d/driver" ]; then
		echo "$1" > "$d/driver/unbind" || return 1
	fi
	echo mvf-vfio-pci > "$d/driver_override" || return 1
	echo "$1" > /sys/bus/pci/drivers_probe || return 1
	drv=$(mvf_link_name "$d/driver")
	[ "$drv" = mvf-vfio-pci ] || { echo "$1 bound to '$drv'" >&2; return 1; }
	mvf_step "VF $1 -> mvf-vfio-pci (IOMMU group $(mvf_link_name "$d/iommu_group"))"
}

# mvf_setup NUMVFS NBIND: load, enable NUMVFS VFs, bind the first NBIND;
# exports MVF_VFS with the bound BDFs.
mvf_setup() {
	local v n=0
	mvf_load_modules || return 1
	mvf_enable_vfs "$1" || return 1
	MVF_VFS=
	for v in $(mvf_vfs); do
		[ "$n" -lt "$2" ] || break
		mvf_bind_vf "$v" || return 1
		MVF_VFS="$MVF_VFS${MVF_VFS:+ }$v"
		n=$((n + 1))
	done
	[ "$n" = "$2" ] || { echo "only $n VFs to bind" >&2; return 1; }
	export MVF_VFS
}

# mvf_large_vfs: on the PFs after the first, enable the VFs of those whose
# VFs have more than 4 GiB of device memory (BAR 2), bind them and print
# their BDFs, space separated; PFs with smaller VFs are left as they were.
mvf_large_vfs() {
	local d v i first out='' start end flags
	first=$(mvf_pf) || return 1
	for d in /sys/bus/pci/devices/*; do
		read -r v < "$d/vendor"
		read -r i < "$d/device"
		[ "$v" = 0x6d76 ] && [ "$i" = 0x1000 ] || continue
		[ "${d##*/}" != "$first" ] || continue
		read -r i < "$d/sriov_numvfs"
		[ "$i" = 0 ] || continue
		read -r i < "$d/sriov_totalvfs"
		echo "$i" > "$d/sriov_numvfs" || return 1
		v=$(mvf_link_name "$d/virtfn0")
		{ read -r; read -r; read -r start end flags; } \
			< "/sys/bus/pci/devices/$v/resource"
		if [ $((end - start + 1)) -le $((4 << 30)) ]; then
			echo 0 > "$d/sriov_numvfs"
			continue
		fi
		i=0
		while [ -e "$d/virtfn$i" ]; do
			v=$(mvf_link_name "$d/virtfn$i")
			mvf_bind_vf "$v" > /dev/null || return 1
			out="$out${out:+ }$v"
			i=$((i + 1))
		done
	done
	echo "$out"
}

# mvf_reset_vfs WHEN: put every VF of MVF_VFS back into a known state (WHEN,
# e.g. "before mvf_reset_test", only labels the output): a function reset
# through sysfs, or, if that fails or the VF is no longer bound to
# mvf-vfio-pci, unbind and rebind it.  Prints "# reset VFs: BDF how, ..."
# and a TAP "not ok" line for each VF that cannot be brought back; false
# if there was one.
mvf_reset_vfs() {
	local v how list='' bad=0
	for v in $MVF_VFS; do
		how=reset
		if [ ! -e "/sys/bus/pci/drivers/mvf-vfio-pci/$v" ] ||
		   ! { echo 1 > "/sys/bus/pci/devices/$v/reset"; } 2>/dev/null; then
			how=rebound
			if ! mvf_bind_vf "$v" > /dev/null; then
				how=LOST
				bad=1
				echo "not ok reset VF $v $1: cannot rebind it to mvf-vfio-pci"
			fi
		fi
		list="$list${list:+, }$v $how"
	done
	echo "# reset VFs: ${list:-none} ($1)"
	[ "$bad" = 0 ]
}
