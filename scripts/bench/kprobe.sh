#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel feature probes for the bench: kprobe.sh KDIR DEST
#
# Runs the probes (scripts/kprobe/probe.sh, which says how) against the
# kernel build dir KDIR (a built tree or an unpacked headers package) and
# writes their mvf_compat.h to DEST (./Kbuild force-includes it): one
#   #define MVF_NO_<NAME> 1
# for every feature the kernel lacks.  The drivers assume the newest
# kernel unless told otherwise, so the header names what is missing.
# DEST is only rewritten when its content changes (it is a dependency of
# every object).  The result is cached, keyed on KDIR, its .config and
# Module.symvers, our kernel patch stamp and the probes.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# = 2 ] || die "usage: kprobe.sh KDIR DEST"
kdir=$(realpath -e "$1" 2>/dev/null) || die "probes: no kernel build dir $1"
dest=$2
P=$MVF_ROOT/scripts/kprobe
[ -f "$kdir/Makefile" ] && [ -f "$kdir/.config" ] ||
	die "probes: $kdir is no kernel build dir (no Makefile or .config)"
key=$({ echo "$kdir"
	cat "$kdir/.config"
	cat "$kdir/Module.symvers" "$kdir/.mvf-patches" 2>/dev/null || true
	cat "$P"/*.c "$P/probe.sh" "$MVF_ROOT/scripts/bench/kprobe.sh"; } |
	sha256sum | cut -c1-16)
cache=$MVF_CACHE/kprobe/$key

if [ ! -f "$cache/mvf_compat.h" ]; then
	log "probes: kernel feature probes against $kdir"
	tmp=$cache.tmp
	rm -rf "$tmp"
	# Its own summary line would repeat the one below.
	o=$("$P/probe.sh" "$kdir" "$tmp" "$MVF_JOBS" 2>&1) || die "${o##*$'\n'}"
	rm -rf "$cache"
	mv "$tmp" "$cache"
fi
missing=$(sed -n 's/^#define MVF_NO_\([A-Z0-9_]*\) 1$/\1/p' "$cache/mvf_compat.h" |
	  tr '\n' ' ')
missing=${missing% }
log "probes: missing in $(basename "$kdir"): ${missing:-nothing}"
cmp -s "$cache/mvf_compat.h" "$dest" 2>/dev/null || cp "$cache/mvf_compat.h" "$dest"
