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
