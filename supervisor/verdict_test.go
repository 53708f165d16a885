package supervisor

import (
	"testing"

	"github.com/crrun/crrun/seccomp"
)

// A finding names the call that made its very fd, of its family, or none.
func TestMadeBy(t *testing.T) {
	l := NewLedger()
	l.Add(&Taint{Pid: 7, Kind: "socket", Reason: "CR: socket(AF_INET6) not supported yet", Syscall: "socket(AF_INET6, 0x1, 0x0)", Detail: "AF_INET6", Fds: []int{3}})
	l.Add(&Taint{Pid: 7, Kind: "socket", Reason: "CR: socket(AF_INET) not supported yet", Syscall: "socket(AF_INET, 0x1, 0x0)", Detail: "AF_INET", Fds: []int{4}})
	// A second AF_INET call of the same process: not logged again, but its
	// fd is remembered.
	if l.Add(&Taint{Pid: 7, Kind: "socket", Reason: "CR: socket(AF_INET) not supported yet", Syscall: "socket(AF_INET, 0x1, 0x0)", Detail: "AF_INET", Fds: []int{6}}) {
		t.Fatal("a second taint of the same process and reason was added")
	}
	taints := l.Snapshot(nil)
	for _, c := range []struct {
		f    seccomp.Finding
		want string
	}{
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET", Fd: 4}, "socket(AF_INET, 0x1, 0x0)"},
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET", Fd: 6}, "socket(AF_INET, 0x1, 0x0)"},
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET", Fd: 3}, ""},  // fd 3 was the AF_INET6 call's
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET6", Fd: 4}, ""}, // wrong family
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET", Fd: 9}, ""},  // a dup: no call made it
		{seccomp.Finding{Pid: 8, Kind: "socket", Detail: "AF_INET", Fd: 4}, ""},  // another process
		{seccomp.Finding{Pid: 7, Kind: "socket", Detail: "AF_INET6", Fd: 3}, "socket(AF_INET6, 0x1, 0x0)"},
	} {
		got := ""
		if tt := madeBy(c.f, taints); tt != nil {
			got = tt.Syscall
		}
		if got != c.want {
			t.Errorf("%+v: made by %q, want %q", c.f, got, c.want)
		}
	}
}

// SysV taints outlive their process; others are forgotten with it.
func TestLedgerSysVOutlivesProcess(t *testing.T) {
	l := NewLedger()
	l.Add(&Taint{Pid: 7, Kind: "sysv_shm", Reason: "CR: SysV shared memory not supported yet", Scope: seccomp.SysVDecided})
	l.Add(&Taint{Pid: 7, Kind: "keyring", Reason: "CR: kernel keyrings not supported yet", Scope: seccomp.Sticky})
	got := l.Snapshot(map[int]bool{8: true})
	if len(got) != 1 || got[0].Kind != "sysv_shm" {
		t.Fatalf("after pid 7 is gone: %+v, want the SysV taint alone", got)
	}
}
