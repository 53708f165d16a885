package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// progressLine matches a progress line: bytes done of total, and the rate.
var restoreBar = regexp.MustCompile(`crrun: restore +\d+% \|[^|]*\| \( ?[\d.]+( [KMG]?B)?/[\d.]+ MB`)

var progressLine = regexp.MustCompile(`\(\d+(\.\d+)?/\d+ MB, [\d.]+ [KMG]?B/s\)`)

// crrunOnPTY runs crrun args... with its stderr on a new pty (stdout to a
// buffer) and CRRUN_PROGRESS_AFTER=0, so a fast machine shows progress too.
func crrunOnPTY(t *testing.T, rt string, args ...string) (*exec.Cmd, chan struct{}, *ptyReader, *syncBuffer) {
	t.Helper()
	m, slave := openPTY(t)
	p := readPTY(m)
	cmd := exec.Command(crrunBin, args...)
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt, "CRRUN_PROGRESS_AFTER=0")
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, waitInBackground(t, cmd), p, stdout
}

// A progress line (bytes, rate, time left) on stderr when it is a terminal,
// for checkpoints and restores, cleared before the next log line; never when
// stderr is a pipe or a file (logs).
func TestProgressOnTerminal(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "counter", false)
	store := filepath.Join(t.TempDir(), "store")
	rt := runtimeDir(t)
	cmd, done, p, _ := crrunOnPTY(t, rt, "--dir", store, "--", b, strconv.Itoa(2*crCounterIters), "64", t.TempDir())
	if err := eventually(time.Minute, func() bool { return strings.Contains(p.buf.String(), "counter: running") }); err != nil {
		t.Fatalf("the app did not start:\n%s", p.buf.String())
	}
	a := &app{t: t, cmd: cmd, runtime: rt, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	img1 := crCheckpoint(t, a, store, false)
	img2 := crCheckpoint(t, a, store, true)
	<-done
	term := p.buf.String()
	if !strings.Contains(term, "crrun: checkpoint ") || !progressLine.MatchString(term) {
		t.Errorf("no progress line of the checkpoint on the terminal:\n%q", term)
	}
	if !strings.Contains(term, "\x1b[2K\rcrrun: checkpoint written to ") {
		t.Errorf("the progress line was not cleared before the next log line:\n%q", term)
	}

	// stderr a pipe: no progress
	r := start(t, opts{env: []string{"CRRUN_PROGRESS_AFTER=0"}}, "restore", img1)
	if code := r.wait(2 * time.Minute); code != 0 || !crPassed(r.stdout.String()) {
		t.Fatalf("restore %s: exit %d\n%s", img1, code, r.stderr)
	}
	if s := r.stderr.String(); strings.Contains(s, "\r") || strings.Contains(s, "B/s") {
		t.Fatalf("progress on a stderr that is not a terminal:\n%q", s)
	}

	cmd, done, p, stdout := crrunOnPTY(t, runtimeDir(t), "restore", img2)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("crrun restore did not exit\n%s", p.buf.String())
	}
	if !cmd.ProcessState.Success() || !crPassed(stdout.String()) {
		t.Fatalf("restore: %v\nstdout:\n%s\nterminal:\n%s", cmd.ProcessState, stdout.String(), p.buf.String())
	}
	term = p.buf.String()
	// (verifying the image may be too quick to show: it is in the page cache)
	// A quick restore may end before the bar's first update: its line
	// then shows 0% and no rate yet, which is still the line we want.
	if !restoreBar.MatchString(term) {
		t.Errorf("no progress line of the restore on the terminal:\n%q", term)
	}
	if !strings.Contains(term, "\x1b[2K\rcrrun: restored pid=") {
		t.Errorf("the progress line was not cleared before the next log line:\n%q", term)
	}
}
