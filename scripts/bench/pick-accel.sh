#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# pick-accel.sh QEMU KDIR FWDIR: print "kvm" if a real probe boot of the
# test kernel under KVM reaches user space and powers off, else "tcg".
# /dev/kvm opening is not enough here: nested KVM has been seen to fail
# kernel boots.  The answer is cached per kernel/QEMU pair; MVF_ACCEL
# overrides it.  Without a usable /dev/kvm or without vmx/svm in
# /proc/cpuinfo the answer is tcg at once, no probe, nothing cached.
set -euo pipefail
. "$(dirname "$0")/common.sh"
qemu=$1 kdir=$2 fw=$3

if [ -n "${MVF_ACCEL:-}" ]; then
	echo "$MVF_ACCEL"
	exit 0
fi
# No probe when KVM cannot work at all.
why=
if [ ! -e /dev/kvm ]; then
	why="no /dev/kvm"
elif ! { : <> /dev/kvm; } 2>/dev/null; then
	why="cannot open /dev/kvm read-write"
elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	why="the CPU flags in /proc/cpuinfo have neither vmx nor svm"
fi
if [ -n "$why" ]; then
	log "accel: tcg, $why"
	echo tcg
	exit 0
fi
# Whether KVM works depends on the host and the guest kernel, not on our
# device model: key on those, so QEMU rebuilds don't repeat the probe.
key=$( { echo "$kdir"; uname -r; "$qemu" --version | head -1; } |
	sha256sum | cut -c1-16)
cache="$MVF_CACHE/accel-$key"
if [ -f "$cache" ]; then
	cat "$cache"
	exit 0
fi
accel=tcg
log "accel: probing KVM with a real boot (60 s at most)"
timeout -k 5 60 "$qemu" -accel kvm -m 1G -smp 2 -M q35 -nic none \
	-nodefaults -no-user-config -L "$fw" \
	-fsdev local,id=root,path=/,security_model=none,readonly=on \
	-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
	-kernel "$kdir/arch/x86/boot/bzImage" \
	-append "console=ttyS0 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro init=$MVF_ROOT/scripts/bench/probe-init.sh panic=-1 quiet" \
	-serial stdio -display none -no-reboot </dev/null \
	>"$cache.log" 2>&1 || true
grep -q MVF-PROBE-OK "$cache.log" && accel=kvm
log "accel: KVM probe says $accel"
echo "$accel" > "$cache"
echo "$accel"
