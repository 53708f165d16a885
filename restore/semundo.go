package restore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/crrun/crrun/internal/sysvipc"

	"golang.org/x/sys/unix"
)

// semUndo rebuilds the process's SysV semaphore undo list (image
// Process.SemUndo; checkpoint/semundo.go reads it): per adjustment a, one
// injected semop whose SEM_UNDO operations add up to -a (an operation x
// with SEM_UNDO changes the adjustment by -x) while operations without it
// keep the value as the image has it (crrun's init set it):
// sysvipc.SemShift; atomic, IPC_NOWAIT. Every such call leaves the values
// as they are, so the processes' order does not matter, and the verifier's
// comparison of the values (verifyIPC) checks them all. The process's
// threads share the list (cloned with CLONE_SYSVSEM, threads.go).
func (r *restorer) semUndo() error {
	if len(r.p.SemUndo) == 0 {
		return nil
	}
	values := map[int][]uint16{}
	if ipc := r.t.req.Image.Meta().IPC; ipc != nil {
		for _, s := range ipc.Sem {
			values[s.ID] = s.Values
		}
	}
	broken := os.Getenv(TestBreakEnv) == "semundo"
	for i, a := range r.p.SemUndo {
		if broken && i == 0 {
			// A test's: the first adjustment made twice as large, which
			// the read-back below must refuse.
			slog.Warn("restore: " + TestBreakEnv + "=semundo: doubling a SEM_UNDO adjustment, for a test")
			a.Adj *= 2
		}
		vals, ok := values[a.SemID]
		if !ok || a.Num < 0 || a.Num >= len(vals) {
			return fmt.Errorf("SEM_UNDO adjustment of semaphore %d of set %d: no such semaphore in the image", a.Num, a.SemID)
		}
		if a.Adj == 0 || a.Adj < -sysvipc.SemVMX-1 || a.Adj > sysvipc.SemVMX {
			return fmt.Errorf("SEM_UNDO adjustment %d of semaphore %d of set %d: out of range", a.Adj, a.Num, a.SemID)
		}
		ops := sysvipc.SemShift(a.Num, int(vals[a.Num]), -a.Adj)
		if err := r.semop(a.SemID, fmt.Sprintf("semop(%d, adjustment %d of semaphore %d)", a.SemID, a.Adj, a.Num), ops); err != nil {
			return err
		}
	}
	// Read back: one semop per adjustment that succeeds, changing
	// nothing, iff the adjustment is exactly the image's (ERANGE
	// otherwise: sysvipc.SemIsOps).
	for _, a := range r.p.SemUndo {
		v := int(values[a.SemID][a.Num])
		if err := r.semop(a.SemID, "semop(read back)", sysvipc.SemIsOps(a.Num, v, a.Adj)); err != nil {
			if errors.Is(err, unix.ERANGE) {
				return fmt.Errorf("verify: the SEM_UNDO adjustment of semaphore %d of set %d is not %d as in the image", a.Num, a.SemID, a.Adj)
			}
			return err
		}
		// Every thread shares it (cloned with CLONE_SYSVSEM).
		for _, tid := range r.tids {
			if tid == r.pid {
				continue
			}
			if err := r.semopIn(tid, a.SemID, "semop(read back)", sysvipc.SemIsOps(a.Num, v, a.Adj)); err != nil {
				if errors.Is(err, unix.ERANGE) {
					return fmt.Errorf("verify: thread %d does not share the process's SEM_UNDO list (semaphore %d of set %d)", tid, a.Num, a.SemID)
				}
				return err
			}
		}
	}
	return nil
}

// semop injects semop(id, ops) in the process's main thread.
func (r *restorer) semop(id int, name string, ops [][3]int) error {
	return r.semopIn(r.pid, id, name, ops)
}

// semopIn injects semop(id, ops) in thread tid of the process.
func (r *restorer) semopIn(tid, id int, name string, ops [][3]int) error {
	r.reset()
	addr, err := r.put(sysvipc.Sembufs(ops))
	if err != nil {
		return err
	}
	_, err = r.inj(tid, name, unix.SYS_SEMOP, uint64(id), addr, uint64(len(ops)))
	return err
}
