package ptrace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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

	"golang.org/x/sys/unix"
)

// The tests trace small C victims (testdata/victim.c) built once with gcc.
// They need root (or equivalent ptrace rights) and skip with the reason when
// it is missing.

var (
	victimBin  string
	skipReason string
	buildErr   error
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = "needs root: the tests ptrace processes they start and read their memory"
		return m.Run()
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		skipReason = "gcc not found: the victims are small C programs built by the tests"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "crrun-ptrace-test-")
	if err != nil {
		buildErr = err
		return m.Run()
	}
	defer os.RemoveAll(dir)
	victimBin = filepath.Join(dir, "victim")
	out, err := exec.Command(gcc, "-O1", "-Wall", "-pthread", "-o", victimBin, "testdata/victim.c").CombinedOutput()
	if err != nil {
		buildErr = fmt.Errorf("building testdata/victim.c: %v\n%s", err, out)
	}
	return m.Run()
}

var (
	probeOnce sync.Once
	probeSkip string
	probeErr  error
)

// needPtrace skips the test when ptrace cannot work here.
func needPtrace(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	probeOnce.Do(func() {
		cmd := exec.Command(victimBin, "read")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			probeErr = err
			return
		}
		defer stdin.Close()
		if err := startFromForker(cmd); err != nil {
			probeErr = err
			return
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		tr := New()
		defer tr.Close()
		if err := tr.Seize(cmd.Process.Pid, 0); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOSYS) {
				probeSkip = "ptrace is not permitted here: " + err.Error()
				return
			}
			probeErr = err
			return
		}
		probeErr = tr.Detach(cmd.Process.Pid, 0)
	})
	if probeSkip != "" {
		t.Skip(probeSkip)
	}
	if probeErr != nil {
		t.Fatalf("ptrace probe: %v", probeErr)
	}
}

// env is a Tracer plus the victims of one test. Its cleanup kills the victims,
// closes the Tracer (which releases traced zombie threads: a killed traced
// process cannot be reaped while its threads wait for their tracer), then
// reaps the victims. It runs even when the test fails.
type env struct {
	t       testing.TB
	tr      *Tracer
	victims []*victim
}

func setup(t testing.TB) *env {
	t.Helper()
	needPtrace(t)
	e := &env{t: t, tr: New()}
	t.Cleanup(func() {
		for _, v := range e.victims {
			_ = v.cmd.Process.Kill()
		}
		_ = e.tr.Close()
		for _, v := range e.victims {
			_ = v.wait()
		}
	})
	return e
}

// PR_SET_PDEATHSIG follows the thread that forked the child, not the process.
// Any Go thread can later become a Tracer's locked thread, which exits on
// Close, and that would SIGKILL every victim it had forked (seen: victims
// killed mid-test under load). So victims are forked from one goroutine
// locked to a thread that lives as long as the test process.
var forker = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread never exits
		for f := range forker {
			f()
		}
	}()
}

func startFromForker(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	forker <- func() { errc <- cmd.Start() }
	return <-errc
}

type victim struct {
	t        testing.TB
	cmd      *exec.Cmd
	pid      int
	stdin    io.WriteCloser
	lines    chan string
	ready    []string // fields of the "ready" line
	waitOnce sync.Once
	waitErr  error
}

// start runs the victim in a mode and waits for its "ready" line.
func (e *env) start(args ...string) *victim {
	t := e.t
	t.Helper()
	cmd := exec.Command(victimBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startFromForker(cmd); err != nil {
		t.Fatal(err)
	}
	v := &victim{t: t, cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, lines: make(chan string, 100)}
	e.victims = append(e.victims, v)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			v.lines <- sc.Text()
		}
		close(v.lines)
	}()
	line := v.line()
	v.ready = strings.Fields(line)
	if len(v.ready) < 2 || v.ready[0] != "ready" || v.ready[1] != strconv.Itoa(v.pid) {
		t.Fatalf("victim %v: unexpected first line %q", args, line)
	}
	return v
}

// line returns the victim's next output line.
func (v *victim) line() string {
	v.t.Helper()
	select {
	case l, ok := <-v.lines:
		if !ok {
			v.t.Fatalf("victim %d: output closed", v.pid)
		}
		return l
	case <-time.After(60 * time.Second):
		v.t.Fatalf("victim %d: no output within 60s", v.pid)
	}
	return ""
}

func (v *victim) send(s string) {
	v.t.Helper()
	if _, err := io.WriteString(v.stdin, s); err != nil {
		v.t.Fatalf("victim %d: write stdin: %v", v.pid, err)
	}
}

func (v *victim) wait() error {
	v.waitOnce.Do(func() { v.waitErr = v.cmd.Wait() })
	return v.waitErr
}

func (v *victim) hexField(i int) uintptr {
	v.t.Helper()
	a, err := strconv.ParseUint(strings.TrimPrefix(v.ready[i], "0x"), 16, 64)
	if err != nil {
		v.t.Fatalf("ready line %q: field %d: %v", strings.Join(v.ready, " "), i, err)
	}
	return uintptr(a)
}

// waitUntil polls cond with a growing delay for up to a minute: generous,
// for a loaded two-core machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	delay := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// blockedIn returns the syscall number a thread is blocked in
// (/proc/TID/syscall), or -1 if it is running.
func blockedIn(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", tid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return n
}

func state(t *testing.T, tid int) byte {
	t.Helper()
	s, err := threadState(tid)
	if err != nil {
		t.Fatalf("state of %d: %v", tid, err)
	}
	return s
}

func readU64s(t *testing.T, pid int, addr uintptr, n int) []uint64 {
	t.Helper()
	buf := make([]byte, 8*n)
	if err := ReadMem(pid, addr, buf); err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, n)
	for i := range out {
		for j := 7; j >= 0; j-- {
			out[i] = out[i]<<8 | uint64(buf[8*i+j])
		}
	}
	return out
}
