package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func generations(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "gen-*"))
	return m
}

// Periodic checkpoints keep --keep generations (and the older ones those
// need: incremental generations refer to them); when crrun dies, the next
// `crrun --dir D -- CMD` resumes from the newest one and the app finishes.
func TestPeriodicKeepResume(t *testing.T) {
	requireRoot(t)
	b := compileCR(t, "threads", false)
	// the reference output
	code, want, _ := run(t, opts{}, "--resume=never", "--dir", t.TempDir(), "--", b, "60000")
	if code != 0 || !strings.HasSuffix(want, "PASS\n") {
		t.Fatalf("reference run: %d %q", code, want)
	}
	dir := t.TempDir()
	a := start(t, opts{}, "--dir", dir, "--interval", "400ms", "--keep", "2", "--", b, "60000")
	if err := eventually(30*time.Second, func() bool {
		// pruning follows each checkpoint
		return strings.Count(a.stderr.String(), "checkpoint written") >= 3 && keptOnly(t, dir, 2)
	}); err != nil {
		t.Fatalf("want 3 periodic checkpoints and 2 generations kept: %v\n%s", generations(t, dir), a.stderr)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.wait(10 * time.Second)
	if g := generations(t, dir); !keptOnly(t, dir, 2) {
		t.Fatalf("--keep 2 left %v", g)
	}
	code, got, stderr := run(t, opts{}, "--dir", dir, "--", b, "60000")
	if code != 0 || !strings.Contains(stderr, "resuming from "+dir) {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	// The resumed run repeats what the app did after the checkpoint, then ends
	// exactly like the reference.
	if !strings.HasSuffix(got, "PASS\n") || !strings.HasSuffix(want, got[strings.Index(got, "\n")+1:]) {
		t.Fatalf("resumed output does not end like the reference:\n%s\nreference:\n%s", got, want)
	}
}

// A corrupt newest generation falls back to the previous one with a warning;
// --resume=require with nothing to resume fails; another command is refused.
func TestResumeChoices(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	code, _, stderr := run(t, opts{}, "--resume=require", "--dir", dir, "--", "true")
	if code != 125 || !strings.Contains(stderr, "no valid checkpoint in "+dir) {
		t.Fatalf("--resume=require on an empty dir: %d %s", code, stderr)
	}
	b := compileCR(t, "threads", false)
	a := start(t, opts{}, "--dir", dir, "--keep", "0", "--", b, "60000")
	crWaitStderr(t, a, "running", 20*time.Second)
	for i := 1; i <= 2; i++ {
		if out, err := a.crrunCmd("checkpoint"); err != nil {
			t.Fatalf("checkpoint %d: %v %s", i, err, out)
		}
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.wait(10 * time.Second)
	g := generations(t, dir)
	if len(g) != 2 {
		t.Fatalf("generations: %v", g)
	}
	pages, _ := filepath.Glob(filepath.Join(g[1], "pages-*.bin"))
	f, err := os.OpenFile(pages[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xde, 0xad}, 10)
	f.Close()
	code, out, stderr := run(t, opts{}, "--dir", dir, "--", b, "60000")
	if code != 0 || !strings.HasSuffix(out, "PASS\n") || !strings.Contains(stderr, "resuming from "+g[0]) ||
		!strings.Contains(stderr, "skipped a generation") {
		t.Fatalf("fallback to the previous generation: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, opts{}, "--dir", dir, "--", b, "5")
	if code != 125 || !strings.Contains(stderr, "use another --dir, or --resume=never") {
		t.Fatalf("another command: %d %s", code, stderr)
	}
}

// A signal that reaches crrun while it is still restoring is not lost: crrun
// catches signals from its start and forwards them once the app runs.
func TestSignalDuringRestore(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "basics", false)
	dir := t.TempDir()
	a := start(t, opts{}, "--dir", dir, "--", b, "signals")
	a.waitOutput("READY", 10*time.Second)
	if out, err := a.crrunCmd("checkpoint", "--exit"); err != nil {
		t.Fatalf("checkpoint: %v %s", err, out)
	}
	a.wait(20 * time.Second)
	r := start(t, opts{}, "restore", dir)
	// As soon as crrun says it is restoring (the image is read and verified,
	// nothing is launched yet): before its run loop exists.
	if err := eventually(20*time.Second, func() bool { return strings.Contains(r.stderr.String(), "restoring") }); err != nil {
		t.Fatalf("no restore started: %s", r.stderr)
	}
	r.cmd.Process.Signal(syscall.SIGUSR2)
	r.waitOutput("got USR2", 20*time.Second)
	if !strings.Contains(r.stderr.String(), "restored") {
		t.Fatalf("no restore: %s", r.stderr)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.stderr)
	}
}
