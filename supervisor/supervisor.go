package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/restore"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Supervisor runs one app: its launch, its NOCR ledger, its control socket.
type Supervisor struct {
	cfg     Config
	filter  *seccomp.Filter
	ledger  *Ledger // taints (warn and kill policies)
	denied  *Ledger // calls failed by --on-nocr=deny
	started time.Time

	peers     peerPidfds // restored sockets whose SO_PEERPIDFD the supervisor answers (peerpidfd.go)
	initPid   int        // host pid of crrun's init (PID 1 of the app's namespace)
	mainPid   int        // host pid of the app's main process (also its pgid); 0 at restore if it was gone
	mainNsPid int        // its pid inside the app's namespace; 0 until the app has started (mainMu)
	baseline  Baseline

	// mainExit is how the main process ended, once crrun's init has
	// reported it (others may run on: daemons, `cmd &`); mainExited is
	// closed then.
	mainMu     sync.Mutex
	mainExit   *image.MainExit
	mainExited chan struct{}

	fgTTY bool // crrun had the terminal and gave it to the app
	sigc  chan os.Signal

	killOnce sync.Once
	killMsg  string
	killCode int // ExitInternal for --on-nocr=kill, ExitCheckpointed for checkpoint --exit
	killc    chan struct{}
	// startTerm is crrun's terminal's mode at the start of run (nil: no
	// terminal), set back when crrun ends the app itself (terminal.go).
	startTerm *image.Terminal

	ckptMu sync.Mutex // one checkpoint at a time
	// tracker tracks dirty pages between checkpoints (nil: off; made by
	// the first checkpoint, under ckptMu).
	tracker *checkpoint.Tracker

	plan *restorePlan // set for `crrun restore`

	ipc      *ipcClient     // requests to the init about the app's IPC namespace (ipcns.go)
	ipcAddrs map[int]uint64 // restore: where the init attached each recreated segment

	inflight sync.WaitGroup // control requests being answered

	leaving atomic.Bool // Slurm mode: a checkpoint for the job's end is under way

	usr1Mu     sync.Mutex  // one SIGUSR1 checkpoint at a time
	usr1Queued atomic.Bool // a SIGUSR1 checkpoint waits for usr1Mu

	watches watchPaths    // paths the app gave inotify_add_watch
	urgent  urgentSends   // sockets the app sent urgent data on (urgent.go)
	policy  policySetters // processes that set NUMA policies (mempolicy.go)
	semUndo semUndoRecord // processes that made SEM_UNDO operations (semundo.go)

	line          lineage                 // what the lives of this crrun share (restarts)
	restoreReason string                  // why this life is a restore, for the --on-restore hook
	forwarded     map[syscall.Signal]bool // signals crrun passed on to the app in this life
	userStop      bool                    // one of them asked the app to end: no restart
	mainDiedHere  bool                    // the main process ended in this life (not before the checkpoint restored)
}

// firstAppPid is the lowest pid an app's process has in its namespace: above
// the init's own Go threads, so a restore can always recreate every app pid.
const firstAppPid = 100

// appPidBase is where a new app's pids start in its namespace, from the
// supervisor's own pid on the host (distinct from every other running
// supervisor's): hostPid × appPidStride folded into [firstAppPid,
// pidMax-appPidRoom), a one-to-one map there, which puts supervisors
// started one after the other (adjacent host pids) a thousand pids apart.
// Apps that all started at one fixed pid collided wherever a program names
// files after its pids: two `crrun -- mpirun …` jobs of one user on a node
// had the same pids, so the same Open MPI session directory and
// shared-memory files in /tmp, and their ranks failed in MPI_Init
// ("getting local rank failed") or crashed. Without crrun such jobs have
// distinct pids; with it they do again. A restored app keeps its saved pids.
func appPidBase(hostPid, pidMax int) int {
	span := pidMax - appPidRoom - firstAppPid
	if span < 1 {
		return firstAppPid
	}
	stride := appPidStride
	for gcd(stride, span) != 1 {
		stride++
	}
	return firstAppPid + int(uint64(hostPid)*uint64(stride)%uint64(span))
}

