package tests

// File locks and the remaining fd state (issue 9, item 3). Each kind has
// its corpus program (TestCorpus runs them: posix_locks, ofd_lock, flock,
// lease, lease_break, sqlite_txn, sqlite_wal, fasync, fasync_outside,
// proc_fd, o_path, unix_shutdown, epoll_closed, unix_rebind); the tests here
// cover what the corpus cannot: stdio that is a regular file, and the
// restore refusing a lock someone else holds now.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStdioFile: `app < input.sql > out.log`, checkpointed mid-file and
// restored with another stdin and stdout (pipes): the app's stdin and
// stdout are the files again, at their offsets (a regular file is never the
// restorer's stdio), so it reads on from the right line and out.log ends as
// an uninterrupted run's.
func TestStdioFile(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	if err := os.MkdirAll(filepath.Join(workDir, "locks"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := compileC(t, "locks/stdin_lines", false)
	var input strings.Builder
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&input, "row %d of the input\n", i)
	}
	startFiles := func(dir string, args ...string) (*app, string) {
		in, out := filepath.Join(dir, "input.sql"), filepath.Join(dir, "out.log")
		if err := os.WriteFile(in, []byte(input.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return startStdio(t, dir, in, out, args...), out
	}
	refDir := t.TempDir()
	ra, refOut := startFiles(refDir, "--", bin)
	if code := ra.wait(time.Minute); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\nstderr:\n%s", code, ra.stderr)
	}
	ref, _ := os.ReadFile(refOut)
	if !crPassed(string(ref)) {
		t.Fatalf("uninterrupted run did not PASS:\n%s", ref)
	}

	rng := crRand(t)
	store, dir := t.TempDir(), t.TempDir()
	a, outPath := startFiles(dir, "--dir", store, "--", bin)
	crWaitStderr(t, a, "stdin_lines: running", time.Minute)
	time.Sleep(crDelay(rng, 300*time.Millisecond, 1500*time.Millisecond))
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
	}
	mid, _ := os.ReadFile(outPath)
	t.Logf("checkpointed after %d lines", strings.Count(string(mid), "\n"))
	r := start(t, opts{dir: dir, stdinData: "row 1 of another stdin\nrow 2\n"}, "restore", store)
	if code := r.wait(time.Minute); code != 0 {
		t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if r.stdout.String() != "" {
		t.Errorf("the restored app wrote to the restorer's stdout, not out.log: %q", r.stdout)
	}
	got, _ := os.ReadFile(outPath)
	if string(got) != string(ref) {
		t.Fatalf("out.log after the restore differs from an uninterrupted run's: %s\n%s", crDiff(string(ref), string(got)), got)
	}
}

// startStdio runs crrun with its stdin read from the file in and its stdout
// written to the file out (truncated), as a shell's `< in > out` would;
// stderr is the test's buffer.
func startStdio(t *testing.T, dir, in, out string, args ...string) *app {
	t.Helper()
	stdin, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	return start(t, opts{stdin: stdin, stdout: stdout, dir: dir}, args...)
}

// TestLocksConflict: a lock the image holds that another process outside
// the app holds now fails the restore, naming that process; nothing of the
// app runs. Once the other process lets go, the same image restores and
// the app PASSes.
func TestLocksConflict(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	bin := corpusBin(t, "posix_locks")
	store, dir := t.TempDir(), t.TempDir()
	a := start(t, opts{dir: dir}, "--dir", store, "--", bin)
	crWaitStderr(t, a, "posix_locks: running", time.Minute)
	time.Sleep(200 * time.Millisecond)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
	}
	before := a.stdout.String()
	// The test takes the byte the parent had write-locked, from outside.
	f, err := os.OpenFile(filepath.Join(dir, "posix_locks.dat"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 250, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatalf("take the conflicting lock: %v", err)
	}
	r := start(t, opts{dir: dir}, "restore", store)
	code := r.wait(time.Minute)
	if code == 0 || !strings.Contains(r.stderr.String(), "locked by another process") ||
		!strings.Contains(r.stderr.String(), "posix_locks.dat") || !strings.Contains(r.stderr.String(), "OFDLCK READ 250-250 held by an open file description (OFD lock) of pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("restore with the file locked elsewhere: exit %d, want a failure naming the file and the holder\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if r.stdout.String() != "" {
		t.Fatalf("the app ran although its restore failed:\n%s", r.stdout)
	}
	t.Logf("refused: %s", firstLine(strings.SplitAfterN(r.stderr.String(), "restore:", 2)[len(strings.SplitAfterN(r.stderr.String(), "restore:", 2))-1]))
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, opts{dir: dir}, "restore", store)
	if code := r2.wait(time.Minute); code != 0 || !crPassed(before+r2.stdout.String()) {
		t.Fatalf("restore once the file is free: exit %d\nstdout:\n%s\nstderr:\n%s", code, r2.stdout, r2.stderr)
	}
}
