package ptrace

import "golang.org/x/sys/unix"

// Regs is the kernel's struct user_regs_struct for x86_64
// (arch/x86/include/asm/user_64.h), exactly as PTRACE_GETREGS/SETREGS move it:
// R15 … Gs, 27 unsigned longs, Fs_base and Gs_base included. It is a defined
// type over unix.PtraceRegs so no copying or unsafe is needed.
type Regs unix.PtraceRegs

// Kernel-internal errnos that a thread interrupted inside a syscall carries in
// rax (include/linux/errno.h). They never reach user space: on the way out the
// kernel either restarts the syscall or turns them into EINTR.
const (
	ERESTARTSYS           = 512 // restart if no handler runs, or the handler has SA_RESTART
	ERESTARTNOINTR        = 513 // always restart
	ERESTARTNOHAND        = 514 // restart if no handler runs
	ERESTART_RESTARTBLOCK = 516 // restart through restart_syscall and current->restart_block
)

// syscallInsnLen is the length of the x86_64 `syscall` instruction (0f 05).
// At a stop after a syscall, rip points just past it.
const syscallInsnLen = 2

// noSyscall is orig_rax = -1: "not in a syscall" to the kernel's restart logic
// (syscall_get_nr() == -1 in arch_do_signal_or_restart).
const noSyscall = ^uint64(0)

// Restart says how a thread stopped inside a syscall will continue.
type Restart int

const (
	// NotInterrupted: not stopped inside an interrupted syscall.
	NotInterrupted Restart = iota
	// RestartSyscall: -ERESTARTSYS, -ERESTARTNOINTR or -ERESTARTNOHAND. The
	// kernel re-executes the syscall instruction: rax = orig_rax, rip -= 2.
	RestartSyscall
	// RestartBlock: -ERESTART_RESTARTBLOCK (nanosleep, clock_nanosleep,
	// futex with timeout, poll…). The kernel would set rax = __NR_restart_syscall
	// and rip -= 2, continuing from current->restart_block, per-task kernel
	// state that a checkpoint does not carry.
	RestartBlock
)

func (r Restart) String() string {
	switch r {
	case NotInterrupted:
		return "not interrupted"
	case RestartSyscall:
		return "restart syscall"
	case RestartBlock:
		return "restart block"
	}
	return "Restart(?)"
}

// Syscall returns orig_rax as a signed number: the syscall the thread is in,
// or -1.
func (r *Regs) Syscall() int64 { return int64(r.Orig_rax) }

// Ret returns rax as a signed number (a syscall result or -errno).
func (r *Regs) Ret() int64 { return int64(r.Rax) }

// SetArgs puts syscall arguments in rdi, rsi, rdx, r10, r8, r9 (the x86_64
// syscall ABI: r10 replaces the C ABI's rcx, which `syscall` overwrites).
func (r *Regs) SetArgs(args ...uint64) {
	dst := []*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}
	for i, a := range args {
		*dst[i] = a
	}
}

// NormalizeRestart takes the registers of a thread stopped at the user-mode
// boundary (interrupt, group or signal-delivery-stop) and returns those with
// which it continues correctly in another task, such as a restored one, plus
// what was done. The kernel's own rule is in arch/x86/kernel/signal.c,
// arch_do_signal_or_restart(): when no handler runs and orig_rax >= 0,
//
//	-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND: rax = orig_rax, rip -= 2
//	-ERESTART_RESTARTBLOCK:                        rax = __NR_restart_syscall, rip -= 2
//
// NormalizeRestart applies the first rule. For RESTARTBLOCK it sets rax =
// -EINTR and leaves rip alone: restart_syscall continues from
// current->restart_block, which does not survive a checkpoint, and in a fresh
// task could run a stale restart function. -EINTR is what those syscalls
// report when interrupted by a handler; nanosleep and clock_nanosleep have
// already stored the remaining time when they return RESTARTBLOCK
// (kernel/time/hrtimer.c, nanosleep_copyout), so a caller looping on EINTR
// sleeps exactly the rest. In every interrupted case orig_rax becomes -1, so
// the kernel does not apply its rule a second time on resume.
//
// Verified on 6.18 (see the tests): a thread in read(2) on a pipe stops with
// orig_rax = 0, rax = -512; with normalised registers set and orig_rax = -1 it
// re-executes read and receives the data written after detach. A thread in
// nanosleep(3) (glibc: clock_nanosleep, nr 230) stops with rax = -516; with the
// normalised registers it sees EINTR, loops on the remaining time, and its total
// sleep is not shorter than requested.
func NormalizeRestart(r Regs) (Regs, Restart) {
	if int64(r.Orig_rax) < 0 {
		return r, NotInterrupted
	}
	switch int64(r.Rax) {
	case -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND:
		r.Rax = r.Orig_rax
		r.Rip -= syscallInsnLen
		r.Orig_rax = noSyscall
		return r, RestartSyscall
	case -ERESTART_RESTARTBLOCK:
		eintr := -int64(unix.EINTR)
		r.Rax = uint64(eintr)
		r.Orig_rax = noSyscall
		return r, RestartBlock
	}
	return r, NotInterrupted
}

// Layout of the NT_X86_XSTATE regset: the standard (non-compacted) XSAVE format
// that ptrace exposes (arch/x86/kernel/fpu/regset.c, xstateregs_get, which
// converts the kernel's compacted buffer to the user ABI format).
const (
	// XstateLegacyXMM is the offset of xmm0 in the legacy FXSAVE region (16
	// bytes per register, 16 registers).
	XstateLegacyXMM = 160
	// XstateHeader is the offset of the XSAVE header; its first 8 bytes are
	// XSTATE_BV, the components actually present in the buffer.
	XstateHeader = 512
	// XstateAVX is the offset of the AVX component (the upper 128 bits of
	// ymm0–15, 16 bytes each). It is fixed at 576 by the architecture and
	// agrees with CPUID.(EAX=0DH,ECX=2):EBX; the tests check it.
	XstateAVX = 576
	// XfeatureAVX is the XSTATE_BV bit of the AVX component.
	XfeatureAVX = 1 << 2
)
