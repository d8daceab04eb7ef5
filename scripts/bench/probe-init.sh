#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# PID 1 of the KVM probe boot: prove user space runs, then power off.
mount -t proc proc /proc
echo MVF-PROBE-OK
echo o > /proc/sysrq-trigger
sleep 10
