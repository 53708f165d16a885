#!/usr/bin/env bash
# `make demo`: run a real program under crrun, watch it trip NOCR and recover.
set -euo pipefail
cd "$(dirname "$0")/.."
CRRUN=$(readlink -f "${CRRUN:-bin/crrun}")
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
[ "$status" = 0 ] || exit "$status"

# Part three: a shell pipeline, checkpointed mid-stream with bytes in its
# pipes, ended, and restored: every process, pipe byte and exit status back.
cat >"$tmp/job.sh" <<'JOB'
#!/bin/bash
# a producer streams 300 lines slowly; sort, uniq -c and gzip consume them
for i in $(seq 1 300); do echo "item $((i * 7 % 23))"; sleep 0.01; done | sort | uniq -c | gzip >out.gz
echo "pipeline exit statuses: ${PIPESTATUS[*]}"
zcat out.gz | sha256sum | cut -c1-16
JOB
chmod +x "$tmp/job.sh"
(cd "$tmp" && bash ./job.sh >"$tmp/want.txt")
say "crrun --dir $tmp/pipe -- ./job.sh   (bash | sort | uniq -c | gzip)"
(cd "$tmp" && exec "$CRRUN" --dir "$tmp/pipe" -- ./job.sh >"$tmp/got.txt") &
pid=$!
sleep 1.5
say "crrun status   (the tree)"
"$CRRUN" status "$pid" | sed -n 1,12p
say "crrun checkpoint --exit"
"$CRRUN" checkpoint --exit "$pid"
wait "$pid" || true
pid=
say "crrun restore $tmp/pipe"
(cd "$tmp" && "$CRRUN" restore "$tmp/pipe" >>"$tmp/got.txt")
cat "$tmp/got.txt"
if cmp -s "$tmp/want.txt" "$tmp/got.txt"; then
	say "PASS: the restored pipeline's output equals an uninterrupted run's"
else
	say "FAIL: want $(cat "$tmp/want.txt")"
	exit 1
fi
