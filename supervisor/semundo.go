package supervisor

import (
	"slices"
	"sync"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/restore"
)

// semUndoRecord remembers which processes made a semop with SEM_UNDO, and
// on which semaphore sets: the kernel's undo list has no interface that
// says whether a process has one, so the checkpoint reads the lists of
// these processes alone (checkpoint/semundo.go). Every such semop traps
// (seccomp table, semop/semtimedop), so the app cannot escape the record.
// A process is known by its pid and start time (a reused pid is another
// process, whose list, if any, was recorded under its own start time);
// a fork does not inherit the list, and exec keeps it.
type semUndoRecord struct {
	mu sync.Mutex
	m  map[int]*semUndoProc // by host pid
}

type semUndoProc struct {
	start uint64
	sets  map[int]bool
}

func startTime(pid int) (uint64, bool) {
	st, err := procfs.Stat(pid)
	if err != nil {
		return 0, false
	}
	return st.StartTime, true
}

// add records that process pid made a SEM_UNDO operation on set semid.
func (r *semUndoRecord) add(pid, semid int) {
	start, ok := startTime(pid)
	if !ok {
		return // gone: its list went with it
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[int]*semUndoProc{}
	}
	p := r.m[pid]
	if p == nil || p.start != start {
		p = &semUndoProc{start: start, sets: map[int]bool{}}
		r.m[pid] = p
	}
	p.sets[semid] = true
}

// sets returns the sets process pid made SEM_UNDO operations on, nil if
// none (or if the pid is another process's now).
func (r *semUndoRecord) sets(pid int) []int {
	r.mu.Lock()
	p := r.m[pid]
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	if start, ok := startTime(pid); !ok || start != p.start {
		r.mu.Lock()
		if r.m[pid] == p {
			delete(r.m, pid)
		}
		r.mu.Unlock()
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int
	for id := range p.sets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// restored records the restored processes that got an undo list back
// (restore/semundo.go), as if their SEM_UNDO operations had been seen.
func (r *semUndoRecord) restored(procs []*image.Process, res *restore.TreeResult) {
	host := map[int]int{}
	for _, p := range res.Procs {
		host[p.PID] = p.Pid
	}
	for _, p := range procs {
		for _, a := range p.SemUndo {
			if h, ok := host[p.PID]; ok {
				r.add(h, a.SemID)
			}
		}
	}
}
