package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"crrun/seccomp"

	"golang.org/x/sys/unix"
)

// The child side of the launch. Go cannot run code between fork and exec, so
// crrun re-executes itself (/proc/self/exe) with a hidden first argument:
//
//	supervisor ──clone(NEWPID|NEWNS)──▶ crrun __init   (PID 1: mounts /proc, reaps, forwards signals)
//	                                      └─fork/exec──▶ crrun __exec (PID 2: loads the filter, execs the app)
//
// fds of the init: 3 = event socket to the supervisor, 4 = the seccomp socket,
// which becomes fd 3 of the exec stage.
const (
	InitArg = "__init"
	ExecArg = "__exec"

	initEventFd = 3
	initSeccFd  = 4
	execSeccFd  = 3
)

// initConfig travels in the init's argv (small, no secrets).
type initConfig struct {
	WaitMain   bool  `json:"wait_main"`
	Foreground bool  `json:"foreground"`
	Ignored    []int `json:"ignored,omitempty"` // signals ignored when crrun started (nohup)
}

// event is one message from the init to the supervisor.
type event struct {
	Ev    string `json:"ev"` // started, stopped, continued, exit, error, done
	NsPid int    `json:"nspid,omitempty"`
	Code  int    `json:"code,omitempty"`
	Sig   int    `json:"sig,omitempty"`
	Msg   string `json:"msg,omitempty"`
}

// execResult is what the exec stage reports when execve fails (on success the
// close-on-exec socket just closes).
type execResult struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func sendJSON(fd int, v any, oob []byte) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return unix.Sendmsg(fd, b, oob, nil, 0)
}

// forwardable lists the signals crrun passes on to the app. Left out: SIGCHLD
// (crrun's own business), SIGURG (the Go runtime's preemption signal), SIGPROF,
// SIGPIPE, SIGTTIN/SIGTTOU (crrun ignores them to manage the terminal), SIGUSR1
// (checkpoint trigger), and the synchronous fault signals.
func forwardable() []os.Signal {
	s := []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGABRT, unix.SIGUSR2,
		unix.SIGALRM, unix.SIGTERM, unix.SIGCONT, unix.SIGTSTP, unix.SIGWINCH,
		unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPWR, unix.SIGSYS, unix.SIGTRAP}
	for n := 34; n <= 64; n++ { // SIGRTMIN+2..SIGRTMAX; 32/33 belong to glibc
		s = append(s, syscall.Signal(n))
	}
	return s
}

func isJobControl(s syscall.Signal) bool {
	return s == unix.SIGTSTP || s == unix.SIGCONT || s == unix.SIGTTIN || s == unix.SIGTTOU
}

// InitMain is PID 1 of the app's PID namespace. It never returns.
func InitMain(args []string) {
	ev := initEventFd
	fail := func(format string, a ...any) {
		_ = sendJSON(ev, event{Ev: "error", Msg: fmt.Sprintf(format, a...)}, nil)
		os.Exit(ExitInternal)
	}
	if len(args) < 3 {
		fail("init: bad arguments")
	}
	var cfg initConfig
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		fail("init: config: %v", err)
	}
	path, argv := args[1], args[2:]
	// Neither of our sockets may leak into the app (the seccomp one reaches the
	// exec stage as its fd 3, by dup2).
	unix.CloseOnExec(ev)
	unix.CloseOnExec(initSeccFd)

	// A fresh /proc for the new PID namespace, so getpid() and /proc agree.
	// Mount events must not propagate back to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("init: make / private in the new mount namespace: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("init: mount /proc in the new PID namespace: %v", err)
	}

	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc, forwardable()...)

	stageCfg, _ := json.Marshal(cfg.Ignored)
	cmd := exec.Command("/proc/self/exe", append([]string{ExecArg, string(stageCfg), path}, argv...)...)
	cmd.Args[0] = "crrun"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{os.NewFile(initSeccFd, "seccomp-socket")}
	// The app gets a process group of its own, and the terminal when crrun had
	// it, like a shell's job: Ctrl-C and Ctrl-Z go to the app alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: cfg.Foreground, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fail("init: start the exec stage: %v", err)
	}
	cmd.ExtraFiles[0].Close()
	main := cmd.Process.Pid
	_ = sendJSON(ev, event{Ev: "started", NsPid: main}, nil)

	mainAlive := true
	done := make(chan struct{})
	waits := make(chan event, 16)
	go func() {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WUNTRACED|unix.WCONTINUED, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil { // ECHILD: every process of the app is gone
				close(done)
				return
			}
			if pid != main {
				continue // an orphan reparented to us: reaped
			}
			switch {
			case ws.Stopped():
				waits <- event{Ev: "stopped", Sig: int(ws.StopSignal())}
			case ws.Continued():
				waits <- event{Ev: "continued"}
			case ws.Exited():
				waits <- event{Ev: "exit", Code: ws.ExitStatus()}
			case ws.Signaled():
				waits <- event{Ev: "exit", Sig: int(ws.Signal())}
			}
		}
	}()
	for {
		select {
		case s := <-sigc:
			sig := s.(syscall.Signal)
			switch {
			case !mainAlive:
				_ = unix.Kill(-1, sig) // what is left of the app (daemons)
			case isJobControl(sig):
				_ = unix.Kill(-main, sig)
			default:
				_ = unix.Kill(main, sig)
			}
		case e := <-waits:
			if e.Ev == "exit" {
				mainAlive = false
				if cfg.WaitMain {
					_ = unix.Kill(-1, unix.SIGKILL) // PID 1: everyone in the namespace but us
				}
			}
			_ = sendJSON(ev, e, nil)
		case <-done:
			for len(waits) > 0 {
				_ = sendJSON(ev, <-waits, nil)
			}
			_ = sendJSON(ev, event{Ev: "done"}, nil)
			os.Exit(0)
		}
	}
}

// ExecMain is the exec stage (PID 2): it installs the NOCR filter on its own
// locked thread, hands the listener to the supervisor, and execs the app from
// that same thread. It never returns.
func ExecMain(args []string) {
	runtime.LockOSThread() // the filter and NO_NEW_PRIVS are per thread; exec from this one
	fd := execSeccFd
	fail := func(code int, format string, a ...any) {
		_ = sendJSON(fd, execResult{Code: code, Msg: fmt.Sprintf(format, a...)}, nil)
		os.Exit(code)
	}
	if len(args) < 3 {
		fail(ExitInternal, "exec stage: bad arguments")
	}
	var ignored []int
	if err := json.Unmarshal([]byte(args[0]), &ignored); err != nil {
		fail(ExitInternal, "exec stage: config: %v", err)
	}
	path, argv := args[1], args[2:]

	buf := make([]byte, 1<<16)
	n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0)
	if err != nil || n == 0 {
		fail(ExitInternal, "exec stage: no filter from the supervisor: %v", err)
	}
	listener, err := seccomp.Load(buf[:n])
	if err != nil {
		fail(ExitInternal, "exec stage: install the NOCR filter: %v", err)
	}
	if err := unix.Sendmsg(fd, []byte("listener"), unix.UnixRights(listener), nil, 0); err != nil {
		fail(ExitInternal, "exec stage: hand the listener to the supervisor: %v", err)
	}
	unix.Close(listener)
	unix.CloseOnExec(fd) // closes on a successful exec: the supervisor sees EOF

	for _, s := range ignored {
		signal.Ignore(syscall.Signal(s))
	}
	err = syscall.Exec(path, argv, os.Environ())
	code := ExitNotExec
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	fail(code, "cannot execute %s: %v", path, err)
}
