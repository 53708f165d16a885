package ptrace

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"
)

// Syscall injection.
//
// How a syscall is made to run in a thread stopped at the user-mode boundary
// (interrupt or group-stop), as verified on 6.18:
//
//  1. Save regs and the signal mask; block every signal (PTRACE_SETSIGMASK
//     all ones; the kernel keeps SIGKILL and SIGSTOP deliverable).
//  2. Set rip to a `syscall` instruction (0f 05), rax = nr, the arguments in
//     rdi, rsi, rdx, r10, r8, r9, and orig_rax = -1. orig_rax = -1 keeps the
//     kernel's restart logic (arch_do_signal_or_restart), which runs on the
//     way out of the stop with the registers we set, from treating them as an
//     interrupted syscall; the syscall entry sets orig_rax = rax itself.
//  3. PTRACE_SYSCALL: the thread leaves get_signal(), returns to user mode at
//     rip, executes the instruction and stops at syscall-entry (rax = -ENOSYS,
//     orig_rax = nr); PTRACE_SYSCALL again: syscall-exit-stop, rax = result,
//     rip = insn+2.
//  4. Restore regs, then resume with a PTRACE_INTERRUPT pending, so the
//     thread stops at the boundary again (get_signal), and restore the mask.
//     Resuming from the syscall-exit-stop passes through get_signal() only
//     because the pending trap sets TIF_SIGPENDING; that is also where the
//     restored registers of an interrupted syscall (orig_rax >= 0, rax =
//     -ERESTART*) get the kernel's restart treatment when the thread finally
//     runs. Verified: a thread blocked in read(2) on a pipe, injected with
//     getpid and detached, completes its read with the data written later.
//
// Why not PTRACE_SINGLESTEP (the usual way): the single-step trap is a real
// SIGTRAP sent with force_sig_fault(), and force_sig_info_to_task() resets
// the program's SIGTRAP handler to SIG_DFL when SIGTRAP is blocked or ignored
// (kernel/signal.c). Verified on 6.18 with a C tracer: after a single-step
// injection with all signals blocked, the program's own raise(SIGTRAP) killed
// it; with SIGTRAP left unblocked, its handler ran. Syscall-stops are
// ptrace_notify() stops, not signals: no handler is touched, and a tracer that
// dies mid-injection leaves no SIGTRAP behind (with TRACESYSGOOD the stop code
// is SIGTRAP|0x80, not a valid signal to re-send).
//
// Injected syscalls go through seccomp like any other (after the entry stop):
// a syscall in the NOCR table would be trapped by the supervisor's filter, and
// a program filter answering SECCOMP_RET_TRAP would force a SIGSYS (reported
// as an error; the forced signal resets a SIGSYS handler, as above). They must
// not block: every signal but SIGKILL/SIGSTOP is blocked meanwhile.

// ScratchCode is what MapScratch writes at the start of the scratch page:
// `syscall; int3`. The int3 is a safety net: a thread resumed there by
// mistake traps instead of running into zeroes.
var ScratchCode = []byte{0x0f, 0x05, 0xcc}

// ScratchDataOffset is where the free part of the scratch page begins; the
// caller may put syscall arguments (structs, strings) from there on.
const ScratchDataOffset = 64

// ScratchSize is the size of the scratch mapping.
const ScratchSize = 4096

var syscallInsn = []byte{0x0f, 0x05}

// Inject runs syscall nr with up to six arguments in thread tid, which must be
// stopped at the user-mode boundary (ErrNotAtBoundary otherwise), and returns
// rax. The thread's registers and signal mask are as before when it returns,
// and it is again in an interrupt-stop. A result in [-4095, -1] is also
// returned as a *SyscallError (Unwrap gives the errno). The syscall
// instruction used is the one SyscallInsn finds (the vdso's) or the one set
// with SetSyscallInsn / MapScratch for the thread's process.
func (t *Tracer) Inject(tid int, nr int, args ...uint64) (int64, error) {
	var ret int64
	err := t.do(func() error {
		tr, err := t.get(tid, "inject")
		if err != nil {
			return err
		}
		insn, err := t.syscallInsn(tr)
		if err != nil {
			return err
		}
		ret, err = t.inject(tr, insn, nr, args)
		return err
	})
	return ret, err
}

