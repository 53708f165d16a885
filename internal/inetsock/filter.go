package inetsock

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// ErrBPFFilter: the socket's filter is an eBPF program (SO_ATTACH_BPF),
// which SO_GET_FILTER cannot give back.
var ErrBPFFilter = errors.New("an eBPF socket filter (SO_ATTACH_BPF), which SO_GET_FILTER cannot read back")

// ReadFilter reads a socket's classic filter (SO_GET_FILTER) and its lock
// (SO_LOCK_FILTER); nil when it has neither.
func ReadFilter(fd int) (*image.SockFilter, error) {
	var f image.SockFilter
	locked, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER)
	if err != nil {
		return nil, fmt.Errorf("SO_LOCK_FILTER: %w", err)
	}
	f.Locked = locked != 0
	// The length is asked first: SO_GET_FILTER's length counts
	// instructions, not bytes.
	var n uint32
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_GET_FILTER, 0, uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		if e == unix.EACCES {
			return nil, ErrBPFFilter
		}
		return nil, fmt.Errorf("SO_GET_FILTER: %w", e)
	}
	if n > 0 {
		b := make([]byte, 8*n)
		l := n
		if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_GET_FILTER, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
			return nil, fmt.Errorf("SO_GET_FILTER: %w (the filter changed?)", e)
		}
		if l != n {
			return nil, fmt.Errorf("SO_GET_FILTER: %d instructions, then %d", n, l)
		}
		f.Insns = b
	}
	if f.Insns == nil && !f.Locked {
		return nil, nil
	}
	return &f, nil
}

// SetFilter attaches a saved filter to a new socket, then locks it, and
// reads both back.
func SetFilter(fd int, f *image.SockFilter) error {
	if f == nil {
		return nil
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if len(f.Insns) > 0 {
		prog := make([]unix.SockFilter, len(f.Insns)/8)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), len(f.Insns)), f.Insns)
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
			return fmt.Errorf("SO_ATTACH_FILTER (%d instructions): %w", len(prog), err)
		}
	}
	if f.Locked {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1); err != nil {
			return fmt.Errorf("SO_LOCK_FILTER: %w", err)
		}
	}
	got, err := ReadFilter(fd)
	if err != nil {
		return err
	}
	if got == nil || string(got.Insns) != string(f.Insns) || got.Locked != f.Locked {
		return fmt.Errorf("the socket filter reads back as %+v, want %+v", got, f)
	}
	return nil
}

// FilterString renders a socket's filter for the verifier: "" if none.
func FilterString(f *image.SockFilter) string {
	if f == nil {
		return ""
	}
	s := fmt.Sprintf("%x", f.Insns)
	if f.Locked {
		s += " locked"
	}
	return s
}
