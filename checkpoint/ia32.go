package checkpoint

import (
	"debug/elf"
	"fmt"
	"os"

	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/seccomp"
)

// 32-bit (ia32) code. Everything the engine does inside a process is
// x86_64's: the injected syscalls (a `syscall` instruction run in a 32-bit
// code segment would take the i386 numbers: 9 is link(2) there, not mmap),
// the register image, the restore's clone3 and rt_sigreturn frames. And
// the filter follows 32-bit callers only for the calls that make NOCR
// state (seccomp/bpf_i386.go), not their setsockopt or MSG_OOB sends. So
// a 32-bit program is refused: the gate by its executable's ELF class
// (`crrun status` says so too), the dump by each thread's code segment,
// read before anything is injected (a 64-bit program may also far-jump
// into 32-bit code). ia32 emulation is off on the machines crrun is
// tested on (exec of a 32-bit ELF fails with ENOEXEC), so neither path
// runs there; the ELF check has a unit test.

// userCS64 is the x86_64 user code segment (__USER_CS); a compat task runs
// in __USER32_CS (0x23).
const userCS64 = 0x33

// ia32Reason is why the checkpoint refuses a 32-bit executable or thread.
func ia32Reason(what string) string {
	return fmt.Sprintf("CR: %s: 32-bit (ia32) programs not supported yet (the engine injects and restores x86_64 code only)", what)
}

// exeIs32 reports whether the ELF file at path is a 32-bit one.
func exeIs32(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false // gone, or not ours to read: the dump decides
	}
	defer f.Close()
	var id [elf.EI_NIDENT]byte
	if _, err := f.ReadAt(id[:], 0); err != nil {
		return false
	}
	return string(id[:4]) == elf.ELFMAG && elf.Class(id[elf.EI_CLASS]) == elf.ELFCLASS32
}

// ia32Refusal is the gate's finding for process pid ("" if its
// executable is not a 32-bit one).
func ia32Refusal(pid int) string {
	if !exeIs32(fmt.Sprintf("/proc/%d/exe", pid)) {
		return ""
	}
	return ia32Reason(fmt.Sprintf("process %d runs a 32-bit executable", nsPid(pid)))
}

// refuse32 refuses thread tid of the process being dumped if it runs in a
// 32-bit code segment (cs: its CS register).
func (d *dumper) refuse32(tid int, cs uint64) error {
	if cs == userCS64 {
		return nil
	}
	t := tid
	if st, err := procfs.TaskStatus(d.pid, tid); err == nil && len(st.NSpid) > 0 {
		t = st.NSpid[len(st.NSpid)-1]
	}
	return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "ia32", Fd: -1,
		Reason: ia32Reason(fmt.Sprintf("thread %d runs 32-bit code (code segment %#x)", t, cs))}}}
}