// launchPidBase is where a new app's pids start: appPidBase, unless
// another app under crrun on this host has pids from just below it to
// appPidRun above it (a restored app keeps its saved pids, wherever its
// crrun's base would put it); then, up to 20 more tries, the points half a
// stride past the bases of the next host pids (liveapps.go). Not those
// bases themselves: they are where supervisors started beside this one
// put their apps, maybe at this very moment, before their first process
// exists to be seen (TestMPIConcurrentJobs caught two jobs 1 pid apart).
// Only a launch can move: a restore that meets a live app's pids warns
// (waitLiveCopy).
func launchPidBase(hostPid, pidMax int) int {
	first := appPidBase(hostPid, pidMax)
	if v, err := strconv.Atoi(os.Getenv(TestPidBaseEnv)); err == nil && v >= firstAppPid && v < pidMax-appPidRoom {
		first = v
	}
	used := otherApps(nil)
	if len(used) == 0 {
		return first
	}
	for i, b := range pidBaseCandidates(hostPid, pidMax, first) {
		free := true
		for p := range used {
			if p >= firstAppPid && p >= b-appPidBelow && p < b+appPidRun { // not the inits (pid 1)
				free = false
				break
			}
		}
		if free {
			if i > 0 {
				slog.Debug("launch: the app's pids start past another app's", "base", b, "first choice", first)
			}
			return b
		}
	}
	return first
}

// pidBaseCandidates are the bases launchPidBase tries, first the first.
// Twenty more: where pid_max is 32768 the bases of host pids 30 apart come
// back within 400 pids of each other (the range holds 30 strides), so
// further ones would meet the bases of supervisors started beside this
// one.
func pidBaseCandidates(hostPid, pidMax, first int) []int {
	out := []int{first}
	for k := range 20 {
		b := appPidBase(hostPid+k, pidMax) + appPidStride/2
		if b >= pidMax-appPidRoom {
			b -= appPidStride
		}
		if b >= firstAppPid {
			out = append(out, b)
		}
	}
	return out
}

// A new app's base keeps appPidRun pids above it and appPidBelow below it
// free of the pids other apps under crrun use (launchPidBase).
const (
	appPidRun   = 1000
	appPidBelow = 100
)

// TestPidBaseEnv names a test-only knob: CRRUN_TEST_PID_BASE=N makes N
// the first base a launch considers, so a test can aim a new app at a
// live one's pids (launchPidBase must then move it).
const TestPidBaseEnv = "CRRUN_TEST_PID_BASE"

// appPidStride spaces the bases of supervisors with adjacent pids.
const appPidStride = 1009

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// appPidRoom is kept free above the highest base, for the app's processes
// before the namespace's pids wrap around (they wrap to 300, which is
// harmless: above the init's threads).
const appPidRoom = 2000

// pidMax is the host's pid_max, which a new PID namespace inherits (32768
// if it cannot be read).
func pidMax() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 32768
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 32768
	}
	return n
}

// Baseline is what the app's processes looked like at launch, for the scan to
// compare against (namespaces, seccomp filter count).
type Baseline struct {
	Namespaces     map[string]uint64
	SeccompFilters int
	// MemPolicy is crrun's own NUMA policy mode, which the app inherited
	// (0: the default; else every checkpoint refuses, and status says so).
	MemPolicy int32
}

// requestKill ends the app: crrun exits 125 with msg (--on-nocr=kill).
func (s *Supervisor) requestKill(msg string) { s.requestExit(ExitInternal, msg) }

// requestExit ends the app and makes crrun exit with code.
func (s *Supervisor) requestExit(code int, msg string) {
	s.killOnce.Do(func() {
		s.killMsg, s.killCode = msg, code
		close(s.killc)
	})
}

// socketpair returns a close-on-exec SOCK_SEQPACKET pair: message boundaries
// keep the small JSON events and the SCM_RIGHTS transfer simple.
func socketpair() (a, b int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, os.NewSyscallError("socketpair", err)
	}
	return fds[0], fds[1], nil
}

// Run launches cfg.Argv under crrun and supervises it until every process of
// the app has exited (or its main one, with WaitMain). It returns how the app
// ended, for the caller to mirror.
func Run(cfg Config) (Exit, error) {
	if err := checkUserNS(); err != nil {
		return Exit{}, err
	}
	s, err := newSupervisor(cfg)
	if err != nil {
		return Exit{}, err
	}
	s.line = lineage{floor: storeFloor(cfg.Dir), started: s.started}
	return supervise(s)
}

