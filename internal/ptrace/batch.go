package ptrace

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Batched syscalls: many syscalls run by one resume of a thread.
//
// Inject costs a few ptrace stops per syscall (~75–105 µs here), which made
// restore cost ~1.6 ms per thread: a dozen syscalls per thread, each its own
// injection. A batch instead runs a small position-independent loop, BatchCode,
// inside the thread: it reads a table of syscalls (number, six arguments)
// from the thread's memory, runs them in order, writes each result back, and
// stops on the first error unless the entry says to go on. It then ends by
// sending SIGSTOP to its own thread (tgkill): a signal that cannot be blocked,
// caught, or ignored, so the thread reaches a signal-delivery-stop, whose
// signal the next resume discards (no signal passed), without touching any
// disposition. (An int3 at the end would raise a forced SIGTRAP, and a forced
// signal resets the program's handler when it is blocked or ignored, as for
// the single-step trap described in inject.go.) Sending a stop signal flushes
// a pending SIGCONT (prepare_signal): the loop first stores the thread's
// pending signals (rt_sigpending, every signal being blocked), and a batch
// that met a pending SIGCONT fails rather than lose it silently.
//
// Many threads run their batches at once (RunBatches starts them all, then
// collects them), so the tracer does not wait for each wake-up in turn. A
// clone made by a batch stops its caller at PTRACE_EVENT_CLONE (TraceClone);
// the tracer resumes it and reports the new tids in order. The new thread
// starts where its parent was, inside the loop, but stops at its first
// boundary stop before running an instruction; should it ever be resumed
// there, the entry's OpClone flag sends it to an int3 rather than on through
// the table.
//
// The loop (source in testdata/batch_amd64.S, Intel syntax, assembled with `as` and
// `objcopy -O binary`): r12 = first entry, r13 = entries, r14 = status block.
//
//	batch:	xor ebx, ebx
//	1:	cmp rbx, r13; jae 3f
//		mov r15, [r12]; mov eax, r15d                 ; nr | flags<<32
//		mov rdi, [r12+8] … mov r9, [r12+48]           ; arguments
//		syscall
//		test rax, rax; jnz 2f; bt r15, 33; jc 4f     ; a clone's child: trap
//	2:	mov [r12+56], rax; inc rbx; add r12, 64
//		cmp rax, -4095; jb 1b; bt r15, 32; jc 1b     ; error: stop unless OpGoOn
//	3:	mov [r14], rbx                                ; entries run
//		rt_sigpending(r14+8, 8)
//		tgkill(getpid(), gettid(), SIGSTOP)
//	4:	int3; jmp 4b
var BatchCode = []byte{
	0x31, 0xdb, 0x4c, 0x39, 0xeb, 0x73, 0x4e, 0x4d, 0x8b, 0x3c, 0x24, 0x44,
	0x89, 0xf8, 0x49, 0x8b, 0x7c, 0x24, 0x08, 0x49, 0x8b, 0x74, 0x24, 0x10,
	0x49, 0x8b, 0x54, 0x24, 0x18, 0x4d, 0x8b, 0x54, 0x24, 0x20, 0x4d, 0x8b,
	0x44, 0x24, 0x28, 0x4d, 0x8b, 0x4c, 0x24, 0x30, 0x0f, 0x05, 0x48, 0x85,
	0xc0, 0x75, 0x07, 0x49, 0x0f, 0xba, 0xe7, 0x21, 0x72, 0x51, 0x49, 0x89,
	0x44, 0x24, 0x38, 0x48, 0xff, 0xc3, 0x49, 0x83, 0xc4, 0x40, 0x48, 0x3d,
	0x01, 0xf0, 0xff, 0xff, 0x72, 0xb4, 0x49, 0x0f, 0xba, 0xe7, 0x20, 0x72,
	0xad, 0x49, 0x89, 0x1e, 0x49, 0x8d, 0x7e, 0x08, 0xbe, 0x08, 0x00, 0x00,
	0x00, 0xb8, 0x7f, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0x27, 0x00, 0x00,
	0x00, 0x0f, 0x05, 0x49, 0x89, 0xc4, 0xb8, 0xba, 0x00, 0x00, 0x00, 0x0f,
	0x05, 0x48, 0x89, 0xc6, 0x4c, 0x89, 0xe7, 0xba, 0x13, 0x00, 0x00, 0x00,
	0xb8, 0xea, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xcc, 0xeb, 0xfd,
}

// batchEnd is the offset in BatchCode just past the tgkill: where the thread
// is when its own SIGSTOP is delivered.
const batchEnd = 0x8b

