#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# PID 1 of the MVF test VM.  The root filesystem is the host's, read-only
# over 9p; a second 9p export (tag "mvfout") is the run's output directory.
# Runs the job named by mvf.job= on the kernel command line, saves its
# status, the kernel log and a kmemleak report to the output directory and
# powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8

mount -t proc proc /proc
job= keep=
for a in $(cat /proc/cmdline); do
	case "$a" in
	mvf.job=*) job=${a#mvf.job=} ;;
	mvf.keep=*) keep=${a#mvf.keep=} ;;
	esac
done
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run

# The job's own files (repo, cache; mvf.keep=) may live under the host's
# /tmp, which the guest's tmpfs /tmp would hide: bind them back into it.
mkdir -p /run/host-tmp
mount --bind /tmp /run/host-tmp
mount -t tmpfs -o mode=1777 tmpfs /tmp
for p in ${keep//,/ }; do
	case "$p" in
	/tmp/*)
		mkdir -p "$p"
		mount --bind "/run/host-tmp/${p#/tmp/}" "$p" ;;
	esac
done
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/pts /tmp/out
mount -t devpts devpts /dev/pts
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 mvfout /tmp/out
echo "MVF-MOUNTED $(cut -d' ' -f1 /proc/uptime)"


echo "MVF-GUEST-UP $(cut -d' ' -f1 /proc/uptime)"
status=127
if [ -n "$job" ] && [ -r "$job" ]; then
	echo "MVF-JOB-START"
	cd /tmp && bash "$job" 2>&1 | tee /tmp/out/job.log
	status=${PIPESTATUS[0]}
	echo "MVF-JOB-END status=$status"
else
	echo "MVF-JOB-MISSING '$job'"
fi
echo "$status" > /tmp/out/status

# Leak check: two scans, as kmemleak wants, after the job's memory is gone.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo "MVF-KMEMLEAK-SCAN $(cut -d' ' -f1 /proc/uptime)"
	echo scan > /sys/kernel/debug/kmemleak
	echo scan > /sys/kernel/debug/kmemleak
	echo "MVF-KMEMLEAK-DONE $(cut -d' ' -f1 /proc/uptime)"
	cat /sys/kernel/debug/kmemleak > /tmp/out/kmemleak.txt
else
	echo "kmemleak not available" > /tmp/out/kmemleak-missing
fi
dmesg > /tmp/out/dmesg.txt
sync
umount /tmp/out
echo "MVF-GUEST-DONE"
echo o > /proc/sysrq-trigger
sleep 30
