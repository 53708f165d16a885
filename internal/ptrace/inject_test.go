package ptrace

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestInjectGetpidGettid(t *testing.T) {
	e := setup(t)
	v := e.start("threads", "3", "0")
	f, err := e.tr.FreezeProcess(v.pid, TraceClone)
	if err != nil {
		t.Fatal(err)
	}
	insn, err := e.tr.SyscallInsn(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := mappingRange(v.pid, "[vdso]")
	if err != nil || insn < lo || insn >= hi {
		t.Fatalf("syscall instruction at %#x, vdso %#x-%#x (%v)", insn, lo, hi, err)
	}
	t.Logf("syscall instruction at vdso+%#x", insn-lo)
	for _, tid := range f.Threads {
		before, err := e.tr.GetRegs(tid)
		if err != nil {
			t.Fatal(err)
		}
		mask, _ := e.tr.GetSigmask(tid)
		if got, err := e.tr.Inject(tid, unix.SYS_GETTID); err != nil || got != int64(tid) {
			t.Fatalf("thread %d: injected gettid = %d, %v", tid, got, err)
		}
		if got, err := e.tr.Inject(tid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
			t.Fatalf("thread %d: injected getpid = %d, %v", tid, got, err)
		}
		after, err := e.tr.GetRegs(tid)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("thread %d: registers changed by injection:\n%+v\n%+v", tid, before, after)
		}
		if m, _ := e.tr.GetSigmask(tid); m != mask {
			t.Errorf("thread %d: mask %#x, was %#x", tid, uint64(m), uint64(mask))
		}
		if st, _ := e.tr.Wait(tid); st.Kind != StopInterrupt {
			t.Errorf("thread %d after injection: %v", tid, st)
		}
		if before.Syscall() >= 0 {
			t.Logf("thread %d was in syscall %d, rax %d", tid, before.Syscall(), before.Ret())
		}
	}
	if err := e.tr.Thaw(f); err != nil {
		t.Fatal(err)
	}
	// The main thread was in read(2): it must still read its stdin.
	v.send("c\n")
	if l := v.line(); !strings.HasPrefix(l, "sum ") {
		t.Fatalf("victim after injections: %q", l)
	}
}

func TestInjectErrors(t *testing.T) {
	e := setup(t)
	v := e.start("spin")
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	_, err := e.tr.Inject(v.pid, unix.SYS_GETPID, 1, 2, 3, 4, 5, 6, 7)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("7 arguments: %v", err)
	}
	ret, err := e.tr.Inject(v.pid, unix.SYS_CLOSE, 12345)
	var se *SyscallError
	if ret != -int64(unix.EBADF) || !errors.As(err, &se) || !errors.Is(err, unix.EBADF) || se.Nr != unix.SYS_CLOSE {
		t.Errorf("injected close(12345) = %d, %v", ret, err)
	}
	insn, _ := e.tr.SyscallInsn(v.pid)
	if _, err := e.tr.InjectAt(v.pid, insn+1, unix.SYS_GETPID); !errors.Is(err, ErrNoSyscallInsn) {
		t.Errorf("InjectAt a wrong address: %v", err)
	}
	if _, err := e.tr.InjectAt(v.pid, 8, unix.SYS_GETPID); !errors.Is(err, ErrNoSyscallInsn) {
		t.Errorf("InjectAt an unmapped address: %v", err)
	}
	// 0f 05 in a readable, non-executable page is refused before it faults.
	page, err := e.tr.Inject(v.pid, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMem(v.pid, uintptr(page), ScratchCode); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.InjectAt(v.pid, uintptr(page), unix.SYS_GETPID); !errors.Is(err, ErrNoSyscallInsn) {
		t.Errorf("InjectAt a non-executable page: %v", err)
	} else {
		t.Logf("InjectAt a non-executable page: %v", err)
	}
	if err := e.tr.SetSyscallInsn(v.pid, uintptr(page)); !errors.Is(err, ErrNoSyscallInsn) {
		t.Errorf("SetSyscallInsn to a non-executable page: %v", err)
	}
	if got, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
		t.Errorf("getpid after failures: %d, %v", got, err)
	}
}

