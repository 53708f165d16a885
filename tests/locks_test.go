package tests

// File locks and the remaining fd state (issue 9, item 3): POSIX, OFD and
// flock locks and leases, stdio that was a regular file, O_ASYNC with its
// owner and signal, and the fd kinds that must be restored exactly or
// refused. The C programs are corpus programs (tests/corpus/<kind>.c: they
// check their own state through the kernel's view and print PASS); the
// tests here run each uninterrupted, then checkpointed (--exit) at a
// seeded random moment after "<kind>: running" and restored, and the two
// halves' stdout must make up the uninterrupted run's.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// corpusCompile builds tests/corpus/<kind>.c once per run.
func corpusCompile(t *testing.T, kind string, extra ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := fmt.Sprint("corpus/", kind, extra)
	if p, ok := built[key]; ok {
		return p
	}
	out := filepath.Join(workDir, "corpus-"+kind)
	args := append([]string{"-O1", "-g", "-Wall", "-pthread", "-o", out, filepath.Join(repoRoot, "tests", "corpus", kind+".c")}, extra...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", kind, err, b)
	}
	built[key] = out
	return out
}

// corpusCase is one corpus program's round trip.
type corpusCase struct {
	kind   string
	extra  []string      // gcc arguments (libraries)
	lo, hi time.Duration // the checkpoint lands this long after "<kind>: running"
	// refuse, if set, is a substring every refusal reason must have: the
	// checkpoint must exit 1 naming it, and the app run on to PASS.
	refuse string
}

// corpusRoundTrip runs c uninterrupted, then checkpointed with --exit at a
// random moment and restored.
func corpusRoundTrip(t *testing.T, c corpusCase) {
	t.Helper()
	requireRoot(t)
	requireCR(t)
	bin := corpusCompile(t, c.kind, c.extra...)
	refDir := t.TempDir()
	ra := start(t, opts{dir: refDir}, "--", bin)
	if code := ra.wait(time.Minute); code != 0 || !crPassed(ra.stdout.String()) {
		t.Fatalf("uninterrupted run: exit %d\nstdout:\n%s\nstderr:\n%s", code, ra.stdout, ra.stderr)
	}
	ref := ra.stdout.String()

	rng := crRand(t)
	store, dir := t.TempDir(), t.TempDir()
	a := start(t, opts{dir: dir}, "--dir", store, "--", bin)
	crWaitStderr(t, a, c.kind+": running", time.Minute)
	d := crDelay(rng, c.lo, c.hi)
	t.Logf("checkpoint %v after %q", d, c.kind+": running")
	time.Sleep(d)
	if c.refuse != "" {
		code, out, errs := crClient(t, a.runtime, 2*time.Minute, "checkpoint", "--exit", strconv.Itoa(a.cmd.Process.Pid))
		if code != 1 || !strings.Contains(errs, c.refuse) {
			t.Fatalf("checkpoint: exit %d, want 1 naming %q\nstdout: %s\nstderr: %s", code, c.refuse, out, errs)
		}
		if code := a.wait(time.Minute); code != 0 || a.stdout.String() != ref {
			t.Fatalf("after the refusal: exit %d, output %q, want %q\nstderr:\n%s", code, a.stdout, ref, a.stderr)
		}
		t.Logf("refused as expected: %s", firstReason(errs))
		return
	}
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
	}
	before := a.stdout.String()
	r := start(t, opts{dir: dir}, "restore", store)
	if code := r.wait(time.Minute); code != 0 {
		t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if !crPassed(r.stdout.String()) {
		t.Logf("restored app's stderr:\n%s", r.stderr)
	}
	crCheckJoin(t, ref, before, r.stdout.String(), true)
}

func firstReason(errs string) string {
	for _, l := range strings.Split(errs, "\n") {
		if strings.Contains(l, "CR:") {
			return strings.TrimSpace(l)
		}
	}
	return firstLine(errs)
}

// TestLocksPOSIX: POSIX range locks of three processes on one file (one
// through a descriptor it inherited) come back with their owners, ranges
// and types, as fdinfo and F_GETLK from another process show.
func TestLocksPOSIX(t *testing.T) {
	t.Parallel()
	corpusRoundTrip(t, corpusCase{kind: "posix_locks", lo: 50 * time.Millisecond, hi: 1200 * time.Millisecond})
}

// TestLocksOFD: OFD locks shared by a forked child through their
// description come back once, on the one description both hold.
func TestLocksOFD(t *testing.T) {
	t.Parallel()
	corpusRoundTrip(t, corpusCase{kind: "ofd_lock", lo: 50 * time.Millisecond, hi: 1200 * time.Millisecond})
}

// TestLocksFlock: an exclusive flock shared by fork and a shared one a
// child took come back with the pids that took them.
func TestLocksFlock(t *testing.T) {
	t.Parallel()
	corpusRoundTrip(t, corpusCase{kind: "flock", lo: 50 * time.Millisecond, hi: 1200 * time.Millisecond})
}

// TestLocksLease: a read lease comes back held by the same process, which
// is again the description's owner and gets SIGIO when it is broken.
func TestLocksLease(t *testing.T) {
	t.Parallel()
	corpusRoundTrip(t, corpusCase{kind: "lease", lo: 50 * time.Millisecond, hi: 1200 * time.Millisecond})
}
