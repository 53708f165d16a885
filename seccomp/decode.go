package seccomp

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Decision is what a notification means.
type Decision struct {
	Entry   *Entry
	Taint   bool   // false: the call creates no NOCR state; answer CONTINUE
	Reason  string // "CR: socket(AF_INET) not supported yet"
	Syscall string // decoded call for people: "socket(AF_INET, 0x1, 0x0)"
	// Detail tells findings of one kind apart, as Finding.Detail does (a
	// socket's family): status pairs a finding only with a call of the
	// same detail.
	Detail string
	// NewFds is how many fds the call creates (Entry.NewFds; 2 for
	// socketpair through socketcall).
	NewFds int
	// Sticky: the taint lasts for the life of the process whatever the
	// row's Scope (Entry.StickyFor).
	Sticky bool
}

// Scope is how long the call's taint lasts.
func (d Decision) Scope() Scope {
	if d.Sticky {
		return Sticky
	}
	return d.Entry.Scope
}

// MemReader reads the trapped task's memory (for arguments passed by pointer).
type MemReader func(addr uint64, buf []byte) error

// Decode turns a notification into a Decision. It is authoritative: the BPF
// rules are a pre-filter (on i386 some calls trap unconditionally), and the
// argument values are decided here.
func (f *Filter) Decode(n *Notif, mem MemReader) Decision {
	e := f.Lookup(n.Arch, n.Nr)
	if e == nil {
		return Decision{Syscall: SyscallName(n.Arch, n.Nr) + "(?)"}
	}
	// The row's own name: no libseccomp (cgo) lookup on the notification path.
	name := e.Syscall
	args := n.Args
	if n.Arch == AuditArchI386 {
		for i := range args {
			args[i] &= 0xffffffff
		}
	}
	if e == &ipcEntry {
		if e = decodeIPC(args[0]); e == nil {
			return Decision{Entry: &ipcEntry, Syscall: name}
		}
		if d, ok := f.i386PrivateIPC(e, render("ipc", args, 3)); ok {
			return d
		}
		r, ok := e.Reason(args)
		return Decision{Entry: e, Taint: ok, Reason: r, Syscall: render("ipc", args, 3)}
	}
	if n.Arch == AuditArchI386 {
		if d, ok := f.i386PrivateIPC(e, render(name, args, 3)); ok {
			return d
		}
	}
	if e == &socketcallEntry {
		// socketcall(call, unsigned long *args): read the 32-bit args array.
		call := args[0]
		if call != sysSocket && call != sysSocketpair || mem == nil {
			return Decision{Entry: e, Syscall: name}
		}
		var b [12]byte
		if err := mem(args[1], b[:]); err != nil {
			return Decision{Entry: e, Syscall: name, Taint: true,
				Reason: "CR: socket(unknown family) not supported yet"}
		}
		var sargs [6]uint64
		for i := 0; i < 3; i++ {
			sargs[i] = uint64(binary.LittleEndian.Uint32(b[4*i:]))
		}
		callName := "socket"
		if call == sysSocketpair {
			callName = "socketpair"
		}
		r, ok := socketReason(callName)(sargs)
		n := 1
		if call == sysSocketpair {
			n = 2
		}
		return Decision{Entry: e, Taint: ok, Reason: r, Syscall: render(callName, sargs, 3),
			Detail: FamilyName(sargs[0]), NewFds: n}
	}
	r, ok := e.Reason(args)
	switch {
	case e.Kind == "sem_undo" && !f.hostIPC:
		// In the app's own IPC namespace the adjustment is saved
		// (checkpoint/semundo.go; the supervisor records the caller).
		r, ok = semUnreadableReason(name)(args, mem)
	case e.MemReason != nil:
		r, ok = e.MemReason(args, mem)
	}
	d := Decision{Entry: e, Taint: ok, Reason: r, Syscall: render(name, args, 3), NewFds: e.NewFds,
		Sticky: e.StickyFor != nil && e.StickyFor(args)}
	if e.Kind == "socket" {
		d.Detail = FamilyName(args[0])
	}
	return d
}

// i386SemEntry refuses 32-bit SysV semaphores in the app's own IPC
// namespace: their semop (ipc(SEMOP), semtimedop_time64) is not trapped,
// so a SEM_UNDO adjustment could not be seen.
var i386SemEntry = Entry{Syscall: "ipc", Kind: "sem_undo", DenyErrno: unix.ENOSYS, Scope: Sticky}

// i386PrivateIPC decides a 32-bit SysV call in the app's own IPC
// namespace: the objects are saved (no taint), but semaphores are
// refused (i386SemEntry).
func (f *Filter) i386PrivateIPC(e *Entry, call string) (Decision, bool) {
	if f.hostIPC || !e.HostIPC {
		return Decision{}, false
	}
	if e.Kind == "sysv_sem" {
		return Decision{Entry: &i386SemEntry, Taint: true, Syscall: call,
			Reason: "CR: SysV semaphores from 32-bit code (int $0x80) not supported yet (a SEM_UNDO there cannot be seen)"}, true
	}
	return Decision{Entry: e, Syscall: call}, true
}

func render(name string, a [6]uint64, n int) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 0 && (name == "socket" || name == "socketpair") {
			b.WriteString(FamilyName(a[0]))
			continue
		}
		fmt.Fprintf(&b, "%#x", a[i])
	}
	b.WriteByte(')')
	return b.String()
}
