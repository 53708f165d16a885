package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Audit arch values as they appear in a notification.
const (
	AuditArchX86_64 = 0xc000003e
	AuditArchI386   = 0x40000003
)

// i386 socketcall(2) multiplexes socket calls with their arguments in memory,
// out of reach of BPF. Trap the two calls that create sockets and let the
// supervisor read the family.
const (
	sysSocket     = 1
	sysSocketpair = 8
)

// socketcallEntry is the i386 socketcall row, decoded specially (DecodeMem).
var socketcallEntry = Entry{Syscall: "socketcall", Kind: "socket", DenyErrno: unix.EACCES, NewFds: 1,
	Rules: [][]Cond{{{Arg: 0, Op: OpEq, Val: sysSocket}}, {{Arg: 0, Op: OpEq, Val: sysSocketpair}}},
	Why:   "as socket"}

type key struct {
	arch uint32
	nr   int32
}

// Filter is the compiled NOCR filter: the BPF program the kernel runs and the
// index from (arch, syscall number) back to the table entry that trapped it.
type Filter struct {
	BPF      []byte // struct sock_filter array, ready for seccomp(2)
	index    map[key]*Entry
	records  map[key]string // PathRecorders, by number
	answered map[key]bool   // Answered rows, by number
	hostIPC  bool           // the app shares the host's IPC namespace (BuildFor)
}

// PathRecorders are trapped too, but never taint: the supervisor records the
// path they name. inotify_add_watch: as root the checkpoint finds a watched
// file from the kernel's file handle (open_by_handle_at), which an ordinary
// user may not call; the recorded path stands in. x86_64 only.
var PathRecorders = []string{"inotify_add_watch"}

// IsAnswered reports whether (arch, nr) is trapped for one of Answered
// (under its argument conditions).
func (f *Filter) IsAnswered(arch uint32, nr int32) bool { return f.answered[key{arch, nr}] }

// Recorded reports whether (arch, nr) is one of PathRecorders, and its name.
func (f *Filter) Recorded(arch uint32, nr int32) (string, bool) {
	n, ok := f.records[key{arch, nr}]
	return n, ok
}

func cmpOp(op CmpOp) libseccomp.ScmpCompareOp {
	switch op {
	case OpNe:
		return libseccomp.CompareNotEqual
	case OpMaskedEq:
		return libseccomp.CompareMaskedEqual
	}
	return libseccomp.CompareEqual
}

// Build compiles the NOCR table into BPF. Syscalls outside the table get
// SECCOMP_RET_ALLOW without their arguments being read, which lets the
// kernel's seccomp action cache (kernel 5.11+) allow them without running the
// filter at all: measured ~40 ns over native, the same as an allow-all filter.
// The x86_64 part comes from libseccomp; the i386 part is built here (see
// bpf_i386.go).
func Build() (*Filter, error) { return BuildFor(true) }

// BuildFor is Build for an app in the host's IPC namespace (hostIPC) or
// its own, where the HostIPC rows do not trap.
func BuildFor(hostIPC bool) (*Filter, error) {
	f := &Filter{index: map[key]*Entry{}, answered: map[key]bool{}, hostIPC: hostIPC}
	block, err := f.i386Block()
	if err != nil {
		return nil, err
	}
	head, err := assemble(block)
	if err != nil {
		return nil, err
	}
	flt, err := f.nativeFilter()
	if err != nil {
		return nil, fmt.Errorf("libseccomp: %w", err)
	}
	defer flt.Release()
	body, err := exportBPF(flt)
	if err != nil {
		return nil, err
	}
	f.BPF = append(head, body...)
	if len(f.BPF)/8 > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("NOCR filter has %d instructions, over the kernel's %d", len(f.BPF)/8, unix.BPF_MAXINSNS)
	}
	return f, nil
}

func (f *Filter) nativeFilter() (*libseccomp.ScmpFilter, error) {
	flt, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			flt.Release()
		}
	}()
	// Other arches never reach this program (the i386 block returns first);
	// x32 syscalls share the x86_64 audit arch and libseccomp routes them to
	// the bad-arch action: fail them (ENOSYS) rather than kill the program.
	if err := flt.SetBadArchAction(libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
		return nil, err
	}
	if err := flt.SetNoNewPrivsBit(false); err != nil { // the exec stage sets it itself
		return nil, err
	}
	rows := make([]*Entry, 0, len(Table)+len(Answered))
	for i := range Table {
		rows = append(rows, &Table[i])
	}
	for i := range Answered {
		rows = append(rows, &Answered[i])
	}
	for i, e := range rows {
		if e.HostIPC && !f.hostIPC {
			continue
		}
		sc, err := libseccomp.GetSyscallFromNameByArch(e.Syscall, libseccomp.ArchAMD64)
		if err != nil || sc < 0 {
			return nil, fmt.Errorf("no x86_64 syscall %q", e.Syscall)
		}
		if i < len(Table) {
			f.index[key{AuditArchX86_64, int32(sc)}] = e
		} else {
			f.answered[key{AuditArchX86_64, int32(sc)}] = true
		}
		if e.Rules == nil {
			if err := flt.AddRuleExact(sc, libseccomp.ActNotify); err != nil {
				return nil, fmt.Errorf("rule for %s: %w", e.Syscall, err)
			}
			continue
		}
		for _, r := range e.Rules {
			conds := make([]libseccomp.ScmpCondition, 0, len(r))
			for _, c := range r {
				vals := []uint64{c.Val}
				if c.Op == OpMaskedEq {
					vals = []uint64{c.Mask, c.Val}
				}
				cond, err := libseccomp.MakeCondition(c.Arg, cmpOp(c.Op), vals...)
				if err != nil {
					return nil, fmt.Errorf("condition on %s arg %d: %w", e.Syscall, c.Arg, err)
				}
				conds = append(conds, cond)
			}
			if err := flt.AddRuleConditionalExact(sc, libseccomp.ActNotify, conds); err != nil {
				return nil, fmt.Errorf("rule for %s: %w", e.Syscall, err)
			}
		}
	}
	for _, name := range PathRecorders {
		sc, err := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchAMD64)
		if err != nil || sc < 0 {
			return nil, fmt.Errorf("no x86_64 syscall %q", name)
		}
		if f.records == nil {
			f.records = map[key]string{}
		}
		f.records[key{AuditArchX86_64, int32(sc)}] = name
		if err := flt.AddRuleExact(sc, libseccomp.ActNotify); err != nil {
			return nil, fmt.Errorf("rule for %s: %w", name, err)
		}
	}
	ok = true
	return flt, nil
}

// exportBPF gets the raw program out of libseccomp 2.5 (which has no in-memory
// export) through a memfd.
func exportBPF(flt *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("crrun-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	file := os.NewFile(uintptr(fd), "crrun-bpf")
	defer file.Close()
	if err := flt.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("libseccomp: export bpf: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, errors.New("libseccomp: exported BPF has a bad length")
	}
	return b, nil
}

// Lookup returns the table entry that traps syscall nr on arch, or nil.
func (f *Filter) Lookup(arch uint32, nr int32) *Entry {
	return f.index[key{arch, nr}]
}

// SyscallName names syscall nr on arch for messages.
func SyscallName(arch uint32, nr int32) string {
	a := libseccomp.ArchAMD64
	if arch == AuditArchI386 {
		a = libseccomp.ArchX86
	}
	if n, err := libseccomp.ScmpSyscall(nr).GetNameByArch(a); err == nil {
		return n
	}
	return fmt.Sprintf("syscall %d", nr)
}
