#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-run.sh [--timeout SEC] [--quiet-timeout SEC] [--out DIR] [--vfs N]
#           [--devmem SIZE] [--pf2 SIZE] [--pf2-vfs N] [--pf3 SIZE]
#           [--mem SIZE] JOB
#
# Boots the MVF test VM (test kernel, QEMU with the mvf-pf device behind a
# PCIe root port, emulated intel-iommu, the host's / read-only over 9p) and
# runs the bash script JOB in it as root.  JOB's output is shown live.
# --pf2 SIZE adds a second mvf-pf, 2 VFs (--pf2-vfs N: N) of SIZE device
# memory each, behind a root port of its own (bus 2; the first PF stays
# 01:00.0): a VF of another size, for the stock-QEMU refusal test, or the
# many small VFs of ./mvf bench.  Each root port reserves room for all its
# VFs' BARs.  --pf3 SIZE adds a third, 2 VFs of SIZE each, behind a root
# port of its own: VFs with more than 4 GiB of device memory for the
# suite's mvf_large_test.  --mem sets the guest's RAM (default 4G, of which 1 GiB + 4 MiB
# are huge pages reserved at boot).
# The PFs have qdev ids pf1, pf2, pf3 in that order (QOM paths
# /machine/peripheral/pfN; HMP pcie_aer_inject_error takes the id).
#
# The host channel: QEMU has a QMP socket (in a private directory under
# /tmp, removed at the end) and host-relay.py serves it to the job: a job
# writes QMP commands into DIR/host-channel/ (the guest's
# /tmp/out/host-channel/) and reads QEMU's answers there; see
# host-relay.py and guest-lib.sh's mvf_host_qmp.  The relay ends with
# vm-run.
#
# A stall watchdog (stall-watch.sh) reads the console meanwhile: on a guest
# kernel stall report (RCU stall or lost timer wakeup, soft/hard lockup,
# hung task), or when the console stays silent for the quiet limit
# (--quiet-timeout, else $MVF_QUIET_TIMEOUT, else 600 s; 0: no limit), it
# stops QEMU at once and prints one line to stderr:
#   bench stall: <diagnosis>, see DIR/console.log
# --timeout (default 1800 s) is the last resort for everything else.
#
# Exit status: JOB's status (124 and 125 from JOB become 1), or
#   1    the guest kernel log has a report (WARN/BUG/lockdep/KASAN/UBSAN/
#        kmemleak), or the guest never finished its job
#   124  timeout (--timeout)
#   125  guest stall (stall report or quiet limit)
# The run's files (console.log, job.log, dmesg.txt, kmemleak.txt, status,
# qemu.log, and times: host seconds of qemu-start, guest-up, job-start,
# job-end, qemu-end) are left in DIR (default: a new directory under
# $MVF_CACHE/runs).
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/stall-watch.sh"

timeout=1800 quiet=${MVF_QUIET_TIMEOUT:-600} out= vfs=8 devmem=64M pf2=
pf2_vfs=2 pf3= mem=4G
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout=$2; shift 2 ;;
	--quiet-timeout) quiet=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--vfs) vfs=$2; shift 2 ;;
	--devmem) devmem=$2; shift 2 ;;
	--pf2) pf2=$2; shift 2 ;;
	--pf2-vfs) pf2_vfs=$2; shift 2 ;;
	--pf3) pf3=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--) shift; break ;;
	-*) die "vm-run: unknown option $1" ;;
	*) break ;;
	esac
done
[ $# = 1 ] || die "usage: vm-run.sh [options] JOB"
job=$1
case "$quiet" in
'' | *[!0-9]*) die "vm-run: --quiet-timeout takes whole seconds, not '$quiet'" ;;
esac
case "$MVF_ROOT$MVF_CACHE" in
*[[:space:],]*) die "vm-run: the repo and cache paths must not hold spaces or commas" ;;
esac

