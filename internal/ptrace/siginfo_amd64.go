package ptrace

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Siginfo is a raw kernel siginfo_t (128 bytes), as PTRACE_GETSIGINFO,
// PTRACE_SETSIGINFO and PTRACE_PEEKSIGINFO move it. The bytes are kept whole so
// a signal can be re-queued exactly; the accessors decode the x86_64 layout
// (include/uapi/asm-generic/siginfo.h: si_signo, si_errno, si_code, padding to
// 16, then the union).
type Siginfo [128]byte

func (s *Siginfo) i32(off int) int32 { return int32(binary.LittleEndian.Uint32(s[off:])) }

// Signo is si_signo.
func (s *Siginfo) Signo() unix.Signal { return unix.Signal(s.i32(0)) }

// Errno is si_errno.
func (s *Siginfo) Errno() int32 { return s.i32(4) }

// Code is si_code: SI_USER (0), SI_KERNEL (0x80), SI_QUEUE (-1), SI_TKILL
// (-6)…, or a signal-specific positive code (CLD_EXITED, SEGV_MAPERR…).
func (s *Siginfo) Code() int32 { return s.i32(8) }

// Pid is si_pid (kill, rt, chld layouts), in the receiver's pid namespace.
func (s *Siginfo) Pid() int32 { return s.i32(16) }

// Uid is si_uid (kill, rt, chld layouts).
func (s *Siginfo) Uid() uint32 { return uint32(s.i32(20)) }

// Value is si_value (rt and timer layouts), as the 64-bit sival_ptr.
func (s *Siginfo) Value() uint64 { return binary.LittleEndian.Uint64(s[24:]) }

// Status is si_status (SIGCHLD layout).
func (s *Siginfo) Status() int32 { return s.i32(24) }

// Addr is si_addr (fault layout).
func (s *Siginfo) Addr() uint64 { return binary.LittleEndian.Uint64(s[16:]) }

func (s *Siginfo) String() string {
	return fmt.Sprintf("signo=%d (%v) code=%d pid=%d uid=%d", int(s.Signo()), s.Signo(), s.Code(), s.Pid(), s.Uid())
}

// Sigset is a kernel sigset_t on x86_64: 64 bits, signal n is bit n-1.
type Sigset uint64

// Has reports whether sig is in the set.
func (m Sigset) Has(sig unix.Signal) bool { return sig >= 1 && sig <= 64 && m&(1<<(sig-1)) != 0 }

// With returns the set plus sig.
func (m Sigset) With(sig unix.Signal) Sigset {
	if sig < 1 || sig > 64 {
		return m
	}
	return m | 1<<(sig-1)
}

// RseqConfig is struct ptrace_rseq_configuration
// (include/uapi/linux/ptrace.h), filled by PTRACE_GET_RSEQ_CONFIGURATION.
type RseqConfig struct {
	AbiPointer uint64 // address of the thread's struct rseq, 0 if none
	AbiSize    uint32
	Signature  uint32
	Flags      uint32
	Pad        uint32
}
