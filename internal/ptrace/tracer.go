package ptrace

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options are PTRACE_O_* options for Seize and SetOptions. Auto-attached
// tracees (children reported by TraceClone, TraceFork, TraceVfork) inherit the
// options of their parent tracee (ptrace(2)).
type Options uint

const (
	TraceClone     Options = unix.PTRACE_O_TRACECLONE
	TraceFork      Options = unix.PTRACE_O_TRACEFORK
	TraceVfork     Options = unix.PTRACE_O_TRACEVFORK
	TraceVforkDone Options = unix.PTRACE_O_TRACEVFORKDONE
	TraceExec      Options = unix.PTRACE_O_TRACEEXEC
	TraceExit      Options = unix.PTRACE_O_TRACEEXIT
	// ExitKill: the kernel sends SIGKILL to the tracee when the tracer thread
	// exits (Close, or crrun dying).
	ExitKill Options = unix.PTRACE_O_EXITKILL
)

// optSysGood is always added: syscall-stops report SIGTRAP|0x80 so they cannot
// be mistaken for a real SIGTRAP. Only syscall injection makes syscall-stops
// (PTRACE_SYSCALL); nothing else changes.
const optSysGood = unix.PTRACE_O_TRACESYSGOOD

// StopKind classifies what a wait4 status says about a tracee (ptrace(2),
// "Stopped states").
type StopKind int

const (
	// Running: not stopped, as far as the Tracer knows.
	Running StopKind = iota
	// StopInterrupt: PTRACE_EVENT_STOP with SIGTRAP: the stop PTRACE_INTERRUPT
	// asks for, and the first stop of an auto-attached tracee. At the
	// user-mode boundary.
	StopInterrupt
	// StopGroup: PTRACE_EVENT_STOP with a stop signal: group-stop (job control).
	// At the user-mode boundary.
	StopGroup
	// StopSignal: signal-delivery-stop; Stop.Signal is being delivered.
	StopSignal
	// StopEvent: PTRACE_EVENT_CLONE/FORK/VFORK/VFORK_DONE/EXEC/EXIT/SECCOMP,
	// inside a syscall (or inside exit).
	StopEvent
	// StopSyscall: syscall-entry or syscall-exit-stop (only during injection).
	StopSyscall
	// Exited: the tracee exited or was killed; it is no longer traced.
	Exited
)

func (k StopKind) String() string {
	switch k {
	case Running:
		return "running"
	case StopInterrupt:
		return "interrupt-stop"
	case StopGroup:
		return "group-stop"
	case StopSignal:
		return "signal-delivery-stop"
	case StopEvent:
		return "event-stop"
	case StopSyscall:
		return "syscall-stop"
	case Exited:
		return "exited"
	}
	return fmt.Sprintf("StopKind(%d)", int(k))
}

// Stop is one state change reported by wait4.
type Stop struct {
	Kind   StopKind
	Signal unix.Signal     // stop signal, signal being delivered, or the fatal signal
	Event  int             // PTRACE_EVENT_* for StopEvent
	Msg    uint64          // PTRACE_GETEVENTMSG for StopEvent: new tid, exit status, former tid
	Status unix.WaitStatus // the raw status
}

func (s Stop) String() string {
	switch s.Kind {
	case StopEvent:
		return fmt.Sprintf("event-stop %s (msg %d)", eventName(s.Event), s.Msg)
	case StopSignal, StopGroup:
		return fmt.Sprintf("%v %v", s.Kind, s.Signal)
	case Exited:
		return (&ExitError{Status: s.Status}).Error()
	}
	return s.Kind.String()
}

func eventName(ev int) string {
	switch ev {
	case unix.PTRACE_EVENT_CLONE:
		return "PTRACE_EVENT_CLONE"
	case unix.PTRACE_EVENT_FORK:
		return "PTRACE_EVENT_FORK"
	case unix.PTRACE_EVENT_VFORK:
		return "PTRACE_EVENT_VFORK"
	case unix.PTRACE_EVENT_VFORK_DONE:
		return "PTRACE_EVENT_VFORK_DONE"
	case unix.PTRACE_EVENT_EXEC:
		return "PTRACE_EVENT_EXEC"
	case unix.PTRACE_EVENT_EXIT:
		return "PTRACE_EVENT_EXIT"
	case unix.PTRACE_EVENT_SECCOMP:
		return "PTRACE_EVENT_SECCOMP"
	case unix.PTRACE_EVENT_STOP:
		return "PTRACE_EVENT_STOP"
	}
	return fmt.Sprintf("PTRACE_EVENT_%d", ev)
}

