# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Guest stall watchdog of vm-run.sh (sourced; ./mvf's host checks test it).
#
# stall_reason LOG
#	Prints a one-line diagnosis if the console log LOG holds a guest
#	kernel stall report (RCU stall, lost timer wakeup, soft or hard
#	lockup, hung task); false if it holds none.
# stall_run LOG QUIET FILTER CMD...
#	Runs CMD (stdin /dev/null) in a process group of its own, its stdout
#	and stderr copied to LOG and piped into FILTER (a command or function
#	for live output).  Meanwhile it looks at LOG every STALL_POLL seconds:
#	on a stall report it waits STALL_GRACE seconds more for the rest of
#	the report, or if LOG did not grow for QUIET seconds (0: never) it
#	does not wait; then it ends the group (TERM, KILL 10 s later) and
#	returns STALL_STATUS (125) with the diagnosis in STALL_WHY.  Otherwise
#	it returns CMD's status.  SIGINT/SIGTERM/SIGHUP to the caller also
#	end the group first.  (Should the caller die of SIGKILL, the group
#	lives on: vm-run's CMD is timeout(1), which still ends QEMU.)
STALL_STATUS=125
STALL_POLL=${STALL_POLL:-3}
STALL_GRACE=${STALL_GRACE:-10}

# The stall signatures are the patterns of the first block of this awk
# program and nowhere else.  The blocks after it only pick the CPU numbers
# and names out of the report.
stall_reason() {
	awk '
	function hit(kind) { has[kind] = 1; found = 1 }
	function num_after(s, key,    i) {
		i = index(s, key)
		if (!i) return ""
		s = substr(s, i + length(key))
		return match(s, /^[0-9]+/) ? substr(s, 1, RLENGTH) : ""
	}
	function add(set, cpu) {
		if (cpu != "" && index("," set ",", "," cpu ",") == 0)
			set = set (set == "" ? "" : ",") cpu
		return set
	}
	function cpus(set) {
		if (set == "") return "cpu"
		return (index(set, ",") ? "cpus " : "cpu ") set
	}
	function on(set) { return set == "" ? "" : " on " cpus(set) }
	{ sub(/\r$/, "") }

	# ---- the signatures ----
	/rcu_[a-z_]+ kthread timer wakeup didn.t happen/ { hit("timer") }
	/Possible timer handling issue on cpu=[0-9]+/ {
		hit("timer"); tcpus = add(tcpus, num_after($0, "cpu="))
	}
	/rcu: INFO: rcu_[a-z_]+ detected (expedited )?stalls/ { hit("rcu"); ctx = "rcu" }
	/rcu_[a-z_]+ self-detected stall/ { hit("self"); ctx = "self" }
	/watchdog: BUG: soft lockup - CPU#[0-9]+ stuck/ {
		hit("soft"); scpus = add(scpus, num_after($0, "CPU#"))
		if (match($0, /stuck for [0-9]+s/)) sfor = substr($0, RSTART + 10, RLENGTH - 10)
	}
	/hard LOCKUP/ { hit("hard"); hcpus = add(hcpus, num_after($0, "LOCKUP on cpu ")) }
	/blocked for more than [0-9]+ seconds/ {
		hit("blocked")
		if (task == "" && match($0, /task [^ ]+ blocked for more than [0-9]+ seconds/))
			task = substr($0, RSTART + 5, RLENGTH - 5)
	}

	# ---- details of an RCU report ----
	# A CPU of the report: "\t1-...!: (0 ticks this GP) idle=...".  One
	# that took no tick in the grace period, or never even noticed it
	# ("N GPs behind"), is not taking interrupts.
	ctx != "" && /rcu:[ \t]+[0-9]+-[O.][o.][N.][0-9!.?]: [(]/ {
		c = $0; sub(/^.*rcu:[ \t]+/, "", c); sub(/-.*/, "", c)
		if (ctx == "self") { selfcpus = add(selfcpus, c); next }
		rcpus = add(rcpus, c)
		if (match($0, /[(]0 ticks this GP[)]|[(][0-9]+ GPs behind[)]/)) {
			nointcpus = add(nointcpus, c)
			if (noint == "") noint = substr($0, RSTART + 1, RLENGTH - 2)
		}
	}
	# An expedited report lists them inline: "...: { 1-...D } 21003 jiffies".
	/detected expedited stalls on CPUs.tasks: [{]/ {
		s = $0; sub(/^[^{]*[{]/, "", s); sub(/[}].*$/, "", s)
		n = split(s, w, " ")
		for (i = 1; i <= n; i++)
			if (w[i] ~ /^[0-9]+-/) { c = w[i]; sub(/-.*/, "", c); rcpus = add(rcpus, c) }
	}

	END {
		if (!found) exit 1
		if (has["timer"])
			why = "guest lost interrupts" on(tcpus != "" ? tcpus : nointcpus) \
			      " (RCU: timer wakeup didn\047t happen)"
		else if (has["rcu"] && nointcpus != "")
			why = "guest lost interrupts" on(nointcpus) " (RCU stall: " noint ")"
		else if (has["hard"])
			why = "guest " cpus(hcpus) " stuck with interrupts off (hard LOCKUP)"
		else if (has["soft"])
			why = "guest " cpus(scpus) " stuck in the kernel (soft lockup" \
			      (sfor != "" ? " for " sfor : "") ")"
		else if (has["self"])
			why = "guest " cpus(selfcpus) " stuck in the kernel (RCU: self-detected stall)"
		else if (has["rcu"])
			why = "guest stall" on(rcpus) " (RCU: detected stalls on CPUs/tasks)"
		else
			why = "guest task " (task != "" ? task : "blocked") " (hung task)"
		print why
	}' "$1"
}

# The watched group: its process group id and its last process, whose end
# is the end of the pipeline (the group's other processes may linger as
# zombies if they were reparented).
STALL_PGID='' STALL_LAST=''

stall_alive() { [ -n "$STALL_LAST" ] && kill -0 "$STALL_LAST" 2>/dev/null; }

# stall_pgid PID: the process group of PID, from /proc.
stall_pgid() {
	local s
	s=$(< "/proc/$1/stat") || return 1
	s=${s##*) }
	read -r _ _ s _ <<< "$s"
	echo "$s"
}

# stall_wait SECONDS: true once the pipeline has ended, false if it still
# runs after SECONDS.
stall_wait() {
	local end=$((SECONDS + $1))
	while stall_alive; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# stall_stop: end the watched group, TERM first (QEMU exits cleanly), KILL
# 10 s later.  Never waits longer than 15 s.
stall_stop() {
	[ -n "$STALL_PGID" ] || return 0
	if stall_alive; then
		kill -TERM -- "-$STALL_PGID" 2>/dev/null || true
		if ! stall_wait 10; then
			kill -KILL -- "-$STALL_PGID" 2>/dev/null || true
			stall_wait 5 || true
		fi
	fi
	# Reap it, unless it outlived even KILL (uninterruptible sleep): the
	# watchdog must not hang on it.
	stall_alive || wait "$STALL_LAST" 2>/dev/null || true
	STALL_PGID='' STALL_LAST=''
}

stall_run() {
	local log=$1 quiet=$2 filter=$3 rcf traps size=-1 s since found='' rc
	shift 3
	STALL_WHY=
	rcf=$(mktemp)
	: > "$log"
	traps=$(trap -p EXIT INT TERM HUP)
	trap 'stall_stop; rm -f "$rcf"' EXIT
	trap 'stall_stop; rm -f "$rcf"; trap - INT; kill -INT $$' INT
	trap 'stall_stop; rm -f "$rcf"; trap - TERM; kill -TERM $$' TERM
	trap 'stall_stop; rm -f "$rcf"; trap - HUP; kill -HUP $$' HUP
	# Job control on for this one pipeline: it gets a process group of its
	# own (timeout --foreground keeps QEMU in it), so one kill ends it all.
	# tee and FILTER ignore TERM: they end at EOF, once QEMU is gone, with
	# everything it printed in LOG.
	set -m
	{ "$@" </dev/null 2>&1; echo $? > "$rcf"; } |
		{ trap '' TERM; exec tee "$log"; } |
		{ trap '' TERM; "$filter"; } &
	set +m
	STALL_LAST=$!
	STALL_PGID=$(jobs -p %+) || STALL_PGID=$(stall_pgid "$STALL_LAST") || STALL_PGID=''
	# Never our own group (it holds the caller and its callers).
	if [ "$STALL_PGID" = "$(stall_pgid $$)" ]; then
		echo "stall_run: no process group of its own for '$*'" >&2
		STALL_PGID=''
	fi
	since=$SECONDS
	while stall_alive; do
		s=$(stat -c %s "$log" 2>/dev/null) || s=0
		if [ "$s" != "$size" ]; then
			size=$s
			since=$SECONDS
			if [ -z "$found" ] && STALL_WHY=$(stall_reason "$log"); then
				found=$SECONDS
			fi
		elif [ -z "$found" ] && [ "$quiet" -gt 0 ] &&
		     [ $((SECONDS - since)) -ge "$quiet" ]; then
			STALL_WHY="no console output for $quiet s"
			break
		fi
		if [ -n "$found" ] && [ $((SECONDS - found)) -ge "$STALL_GRACE" ]; then
			break
		fi
		sleep "$STALL_POLL"
	done
	stall_stop
	# A report may have come with the end of the run, or grown during the
	# grace time: look once more at the whole of it.
	if [ -z "$STALL_WHY" ] || [ -n "$found" ]; then
		STALL_WHY=$(stall_reason "$log") || STALL_WHY=
	fi
	rc=$(cat "$rcf" 2>/dev/null) || rc=
	rm -f "$rcf"
	trap - EXIT INT TERM HUP
	eval "$traps"
	if [ -n "$STALL_WHY" ]; then
		return "$STALL_STATUS"
	fi
	return "${rc:-1}"
}
