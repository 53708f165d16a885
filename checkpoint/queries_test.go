package checkpoint

import (
	"testing"

	"github.com/crrun/crrun/internal/ptrace"
)

// A Go program's queries (it catches every signal) do not fit one page:
// they are cut into batches that each fit, in order, none empty.
func TestBatchFits(t *testing.T) {
	var qs []*query
	for range 90 {
		qs = append(qs, &query{outArg: 2, outLen: 32})
	}
	batches := 0
	for rest := qs; len(rest) > 0; batches++ {
		n := batchFits(rest)
		if n == 0 {
			t.Fatalf("no query of %d fits a page", len(rest))
		}
		if _, end, table, ok := batchLayout(rest[:n]); !ok || end > table || table+ptrace.BatchSize(n) > ptrace.ScratchSize {
			t.Fatalf("a batch of %d does not fit: outputs end at %d, table at %d", n, end, table)
		}
		if n < len(rest) {
			if _, _, _, ok := batchLayout(rest[:n+1]); ok {
				t.Fatalf("batch of %d cut short: %d fit", n, n+1)
			}
		}
		rest = rest[n:]
	}
	if batches < 2 || batches > 4 {
		t.Fatalf("90 queries in %d batches", batches)
	}
	if n := batchFits([]*query{{outArg: 1, outLen: ptrace.ScratchSize}}); n != 0 {
		t.Fatalf("a query larger than the page fits: %d", n)
	}
}
