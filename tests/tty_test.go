package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// openPTY returns a pty master and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	// Non-blocking, so the Go poller owns it and Close interrupts a pending
	// Read (a blocking Read would make Close wait forever).
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// ptyReader collects what the pty master reads.
type ptyReader struct{ buf syncBuffer }

func readPTY(m *os.File) *ptyReader {
	p := &ptyReader{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			if n > 0 {
				p.buf.Write(b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *ptyReader) wait(t *testing.T, s string, after int) int {
	t.Helper()
	if err := eventually(15*time.Second, func() bool { return strings.Contains(p.buf.String()[after:], s) }); err != nil {
		t.Fatalf("terminal never showed %q; it shows:\n%s", s, p.buf.String())
	}
	return after + strings.Index(p.buf.String()[after:], s) + len(s)
}

// The app on crrun's terminal: it is in the foreground, Ctrl-C and window
// size changes reach it.
func TestTerminal(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "basics", false)
	m, s := openPTY(t)
	cmd := exec.Command(crrunBin, "--", b, "tty")
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+runtimeDir(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := waitInBackground(t, cmd)
	p := readPTY(m)
	at := p.wait(t, "isatty=11 fg=1 rows=24 cols=80", 0)
	at = p.wait(t, "READY", at)
	m.Write([]byte{3}) // Ctrl-C
	at = p.wait(t, "got INT", at)
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100})
	at = p.wait(t, "got WINCH 40x100", at)
	m.Write([]byte{3})
	p.wait(t, "got INT", at)
	select {
	case <-done:
		if !cmd.ProcessState.Success() {
			t.Fatalf("crrun: %v\n%s", cmd.ProcessState, p.buf.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("crrun did not exit:\n%s", p.buf.String())
	}
}

// Job control through an interactive shell: Ctrl-Z stops the app and crrun
// (the shell sees its job stop), fg resumes both with the terminal.
func TestTerminalJobControl(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	b := compileC(t, "basics", false)
	m, p, at := startShell(t, runtimeDir(t))
	fmt.Fprintf(m, "%s -- %s tty\n", crrunBin, b)
	at = p.wait(t, "READY", at)
	m.Write([]byte{26}) // Ctrl-Z
	at = p.wait(t, "Stopped", at)
	at = p.wait(t, "$ ", at)
	fmt.Fprintf(m, "fg\n")
	// The app is in the foreground again: Ctrl-C reaches it.
	time.Sleep(300 * time.Millisecond)
	m.Write([]byte{3})
	at = p.wait(t, "got INT", at)
	m.Write([]byte{3})
	at = p.wait(t, "got INT", at)
	at = p.wait(t, "$ ", at)
	fmt.Fprintf(m, "echo fg-exit=$?\n")
	p.wait(t, "fg-exit=0", at)
	fmt.Fprintf(m, "exit\n")
}

// startShell starts an interactive bash on a new pty (its session's
// controlling terminal), with crrun's runtime dir rt, and waits for its first
// prompt: the master, what it shows, and where the prompt ended.
func startShell(t *testing.T, rt string) (*os.File, *ptyReader, int) {
	t.Helper()
	m, s := openPTY(t)
	cmd := exec.Command("bash", "--norc", "--noprofile", "-i")
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt, "PS1=$ ", "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitInBackground(t, cmd)
	p := readPTY(m)
	return m, p, p.wait(t, "$ ", 0)
}

// waitInBackground reaps cmd; the returned channel closes when it has exited.
// Cleanup kills and reaps it if the test ends first.
func waitInBackground(t *testing.T, cmd *exec.Cmd) chan struct{} {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// The shell's jobs (crrun, the app) live on if only the shell dies:
		// kill its whole session (it was started with Setsid).
		killSession(cmd.Process.Pid)
		cmd.Process.Kill()
		<-done
	})
	return done
}

// ttyCheckpointExit runs testdata program name (with arg) under crrun from
// an interactive shell on a new terminal, checkpoints it with --exit at a
// random moment within hi of its "READY", and returns the terminal, its
// reader and position once the shell prompts again, and the store.
func ttyCheckpointExit(t *testing.T, name, arg string, hi time.Duration) (*os.File, *ptyReader, int, string) {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	requireCR(t, "checkpoint", "restore")
	b := compileC(t, name, false)
	rt := runtimeDir(t)
	store := t.TempDir() + "/ck"
	m, p, at := startShell(t, rt)
	fmt.Fprintf(m, "%s --dir %s -- %s %s; echo run-exit=$?\n", crrunBin, store, b, arg)
	at = p.wait(t, "READY", at)
	time.Sleep(crDelay(crRand(t), 0, hi))
	if code, out, errOut := crClient(t, rt, 30*time.Second, "checkpoint", "--exit"); code != 0 {
		t.Fatalf("checkpoint --exit: exit %d\n%s%s", code, out, errOut)
	}
	at = p.wait(t, "run-exit=75", at)
	at = p.wait(t, "$ ", at)
	return m, p, at, store
}

// An app checkpointed on a terminal and restored by an interactive shell on
// the same terminal: it is the foreground job again, Ctrl-C reaches it, and
// Ctrl-Z/fg work as before the checkpoint.
func TestTerminalRestore(t *testing.T) {
	m, p, at, store := ttyCheckpointExit(t, "basics", "tty", 0)
	fmt.Fprintf(m, "%s restore %s\n", crrunBin, store)
	at = p.wait(t, "restored", at)
	time.Sleep(300 * time.Millisecond)
	m.Write([]byte{3}) // Ctrl-C: the restored app has the foreground
	at = p.wait(t, "got INT", at)
	m.Write([]byte{26}) // Ctrl-Z
	at = p.wait(t, "Stopped", at)
	at = p.wait(t, "$ ", at)
	fmt.Fprintf(m, "fg\n")
	time.Sleep(300 * time.Millisecond)
	m.Write([]byte{3})
	at = p.wait(t, "got INT", at)
	at = p.wait(t, "$ ", at)
	fmt.Fprintf(m, "echo fg-exit=$?\n")
	p.wait(t, "fg-exit=0", at)
	fmt.Fprintf(m, "exit\n")
}

// A job of the app in the foreground of crrun's terminal (the app's own
// process group, not the main process's) has the foreground again after
// the restore: given to the main process's group, it would stop at its
// next read of the terminal (SIGTTIN).
func TestTerminalRestoreForegroundJob(t *testing.T) {
	m, p, at, store := ttyCheckpointExit(t, "fgjob", "", 1500*time.Millisecond)
	fmt.Fprintf(m, "%s restore %s; echo restore-exit=$?\n", crrunBin, store)
	at = p.wait(t, "PASS", at)
	at = p.wait(t, "job-exit=0", at)
	p.wait(t, "restore-exit=0", at)
	fmt.Fprintf(m, "exit\n")
}

// killSession SIGKILLs every process of session sid.
func killSession(sid int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == sid {
			continue
		}
		if s, err := unix.Getsid(pid); err == nil && s == sid {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// An app that put crrun's terminal in raw mode comes back with its
// terminal in raw mode (a key is read without a newline), and told of a
// new size by SIGWINCH; crrun, ending the app itself at `checkpoint
// --exit`, sets back the mode it found (the app had no chance to).
func TestTerminalRestoreMode(t *testing.T) {
	requireRoot(t)
	requireCR(t, "checkpoint", "restore")
	b := compileC(t, "basics", false)
	rt := runtimeDir(t)
	store := t.TempDir() + "/ck"
	m, s := openPTY(t)
	cooked, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	onTerminal := func(args ...string) (chan struct{}, *exec.Cmd) {
		cmd := exec.Command(crrunBin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return waitInBackground(t, cmd), cmd
	}
	ended := func(done chan struct{}, cmd *exec.Cmd, p *ptyReader) int {
		select {
		case <-done:
			return cmd.ProcessState.ExitCode()
		case <-time.After(30 * time.Second):
			t.Fatalf("crrun did not exit:\n%s", p.buf.String())
		}
		return -1
	}
	p := readPTY(m)
	done, cmd := onTerminal("--dir", store, "--", b, "rawtty")
	at := p.wait(t, "READY", 0)
	m.Write([]byte("a"))
	at = p.wait(t, "key a raw", at)
	if code, out, errOut := crClient(t, rt, 30*time.Second, "checkpoint", "--exit"); code != 0 {
		t.Fatalf("checkpoint --exit: exit %d\n%s%s", code, out, errOut)
	}
	if code := ended(done, cmd, p); code != 75 {
		t.Fatalf("crrun exited %d after checkpoint --exit\n%s", code, p.buf.String())
	}
	now, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if d := image.TermiosOf(cooked).Diff(image.TermiosOf(now)); d != "" {
		t.Fatalf("after checkpoint --exit the terminal keeps the app's mode (%s)", d)
	}

	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100})
	done, cmd = onTerminal("restore", store)
	at = p.wait(t, "got WINCH 40x100", at)
	m.Write([]byte("b"))
	at = p.wait(t, "key b raw", at)
	m.Write([]byte("q"))
	p.wait(t, "key q raw", at)
	if code := ended(done, cmd, p); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, p.buf.String())
	}
	now, _ = unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if d := image.TermiosOf(cooked).Diff(image.TermiosOf(now)); d != "" {
		t.Fatalf("the restored app's own reset left another mode (%s)", d)
	}
}
