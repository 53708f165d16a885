package seccomp

import (
	"encoding/binary"
	"fmt"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A 64-bit program can make i386 syscalls (int $0x80), which seccomp sees with
// AUDIT_ARCH_I386 and i386 syscall numbers. libseccomp 2.5 cannot express the
// table there: it resolves socket, shmget & co. to pseudo numbers for the
// socketcall/ipc multiplexers and rejects some direct numbers ("unrecognized
// syscall 0x176" for userfaultfd). So the i386 part is a small hand-built
// classic-BPF block placed in front of libseccomp's x86_64 program: it traps
// each table syscall by number (arguments are judged by Decode), and the two
// multiplexers only for the calls that create NOCR state.
//
//	ld  arch
//	jeq I386, 0, <x86_64 program>
//	ld  nr
//	jeq <nr>, NOTIFY, 0          one per table syscall
//	jeq socketcall, 0, +k ; ld args[0] ; jeq SYS_SOCKET, NOTIFY ; ... ; ret ALLOW
//	jeq ipc, 0, +k ; ...
//	ret ALLOW
//	NOTIFY: ret USER_NOTIF
//	<libseccomp's x86_64 program>
//
// Only nr and arch are read on the paths of syscalls outside the table, so
// the kernel's action cache still allows them without running the filter.

// i386 numbers of direct calls that libseccomp 2.5 maps to multiplexer pseudo
// numbers (arch/x86/entry/syscalls/syscall_32.tbl).
var i386Direct = map[string]int32{
	"socket": 359, "socketpair": 360, "semget": 393, "shmget": 395, "shmat": 397, "msgget": 399,
}

const (
	i386Socketcall = 102
	i386IPC        = 117
	// ipc(2) call numbers (include/uapi/linux/ipc.h).
	ipcSemget = 2
	ipcMsgget = 13
	ipcShmat  = 21
	ipcShmget = 23
)

// ipcEntry is the i386 ipc(2) row; Decode maps its call to the real entry.
var ipcEntry = Entry{Syscall: "ipc", Kind: "sysv", DenyErrno: unix.ENOSYS,
	Why: "as shmget/semget/msgget"}

func tableEntry(name string) *Entry {
	for i := range Table {
		if Table[i].Syscall == name {
			return &Table[i]
		}
	}
	return nil
}

type insn struct {
	code   uint16
	jt, jf uint8
	k      uint32
	// symbolic jump targets, resolved by assemble
	jtTo, jfTo string
}

const (
	bpfLdWAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
	offNr     = 0
	offArch   = 4
	offArg0   = 16 // low word of args[0] (little endian)
)

// i386Block builds the block and registers its syscalls in f.index.
func (f *Filter) i386Block() ([]insn, error) {
	var prog []insn
	prog = append(prog, insn{code: bpfLdWAbs, k: offArch},
		insn{code: bpfJeqK, k: AuditArchI386, jfTo: "end"},
		insn{code: bpfLdWAbs, k: offNr})
	seen := map[int32]bool{}
	for i := range Table {
		e := &Table[i]
		nr, ok := i386Direct[e.Syscall]
		if !ok {
			sc, err := libseccomp.GetSyscallFromNameByArch(e.Syscall, libseccomp.ArchX86)
			if err != nil || sc < 0 {
				continue // not on i386
			}
			nr = int32(sc)
		}
		f.index[key{AuditArchI386, nr}] = e
		if !seen[nr] {
			seen[nr] = true
			prog = append(prog, insn{code: bpfJeqK, k: uint32(nr), jtTo: "notify"})
		}
	}
	multiplexed := []struct {
		nr    int32
		e     *Entry
		calls []uint32
	}{
		{i386Socketcall, &socketcallEntry, []uint32{sysSocket, sysSocketpair}},
		{i386IPC, &ipcEntry, []uint32{ipcSemget, ipcMsgget, ipcShmat, ipcShmget}},
	}
	for _, m := range multiplexed {
		f.index[key{AuditArchI386, m.nr}] = m.e
		// jeq nr, 0, skip(1 ld + calls + 1 ret)
		prog = append(prog, insn{code: bpfJeqK, k: uint32(m.nr), jf: uint8(len(m.calls) + 2)},
			insn{code: bpfLdWAbs, k: offArg0})
		for _, c := range m.calls {
			prog = append(prog, insn{code: bpfJeqK, k: c, jtTo: "notify"})
		}
		prog = append(prog, insn{code: bpfRetK, k: unix.SECCOMP_RET_ALLOW})
	}
	prog = append(prog, insn{code: bpfRetK, k: unix.SECCOMP_RET_ALLOW})
	return prog, nil
}

// assemble resolves the symbolic jumps ("notify" is appended here, "end" is
// the first instruction after the block) and encodes struct sock_filter.
func assemble(prog []insn) ([]byte, error) {
	notify := len(prog)
	prog = append(prog, insn{code: bpfRetK, k: unix.SECCOMP_RET_USER_NOTIF})
	end := len(prog)
	out := make([]byte, 0, 8*len(prog))
	for pc, in := range prog {
		for _, j := range []struct {
			to  string
			off *uint8
		}{{in.jtTo, &in.jt}, {in.jfTo, &in.jf}} {
			var target int
			switch j.to {
			case "":
				continue
			case "notify":
				target = notify
			case "end":
				target = end
			}
			d := target - pc - 1
			if d < 0 || d > 255 {
				return nil, fmt.Errorf("i386 block: jump from %d to %s out of range", pc, j.to)
			}
			*j.off = uint8(d)
		}
		var b [8]byte
		binary.LittleEndian.PutUint16(b[0:], in.code)
		b[2], b[3] = in.jt, in.jf
		binary.LittleEndian.PutUint32(b[4:], in.k)
		out = append(out, b[:]...)
	}
	return out, nil
}

// decodeIPC maps an i386 ipc(2) call to the table entry it stands for.
func decodeIPC(call uint64) *Entry {
	switch call & 0xffff { // the high 16 bits carry an ABI version
	case ipcSemget:
		return tableEntry("semget")
	case ipcMsgget:
		return tableEntry("msgget")
	case ipcShmat:
		return tableEntry("shmat")
	case ipcShmget:
		return tableEntry("shmget")
	}
	return nil
}
