package supervisor

import (
	"os"
	"slices"
	"testing"
)

// The record of SEM_UNDO callers: sets per process, and a pid whose start
// time changed (reused by another process) has none.
func TestSemUndoRecord(t *testing.T) {
	var r semUndoRecord
	pid := os.Getpid()
	r.add(pid, 3)
	r.add(pid, 1)
	r.add(pid, 3)
	if got := r.sets(pid); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("sets = %v, want [1 3]", got)
	}
	if got := r.sets(pid + 1_000_000); got != nil {
		t.Fatalf("an unrecorded pid has sets %v", got)
	}
	r.m[pid].start++ // as if the pid were another process's now
	if got := r.sets(pid); got != nil {
		t.Fatalf("a reused pid has sets %v", got)
	}
	if _, ok := r.m[pid]; ok {
		t.Fatal("the stale entry was kept")
	}
	r.add(1<<30, 5) // no such process: nothing recorded
	if len(r.m) != 0 {
		t.Fatalf("record %v, want empty", r.m)
	}
}
