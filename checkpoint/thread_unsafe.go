package checkpoint

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// robustList reads a thread's robust futex list head from outside:
// get_robust_list(2) works for any task we may ptrace.
func robustList(tid int) (head, n uint64, err error) {
	if _, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(tid), uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return 0, 0, e
	}
	return head, n, nil
}

// schedGetattr reads a thread's struct sched_attr (len(b) bytes) from
// outside: sched_getattr(2) needs no permission.
func schedGetattr(tid int, b []byte) error {
	if _, _, e := unix.Syscall6(unix.SYS_SCHED_GETATTR, uintptr(tid), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0); e != 0 {
		return e
	}
	return nil
}
