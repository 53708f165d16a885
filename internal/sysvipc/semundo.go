package sysvipc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// semctl commands (include/uapi/linux/sem.h).
const (
	semGetNcnt = 14
	semGetZcnt = 15
)

// SemState is one semaphore set as a checkpoint reading undo adjustments
// needs it (checkpoint/semundo.go): its values, and whether any task waits
// on it (semncnt or semzcnt: raising or lowering a value could complete a
// waiter's operation in the kernel).
type SemState struct {
	Values  []uint16 `json:"values"`
	Waiters bool     `json:"waiters,omitempty"`
}

// SemStates reads the sets ids of the caller's IPC namespace; a set that
// no longer exists is left out.
func SemStates(ids []int) (map[int]SemState, error) {
	rows, err := table("sem")
	if err != nil {
		return nil, err
	}
	nsems := map[int]int{}
	for _, row := range rows {
		id, err := num(row, "semid")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/sem: %w", err)
		}
		n, err := num(row, "nsems")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/sem: %w", err)
		}
		nsems[int(id)] = int(n)
	}
	out := map[int]SemState{}
	for _, id := range ids {
		n, ok := nsems[id]
		if !ok || n == 0 {
			continue
		}
		st := SemState{Values: make([]uint16, n)}
		if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, semGetAll, uintptr(unsafe.Pointer(&st.Values[0])), 0, 0); e != 0 {
			if e == unix.EINVAL || e == unix.EIDRM {
				continue // removed meanwhile
			}
			return nil, fmt.Errorf("semctl(%d, GETALL): %w", id, e)
		}
		for i := 0; i < n && !st.Waiters; i++ {
			for _, cmd := range []uintptr{semGetNcnt, semGetZcnt} {
				c, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(i), cmd, 0, 0, 0)
				if e != 0 {
					return nil, fmt.Errorf("semctl(%d, %d, GETNCNT/GETZCNT): %w", id, i, e)
				}
				if c != 0 {
					st.Waiters = true
				}
			}
		}
		out[id] = st
	}
	return out, nil
}

// SEMVMX, a semaphore's largest value; an undo adjustment is kept in
// [-(SEMVMX+1), SEMVMX] (SEMAEM), and a semop with SEM_UNDO that would take
// one out of it fails with ERANGE, doing nothing.
const (
	SemVMX  = 32767
	SemUndo = 0x1000
)

// SemSweep returns operations (sem_num, sem_op, sem_flg) on semaphore num,
// whose value is v, for one semop call that changes nothing when it
// succeeds: SEM_UNDO operations adding up to x, with operations without
// SEM_UNDO between them to keep the value in [0, SEMVMX], then the same
// back. The call fails with ERANGE, having done nothing, when the
// adjustment a would leave its range on the way: for x > 0 it succeeds iff
// a-x >= -(SEMVMX+1), for x < 0 iff a-x <= SEMVMX. So a process reads
// whether its adjustment is at least or at most a value without changing
// it (checkpoint/semundo.go, restore/semundo.go). Every operation carries
// IPC_NOWAIT; none is 0 (which would wait for zero).
func SemSweep(num, v, x int) [][3]int {
	var ops [][3]int
	add := func(op, flg int) {
		if op != 0 {
			ops = append(ops, [3]int{num, op, flg | unix.IPC_NOWAIT})
		}
	}
	sign, base := 1, 0 // up from 0
	if x < 0 {
		sign, base = -1, SemVMX // down from SEMVMX
	}
	var steps []int
	for rem := x * sign; rem > 0; {
		s := min(rem, SemVMX)
		steps = append(steps, s)
		rem -= s
	}
	add(base-v, 0)
	for i, s := range steps {
		if i > 0 {
			add(-sign*steps[i-1], 0)
		}
		add(sign*s, SemUndo)
	}
	for i := len(steps) - 1; i >= 0; i-- {
		add(-sign*steps[i], SemUndo)
		if i > 0 {
			add(sign*steps[i-1], 0)
		}
	}
	add(v-base, 0)
	return ops
}

// SemShift returns operations for one semop call that adds -x to the
// caller's adjustment of semaphore num (SEM_UNDO operations adding up to
// x) and leaves its value v as it is: operations without SEM_UNDO keep the
// value in [0, SEMVMX] between them. It fails with ERANGE, doing nothing,
// if the adjustment would leave its range.
func SemShift(num, v, x int) [][3]int {
	var ops [][3]int
	add := func(op, flg int) {
		if op != 0 {
			ops = append(ops, [3]int{num, op, flg | unix.IPC_NOWAIT})
		}
	}
	sign, base := 1, 0
	if x < 0 {
		sign, base = -1, SemVMX
	}
	add(base-v, 0)
	for rem := x * sign; rem > 0; {
		s := min(rem, SemVMX)
		add(sign*s, SemUndo)
		add(-sign*s, 0)
		rem -= s
	}
	add(v-base, 0)
	return ops
}

// SemIsOps are the operations of one semop that succeeds, changing
// nothing, iff the caller's adjustment of semaphore num (value v) is
// exactly adj, and fails with ERANGE otherwise: a >= adj and a <= adj.
func SemIsOps(num, v, adj int) [][3]int {
	return append(SemSweep(num, v, adj+SemVMX+1), SemSweep(num, v, adj-SemVMX)...)
}

// Sembufs encodes operations as struct sembuf { u16 sem_num; s16 sem_op;
// s16 sem_flg; }.
func Sembufs(ops [][3]int) []byte {
	b := make([]byte, 6*len(ops))
	for i, op := range ops {
		b[6*i], b[6*i+1] = byte(op[0]), byte(op[0]>>8)
		o := uint16(int16(op[1]))
		b[6*i+2], b[6*i+3] = byte(o), byte(o>>8)
		b[6*i+4], b[6*i+5] = byte(op[2]), byte(op[2]>>8)
	}
	return b
}
