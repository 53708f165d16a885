package ptrace

import (
	"golang.org/x/sys/unix"
)

// Per-thread state of a stopped tracee. Every request needs the thread in a
// ptrace-stop (the kernel's ptrace_check_attach); a running one gives
// ErrNotStopped.

// xstateBufSize bounds NT_X86_XSTATE. The kernel copies
// min(iov_len, fpu_user_cfg.max_size) bytes and writes the size back into the
// iovec; 64 KiB is far above any XSAVE area (AMX tiles make it ~11 KiB).
// Measured on this machine (AMD EPYC, AVX2 + PKU, kernel 6.18): 2440 bytes,
// XSTATE_BV 0x206 (SSE, AVX, PKRU) for a thread that used ymm registers.
const xstateBufSize = 64 << 10

// GetRegs reads the general registers (PTRACE_GETREGS), fs_base and gs_base
// included.
func (t *Tracer) GetRegs(tid int) (Regs, error) {
	var r Regs
	err := t.do(func() error { return t.getRegs(tid, &r) })
	return r, err
}

func (t *Tracer) getRegs(tid int, r *Regs) error {
	const op = "PTRACE_GETREGS"
	if _, err := t.getStopped(tid, op); err != nil {
		return err
	}
	return opErr(tid, op, ptraceRegs(unix.PTRACE_GETREGS, tid, r))
}

// SetRegs writes the general registers (PTRACE_SETREGS). The kernel validates
// cs/ss and the flags it lets user space change.
func (t *Tracer) SetRegs(tid int, r Regs) error {
	return t.do(func() error { return t.setRegs(tid, &r) })
}

func (t *Tracer) setRegs(tid int, r *Regs) error {
	const op = "PTRACE_SETREGS"
	if _, err := t.getStopped(tid, op); err != nil {
		return err
	}
	return opErr(tid, op, ptraceRegs(unix.PTRACE_SETREGS, tid, r))
}

// GetXstate reads the extended state (PTRACE_GETREGSET NT_X86_XSTATE): the
// standard-format XSAVE area as long as the kernel returned it (see the
// Xstate* offsets in regs_amd64.go).
func (t *Tracer) GetXstate(tid int) ([]byte, error) {
	const op = "PTRACE_GETREGSET NT_X86_XSTATE"
	var out []byte
	err := t.do(func() error {
		if _, err := t.getStopped(tid, op); err != nil {
			return err
		}
		if t.xbuf == nil {
			t.xbuf = make([]byte, xstateBufSize)
		}
		n, err := ptraceGetRegset(tid, unix.NT_X86_XSTATE, t.xbuf)
		if err != nil {
			return &Error{Tid: tid, Op: op, Err: err}
		}
		out = append([]byte(nil), t.xbuf[:n]...)
		return nil
	})
	return out, err
}

// SetXstate writes the extended state (PTRACE_SETREGSET NT_X86_XSTATE). The
// kernel accepts only a whole buffer of exactly the size GetXstate returned
// (xstateregs_set: anything else is EFAULT) and checks the header.
func (t *Tracer) SetXstate(tid int, xstate []byte) error {
	const op = "PTRACE_SETREGSET NT_X86_XSTATE"
	return t.do(func() error {
		if _, err := t.getStopped(tid, op); err != nil {
			return err
		}
		if len(xstate) == 0 {
			return &Error{Tid: tid, Op: op, Err: unix.EINVAL}
		}
		return opErr(tid, op, ptraceSetRegset(tid, unix.NT_X86_XSTATE, xstate))
	})
}

// GetSigmask reads the thread's blocked signals (PTRACE_GETSIGMASK).
func (t *Tracer) GetSigmask(tid int) (Sigset, error) {
	var m Sigset
	err := t.do(func() error { return t.sigmask(unix.PTRACE_GETSIGMASK, "PTRACE_GETSIGMASK", tid, &m) })
	return m, err
}

// SetSigmask sets the thread's blocked signals (PTRACE_SETSIGMASK); the kernel
// silently drops SIGKILL and SIGSTOP from the set.
func (t *Tracer) SetSigmask(tid int, m Sigset) error {
	return t.do(func() error { return t.sigmask(unix.PTRACE_SETSIGMASK, "PTRACE_SETSIGMASK", tid, &m) })
}

func (t *Tracer) sigmask(req int, op string, tid int, m *Sigset) error {
	if _, err := t.getStopped(tid, op); err != nil {
		return err
	}
	return opErr(tid, op, ptraceSigmask(req, tid, m))
}

// GetRseqConfig reads the thread's rseq registration
// (PTRACE_GET_RSEQ_CONFIGURATION). AbiPointer is 0 when none is registered.
func (t *Tracer) GetRseqConfig(tid int) (RseqConfig, error) {
	const op = "PTRACE_GET_RSEQ_CONFIGURATION"
	var c RseqConfig
	err := t.do(func() error {
		if _, err := t.getStopped(tid, op); err != nil {
			return err
		}
		_, err := ptraceGetRseq(tid, &c)
		return opErr(tid, op, err)
	})
	return c, err
}

// GetSiginfo reads the siginfo of the current stop (PTRACE_GETSIGINFO). In a
// signal-delivery-stop it is the signal's; in other stops it is synthesised by
// the kernel; EINVAL in a group-stop.
func (t *Tracer) GetSiginfo(tid int) (Siginfo, error) {
	var si Siginfo
	err := t.do(func() error { return t.siginfo(unix.PTRACE_GETSIGINFO, "PTRACE_GETSIGINFO", tid, &si) })
	return si, err
}

// SetSiginfo replaces the siginfo of the current stop (PTRACE_SETSIGINFO); in
// a signal-delivery-stop, the one delivered if the thread is resumed with the
// same signal.
func (t *Tracer) SetSiginfo(tid int, si Siginfo) error {
	return t.do(func() error { return t.siginfo(unix.PTRACE_SETSIGINFO, "PTRACE_SETSIGINFO", tid, &si) })
}

func (t *Tracer) siginfo(req int, op string, tid int, si *Siginfo) error {
	if _, err := t.getStopped(tid, op); err != nil {
		return err
	}
	return opErr(tid, op, ptraceSiginfo(req, tid, si))
}

// PeekSiginfo returns the pending signals of a stopped thread, oldest first,
// without dequeuing them (PTRACE_PEEKSIGINFO): the thread's own queue, or with
// shared the process-wide queue (PTRACE_PEEKSIGINFO_SHARED) that every thread
// of the process reads. Blocked signals stay pending there; so do signals that
// Interrupt requeued.
func (t *Tracer) PeekSiginfo(tid int, shared bool) ([]Siginfo, error) {
	op := "PTRACE_PEEKSIGINFO"
	var flags uint32
	if shared {
		op, flags = "PTRACE_PEEKSIGINFO SHARED", unix.PTRACE_PEEKSIGINFO_SHARED
	}
	var out []Siginfo
	err := t.do(func() error {
		if _, err := t.getStopped(tid, op); err != nil {
			return err
		}
		buf := make([]Siginfo, 32)
		for {
			n, err := ptracePeekSiginfo(tid, uint64(len(out)), flags, buf)
			if err != nil {
				return &Error{Tid: tid, Op: op, Err: err}
			}
			if n == 0 {
				return nil
			}
			out = append(out, buf[:n]...)
		}
	})
	return out, err
}