// InjectAt is Inject with the address of the syscall instruction given. The
// address must lie in an executable mapping (checked in /proc/TID/maps at
// each call) and hold 0f 05.
func (t *Tracer) InjectAt(tid int, insn uintptr, nr int, args ...uint64) (int64, error) {
	var ret int64
	err := t.do(func() error {
		tr, err := t.get(tid, "inject")
		if err != nil {
			return err
		}
		if err := checkExecutable(tid, insn); err != nil {
			return err
		}
		ret, err = t.inject(tr, insn, nr, args)
		return err
	})
	return ret, err
}

// SyscallInsn returns the address of a syscall instruction in the thread's
// process: the one set for it, or the first 0f 05 in its [vdso] (the x86_64
// vdso has syscall fallbacks for clock_gettime and friends; found at
// vdso+0x927 on this kernel), read through /proc/TID/maps and Mem. Cached per
// process; forgotten on exec.
func (t *Tracer) SyscallInsn(tid int) (uintptr, error) {
	var a uintptr
	err := t.do(func() error {
		tr, err := t.get(tid, "find syscall instruction")
		if err != nil {
			return err
		}
		a, err = t.syscallInsn(tr)
		return err
	})
	return a, err
}

// SetSyscallInsn makes Inject use the syscall instruction at addr for every
// thread of tid's process (after restore moved the vdso, for example). The
// mapping must be executable (checked now); the bytes are checked at each
// injection.
func (t *Tracer) SetSyscallInsn(tid int, addr uintptr) error {
	return t.do(func() error {
		tr, err := t.get(tid, "set syscall instruction")
		if err != nil {
			return err
		}
		if err := checkExecutable(tid, addr); err != nil {
			return err
		}
		tgid, err := t.tgidOf(tr)
		if err != nil {
			return err
		}
		t.insn[tgid] = addr
		return nil
	})
}

// checkExecutable refuses an address outside executable mappings. Executing
// there would fault, and a fault raised while Inject blocks every signal is
// forced on the thread by force_sig_info_to_task(), which resets the
// program's handler for that signal to SIG_DFL: a failed injection must not
// change the program, so the fault is prevented rather than handled.
func checkExecutable(tid int, addr uintptr) error {
	x, err := executable(tid, addr)
	if err != nil {
		return &Error{Tid: tid, Op: "read /proc/TID/maps", Err: err}
	}
	if !x {
		return &Error{Tid: tid, Op: "check syscall instruction", Err: fmt.Errorf("%w: %#x is not in an executable mapping", ErrNoSyscallInsn, addr)}
	}
	return nil
}

func (t *Tracer) syscallInsn(tr *tracee) (uintptr, error) {
	const op = "find syscall instruction"
	tgid, err := t.tgidOf(tr)
	if err != nil {
		return 0, err
	}
	if a, ok := t.insn[tgid]; ok {
		return a, nil
	}
	// The vdso first; an app that unmapped it has 0f 05 in some other
	// executable mapping (libc's syscall wrappers): executing from there
	// decodes as syscall whatever instruction the bytes belong to.
	ranges, err := executableRanges(tr.tid)
	if err != nil {
		return 0, &Error{Tid: tr.tid, Op: op, Err: err}
	}
	for _, rg := range ranges {
		lo, hi := rg[0], min(rg[1], rg[0]+64<<20)
		buf := make([]byte, hi-lo)
		if err := ReadMem(tr.tid, lo, buf); err != nil {
			continue
		}
		if i := bytes.Index(buf, syscallInsn); i >= 0 {
			t.insn[tgid] = lo + uintptr(i)
			return lo + uintptr(i), nil
		}
	}
	return 0, &Error{Tid: tr.tid, Op: op, Err: fmt.Errorf("%w in any executable mapping", ErrNoSyscallInsn)}
}