// Stopped is the result of Interrupt: the stop the thread now rests in and
// what happened on the way there.
type Stopped struct {
	Stop
	// Requeued: signals the thread had already dequeued (signal-delivery-stops
	// met on the way). Each was put back into the pending queue it came from,
	// with its siginfo unchanged, so it is delivered after Detach and is
	// visible to PeekSiginfo meanwhile. The thread's signal mask is unchanged.
	Requeued []Siginfo
	// Delivered: SIGSTOP and SIGCONT met on the way; they cannot be requeued
	// (SIGSTOP cannot be blocked, requeuing SIGCONT would replay its job
	// control side effects), so they took effect: SIGSTOP leaves the thread in
	// group-stop, SIGCONT ran its handler setup, if any.
	Delivered []Siginfo
	// Events: ptrace-event-stops passed through (clone, fork, exec, exit…).
	Events []Stop
	// Attached: tids auto-attached meanwhile (TraceClone/TraceFork/TraceVfork):
	// new threads of this process, or new processes. They are tracees of this
	// Tracer, running towards their first stop; Interrupt collects it.
	Attached []int
}

// tracee is the Tracer's view of one traced thread. Owned by the tracer thread.
type tracee struct {
	tid       int
	tgid      int // 0 until known
	stopped   bool
	stop      Stop    // valid while stopped
	kicked    bool    // PTRACE_INTERRUPT sent and not yet consumed by a stop
	savedMask *Sigset // signal mask to put back at the next boundary stop
	opts      Options // its ptrace options (with optSysGood), as set or inherited
}

// Tracer owns one OS thread through which every ptrace and wait call runs.
// ptrace ties a tracee to the tracer *thread* (task), not the process: requests
// from any other thread fail with ESRCH, and wait4 from another thread of the
// process could steal its stops. The goroutine is locked to its thread with
// runtime.LockOSThread and never unlocked, so the Go runtime never gives the
// thread to other goroutines and destroys it when the Tracer closes; the
// kernel then detaches every remaining tracee (or kills it with ExitKill).
//
// Nothing else in the process may call wait4/waitid for "any child" (-1,
// P_ALL) with __WALL: the kernel lets every thread of the tracer's process see
// the tracer thread's ptrace stops (do_wait walks the whole thread group).
//
// All methods are safe for concurrent use; they queue on the tracer thread.
// Called from inside Do, they run inline.
type Tracer struct {
	reqs      chan func()
	quit      chan struct{}
	done      chan struct{}
	tid       int // OS thread id of the tracer thread
	closeOnce sync.Once

	// Owned by the tracer thread.
	tracees map[int]*tracee
	insn    map[int]uintptr // tgid → address of a syscall instruction
	xbuf    []byte          // NT_X86_XSTATE buffer, reused
}

// New starts a Tracer and its thread.
func New() *Tracer {
	t := alloc()
	ready := make(chan int)
	go t.serve(ready)
	t.tid = <-ready
	return t
}

func alloc() *Tracer {
	return &Tracer{
		reqs:    make(chan func()),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		tracees: make(map[int]*tracee),
		insn:    make(map[int]uintptr),
	}
}

// serve locks the goroutine to its OS thread for good and runs the loop.
//
// If it lands on the main thread it hands over to another goroutine: when a
// goroutine exits while locked to the main thread, the Go runtime cannot end
// that thread and wedges it instead (runtime.mexit), which would keep every
// tracee attached to a thread that never runs again. While this goroutine
// holds the main thread, the new one cannot be scheduled there.
func (t *Tracer) serve(ready chan<- int) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if tid == unix.Getpid() {
		inner := make(chan int)
		go t.serve(inner)
		ready <- <-inner
		runtime.UnlockOSThread()
		return
	}
	ready <- tid
	defer close(t.done)
	for {
		select {
		case f := <-t.reqs:
			f()
		case <-t.quit:
			return // still locked: the runtime terminates this thread
		}
	}
}

