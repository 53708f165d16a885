// Package ptrace is tracee control shared by checkpoint and restore: seize,
// interrupt, wait, registers, xstate and syscall injection, all from one locked OS
// thread. It grows no policy.
//
// # Model
//
// A Tracer owns one goroutine locked for good to its OS thread; every ptrace
// and wait4 call runs there (closures over a channel, as in Delve's
// handlePtraceFuncs). Threads are seized one by one with PTRACE_SEIZE
// (Seize, or FreezeProcess for all threads of a process), brought to a stop at
// the user-mode boundary with Interrupt, examined and changed (GetRegs,
// GetXstate, GetSigmask, PeekSiginfo, Inject…), then let go with Detach.
// Memory is read and written with ReadMem/WriteMem (Mem), which need no
// tracer thread.
//
// Errors carry the thread and the operation as the kernel names it (*Error);
// errors.Is(err, ErrVanished) tells a thread that is gone, whatever the way.
//
// # Kernel facts relied on (x86_64, verified on 6.18 unless marked)
//
//   - ptrace belongs to the tracer thread; wait4 on a specific tid needs __WALL
//     for non-leader threads. A thread-group leader that exits before the other
//     threads is a zombie wait4 does not report (kernel/exit.c), so leaders are
//     polled (tracer.go). PTRACE_SEIZE of such a zombie gives EPERM (test:
//     TestFreezeZombieLeader).
//   - Any ptrace-stop clears a pending PTRACE_INTERRUPT trap (ptrace_stop), so
//     after a signal-delivery- or event-stop the interrupt is sent again before
//     resuming (passStop).
//   - A signal met in a signal-delivery-stop is requeued, not lost: blocked
//     and resumed with it, ptrace_signal() puts it back in the queue it came
//     from with its siginfo; observed in the shared queue after
//     rt_sigqueueinfo(SI_QUEUE, 99) to the process, and delivered to the
//     handler with code -1 and value 99 after Detach.
//   - Interrupted syscalls: read(2) on a pipe stops with orig_rax=0,
//     rax=-512 (ERESTARTSYS); glibc nanosleep (clock_nanosleep, 230) with
//     rax=-516 (ERESTART_RESTARTBLOCK). Detached untouched (or after an
//     injection, registers restored), read restarts and nanosleep continues via
//     restart_syscall without EINTR. With NormalizeRestart's registers
//     (orig_rax=-1) read re-executes and nanosleep returns EINTR with the
//     remaining time, which the program sleeps.
//   - Injection uses PTRACE_SYSCALL (entry-stop: rax=-ENOSYS, orig_rax=nr;
//     exit-stop: rax=result, rip=insn+2), not PTRACE_SINGLESTEP: a single-step
//     trap with SIGTRAP blocked reset the program's SIGTRAP handler to SIG_DFL
//     (force_sig_info_to_task; seen with a C tracer: the program then died of
//     its own raise(SIGTRAP)). See inject.go.
//   - The [vdso] holds a syscall instruction (0f 05), at vdso+0x927 here.
//   - NT_X86_XSTATE returns 2440 bytes on this AMD EPYC (AVX2, PKU);
//     PTRACE_SETREGSET needs exactly that length. The AVX area is at 576
//     (CPUID 0xD/2 agrees).
//   - glibc 2.36 registers rseq: PTRACE_GET_RSEQ_CONFIGURATION gives a size of
//     32 and signature 0x53053053.
//   - process_vm_readv fails with EFAULT on PROT_NONE pages and
//     process_vm_writev does not write read-only pages; /proc/PID/mem does both
//     (FOLL_FORCE).
//
// # Hazards for callers
//
//   - Close ends the tracer thread; the kernel detaches what is left (kills it
//     with ExitKill). PR_SET_PDEATHSIG follows the *thread* that forked a
//     child, and the Go runtime may have forked any child on the thread that
//     later became a tracer thread: closing a Tracer then sends the
//     parent-death signal to that child (seen in this package's tests). Fork
//     children that rely on Pdeathsig from a goroutine locked to a thread that
//     never exits.
//   - Nothing else in the process may wait for "any child" with __WALL: every
//     thread of the tracer's process can collect the tracer thread's stops.
//   - A traced process whose threads exit while traced cannot be reaped by its
//     parent until the tracer collects or releases them (Detach or Close).
package ptrace
