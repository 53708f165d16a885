package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/internal/sysvipc"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// SysV semaphore undo lists (docs/design.md, "SEM_UNDO"). The kernel has no
// interface to read a process's undo list (struct sem_undo_list), but its
// range check reads it without changing it: a semop with SEM_UNDO that
// would take an adjustment out of [-32768, 32767] fails with ERANGE having
// done nothing, and one that stays in range can be undone in the same
// call, the value kept as it was by operations without SEM_UNDO
// (sysvipc.SemSweep: "is the adjustment at least k?"). So, the app frozen,
// in each process the supervisor saw make SEM_UNDO operations (every semop
// traps; Request.SemUndo), injected in its main thread: per set, one semop
// per chunk of semaphores asks whether every adjustment is 0; each one
// that is not (or shares a chunk with one that is not) is bounded by
// doubling steps away from 0 and bisected (about 2·log2|a|+2 calls).
// Nothing moves: no value, no adjustment, no waiter (a blocked task
// stopped by ptrace has left the wait queue anyway). Threads share their
// process's list (CLONE_SYSVSEM, every pthread): each other thread is
// checked to see the main thread's (semShared); no other process may
// (semShareCheck). The restore makes the same list (restore/semundo.go).
//
// (Applying the list by an injected unshare(CLONE_SYSVSEM), as exit would,
// and reading the values' movement also works for a single-threaded
// process, but clamps values at 0 and SEMVMX, applies nothing when another
// task holds the list, and cannot be undone for threads: not used.)

const (
	semVMX  = sysvipc.SemVMX
	semUndo = sysvipc.SemUndo
	// semOpsPerCall stays under SEMOPM (kernel.sem's third field, 500
	// by default): the operations one semop may carry.
	semOpsPerCall = 250
)

// probingTID is the thread of the app an injected semop of the checkpoint's
// runs in (InjectingSemop); 0: none.
var probingTID atomic.Int64

// InjectingSemop says whether a semop trapped in thread tid is the
// checkpoint's own, reading an undo list without changing it: not to be
// recorded as the app's SEM_UNDO operation (supervisor/semundo.go).
func InjectingSemop(tid int) bool { return tid != 0 && probingTID.Load() == int64(tid) }

// SemStatesFunc reads semaphore sets of the app's IPC namespace.
type SemStatesFunc func(ids []int) (map[int]sysvipc.SemState, error)

// semRefusal is a NOCR finding about process d.pid's undo list.
func (d *dumper) semRefusal(nspid int, format string, a ...any) error {
	return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: nspid, Kind: "sem_undo", Fd: -1,
		Reason: fmt.Sprintf("CR: process %d: ", nspid) + fmt.Sprintf(format, a...)}}}
}

// semUndo saves the process's undo list into p.SemUndo (see above).
func (d *dumper) semUndo(p *image.Process) error {
	if d.req.SemUndo == nil || d.req.SemStates == nil {
		return nil
	}
	ids := d.req.SemUndo(d.pid)
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return d.semUndoProbe(p, ids)
}