type result struct {
	err   error
	panic any
	stack []byte
}

// do runs f on the tracer thread and returns its error. A panic in f is
// re-raised in the caller's goroutine.
func (t *Tracer) do(f func() error) error {
	if unix.Gettid() == t.tid {
		return f() // already on the tracer thread (inside Do)
	}
	res := make(chan result, 1)
	job := func() {
		defer func() {
			if r := recover(); r != nil {
				res <- result{panic: r, stack: debug.Stack()}
			}
		}()
		res <- result{err: f()}
	}
	select {
	case t.reqs <- job:
	case <-t.done:
		return ErrClosed
	}
	r := <-res
	if r.panic != nil {
		panic(fmt.Sprintf("ptrace: panic on the tracer thread: %v\n%s", r.panic, r.stack))
	}
	return r.err
}

// Do runs f on the tracer thread. Methods of t called from f run inline. Use it
// to batch requests, or to start a process that must be a child of the tracer
// thread (exec.Cmd with SysProcAttr.Ptrace: PTRACE_TRACEME attaches to the
// thread that forked).
func (t *Tracer) Do(f func() error) error { return t.do(f) }

// ThreadID returns the OS thread id of the tracer thread.
func (t *Tracer) ThreadID() int { return t.tid }

// Close ends the tracer thread and waits until the kernel has let it go. Every
// tracee still attached is detached by the kernel (killed if seized with
// ExitKill): detach explicitly first. Methods called afterwards return
// ErrClosed. Close must not be called from inside Do.
func (t *Tracer) Close() error {
	if unix.Gettid() == t.tid {
		return errors.New("ptrace: Close called on the tracer thread")
	}
	t.closeOnce.Do(func() { close(t.quit) })
	<-t.done
	// The goroutine has returned; the runtime now exits the thread. Wait for
	// it (bounded) so tracees are detached when Close returns.
	task := fmt.Sprintf("/proc/self/task/%d", t.tid)
	for i := 0; i < 1000; i++ {
		if _, err := os.Stat(task); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// Tracees returns the tids this Tracer traces, sorted.
func (t *Tracer) Tracees() []int {
	var tids []int
	_ = t.do(func() error {
		for tid := range t.tracees {
			tids = append(tids, tid)
		}
		return nil
	})
	slices.Sort(tids)
	return tids
}

// --- raw requests without pointers -------------------------------------------

func ptraceNoPtr(req int, tid int, addr, data uintptr) error {
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
		return errnoErr(e)
	})
}

// --- tracee bookkeeping (tracer thread only) -----------------------------------

func (t *Tracer) get(tid int, op string) (*tracee, error) {
	tr := t.tracees[tid]
	if tr == nil {
		return nil, &Error{Tid: tid, Op: op, Err: ErrNotTraced}
	}
	return tr, nil
}

func (t *Tracer) getStopped(tid int, op string) (*tracee, error) {
	tr, err := t.get(tid, op)
	if err != nil {
		return nil, err
	}
	if !tr.stopped {
		return nil, &Error{Tid: tid, Op: op, Err: ErrNotStopped}
	}
	return tr, nil
}

func (t *Tracer) tgidOf(tr *tracee) (int, error) {
	if tr.tgid == 0 {
		tgid, err := readTgid(tr.tid)
		if err != nil {
			return 0, &Error{Tid: tr.tid, Op: "read /proc/TID/status", Err: unix.ESRCH}
		}
		tr.tgid = tgid
	}
	return tr.tgid, nil
}

// forget drops a tracee that is gone or detached.
func (t *Tracer) forget(tr *tracee) {
	delete(t.tracees, tr.tid)
	tr.stopped = false
}

// --- Seize -------------------------------------------------------------------

// Seize attaches to thread tid with PTRACE_SEIZE (the thread keeps running)
// and the given options (PTRACE_O_TRACESYSGOOD is always added). Each thread of
// a process is seized on its own; FreezeProcess does all of them.
func (t *Tracer) Seize(tid int, opts Options) error {
	return t.do(func() error { return t.seize(tid, opts) })
}

