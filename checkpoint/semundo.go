package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/internal/sysvipc"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// SysV semaphore undo lists (docs/design.md, "IPC"). The kernel has no
// interface to read a process's undo list (struct sem_undo_list), but it
// applies one — every semaphore's value += its adjustment, clamped to
// [0, SEMVMX] — when the last task holding it drops it, and
// unshare(CLONE_SYSVSEM) drops it as exit would (kernel/fork.c,
// ksys_unshare → exit_sem). So, the app frozen, in a single-threaded
// process that made SEM_UNDO operations (the supervisor traps every one
// and records the sets, Request.SemUndo):
//
//  1. the sets' values are read (crrun's init, in the namespace); a set a
//     task waits on is refused (an update could complete its operation);
//  2. an injected semop per set checks, changing nothing, that every
//     adjustment is in [-16383, 16382] (semReachOps: the kernel fails a
//     SEM_UNDO operation that would take one out of [-32768, 32767]);
//     another, without SEM_UNDO, moves every value to semBias, where no
//     such adjustment clamps;
//  3. an injected unshare(CLONE_SYSVSEM) applies the list: the values
//     move by exactly the adjustments, which are read;
//  4. an injected semop(num, -adj, SEM_UNDO|IPC_NOWAIT) per adjusted
//     semaphore puts each value back to semBias and the adjustment into a
//     new list (op x: value += x, adjustment -= x);
//  5. an injected semop without SEM_UNDO puts the values back, and they are
//     read again and compared with step 1's.
//
// Threads share their process's list (CLONE_SYSVSEM, every pthread), and
// no call makes threads share a new one: a process with several threads
// has its list read without applying it instead (semUndoProbe). The
// restore makes the same list with step 4's semop (restore/semundo.go).

const (
	semVMX  = sysvipc.SemVMX
	semBias = 16384 // the value a checkpoint reads adjustments from
	// semReach: step 2a checks every adjustment is in
	// [semReach-32768, 32767-semReach] = [-16383, 16382], so that
	// semBias plus it stays in [1, SEMVMX-1], where nothing clamps.
	semReach = 16385
	semUndo  = 0x1000
	// semOpsPerCall stays under SEMOPM (kernel.sem's third field, 500
	// by default): the operations one semop may carry.
	semOpsPerCall = 250
)

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
	if len(d.tids) != 1 {
		return d.semUndoProbe(p, ids)
	}
	before, err := d.req.SemStates(ids)
	if err != nil {
		return fmt.Errorf("pid %d: read its semaphore sets %v: %w", p.PID, ids, err)
	}
	var sets []int
	for _, id := range ids {
		st, ok := before[id]
		if !ok {
			continue // removed: its entries in the list are stale and apply to nothing
		}
		if st.Waiters {
			return d.semRefusal(p.PID, "a task waits on semaphore set %d, where this process has SEM_UNDO adjustments: reading them would move values under the waiter (not supported yet)", id)
		}
		sets = append(sets, id)
	}
	if len(sets) == 0 {
		return nil
	}
	// Step 2a: no adjustment may clamp once the values are at semBias.
	// One semop per chunk checks it without changing anything: per
	// semaphore, the value to 0 (no SEM_UNDO), +semReach and -semReach
	// with SEM_UNDO (the kernel fails with ERANGE when an adjustment
	// would leave [-32768, 32767]: a >= semReach-32768), then the same
	// from semReach down (a <= 32767-semReach), and the value back.
	for _, id := range sets {
		// A semaphore's operations stay in one call (each call changes
		// nothing, or fails having done nothing).
		var ops [][3]int
		var err error
		for i, v := range before[id].Values {
			r := semReachOps(i, int(v))
			if len(ops)+len(r) > semOpsPerCall {
				if err = d.semop(id, ops); err != nil {
					break
				}
				ops = nil
			}
			ops = append(ops, r...)
		}
		if err == nil {
			err = d.semop(id, ops)
		}
		if err != nil {
			if errors.Is(err, unix.ERANGE) {
				return d.semRefusal(p.PID, "a SEM_UNDO adjustment in semaphore set %d is outside [%d, %d]: too large to read (not supported yet)", id, semReach-semVMX-1, semVMX-semReach)
			}
			return err
		}
	}
	// Step 2b: every value to semBias.
	for _, id := range sets {
		var ops [][3]int
		for i, v := range before[id].Values {
			if int(v) != semBias {
				ops = append(ops, [3]int{i, semBias - int(v), unix.IPC_NOWAIT})
			}
		}
		if err := d.semop(id, ops); err != nil {
			return err
		}
	}
	// Step 3: apply the list. From here on a failure leaves the app
	// without its adjustments: say so.
	lost := func(err error) error {
		slog.Error("checkpoint: the app's SEM_UNDO adjustments may be lost", "pid", p.PID, "err", err)
		return fmt.Errorf("pid %d: SEM_UNDO adjustments of semaphore sets %v may be lost: %w", p.PID, sets, err)
	}
	if _, err := d.inject("unshare(CLONE_SYSVSEM)", unix.SYS_UNSHARE, unix.CLONE_SYSVSEM); err != nil {
		for _, id := range sets {
			var ops [][3]int
			for i, v := range before[id].Values {
				if int(v) != semBias {
					ops = append(ops, [3]int{i, int(v) - semBias, unix.IPC_NOWAIT})
				}
			}
			_ = d.semop(id, ops)
		}
		return err
	}
	applied, err := d.req.SemStates(sets)
	if err != nil {
		return lost(err)
	}
	for _, id := range sets {
		st, ok := applied[id]
		if !ok || len(st.Values) != len(before[id].Values) {
			return lost(fmt.Errorf("semaphore set %d changed while the app was frozen", id))
		}
		var ops [][3]int
		for i, v := range st.Values {
			if v == 0 || v == semVMX {
				// Clamped by the kernel: step 2a rules it out.
				return lost(fmt.Errorf("semaphore %d of set %d is %d once the undo list is applied: its adjustment is out of reach", i, id, v))
			}
			if adj := int(v) - semBias; adj != 0 {
				p.SemUndo = append(p.SemUndo, image.SemAdj{SemID: id, Num: i, Adj: adj})
				ops = append(ops, [3]int{i, -adj, semUndo | unix.IPC_NOWAIT})
			}
		}
		// Step 4: the same list again.
		if err := d.semop(id, ops); err != nil {
			return lost(err)
		}
	}
	// Step 5: the values as they were.
	for _, id := range sets {
		var ops [][3]int
		for i, v := range before[id].Values {
			if int(v) != semBias {
				ops = append(ops, [3]int{i, int(v) - semBias, unix.IPC_NOWAIT})
			}
		}
		if err := d.semop(id, ops); err != nil {
			return lost(err)
		}
	}
	after, err := d.req.SemStates(sets)
	if err != nil {
		return lost(err)
	}
	for _, id := range sets {
		if !slices.Equal(after[id].Values, before[id].Values) {
			return lost(fmt.Errorf("semaphore set %d: values %v after reading the adjustments, %v before", id, after[id].Values, before[id].Values))
		}
	}
	if len(p.SemUndo) > 0 {
		d.w.RequireFeature("sem-undo")
	}
	return nil
}

