package seccomp

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs bpf on the calling thread with SECCOMP_FILTER_FLAG_NEW_LISTENER
// and returns the listener fd (the kernel creates it close-on-exec).
//
// The caller must hold runtime.LockOSThread and exec from this same thread:
// without TSYNC the filter and PR_SET_NO_NEW_PRIVS are per thread ("NO_NEW_PRIVS
// is specific to the calling thread"), and execve keeps the calling thread's
// filter for the new program.
func Load(bpf []byte) (int, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
	}
	prog := unix.SockFprog{Len: uint16(len(bpf) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&bpf[0]))}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(bpf)
	if errno != 0 {
		return -1, os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", errno)
	}
	return int(fd), nil
}