// OpFlags modify one entry of a batch.
type OpFlags uint32

const (
	// OpGoOn: go on with the next entry even if this one fails.
	OpGoOn OpFlags = 1
	// OpClone: the entry is a clone; a result of 0 (the new child's view)
	// traps instead of going on.
	OpClone OpFlags = 2
)

// Op is one syscall of a batch.
type Op struct {
	Nr    int
	Args  [6]uint64
	Flags OpFlags
}

// Batch is the syscalls one thread runs in one resume.
type Batch struct {
	Tid   int
	Code  uintptr // where BatchCode is in the thread's process (executable)
	Table uintptr // writable memory of BatchSize(len(Ops)) bytes for the table
	Ops   []Op
	// NewThreads: the batch's clones make threads of its own process
	// (CLONE_THREAD), so their thread group need not be read from /proc.
	NewThreads bool
	// QuietClones: the batch's clones pass CLONE_PTRACE and the thread's
	// TraceClone option is off while it runs, so a clone does not stop
	// its caller at PTRACE_EVENT_CLONE (one stop and one resume less per
	// clone: the caller runs every clone of its table in one go). Each new
	// task is auto-attached all the same, seized, heading for its first
	// stop; Translate gives its tid in the tracer's namespace from the
	// clone's result (its id in the caller's), and it is reported in
	// Attached and settled like a reported one. The new tasks inherit the
	// caller's options without TraceClone.
	QuietClones bool
	Translate   func(id int64) (int, error)
	// Prewritten: the caller wrote the table (EncodeTable) at Table
	// already, with the data it stages, in one write for many batches.
	Prewritten bool
	// Deferred: the table is not read back when the batch ends; the
	// caller reads every table at once and hands each to SetResults
	// (not with QuietClones, which need the results at once).
	Deferred bool
	// Blocked: every signal of the thread is blocked already (a thread a
	// batch just cloned inherited its cloner's batch mask), so the mask is
	// not set before the batch runs.
	Blocked bool
	// Final, when set, is the state the thread is left with once its
	// batch ran, instead of the registers and signal mask it had: the
	// last step of a restore sets a thread's saved state in the same
	// stop, without reading what is about to be replaced (four ptrace
	// calls and a tracer hand-off less per thread). Also what a batch
	// that failed leaves.
	Final *Final

	// Set by RunBatches.
	Ran      int     // entries run: all, or up to and including the first failure
	Ret      []int64 // their results (rax); -errno for a failure
	Pending  Sigset  // signals pending in the thread while it ran
	Attached []int   // tids of the threads or processes its clones made, in order, each at its first boundary stop
}

// Final is a thread's state to set at the end of its batch: the registers
// (orig_rax as given: -1 for no syscall to restart), the XSAVE area (none
// if empty; PTRACE_SETREGSET NT_X86_XSTATE) and the signal mask.
type Final struct {
	Regs   Regs
	XState []byte
	Mask   Sigset
}

// BatchSize is the table size of n entries: a 16-byte status block, then 64
// bytes per entry.
func BatchSize(n int) int { return 16 + 64*n }

// Err returns the failure of entry i (nil if it succeeded) as a
// *SyscallError, or an error saying that it did not run.
func (b *Batch) Err(i int) error {
	if i >= b.Ran {
		return fmt.Errorf("not run: an earlier entry of the batch failed")
	}
	if r := b.Ret[i]; r < 0 && r >= -4095 {
		return &SyscallError{Tid: b.Tid, Nr: b.Ops[i].Nr, Errno: unix.Errno(-r)}
	}
	return nil
}

// Failed returns the index of the first failed entry, or -1.
func (b *Batch) Failed() int {
	for i := 0; i < b.Ran; i++ {
		if b.Err(i) != nil {
			return i
		}
	}
	if b.Ran < len(b.Ops) {
		return b.Ran // not reached
	}
	return -1
}

// sigcont is SIGCONT's bit in a Sigset.
const sigcont = Sigset(1) << (unix.SIGCONT - 1)

// RunBatches runs every batch in its thread, all at once. Each thread must
// be stopped at the user-mode boundary (interrupt or group-stop), as for
// Inject, and appear at most once; it comes back there with its registers and
// signal mask as before (see endBatch). Entries failing with an errno are not an error of
// RunBatches: see Batch.Err and Failed. An error means a batch could not run
// or did not finish (a fault, the thread died); every thread that could be
// brought back to its boundary stop is.
func (t *Tracer) RunBatches(bs []*Batch) error {
	return t.do(func() error { return t.runBatches(bs) })
}

