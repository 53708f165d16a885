package sysvipc

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel facts the undo-list code stands on, checked on this kernel
// with a set of the test's own (its process's undo list: every Go thread
// shares it, CLONE_SYSVSEM): SemIsOps succeeds, changing nothing, iff the
// adjustment is exactly the one asked, and fails with ERANGE otherwise;
// SemSweep's reach; unshare(CLONE_SYSVSEM) applies the list (checkpoint/
// semundo.go's reading) only in a process whose every thread drops it.
func TestSemUndoProbes(t *testing.T) {
	id, _, e := unix.Syscall(unix.SYS_SEMGET, 0 /* IPC_PRIVATE */, 3, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Skipf("semget: %v (no SysV IPC)", e)
	}
	defer unix.Syscall6(unix.SYS_SEMCTL, id, 0, ipcRMID, 0, 0, 0)
	semop := func(ops [][3]int) error {
		b := Sembufs(ops)
		_, _, e := unix.Syscall(unix.SYS_SEMOP, id, uintptr(unsafe.Pointer(&b[0])), uintptr(len(ops)))
		if e != 0 {
			return e
		}
		return nil
	}
	values := func() []uint16 {
		v := make([]uint16, 3)
		if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, id, 0, semGetAll, uintptr(unsafe.Pointer(&v[0])), 0, 0); e != 0 {
			t.Fatal(e)
		}
		return v
	}
	// Values 5, 7, 32000; adjustments -5 (+5 with SEM_UNDO), +3, 0.
	if err := semop([][3]int{{0, 5, SemUndo}, {1, 10, 0}, {1, -3, SemUndo}, {2, 32000, 0}}); err != nil {
		t.Fatal(err)
	}
	want := []uint16{5, 7, 32000}
	adj := []int{-5, 3, 0}
	for num := 0; num < 3; num++ {
		v := int(want[num])
		for _, guess := range []int{adj[num] - 1, adj[num], adj[num] + 1, 16000, -16000} {
			err := semop(SemIsOps(num, v, guess))
			if guess == adj[num] && err != nil {
				t.Errorf("semaphore %d: SemIsOps(%d) = %v, want success", num, guess, err)
			}
			if guess != adj[num] && !errors.Is(err, unix.ERANGE) {
				t.Errorf("semaphore %d (adjustment %d): SemIsOps(%d) = %v, want ERANGE", num, adj[num], guess, err)
			}
			if got := values(); got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
				t.Fatalf("values %v after SemIsOps, want %v", got, want)
			}
		}
		// The reach check a checkpoint makes: in range.
		if err := semop(append(SemSweep(num, v, 16385), SemSweep(num, v, -16385)...)); err != nil {
			t.Errorf("semaphore %d: reach check: %v", num, err)
		}
	}
	// Out of reach: an adjustment of -20000.
	if err := semop([][3]int{{0, -5, SemUndo}, {0, 20000, SemUndo}}); err != nil {
		t.Fatal(err)
	}
	if err := semop(SemSweep(0, 20000, 16385)); !errors.Is(err, unix.ERANGE) {
		t.Errorf("reach check of -20000: %v, want ERANGE", err)
	}
	if err := semop(SemIsOps(0, 20000, -20000)); err != nil {
		t.Errorf("SemIsOps(-20000): %v", err)
	}
	if got := values(); got[0] != 20000 {
		t.Errorf("value %d, want 20000", got[0])
	}
	// SemShift: any adjustment, the value unchanged (semaphore 2 at
	// 32000: there is room below only).
	for _, a := range []int{-20000, 20000, 1, -32768, 32767} {
		if err := semop(SemShift(2, 32000, -a)); err != nil {
			t.Fatalf("SemShift to %d: %v", a, err)
		}
		if err := semop(SemIsOps(2, 32000, a)); err != nil {
			t.Errorf("SemIsOps(%d) after SemShift: %v", a, err)
		}
		if got := values(); got[2] != 32000 {
			t.Fatalf("value %d after SemShift, want 32000", got[2])
		}
		if err := semop(SemShift(2, 32000, a)); err != nil {
			t.Fatalf("SemShift back from %d: %v", a, err)
		}
	}
	if err := semop(SemShift(2, 32000, 32768)); err != nil {
		t.Fatal(err)
	}
	if err := semop(SemShift(2, 32000, 1)); !errors.Is(err, unix.ERANGE) {
		t.Errorf("SemShift beyond -32768: %v, want ERANGE", err)
	}
	if err := semop(SemShift(2, 32000, -32768)); err != nil {
		t.Fatal(err)
	}
	// Undo what this test made: the process's list applies at its exit.
	if err := semop([][3]int{{0, -20000, SemUndo}, {1, 3, SemUndo}}); err != nil {
		t.Fatal(err)
	}
	if err := semop(SemIsOps(0, 0, 0)); err != nil {
		t.Errorf("SemIsOps(0) after undoing: %v", err)
	}
}
