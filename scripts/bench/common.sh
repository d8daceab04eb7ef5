# SPDX-License-Identifier: GPL-2.0-only
# Shared settings for the bench scripts (sourced, not run).

MVF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MVF_CACHE=${MVF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mvf}
MVF_JOBS=${MVF_JOBS:-$(nproc)}
mkdir -p "$MVF_CACHE"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

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