type running struct {
	b     *Batch
	tr    *tracee
	saved Regs
	mask  Sigset
	done  bool
	quiet Options // options to put back once a QuietClones batch ran (0: none changed)
}

func (t *Tracer) runBatches(bs []*Batch) (err error) {
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	checked := map[uintptr]map[int]bool{}
	var rs []*running
	// Start every batch.
	for _, b := range bs {
		op := "run batch"
		tr, e := t.get(b.Tid, op)
		if e != nil {
			keep(e)
			break
		}
		if !tr.stopped {
			keep(&Error{Tid: b.Tid, Op: op, Err: ErrNotStopped})
			break
		}
		if k := tr.stop.Kind; k != StopInterrupt && k != StopGroup {
			keep(&Error{Tid: b.Tid, Op: op, Err: fmt.Errorf("%w (in %v)", ErrNotAtBoundary, tr.stop)})
			break
		}
		tgid, e := t.tgidOf(tr)
		if e != nil {
			keep(e)
			break
		}
		if !checked[b.Code][tgid] {
			if e := checkExecutable(b.Tid, b.Code); e != nil {
				keep(e)
				break
			}
			code := make([]byte, len(BatchCode))
			if e := ReadMem(b.Tid, b.Code, code); e != nil || !bytes.Equal(code, BatchCode) {
				keep(&Error{Tid: b.Tid, Op: op, Err: fmt.Errorf("no batch code at %#x (%v)", b.Code, e)})
				break
			}
			if checked[b.Code] == nil {
				checked[b.Code] = map[int]bool{}
			}
			checked[b.Code][tgid] = true
		}
		if b.Deferred && b.QuietClones {
			keep(&Error{Tid: b.Tid, Op: op, Err: fmt.Errorf("a batch of quiet clones cannot defer its results")})
			break
		}
		if !b.Prewritten {
			if e := WriteMem(b.Tid, b.Table, EncodeTable(b.Ops)); e != nil {
				keep(&Error{Tid: b.Tid, Op: "write batch table", Err: e})
				break
			}
		}
		r := &running{b: b, tr: tr}
		if f := b.Final; f != nil {
			// What endBatch (or a failure) puts back is the final state.
			r.saved, r.mask = f.Regs, f.Mask
		} else {
			if e := ptraceRegs(unix.PTRACE_GETREGS, b.Tid, &r.saved); e != nil {
				keep(&Error{Tid: b.Tid, Op: "PTRACE_GETREGS", Err: e})
				break
			}
			if e := ptraceSigmask(unix.PTRACE_GETSIGMASK, b.Tid, &r.mask); e != nil {
				keep(&Error{Tid: b.Tid, Op: "PTRACE_GETSIGMASK", Err: e})
				break
			}
		}
		if !b.Blocked {
			all := ^Sigset(0)
			if e := ptraceSigmask(unix.PTRACE_SETSIGMASK, b.Tid, &all); e != nil {
				keep(&Error{Tid: b.Tid, Op: "PTRACE_SETSIGMASK", Err: e})
				break
			}
		}
		regs := r.saved
		regs.Rip = uint64(b.Code)
		regs.R12 = uint64(b.Table) + 16
		regs.R13 = uint64(len(b.Ops))
		regs.R14 = uint64(b.Table)
		regs.Orig_rax = noSyscall
		if e := ptraceRegs(unix.PTRACE_SETREGS, b.Tid, &regs); e != nil {
			_ = ptraceSigmask(unix.PTRACE_SETSIGMASK, b.Tid, &r.mask)
			keep(&Error{Tid: b.Tid, Op: "PTRACE_SETREGS", Err: e})
			break
		}
		if b.QuietClones && tr.opts&TraceClone != 0 {
			if e := ptraceNoPtr(unix.PTRACE_SETOPTIONS, b.Tid, 0, uintptr(tr.opts&^TraceClone)); e != nil {
				_ = ptraceRegs(unix.PTRACE_SETREGS, b.Tid, &r.saved)
				_ = ptraceSigmask(unix.PTRACE_SETSIGMASK, b.Tid, &r.mask)
				keep(&Error{Tid: b.Tid, Op: "PTRACE_SETOPTIONS", Err: e})
				break
			}
			r.quiet = tr.opts
		}
		if e := ptraceNoPtr(unix.PTRACE_CONT, b.Tid, 0, 0); e != nil {
			if r.quiet != 0 {
				_ = ptraceNoPtr(unix.PTRACE_SETOPTIONS, b.Tid, 0, uintptr(r.quiet))
			}
			_ = ptraceRegs(unix.PTRACE_SETREGS, b.Tid, &r.saved)
			_ = ptraceSigmask(unix.PTRACE_SETSIGMASK, b.Tid, &r.mask)
			keep(&Error{Tid: b.Tid, Op: "PTRACE_CONT", Err: e})
			break
		}
		tr.stopped = false
		b.Attached = nil
		rs = append(rs, r)
	}
	// Collect each one at the end of its loop, put its registers back and
	// send it towards its boundary stop.
	for _, r := range rs {
		if e := t.finishBatch(r); e != nil {
			keep(e)
		}
		if r.b.QuietClones {
			if e := t.adoptClones(r); e != nil {
				keep(e)
			}
		}
	}
	// Wait for the boundary stop of a batch that faulted, and the new
	// children's first stops.
	for _, r := range rs {
		if !r.done {
			continue
		}
		if e := t.settle(r.tr, &Stopped{}); e != nil {
			keep(e)
			continue
		}
		if e := ptraceSigmask(unix.PTRACE_SETSIGMASK, r.b.Tid, &r.mask); e != nil {
			keep(&Error{Tid: r.b.Tid, Op: "PTRACE_SETSIGMASK (restore)", Err: e})
		}
	}
	for _, r := range rs {
		for _, c := range r.b.Attached {
			if tr := t.tracees[c]; tr != nil {
				if e := t.settle(tr, &Stopped{}); e != nil {
					keep(e)
				}
			}
		}
	}
	return err
}