// MapScratch injects mmap(NULL, ScratchSize, PROT_READ|PROT_WRITE|PROT_EXEC,
// MAP_PRIVATE|MAP_ANONYMOUS) into the thread, writes ScratchCode at its start,
// makes it the syscall instruction for the thread's process and returns its
// address. The rest of the page, from ScratchDataOffset, is free for the
// caller. Restore uses it to keep injecting while it unmaps the old vdso.
func (t *Tracer) MapScratch(tid int) (uintptr, error) {
	var addr uintptr
	err := t.do(func() error {
		tr, err := t.get(tid, "map scratch page")
		if err != nil {
			return err
		}
		insn, err := t.syscallInsn(tr)
		if err != nil {
			return err
		}
		ret, err := t.inject(tr, insn, unix.SYS_MMAP, []uint64{0, ScratchSize,
			unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS,
			^uint64(0), 0})
		if err != nil {
			return err
		}
		a := uintptr(ret)
		if err := WriteMem(tr.tid, a, ScratchCode); err != nil {
			return err
		}
		tgid, err := t.tgidOf(tr)
		if err != nil {
			return err
		}
		t.insn[tgid] = a
		addr = a
		return nil
	})
	return addr, err
}

func (t *Tracer) inject(tr *tracee, insn uintptr, nr int, args []uint64) (int64, error) {
	tid := tr.tid
	op := fmt.Sprintf("inject syscall %d", nr)
	if len(args) > 6 {
		return 0, &Error{Tid: tid, Op: op, Err: fmt.Errorf("%d arguments, at most 6: %w", len(args), unix.EINVAL)}
	}
	if !tr.stopped {
		return 0, &Error{Tid: tid, Op: op, Err: ErrNotStopped}
	}
	if k := tr.stop.Kind; k != StopInterrupt && k != StopGroup {
		return 0, &Error{Tid: tid, Op: op, Err: fmt.Errorf("%w (in %v)", ErrNotAtBoundary, tr.stop)}
	}
	code := make([]byte, len(syscallInsn))
	if err := ReadMem(tid, insn, code); err != nil {
		return 0, &Error{Tid: tid, Op: op, Err: fmt.Errorf("read syscall instruction at %#x: %w", insn, err)}
	}
	if !bytes.Equal(code, syscallInsn) {
		return 0, &Error{Tid: tid, Op: op, Err: fmt.Errorf("%w at %#x (found % x)", ErrNoSyscallInsn, insn, code)}
	}

	var saved Regs
	if err := ptraceRegs(unix.PTRACE_GETREGS, tid, &saved); err != nil {
		return 0, &Error{Tid: tid, Op: "PTRACE_GETREGS", Err: err}
	}
	var mask Sigset
	if err := ptraceSigmask(unix.PTRACE_GETSIGMASK, tid, &mask); err != nil {
		return 0, &Error{Tid: tid, Op: "PTRACE_GETSIGMASK", Err: err}
	}
	all := ^Sigset(0)
	if err := ptraceSigmask(unix.PTRACE_SETSIGMASK, tid, &all); err != nil {
		return 0, &Error{Tid: tid, Op: "PTRACE_SETSIGMASK", Err: err}
	}
	r := saved
	r.Rip = uint64(insn)
	r.Rax = uint64(nr)
	r.Orig_rax = noSyscall
	r.SetArgs(args...)
	if err := ptraceRegs(unix.PTRACE_SETREGS, tid, &r); err != nil {
		t.restoreAfterInject(tr, &saved, mask, false)
		return 0, &Error{Tid: tid, Op: "PTRACE_SETREGS", Err: err}
	}

	ret, runErr := t.runInjected(tr, insn, nr)
	if tr.stopped { // not when it died
		if err := t.restoreAfterInject(tr, &saved, mask, true); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		return 0, runErr
	}
	if ret < 0 && ret >= -4095 {
		return ret, &SyscallError{Tid: tid, Nr: nr, Errno: unix.Errno(-ret)}
	}
	return ret, nil
}

