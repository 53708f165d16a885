#!/usr/bin/env bash
# bench/crbench.sh — checkpoint/restore benchmark (the second step of `make bench`).
#
# Builds bench/crbench (Go) into a temp dir and runs it from the repository
# root; crbench compiles bench/memhog.c, threadhog.c and treehog.c, measures
# checkpoint and restore of them under crrun (memory sizes, 250-1000 threads,
# 4- and 16-process trees) against this machine's raw limits, prints the
# report and, with --write-docs, rewrites the sections of docs/benchmarks.md
# of the groups that ran. `bash bench/crbench.sh --help` lists the knobs
# (CRBENCH_CASES, CRBENCH_SKIP, CRBENCH_REPS, CRBENCH_DIR, …), e.g.
#   CRBENCH_CASES=threads bash bench/crbench.sh     # only the thread cases
#   CRBENCH_SKIP="threads tree" make bench          # only memhog's
#
# crbench kills and reaps everything it starts and removes its checkpoint
# directories on every exit path; this wrapper forwards INT/TERM/HUP to it,
# waits for it, and removes the build dir.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crbench-build.XXXXXX") || exit 1
CHILD=

cleanup() {
	if [[ -n $CHILD ]]; then
		kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	rm -rf -- "$TMP"
}
trap cleanup EXIT
# forward SIG: crbench cleans up and exits; then the wrapper exits the same way.
forward() {
	local sig=$1 code=$2
	[[ -n $CHILD ]] && kill -s "$sig" "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
	CHILD=
	cleanup
	trap - EXIT
	exit "$code"
}
trap 'forward INT 130' INT
trap 'forward TERM 143' TERM
trap 'forward HUP 129' HUP

cd "$ROOT" || exit 1
CGO_ENABLED=0 "$GO" build -o "$TMP/crbench" ./bench/crbench || {
	echo "crbench.sh: building bench/crbench failed" >&2
	exit 1
}
"$TMP/crbench" --root "$ROOT" "$@" &
CHILD=$!
wait "$CHILD"
rc=$?
CHILD=
exit "$rc"