// newSupervisor prepares a fresh launch of cfg.
func newSupervisor(cfg Config) (*Supervisor, error) {
	filter, err := seccomp.BuildFor(cfg.HostIPC)
	if err != nil {
		return nil, &Error{Code: ExitInternal, Msg: "build the NOCR seccomp filter: " + err.Error()}
	}
	return &Supervisor{cfg: cfg, filter: filter, ledger: NewLedger(), denied: NewLedger(),
		started: time.Now(), killc: make(chan struct{}), mainExited: make(chan struct{})}, nil
}

func (s *Supervisor) run() (Exit, error) {
	CatchSignals()
	ignored := early.ignored
	sigc := early.c
	s.sigc = sigc
	defer signal.Stop(sigc)
	// crrun hands the terminal back and forth with tcsetpgrp from the
	// background, which SIGTTOU would stop.
	signal.Ignore(unix.SIGTTOU, unix.SIGTTIN)

	if pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && pg == unix.Getpgrp() {
		s.fgTTY = true
	}
	s.startTerm = terminalState()

	evSup, evInit, err := socketpair()
	if err != nil {
		return Exit{}, err
	}
	scSup, scInit, err := socketpair()
	if err != nil {
		return Exit{}, err
	}
	ipcSup, ipcInit, err := socketpair()
	if err != nil {
		return Exit{}, err
	}
	s.ipc = &ipcClient{fd: ipcSup}
	defer unix.Close(ipcSup)
	icfg := initConfig{WaitMain: s.cfg.WaitMain, Foreground: s.fgTTY, Ignored: ignored, IPC: !s.hostIPC(), Loopback: s.cfg.Net == NetPrivate}
	if icfg.Loopback {
		icfg.PingGroupRange = hostPingRange() // netns.go
	}
	if s.plan == nil {
		icfg.TimeNS = launchTimeNS()
		icfg.LastPid = launchPidBase(os.Getpid(), pidMax()) - 1 // a restore sets its saved pids' instead
	} else {
		if icfg.TimeNS, err = restoreTimeNS(s.plan.img.Meta()); err != nil {
			return Exit{}, err
		}
		icfg.Stub, icfg.MainNsPid, icfg.LastPid = true, s.plan.proc.PID, s.plan.lastPid
		if icfg.Loopback {
			if r := s.plan.img.Meta().PingGroupRange; r != "" {
				icfg.PingGroupRange = r // what the app's namespace had (saved by root's checkpoints)
			}
		}
		if s.plan.mainExit != nil {
			// The main process had exited: the init forwards signals to
			// every process and reports no main exit (the stub's death
			// is not one), as the original init did by then.
			icfg.MainNsPid, icfg.MainGone = 0, true
		}
		// The stub must not take the terminal: it dies, and crrun gives the
		// terminal to the restored process group itself (giveTerminal
		// only does so while crrun holds it).
		icfg.Foreground = false
	}
	icfgJSON, _ := json.Marshal(icfg)
	cmd := exec.Command("/proc/self/exe", append([]string{InitArg, string(icfgJSON), s.cfg.Path}, s.cfg.Argv...)...)
	cmd.Args[0] = "crrun"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The *os.File own the init's ends: closed through them, never by
	// number (a finalizer would close the number again, whatever it is by
	// then: a long-lived crrun that restarts the app reuses numbers).
	initEnds := []*os.File{os.NewFile(uintptr(evInit), "events"), os.NewFile(uintptr(scInit), "seccomp"), os.NewFile(uintptr(ipcInit), "ipc")}
	cmd.ExtraFiles = initEnds
	// Pdeathsig: if crrun dies (even by SIGKILL), the kernel kills its init, and
	// with PID 1 gone the kernel kills every process in the namespace: the app
	// never runs on with nobody answering its trapped syscalls. Pdeathsig fires
	// when the *thread* that forked exits, so the fork happens on a thread that
	// stays locked to a goroutine living as long as crrun.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS,
		Setpgid:    true,
		Pdeathsig:  unix.SIGKILL,
	}
	userNS(cmd.SysProcAttr)
	ipcNS(cmd.SysProcAttr, s.hostIPC())
	netNS(cmd.SysProcAttr, s.cfg.Net)
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread must outlive the init
		startErr <- cmd.Start()
		select {}
	}()
	if err := <-startErr; err != nil {
		return Exit{}, &Error{Code: ExitInternal, Msg: "start the app's init in new PID and mount namespaces: " + err.Error()}
	}
	for _, f := range initEnds {
		f.Close()
	}
	s.initPid = cmd.Process.Pid
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	defer func() {
		_ = unix.Kill(s.initPid, unix.SIGKILL)
		<-reaped
	}()

	events := make(chan event, 16)
	go readEvents(evSup, events)

	execRes := make(chan *Error, 1)
	if s.plan != nil {
		listener, err := s.restoreInto(scSup)
		unix.Close(scSup)
		if err != nil {
			return Exit{}, s.launchError(events, err)
		}
		go s.notifyLoop(listener)
	} else {
		// Hand the exec stage its filter, take the listener back.
		if err := unix.Sendmsg(scSup, s.filter.BPF, nil, nil, 0); err != nil {
			return Exit{}, &Error{Code: ExitInternal, Msg: "send the filter to the exec stage: " + err.Error()}
		}
		listener, execErr, err := recvListener(scSup)
		if err != nil {
			return Exit{}, s.launchError(events, err)
		}
		if execErr != nil {
			return Exit{}, execErr
		}
		go s.notifyLoop(listener)
		go func() { // EOF on success: the socket was close-on-exec in the exec stage
			_, e, _ := recvListener(scSup)
			unix.Close(scSup)
			execRes <- e
		}()
	}

	s.recordBaseline()
	ctl, err := s.serveControl()
	if err != nil {
		slog.Warn("no control socket: crrun status will not see this app", "err", err)
	} else {
		defer ctl.Close()
		defer waitTimeout(&s.inflight, 10*time.Second)
	}

	if s.cfg.Interval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go s.periodic(ctx, s.cfg.Interval)
	}
	if sl := s.cfg.Slurm; sl != nil {
		slog.Info(fmt.Sprintf("slurm: job %s, SLURM_RESTART_COUNT=%d; %s checkpoints and requeues, SIGTERM checkpoints within %v",
			sl.JobID, sl.RestartCount, unix.SignalName(sl.RequeueSignal), sl.TermGrace))
	}

	var exit *Exit
	if s.plan != nil && s.plan.mainExit != nil {
		// Mirrored once the rest of the app ends, as the original crrun
		// would have.
		exit = &Exit{Code: s.plan.mainExit.Code, Signal: syscall.Signal(s.plan.mainExit.Signal)}
		if s.cfg.WaitMain {
			slog.Info("the restored app's main process had exited: with --wait main, the rest of it is ended")
			_ = unix.Kill(s.initPid, unix.SIGKILL)
		}
	}
	for {
		select {
		case e := <-execRes:
			if e != nil {
				return Exit{}, e
			}
		case sig := <-sigc:
			s.onSignal(sig.(syscall.Signal))
		case <-s.killc:
			_ = unix.Kill(s.initPid, unix.SIGKILL)
			<-reaped
			s.takeTerminal()
			s.resetTerminal()
			s.waitCheckpoint() // the checkpoint that ended the app runs its hook
			if s.killCode == ExitInternal {
				return Exit{}, &Error{Code: ExitInternal, Msg: s.killMsg}
			}
			slog.Info(s.killMsg)
			return Exit{Code: s.killCode, byCrrun: true}, nil
		case e, ok := <-events:
			select {
			case <-s.killc: // we ended the app on purpose: that decides the exit
				if !ok {
					events = nil
				}
				continue
			default:
			}
			if !ok { // the init is gone
				<-reaped
				s.takeTerminal()
				if exit == nil {
					return Exit{}, &Error{Code: ExitInternal, Msg: "crrun's init died before the app exited: " + cmd.ProcessState.String()}
				}
				return *exit, nil
			}
			switch e.Ev {
			case "started":
				if s.cfg.Dir != "" {
					// The first checkpoint's page buffers, faulted in now
					// rather than at its start.
					go checkpoint.WarmBuffers()
				}
				if s.plan == nil { // at restore, the main process is the restored one
					s.mainPid = s.findMain(e.NsPid)
					s.mainMu.Lock()
					s.mainNsPid = e.NsPid
					s.mainMu.Unlock()
				}
			case "stopped":
				s.onAppStopped(syscall.Signal(e.Sig))
			case "exit":
				exit = &Exit{Code: e.Code, Signal: syscall.Signal(e.Sig)}
				s.setMainExit(&image.MainExit{Code: e.Code, Signal: e.Sig})
				s.mainDiedHere = true
				if s.restartWanted(*exit) {
					// What is left of the app goes with it: the next life
					// is the whole tree restored.
					_ = unix.Kill(s.initPid, unix.SIGKILL)
				}
			case "error":
				return Exit{}, &Error{Code: ExitInternal, Msg: e.Msg}
			}
		}
	}
}

