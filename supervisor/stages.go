package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/crrun/crrun/internal/timens"
	"github.com/crrun/crrun/seccomp"

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
	// LastPid is written to /proc/sys/kernel/ns_last_pid before the exec
	// stage starts, so the app's pids start above it: above the init's own
	// early Go threads at launch, and above every saved pid and tid at
	// restore (so nothing the restore creates can take one of them).
	LastPid int `json:"last_pid,omitempty"`
	// MainNsPid, at restore, is the pid the restored main process will have;
	// the exec stage is then only a stub.
	MainNsPid int  `json:"main_nspid,omitempty"`
	Stub      bool `json:"stub,omitempty"`
	// TimeNS, when set, makes the init unshare a time namespace for its
	// children (the exec stage, the app, restore's stub) before it starts
	// any, with these offsets (docs/design.md, "Clocks").
	TimeNS *timeNSConfig `json:"time_ns,omitempty"`
	// MainGone, at restore: the main process had exited before the
	// checkpoint (its status is in the image): there is no main process to
	// wait for, and signals go to every process, as after its exit.
	MainGone bool `json:"main_gone,omitempty"`
	// IPC: the app has an IPC namespace of its own; answer the
	// supervisor's requests about it on fd 5 (ipcns.go).
	IPC bool `json:"ipc,omitempty"`
	// Loopback: the init is in a network namespace of the app's own
	// (--net=private), whose "lo" it brings up.
	Loopback bool `json:"loopback,omitempty"`
	// PingGroupRange is the net.ipv4.ping_group_range the init writes in
	// the app's network namespace once lo is up, before the app or any
	// socket of a restore is made: the host's (hostPingRange) or, at
	// restore, the one the app's namespace had (image.Meta.PingGroupRange).
	// "" leaves the new namespace's "1 0".
	PingGroupRange string `json:"ping_group_range,omitempty"`
}

// timeNSConfig is the app's time namespace.
type timeNSConfig struct {
	// Set: write the offsets (a restore); otherwise the namespace keeps the
	// offsets it inherits, crrun's own (a launch: the app sees crrun's clocks).
	Set       bool  `json:"set,omitempty"`
	Monotonic int64 `json:"monotonic_ns,omitempty"` // offset from the host's CLOCK_MONOTONIC
	Boottime  int64 `json:"boottime_ns,omitempty"`  // offset from the host's CLOCK_BOOTTIME
}

// stageConfig travels in the exec stage's argv.
type stageConfig struct {
	Ignored []int `json:"ignored,omitempty"`
	// Stub: say "ready", wait for "go" (the supervisor seizes us meanwhile),
	// exec the app's binary without a filter: restore rebuilds the app in it.
	Stub bool `json:"stub,omitempty"`
}

// The stub handshake messages on the seccomp socket.
const (
	msgReady = "ready"
	msgGo    = "go"
)

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
	unix.CloseOnExec(initIPCFd)
	if cfg.IPC {
		go serveIPC(initIPCFd)
	}

	// A fresh /proc for the new PID namespace, so getpid() and /proc agree.
	// Mount events must not propagate back to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("init: make / private in the new mount namespace: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("init: mount /proc in the new PID namespace: %v", err)
	}
	if cfg.Loopback {
		if err := loopbackUp(); err != nil {
			fail("init: bring the loopback interface up in the app's network namespace (--net=private): %v", err)
		}
		if err := keepDiagSocket(); err != nil {
			fail("init: a sock_diag socket in the app's network namespace: %v", err)
		}
		if r := cfg.PingGroupRange; r != "" {
			if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte(r+"\n"), 0); err != nil {
				fail("init: set net.ipv4.ping_group_range to %q in the app's network namespace, as the app had it: %v", r, err)
			}
		}
	}
	if cfg.LastPid > 0 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(cfg.LastPid)), 0); err != nil {
			fail("init: set ns_last_pid to %d: %v", cfg.LastPid, err)
		}
	}

	if t := cfg.TimeNS; t != nil {
		// The namespace is for the children of this thread alone: the exec
		// stage must be forked from it. It is the main thread (cmd/crrun
		// locks the main goroutine to it), whose ns/time_for_children /proc
		// shows; the runtime makes its new threads from its template thread,
		// which stays in the host's namespace. Offsets can be written only
		// until a process has entered the namespace, hence before the fork.
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fail("init: not on its main thread (tid %d, pid %d): the app's time namespace would not be the one /proc shows", unix.Gettid(), unix.Getpid())
		}
		if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
			fail("init: unshare a time namespace (CLONE_NEWTIME) for the app: %v", err)
		}
		if t.Set {
			o := timens.Offsets{Monotonic: time.Duration(t.Monotonic), Boottime: time.Duration(t.Boottime)}
			if err := timens.WriteSelf(o); err != nil {
				fail("init: set the app's clock offsets (%q to /proc/self/timens_offsets): %v", o.Format(), err)
			}
		}
	}

	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc, forwardable()...)

	stageCfg, _ := json.Marshal(stageConfig{Ignored: cfg.Ignored, Stub: cfg.Stub})
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
	if cfg.MainNsPid > 0 {
		main = cfg.MainNsPid // the restored process; the exec stage is its stub
	}
	mainAlive := true
	if cfg.MainGone {
		main, mainAlive = -1, false // no wait status is the main process's
	}

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
	var cfg stageConfig
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		fail(ExitInternal, "exec stage: config: %v", err)
	}
	path, argv := args[1], args[2:]
	if cfg.Stub {
		stubExec(fd, path, argv, fail)
	}

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

	for _, s := range cfg.Ignored {
		signal.Ignore(syscall.Signal(s))
	}
	dropAmbient()
	err = syscall.Exec(path, argv, os.Environ())
	code := ExitNotExec
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	fail(code, "cannot execute %s: %v", path, err)
}

// stubExec is the exec stage at restore: it announces itself, waits until
// the supervisor has seized it (ptrace with TRACEEXEC), and execs the app's
// binary, so the restored process's /proc/PID/exe is right without any
// privilege. It runs on the main thread (see cmd/crrun: init locks it), so the
// exec needs no de_thread and the tid the supervisor seized stays the same.
func stubExec(fd int, path string, argv []string, fail func(int, string, ...any)) {
	if err := unix.Sendmsg(fd, []byte(msgReady), nil, nil, 0); err != nil {
		fail(ExitInternal, "stub: %v", err)
	}
	buf := make([]byte, 16)
	n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0)
	if err != nil || string(buf[:n]) != msgGo {
		fail(ExitInternal, "stub: no go from the supervisor (%v)", err)
	}
	unix.CloseOnExec(fd)
	err = syscall.Exec(path, argv, os.Environ())
	fail(ExitNotExec, "restore: cannot execute %s: %v", path, err)
}