func TestScratchAndMemory(t *testing.T) {
	e := setup(t)
	v := e.start("spin")
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	scratch, err := e.tr.MapScratch(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", v.pid))
	if !strings.Contains(string(maps), fmt.Sprintf("%x-%x rwxp", scratch, scratch+ScratchSize)) {
		t.Fatalf("no rwxp mapping at %#x:\n%s", scratch, maps)
	}
	code := make([]byte, len(ScratchCode))
	if err := ReadMem(v.pid, scratch, code); err != nil || !bytes.Equal(code, ScratchCode) {
		t.Fatalf("scratch code % x (%v)", code, err)
	}
	if insn, _ := e.tr.SyscallInsn(v.pid); insn != scratch {
		t.Fatalf("syscall instruction %#x, want the scratch page %#x", insn, scratch)
	}
	// Injection now runs from the scratch page.
	if got, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
		t.Fatalf("getpid via scratch: %d, %v", got, err)
	}
	data := scratch + ScratchDataOffset
	if err := WriteMem(v.pid, data, []byte("hello scratch")); err != nil {
		t.Fatal(err)
	}
	// getcwd into the scratch data area: the kernel writes there.
	n, err := e.tr.Inject(v.pid, unix.SYS_GETCWD, uint64(data), 256)
	if err != nil {
		t.Fatal(err)
	}
	cwd := make([]byte, n-1)
	if err := ReadMem(v.pid, data, cwd); err != nil {
		t.Fatal(err)
	}
	want, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", v.pid))
	if string(cwd) != want {
		t.Errorf("injected getcwd wrote %q, want %q", cwd, want)
	}

	// A read-only private page: process_vm_writev refuses, /proc/PID/mem writes.
	ro, err := e.tr.Inject(v.pid, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	page := uintptr(ro)
	msg := []byte("written through /proc/PID/mem")
	if n := vmTransfer(v.pid, page, bytes.Clone(msg), true); n != 0 {
		t.Errorf("process_vm_writev wrote %d bytes into a read-only page", n)
	}
	if err := WriteMem(v.pid, page, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if err := ReadMem(v.pid, page, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read back %q (%v)", got, err)
	}
	// PROT_NONE: process_vm_readv fails, /proc/PID/mem still reads it.
	if _, err := e.tr.Inject(v.pid, unix.SYS_MPROTECT, uint64(page), 4096, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if _, err := vmOnce(v.pid, page, make([]byte, 16), false); !errors.Is(err, unix.EFAULT) {
		t.Errorf("process_vm_readv of PROT_NONE: %v, want EFAULT", err)
	}
	clear(got)
	if err := ReadMem(v.pid, page, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("PROT_NONE page read back %q (%v)", got, err)
	}
	// ReadVec: ranges back to back, stopping at the PROT_NONE page.
	m := OpenMem(v.pid)
	vec := make([]byte, 32)
	if n := m.ReadVec([]unix.RemoteIovec{{Base: data, Len: 4}, {Base: scratch, Len: 3}, {Base: page, Len: 16}}, vec); n != 7 ||
		!bytes.Equal(vec[:4], cwd[:4]) || !bytes.Equal(vec[4:7], ScratchCode) {
		t.Errorf("ReadVec read %d bytes % x, want 7: the cwd's first 4 then the scratch code", n, vec[:7])
	}
	m.Close()
	// A read straddling an accessible and a PROT_NONE page.
	if err := WriteMem(v.pid, data, []byte("tail")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Inject(v.pid, unix.SYS_MUNMAP, uint64(page), 4096); err != nil {
		t.Fatal(err)
	}
	var pe *Error
	if err := ReadMem(v.pid, page, got); !errors.As(err, &pe) || !strings.Contains(pe.Op, "/proc/PID/mem") {
		t.Errorf("read of an unmapped page: %v", err)
	} else {
		t.Logf("read of an unmapped page: %v", err)
	}
	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
}

// A thread blocked in read(2) on a pipe stops with orig_rax = 0 and rax =
// -ERESTARTSYS. After an injection (registers restored) or with the
// normalised registers set, it must still complete the read after detach.
func TestBlockedReadRestart(t *testing.T) {
	for _, mode := range []string{"inject", "normalize"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			v := e.start("read")
			waitUntil(t, "the victim to block in read", func() bool { return blockedIn(v.pid) == unix.SYS_READ })
			if err := e.tr.Seize(v.pid, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.tr.Interrupt(v.pid); err != nil {
				t.Fatal(err)
			}
			regs, err := e.tr.GetRegs(v.pid)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("interrupted read: orig_rax=%d rax=%d", regs.Syscall(), regs.Ret())
			if regs.Syscall() != unix.SYS_READ || regs.Ret() != -ERESTARTSYS {
				t.Fatalf("orig_rax=%d rax=%d, want 0 and -512", regs.Syscall(), regs.Ret())
			}
			switch mode {
			case "inject":
				if got, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
					t.Fatalf("getpid: %d, %v", got, err)
				}
				if after, _ := e.tr.GetRegs(v.pid); after != regs {
					t.Fatalf("registers not restored:\n%+v\n%+v", regs, after)
				}
			case "normalize":
				n, k := NormalizeRestart(regs)
				if k != RestartSyscall || n.Rax != 0 || n.Rip != regs.Rip-2 || int64(n.Orig_rax) != -1 {
					t.Fatalf("normalised: %v %+v", k, n)
				}
				if err := e.tr.SetRegs(v.pid, n); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.tr.Detach(v.pid, 0); err != nil {
				t.Fatal(err)
			}
			v.send("hello\n")
			if l := v.line(); l != "got 6:hello" {
				t.Fatalf("victim: %q", l)
			}
			if err := v.wait(); err != nil {
				t.Fatalf("victim: %v", err)
			}
		})
	}
}

// A thread in nanosleep stops with rax = -ERESTART_RESTARTBLOCK. Left alone
// the kernel continues it through restart_syscall (no EINTR seen); with the
// normalised registers (rax = -EINTR) the program sees EINTR and sleeps the
// remaining time. Either way it sleeps at least what it asked for.
func TestNanosleepRestart(t *testing.T) {
	for _, mode := range []string{"inject", "normalize"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			v := e.start("sleep", "1500")
			waitUntil(t, "the victim to block in nanosleep", func() bool {
				n := blockedIn(v.pid)
				return n == unix.SYS_CLOCK_NANOSLEEP || n == unix.SYS_NANOSLEEP
			})
			if err := e.tr.Seize(v.pid, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.tr.Interrupt(v.pid); err != nil {
				t.Fatal(err)
			}
			regs, err := e.tr.GetRegs(v.pid)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("interrupted nanosleep: orig_rax=%d rax=%d", regs.Syscall(), regs.Ret())
			if regs.Ret() != -ERESTART_RESTARTBLOCK {
				t.Fatalf("rax=%d, want -516", regs.Ret())
			}
			wantEINTR := "eintr=0"
			switch mode {
			case "inject":
				if got, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
					t.Fatalf("getpid: %d, %v", got, err)
				}
			case "normalize":
				n, k := NormalizeRestart(regs)
				if k != RestartBlock || n.Ret() != -int64(unix.EINTR) || n.Rip != regs.Rip {
					t.Fatalf("normalised: %v %+v", k, n)
				}
				if err := e.tr.SetRegs(v.pid, n); err != nil {
					t.Fatal(err)
				}
				wantEINTR = "eintr=1"
			}
			if err := e.tr.Detach(v.pid, 0); err != nil {
				t.Fatal(err)
			}
			l := v.line()
			t.Logf("victim: %s", l)
			if !strings.HasPrefix(l, "slept "+wantEINTR+" ") {
				t.Fatalf("victim: %q, want %s", l, wantEINTR)
			}
			if err := v.wait(); err != nil {
				t.Fatalf("victim slept less than asked: %v", err)
			}
		})
	}
}

// A vfork in a traced thread: Interrupt stops in PTRACE_EVENT_VFORK (resuming
// would wait for the stopped child), the child is auto-attached, and both
// finish once detached.
func TestVforkEvent(t *testing.T) {
	e := setup(t)
	v := e.start("vfork")
	if err := e.tr.Seize(v.pid, TraceClone|TraceFork|TraceVfork); err != nil {
		t.Fatal(err)
	}
	v.send("v\n")
	waitUntil(t, "the vfork event-stop", func() bool { s, _ := threadState(v.pid); return s == 't' })
	st, err := e.tr.Interrupt(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != StopEvent || st.Event != unix.PTRACE_EVENT_VFORK || len(st.Attached) != 1 || int(st.Msg) != st.Attached[0] {
		t.Fatalf("Interrupt: %v attached %v", st.Stop, st.Attached)
	}
	child := st.Attached[0]
	if _, err := e.tr.Inject(v.pid, unix.SYS_GETPID); !errors.Is(err, ErrNotAtBoundary) {
		t.Errorf("Inject in an event-stop: %v", err)
	}
	cst, err := e.tr.Interrupt(child)
	if err != nil {
		t.Fatal(err)
	}
	if cst.Kind != StopInterrupt {
		t.Fatalf("child first stop: %v", cst.Stop)
	}
	if got, err := e.tr.Inject(child, unix.SYS_GETPID); err != nil || got != int64(child) {
		t.Fatalf("getpid in the vfork child: %d, %v", got, err)
	}
	if err := e.tr.DetachAll([]int{child, v.pid}); err != nil {
		t.Fatal(err)
	}
	if l, want := v.line(), fmt.Sprintf("vforked %d status 0", child); l != want {
		t.Fatalf("victim: %q, want %q", l, want)
	}
}

// Close leaves the tracees to the kernel: detached, or killed with ExitKill.
func TestCloseReleasesTracees(t *testing.T) {
	e := setup(t)
	v := e.start("spin")
	k := e.start("spin")
	counter := v.hexField(2)
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Seize(k.pid, ExitKill); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{v.pid, k.pid} {
		if _, err := e.tr.Interrupt(pid); err != nil {
			t.Fatal(err)
		}
	}
	c := readU64s(t, v.pid, counter, 1)[0]
	if err := e.tr.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the counter to move after Close", func() bool { return readU64s(t, v.pid, counter, 1)[0] > c })
	err := k.wait()
	var ee interface{ ExitCode() int }
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("ExitKill tracee after Close: %v", err)
	}
}
