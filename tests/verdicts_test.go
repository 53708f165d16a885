package tests

// Truthful verdicts (issue 9, item 2): `crrun status` and `crrun checkpoint`
// never disagree. An app whose main process has exited (a daemon, `cmd &`)
// is checkpointed and restored, and the restored crrun exits as the
// original would have; every refusal the dump makes that a scan can see is
// in `crrun status` with the same text; a SysV probe that leaves nothing
// behind leaves no taint; and each reason names the call that made it, or
// none rather than a wrong one.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVerdictsMainExited: the daemon (tests/corpus/daemon.c) runs on after
// the app's main process has exited — as `sh -c 'daemon & exit 3'`, and as
// a double fork whose main process exits 5 or is killed by SIGUSR2. Status
// says checkpointable; a `checkpoint --exit` at a random moment after the
// daemon's "running" succeeds; the restore runs the daemon on to PASS
// (checking its ids, ppid 1, a pipe's bytes, a file offset), and exits as
// the uninterrupted run did: the main process's status, mirrored once the
// daemon ends. The double fork's restored app is checkpointed and restored
// once more (a restored app whose main process is gone is as checkpointable).
func TestVerdictsMainExited(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	daemon := corpusBin(t, "daemon")
	for _, c := range []struct {
		name  string
		argv  []string
		code  int // crrun's exit: the main process's code, or -signal
		again bool
	}{
		{"bg", []string{"sh", "-c", daemon + " bg $$ & exit 3"}, 3, false},
		{"double", []string{daemon, "double", "5"}, 5, true},
		{"double-signal", []string{daemon, "double", "-12"}, -12, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ref := start(t, opts{}, append([]string{"--"}, c.argv...)...)
			if code := ref.wait(time.Minute); code != c.code || ref.stdout.String() != "PASS\n" {
				t.Fatalf("uninterrupted: exit %d (want %d), stdout %q\nstderr:\n%s", code, c.code, ref.stdout, ref.stderr)
			}
			rng := crRand(t)
			store := t.TempDir()
			a := start(t, opts{}, append([]string{"--dir", store, "--"}, c.argv...)...)
			crWaitStderr(t, a, "daemon: running", 30*time.Second)
			// The daemon works for ~1.5 s: the checkpoint must land well
			// inside, even on a loaded machine (the second one inside the rest).
			time.Sleep(crDelay(rng, 0, 800*time.Millisecond))
			verdictsCheckpointable(t, a)
			crCheckpoint(t, a, store, true)
			if code := a.wait(time.Minute); code != crExitCheckpointed {
				t.Fatalf("crrun exited %d after checkpoint --exit, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
			}
			out := a.stdout.String()
			r := start(t, opts{}, "restore", store)
			if c.again {
				crWaitStderr(t, r, "restored", 30*time.Second)
				time.Sleep(crDelay(rng, 0, 200*time.Millisecond))
				if !crExited(r) {
					verdictsCheckpointable(t, r)
					crCheckpoint(t, r, store, true)
					if code := r.wait(time.Minute); code != crExitCheckpointed {
						t.Fatalf("the restored crrun exited %d after checkpoint --exit, want %d\nstderr:\n%s", code, crExitCheckpointed, r.stderr)
					}
					out += r.stdout.String()
					r = start(t, opts{}, "restore", store)
				}
			}
			code := r.wait(time.Minute)
			out += r.stdout.String()
			if code != c.code || out != "PASS\n" {
				t.Fatalf("restored: exit %d (want %d, as the uninterrupted run), stdout %q\nstderr:\n%s", code, c.code, out, r.stderr)
			}
			if !strings.Contains(r.stderr.String(), "main_exited=true") {
				t.Errorf("the restore did not say the main process had exited:\n%s", r.stderr)
			}
		})
	}
}

// verdictsCheckpointable checks that status says yes.
func verdictsCheckpointable(t *testing.T, a *app) {
	t.Helper()
	st := crStatus(t, a, 30*time.Second)
	if !st.Checkpointable {
		t.Fatalf("status says not checkpointable:\n%s", st.reasons())
	}
}

// TestVerdictsAgree: for every refusal the dump makes that a scan can see
// (testdata/verdicts/refuse.c, one mode each), `crrun status` says "not
// checkpointable" with exactly the reasons `crrun checkpoint` then gives,
// word for word; the app runs on to PASS. (Once crrun saves a kind, status
// says yes and the checkpoint must go ahead: the verdicts still agree.) As root, and as an ordinary user
// (nobody) for a deleted file mapped with its fd closed, which only root
// can read back, and for an inotify watch on a file renamed since.
func TestVerdictsAgree(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	if err := os.MkdirAll(filepath.Join(workDir, "verdicts"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := compileC(t, "verdicts/refuse", false)
	for _, mode := range []string{"clone_vm", "clone_files", "pthread_exit", "dgram_queue", "pending",
		"scm_rights", "pidfd_gone", "sysv_keep", "sockets", "sched_batch", "nice", "flock", "setown"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rt := runtimeDir(t)
			verdictsAgree(t, func(args ...string) *exec.Cmd {
				cmd := exec.Command(crrunBin, args...)
				cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
				cmd.Dir = t.TempDir()
				return cmd
			}, t.TempDir(), bin, mode)
		})
	}
	for _, mode := range []string{"deleted_map", "inotify_renamed"} {
		t.Run(mode+"/nobody", func(t *testing.T) {
			t.Parallel()
			dir, asNobody := nobodyEnv(t)
			own := filepath.Join(dir, "refuse")
			if data, err := os.ReadFile(bin); err != nil || os.WriteFile(own, data, 0o755) != nil {
				t.Fatalf("copy the program: %v", err)
			}
			verdictsAgree(t, asNobody, filepath.Join(dir, "ck"), own, mode)
		})
	}
}

