package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	requireRoot(t)
	for _, static := range []bool{false, true} {
		b := compileC(t, "basics", static)
		t.Run(fmt.Sprintf("static=%v", static), func(t *testing.T) {
			for _, tc := range []struct {
				args []string
				want int
			}{
				{[]string{"exit", "0"}, 0},
				{[]string{"exit", "3"}, 3},
				{[]string{"raise", "15"}, -15}, // SIGTERM: crrun dies by it too
				{[]string{"raise", "11"}, -11}, // SIGSEGV
				{[]string{"raise", "9"}, -9},
			} {
				code, _, stderr := run(t, opts{}, append([]string{"--", b}, tc.args...)...)
				if code != tc.want {
					t.Errorf("%v: crrun status %d, want %d\n%s", tc.args, code, tc.want, stderr)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data.txt")
	os.WriteFile(notExec, []byte("x"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "no command given"},
		{"no command after --", []string{"--"}, 2, "no command given"},
		{"not found", []string{"--", "/no/such/program"}, 127, "/no/such/program: command not found"},
		{"not in PATH", []string{"--", "no-such-program-xyz"}, 127, "no-such-program-xyz: command not found"},
		{"not executable", []string{"--", notExec}, 126, "permission denied"},
		{"a directory", []string{"--", dir}, 126, "permission denied"},
		{"unknown flag", []string{"--no-such-flag", "--", "true"}, 2, "unknown flag: --no-such-flag"},
		{"bad policy", []string{"--on-nocr=maybe", "--", "true"}, 2, `--on-nocr="maybe"`},
		{"bad wait", []string{"--wait=some", "--", "true"}, 2, "--wait=some"},
		{"status of no crrun", []string{"status", "999999"}, 125, "no running crrun with pid 999999"},
		{"status bad pid", []string{"status", "abc"}, 2, `"abc" is not a pid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, opts{}, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			first := strings.SplitN(stderr, "\n", 2)[0]
			if !strings.HasPrefix(first, "crrun: ") || !strings.Contains(first, tc.msg) {
				t.Errorf("first line of stderr = %q, want a one-line 'crrun: ...%s...' error", first, tc.msg)
			}
			if stdout != "" {
				t.Errorf("crrun wrote to stdout on error: %q", stdout)
			}
		})
	}
}

func TestStdioPassthrough(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "basics", false)
	input := strings.Repeat("line of input\n", 5000)
	code, stdout, stderr := run(t, opts{stdinData: input}, "--", b, "cat")
	if code != 0 || stdout != input || stderr != "bye\n" {
		t.Fatalf("code %d, stdout %d bytes (want %d), stderr %q", code, len(stdout), len(input), stderr)
	}
}

func TestEnvironmentPreserved(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "basics", false)
	dir := t.TempDir()
	native := exec.Command(b, "env")
	native.Dir = dir
	native.Env = append(os.Environ(), "CRRUN_TEST_VAR=hello world")
	want, err := native.Output()
	if err != nil {
		t.Fatal(err)
	}
	code, got, stderr := run(t, opts{dir: dir, env: []string{"CRRUN_TEST_VAR=hello world"}}, "--", b, "env")
	if code != 0 || got != string(want) {
		t.Fatalf("under crrun (code %d):\n%s\nnative:\n%s\nstderr: %s", code, got, want, stderr)
	}
	// A signal ignored by crrun's caller (nohup) stays ignored for the app.
	cmd := exec.Command("sh", "-c", `trap "" HUP; exec "$0" -- "$1" env`, crrunBin, b)
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+runtimeDir(t))
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "sighup_ignored=1") {
		t.Fatalf("SIGHUP ignored by the caller: %v\n%s", err, out)
	}
}

func TestPIDNamespace(t *testing.T) {
	requireRoot(t)
	for _, static := range []bool{false, true} {
		b := compileC(t, "basics", static)
		code, out, stderr := run(t, opts{}, "--", b, "pid")
		m := regexp.MustCompile(`getpid=(\d+) proc_self=(\d+)`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("code %d out %q stderr %q", code, out, stderr)
		}
		pid, _ := strconv.Atoi(m[1])
		if pid < 2 || m[1] != m[2] {
			t.Errorf("static=%v: getpid()=%s, /proc/self=%s: want a pid >= 2 that /proc agrees with", static, m[1], m[2])
		}
	}
}

func TestSignalForwarding(t *testing.T) {
	requireRoot(t)
	if signal.Ignored(syscall.SIGHUP) {
		// The suite runs under nohup: crrun would inherit SIGHUP ignored
		// and, rightly, not forward it (TestEnv checks that case). Caught
		// here, it is the default again in the processes started.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	}
	b := compileC(t, "basics", false)
	a := start(t, opts{}, "--", b, "signals")
	a.waitOutput("READY", 10*time.Second)
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGINT, syscall.SIGWINCH, syscall.SIGQUIT, syscall.SIGALRM} {
		name := strings.TrimPrefix(sigName(sig), "SIG")
		a.cmd.Process.Signal(sig)
		a.waitOutput("got "+name+"\n", 10*time.Second)
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM (the app handles it and exits 0)\n%s", code, a.stderr)
	}
}

func sigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGUSR2: "USR2", syscall.SIGHUP: "HUP", syscall.SIGINT: "INT",
		syscall.SIGWINCH: "WINCH", syscall.SIGQUIT: "QUIT", syscall.SIGALRM: "ALRM"}[s]
}

func TestSIGUSR1Checkpoints(t *testing.T) {
	requireRoot(t)
	// The app would die of SIGUSR1 (default action); crrun keeps the signal
	// for itself and takes a checkpoint, and the app runs on.
	dir := t.TempDir()
	a := start(t, opts{}, "--dir", dir, "--", "sleep", "30")
	a.status()
	a.cmd.Process.Signal(syscall.SIGUSR1)
	if err := eventually(20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "gen-000001", "MANIFEST.json"))
		return err == nil
	}); err != nil {
		t.Fatalf("no checkpoint after SIGUSR1: %q", a.stderr)
	}
	if len(a.status().Processes) != 1 {
		t.Fatal("the app did not survive SIGUSR1")
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(10 * time.Second); code != -int(syscall.SIGTERM) {
		t.Fatalf("exit %d, want death by SIGTERM", code)
	}
}

func TestDaemonizingApp(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "basics", false)
	// Default --wait=all: crrun stays until the daemon is done.
	file := filepath.Join(t.TempDir(), "daemon.out")
	code, out, stderr := run(t, opts{}, "--", b, "daemon", file)
	if code != 0 || !strings.Contains(out, "parent exits") {
		t.Fatalf("code %d out %q stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("crrun exited before the daemon finished: %v", err)
	}
	// --wait=main: the rest is killed when the main process exits.
	file2 := filepath.Join(t.TempDir(), "daemon.out")
	code, _, stderr = run(t, opts{}, "--wait=main", "--", b, "daemon", file2)
	if code != 0 {
		t.Fatalf("--wait=main: code %d: %s", code, stderr)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(file2); err == nil {
		t.Fatal("--wait=main: the daemon survived the main process")
	}
}

// TestCrrunKilled: when crrun dies, even by SIGKILL, its init dies by
// PDEATHSIG and the kernel kills the app's whole PID namespace: the app is
// never left running with nobody answering its trapped syscalls.
func TestCrrunKilled(t *testing.T) {
	requireRoot(t)
	a := start(t, opts{}, "--", "sh", "-c", "sleep 100 & sleep 100")
	var pids []int
	if err := eventually(10*time.Second, func() bool {
		st := a.status()
		pids = nil
		for _, p := range st.Processes {
			pids = append(pids, p.Pid)
		}
		return len(pids) >= 2
	}); err != nil {
		t.Fatalf("app processes: %v", pids)
	}
	a.cmd.Process.Kill()
	a.wait(10 * time.Second)
	if err := eventually(10*time.Second, func() bool {
		for _, p := range pids {
			if processAlive(p) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("app processes %v still alive after crrun was killed", pids)
	}
}

func TestGoProgram(t *testing.T) {
	requireRoot(t)
	b := compileGo(t, "goapp")
	a := start(t, opts{}, "--", b)
	a.waitOutput("READY", 20*time.Second)
	st := a.status()
	if !st.Checkpointable {
		t.Errorf("a Go program with goroutines, timers and an open file should be checkpointable:\n%s", st.reasons())
	}
	if len(st.Processes) != 1 || st.Processes[0].Threads < 2 {
		t.Errorf("processes: %+v", st.Processes)
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, a.stderr)
	}
	if !strings.Contains(a.stdout.String(), "PASS") {
		t.Fatalf("no PASS: %s", a.stdout)
	}
}

// As an ordinary user: the app runs in a user namespace that maps the user's
// own ids, sees them, and has no capabilities; checkpoint and restore keep
// its pid and work the same. (Run as nobody; skipped where user namespaces
// are disabled.)
// nobodyEnv gives a directory nobody may write and a command runner for a
// copy of crrun run as nobody (uid 65534) there, with its own runtime dir.
func nobodyEnv(t *testing.T) (string, func(args ...string) *exec.Cmd) {
	t.Helper()
	requireRoot(t) // to switch to another uid
	if b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces"); strings.TrimSpace(string(b)) == "0" {
		t.Skip("user namespaces are disabled on this machine")
	}
	dir, err := os.MkdirTemp("", "crrun-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	rt := filepath.Join(dir, "rt")
	// a copy nobody can execute wherever the checkout is
	bin := filepath.Join(dir, "crrun")
	copyExecutable(t, crrunBin, bin)
	return dir, func(args ...string) *exec.Cmd {
		cmd := execAs(65534, bin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		cmd.Dir = dir
		return cmd
	}
}

func TestUnprivileged(t *testing.T) {
	dir, asNobody := nobodyEnv(t)
	out, err := asNobody("--", "sh", "-c", "id -u; grep -E '^(CapEff|NSpid)' /proc/self/status").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "65534\n") || !strings.Contains(string(out), "CapEff:\t0000000000000000") {
		t.Fatalf("run as nobody: %v\n%s", err, out)
	}
	b := compileCR(t, "threads", false)
	got, _ := nobodyRoundTrip(t, asNobody, filepath.Join(dir, "ck"), "running", 0, b, "60000")
	if !strings.HasSuffix(got, "PASS\n") {
		t.Fatalf("output: %s", got)
	}
}

// nobodyRoundTrip runs argv as nobody under crrun with store ck, waits for
// ready on its stderr (and settle more), has nobody checkpoint it with
// --exit (crrun must exit 75) and restore it. It returns the app's stdout
// before and after, joined, and the restore's stderr.
func nobodyRoundTrip(t *testing.T, asNobody func(args ...string) *exec.Cmd, ck, ready string, settle time.Duration, argv ...string) (string, string) {
	t.Helper()
	app := asNobody(append([]string{"--dir", ck, "--"}, argv...)...)
	appOut, appErr, done := startCmd(t, app)
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), ready) }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	time.Sleep(settle)
	if out, err := asNobody("checkpoint", "--exit").CombinedOutput(); err != nil {
		t.Fatalf("checkpoint as nobody: %v\n%s\n%s", err, out, appErr.String())
	}
	<-done
	if app.ProcessState.ExitCode() != 75 {
		t.Fatalf("checkpoint --exit: crrun exited %v\n%s", app.ProcessState, appErr.String())
	}
	res := asNobody("restore", ck)
	var rOut, rErr syncBuffer
	res.Stdout, res.Stderr = &rOut, &rErr
	if err := res.Run(); err != nil {
		t.Fatalf("restore as nobody: %v\n%s", err, rErr.String())
	}
	return appOut.String() + rOut.String(), rErr.String()
}

// copyExecutable copies the executable src to dst with forks held off: a
// child forked by a parallel test while dst is open for writing keeps it
// open until it execs, and an exec of dst then fails with ETXTBSY (seen in
// CI).
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err == nil {
		syscall.ForkLock.Lock()
		err = os.WriteFile(dst, data, 0o755)
		syscall.ForkLock.Unlock()
	}
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
