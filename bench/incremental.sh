#!/usr/bin/env bash
# bench/incremental.sh — incremental generations (issue 11, item 3; the fourth
# step of `make bench`): what the second checkpoint of a run writes and costs,
# against the first (full) one of the same run.
#
#   bash bench/incremental.sh [--write-docs] [CASES...]
#
# Cases (default: all three):
#   contig     bench/rewrite.c: 1 GiB of random words; between the two
#              checkpoints it rewrites 5 % of its pages, one contiguous slice
#              (--compress=none: the bytes written are the memory)
#   scattered  the same, one page in 20 spread over the GiB
#   words      bench/memhog -m 1024 -t 1, 1 s between the checkpoints: it
#              rewrites random words all over its GiB (about a quarter of the
#              pages, scattered), the worst case for an incremental one
# Each repetition (INCR_REPS, default 3) runs every case once: crrun --dir D
# -- APP, `crrun checkpoint --json` (first), the rewrite, `crrun checkpoint
# --json` (second), SIGTERM. Reported: medians of the memory saved anew
# (`bytes`), the bytes of the generation on disk, the pause and the total of
# each checkpoint, and the second's as a ratio to the first's of the same
# run. With --write-docs the "incremental" section of docs/benchmarks.md is
# rewritten. CRRUN: the crrun binary (default bin/crrun).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRRUN=${CRRUN:-$ROOT/bin/crrun}
REPS=${INCR_REPS:-3}
WRITE_DOCS=0
[[ ${1:-} == --write-docs ]] && WRITE_DOCS=1 && shift
CASES=("$@")
[[ ${#CASES[@]} -eq 0 ]] && CASES=(contig scattered words)
W=$(mktemp -d "${TMPDIR:-/tmp}/incr.XXXXXX") || exit 1
APP=
cleanup() {
	[[ -n $APP ]] && kill -TERM "$APP" 2>/dev/null && wait "$APP" 2>/dev/null
	rm -rf -- "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cc -O2 -o "$W/rewrite" "$ROOT/bench/rewrite.c" || exit 1
cc -O2 -pthread -o "$W/memhog" "$ROOT/bench/memhog.c" || exit 1

# ckpt -> "bytes disk pause total" of the checkpoint just taken
ckpt() {
	local j
	j=$("$CRRUN" checkpoint --json "$APP" 2>>"$W/err") || { echo "- - - -"; return; }
	python3 -c '
import json, os, subprocess, sys
j = json.loads(sys.argv[1])
disk = int(subprocess.run(["du", "-sb", j["dir"]], capture_output=True, text=True).stdout.split()[0])
print(j["bytes"], disk, j["pause_ms"], j["total_ms"])' "$j"
}

one() { # case -> "first... second..."
	local c=$1 d first second
	d=$(mktemp -d "$W/ck.XXXXXX")
	case $c in
	contig | scattered)
		local arg=""
		[[ $c == scattered ]] && arg=s
		# shellcheck disable=SC2086
		setsid "$CRRUN" --compress=none --dir "$d/store" -- "$W/rewrite" $arg >/dev/null 2>"$W/app.err" </dev/null &
		APP=$!
		for _ in $(seq 1 600); do grep -q 'big: ready' "$W/app.err" && break; sleep 0.1; done
		first=$(ckpt)
		pkill -USR2 -f "^$W/rewrite"
		for _ in $(seq 1 300); do grep -q 'big: rewritten' "$W/app.err" && break; sleep 0.1; done
		;;
	words)
		setsid "$CRRUN" --dir "$d/store" -- "$W/memhog" -m 1024 -t 1 >"$W/app.out" 2>"$W/app.err" </dev/null &
		APP=$!
		for _ in $(seq 1 600); do grep -q ready "$W/app.out" && break; sleep 0.1; done
		sleep 0.3
		first=$(ckpt)
		sleep 1
		;;
	esac
	second=$(ckpt)
	kill -TERM "$APP" 2>/dev/null
	wait "$APP" 2>/dev/null
	APP=
	rm -rf -- "$d"
	echo "$first $second"
}

RES=$W/results
for rep in $(seq 1 "$REPS"); do
	for c in "${CASES[@]}"; do
		r=$(one "$c")
		echo "$c $rep $r $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RES"
	done
done
TABLE=$(python3 - "$RES" <<'EOF'
import sys, statistics as st, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if '-' in f[2:10]:
        continue
    runs[f[0]].append([float(x) for x in f[2:10]])
mib = lambda b: f"{b / 2**20:.1f} MiB"
print("| case | first (full): memory, on disk, pause, total | second: memory (% of first), on disk, pause, total (× first) | runs |")
print("|---|--:|--:|--:|")
for c, v in runs.items():
    m = lambda i: st.median(x[i] for x in v)
    ratio = lambda i, j: st.median(x[i] / x[j] for x in v if x[j] > 0)
    print(f"| {c} | {mib(m(0))}, {m(1) / 1e6:.0f} MB, {m(2):.0f} ms, {m(3) / 1000:.2f} s "
          f"| {mib(m(4))} ({100 * ratio(4, 0):.1f} %), {m(5) / 1e6:.0f} MB, {m(6):.0f} ms, {m(7) / 1000:.2f} s ({ratio(7, 3):.2f}×) | {len(v)} |")
EOF
)
# shellcheck source=bench/docsection.sh
. "$ROOT/bench/docsection.sh"
SECTION=$(latest_section "\`bash bench/incremental.sh --write-docs\` (INCR_REPS=$REPS, medians)" "$TABLE")
echo "$SECTION"
if ((WRITE_DOCS)); then write_section incremental "$SECTION"; fi