func (t *Tracer) seize(tid int, opts Options) error {
	const op = "PTRACE_SEIZE"
	if t.tracees[tid] != nil {
		return &Error{Tid: tid, Op: op, Err: ErrAlreadyTraced}
	}
	if err := ptraceNoPtr(unix.PTRACE_SEIZE, tid, 0, uintptr(opts|optSysGood)); err != nil {
		return &Error{Tid: tid, Op: op, Err: err}
	}
	tr := &tracee{tid: tid, opts: opts | optSysGood}
	tr.tgid, _ = readTgid(tid) // read later if the thread is in a hurry
	t.tracees[tid] = tr
	return nil
}

// SetOptions replaces the options of a stopped tracee (PTRACE_SETOPTIONS).
func (t *Tracer) SetOptions(tid int, opts Options) error {
	const op = "PTRACE_SETOPTIONS"
	return t.do(func() error {
		tr, err := t.getStopped(tid, op)
		if err != nil {
			return err
		}
		if err := ptraceNoPtr(unix.PTRACE_SETOPTIONS, tid, 0, uintptr(opts|optSysGood)); err != nil {
			return &Error{Tid: tid, Op: op, Err: err}
		}
		tr.opts = opts | optSysGood
		return nil
	})
}

// --- waiting -----------------------------------------------------------------

// wait4 collects the next state change of tr: blocking, or not (ok reports
// whether there was one). A thread-group leader is polled: when it exits while
// other threads live on, the kernel reports nothing to wait4 until the whole
// group is dead (kernel/exit.c, wait_consider_task: "we don't reap group
// leaders with subthreads"), so a blocking wait could hang; its zombie state
// is seen in /proc instead.
func (t *Tracer) wait4(tr *tracee, block bool) (st Stop, ok bool, err error) {
	var ws unix.WaitStatus
	try := func(flags int) (bool, error) {
		var wpid int
		err := ignoringEINTR(func() error {
			var err error
			wpid, err = unix.Wait4(tr.tid, &ws, flags, nil)
			return err
		})
		if err != nil {
			return false, &Error{Tid: tr.tid, Op: "wait4", Err: err}
		}
		return wpid == tr.tid, nil
	}
	leader := true
	if tgid, err := t.tgidOf(tr); err == nil {
		leader = tgid == tr.tid
	}
	switch {
	case !block:
		ok, err = try(unix.WALL | unix.WNOHANG)
	case !leader:
		ok, err = try(unix.WALL)
	default:
		// A stopped leader answers within microseconds (the tracee runs on
		// another CPU): spin with sched_yield for a while before sleeping,
		// or every injected syscall costs a timer tick (measured: 700 ms
		// to restore 185 mappings with sleeps alone).
		spinUntil := time.Now().Add(2 * time.Millisecond)
		for {
			if ok, err = try(unix.WALL | unix.WNOHANG); ok || err != nil || time.Now().After(spinUntil) {
				break
			}
			_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
		if ok || err != nil {
			break
		}
		delay := 20 * time.Microsecond
		for {
			if ok, err = try(unix.WALL | unix.WNOHANG); ok || err != nil {
				break
			}
			if s, serr := threadState(tr.tid); serr != nil || s == 'Z' || s == 'X' {
				// Gone or a zombie. One last look in case it died just now.
				if ok, err = try(unix.WALL | unix.WNOHANG); ok || err != nil {
					break
				}
				t.forget(tr)
				cause := errLeaderZombie
				if serr != nil {
					cause = unix.ESRCH
				}
				return Stop{}, false, &Error{Tid: tr.tid, Op: "wait4", Err: cause}
			}
			time.Sleep(delay)
			delay = min(2*delay, 10*time.Millisecond)
		}
	}
	if err != nil {
		if errors.Is(err, unix.ECHILD) {
			t.forget(tr)
		}
		return Stop{}, false, err
	}
	if !ok {
		return Stop{}, false, nil
	}
	return t.record(tr, ws), true, nil
}

// isStopSignal reports the signals whose default action is to stop
// (sig_kernel_stop).
func isStopSignal(sig unix.Signal) bool {
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return true
	}
	return false
}