// setMainExit records how the main process ended (once).
func (s *Supervisor) setMainExit(me *image.MainExit) {
	s.mainMu.Lock()
	defer s.mainMu.Unlock()
	if s.mainExit == nil {
		s.mainExit = me
		close(s.mainExited)
	}
}

// mainNs returns the main process's pid in the app's namespace (0 before
// the app has started).
func (s *Supervisor) mainNs() int {
	s.mainMu.Lock()
	defer s.mainMu.Unlock()
	return s.mainNsPid
}

// mainGone returns how the main process ended, waiting up to wait for
// crrun's init to report it; nil if it has not (yet).
func (s *Supervisor) mainGone(wait time.Duration) *image.MainExit {
	select {
	case <-s.mainExited:
	case <-time.After(wait):
	}
	s.mainMu.Lock()
	defer s.mainMu.Unlock()
	return s.mainExit
}

// launchError explains why the exec stage never reported: usually the init
// failed first and said why on the event socket.
func (s *Supervisor) launchError(events chan event, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	timeout := time.After(2 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return &Error{Code: ExitInternal, Msg: "launch failed: " + err.Error()}
			}
			if e.Ev == "error" {
				return &Error{Code: ExitInternal, Msg: e.Msg}
			}
		case <-timeout:
			return &Error{Code: ExitInternal, Msg: "launch failed: " + err.Error()}
		}
	}
}

