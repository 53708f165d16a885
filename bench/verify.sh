#!/usr/bin/env bash
# bench/verify.sh — the cost of a restore's self-verification (the third step
# of `make bench`): `go test -bench Observe ./inventory`, which observes a
# stopped `sh`, a stopped C program with 64 threads and 32 fds, and the Go
# test process itself (≈10 threads, ≈100 mappings), and compares each
# observation with itself (the verifier's work per process at restore). It
# runs BENCH_REPS times (default 7) and reports medians; with --write-docs it
# rewrites the "verify" section of docs/benchmarks.md.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}
REPS=${BENCH_REPS:-7}
WRITE_DOCS=0
[[ ${1:-} == --write-docs ]] && WRITE_DOCS=1
OUT=$(mktemp) || exit 1
trap 'rm -f "$OUT"' EXIT
cd "$ROOT" || exit 1
"$GO" test -run XXX -bench Observe -count "$REPS" ./inventory >"$OUT" 2>&1 || { cat "$OUT"; exit 1; }
TABLE=$(awk '
	/^BenchmarkObserve\// {
		name = $1; sub(/^BenchmarkObserve\//, "", name); sub(/-[0-9]+$/, "", name)
		v[name] = v[name] " " $3; f[name] = $5
		if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	}
	END {
		print "| process observed | fields | median per observation + comparison | runs |"
		print "|---|--:|--:|--:|"
		for (i = 1; i <= n; i++) {
			k = split(v[order[i]], a, " ")
			for (x = 1; x <= k; x++) for (y = x + 1; y <= k; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
			med = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
			printf "| %s | %d | %.2f ms | %d |\n", order[i], f[order[i]], med / 1e6, k
		}
	}' "$OUT")
# shellcheck source=bench/docsection.sh
. "$ROOT/bench/docsection.sh"
SECTION=$(latest_section "\`bash bench/verify.sh --write-docs\` (\`go test -run XXX -bench Observe -count $REPS ./inventory\`)" "$TABLE")
echo "$SECTION"
if ((WRITE_DOCS)); then write_section verify "$SECTION"; fi