// record decodes a wait4 status (ptrace(2)) and updates the tracee.
func (t *Tracer) record(tr *tracee, ws unix.WaitStatus) Stop {
	st := Stop{Status: ws}
	switch {
	case ws.Exited() || ws.Signaled():
		st.Kind = Exited
		if ws.Signaled() {
			st.Signal = ws.Signal()
		}
		t.forget(tr)
		return st
	case !ws.Stopped():
		st.Kind = Running
		return st
	}
	sig := unix.Signal((uint32(ws) >> 8) & 0xff)
	event := int((uint32(ws) >> 16) & 0xff)
	// Any ptrace-stop clears a pending PTRACE_INTERRUPT trap
	// (kernel/signal.c, ptrace_stop: "any trap clears pending STOP trap").
	tr.kicked = false
	tr.stopped = true
	switch {
	case event == unix.PTRACE_EVENT_STOP:
		st.Signal = sig
		st.Kind = StopInterrupt
		if isStopSignal(sig) {
			st.Kind = StopGroup
		}
	case event != 0:
		st.Kind, st.Event, st.Signal = StopEvent, event, sig
		st.Msg, _ = ptraceGetEventMsg(tr.tid)
		switch event {
		case unix.PTRACE_EVENT_CLONE, unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK:
			// The child is auto-attached: already our tracee, heading for its
			// first stop (PTRACE_EVENT_STOP, since the parent was seized).
			if child := int(st.Msg); child > 0 && t.tracees[child] == nil {
				nt := &tracee{tid: child, opts: tr.opts} // the kernel copies the parent's
				if event != unix.PTRACE_EVENT_CLONE {
					nt.tgid = child
				}
				t.tracees[child] = nt
			}
		case unix.PTRACE_EVENT_EXEC:
			delete(t.insn, tr.tgid) // the old vdso is gone
		}
	case sig == unix.SIGTRAP|0x80:
		st.Kind, st.Signal = StopSyscall, unix.SIGTRAP
	default:
		st.Kind, st.Signal = StopSignal, sig
	}
	tr.stop = st
	return st
}

// --- Interrupt ---------------------------------------------------------------

// Interrupt stops a tracee at the user-mode boundary (PTRACE_INTERRUPT, then
// wait4 on that tid with __WALL) and returns the stop: StopInterrupt, or
// StopGroup if job control stopped it. A tracee already stopped there is
// returned as is. Stops met on the way are handled so that nothing is lost:
//
//   - signal-delivery-stop: the signal is put back into its pending queue
//     (Stopped.Requeued), or for SIGSTOP/SIGCONT delivered (Stopped.Delivered);
//   - ptrace-event-stops (clone, fork, exec, exit…) are passed through
//     (Stopped.Events), new tracees reported in Stopped.Attached;
//   - PTRACE_EVENT_VFORK ends the call with the thread still in that stop:
//     resumed, it would wait (uninterruptibly) for its vfork child to exec or
//     exit, and the child is stopped by us.
//
// A thread that exits meanwhile gives an error matching ErrVanished (an
// *ExitError inside carries the status wait4 consumed). A thread in vfork(2)
// or in uninterruptible sleep stops only once that ends.
func (t *Tracer) Interrupt(tid int) (*Stopped, error) {
	res := &Stopped{}
	err := t.do(func() error {
		tr, err := t.get(tid, "PTRACE_INTERRUPT")
		if err != nil {
			return err
		}
		return t.settle(tr, res)
	})
	return res, err
}

// kick makes a running tracee head for a stop: it collects a stop that is
// already reported (the first stop of an auto-attached tracee, a signal it met
// on its own), or sends PTRACE_INTERRUPT. Sending PTRACE_INTERRUPT to a
// tracee that is already stopped would leave a trap pending that fires after
// the next resume, so it is only sent when nothing is reported yet.
func (t *Tracer) kick(tr *tracee) error {
	if tr.stopped || tr.kicked {
		return nil
	}
	st, ok, err := t.wait4(tr, false)
	if err != nil {
		return err
	}
	if ok {
		if st.Kind == Exited {
			return &Error{Tid: tr.tid, Op: "wait4", Err: &ExitError{Status: st.Status}}
		}
		return nil
	}
	// ESRCH: the thread is dying; the wait that follows collects its exit.
	if err := ptraceNoPtr(unix.PTRACE_INTERRUPT, tr.tid, 0, 0); err != nil && err != unix.ESRCH {
		return &Error{Tid: tr.tid, Op: "PTRACE_INTERRUPT", Err: err}
	}
	tr.kicked = true
	return nil
}

