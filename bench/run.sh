#!/usr/bin/env bash
# bench/run.sh — run-time overhead of crrun (entry point of `make bench`).
#
# Compiles bench/syscallbench.c and bench/allowall.c into a temp dir, then runs
# every benchmark mode in three configurations:
#   native    ./syscallbench MODE
#   allow-all ./allowall ./syscallbench MODE      (floor: any seccomp filter)
#   crrun     $CRRUN -- ./syscallbench MODE
# BENCH_REPS times, interleaved (each repetition runs the three configurations
# of a mode back to back, in an order that rotates every repetition, so machine
# noise hits all three alike), and reports medians, ratios and the overhead per
# syscall. It also measures the idle RSS of the supervisor (`crrun -- sleep 5`).
#
# Usage: bash bench/run.sh [--write-docs]
#   --write-docs  also rewrite the run-overhead section of docs/benchmarks.md
# Environment:
#   CRRUN          crrun binary (default: <repo>/bin/crrun; column skipped if missing)
#   BENCH_REPS     repetitions (default 7)
#   BENCH_TIME_MS  measured time per process run, after warm-up (default 300)
#   BENCH_MODES    modes to run (default "getppid rw forkexec thread trapped")
#   BENCH_TIMEOUT  seconds before a single run is killed (default 60)
#   CC             C compiler (default gcc)
#
# Every process this script starts runs in its own session; on exit, Ctrl-C or
# SIGTERM the script kills each one together with all its descendants and reaps it.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRRUN=${CRRUN:-$ROOT/bin/crrun}
REPS=${BENCH_REPS:-7}
TIME_MS=${BENCH_TIME_MS:-300}
TIMEOUT=${BENCH_TIMEOUT:-60}
read -r -a MODES <<<"${BENCH_MODES:-getppid rw forkexec thread trapped}"
CC=${CC:-gcc}
DOCS=$ROOT/docs/benchmarks.md

# Targets (reported as pass/miss, never asserted).
TARGET_RT_NS=15000      # trapped syscall round trip
TARGET_RSS_MIB=15       # supervisor idle RSS
NOISE_FLOOR_PCT=5       # "within noise" floor, % of the allow-all median

WRITE_DOCS=0
for a in "$@"; do
	case $a in
	--write-docs) WRITE_DOCS=1 ;;
	-h | --help)
		sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "run.sh: unknown argument: $a (try --help)" >&2
		exit 2
		;;
	esac
done

die() {
	echo "run.sh: $*" >&2
	exit 1
}
log() { echo "$*" >&2; }

[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $TIME_MS =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIME_MS must be a positive integer"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"
for m in "${MODES[@]}"; do
	case $m in getppid | rw | forkexec | thread | trapped) ;; *) die "unknown mode: $m" ;; esac
done

# ---------------------------------------------------------------- processes --

declare -A LIVE=() # pids this script started and has not reaped yet
TMP=

# descendants PID: every descendant of PID (any depth), from one ps snapshot.
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			q[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) { q[++n] = k[j]; print k[j] }
			}
		}'
}

