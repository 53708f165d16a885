package procfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helper processes follow Go's syscall/exec_linux_test.go: the test binary re-runs
// itself with GO_WANT_HELPER_PROCESS set, and TestMain runs the helper instead of
// the tests.
const helperEnv = "GO_WANT_HELPER_PROCESS"

var sharedDir string // removed after the tests; holds the compiled victim

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "procfs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	victimOnce sync.Once
	victimBin  string
	victimErr  error
)

// buildVictim compiles testdata/victim.c once per test binary.
func buildVictim(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the C victim cannot be built")
	}
	victimOnce.Do(func() {
		src, err := filepath.Abs("testdata/victim.c")
		if err != nil {
			victimErr = err
			return
		}
		victimBin = filepath.Join(sharedDir, "victim")
		out, err := exec.Command(gcc, "-Wall", "-O1", "-pthread", "-o", victimBin, src).CombinedOutput()
		if err != nil {
			victimErr = fmt.Errorf("gcc: %v\n%s", err, out)
		}
	})
	if victimErr != nil {
		t.Fatal(victimErr)
	}
	return victimBin
}

// proc is a started process that reported "key value" lines and "ready".
type proc struct {
	cmd  *exec.Cmd
	pid  int
	info map[string]string
}

// start runs cmd with a stdin pipe (the process exits when it closes) and waits
// for its "ready" line. The process is killed and reaped in t.Cleanup.
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, info: map[string]string{}}
	t.Cleanup(func() {
		cmd.Process.Kill()
		stdin.Close()
		cmd.Wait()
	})
	lines := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				lines <- nil
				go io.Copy(io.Discard, stdout)
				return
			}
			k, v, _ := strings.Cut(line, " ")
			p.info[k] = v
		}
		lines <- fmt.Errorf("process exited before ready: %v", sc.Err())
	}()
	select {
	case err := <-lines:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("timeout waiting for ready")
	}
	return p
}

// num returns info[key] as a number (decimal, or hex with 0x).
func (p *proc) num(t *testing.T, key string) uint64 {
	t.Helper()
	s, ok := p.info[key]
	if !ok {
		t.Fatalf("process did not report %q", key)
	}
	if strings.HasPrefix(s, "-") {
		t.Fatalf("%s = %s", key, s)
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

// startHelper re-executes the test binary in helper mode.
func startHelper(t *testing.T, mode string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return start(t, cmd)
}

// runHelper is the body of a helper process. It prints "key value" lines, then
// "ready", then blocks until stdin closes.
func runHelper(mode string) {
	switch mode {
	case "go":
		// A Go program that opens a pipe gets the runtime poller: an epoll
		// instance and an eventfd to wake it.
		r, w, err := os.Pipe()
		if err != nil {
			panic(err)
		}
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
		if err != nil {
			panic(err)
		}
		s4, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			panic(err)
		}
		fmt.Printf("piper %d\npipew %d\nunix %d\ntcp %d\n", r.Fd(), w.Fd(), fds[0], s4)
	case "idle":
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
