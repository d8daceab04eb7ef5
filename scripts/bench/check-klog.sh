#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-klog.sh DMESG [KMEMLEAK]
# Exits 1 and prints the offending lines if the guest kernel log holds a
# WARN, BUG, oops, lockdep, KASAN, UBSAN, hung task or RCU stall report, or
# if the kmemleak report lists an unreferenced object.
set -u
dmesg=$1
leak=${2:-}
pat='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|'
pat+='possible circular locking|possible recursive locking|'
pat+='inconsistent lock state|lock held when returning|'
pat+='suspicious RCU usage|sleeping function called from invalid context|'
pat+='KASAN:|UBSAN:|blocked for more than|rcu_.*detected stall|'
pat+='Call Trace:|unreferenced object'
bad=0
if [ ! -s "$dmesg" ]; then
	echo "check-klog: no kernel log ($dmesg)"
	exit 1
fi
if grep -En "$pat" "$dmesg" > /tmp/check-klog.$$; then
	echo "check-klog: kernel reports in $dmesg:"
	head -40 /tmp/check-klog.$$
	bad=1
fi
if [ -n "$leak" ]; then
	if [ ! -e "$leak" ]; then
		echo "check-klog: no kmemleak report ($leak)"
		bad=1
	elif grep -q 'unreferenced object' "$leak"; then
		echo "check-klog: kmemleak found leaks:"
		head -40 "$leak"
		bad=1
	fi
fi
rm -f /tmp/check-klog.$$
exit $bad
