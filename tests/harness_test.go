// Package tests runs real programs under the real crrun binary: C programs
// (static and dynamic) and Go programs compiled by the tests, checked through
// their output, exit status, crrun's log and `crrun status`.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	crrunBin string // built once by TestMain
	workDir  string // compiled victims, shared by all tests
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// Whatever the test runner inherited (a CI shell's fds) must not reach the
	// apps: crrun's scan would rightly report them.
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	var err error
	workDir, err = os.MkdirTemp("", "crrun-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	os.Chmod(workDir, 0o755) // tests run some binaries as another user
	// No test may use (or leave) a checkpoint store in the working directory:
	// with --resume=auto a leftover one would change what crrun does.
	os.Setenv("CRRUN_DIR", filepath.Join(workDir, "default-store"))
	crrunBin = os.Getenv("CRRUN_BIN")
	if crrunBin == "" {
		crrunBin = filepath.Join(workDir, "crrun")
		cmd := exec.Command("go", "build", "-tags", "netgo,osusergo", "-o", crrunBin, "./cmd/crrun")
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build crrun:", err)
			return 1
		}
	}
	return m.Run()
}

// requireRoot skips tests that need what only root has today.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: crrun creates PID and mount namespaces (the unprivileged path is not implemented yet)")
	}
}

var buildMu sync.Mutex
var built = map[string]string{}