// semUndoProbe reads the list (see above) from the main thread.
func (d *dumper) semUndoProbe(p *image.Process, ids []int) error {
	states, err := d.req.SemStates(ids)
	if err != nil {
		return fmt.Errorf("pid %d: read its semaphore sets %v: %w", p.PID, ids, err)
	}
	var mark *image.SemAdj // the semaphore the sharing check moves
	for _, id := range ids {
		st, ok := states[id]
		if !ok {
			continue // removed: stale entries apply to nothing
		}
		var unknown []int
		var ops [][3]int
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			err := d.semopIn(d.pid, id, ops)
			ops = nil
			return err
		}
		// All zero? Chunks of whole semaphores; a chunk that fails is
		// asked semaphore by semaphore.
		var chunk []int
		check := func() error {
			if len(chunk) == 0 {
				return nil
			}
			err := flush()
			if errors.Is(err, unix.ERANGE) {
				unknown = append(unknown, chunk...)
				err = nil
			}
			chunk = nil
			return err
		}
		for i, v := range st.Values {
			r := sysvipc.SemIsOps(i, int(v), 0)
			if len(ops)+len(r) > semOpsPerCall {
				if err := check(); err != nil {
					return err
				}
			}
			ops = append(ops, r...)
			chunk = append(chunk, i)
		}
		if err := check(); err != nil {
			return err
		}
		for _, i := range unknown {
			v := int(st.Values[i])
			// a >= k? (k+32768 SEM_UNDO units fit iff it is.)
			ge := func(k int) (bool, error) {
				err := d.semopIn(d.pid, id, sysvipc.SemSweep(i, v, k+semVMX+1))
				if errors.Is(err, unix.ERANGE) {
					return false, nil
				}
				return err == nil, err
			}
			// a is in [lo, hi]: bounded by doubling steps away from 0
			// (adjustments are mostly small), then bisected.
			var lo, hi int
			pos, err := ge(1)
			if err != nil {
				return err
			}
			if pos {
				lo, hi = 1, semVMX
				for k := 2; k <= semVMX; k *= 2 {
					ok, err := ge(k)
					if err != nil {
						return err
					}
					if !ok {
						hi = k - 1
						break
					}
					lo = k
				}
			} else {
				// 0 too: a chunk fails for any one of its semaphores.
				lo, hi = -semVMX-1, 0
				for k := 0; k >= -semVMX-1; {
					ok, err := ge(k)
					if err != nil {
						return err
					}
					if ok {
						lo = k
						break
					}
					hi = k - 1
					if k == 0 {
						k = -1
					} else {
						k *= 2
					}
				}
			}
			for lo < hi {
				k := lo + (hi-lo+1)/2
				ok, err := ge(k)
				if err != nil {
					return err
				}
				if ok {
					lo = k
				} else {
					hi = k - 1
				}
			}
			if lo != 0 {
				p.SemUndo = append(p.SemUndo, image.SemAdj{SemID: id, Num: i, Adj: lo})
			}
		}
		if mark == nil && len(st.Values) > 0 {
			a := 0
			for _, x := range p.SemUndo {
				if x.SemID == id && x.Num == 0 {
					a = x.Adj
				}
			}
			mark = &image.SemAdj{SemID: id, Num: 0, Adj: a}
		}
	}
	if mark != nil && len(d.tids) > 1 {
		if err := d.semShared(p, mark, int(states[mark.SemID].Values[0])); err != nil {
			return err
		}
	}
	if len(p.SemUndo) > 0 {
		d.w.RequireFeature("sem-undo")
	}
	return nil
}

// semShared checks that every thread of the process shares the main
// thread's undo list (see semUndoProbe): the main thread moves mark's
// adjustment by one, each other thread must see it, and it is moved back.
func (d *dumper) semShared(p *image.Process, mark *image.SemAdj, v int) error {
	delta := 1
	if mark.Adj == semVMX {
		delta = -1
	}
	// Adjustment += delta, value unchanged: {delta without SEM_UNDO,
	// -delta with}, the one going up first where there is room.
	move := func(delta int) [][3]int {
		up, down := [3]int{0, delta, unix.IPC_NOWAIT}, [3]int{0, -delta, semUndo | unix.IPC_NOWAIT}
		if delta < 0 {
			up, down = down, up
		}
		if v+1 > semVMX {
			return [][3]int{down, up}
		}
		return [][3]int{up, down}
	}
	if err := d.semopIn(d.pid, mark.SemID, move(delta)); err != nil {
		return err
	}
	var alone []int
	for _, tid := range d.tids {
		if tid == d.pid {
			continue
		}
		err := d.semopIn(tid, mark.SemID, sysvipc.SemIsOps(0, v, mark.Adj+delta))
		if errors.Is(err, unix.ERANGE) {
			alone = append(alone, tid)
			continue
		}
		if err != nil {
			_ = d.semopIn(d.pid, mark.SemID, move(-delta))
			return err
		}
	}
	if err := d.semopIn(d.pid, mark.SemID, move(-delta)); err != nil {
		return fmt.Errorf("pid %d: SEM_UNDO adjustment of semaphore 0 of set %d may be off by %d: %w", p.PID, mark.SemID, delta, err)
	}
	if len(alone) > 0 {
		var ns []int
		for _, tid := range alone {
			n, err := d.ns(tid)
			if err != nil {
				n = tid
			}
			ns = append(ns, n)
		}
		return d.semRefusal(p.PID, "threads %v do not share the process's SEM_UNDO list (cloned without CLONE_SYSVSEM): a restore would make them share it (not supported yet)", ns)
	}
	return nil
}

// semopIn injects one semop(id, ops) in thread tid of the process.
func (d *dumper) semopIn(tid, id int, ops [][3]int) error {
	if len(ops) == 0 {
		return nil // nothing to do (a semop of none is EINVAL)
	}
	buf := sysvipc.Sembufs(ops)
	addr := d.scratch + ptrace.ScratchDataOffset
	if err := ptrace.WriteMem(d.pid, addr, buf); err != nil {
		return fmt.Errorf("pid %d: write sembufs: %w", d.pid, err)
	}
	probingTID.Store(int64(tid))
	_, err := d.tr.Inject(tid, unix.SYS_SEMOP, uint64(id), uint64(addr), uint64(len(ops)))
	probingTID.Store(0)
	if err != nil {
		return fmt.Errorf("pid %d: injected semop(%d) in thread %d: %w", d.pid, id, tid, err)
	}
	return nil
}

