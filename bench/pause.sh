#!/usr/bin/env bash
# bench/pause.sh — the app's pause in a keep-running checkpoint, two crrun
# builds side by side (issue 11, items 1 and 5; docs/benchmarks.md).
#
#   bash bench/pause.sh BASE_CRRUN AFTER_CRRUN [REPS] [CASES...]
#
# Each repetition runs every case once with each build, the two builds in
# alternating order (base first in odd repetitions); one run is: crrun
# --log-level debug --dir D -- APP, wait for every process's ready line +
# 0.3 s, `crrun checkpoint --json`, read pause_ms and total_ms, SIGTERM.
# Cases (default: sparse16 dense16 tree16 dense256 dense1g):
#   sparse16  memhog -m 4096 -t 1 -s 16   16 MiB touched one page in 256 of 4 GiB
#   dense16   memhog -m 16 -t 1
#   tree16    treehog -n 16 -m 1          16 processes of 1 MiB
#   dense256  memhog -m 256 -t 1
#   dense1g   memhog -m 1024 -t 1
#   dense4g   memhog -m 4096 -t 1
#   go16      gohog -m 16                 a Go program (every signal caught, several threads)
#   incr1g    memhog -m 1024 -t 1, the second checkpoint, 1 s after the
#             first: incremental, after the app rewrote random words of
#             its GiB (about a quarter of its pages, scattered)
# Prints one line per run: "case build rep pause_ms total_ms load1", then
# the medians; the debug logs stay in $PAUSE_OUT (default a temp dir) as
# CASE-BUILD-REP.err.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=$1 AFTER=$2 REPS=${3:-5}
shift 2
[[ $# -gt 0 ]] && shift
CASES=("$@")
[[ ${#CASES[@]} -eq 0 ]] && CASES=(sparse16 dense16 tree16 dense256 dense1g)
OUT=${PAUSE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/pause.XXXXXX")}
mkdir -p "$OUT"
cc -O2 -pthread -o "$OUT/memhog" "$ROOT/bench/memhog.c" || exit 1
cc -O2 -o "$OUT/treehog" "$ROOT/bench/treehog.c" || exit 1
(cd "$ROOT" && go build -o "$OUT/gohog" ./bench/gohog) || exit 1

app() { # case -> "ready-lines argv..."
	case $1 in
	sparse16) echo "1 $OUT/memhog -m 4096 -t 1 -s 16" ;;
	dense16) echo "1 $OUT/memhog -m 16 -t 1" ;;
	tree16) echo "16 $OUT/treehog -n 16 -m 1" ;;
	dense256) echo "1 $OUT/memhog -m 256 -t 1" ;;
	dense1g) echo "1 $OUT/memhog -m 1024 -t 1" ;;
	dense4g) echo "1 $OUT/memhog -m 4096 -t 1" ;;
	go16) echo "1 $OUT/gohog -m 16" ;;
	incr1g) echo "1 $OUT/memhog -m 1024 -t 1" ;;
	*) echo "pause.sh: unknown case $1" >&2; exit 2 ;;
	esac
}

APP=
cleanup() { [[ -n $APP ]] && kill -TERM "$APP" 2>/dev/null && wait "$APP" 2>/dev/null; }
trap cleanup EXIT

one() { # bin case tag
	local bin=$1 c=$2 tag=$3 n argv d j
	read -r n argv <<<"$(app "$c")"
	d=$(mktemp -d "$OUT/ck.XXXXXX")
	# shellcheck disable=SC2086
	"$bin" --log-level debug --dir "$d/img" -- $argv >"$OUT/$tag.out" 2>"$OUT/$tag.err" &
	APP=$!
	for _ in $(seq 1 1200); do
		[[ $(grep -ci ready "$OUT/$tag.out" 2>/dev/null) -ge $n ]] && break
		sleep 0.05
	done
	sleep 0.3
	if [[ $c == incr* ]]; then # the first, full: not the one measured
		"$bin" checkpoint --json "$APP" >/dev/null 2>>"$OUT/$tag.err"
		sleep 1
	fi
	j=$("$bin" checkpoint --json "$APP" 2>>"$OUT/$tag.err")
	kill -TERM "$APP" 2>/dev/null
	wait "$APP" 2>/dev/null
	APP=
	rm -rf "$d"
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["pause_ms"], j["total_ms"])' "$j" 2>/dev/null || echo "- -"
}

RES=$OUT/results
: >"$RES"
for rep in $(seq 1 "$REPS"); do
	for c in "${CASES[@]}"; do
		if ((rep % 2)); then order="base after"; else order="after base"; fi
		for b in $order; do
			bin=$BASE
			[[ $b == after ]] && bin=$AFTER
			load=$(cut -d' ' -f1 /proc/loadavg)
			r=$(one "$bin" "$c" "$c-$b-$rep")
			echo "$c $b $rep $r $load" | tee -a "$RES"
		done
	done
done
echo "# medians (pause_ms, total_ms; runs; load1 range), logs in $OUT"
python3 - "$RES" <<'EOF'
import sys, statistics as st, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    c, b, rep, p, t, load = line.split()
    if p != '-':
        runs[(c, b)].append((int(p), int(t), float(load)))
for (c, b), v in runs.items():
    ps = sorted(x[0] for x in v)
    print(f"{c} {b}: pause {st.median(ps):.0f} ms ({ps[0]}-{ps[-1]}), total {st.median(x[1] for x in v):.0f} ms, n={len(v)}, load {min(x[2] for x in v)}-{max(x[2] for x in v)}")
EOF