// semReachOps are step 2a's operations for semaphore i at value v: they
// change nothing, and fail with ERANGE when the adjustment is outside
// [semReach-32768, 32767-semReach].
func semReachOps(i, v int) [][3]int {
	return append(sysvipc.SemSweep(i, v, semReach), sysvipc.SemSweep(i, v, -semReach)...)
}

// semUndoProbe saves the undo list of a process with several threads,
// which share it (CLONE_SYSVSEM): applying it would take every thread's
// unshare, and nothing makes threads share a list again. It is read
// instead without changing it, through the kernel's range check (a SEM_UNDO
// operation that would take an adjustment out of [-32768, 32767] fails
// with ERANGE having done nothing; sysvipc.SemSweep): per set, one call
// per chunk asks whether each adjustment is 0; each one that is not is
// bounded by doubling steps from 0 and bisected (2·log2|a|+2 calls: 2 for
// ±1). Then each other thread is checked
// to share the list: the main thread adds 1 (or -1) to one adjustment,
// each thread reads it back (sysvipc.SemIsOps), the main thread takes it
// away. A thread cloned without CLONE_SYSVSEM has a list of its own, or
// none: refused, naming it (a restore makes every thread share one).
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
				lo, hi = -semVMX-1, -1 // not 0: the check above said so
				for k := -1; k >= -semVMX-1; k *= 2 {
					ok, err := ge(k)
					if err != nil {
						return err
					}
					if ok {
						lo = k
						break
					}
					hi = k - 1
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
	if mark != nil {
		if err := d.semShared(p, mark, int(states[mark.SemID].Values[0])); err != nil {
			return err
		}
	}
	for _, a := range p.SemUndo {
		if a.Adj < semReach-semVMX-1 || a.Adj > semVMX-semReach {
			return d.semRefusal(p.PID, "the SEM_UNDO adjustment of semaphore %d of set %d is %d, outside [%d, %d] (not supported yet)", a.Num, a.SemID, a.Adj, semReach-semVMX-1, semVMX-semReach)
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
	if mark.Adj >= semVMX-semReach {
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
	buf := sysvipc.Sembufs(ops)
	addr := d.scratch + ptrace.ScratchDataOffset
	if err := ptrace.WriteMem(d.pid, addr, buf); err != nil {
		return fmt.Errorf("pid %d: write sembufs: %w", d.pid, err)
	}
	if _, err := d.tr.Inject(tid, unix.SYS_SEMOP, uint64(id), uint64(addr), uint64(len(ops))); err != nil {
		return fmt.Errorf("pid %d: injected semop(%d) in thread %d: %w", d.pid, id, tid, err)
	}
	return nil
}

// semop injects semop(id, ops) in the process, semOpsPerCall operations
// at a time; ops are (sem_num, sem_op, sem_flg).
func (d *dumper) semop(id int, ops [][3]int) error {
	for len(ops) > 0 {
		n := min(len(ops), semOpsPerCall)
		buf := sysvipc.Sembufs(ops[:n])
		addr := d.scratch + ptrace.ScratchDataOffset
		if err := ptrace.WriteMem(d.pid, addr, buf); err != nil {
			return fmt.Errorf("pid %d: write sembufs: %w", d.pid, err)
		}
		if _, err := d.inject(fmt.Sprintf("semop(%d, %v)", id, ops[:n]), unix.SYS_SEMOP, uint64(id), uint64(addr), uint64(n)); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}
