package seccomp

import (
	"encoding/binary"
	"errors"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// In the app's own IPC namespace (BuildFor(false)) SysV and POSIX queue
// calls make no taint, nor does a semop with SEM_UNDO (the adjustment is
// saved), unless its sembufs cannot be read; a 32-bit semget does (its
// semop is not trapped). With --ipc=host a SEM_UNDO taints.
func TestDecodePrivateIPC(t *testing.T) {
	f, err := BuildFor(false)
	if err != nil {
		t.Fatal(err)
	}
	nr := func(name string) int32 {
		sc, err := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		return int32(sc)
	}
	if e := f.Lookup(AuditArchX86_64, nr("shmget")); e != nil {
		t.Errorf("shmget traps in the app's own IPC namespace: %+v", e)
	}
	if e := f.Lookup(AuditArchX86_64, nr("mq_open")); e != nil {
		t.Errorf("mq_open traps in the app's own IPC namespace: %+v", e)
	}
	sembufs := func(ops ...[3]uint16) MemReader {
		return func(addr uint64, b []byte) error {
			for i, op := range ops {
				if 6*i+6 > len(b) {
					break
				}
				binary.LittleEndian.PutUint16(b[6*i:], op[0])
				binary.LittleEndian.PutUint16(b[6*i+2:], op[1])
				binary.LittleEndian.PutUint16(b[6*i+4:], op[2])
			}
			return nil
		}
	}
	const undo = 0x1000
	for _, tc := range []struct {
		n      Notif
		mem    MemReader
		taint  bool
		reason string
	}{
		{Notif{Arch: AuditArchX86_64, Nr: nr("semop"), Args: [6]uint64{3, 0x1000, 2}}, sembufs([3]uint16{0, 1, 0}, [3]uint16{1, 0, undo}), false, ""},
		// Saved in the app's own namespace: the supervisor records the caller.
		{Notif{Arch: AuditArchX86_64, Nr: nr("semtimedop"), Args: [6]uint64{3, 0x1000, 2}}, sembufs([3]uint16{0, 1, 0}, [3]uint16{1, 0xffff, undo}), false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("semop"), Args: [6]uint64{3, 0x1000, 1}}, func(uint64, []byte) error { return errors.New("gone") }, true,
			"CR: semop(3, ...) whose operations could not be read (SEM_UNDO?) not supported yet"},
		{Notif{Arch: AuditArchI386, Nr: i386IPC, Args: [6]uint64{ipcShmget}}, nil, false, ""},
		{Notif{Arch: AuditArchI386, Nr: i386IPC, Args: [6]uint64{ipcSemget}}, nil, true,
			"CR: SysV semaphores from 32-bit code (int $0x80) not supported yet (a SEM_UNDO there cannot be seen)"},
	} {
		d := f.Decode(&tc.n, tc.mem)
		if d.Taint != tc.taint || d.Reason != tc.reason {
			t.Errorf("%+v: got taint=%v %q, want %v %q", tc.n, d.Taint, d.Reason, tc.taint, tc.reason)
		}
	}
	h, err := BuildFor(true)
	if err != nil {
		t.Fatal(err)
	}
	n := Notif{Arch: AuditArchX86_64, Nr: nr("semtimedop"), Args: [6]uint64{3, 0x1000, 2}}
	d := h.Decode(&n, sembufs([3]uint16{0, 1, 0}, [3]uint16{1, 0xffff, undo}))
	if want := "CR: semtimedop(semid 3, semaphore 1, op -1, SEM_UNDO): the undo adjustment cannot be saved (not supported yet)"; !d.Taint || d.Reason != want {
		t.Errorf("--ipc=host: got taint=%v %q, want %q", d.Taint, d.Reason, want)
	}
	if undo, err := SemUndo(n.Args, sembufs([3]uint16{0, 1, 0}, [3]uint16{1, 0xffff, undo})); !undo || err != nil {
		t.Errorf("SemUndo = %v, %v; want true", undo, err)
	}
}