// verdictsAgree runs refuse <mode> under crrun (crrun builds crrun
// commands against one runtime directory) and compares the verdicts.
func verdictsAgree(t *testing.T, crrun func(args ...string) *exec.Cmd, store, bin, mode string) {
	t.Helper()
	args := []string{"--dir", store, "--", bin, mode}
	if mode == "sysv_keep" { // refused in the host's IPC namespace only
		args = append([]string{"--ipc=host"}, args...)
	}
	app := crrun(args...)
	out, errb, done := startCmd(t, app)
	if err := eventually(30*time.Second, func() bool { return strings.Contains(errb.String(), "refuse: running") }); err != nil {
		t.Fatalf("the app did not start: %s", errb.String())
	}
	if strings.HasPrefix(out.String(), "SKIP") {
		t.Skip(out.String())
	}
	pid := strconv.Itoa(app.Process.Pid)
	var b []byte
	var err error
	// The control socket may appear a moment after the app starts.
	if eventually(10*time.Second, func() bool { b, err = crrun("status", "--json", pid).Output(); return err == nil }) != nil {
		t.Fatalf("status: %v", err)
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, b)
	}
	var status []string
	for _, r := range st.Reasons {
		status = append(status, r.Reason)
	}
	ck := crrun("checkpoint", pid)
	var ckOut, ckErr syncBuffer
	ck.Stdout, ck.Stderr = &ckOut, &ckErr
	ckErrRun := ck.Run()
	if st.Checkpointable {
		// A kind crrun has learnt to save: then the checkpoint must go
		// ahead, as status said.
		if ckErrRun != nil {
			t.Fatalf("status says checkpointable, the checkpoint refuses: %v\n%s", ckErrRun, &ckErr)
		}
		t.Logf("status says checkpointable, and the checkpoint went ahead: %s is saved now", mode)
		return
	}
	if ckErrRun == nil || ck.ProcessState.ExitCode() != 1 {
		t.Fatalf("status says not checkpointable (%q), the checkpoint: %v, want exit 1\nstdout: %s\nstderr: %s", status, ckErrRun, &ckOut, &ckErr)
	}
	ckpt := treeReasons(ckErr.String())
	slices.Sort(status)
	slices.Sort(ckpt)
	if !slices.Equal(status, ckpt) {
		t.Fatalf("status and checkpoint disagree:\nstatus:     %q\ncheckpoint: %q", status, ckpt)
	}
	t.Logf("both say: %q", status)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("the app did not end after the refusal")
	}
	if code := app.ProcessState.ExitCode(); code != 0 || !crPassed(out.String()) {
		t.Fatalf("after the refusal: exit %d, stdout %q\nstderr:\n%s", code, out.String(), errb.String())
	}
}

// TestVerdictsSysVProbe: Open MPI's start-up probe (a SysV segment created,
// attached, removed and detached at once; a semaphore set and a message
// queue made and removed) leaves nothing, so no taint: status says
// checkpointable, and a checkpoint at a random moment restores to PASS.
func TestVerdictsSysVProbe(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	bin := corpusBin(t, "sysv_probe")
	store := t.TempDir()
	a := start(t, opts{}, "--ipc=host", "--dir", store, "--", bin)
	crWaitStderr(t, a, "sysv_probe: running", 30*time.Second)
	if !strings.Contains(a.stderr.String(), "shmget(") {
		t.Fatalf("the probe's shmget did not trap:\n%s", a.stderr)
	}
	time.Sleep(crDelay(crRand(t), 0, 1000*time.Millisecond))
	st := crStatus(t, a, 30*time.Second)
	if !st.Checkpointable {
		// A semaphore set or message queue made by another program on this
		// host since the probe cannot be told apart from the app's.
		t.Fatalf("status after the probe says not checkpointable:\n%s", st.reasons())
	}
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	r := start(t, opts{}, "restore", store)
	if code := r.wait(time.Minute); code != 0 || !crPassed(a.stdout.String()+r.stdout.String()) {
		t.Fatalf("restore: exit %d, stdout %q\nstderr:\n%s", code, a.stdout.String()+r.stdout.String(), r.stderr)
	}
}

