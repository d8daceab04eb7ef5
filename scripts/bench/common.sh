# SPDX-License-Identifier: GPL-2.0-only
# Shared settings for the bench scripts (sourced, not run).

MVF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MVF_CACHE=${MVF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mvf}
MVF_JOBS=${MVF_JOBS:-$(nproc)}
mkdir -p "$MVF_CACHE"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The Debian archive URI this machine already uses for bookworm, read from
# its apt configuration (deb822 .sources or one-line .list), so a local
# mirror keeps working and no host is named here.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822 stanzas: print URIs of a stanza whose Suites has bookworm.
		awk '
			/^[ \t]*$/ { if (ok && uri != "") { print uri; exit }
				      ok = 0; uri = ""; next }
			/^[ \t]*#/ { next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" {
				for (i = 2; i <= NF; i++)
					if ($i == "bookworm") ok = 1 }
			tolower($1) == "enabled:" && tolower($2) == "no" { ok = -99 }
			END { if (ok > 0 && uri != "") print uri }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [opts] URI bookworm main ...
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit }
		}' "$f"
	done
}

# The test kernel: Debian's linux-source-7.3 (trixie-backports), whose
# tarball scripts/deps.sh puts into the cache.
LINUX_SRC_PKG=linux-source-7.3
linux_src_tarball() { ls "$MVF_CACHE/src/$LINUX_SRC_PKG.tar.xz"; }
linux_src_version() {
	cat "$MVF_CACHE/src/$LINUX_SRC_PKG.version"
}

# wait_for PID SECONDS: true once PID has exited (reap it with wait),
# false if it is still running after SECONDS.
wait_for() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 1
	done
	! kill -0 "$1" 2>/dev/null
}

# Bump when build-kernel.sh changes what it builds (not how it reports).
KERNEL_RECIPE=1

# Cache key of the kernel: source version + config fragment + recipe.
kernel_key() {
	{ linux_src_version
	  cat "$MVF_ROOT/scripts/bench/kernel.config"
	  echo "recipe $KERNEL_RECIPE"; } | sha256sum | cut -c1-16
}
kernel_dir() { echo "$MVF_CACHE/linux-$(kernel_key)"; }