// settle brings tr to a boundary stop (see Interrupt).
func (t *Tracer) settle(tr *tracee, res *Stopped) error {
	for {
		if !tr.stopped {
			if err := t.kick(tr); err != nil {
				return err
			}
		}
		if !tr.stopped {
			st, _, err := t.wait4(tr, true)
			if err != nil {
				return err
			}
			if st.Kind == Exited {
				return &Error{Tid: tr.tid, Op: "wait4", Err: &ExitError{Status: st.Status}}
			}
			if !tr.stopped {
				continue
			}
		}
		switch st := tr.stop; {
		case st.Kind == StopInterrupt, st.Kind == StopGroup:
			if tr.savedMask != nil {
				m := *tr.savedMask
				if err := ptraceSigmask(unix.PTRACE_SETSIGMASK, tr.tid, &m); err != nil {
					return &Error{Tid: tr.tid, Op: "PTRACE_SETSIGMASK", Err: err}
				}
				tr.savedMask = nil
			}
			res.Stop = st
			return nil
		case st.Kind == StopEvent && st.Event == unix.PTRACE_EVENT_VFORK:
			res.Attached = append(res.Attached, int(st.Msg))
			res.Stop = st
			return nil
		}
		if err := t.passStop(tr, res); err != nil {
			return err
		}
	}
}

// passStop resumes a tracee from a stop that is not at the boundary, with a
// PTRACE_INTERRUPT pending so it stops again at the boundary. The trap is set
// while the thread is stopped, so the stop it is in has already cleared the
// previous one and the new one survives until it is back in get_signal().
//
// A signal being delivered is requeued: it is added to the thread's blocked
// mask, and the thread is resumed with it. ptrace_signal() (kernel/signal.c)
// then finds it blocked and requeues it with its siginfo ("If the (new) signal
// is now blocked, requeue it") into the queue it was dequeued from (since
// Linux 5.13 it passes the pid_type of the dequeue); the pending trap comes
// before the next dequeue in get_signal(), and the original mask is restored at
// that stop (settle). Verified by the tests: a SIGUSR1 sent with
// rt_sigqueueinfo (SI_QUEUE, value 99) to the process is found again in the
// shared queue with the same siginfo, and reaches the handler after Detach.
func (t *Tracer) passStop(tr *tracee, res *Stopped) error {
	st := tr.stop
	var sig unix.Signal
	switch st.Kind {
	case StopSignal:
		var si Siginfo
		if err := ptraceSiginfo(unix.PTRACE_GETSIGINFO, tr.tid, &si); err != nil {
			return &Error{Tid: tr.tid, Op: "PTRACE_GETSIGINFO", Err: err}
		}
		sig = st.Signal
		if sig == unix.SIGSTOP || sig == unix.SIGCONT {
			res.Delivered = append(res.Delivered, si)
			break
		}
		var mask Sigset
		if err := ptraceSigmask(unix.PTRACE_GETSIGMASK, tr.tid, &mask); err != nil {
			return &Error{Tid: tr.tid, Op: "PTRACE_GETSIGMASK", Err: err}
		}
		if tr.savedMask == nil {
			m := mask
			tr.savedMask = &m
		}
		blocked := mask.With(sig)
		if err := ptraceSigmask(unix.PTRACE_SETSIGMASK, tr.tid, &blocked); err != nil {
			return &Error{Tid: tr.tid, Op: "PTRACE_SETSIGMASK", Err: err}
		}
		res.Requeued = append(res.Requeued, si)
	case StopEvent:
		res.Events = append(res.Events, st)
		switch st.Event {
		case unix.PTRACE_EVENT_CLONE, unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK:
			res.Attached = append(res.Attached, int(st.Msg))
		}
	}
	if err := ptraceNoPtr(unix.PTRACE_INTERRUPT, tr.tid, 0, 0); err != nil {
		return &Error{Tid: tr.tid, Op: "PTRACE_INTERRUPT", Err: err}
	}
	if err := ptraceNoPtr(unix.PTRACE_CONT, tr.tid, 0, uintptr(sig)); err != nil {
		return &Error{Tid: tr.tid, Op: "PTRACE_CONT", Err: err}
	}
	tr.stopped, tr.kicked = false, true
	return nil
}

