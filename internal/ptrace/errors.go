package ptrace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrVanished matches every error saying that a thread is gone: ESRCH from
	// a ptrace request, an exit or death observed by wait4, ECHILD (the tid is
	// no longer our tracee) and a thread-group leader that became a zombie.
	ErrVanished = errors.New("thread vanished")
	// ErrNotTraced: the thread was never seized by this Tracer, or was detached.
	ErrNotTraced = errors.New("thread is not traced by this tracer")
	// ErrAlreadyTraced: Seize of a thread this Tracer already traces (the
	// kernel would answer EPERM, which is ambiguous).
	ErrAlreadyTraced = errors.New("thread is already traced by this tracer")
	// ErrNotStopped: the request needs the thread in a ptrace-stop. The kernel
	// itself would answer ESRCH (ptrace_check_attach), which would read as
	// "vanished", so the state is checked first.
	ErrNotStopped = errors.New("thread is not in a ptrace-stop")
	// ErrNotAtBoundary: injection needs the thread stopped at the user-mode
	// boundary (interrupt or group-stop). A ptrace-event-stop sits inside a
	// syscall whose return value would overwrite rax; call Interrupt first.
	ErrNotAtBoundary = errors.New("thread is not stopped at the user-mode boundary (interrupt or group-stop); call Interrupt first")
	// ErrClosed: the Tracer was closed.
	ErrClosed = errors.New("tracer is closed")
	// ErrNoSyscallInsn: no syscall instruction (0f 05) where one was expected.
	ErrNoSyscallInsn = errors.New("no syscall instruction (0f 05)")
	// errLeaderZombie: a thread-group leader exited while other threads live on.
	// The kernel does not report such a zombie to wait4 until the whole group
	// is dead, so it is detected through /proc instead.
	errLeaderZombie = errors.New("thread-group leader exited (zombie until the other threads exit)")
)

// Error is a failed operation on one thread: the thread, the operation as the
// kernel names it ("PTRACE_GETREGSET NT_X86_XSTATE", "wait4") and the cause,
// usually a unix.Errno. errors.Is(err, ErrVanished) tells a vanished thread.
type Error struct {
	Tid int
	Op  string
	Err error
}

func (e *Error) Error() string {
	var ee *ExitError
	switch {
	case errors.Is(e.Err, unix.ESRCH):
		return fmt.Sprintf("thread %d vanished (%s: %v)", e.Tid, e.Op, e.Err)
	case errors.As(e.Err, &ee), errors.Is(e.Err, errLeaderZombie):
		return fmt.Sprintf("thread %d %v (%s)", e.Tid, e.Err, e.Op)
	}
	return fmt.Sprintf("%s on thread %d: %v", e.Op, e.Tid, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrVanished) true for every way a thread can be gone.
func (e *Error) Is(target error) bool {
	if target != ErrVanished {
		return false
	}
	var ee *ExitError
	return errors.Is(e.Err, unix.ESRCH) || errors.Is(e.Err, unix.ECHILD) ||
		errors.Is(e.Err, errLeaderZombie) || errors.As(e.Err, &ee)
}

// ExitError reports that a tracee exited or was killed; wait4 consumed its
// status, which is kept here.
type ExitError struct {
	Status unix.WaitStatus
}

func (e *ExitError) Error() string {
	if e.Status.Signaled() {
		s := fmt.Sprintf("was killed by signal %d (%v)", int(e.Status.Signal()), e.Status.Signal())
		if e.Status.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("exited with status %d", e.Status.ExitStatus())
}

// SyscallError is an injected syscall that ran and returned an error
// (-4095 <= rax <= -1). Unwrap gives the errno.
type SyscallError struct {
	Tid   int
	Nr    int
	Errno unix.Errno
}

func (e *SyscallError) Error() string {
	return fmt.Sprintf("injected syscall %d in thread %d: %v", e.Nr, e.Tid, e.Errno)
}

func (e *SyscallError) Unwrap() error { return e.Errno }

// ignoringEINTR is the one place where EINTR is retried. The Go runtime sends
// signals to its own threads (SIGURG for preemption); its handlers use
// SA_RESTART, but not every call is restartable (see signal(7)).
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// errnoErr turns a raw errno into an error, nil for 0.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func opErr(tid int, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Tid: tid, Op: op, Err: err}
}
