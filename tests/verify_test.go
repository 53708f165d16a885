package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A restore verifies itself: a field changed on purpose in the restored main
// process (the test-only knob CRRUN_TEST_BREAK_RESTORE=rlimit lowers its
// RLIMIT_NOFILE) makes the restore refuse before the app runs, naming the
// process, the field, the saved and the restored values; the image survives
// and a plain restore of it then finishes the run.
func TestVerifyRefusesADifferentRestore(t *testing.T) {
	store, pid, b, before := counterExited(t)

	r := start(t, opts{env: []string{"CRRUN_TEST_BREAK_RESTORE=rlimit"}}, "restore", store)
	code := r.wait(time.Minute)
	if code == 0 {
		t.Fatalf("a restore with a changed field exited 0\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	want := regexp.MustCompile(`pid ` + strconv.Itoa(pid) + `: limit Max open files \(resource limits\): saved "(\d+) (\d+) files", restored "(\d+) (\d+) files"`)
	m := want.FindStringSubmatch(r.stderr.String())
	if m == nil {
		t.Fatalf("the refusal does not name the process, field and values (want %s):\n%s", want, r.stderr)
	}
	if m[2] != m[4] || m[1] == m[3] {
		t.Errorf("saved %s/%s restored %s/%s: only the soft limit was changed", m[1], m[2], m[3], m[4])
	}
	if !strings.Contains(r.stderr.String(), "killed before it ran") {
		t.Errorf("the refusal does not say the tree never ran:\n%s", r.stderr)
	}
	if out := r.stdout.String(); out != "" {
		t.Fatalf("the refused app printed %q: it ran", out)
	}
	if _, err := os.Stat(store); err != nil {
		t.Fatal(err)
	}

	r2 := start(t, opts{}, "restore", store)
	if code := r2.wait(3 * time.Minute); code != 0 {
		t.Fatalf("restore after the refused one: exit %d\n%s", code, r2.stderr)
	}
	code, ref, refErr := run(t, opts{}, "--", b, strconv.Itoa(crCounterIters), "64", t.TempDir())
	if code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, refErr)
	}
	crCheckJoin(t, ref, before, r2.stdout.String(), true)
}

// A register of a restored thread that is not the image's (the test-only
// knob CRRUN_TEST_BREAK_RESTORE=regs changes r15 of the main thread after
// the restore set it) makes the restore refuse, naming the thread, the
// register and both values; nothing of the app ran.
func TestVerifyRefusesADifferentRegister(t *testing.T) {
	store, pid, _, _ := counterExited(t)
	r := start(t, opts{env: []string{"CRRUN_TEST_BREAK_RESTORE=regs"}}, "restore", store)
	if code := r.wait(time.Minute); code == 0 {
		t.Fatalf("a restore with a changed register exited 0\n%s", r.stderr)
	}
	want := regexp.MustCompile(`pid ` + strconv.Itoa(pid) + `: thread ` + strconv.Itoa(pid) + ` register r15 \(registers\): saved "(0x[0-9a-f]+)", restored "(0x[0-9a-f]+)"`)
	m := want.FindStringSubmatch(r.stderr.String())
	if m == nil {
		t.Fatalf("the refusal does not name the thread, register and values (want %s):\n%s", want, r.stderr)
	}
	saved, _ := strconv.ParseUint(m[1], 0, 64)
	restored, _ := strconv.ParseUint(m[2], 0, 64)
	if restored != saved+1 {
		t.Errorf("saved %s restored %s: r15 was raised by one", m[1], m[2])
	}
	if out := r.stdout.String(); out != "" {
		t.Fatalf("the refused app printed %q: it ran", out)
	}
}

// counterExited runs the counter under crrun and checkpoints it with
// --exit: the store, the main process's pid, the binary and what the app
// printed before.
func counterExited(t *testing.T) (store string, pid int, bin, before string) {
	t.Helper()
	requireCR(t)
	bin = compileCR(t, "counter", false)
	store = t.TempDir()
	// The data file in a directory of the test's: with the default (/tmp)
	// the counter removes it only when it ends, which these tests' restores
	// never let it do.
	a := start(t, opts{}, "--dir", store, "--", bin, strconv.Itoa(crCounterIters), "64", t.TempDir())
	crWaitStderr(t, a, "counter: running", time.Minute)
	pid = crVictimPid(t, a.stderr.String(), "counter", false)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after checkpoint --exit\n%s", code, a.stderr)
	}
	return store, pid, bin, a.stdout.String()
}

// TestReopenChmodRefused: an ordinary user's app holding a file it made
// mode 000 after opening it is refused with the reason (a restore opens
// files again by path, with the app's credentials), and runs on
// (tests/corpus/reopen_chmod.c: root's is restored exactly).
func TestReopenChmodRefused(t *testing.T) {
	t.Parallel()
	nobodyRefusal(t, "reopen_chmod", nil, "do not allow reading and writing: permission denied: a restore opens it again by its path", nil, "--exit")
}

// nobodyRefusal runs corpus program name as nobody (crrun flags), calls
// before (if any) once it runs, then checks that `crrun checkpoint ckArgs`
// exits 1 naming want and that the app runs on to PASS.
func nobodyRefusal(t *testing.T, name string, flags []string, want string, before func(asNobody func(args ...string) *exec.Cmd, pid string), ckArgs ...string) {
	t.Helper()
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	p := corpusProg{name: name, src: filepath.Join(repoRoot, "tests", "corpus", name+".c")}
	bin := p.build(t)
	cmd := asNobody(append(append([]string{"--dir", filepath.Join(dir, "ck")}, flags...), "--", bin)...)
	out, errb, done := startCmd(t, cmd)
	if err := eventually(30*time.Second, func() bool { return strings.Contains(errb.String(), name+": running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\n%s", err, errb)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if before != nil {
		before(asNobody, pid)
	}
	ck := asNobody(append(append([]string{"checkpoint"}, ckArgs...), pid)...)
	var ckOut bytes.Buffer
	ck.Stdout, ck.Stderr = &ckOut, &ckOut
	if err := ck.Run(); err == nil || ck.ProcessState.ExitCode() != 1 {
		t.Fatalf("checkpoint: %v, want exit 1\n%s", err, &ckOut)
	}
	if !strings.Contains(ckOut.String(), want) {
		t.Errorf("the refusal lacks %q:\n%s", want, &ckOut)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("the app did not end\n%s", errb)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || !crPassed(out.String()) {
		t.Fatalf("the app after the refusal: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
}