// compileC builds testdata/<name>.c once per run (static if asked) and returns
// the binary's path.
func compileC(t *testing.T, name string, static bool, extra ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := fmt.Sprint(name, static, extra)
	if p, ok := built[key]; ok {
		return p
	}
	out := filepath.Join(workDir, name)
	if static {
		out += "-static"
	}
	args := []string{"-O1", "-g", "-Wall", "-pthread", "-o", out, filepath.Join(repoRoot, "tests", "testdata", name+".c")}
	if static {
		args = append(args, "-static")
	}
	args = append(args, extra...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	built[key] = out
	return out
}

// compileGo builds testdata/<name>/ (its own main package) once per run.
func compileGo(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built["go:"+name]; ok {
		return p
	}
	out := filepath.Join(workDir, name+"-go")
	cmd := exec.Command("go", "build", "-o", out, "./tests/testdata/"+name)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	built["go:"+name] = out
	return out
}

// app is one crrun process started by a test.
type app struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan struct{}
	runtime string
	err     error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type opts struct {
	stdin      *os.File
	stdout     *os.File // a file for crrun's stdout instead of the buffer
	stdinData  string
	env        []string
	runtimeDir string
	dir        string
	wrap       []string // a command that execs crrun (taskset -c 0)
}

// runtimeDir gives each test a control-socket directory of its own, so
// `crrun status` sees only that test's supervisors.
func runtimeDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "crrun-rt-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o700)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// start runs `crrun args...` in the background. Cleanup kills it with SIGKILL
// (which takes the app down with it: the init dies by PDEATHSIG) and reaps it.
func start(t *testing.T, o opts, args ...string) *app {
	t.Helper()
	if o.runtimeDir == "" {
		o.runtimeDir = runtimeDir(t)
	}
	a := &app{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), runtime: o.runtimeDir}
	a.cmd = exec.Command(crrunBin, args...)
	if len(o.wrap) > 0 {
		a.cmd = exec.Command(o.wrap[0], append(append(o.wrap[1:len(o.wrap):len(o.wrap)], crrunBin), args...)...)
	}
	// A private default checkpoint store: with --resume=auto, a leftover
	// store in the working directory would change what crrun does.
	a.cmd.Env = append(append(os.Environ(), "CRRUN_RUNTIME_DIR="+o.runtimeDir, "CRRUN_DIR="+filepath.Join(o.runtimeDir, "ckpt")), o.env...)
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if o.stdout != nil {
		a.cmd.Stdout = o.stdout
	}
	a.cmd.Dir = o.dir
	if o.stdin != nil {
		a.cmd.Stdin = o.stdin
	} else {
		a.cmd.Stdin = strings.NewReader(o.stdinData)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start crrun: %v", err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// wait waits for crrun to exit and returns its exit code, or -signal.
func (a *app) wait(timeout time.Duration) int {
	a.t.Helper()
	select {
	case <-a.done:
	case <-time.After(timeout):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Fatalf("crrun did not exit within %v\nstdout:\n%s\nstderr:\n%s", timeout, a.stdout, a.stderr)
	}
	ws := a.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return -int(ws.Signal())
	}
	return ws.ExitStatus()
}

// run runs crrun to completion.
func run(t *testing.T, o opts, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	a := start(t, o, args...)
	code = a.wait(60 * time.Second)
	return code, a.stdout.String(), a.stderr.String()
}

// waitOutput waits until crrun's stdout contains s.
func (a *app) waitOutput(s string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.stdout.String(), s) {
		select {
		case <-a.done:
			if strings.Contains(a.stdout.String(), s) {
				return
			}
			a.t.Fatalf("crrun exited before printing %q\nstdout:\n%s\nstderr:\n%s", s, a.stdout, a.stderr)
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no %q within %v\nstdout:\n%s\nstderr:\n%s", s, timeout, a.stdout, a.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Status mirrors the JSON of `crrun status --json` (docs/status.md).
type Status struct {
	SupervisorPid  int            `json:"supervisor_pid"`
	Command        []string       `json:"command"`
	OnNOCR         string         `json:"on_nocr"`
	Checkpointable bool           `json:"checkpointable"`
	ExitOK         bool           `json:"exit_checkpointable"`
	Reasons        []StatusReason `json:"reasons"`
	Denied         []struct {
		Reason  string `json:"reason"`
		Syscall string `json:"syscall"`
	} `json:"denied"`
	Processes []struct {
		Pid     int    `json:"pid"`
		NsPid   int    `json:"nspid"`
		PPid    int    `json:"ppid"`
		Comm    string `json:"comm"`
		Threads int    `json:"threads"`
	} `json:"processes"`
}

// StatusReason is one of Status.Reasons.
type StatusReason struct {
	Reason  string `json:"reason"`
	Kind    string `json:"kind"`
	Pid     int    `json:"pid"`
	NsPid   int    `json:"nspid"`
	Tid     int    `json:"tid"`
	Comm    string `json:"comm"`
	Syscall string `json:"syscall"`
	Fd      *int   `json:"fd"`
	Source  string `json:"source"`
	Sticky  bool   `json:"sticky"`
	// KeepRunning: only a checkpoint that leaves the app running
	// refuses it.
	KeepRunning bool `json:"keep_running_only"`
}

func (s *Status) reasons() string {
	var b strings.Builder
	for _, r := range s.Reasons {
		fmt.Fprintf(&b, "%s [pid %d tid %d %s %s]\n", r.Reason, r.Pid, r.Tid, r.Comm, r.Syscall)
	}
	return b.String()
}

// crrunCmd runs a crrun client command (status, ...) against a's runtime dir.
func (a *app) crrunCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, crrunBin, args...)
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+a.runtime)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("crrun %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// status asks a's supervisor for its JSON status.
func (a *app) status() *Status {
	a.t.Helper()
	var last error
	for i := 0; i < 100; i++ { // the control socket appears shortly after launch
		out, err := a.crrunCmd("status", "--json", fmt.Sprint(a.cmd.Process.Pid))
		if err == nil {
			var st Status
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				a.t.Fatalf("status JSON: %v\n%s", err, out)
			}
			return &st
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("status: %v", last)
	return nil
}

// processAlive reports whether host pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

var errTimeout = errors.New("timeout")

// eventually polls cond until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// startCmd starts cmd (a crrun command made by a test) with its stdout and
// stderr in buffers; done closes when it has exited. Cleanup kills it with
// SIGKILL and reaps it if it still runs.
func startCmd(t *testing.T, cmd *exec.Cmd) (stdout, stderr *syncBuffer, done chan struct{}) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	return stdout, stderr, done
}
