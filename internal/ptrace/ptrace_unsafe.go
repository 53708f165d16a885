package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw ptrace requests that pass a pointer to the kernel. Each converts the
// pointer to uintptr inside the argument list of unix.Syscall6 (an assembly
// function), the one form the unsafe rules keep valid; the buffers are heap
// objects referenced by the caller until the call returns.

// ptraceGetRegset is PTRACE_GETREGSET: the kernel fills buf and shrinks the
// iovec to the size of the regset, which is returned.
func ptraceGetRegset(tid int, note uintptr, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	err := ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(tid), note,
			uintptr(unsafe.Pointer(&iov)), 0, 0)
		return errnoErr(e)
	})
	return int(iov.Len), err
}

// ptraceSetRegset is PTRACE_SETREGSET with all of buf.
func ptraceSetRegset(tid int, note uintptr, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(tid), note,
			uintptr(unsafe.Pointer(&iov)), 0, 0)
		return errnoErr(e)
	})
}

// ptraceSigmask is PTRACE_GETSIGMASK / PTRACE_SETSIGMASK: addr is the size of
// the kernel sigset_t (8 on x86_64; any other size is EINVAL), data points at it.
func ptraceSigmask(req int, tid int, m *Sigset) error {
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), unsafe.Sizeof(*m),
			uintptr(unsafe.Pointer(m)), 0, 0)
		return errnoErr(e)
	})
}

// ptraceSiginfo is PTRACE_GETSIGINFO / PTRACE_SETSIGINFO.
func ptraceSiginfo(req int, tid int, si *Siginfo) error {
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), 0,
			uintptr(unsafe.Pointer(si)), 0, 0)
		return errnoErr(e)
	})
}

// peekSiginfoArgs is struct ptrace_peeksiginfo_args.
type peekSiginfoArgs struct {
	Off   uint64
	Flags uint32
	Nr    int32
}

// ptracePeekSiginfo is PTRACE_PEEKSIGINFO: copies up to len(buf) queued
// siginfos starting at position off of the thread's queue (or the shared queue
// with PTRACE_PEEKSIGINFO_SHARED) and returns how many it copied.
func ptracePeekSiginfo(tid int, off uint64, flags uint32, buf []Siginfo) (int, error) {
	args := peekSiginfoArgs{Off: off, Flags: flags, Nr: int32(len(buf))}
	var n uintptr
	err := ignoringEINTR(func() error {
		r, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKSIGINFO, uintptr(tid),
			uintptr(unsafe.Pointer(&args)), uintptr(unsafe.Pointer(&buf[0])), 0, 0)
		n = r
		return errnoErr(e)
	})
	return int(n), err
}

// ptraceGetRseq is PTRACE_GET_RSEQ_CONFIGURATION: addr is the size of the
// caller's struct, the kernel copies min(size, its own) and returns its size.
func ptraceGetRseq(tid int, c *RseqConfig) (int, error) {
	var n uintptr
	err := ignoringEINTR(func() error {
		r, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_RSEQ_CONFIGURATION, uintptr(tid),
			unsafe.Sizeof(*c), uintptr(unsafe.Pointer(c)), 0, 0)
		n = r
		return errnoErr(e)
	})
	return int(n), err
}

// ptraceGetEventMsg is PTRACE_GETEVENTMSG.
func ptraceGetEventMsg(tid int) (uint64, error) {
	var msg uint64
	err := ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETEVENTMSG, uintptr(tid), 0,
			uintptr(unsafe.Pointer(&msg)), 0, 0)
		return errnoErr(e)
	})
	return msg, err
}

// ptraceRegs is PTRACE_GETREGS / PTRACE_SETREGS: data points at a struct
// user_regs_struct (Regs).
func ptraceRegs(req int, tid int, r *Regs) error {
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), 0,
			uintptr(unsafe.Pointer(r)), 0, 0)
		return errnoErr(e)
	})
}

// ptraceSeccompFilter copies the index'th filter into buf (nil: just its
// length) and returns its length in instructions.
func ptraceSeccompFilter(tid, index int, buf []byte) (int, error) {
	var p uintptr
	if len(buf) > 0 {
		p = uintptr(unsafe.Pointer(&buf[0]))
	}
	r, _, e := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetFilter, uintptr(tid), uintptr(index), p, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// ptraceSeccompFlags reads the flags of the index'th filter
// (struct seccomp_metadata {filter_off, flags}).
func ptraceSeccompFlags(tid, index int) (uint64, error) {
	md := [2]uint64{uint64(index), 0}
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetMetadata, uintptr(tid), unsafe.Sizeof(md), uintptr(unsafe.Pointer(&md[0])), 0, 0); e != 0 {
		return 0, e
	}
	return md[1], nil
}