func readEvents(fd int, out chan<- event) {
	defer close(out)
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	for {
		n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		var e event
		if json.Unmarshal(buf[:n], &e) == nil {
			out <- e
		}
	}
}

// recvListener reads the exec stage's message: the listener fd, an exec
// failure, or EOF.
func recvListener(fd int) (listener int, execErr *Error, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, nil, os.NewSyscallError("recvmsg", err)
		}
		if n == 0 && oobn == 0 {
			return -1, nil, errors.New("the exec stage exited without a word")
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil && len(msgs) == 1 {
				if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
					return fds[0], nil, nil
				}
			}
			return -1, nil, errors.New("bad listener message from the exec stage")
		}
		var r execResult
		if err := json.Unmarshal(buf[:n], &r); err != nil {
			return -1, nil, fmt.Errorf("bad message from the exec stage: %q", buf[:n])
		}
		return -1, &Error{Code: r.Code, Msg: r.Msg}, nil
	}
}

// findMain maps the app's main process from its pid in the namespace to its
// host pid: it is a direct child of the init at start.
func (s *Supervisor) findMain(nspid int) int {
	kids, _ := procfs.Children(s.initPid)
	for _, pid := range kids {
		if _, ns, _ := taskInfo(pid); ns == nspid {
			return pid
		}
	}
	return 0
}

func (s *Supervisor) onSignal(sig syscall.Signal) {
	if sl := s.cfg.Slurm; sl != nil {
		switch sig {
		case sl.RequeueSignal:
			go s.slurmRequeue()
			return
		case unix.SIGTERM:
			go s.slurmTerm()
			return
		}
	}
	switch sig {
	case unix.SIGUSR1:
		// The checkpoint trigger; it runs beside the loop (which must keep
		// reaping and forwarding), serialized with other requests. The
		// SIGUSR1s that arrive while one is waiting to start coalesce into
		// it: a burst during a checkpoint makes one more, not one each.
		if !s.usr1Queued.CompareAndSwap(false, true) {
			slog.Debug("SIGUSR1: a checkpoint is already queued")
			return
		}
		go func() {
			s.usr1Mu.Lock()
			defer s.usr1Mu.Unlock()
			s.usr1Queued.Store(false) // from now on a SIGUSR1 asks for the next one
			_, _ = s.Checkpoint(image.TriggerSignal, "SIGUSR1", false)
		}()
		return
	case unix.SIGCONT:
		s.giveTerminal()
	}
	s.noteForwarded(sig)
	_ = unix.Kill(s.initPid, sig)
}