// runInjected drives the thread from the boundary stop through syscall-entry
// to syscall-exit and returns rax.
func (t *Tracer) runInjected(tr *tracee, insn uintptr, nr int) (int64, error) {
	tid := tr.tid
	resume := func(sig unix.Signal) error {
		if err := ptraceNoPtr(unix.PTRACE_SYSCALL, tid, 0, uintptr(sig)); err != nil {
			return &Error{Tid: tid, Op: "PTRACE_SYSCALL", Err: err}
		}
		tr.stopped = false
		return nil
	}
	if err := resume(0); err != nil {
		return 0, err
	}
	entered := false
	for {
		st, _, err := t.wait4(tr, true)
		if err != nil {
			return 0, err
		}
		var sig unix.Signal
		switch st.Kind {
		case Exited:
			return 0, &Error{Tid: tid, Op: "wait4 (injected syscall)", Err: &ExitError{Status: st.Status}}
		case StopSyscall:
			var r Regs
			if err := ptraceRegs(unix.PTRACE_GETREGS, tid, &r); err != nil {
				return 0, &Error{Tid: tid, Op: "PTRACE_GETREGS", Err: err}
			}
			if r.Rip != uint64(insn)+syscallInsnLen {
				return 0, &Error{Tid: tid, Op: "inject", Err: fmt.Errorf("syscall-stop at rip %#x, expected %#x", r.Rip, uint64(insn)+syscallInsnLen)}
			}
			if entered {
				return int64(r.Rax), nil
			}
			if int(r.Orig_rax) != nr {
				return 0, &Error{Tid: tid, Op: "inject", Err: fmt.Errorf("syscall-entry-stop for syscall %d, expected %d", int64(r.Orig_rax), nr)}
			}
			entered = true
		case StopInterrupt, StopGroup:
			// A trap that was pending (an Interrupt that raced with another
			// stop) or job control, before the instruction ran: go on.
		case StopEvent:
			// Clone, fork, exec… of the injected syscall itself; children
			// were registered by record().
		case StopSignal:
			if st.Signal != unix.SIGSTOP {
				// Everything else is blocked, so this is a synchronous
				// fault of our own making (the instruction is not
				// executable?). The signal is discarded with the resume in
				// restoreAfterInject.
				return 0, &Error{Tid: tid, Op: "inject", Err: fmt.Errorf("injected syscall at %#x raised %v", insn, st.Signal)}
			}
			sig = st.Signal // job control: let it stop the thread
		}
		if err := resume(sig); err != nil {
			return 0, err
		}
	}
}

// restoreAfterInject puts the registers back, brings the thread to the boundary
// (PTRACE_INTERRUPT + PTRACE_CONT from the syscall-exit-stop) and restores the
// signal mask.
func (t *Tracer) restoreAfterInject(tr *tracee, saved *Regs, mask Sigset, resume bool) error {
	tid := tr.tid
	if err := ptraceRegs(unix.PTRACE_SETREGS, tid, saved); err != nil {
		return &Error{Tid: tid, Op: "PTRACE_SETREGS (restore)", Err: err}
	}
	if resume {
		if tr.stop.Kind == StopSignal {
			// A fault of ours: make passStop discard, not requeue, it.
			tr.stop.Kind = StopSyscall
		}
		if err := t.settle(tr, &Stopped{}); err != nil {
			return err
		}
	}
	if err := ptraceSigmask(unix.PTRACE_SETSIGMASK, tid, &mask); err != nil {
		return &Error{Tid: tid, Op: "PTRACE_SETSIGMASK (restore)", Err: err}
	}
	return nil
}

// ForgetSyscallInsn drops the syscall instruction cached for process tgid
// (after the scratch page MapScratch made it was unmapped): the next
// injection looks for one again.
func (t *Tracer) ForgetSyscallInsn(tgid int) {
	_ = t.do(func() error {
		delete(t.insn, tgid)
		return nil
	})
}
