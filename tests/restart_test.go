package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartStatus is the part of `crrun status --json` about restarts.
type restartStatus struct {
	Processes []struct {
		Pid   int `json:"pid"`
		NsPid int `json:"nspid"`
	} `json:"processes"`
	Restarts []struct {
		N      int    `json:"n"`
		Cause  string `json:"cause"`
		Signal string `json:"signal"`
		Code   int    `json:"code"`
		From   string `json:"from"`
	} `json:"restarts"`
}

func (a *app) restartStatus() (*restartStatus, error) {
	out, err := a.crrunCmd("status", "--json", fmt.Sprint(a.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	var st restartStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("status JSON: %v\n%s", err, out)
	}
	return &st, nil
}

// restartRef runs the restartee uninterrupted and returns its stdout and
// output file.
func restartRef(t *testing.T, bin string, steps int) (stdout, file string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref.out")
	code, stdout, stderr := run(t, opts{}, "--resume=never", "--dir", t.TempDir(), "--", bin, out, fmt.Sprint(steps))
	if code != 0 || !crPassed(stdout) {
		t.Fatalf("reference run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, string(b)
}

// The bar of issue 12: an app with periodic checkpoints is SIGKILLed from
// outside (as the OOM killer would) three times at random moments; crrun
// restores its newest checkpoint each time, and the run ends with exactly
// the output of an uninterrupted one.
func TestRestartOnFailureKills(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	const steps = 600 // 6 s of work
	wantOut, wantFile := restartRef(t, bin, steps)
	r := crRand(t)
	dir := filepath.Join(t.TempDir(), "store")
	out := filepath.Join(t.TempDir(), "job.out")
	a := start(t, opts{}, "--dir", dir, "--interval", "300ms", "--restart-on-failure=3", "--restart-delay=100ms",
		"--", bin, out, fmt.Sprint(steps))
	crWaitStderr(t, a, "restartee: running", 20*time.Second)
	for kill := 1; kill <= 3; kill++ {
		time.Sleep(crDelay(r, 400*time.Millisecond, 1300*time.Millisecond))
		st, err := a.restartStatus()
		if err != nil || len(st.Processes) == 0 {
			t.Fatalf("kill %d: no app to kill (%v)\n%s", kill, err, a.stderr)
		}
		pid := st.Processes[0].Pid
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		t.Logf("kill %d: SIGKILLed pid %d", kill, pid)
		// the next life is up: status answers with a new main process and
		// the restart recorded
		if err := eventually(30*time.Second, func() bool {
			st, err := a.restartStatus()
			return err == nil && len(st.Restarts) == kill && len(st.Processes) > 0 && st.Processes[0].Pid != pid
		}); err != nil {
			t.Fatalf("kill %d: no restart seen in crrun status\n%s", kill, a.stderr)
		}
	}
	st, err := a.restartStatus()
	if err != nil {
		t.Fatal(err)
	}
	for i, rs := range st.Restarts {
		if rs.N != i+1 || rs.Signal != "SIGKILL" || rs.Cause != "killed by SIGKILL" {
			t.Errorf("status restart %d: %+v", i+1, rs)
		}
	}
	code := a.wait(60 * time.Second)
	stderr := a.stderr.String()
	if code != 0 || a.stdout.String() != wantOut {
		t.Fatalf("exit %d, stdout %q, want 0 and %q\n%s", code, a.stdout, wantOut, stderr)
	}
	got, _ := os.ReadFile(out)
	if string(got) != wantFile {
		t.Fatalf("the output file differs from the uninterrupted run's:\n%s", crDiff(wantFile, string(got)))
	}
	for n := 1; n <= 3; n++ {
		if !strings.Contains(stderr, fmt.Sprintf("the app killed by SIGKILL; restart %d of 3", n)) {
			t.Errorf("no log of restart %d with its cause:\n%s", n, stderr)
		}
	}
	t.Logf("restarts from: %v", st.Restarts)
}

// A crash signal (the app raises SIGSEGV once) is restarted from the newest
// checkpoint, in Slurm mode too; the --on-restore hook sees why.
func TestRestartOnCrashSignal(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	const steps = 150
	wantOut, wantFile := restartRef(t, bin, steps)
	for _, mode := range []string{"plain", "slurm"} {
		t.Run(mode, func(t *testing.T) { restartOnCrash(t, bin, steps, mode == "slurm", wantOut, wantFile) })
	}
}

func restartOnCrash(t *testing.T, bin string, steps int, slurm bool, wantOut, wantFile string) {
	var env []string
	if slurm {
		env = []string{"SLURM_JOB_ID=4242", "SLURM_RESTART_COUNT=0"}
	}
	tmp := t.TempDir()
	dir, out, marker, hookOut := filepath.Join(tmp, "store"), filepath.Join(tmp, "job.out"), filepath.Join(tmp, "crashed"), filepath.Join(tmp, "hook.env")
	code, stdout, stderr := run(t, opts{env: env}, "--dir", dir, "--interval", "200ms", "--restart-on-failure=2", "--restart-delay=50ms",
		"--on-restore", "sh -c 'echo \"$CRRUN_EVENT|$CRRUN_REASON|$CRRUN_RESTARTS|$CRRUN_GENERATION\" >> \"$0\"' "+hookOut,
		"--", bin, out, fmt.Sprint(steps), marker)
	if code != 0 || stdout != wantOut {
		t.Fatalf("exit %d, stdout %q, want 0 and %q\n%s", code, stdout, wantOut, stderr)
	}
	if !strings.Contains(stderr, "the app killed by SIGSEGV; restart 1 of 2") || !strings.Contains(stderr, "restart 1: restoring "+dir) {
		t.Fatalf("no restart from a checkpoint after SIGSEGV logged:\n%s", stderr)
	}
	got, _ := os.ReadFile(out)
	if string(got) != wantFile {
		t.Fatalf("the output file differs from the uninterrupted run's:\n%s", crDiff(wantFile, string(got)))
	}
	hookEnv, _ := os.ReadFile(hookOut)
	if !strings.HasPrefix(string(hookEnv), "restore|restart 1: the app was killed by SIGSEGV|1|"+dir+"/gen-") {
		t.Fatalf("--on-restore hook saw %q", hookEnv)
	}
	if slurm && !strings.Contains(stderr, "slurm: job 4242") {
		t.Errorf("not in Slurm mode:\n%s", stderr)
	}
}

// TestRestartGoesBackAGeneration: a checkpoint taken between the app's
// decision to crash and the crash holds the crash; restoring it brings the
// crash back. The life restored from it fails before any newer checkpoint,
// so the next restart goes back to the generation before it, and the run
// ends as an uninterrupted one (before, every restart restored the newest
// generation and crashed again: "giving up").
func TestRestartGoesBackAGeneration(t *testing.T) {
	requireCR(t)
	bin := compileC(t, "restartee", false)
	const steps = 100
	wantOut, wantFile := restartRef(t, bin, steps)
	tmp := t.TempDir()
	dir, out, marker := filepath.Join(tmp, "store"), filepath.Join(tmp, "job.out"), filepath.Join(tmp, "crashed")
	a := start(t, opts{env: []string{"RESTARTEE_LINGER_MS=3000"}}, "--dir", dir, "--restart-on-failure=3", "--restart-delay=50ms",
		"--", bin, out, fmt.Sprint(steps), marker)
	crWaitStderr(t, a, "restartee: running", time.Minute)
	time.Sleep(200 * time.Millisecond)
	before := crCheckpoint(t, a, dir, false)
	crWaitStderr(t, a, "restartee: crashing at step", time.Minute)
	doomed := crCheckpoint(t, a, dir, false) // the app lingers 3 s before raise(SIGSEGV)
	if code := a.wait(2 * time.Minute); code != 0 || a.stdout.String() != wantOut {
		t.Fatalf("exit %d, stdout %q, want 0 and %q\n%s", code, a.stdout, wantOut, a.stderr)
	}
	errs := a.stderr.String()
	for _, want := range []string{
		"restart 1: restoring " + doomed,
		"restart 2: not restoring " + doomed + ": the life restored from it failed before any newer checkpoint",
		"restart 2: restoring " + before,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("crrun's log lacks %q:\n%s", want, errs)
		}
	}
	if n := strings.Count(errs, "the app killed by SIGSEGV; restart"); n != 2 {
		t.Errorf("the app crashed %d times, want 2 (its own crash, and the restored doomed generation's):\n%s", n, errs)
	}
	if got, _ := os.ReadFile(out); string(got) != wantFile {
		t.Fatalf("the output file differs from the uninterrupted run's:\n%s", crDiff(wantFile, string(got)))
	}
}

// After the last restart crrun exits with the app's own status; an app that
// fails before its first checkpoint is started afresh.
func TestRestartExhausted(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	tmp := t.TempDir()
	// exits 3 at step 10, before any checkpoint (none is asked for)
	code, _, stderr := run(t, opts{}, "--dir", filepath.Join(tmp, "store"), "--restart-on-failure=2", "--restart-on=nonzero",
		"--restart-delay=10ms", "--", bin, filepath.Join(tmp, "out"), "20", filepath.Join(tmp, "marker"), "3")
	if code != 3 {
		t.Fatalf("exit %d, want the app's 3\n%s", code, stderr)
	}
	for _, want := range []string{"restart 1: no checkpoint of this run yet: starting", "restart 2 of 2",
		"it was restarted 2 times (--restart-on-failure=2): giving up"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in the log:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "restartee: exiting 3"); n != 3 {
		t.Errorf("the app ran %d times, want 3\n%s", n, stderr)
	}
	// --restart-on=crash (the default) does not restart a non-zero exit
	code, _, stderr = run(t, opts{}, "--dir", filepath.Join(tmp, "store2"), "--restart-on-failure=2",
		"--", bin, filepath.Join(tmp, "out"), "20", filepath.Join(tmp, "marker"), "4")
	if code != 4 || strings.Contains(stderr, "restart 1") {
		t.Fatalf("--restart-on=crash after exit 4: exit %d\n%s", code, stderr)
	}
	// a crash signal, every time: crrun dies by it after the last restart
	code, _, stderr = run(t, opts{}, "--dir", filepath.Join(tmp, "store3"), "--restart-on-failure=1",
		"--restart-delay=10ms", "--", "sh", "-c", "kill -SEGV $$")
	if code != -int(syscall.SIGSEGV) || !strings.Contains(stderr, "giving up") {
		t.Fatalf("SIGSEGV twice: exit %d, want death by SIGSEGV\n%s", code, stderr)
	}
}

// --restart-on-failure works for an ordinary user too (the app in a user
// namespace of its own).
func TestRestartUnprivileged(t *testing.T) {
	dir, asNobody := nobodyEnv(t)
	bin := compileC(t, "restartee", false)
	const steps = 150
	wantOut, wantFile := restartRef(t, bin, steps)
	out := filepath.Join(dir, "job.out")
	cmd := asNobody("--dir", filepath.Join(dir, "ck"), "--interval", "200ms", "--restart-on-failure=1", "--restart-delay=50ms",
		"--", bin, out, fmt.Sprint(steps), filepath.Join(dir, "crashed"))
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case err := <-done:
		if err != nil || stdout.String() != wantOut {
			t.Fatalf("as nobody: %v, stdout %q, want %q\n%s", err, stdout.String(), wantOut, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("as nobody: still running after a minute\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "restart 1: restoring "+filepath.Join(dir, "ck")) {
		t.Fatalf("no restore from a checkpoint after the crash:\n%s", stderr.String())
	}
	got, _ := os.ReadFile(out)
	if string(got) != wantFile {
		t.Fatalf("the output file differs from the uninterrupted run's:\n%s", crDiff(wantFile, string(got)))
	}
}

// crrun's stdout and stderr are files (a batch job's output files): the
// restore cuts them back to their size at the checkpoint, the app's output
// ends as an uninterrupted run's, and crrun's log goes on after it — the
// restart said again, no hole of NULs where the cut-off lines were.
func TestRestartOutputFiles(t *testing.T) {
	requireRoot(t)
	bin := compileC(t, "restartee", false)
	const steps = 150
	wantOut, _ := restartRef(t, bin, steps)
	tmp := t.TempDir()
	outPath, errPath := filepath.Join(tmp, "job.out"), filepath.Join(tmp, "job.err")
	outF, _ := os.Create(outPath)
	errF, _ := os.Create(errPath)
	cmd := exec.Command(crrunBin, "--dir", filepath.Join(tmp, "store"), "--interval", "200ms", "--restart-on-failure=1",
		"--restart-delay=50ms", "--", bin, filepath.Join(tmp, "data"), fmt.Sprint(steps), filepath.Join(tmp, "crashed"))
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+runtimeDir(t))
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	outF.Close()
	errF.Close()
	stdout, _ := os.ReadFile(outPath)
	stderr, _ := os.ReadFile(errPath)
	if err != nil || string(stdout) != wantOut {
		t.Fatalf("%v: stdout %q, want %q\n%s", err, stdout, wantOut, stderr)
	}
	if strings.Contains(string(stderr), "\x00") {
		t.Fatalf("crrun's stderr file has a hole of NULs:\n%q", stderr)
	}
	if !strings.Contains(string(stderr), "restart 1 of 1: the app was killed by SIGSEGV; restored ") {
		t.Fatalf("the restart is not in crrun's stderr file after the restore cut it back:\n%s", stderr)
	}
}
