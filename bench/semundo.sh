#!/bin/bash
# semundo.sh: the checkpoint pause with and without SEM_UNDO adjustments
# (docs/benchmarks.md, "SEM_UNDO"): for each case NSEMS UNDO THREADS, REPS
# keep-running checkpoints of bench/semundo, their pauses as the
# supervisor logs them, the median. Needs bin/crrun (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-21}
CRRUN=$PWD/bin/crrun
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O1 -pthread -o "$tmp/semundo" bench/semundo.c
echo "$(date -u '+%F %H:%M UTC'), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at the start, $REPS checkpoints each"
echo "| semaphores | SEM_UNDO | threads | median pause | min |"
echo "|--:|---|--:|--:|--:|"
for c in "16 0 1" "16 1 1" "16 0 2" "16 1 2" "64 0 2" "64 1 2"; do
	set -- $c
	d=$tmp/run-$1-$2-$3
	mkdir -p "$d"
	"$CRRUN" --dir "$d/st" -- "$tmp/semundo" "$@" 2>"$d/err" &
	cr=$!
	for _ in $(seq 100); do grep -qs ready "$d/err" && break; sleep 0.1; done
	for _ in $(seq "$REPS"); do "$CRRUN" checkpoint "$cr" >/dev/null 2>&1 || true; done
	kill "$cr"; wait "$cr" 2>/dev/null || true
	grep -o 'pause=[0-9.]*[mµ]*s' "$d/err" | sed 's/pause=//' | python3 -c "
import sys, statistics
v = []
for t in sys.stdin.read().split():
    if t.endswith('µs'): v.append(float(t[:-2]) / 1000)
    elif t.endswith('ms'): v.append(float(t[:-2]))
    elif t.endswith('s'): v.append(float(t[:-1]) * 1000)
print('| $1 | %s | $3 | %.0f ms | %.0f ms |' % ('yes' if '$2' == '1' else 'no', statistics.median(v), min(v)))"
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