# running PID: true while PID exists and is not a zombie.
running() {
	local st
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# kill_tree PID: end PID (a direct child of this script), everything below it
# and its session, then reap PID. First SIGTERM to PID alone, so a supervisor
# can forward it and reap its own tree the way it would under a shell; whatever
# is still running after 1 s gets SIGKILL. Descendants are listed right before
# each signal because they are re-parented once their parent dies.
kill_tree() {
	local pid=$1 i p any pids
	pids=("$pid" $(descendants "$pid"))
	kill -s TERM -- "$pid" 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		any=0
		for p in "${pids[@]}"; do running "$p" && any=1 && break; done
		((any)) || break
		sleep 0.05
	done
	if ((any)); then
		pids=("$pid" $(descendants "$pid") "${pids[@]}")
		kill -s KILL -- "-$pid" 2>/dev/null # the session setsid made
		kill -s KILL -- "${pids[@]}" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	unset "LIVE[$pid]"
}

cleanup() {
	local pid
	# jobs -p: children bash has not reaped yet, even one started an instant
	# before a signal arrived and not yet recorded in LIVE.
	declare -A all=()
	for pid in "${!LIVE[@]}" $(jobs -p); do all[$pid]=1; done
	for pid in "${!all[@]}"; do kill_tree "$pid"; done
	[[ -n $TMP && -d $TMP ]] && rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'log ""; log "run.sh: interrupted, cleaning up"; cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM HUP

# spawn OUT ERR CMD...: start CMD in a new session (stdin /dev/null); sets SPAWNED.
spawn() {
	local out=$1 err=$2
	shift 2
	setsid "$@" </dev/null >"$out" 2>"$err" &
	SPAWNED=$!
	LIVE[$SPAWNED]=1
}

# run_timed OUT ERR CMD...: run CMD in its own session, kill its tree after
# $TIMEOUT s; sets RC to CMD's exit status (124 on timeout) and LEAKED to 1 if
# processes of its session outlived it (they are killed).
run_timed() {
	spawn "$@"
	local pid=$SPAWNED who=
	sleep "$TIMEOUT" &
	local sp=$!
	LIVE[$sp]=1
	wait -n -p who "$pid" "$sp"
	RC=$?
	LEAKED=0
	if [[ $who == "$pid" ]]; then
		unset "LIVE[$pid]"
		# The pid stays reserved while its process group has members, so this
		# can only hit leftovers of CMD's own session (setsid made pgid = pid).
		# Grace period: members may still be exiting (e.g. a PID namespace
		# being torn down after its reaper died).
		local i
		for ((i = 0; i < 10; i++)); do
			kill -0 -- "-$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 -- "-$pid" 2>/dev/null; then
			LEAKED=1
			kill -KILL -- "-$pid" 2>/dev/null
		fi
	else
		RC=124
		kill_tree "$pid"
	fi
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	unset "LIVE[$sp]"
}

# ------------------------------------------------------------------- build --

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crrun-bench.XXXXXX") || die "mktemp failed"
command -v "$CC" >/dev/null || die "$CC not found"
"$CC" -O2 -Wall -Wextra -o "$TMP/syscallbench" "$ROOT/bench/syscallbench.c" -pthread ||
	die "compiling syscallbench.c failed"
"$CC" -O2 -Wall -Wextra -o "$TMP/allowall" "$ROOT/bench/allowall.c" ||
	die "compiling allowall.c failed"
command -v setsid >/dev/null || die "setsid (util-linux) not found"
command -v ps >/dev/null || die "ps (procps) not found"

# ------------------------------------------------------------------ crrun? --

CONFIGS=(native allowall)
CRRUN_NOTE=
if [[ ! -e $CRRUN ]]; then
	CRRUN_NOTE="crrun column skipped: $CRRUN does not exist (run \`make build\` first, or set CRRUN)."
elif [[ ! -x $CRRUN ]]; then
	CRRUN_NOTE="crrun column skipped: $CRRUN is not executable."
else
	# Smoke test: a failing crrun would otherwise fail every cell.
	run_timed "$TMP/smoke.out" "$TMP/smoke.err" "$CRRUN" -- /bin/true
	smoke_rc=$RC
	[[ $RC == 124 ]] && smoke_rc="timeout after ${TIMEOUT}s"
	if [[ $smoke_rc == 0 ]]; then
		CONFIGS+=(crrun)
	else
		CRRUN_NOTE="crrun column skipped: \`$CRRUN -- /bin/true\` failed (exit $smoke_rc): $(head -c 300 "$TMP/smoke.err" | tr '\n' ' ')"
	fi
fi
[[ -n $CRRUN_NOTE ]] && log "run.sh: $CRRUN_NOTE"

cmd_for() { # config -> command prefix
	case $1 in
	native) ;;
	allowall) printf '%s\n' "$TMP/allowall" ;;
	crrun) printf '%s\n' "$CRRUN" -- ;;
	esac
}

# --------------------------------------------------------------------- run --