// semShareCheck refuses a process of the app that shares another's undo
// list (made by clone3 with CLONE_SYSVSEM without CLONE_THREAD, which no
// trap sees: clone3's flags are in memory): a restore gives each process
// its own list. The tree is saved, every scratch page gone. For each
// process with a list (the record), the adjustment of semaphore 0 of one of
// its sets is pushed to SEMVMX through it (value unchanged: SemShift),
// each other process asks whether its own is below SEMVMX (SemSweep of -1:
// ERANGE if not), and the adjustment is put back. A process that shares
// the list sees SEMVMX. (One whose own adjustment is SEMVMX is refused
// too: it cannot be told apart.)
func (t *tree) semShareCheck(ft *frozenTree) error {
	if t.req.SemUndo == nil || t.req.SemStates == nil {
		return nil
	}
	live := ft.live()
	if len(live) < 2 {
		return nil
	}
	for _, pid := range live {
		ids := t.req.SemUndo(pid)
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		states, err := t.req.SemStates(ids[:1])
		if err != nil {
			return fmt.Errorf("read semaphore set %d: %w", ids[0], err)
		}
		st, ok := states[ids[0]]
		if !ok || len(st.Values) == 0 {
			continue // removed
		}
		id, v, a := ids[0], int(st.Values[0]), 0
		p := t.procs[pid]
		for _, x := range p.SemUndo {
			if x.SemID == id && x.Num == 0 {
				a = x.Adj
			}
		}
		if err := t.semopScratch(pid, id, sysvipc.SemShift(0, v, a-semVMX)); err != nil {
			return err
		}
		var shared []int
		var probeErr error
		for _, q := range live {
			if q == pid {
				continue
			}
			err := t.semopScratch(q, id, sysvipc.SemSweep(0, v, -1))
			if errors.Is(err, unix.ERANGE) {
				if n, e := t.ns(q); e == nil {
					shared = append(shared, n)
				} else {
					shared = append(shared, q)
				}
				continue
			}
			if err != nil {
				// A process without access to the set, or whose own
				// seccomp filter forbids semop: it cannot be asked.
				n, e := t.ns(q)
				if e != nil {
					n = q
				}
				probeErr = &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: p.PID, Kind: "sem_undo", Fd: -1,
					Reason: fmt.Sprintf("CR: process %d: whether process %d shares its SEM_UNDO list cannot be asked (%v) (not supported yet)", p.PID, n, err)}}}
				break
			}
		}
		if err := t.semopScratch(pid, id, sysvipc.SemShift(0, v, semVMX-a)); err != nil {
			return fmt.Errorf("pid %d: SEM_UNDO adjustment of semaphore 0 of set %d may be off by %d: %w", p.PID, id, semVMX-a, err)
		}
		if probeErr != nil {
			return probeErr
		}
		if len(shared) > 0 {
			return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: p.PID, Kind: "sem_undo", Fd: -1,
				Reason: fmt.Sprintf("CR: process %d: processes %v share its SEM_UNDO list (clone3 with CLONE_SYSVSEM without CLONE_THREAD; or have an adjustment of 32767 on semaphore 0 of set %d): a restore would give each its own (not supported yet)", p.PID, shared, id)}}}
		}
	}
	return nil
}

// semopScratch injects semop(id, ops) in process pid through a scratch
// page mapped for it and unmapped at once.
func (t *tree) semopScratch(pid, id int, ops [][3]int) error {
	if len(ops) == 0 {
		return nil
	}
	t.mutated = true // inventory.go
	addr, err := t.tr.MapScratch(pid)
	if err != nil {
		return fmt.Errorf("map a scratch page into pid %d: %w", pid, err)
	}
	defer func() {
		if _, err := t.tr.Inject(pid, unix.SYS_MUNMAP, uint64(addr), ptrace.ScratchSize); err != nil {
			slog.Warn("unmap the scratch page", "pid", pid, "err", err)
		}
		t.tr.ForgetSyscallInsn(pid)
	}()
	buf := sysvipc.Sembufs(ops)
	a := addr + ptrace.ScratchDataOffset
	if err := ptrace.WriteMem(pid, a, buf); err != nil {
		return fmt.Errorf("pid %d: write sembufs: %w", pid, err)
	}
	probingTID.Store(int64(pid))
	_, err = t.tr.Inject(pid, unix.SYS_SEMOP, uint64(id), uint64(a), uint64(len(ops)))
	probingTID.Store(0)
	if err != nil {
		return fmt.Errorf("pid %d: injected semop(%d): %w", pid, id, err)
	}
	return nil
}
