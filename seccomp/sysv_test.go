package seccomp

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A segment held by a process of the app keeps the taint; removed and
// detached, it is gone and so is the taint (Open MPI's probe).
func TestSysVHeldShm(t *testing.T) {
	if _, err := os.Stat("/proc/sysvipc/shm"); err != nil {
		t.Skip("no /proc/sysvipc/shm:", err)
	}
	since := time.Now()
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Skip("shmget:", err)
	}
	removed := false
	defer func() {
		if !removed {
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
	}()
	me := map[int]bool{os.Getpid(): true}
	if what, held := SysVHeld("sysv_shm", since, me); !held {
		t.Fatalf("a segment we created is not held")
	} else {
		t.Logf("held: %s", what)
	}
	b, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		t.Fatal(err)
	}
	removed = true
	if _, held := SysVHeld("sysv_shm", since, me); !held {
		t.Fatalf("a removed segment still attached is not held")
	}
	if err := unix.SysvShmDetach(b); err != nil {
		t.Fatal(err)
	}
	if what, held := SysVHeld("sysv_shm", since, me); held {
		t.Fatalf("removed and detached, the segment is still held: %s", what)
	}
}
