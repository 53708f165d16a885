#!/usr/bin/env bash
# `make demo`: run a real program under crrun, watch it trip NOCR and recover.
set -euo pipefail
cd "$(dirname "$0")/.."
CRRUN=${CRRUN:-bin/crrun}
tmp=$(mktemp -d)
cleanup() {
	if [ -n "${pid:-}" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
gcc -O1 -o "$tmp/demo" examples/demo.c
# Only stdio goes to the app: an fd inherited from the caller (a CI runner's
# pipe) would rightly show up in crrun's scan.
for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done || true
export CRRUN_RUNTIME_DIR="$tmp/run"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mkfifo "$tmp/ctl"
say "crrun -- $tmp/demo"
"$CRRUN" -- "$tmp/demo" <"$tmp/ctl" &
pid=$!
exec 3>"$tmp/ctl"
status() { sleep 1; say "crrun status"; "$CRRUN" status "$pid"; }
status; echo >&3
status; echo >&3
status
say "crrun status --json"
"$CRRUN" status --json "$pid"
exec 3>&-
status=0
wait "$pid" || status=$?
pid=
say "the app exited with status $status; crrun mirrored it"

# Part two: checkpoint a running program, end it, restore it.
gcc -O1 -o "$tmp/count" examples/count.c
say "crrun --dir $tmp/ckpt -- $tmp/count"
"$CRRUN" --dir "$tmp/ckpt" -- "$tmp/count" &
pid=$!
sleep 1.5
say "crrun checkpoint --exit   (the app is frozen, saved, ended)"
"$CRRUN" checkpoint --exit "$pid"
wait "$pid" || echo "crrun exited with $? (75: checkpointed and ended)"
pid=
say "crrun inspect $tmp/ckpt"
"$CRRUN" inspect "$tmp/ckpt" | sed -n 1,12p
say "crrun restore $tmp/ckpt   (same pid, same memory: it counts on)"
status=0
"$CRRUN" restore "$tmp/ckpt" || status=$?
exit "$status"
