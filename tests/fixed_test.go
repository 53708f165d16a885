package tests

import (
	"testing"
	"time"
)

// A keep-running checkpoint leaves a pending SIGCONT pending (the batched
// per-process queries would discard it: checkpoint/queries.go), and the
// restored app has it too.
func TestCRSigcontPending(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "sigcont", false)
	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", b)
	crWaitStderr(t, a, "sigcont: running", time.Minute)
	time.Sleep(300 * time.Millisecond)
	img := crCheckpoint(t, a, store, false)
	if code := a.wait(time.Minute); code != 0 || !crPassed(a.stdout.String()) {
		t.Fatalf("the app after a keep-running checkpoint: exit %d\nstdout:\n%s\nstderr:\n%s", code, a.stdout, a.stderr)
	}
	r := start(t, opts{}, "restore", img)
	if code := r.wait(time.Minute); code != 0 || !crPassed(r.stdout.String()) {
		t.Fatalf("restored: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}