// adoptClones puts a QuietClones batch's thread's options back and makes
// the tasks its clones made tracees: each clone that returned an id, in
// order, even when a later entry failed (so that they are killed with the
// process).
func (t *Tracer) adoptClones(r *running) error {
	b, tr := r.b, r.tr
	var err error
	if r.quiet != 0 {
		if e := ptraceNoPtr(unix.PTRACE_SETOPTIONS, b.Tid, 0, uintptr(r.quiet)); e != nil {
			err = &Error{Tid: b.Tid, Op: "PTRACE_SETOPTIONS", Err: e}
		}
	}
	for i := 0; i < b.Ran && i < len(b.Ret); i++ {
		if b.Ops[i].Flags&OpClone == 0 || b.Ret[i] <= 0 {
			continue
		}
		if b.Translate == nil {
			return &Error{Tid: b.Tid, Op: "run batch", Err: fmt.Errorf("quiet clones without a way to find their tids")}
		}
		host, e := b.Translate(b.Ret[i])
		if e != nil {
			return &Error{Tid: b.Tid, Op: "run batch", Err: fmt.Errorf("the task of clone %d (id %d): %w", i, b.Ret[i], e)}
		}
		if t.tracees[host] != nil {
			continue // reported by an event: in Attached already
		}
		nt := &tracee{tid: host, opts: tr.opts &^ TraceClone, kicked: true} // seized: it stops by itself
		if b.NewThreads {
			nt.tgid = tr.tgid
		}
		t.tracees[host] = nt
		b.Attached = append(b.Attached, host)
	}
	return err
}

// finishBatch drives one started batch to its final SIGSTOP, reads its
// results, puts the registers back and resumes it with a PTRACE_INTERRUPT
// pending (settle then collects the boundary stop).
func (t *Tracer) finishBatch(r *running) error {
	b, tr := r.b, r.tr
	end := uint64(b.Code) + batchEnd
	for {
		st, _, err := t.wait4(tr, true)
		if err != nil {
			return err
		}
		var sig unix.Signal
		switch st.Kind {
		case Exited:
			return &Error{Tid: b.Tid, Op: "wait4 (batch)", Err: &ExitError{Status: st.Status}}
		case StopEvent:
			switch st.Event {
			case unix.PTRACE_EVENT_CLONE, unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK:
				b.Attached = append(b.Attached, int(st.Msg))
				if c := t.tracees[int(st.Msg)]; c != nil && b.NewThreads && st.Event == unix.PTRACE_EVENT_CLONE {
					c.tgid = tr.tgid
				}
			}
		case StopSignal:
			var regs Regs
			if err := ptraceRegs(unix.PTRACE_GETREGS, b.Tid, &regs); err != nil {
				return &Error{Tid: b.Tid, Op: "PTRACE_GETREGS", Err: err}
			}
			if st.Signal == unix.SIGSTOP && regs.Rip == end {
				return t.endBatch(r)
			}
			if st.Signal != unix.SIGSTOP {
				// Everything else is blocked: a fault of the batch's own.
				// Discarded with the resume towards the boundary.
				_ = ptraceRegs(unix.PTRACE_SETREGS, b.Tid, &r.saved)
				tr.stop.Kind = StopSyscall
				if err := t.passStop(tr, &Stopped{}); err == nil {
					r.done = true
				}
				return &Error{Tid: b.Tid, Op: "run batch", Err: fmt.Errorf("the batch at %#x raised %v at %#x", b.Code, st.Signal, regs.Rip)}
			}
			sig = st.Signal // a SIGSTOP from elsewhere: job control, let it stop the thread
		}
		if err := ptraceNoPtr(unix.PTRACE_CONT, b.Tid, 0, uintptr(sig)); err != nil {
			return &Error{Tid: b.Tid, Op: "PTRACE_CONT", Err: err}
		}
		tr.stopped = false
	}
}