// giveTerminal puts the app's process group in the terminal's foreground, if
// crrun owns the terminal (it does not after `bg`).
func (s *Supervisor) giveTerminal() {
	if !s.fgTTY || s.mainPid == 0 {
		return
	}
	if pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && pg == unix.Getpgrp() {
		_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, s.mainPid)
	}
}

// giveTerminalTo gives crrun's terminal, if crrun has its foreground, to
// the restored app: to process group fg (in the app's namespace: the one
// that had it at the checkpoint), or to the main process's when fg is 0.
func (s *Supervisor) giveTerminalTo(fg int, procs []*image.Process, res *restore.TreeResult) error {
	if fg == 0 || !s.fgTTY {
		s.giveTerminal()
		return nil
	}
	host := map[int]int{}
	for _, r := range res.Procs {
		host[r.PID] = r.Pid
	}
	pg := 0
	for _, p := range procs {
		if h, ok := host[p.PID]; ok && p.PGID == fg && p.Zombie == nil {
			if st, err := procfs.Stat(h); err == nil {
				pg = st.Pgrp
				break
			}
		}
	}
	if pg == 0 {
		return fmt.Errorf("restore: the process group %d that had the terminal's foreground has no live process", fg)
	}
	if cur, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err != nil || cur != unix.Getpgrp() {
		return nil // crrun runs in the background: the terminal is not its to give
	}
	if err := unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, pg); err != nil {
		return fmt.Errorf("restore: give the terminal's foreground to process group %d: %w", fg, err)
	}
	return nil
}

// terminalForeground is the process group that has the foreground of
// crrun's terminal, when crrun gave it to the app (0 otherwise).
func (s *Supervisor) terminalForeground() int {
	if !s.fgTTY {
		return 0
	}
	pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil || pg == unix.Getpgrp() {
		return 0
	}
	return pg
}

// takeTerminal takes the foreground back for crrun's own process group.
func (s *Supervisor) takeTerminal() {
	if !s.fgTTY {
		return
	}
	if pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && pg != unix.Getpgrp() {
		_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, unix.Getpgrp())
	}
}

// onAppStopped mirrors a job-control stop (Ctrl-Z) of the app on crrun, so the
// shell that runs crrun sees its job stop and can fg/bg it. On SIGCONT crrun
// gives the terminal back to the app and continues it.
func (s *Supervisor) onAppStopped(sig syscall.Signal) {
	if !s.fgTTY {
		return
	}
	s.takeTerminal()
	stop := sig
	if stop == unix.SIGSTOP || stop == unix.SIGTTIN || stop == unix.SIGTTOU {
		stop = unix.SIGTSTP
	}
	signal.Reset(stop) // Go's bookkeeping; raiseDefault does the real reset
	runtime.LockOSThread()
	raiseDefault(stop) // the whole of crrun stops here until the shell continues it
	runtime.UnlockOSThread()
	signal.Notify(s.sigc, stop)
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// early holds the signals caught since crrun started: the Go runtime drops
// SIGUSR1/SIGUSR2 & co. that arrive before signal.Notify, and a restore
// reads and verifies the image before it launches anything.
var early struct {
	once    sync.Once
	c       chan os.Signal
	sigs    []os.Signal // what c catches
	ignored []int
}

// CatchSignals starts catching the signals crrun forwards or acts on; call it
// first thing. Signals ignored when crrun started (nohup) are left ignored,
// and stay ignored for the app: crrun looks before it installs its handlers.
func CatchSignals() {
	early.once.Do(func() {
		for n := 1; n < 32; n++ {
			if signal.Ignored(syscall.Signal(n)) {
				early.ignored = append(early.ignored, n)
			}
		}
		early.c = make(chan os.Signal, 64)
		var fwd []os.Signal
		for _, sig := range append(forwardable(), unix.SIGUSR1) {
			if !signal.Ignored(sig) {
				fwd = append(fwd, sig)
			}
		}
		early.sigs = fwd
		signal.Notify(early.c, fwd...)
	})
}