RESULTS=$TMP/results.tsv # rep mode config ns_per_op|fail
FAILS=$TMP/fails.txt
LEAKS=$TMP/leaks.txt
: >"$RESULTS"
: >"$FAILS"
: >"$LEAKS"
NC=${#CONFIGS[@]}
log "run.sh: ${#MODES[@]} modes x ${NC} configs (${CONFIGS[*]}) x $REPS reps, ${TIME_MS} ms each"
START_S=$SECONDS
for ((rep = 1; rep <= REPS; rep++)); do
	line="rep $rep/$REPS:"
	for mode in "${MODES[@]}"; do
		for ((k = 0; k < NC; k++)); do
			cfg=${CONFIGS[$(((k + rep) % NC))]}
			mapfile -t prefix < <(cmd_for "$cfg")
			out=$TMP/out.$rep.$mode.$cfg
			err=$TMP/err.$rep.$mode.$cfg
			run_timed "$out" "$err" "${prefix[@]}" "$TMP/syscallbench" "$mode" "$TIME_MS"
			rc=$RC
			[[ $RC == 124 ]] && rc="timeout after ${TIMEOUT}s"
			((LEAKED)) && printf '%s %s rep %d: processes outlived the run (killed)\n' \
				"$mode" "$cfg" "$rep" >>"$LEAKS"
			v=$(sed -n 's/^BENCH .*ns_per_op=\([0-9.]*\).*errors=0$/\1/p' "$out" | head -n1)
			if [[ $rc != 0 || -z $v ]]; then
				v=fail
				printf '%s %s rep %d: exit %s; stderr: %s\n' "$mode" "$cfg" "$rep" "$rc" \
					"$(tail -c 300 "$err" | tr '\n' ' ')" >>"$FAILS"
			fi
			printf '%d\t%s\t%s\t%s\n' "$rep" "$mode" "$cfg" "$v" >>"$RESULTS"
			line+=" $mode/$cfg=$v"
		done
	done
	log "$line"
done
log "run.sh: benchmark loop took $((SECONDS - START_S)) s"

# --------------------------------------------------------------- idle RSS --

RSS_MIB=
RSS_NOTE=
if [[ " ${CONFIGS[*]} " == *" crrun "* ]]; then
	spawn "$TMP/rss.out" "$TMP/rss.err" "$CRRUN" -- sleep 5
	rss_pid=$SPAWNED
	sleep 1
	if running "$rss_pid"; then
		kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$rss_pid/status" 2>/dev/null)
		hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$rss_pid/status" 2>/dev/null)
		# The rest of crrun's own processes (its init in the PID namespace),
		# i.e. every descendant except the program (sleep).
		others_kb=0 others_n=0
		for d in $(descendants "$rss_pid"); do
			[[ $(cat "/proc/$d/comm" 2>/dev/null) == sleep ]] && continue
			dk=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$d/status" 2>/dev/null)
			[[ -n $dk ]] && others_kb=$((others_kb + dk)) && others_n=$((others_n + 1))
		done
		if [[ -n $kb ]]; then
			RSS_MIB=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
			RSS_NOTE="supervisor (pid started by the driver) VmRSS after 1 s idle; VmHWM $(awk -v k="${hwm:-0}" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
			if ((others_n > 0)); then
				RSS_NOTE+="; its $others_n other crrun process(es) (init side) add $(awk -v k="$others_kb" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
			fi
		else
			RSS_NOTE="could not read /proc/$rss_pid/status"
		fi
	else
		RSS_NOTE="\`crrun -- sleep 5\` exited within 1 s: $(head -c 300 "$TMP/rss.err" | tr '\n' ' ')"
	fi
	kill_tree "$rss_pid" # no need to sit through the remaining 4 s
fi

# ------------------------------------------------------------------ report --

CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
KERNEL=$(uname -r)
NPROC=$(nproc)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
CRRUN_DESC=
if [[ " ${CONFIGS[*]} " == *" crrun "* ]]; then
	CRRUN_DESC="${CRRUN#"$ROOT"/} (built $(date -u -r "$CRRUN" '+%Y-%m-%d %H:%M UTC'))"
fi

CMDLINE="BENCH_REPS=$REPS BENCH_TIME_MS=$TIME_MS"
[[ $CRRUN != "$ROOT/bin/crrun" ]] && CMDLINE+=" CRRUN=$CRRUN"
[[ -n ${BENCH_MODES:-} ]] && CMDLINE+=" BENCH_MODES='${MODES[*]}'"
CMDLINE+=" bash bench/run.sh"
((WRITE_DOCS)) && CMDLINE+=" --write-docs"

SECTION=$TMP/section.md
{
	echo "### Latest measurement ($DATE)"
	echo
	echo "- Command: \`$CMDLINE\`"
	echo "- Machine: Linux $KERNEL, $CPU, nproc $NPROC, load average at the end $LOAD"
	[[ -n $CRRUN_DESC ]] && echo "- crrun: $CRRUN_DESC"
	echo "- Each cell: median of $REPS runs of ${TIME_MS} ms; native, allow-all and crrun interleaved in every repetition."
	echo
	awk -F'\t' -v reps="$REPS" -v configs="${CONFIGS[*]}" -v modes="${MODES[*]}" \
		-v rt_target="$TARGET_RT_NS" -v noise_pct="$NOISE_FLOOR_PCT" \
		-v rss="$RSS_MIB" -v rss_target="$TARGET_RSS_MIB" -v rss_note="$RSS_NOTE" \
		-v crrun_note="$CRRUN_NOTE" -f "$ROOT/bench/report.awk" "$RESULTS"
	if [[ -s $FAILS ]]; then
		echo
		echo "Failed runs:"
		echo
		sed 's/^/- /' "$FAILS"
	fi
	if [[ -s $LEAKS ]]; then
		echo
		echo "Processes that outlived their run (killed by the driver):"
		echo
		sed 's/^/- /' "$LEAKS"
	fi
} >"$SECTION"

cat "$SECTION"

if ((WRITE_DOCS)); then
	BEGIN_MARK='<!-- BEGIN run-overhead -->'
	END_MARK='<!-- END run-overhead -->'
	if [[ ! -f $DOCS ]]; then
		mkdir -p "$(dirname "$DOCS")"
		cat >"$DOCS" <<'EOF'
# Benchmarks

## Run-time overhead

What it costs to run a program under `crrun -- ./app` instead of `./app`.

- `bench/syscallbench.c` runs one operation in a loop for a fixed time (300 ms
  after a warm-up) and prints ns/op. Modes: `getppid` (a cheap untrapped
  syscall), `rw` (write then read 1 byte on a pipe), `forkexec` (fork, exec
  `/bin/true`, waitpid), `thread` (pthread_create + join) and `trapped`
  (`personality(PER_LINUX)`, which is in crrun's NOCR table: under crrun every
  call is a seccomp user notification answered with CONTINUE, so its time minus
  the native time is the notification round trip).
- `bench/allowall.c` runs a program under a one-instruction
  `ret SECCOMP_RET_ALLOW` filter: the floor cost of having any seccomp filter.
  crrun's untrapped syscalls should cost no more than this.
- `bench/run.sh` compiles both, runs every mode natively, under allow-all and
  under `bin/crrun --`, 7 times, interleaved (the three configurations run back
  to back in every repetition, in rotating order), and reports medians. It
  also reads the supervisor's VmRSS while `crrun -- sleep 5` idles.

Targets (reported, not asserted): untrapped syscalls within noise of
allow-all; trapped round trip ≤ 15 µs; supervisor idle RSS ≤ 15 MiB.

Run it with `make bench`: it builds crrun and runs
`bash bench/run.sh --write-docs`, which rewrites the section below (without
`--write-docs` the section is only printed). Knobs: `BENCH_REPS` (7),
`BENCH_TIME_MS` (300), `BENCH_MODES`, `CRRUN` (default `bin/crrun`; the crrun
column is skipped with a note if it is missing). A full run takes about 40 s.

The numbers are medians on a noisy shared 2-core VM (other builds run
alongside): compare the columns of one run, not runs from different days.

<!-- BEGIN run-overhead -->
<!-- END run-overhead -->
EOF
	fi
	if ! grep -qF "$BEGIN_MARK" "$DOCS" || ! grep -qF "$END_MARK" "$DOCS"; then
		printf '\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOCS"
	fi
	awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v sec="$SECTION" '
		$0 == b { print; while ((getline l < sec) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$DOCS" >"$TMP/benchmarks.md" &&
		cat "$TMP/benchmarks.md" >"$DOCS" &&
		log "run.sh: wrote $DOCS"
fi