// endBatch reads a finished batch's results and puts the thread's registers
// and mask back. The thread stays where it is: in the signal-delivery-stop
// of its own SIGSTOP, inside get_signal() like an interrupt-stop, at the
// user-mode boundary. It is recorded as an interrupt-stop: every way this
// package resumes it from there (Inject, RunBatches, Cont with no signal,
// Detach) passes no signal, which discards the SIGSTOP, so no second
// wake-up is spent on bringing it to a real interrupt-stop.
func (t *Tracer) endBatch(r *running) error {
	b, tr := r.b, r.tr
	var table []byte
	var rerr error
	if !b.Deferred {
		table = make([]byte, BatchSize(len(b.Ops)))
		rerr = ReadMem(b.Tid, b.Table, table)
	}
	if err := ptraceRegs(unix.PTRACE_SETREGS, b.Tid, &r.saved); err != nil {
		return &Error{Tid: b.Tid, Op: "PTRACE_SETREGS (restore)", Err: err}
	}
	if f := b.Final; f != nil && len(f.XState) > 0 {
		if err := ptraceSetRegset(b.Tid, unix.NT_X86_XSTATE, f.XState); err != nil {
			return &Error{Tid: b.Tid, Op: fmt.Sprintf("PTRACE_SETREGSET NT_X86_XSTATE (the saved extended state of %d bytes: a CPU with another XSAVE layout?)", len(f.XState)), Err: err}
		}
	}
	if err := ptraceSigmask(unix.PTRACE_SETSIGMASK, b.Tid, &r.mask); err != nil {
		return &Error{Tid: b.Tid, Op: "PTRACE_SETSIGMASK (restore)", Err: err}
	}
	tr.stop = Stop{Kind: StopInterrupt, Status: tr.stop.Status}
	if b.Deferred {
		return nil
	}
	if rerr != nil {
		return &Error{Tid: b.Tid, Op: "read batch table", Err: rerr}
	}
	return b.SetResults(table)
}

// EncodeTable is the table of ops as the batch loop reads it (BatchSize
// bytes, the status block zero).
func EncodeTable(ops []Op) []byte {
	table := make([]byte, BatchSize(len(ops)))
	for i, o := range ops {
		e := table[16+64*i:]
		binary.LittleEndian.PutUint64(e, uint64(uint32(o.Nr))|uint64(o.Flags)<<32)
		for j, a := range o.Args {
			binary.LittleEndian.PutUint64(e[8+8*j:], a)
		}
	}
	return table
}

// SetResults reads a finished batch's table as the thread left it (Ran,
// Ret, Pending): endBatch's, or the caller's for a Deferred batch. A batch
// that met a pending SIGCONT is an error.
func (b *Batch) SetResults(table []byte) error {
	if len(table) < BatchSize(len(b.Ops)) {
		return &Error{Tid: b.Tid, Op: "read batch table", Err: fmt.Errorf("%d bytes, want %d", len(table), BatchSize(len(b.Ops)))}
	}
	le := binary.LittleEndian
	b.Ran = int(le.Uint64(table))
	b.Pending = Sigset(le.Uint64(table[8:]))
	if b.Ran > len(b.Ops) {
		return &Error{Tid: b.Tid, Op: "run batch", Err: fmt.Errorf("the batch says it ran %d entries of %d", b.Ran, len(b.Ops))}
	}
	b.Ret = make([]int64, b.Ran)
	for i := range b.Ret {
		b.Ret[i] = int64(le.Uint64(table[16+64*i+56:]))
	}
	if b.Pending&sigcont != 0 {
		return &Error{Tid: b.Tid, Op: "run batch", Err: fmt.Errorf("a SIGCONT was pending in the thread: the batch's closing SIGSTOP discarded it")}
	}
	return nil
}
