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
	MVF_NUMVFS=$1
	export MVF_VFS MVF_NUMVFS
}

# mvf_restore_pf: the first PF bound to mvf_core with MVF_NUMVFS VFs, as
# mvf_setup left it, after a test that unbound it or disabled SR-IOV and
# stopped before it put things back.  Prints what it did; false if it
# could not.
mvf_restore_pf() {
	local pf d n drv
	pf=$(mvf_pf) || return 1
	d=/sys/bus/pci/devices/$pf
	drv=$(mvf_link_name "$d/driver" 2> /dev/null)
	if [ "$drv" != mvf_core ]; then
		if [ -n "$drv" ]; then
			echo "$pf" > "$d/driver/unbind" || return 1
		fi
		echo "$pf" > /sys/bus/pci/drivers/mvf_core/bind || return 1
		echo "# PF $pf bound to mvf_core again"
	fi
	read -r n < "$d/sriov_numvfs" || return 1
	if [ -n "$MVF_NUMVFS" ] && [ "$n" != "$MVF_NUMVFS" ]; then
		if [ "$n" != 0 ]; then
			echo 0 > "$d/sriov_numvfs" || return 1
		fi
		echo "$MVF_NUMVFS" > "$d/sriov_numvfs" || return 1
		echo "# PF $pf: $MVF_NUMVFS VFs enabled again"
	fi
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

# mvf_reset_vfs WHEN: put the PF (mvf_restore_pf) and every VF of MVF_VFS
# back into a known state (WHEN, e.g. "before mvf_reset_test", only labels
# the output): a function reset
# through sysfs, or, if that fails or the VF is no longer bound to
# mvf-vfio-pci, unbind and rebind it.  Prints "# reset VFs: BDF how, ..."
# and a TAP "not ok" line for each VF that cannot be brought back; false
# if there was one.
mvf_reset_vfs() {
	local v how list='' bad=0
	if ! mvf_restore_pf; then
		echo "not ok restore the PF $1: not bound to mvf_core with ${MVF_NUMVFS:-its} VFs"
		bad=1
	fi
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

# ---- the host channel (vm-run.sh's host-relay.py) ----
# A job asks the host to run a QMP command on the VM's own QEMU: the
# request and the answer are files in /tmp/out/host-channel (the host's
# <out>/host-channel, 9p without caching), written under a dot name and
# renamed into place.  MVF_HOST_DIR overrides the directory.
MVF_HOST_SEQ=0

# mvf_host_qmp JSON [SECONDS]: run the QMP command JSON ({"execute": ...})
# on the host; prints QEMU's answer ({"return": ...} or {"error": ...}).
# Status 0 on "return", 1 on "error", 2 if there is no channel or no
# answer within SECONDS (default 30).
mvf_host_qmp() {
	local d=${MVF_HOST_DIR:-/tmp/out/host-channel} id rep i
	local tries=$((${2:-30} * 10))
	if [ ! -d "$d" ]; then
		echo "mvf_host_qmp: no host channel at $d (not a vm-run.sh VM?)" >&2
		return 2
	fi
	MVF_HOST_SEQ=$((MVF_HOST_SEQ + 1))
	id=sh$$-$MVF_HOST_SEQ
	printf '%s\n' "$1" > "$d/.req.$id.tmp" &&
		mv "$d/.req.$id.tmp" "$d/req.$id.json" || return 2
	for ((i = 0; i < tries; i++)); do
		if [ -e "$d/rep.$id.json" ]; then
			rep=$(< "$d/rep.$id.json")
			rm -f "$d/rep.$id.json"
			printf '%s\n' "$rep"
			case "$rep" in
			'{"error"'*) return 1 ;;
			esac
			return 0
		fi
		sleep 0.1
	done
	rm -f "$d/req.$id.json"
	echo "mvf_host_qmp: no answer from the host relay within ${2:-30} s" >&2
	return 2
}

# mvf_host_fn BDF: "pfK FN" for an MVF function: K is the position of its
# PF among the MVF PFs in BDF order (vm-run.sh gives them qdev ids pf1,
# pf2, pf3 in the order of their root ports, which is bus order), FN "pf"
# for the PF itself or "vfN" for its VF N (the N of its PF's virtfnN
# link, the device's 0-based VF number).
mvf_host_fn() {
	local d=/sys/bus/pci/devices/$1 pf=$1 fn=pf i=0 k=0 v dev
	[ -e "$d" ] || { echo "mvf_host_fn: no PCI device $1" >&2; return 1; }
	if [ -e "$d/physfn" ]; then
		pf=$(mvf_link_name "$d/physfn")
		fn=
		while [ -e "/sys/bus/pci/devices/$pf/virtfn$i" ]; do
			if [ "$(mvf_link_name "/sys/bus/pci/devices/$pf/virtfn$i")" = "$1" ]; then
				fn=vf$i
				break
			fi
			i=$((i + 1))
		done
	fi
	for d in /sys/bus/pci/devices/*; do
		read -r v < "$d/vendor"
		read -r dev < "$d/device"
		[ "$v" = 0x6d76 ] && [ "$dev" = 0x1000 ] || continue
		k=$((k + 1))
		if [ "${d##*/}" = "$pf" ] && [ -n "$fn" ]; then
			echo "pf$k $fn"
			return 0
		fi
	done
	echo "mvf_host_fn: $1 is not an MVF function" >&2
	return 1
}

# mvf_host_set_pf PF_ID PROPERTY VALUE: qom-set on /machine/peripheral/PF_ID
mvf_host_set_pf() {
	mvf_host_qmp "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/$1\", \"property\": \"$2\", \"value\": \"$3\"}}"
}

# mvf_aer_inject BDF cor|uncor-nonfatal|fatal: the MVF function BDF (PF or
# VF) detects an error of that kind (the PF's aer-inject property).
mvf_aer_inject() {
	local f
	f=$(mvf_host_fn "$1") || return 2
	mvf_host_set_pf "${f%% *}" aer-inject "${f#* } $2"
}

# mvf_link_set PF_BDF SPEED WIDTH: the PF's link retrains to SPEED (1..5 =
# 2.5..32 GT/s, the Link Status encoding) and WIDTH lanes.
mvf_link_set() {
	local f
	f=$(mvf_host_fn "$1") || return 2
	[ "${f#* }" = pf ] || { echo "mvf_link_set: $1 is not a PF" >&2; return 2; }
	mvf_host_set_pf "${f%% *}" link "$2 $3"
}
