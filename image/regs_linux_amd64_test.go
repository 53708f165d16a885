package image

import "golang.org/x/sys/unix"

// unixRegsSample has a distinct value in every register.
var unixRegsSample = unix.PtraceRegs{
	R15: 1, R14: 2, R13: 3, R12: 4, Rbp: 5, Rbx: 6, R11: 7, R10: 8, R9: 9, R8: 10,
	Rax: 11, Rcx: 12, Rdx: 13, Rsi: 14, Rdi: 15, Orig_rax: ^uint64(0), Rip: 0x401000,
	Cs: 0x33, Eflags: 0x246, Rsp: 0x7ffd00000000, Ss: 0x2b, Fs_base: 0x7f0000000000,
	Gs_base: 22, Ds: 23, Es: 24, Fs: 25, Gs: 26,
}
