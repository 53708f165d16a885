package restore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// schedGetattr reads a thread's struct sched_attr (len(b) bytes) from
// outside: sched_getattr(2) needs no permission.
func schedGetattr(tid int, b []byte) error {
	if _, _, e := unix.Syscall6(unix.SYS_SCHED_GETATTR, uintptr(tid), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0); e != 0 {
		return e
	}
	return nil
}
