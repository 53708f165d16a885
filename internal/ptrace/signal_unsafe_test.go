package ptrace

import (
	"encoding/binary"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigqueueTo sends sig to process pid with rt_sigqueueinfo(2), si_code
// SI_QUEUE and a value, like sigqueue(3) does. The kernel lets another process
// send a negative si_code other than SI_TKILL.
func sigqueueTo(pid int, sig unix.Signal, value uint64) error {
	var si Siginfo
	binary.LittleEndian.PutUint32(si[0:], uint32(sig))
	code := int32(-1) // SI_QUEUE
	binary.LittleEndian.PutUint32(si[8:], uint32(code))
	binary.LittleEndian.PutUint32(si[16:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint32(si[20:], uint32(os.Getuid()))
	binary.LittleEndian.PutUint64(si[24:], value)
	_, _, e := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&si)))
	return errnoErr(e)
}