kdir=$("$MVF_ROOT/scripts/bench/build-kernel.sh")
qemu=$("$MVF_ROOT/scripts/bench/build-qemu.sh")
fw="$MVF_CACHE/fw"
if [ ! -e "$fw/bios-256k.bin" ]; then
	mkdir -p "$fw"
	ln -sf /usr/share/seabios/* /usr/share/qemu/* "$fw/" 2>/dev/null || true
fi
[ -e "$fw/bios-256k.bin" ] || die "vm-run: no SeaBIOS in $fw (scripts/deps.sh)"

if [ -z "$out" ]; then
	mkdir -p "$MVF_CACHE/runs"
	out=$(mktemp -d "$MVF_CACHE/runs/run.XXXXXX")
fi
mkdir -p "$out"
rm -f "$out"/{status,job.log,dmesg.txt,kmemleak.txt,kmemleak-missing,times}
rm -rf "$out/host-channel"
mkdir "$out/host-channel"
# The guest sees the host's / but has its own /tmp: hand the job over
# through the output directory, which it mounts at /tmp/out.
cp "$job" "$out/job-run.sh"

# pref64_reserve VFS SIZE MIN: a root port's 64-bit prefetchable window
# for VFS VFs of SIZE device memory (BAR 2 is SIZE rounded up to a power of
# two), with room to spare for the PF; at least MIN MiB.
pref64_reserve() {
	local n=$2 bytes=1 mib
	case "$n" in
	*[Gg]) n=$((${n%?} << 30)) ;;
	*[Mm]) n=$((${n%?} << 20)) ;;
	*[Kk]) n=$((${n%?} << 10)) ;;
	esac
	while [ "$bytes" -lt "$n" ]; do bytes=$((bytes * 2)); done
	mib=$(((bytes * $1 * 2) >> 20))
	[ "$mib" -ge "$3" ] || mib=$3
	echo "${mib}M"
}

accel=$("$MVF_ROOT/scripts/bench/pick-accel.sh" "$qemu" "$kdir" "$fw")
log "vm: booting ($accel, $vfs VFs x $devmem device memory${pf2:+, a second PF with $pf2_vfs VFs x $pf2}${pf3:+, a third with 2 VFs x $pf3}); log in $out"

# The root ports use native PCIe hotplug, not ACPI's: with ACPI hotplug
# (q35's default) QEMU never sets Presence Detect and Data Link Layer Link
# Active in a port's status, while the port (16 GT/s) advertises Link
# Active Reporting, so every secondary bus reset - the recovery from a
# fatal AER error - ends with "Data Link Layer Link Active not set" and
# the VFs' driver permanently failed.
# Huge pages for upstream's vfio_dma_mapping_test (its hugetlb variants map
# one 2 MiB and one 1 GiB page): reserved at boot, when a 1 GiB run of
# free memory is certain, so the guest has 4 GiB (3 GiB besides them); the
# CPU needs pdpe1gb for 1 GiB pages.
qemu_args=(
	-accel "$accel" -cpu qemu64,+arat,+pdpe1gb -m "$mem" -smp 2 -M q35,kernel-irqchip=split
	-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
	-nic none -nodefaults -no-user-config -L "$fw"
	-device intel-iommu,intremap=on
	-device "pcie-root-port,id=rp1,chassis=1,pref64-reserve=$(pref64_reserve "$vfs" "$devmem" 2048)"
	-device "mvf-pf,id=pf1,bus=rp1,total-vfs=$vfs,devmem-size=$devmem"
	-fsdev local,id=root,path=/,security_model=none,readonly=on
	-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
	-fsdev "local,id=out,path=$out,security_model=none"
	-device virtio-9p-pci,fsdev=out,mount_tag=mvfout
	-kernel "$kdir/arch/x86/boot/bzImage"
	-append "console=ttyS0 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$MVF_ROOT/scripts/bench/guest-init.sh intel_iommu=on hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=2 no_timer_check panic=-1 oops=panic quiet loglevel=4 mvf.job=/tmp/out/job-run.sh mvf.keep=$MVF_ROOT,$MVF_CACHE"
	-serial stdio -display none -no-reboot
	-d guest_errors,unimp -D "$out/qemu.log"
)
if [ -n "$pf2" ]; then
	qemu_args+=(
		-device "pcie-root-port,id=rp2,chassis=2,pref64-reserve=$(pref64_reserve "$pf2_vfs" "$pf2" 256)"
		-device "mvf-pf,id=pf2,bus=rp2,total-vfs=$pf2_vfs,devmem-size=$pf2"
	)
fi
if [ -n "$pf3" ]; then
	qemu_args+=(
		-device "pcie-root-port,id=rp3,chassis=3,pref64-reserve=$(pref64_reserve 2 "$pf3" 256)"
		-device "mvf-pf,id=pf3,bus=rp3,total-vfs=2,devmem-size=$pf3"
	)
fi
# The host channel: QMP for the relay (a short path: sockets have ~100).
qmpdir=$(mktemp -d /tmp/mvf-qmp.XXXXXX)
relay_pid=
# shellcheck disable=SC2317 # run by the traps
end_relay() {
	if [ -n "$relay_pid" ]; then
		kill -TERM "$relay_pid" 2>/dev/null || true
		wait_for "$relay_pid" 5 || kill -KILL "$relay_pid" 2>/dev/null || true
		wait "$relay_pid" 2>/dev/null || true
		relay_pid=
	fi
	rm -rf "$qmpdir"
}
trap end_relay EXIT
trap 'end_relay; trap - INT; kill -INT $$' INT
trap 'end_relay; trap - TERM; kill -TERM $$' TERM
trap 'end_relay; trap - HUP; kill -HUP $$' HUP
qemu_args+=(-qmp "unix:$qmpdir/qmp.sock,server=on,wait=off")
python3 "$MVF_ROOT/scripts/bench/host-relay.py" --qmp "$qmpdir/qmp.sock" \
	--dir "$out/host-channel" --parent $$ </dev/null >"$out/relay.log" 2>&1 &
relay_pid=$!
# Extra QEMU arguments for a developer's run, e.g. MVF_QEMU_ARGS="-trace
# iotlb_remap" (word-split; trace output goes to $out/qemu.log).
# shellcheck disable=SC2206
qemu_args+=(${MVF_QEMU_ARGS:-})
# Live output: the job's lines (between the guest's markers); the host
# time of each marker goes to $out/times.  mawk reads a pipe in big blocks
# unless told it is interactive: nothing would be live.
live_awk=(awk)
if awk -W version 2>&1 | grep -q '^mawk'; then
	live_awk=(awk -W interactive)
fi
# shellcheck disable=SC2317 # called by stall_run
show_job() {
	MVF_TIMES="$out/times" "${live_awk[@]}" '
	function mark(what) {
		srand(); printf "%s %d\n", what, srand() >> ENVIRON["MVF_TIMES"]
		fflush(ENVIRON["MVF_TIMES"])
	}
	/MVF-GUEST-UP/ { mark("guest-up") }
	/MVF-JOB-START/ { mark("job-start"); on = 1; next }
	/MVF-JOB-END/ { mark("job-end"); on = 0; next }
	on { sub(/\r$/, ""); print; fflush() }'
}
t0=$EPOCHSECONDS
echo "qemu-start $t0" > "$out/times"
qrc=0
stall_run "$out/console.log" "$quiet" show_job \
	timeout --foreground -k 10 "$timeout" "$qemu" "${qemu_args[@]}" || qrc=$?
echo "qemu-end $EPOCHSECONDS" >> "$out/times"
end_relay
if [ -n "$STALL_WHY" ]; then
	log "vm: QEMU stopped after $(( EPOCHSECONDS - t0 )) s: the guest stalled"
	echo "bench stall: $STALL_WHY, see $out/console.log" >&2
	exit "$STALL_STATUS"
fi
log "vm: done in $(( EPOCHSECONDS - t0 )) s (qemu exit $qrc)"

if [ "$qrc" = 125 ]; then
	log "vm: timeout(1) could not run QEMU (exit 125)"
	exit 1
fi
if [ "$qrc" = 124 ]; then
	log "vm: timed out after $timeout s; last console lines:"
	tail -20 "$out/console.log" >&2
	exit 124
fi
if [ ! -f "$out/status" ]; then
	log "vm: the guest never finished its job; last console lines:"
	tail -30 "$out/console.log" >&2
	exit 1
fi
rc=$(cat "$out/status")
if ! "$MVF_ROOT/scripts/bench/check-klog.sh" "$out/dmesg.txt" "$out/kmemleak.txt" >&2; then
	log "vm: guest kernel log is not clean: FAIL"
	exit 1
fi
case "$rc" in
124 | 125)
	log "vm: the job exited $rc, reported as 1 (124 and 125 are vm-run's)"
	exit 1 ;;
esac
exit "$rc"
