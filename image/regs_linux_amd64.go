package image

import "golang.org/x/sys/unix"

// RegsFromPtrace converts the PTRACE_GETREGS result to Regs.
func RegsFromPtrace(p *unix.PtraceRegs) Regs {
	return Regs{
		R15: Hex(p.R15), R14: Hex(p.R14), R13: Hex(p.R13), R12: Hex(p.R12),
		Rbp: Hex(p.Rbp), Rbx: Hex(p.Rbx), R11: Hex(p.R11), R10: Hex(p.R10),
		R9: Hex(p.R9), R8: Hex(p.R8), Rax: Hex(p.Rax), Rcx: Hex(p.Rcx),
		Rdx: Hex(p.Rdx), Rsi: Hex(p.Rsi), Rdi: Hex(p.Rdi), OrigRax: Hex(p.Orig_rax),
		Rip: Hex(p.Rip), Cs: Hex(p.Cs), Eflags: Hex(p.Eflags), Rsp: Hex(p.Rsp),
		Ss: Hex(p.Ss), FsBase: Hex(p.Fs_base), GsBase: Hex(p.Gs_base),
		Ds: Hex(p.Ds), Es: Hex(p.Es), Fs: Hex(p.Fs), Gs: Hex(p.Gs),
	}
}

// Ptrace converts r to the PTRACE_SETREGS argument.
func (r *Regs) Ptrace() unix.PtraceRegs {
	return unix.PtraceRegs{
		R15: uint64(r.R15), R14: uint64(r.R14), R13: uint64(r.R13), R12: uint64(r.R12),
		Rbp: uint64(r.Rbp), Rbx: uint64(r.Rbx), R11: uint64(r.R11), R10: uint64(r.R10),
		R9: uint64(r.R9), R8: uint64(r.R8), Rax: uint64(r.Rax), Rcx: uint64(r.Rcx),
		Rdx: uint64(r.Rdx), Rsi: uint64(r.Rsi), Rdi: uint64(r.Rdi), Orig_rax: uint64(r.OrigRax),
		Rip: uint64(r.Rip), Cs: uint64(r.Cs), Eflags: uint64(r.Eflags), Rsp: uint64(r.Rsp),
		Ss: uint64(r.Ss), Fs_base: uint64(r.FsBase), Gs_base: uint64(r.GsBase),
		Ds: uint64(r.Ds), Es: uint64(r.Es), Fs: uint64(r.Fs), Gs: uint64(r.Gs),
	}
}
