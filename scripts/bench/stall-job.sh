#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# stall-job.sh: a vm-run.sh job that makes the guest lose interrupts for
# real, for the check bench-stall-detected of ./mvf test: vm-run's stall
# watchdog must then end the run with status 125 and a diagnosis that names
# the CPU, long before --timeout.
#
# A helper pinned to CPU 1 maps the local APIC page (physical 0xfee00000)
# through /dev/mem and writes 0xff to the task priority register (TPR,
# offset 0x80): CPU 1 then takes no maskable interrupt, its timer's
# included (NMIs still come, so the kernel's NMI backtrace of CPU 1 works).
# The helper then keeps CPU 1 busy in user space.  It does not sleep: RCU
# counts an idle CPU as quiescent, so an idle CPU 1 could go unnoticed for
# long, while a busy CPU 1 that takes no tick never reports a quiescent
# state and the RCU stall detector names it after
# CONFIG_RCU_CPU_STALL_TIMEOUT (21 s).  The job itself just waits, on CPU
# 0, starting a short process every 2 s so that RCU callbacks, hence grace
# periods, keep coming.
#
# Fallbacks: if the APIC page cannot be mapped, or the write does not take
# (x2APIC mode), the helper says why on the console and writes the x2APIC
# TPR MSR (0x808) through /dev/cpu/1/msr instead; if that fails too it
# says why and the job exits 3, so that the run ends at once instead of
# waiting for a stall that cannot come.
set -u

say() { echo "stall-job: $*"; }

read -r online < /sys/devices/system/cpu/online
if [ "$online" = 0 ]; then
	say "needs a cpu 1, the guest has cpus $online"
	exit 3
fi
command -v python3 > /dev/null || { say "no python3 in the guest"; exit 3; }
taskset -pc 0 $$ > /dev/null || say "cannot pin the job to cpu 0 (going on)"

python3 - <<'PY' &
import mmap
import os
import struct
import sys

CPU = 1
APIC_BASE, APIC_ID, APIC_TPR = 0xfee00000, 0x20, 0x80
X2APIC_TPR_MSR = 0x808


def say(msg):
    print("stall-job: " + msg, flush=True)


def tpr_through_mmio():
    """TPR := 0xff through the xAPIC page; None if done, else why not."""
    try:
        fd = os.open("/dev/mem", os.O_RDWR | os.O_SYNC)
        page = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE, offset=APIC_BASE)
    except OSError as e:
        return f"cannot map the local APIC page through /dev/mem: {e}"
    # 32-bit accesses: the APIC ignores narrower ones.
    reg = memoryview(page).cast("I")
    say(f"cpu {CPU}: local APIC id {reg[APIC_ID // 4] >> 24}, "
        f"TPR {reg[APIC_TPR // 4]:#x}; writing 0xff to its TPR")
    reg[APIC_TPR // 4] = 0xff
    tpr = reg[APIC_TPR // 4]
    if tpr & 0xff != 0xff:
        return f"TPR reads back {tpr:#x} after the write (x2APIC mode?)"
    return None


def tpr_through_msr():
    """TPR := 0xff through the x2APIC MSR; None if done, else why not."""
    try:
        fd = os.open(f"/dev/cpu/{CPU}/msr", os.O_WRONLY)
        os.pwrite(fd, struct.pack("<Q", 0xff), X2APIC_TPR_MSR)
    except OSError as e:
        return f"cannot write the x2APIC TPR through /dev/cpu/{CPU}/msr: {e}"
    return None


try:
    os.sched_setaffinity(0, {CPU})
except OSError as e:
    say(f"cannot run on cpu {CPU}: {e}")
    sys.exit(3)
why = tpr_through_mmio()
if why:
    say(why + "; trying the x2APIC TPR MSR")
    why = tpr_through_msr()
    if why:
        say(why + "; cannot make the guest lose interrupts")
        sys.exit(3)
say(f"cpu {CPU} takes no more interrupts; keeping it busy")
while True:
    pass
PY
helper=$!
say "waiting on cpu 0 for the guest kernel to notice"
while kill -0 "$helper" 2> /dev/null; do
	sleep 2
done
wait "$helper"
rc=$?
say "the helper ended with status $rc: no stall"
exit 3