// TestVerdictsSocketCall: socket(AF_INET6) on fd 3, socket(AF_INET) on fd
// 4, the first closed, the second dup'ed to fd 9. Status names
// socket(AF_INET, ...) for fd 4 — not the AF_INET6 call, whose fd is gone —
// and no call for fd 9, which no trapped call made.
func TestVerdictsSocketCall(t *testing.T) {
	t.Parallel()
	if err := os.MkdirAll(filepath.Join(workDir, "verdicts"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := compileC(t, "verdicts/refuse", false)
	a := start(t, opts{}, "--", bin, "sockets")
	crWaitStderr(t, a, "refuse: running", 30*time.Second)
	if strings.HasPrefix(a.stdout.String(), "SKIP") {
		t.Skip(a.stdout.String())
	}
	st := a.status()
	got := map[int]string{}
	for _, r := range st.Reasons {
		if r.Kind == "socket" && r.Fd != nil {
			got[*r.Fd] = fmt.Sprintf("%s [%s]", r.Reason, r.Syscall)
			if *r.Fd == 4 && !strings.HasPrefix(r.Syscall, "socket(AF_INET,") {
				t.Errorf("fd 4 (AF_INET) is said to be made by %q, want socket(AF_INET, ...)", r.Syscall)
			}
			if *r.Fd == 9 && r.Syscall != "" {
				t.Errorf("fd 9 (a dup) is said to be made by %q, want no call", r.Syscall)
			}
		}
	}
	if len(got) != 2 || got[4] == "" || got[9] == "" {
		t.Errorf("status reasons for sockets: %v, want fds 4 and 9\n%s", got, st.reasons())
	}
}

// TestVerdictsMainExitedSignals: once the main process has exited, crrun's
// init forwards signals to every process of the app; a restored app whose
// main process had exited is treated the same: a SIGTERM to crrun ends the
// daemon, and crrun exits with the main process's status (3), before and
// after a restore.
func TestVerdictsMainExitedSignals(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	daemon := corpusBin(t, "daemon")
	argv := []string{"sh", "-c", daemon + " bg $$ & exit 3"}
	term := func(a *app, ready string) (int, time.Duration) {
		t.Helper()
		crWaitStderr(t, a, ready, 30*time.Second)
		t0 := time.Now()
		a.cmd.Process.Signal(syscall.SIGTERM)
		return a.wait(30 * time.Second), time.Since(t0)
	}
	orig := start(t, opts{}, append([]string{"--"}, argv...)...)
	code, took := term(orig, "daemon: running")
	if code != 3 || crPassed(orig.stdout.String()) {
		t.Fatalf("SIGTERM after the main process exited: crrun exit %d, stdout %q; want 3 and no PASS", code, orig.stdout)
	}
	t.Logf("original: exit %d %v after SIGTERM", code, took.Round(time.Millisecond))

	store := t.TempDir()
	a := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	crWaitStderr(t, a, "daemon: running", 30*time.Second)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d", code, crExitCheckpointed)
	}
	r := start(t, opts{}, "restore", store)
	code2, took2 := term(r, "restored")
	if code2 != code || crPassed(r.stdout.String()) {
		t.Fatalf("SIGTERM to the restored crrun: exit %d, stdout %q; the original exited %d", code2, r.stdout, code)
	}
	t.Logf("restored: exit %d %v after SIGTERM", code2, took2.Round(time.Millisecond))
}

// TestVerdictsMainZombie: the checkpoint lands while the main process has
// exited but crrun's init has not reaped it yet (the test stops the init):
// its status is read from the zombie, the image holds the rest, and the
// restored crrun exits with that status once the daemon has PASSed.
func TestVerdictsMainZombie(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	daemon := corpusBin(t, "daemon")
	ref := start(t, opts{}, "--", daemon, "zombie", "7")
	if code := ref.wait(time.Minute); code != 7 || ref.stdout.String() != "PASS\n" {
		t.Fatalf("uninterrupted: exit %d, stdout %q\nstderr:\n%s", code, ref.stdout, ref.stderr)
	}
	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", daemon, "zombie", "7")
	st := crStatus(t, a, 10*time.Second)
	main := st.Processes[0].Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", main))
	if err != nil {
		t.Fatal(err)
	}
	var init int
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if init, err = strconv.Atoi(f[1]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(init, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(init, syscall.SIGCONT) })
	crWaitStderr(t, a, "daemon: running", 30*time.Second)
	if err := eventually(10*time.Second, func() bool { return !processAlive(main) }); err != nil {
		t.Fatalf("the main process %d did not become a zombie", main)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", main)); err != nil {
		t.Fatalf("the main process %d was reaped: the init was not stopped", main)
	}
	verdictsCheckpointable(t, a)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	r := start(t, opts{}, "restore", store)
	code := r.wait(time.Minute)
	if out := a.stdout.String() + r.stdout.String(); code != 7 || out != "PASS\n" {
		t.Fatalf("restored: exit %d (want 7), stdout %q\nstderr:\n%s", code, out, r.stderr)
	}
}