// --- Cont, Wait, Detach ------------------------------------------------------

// Cont resumes a stopped tracee with PTRACE_CONT. sig is delivered only from a
// signal-delivery-stop, where 0 discards the signal being delivered (kernel
// semantics); in other stops the kernel ignores it.
func (t *Tracer) Cont(tid int, sig unix.Signal) error {
	const op = "PTRACE_CONT"
	return t.do(func() error {
		tr, err := t.getStopped(tid, op)
		if err != nil {
			return err
		}
		if err := ptraceNoPtr(unix.PTRACE_CONT, tid, 0, uintptr(sig)); err != nil {
			return &Error{Tid: tid, Op: op, Err: err}
		}
		tr.stopped = false
		return nil
	})
}

// Wait waits for the next stop of a running tracee, or returns the current one
// if it is stopped. An exit is returned as a Stop of kind Exited (the thread is
// then forgotten). A PTRACE_EVENT_STOP may follow a resume when an Interrupt
// raced with a stop the thread reported on its own.
func (t *Tracer) Wait(tid int) (Stop, error) {
	var st Stop
	err := t.do(func() error {
		tr, err := t.get(tid, "wait4")
		if err != nil {
			return err
		}
		if tr.stopped {
			st = tr.stop
			return nil
		}
		st, _, err = t.wait4(tr, true)
		return err
	})
	return st, err
}

// Detach lets a tracee go (PTRACE_DETACH). A running tracee is interrupted
// first (the kernel only detaches stopped tracees). Nothing pending is lost:
// signals requeued by Interrupt are delivered by the kernel as the thread
// resumes, and a thread left in a signal-delivery-stop (through Wait) gets that
// signal delivered. A non-zero sig is sent with tgkill(2) before detaching
// (the kernel honours PTRACE_DETACH's signal only in a signal-delivery-stop);
// the thread receives it with si_code SI_TKILL. A thread in group-stop stays
// stopped (job control) until SIGCONT.
func (t *Tracer) Detach(tid int, sig unix.Signal) error {
	return t.do(func() error { return t.detach(tid, sig) })
}

func (t *Tracer) detach(tid int, sig unix.Signal) error {
	const op = "PTRACE_DETACH"
	tr, err := t.get(tid, op)
	if err != nil {
		return err
	}
	if !tr.stopped {
		if err := t.settle(tr, &Stopped{}); err != nil {
			t.forget(tr)
			return err
		}
	}
	var data unix.Signal
	if tr.stop.Kind == StopSignal {
		data = tr.stop.Signal
	}
	if sig != 0 {
		tgid, err := t.tgidOf(tr)
		if err != nil {
			return err
		}
		if err := unix.Tgkill(tgid, tid, sig); err != nil {
			return &Error{Tid: tid, Op: "tgkill", Err: err}
		}
	}
	err = ptraceNoPtr(unix.PTRACE_DETACH, tid, 0, uintptr(data))
	t.forget(tr)
	return opErr(tid, op, err)
}

// DetachAll detaches every tid, carrying on after failures; the error joins
// them (vanished threads included, so callers can filter with ErrVanished).
func (t *Tracer) DetachAll(tids []int) error {
	var errs []error
	if err := t.do(func() error {
		for _, tid := range tids {
			if err := t.detach(tid, 0); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// Kill ends a tracee that is a process of its own (a snapshot child a
// checkpoint cloned) with SIGKILL and waits until the kernel reports its
// exit to the tracer. A process that is not the tracer's child stays a
// zombie of its real parent, which must reap it.
func (t *Tracer) Kill(tid int) error {
	return t.do(func() error {
		tr, err := t.get(tid, "kill")
		if err != nil {
			return err
		}
		if err := unix.Kill(tid, unix.SIGKILL); err != nil {
			t.forget(tr)
			return opErr(tid, "kill", err)
		}
		tr.stopped = false
		for {
			st, _, err := t.wait4(tr, true)
			if err != nil {
				return err
			}
			if st.Kind == Exited {
				return nil
			}
		}
	})
}
