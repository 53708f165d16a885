package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --on-checkpoint runs after each durable checkpoint, without a shell, with
// the CRRUN_* variables; the generation is complete when it runs.
func TestHookOnCheckpoint(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	tmp := t.TempDir()
	store, envFile := filepath.Join(tmp, "store"), filepath.Join(tmp, "hook env")
	// quoted words: the path has a space, and $0 is not expanded by crrun
	hook := `sh -c 'test -f "$CRRUN_GENERATION/MANIFEST.json" && echo "$CRRUN_EVENT|$CRRUN_DIR|$CRRUN_GENERATION|$CRRUN_REASON|$CRRUN_PID|$CRRUN_SUPERVISOR_PID" >> "$0"' '` + envFile + `'`
	a := start(t, opts{}, "--dir", store, "--on-checkpoint", hook, "--", bin, filepath.Join(tmp, "out"), "300")
	crWaitStderr(t, a, "restartee: running", 20*time.Second)
	img := crCheckpoint(t, a, store, false)
	st := a.restartStatus
	s, err := st()
	if err != nil || len(s.Processes) == 0 {
		t.Fatalf("status: %v", err)
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("the hook did not run (or not before crrun checkpoint answered): %v\n%s", err, a.stderr)
	}
	want := fmt.Sprintf("checkpoint|%s|%s|crrun checkpoint|%d|%d\n", store, img, s.Processes[0].Pid, a.cmd.Process.Pid)
	if string(b) != want {
		t.Fatalf("hook environment:\n%q\nwant\n%q", b, want)
	}
	// the hook of the checkpoint that ends the app runs before crrun exits
	img2 := crCheckpoint(t, a, store, true)
	if code := a.wait(30 * time.Second); code != crExitCheckpointed {
		t.Fatalf("exit %d\n%s", code, a.stderr)
	}
	b, _ = os.ReadFile(envFile)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "checkpoint|"+store+"|"+img2+"|") {
		t.Fatalf("after checkpoint --exit the hook file holds:\n%s", b)
	}
}

// A failing hook is logged and the checkpoint kept; a hanging one is killed
// after --hook-timeout with everything it started.
func TestHookFailureAndTimeout(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	tmp := t.TempDir()
	store := filepath.Join(tmp, "store")
	a := start(t, opts{}, "--dir", store, "--on-checkpoint", "sh -c 'echo hook-ran; exit 7'", "--", bin, filepath.Join(tmp, "out"), "300")
	crWaitStderr(t, a, "restartee: running", 20*time.Second)
	img := crCheckpoint(t, a, store, false) // exits 0 with the image: the hook's failure loses nothing
	crWaitStderr(t, a, "--on-checkpoint hook sh -c 'echo hook-ran; exit 7' failed: exit status 7", 5*time.Second)
	if !strings.Contains(a.stderr.String(), "hook-ran") {
		t.Errorf("the hook's output is not on crrun's stderr:\n%s", a.stderr)
	}
	if _, err := os.Stat(filepath.Join(img, "MANIFEST.json")); err != nil {
		t.Fatal(err)
	}
	a.cmd.Process.Kill()
	a.wait(10 * time.Second)

	// the hook starts a child that would outlive it; both are killed after
	// the timeout (the orphaned child is reaped by whoever adopts it)
	pids := filepath.Join(tmp, "pids")
	hang := "sh -c 'sleep 1000 & echo $$ $! > \"$0\"; wait' " + pids
	a = start(t, opts{}, "--dir", store, "--resume=never", "--hook-timeout", "500ms", "--on-checkpoint", hang,
		"--", bin, filepath.Join(tmp, "out2"), "300")
	crWaitStderr(t, a, "restartee: running", 20*time.Second)
	t0 := time.Now()
	crCheckpoint(t, a, store, false)
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("crrun checkpoint took %v with a hook killed after 500ms", d)
	}
	crWaitStderr(t, a, "still running after --hook-timeout 500ms: killed it and its process group", 5*time.Second)
	b, _ := os.ReadFile(pids)
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("the hook wrote %q", b)
	}
	for _, s := range f {
		pid, _ := strconv.Atoi(s)
		if err := eventually(5*time.Second, func() bool { return !processAlive(pid) }); err != nil {
			t.Errorf("hook process %d still alive after the timeout", pid)
		}
	}
	if code := a.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, a.stderr)
	}
}

// A hook that is not a valid command line is a usage error, and so are a
// negative or absurdly small --interval, and a --dir that is not a
// directory (for restore as for run).
func TestHookAndFlagValidation(t *testing.T) {
	code, _, stderr := run(t, opts{}, "--on-checkpoint", "echo 'unterminated", "--", "true")
	if code != 2 || !strings.Contains(stderr, "--on-checkpoint=") {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	code, _, stderr = run(t, opts{}, "--interval", "-1s", "--", "true")
	if code != 2 || !strings.Contains(stderr, "--interval -1s: want 0") {
		t.Fatalf("--interval -1s: exit %d, want 2\n%s", code, stderr)
	}
	code, _, stderr = run(t, opts{}, "--interval", "1ms", "--", "true")
	if code != 2 || !strings.Contains(stderr, "at least 100ms") {
		t.Fatalf("--interval 1ms: exit %d, want 2\n%s", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, args := range [][]string{{"--dir", file, "--", "true"}, {"restore", "--dir", file, file}, {"restore", "--dir", "", file}} {
		code, _, stderr = run(t, opts{}, args...)
		if code != 2 || !strings.Contains(stderr, "--dir") {
			t.Fatalf("crrun %q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	code, _, stderr = run(t, opts{}, "restore", "--wait", "some", file)
	if code != 2 || !strings.Contains(stderr, "--wait=some") {
		t.Fatalf("restore --wait=some: exit %d, want 2\n%s", code, stderr)
	}
	code, _, stderr = run(t, opts{}, "--restart-on", "sometimes", "--", "true")
	if code != 2 || !strings.Contains(stderr, "want crash, nonzero or any") {
		t.Fatalf("--restart-on sometimes: exit %d, want 2\n%s", code, stderr)
	}
}

// SIGUSR1s that arrive while a checkpoint is under way coalesce into one
// more checkpoint, not one each.
func TestSIGUSR1BurstCoalesces(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "counter", false)
	store := filepath.Join(t.TempDir(), "store")
	// a 256 MiB heap: each checkpoint takes a while
	a := start(t, opts{}, "--dir", store, "--keep", "0", "--", b, strconv.Itoa(4*crCounterIters), "256", t.TempDir())
	crWaitStderr(t, a, "counter: running", time.Minute)
	a.cmd.Process.Signal(syscall.SIGUSR1)
	crWaitStderr(t, a, "checkpoint: freezing", 30*time.Second)
	for range 5 {
		a.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(a.stderr.String(), "checkpoint written") {
		t.Skip("the first checkpoint ended before the burst was sent: cannot tell")
	}
	if err := eventually(time.Minute, func() bool { return strings.Count(a.stderr.String(), "checkpoint written") >= 2 }); err != nil {
		t.Fatalf("no second checkpoint after the burst\n%s", a.stderr)
	}
	time.Sleep(2 * time.Second) // a third would have started by now
	if n := strings.Count(a.stderr.String(), "checkpoint: freezing"); n != 2 {
		t.Fatalf("%d checkpoints for one SIGUSR1 and a burst of 5 during it, want 2\n%s", n, a.stderr)
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.wait(time.Minute)
}
