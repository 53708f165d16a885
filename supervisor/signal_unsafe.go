package supervisor

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction mirrors the x86_64 kernel's struct sigaction.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// DieBy ends crrun with the signal that killed the app, so the calling shell
// sees the same status ("Segmentation fault", 139, ...). The disposition is
// reset with a raw rt_sigaction: the Go runtime keeps its own handler for
// SIGSEGV, SIGBUS & co. even after signal.Reset, and would turn a kill(SIGSEGV)
// into a Go crash report with exit 2. No core file of crrun: the app already
// dumped its own if it was going to.
func DieBy(sig unix.Signal) {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	raiseDefault(sig)
	time.Sleep(time.Second)
	os.Exit(128 + int(sig)) // a signal whose default action does not kill (SIGCHLD, SIGCONT...)
}

// raiseDefault sends sig to this thread with its default action. The Go
// runtime keeps a handler of its own installed even after signal.Reset (for
// SIGSEGV & co., and verified for SIGTSTP: crrun did not stop), so the
// disposition is set to SIG_DFL with a raw rt_sigaction.
func raiseDefault(sig unix.Signal) {
	sa := kernelSigaction{handler: 0} // SIG_DFL
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	var set unix.Sigset_t
	set.Val[(int(sig)-1)/64] |= 1 << ((uint(sig) - 1) % 64)
	_ = unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
}
