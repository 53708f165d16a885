package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Arches the filter covers. i386 is there because a 64-bit program can still
// make 32-bit syscalls (int $0x80): without it libseccomp's bad-arch action would
// kill such a program, and with an allow action it would bypass the table.
var arches = []libseccomp.ScmpArch{libseccomp.ArchAMD64, libseccomp.ArchX86}

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
var socketcallEntry = Entry{Syscall: "socketcall", Kind: "socket", DenyErrno: unix.EACCES,
	Rules: [][]Cond{{{Arg: 0, Op: OpEq, Val: sysSocket}}, {{Arg: 0, Op: OpEq, Val: sysSocketpair}}},
	Why:   "as socket"}

type key struct {
	arch uint32
	nr   int32
}

// Filter is the compiled NOCR filter: the BPF program the kernel runs and the
// index from (arch, syscall number) back to the table entry that trapped it.
type Filter struct {
	BPF   []byte // struct sock_filter array, ready for seccomp(2)
	index map[key]*Entry
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

// Build compiles the NOCR table into BPF with libseccomp. Syscalls outside the
// table get SECCOMP_RET_ALLOW without their arguments being read, which lets
// the kernel's seccomp action cache (kernel 5.11+) allow them without running
// the filter at all: measured ~40 ns over native, the same as an allow-all
// filter.
//
// libseccomp adds a rule to every arch of a filter, so each arch gets a
// filter of its own and they are merged: the i386 rules differ (socketcall).
func Build() (*Filter, error) {
	f := &Filter{index: map[key]*Entry{}}
	var merged *libseccomp.ScmpFilter
	for _, arch := range arches {
		flt, err := f.archFilter(arch)
		if err != nil {
			if merged != nil {
				merged.Release()
			}
			return nil, fmt.Errorf("libseccomp: %v: %w", arch, err)
		}
		if merged == nil {
			merged = flt
			continue
		}
		if err := merged.Merge(flt); err != nil { // Merge releases flt
			merged.Release()
			return nil, fmt.Errorf("libseccomp: merge %v: %w", arch, err)
		}
	}
	defer merged.Release()
	bpf, err := exportBPF(merged)
	if err != nil {
		return nil, err
	}
	f.BPF = bpf
	return f, nil
}

func (f *Filter) archFilter(arch libseccomp.ScmpArch) (*libseccomp.ScmpFilter, error) {
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
	// x32 syscalls share the x86_64 audit arch; libseccomp routes them to the
	// bad-arch action. Fail them (ENOSYS) rather than kill the program.
	if err := flt.SetBadArchAction(libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
		return nil, err
	}
	if err := flt.SetNoNewPrivsBit(false); err != nil { // the exec stage sets it itself
		return nil, err
	}
	if arch != libseccomp.ArchNative {
		if err := flt.AddArch(arch); err != nil {
			return nil, err
		}
		native, err := libseccomp.GetNativeArch()
		if err != nil {
			return nil, err
		}
		if native != arch {
			if err := flt.RemoveArch(native); err != nil {
				return nil, err
			}
		}
	}
	audit := uint32(AuditArchX86_64)
	if arch == libseccomp.ArchX86 {
		audit = AuditArchI386
	}
	entries := make([]*Entry, 0, len(Table)+1)
	for i := range Table {
		entries = append(entries, &Table[i])
	}
	if arch == libseccomp.ArchX86 {
		entries = append(entries, &socketcallEntry)
	}
	for _, e := range entries {
		sc, err := libseccomp.GetSyscallFromNameByArch(e.Syscall, arch)
		if err != nil || sc < 0 {
			continue // no such syscall on this arch (e.g. socketcall on x86_64)
		}
		f.index[key{audit, int32(sc)}] = e
		if e.Rules == nil || arch != libseccomp.ArchAMD64 {
			// On i386 trap the whole call and let Decode judge the arguments:
			// 32-bit programs are rare, and libseccomp cannot express every
			// condition there. libseccomp 2.5.4 also rejects a few i386 numbers
			// it resolves (userfaultfd: "unrecognized syscall 0x176"); those
			// calls then go untrapped on i386 and only the scan sees them.
			if err := flt.AddRuleExact(sc, libseccomp.ActNotify); err != nil {
				if arch == libseccomp.ArchAMD64 {
					return nil, fmt.Errorf("rule for %s: %w", e.Syscall, err)
				}
				delete(f.index, key{audit, int32(sc)})
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
