package checkpoint

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NUMA memory policies. A thread's policy (set_mempolicy, or inherited:
// `numactl --interleave=all crrun -- app`) and a mapping's (mbind) are
// state a restore would not set again: the restored process would run
// with the default policy, its memory placed otherwise, silently (a probe
// found both gone). So they are refused: set_mempolicy with a mode other
// than MPOL_DEFAULT and mbind are sticky taints naming the call (the trap
// table), and the dump asks each process's main thread for its policy
// (get_mempolicy, in the batch of queries: an inherited one is never
// trapped) and refuses one that is not the default. Not seen: an mbind
// policy a forked child inherited from a parent that has exited (the
// parent's taint refused while it lived; numa_maps would show it, at the
// cost of a walk of every page in the pause).

// mpolNames are the policy modes of get_mempolicy (include/uapi/linux/mempolicy.h).
var mpolNames = map[int32]string{1: "MPOL_PREFERRED", 2: "MPOL_BIND", 3: "MPOL_INTERLEAVE", 4: "MPOL_LOCAL",
	5: "MPOL_PREFERRED_MANY", 6: "MPOL_WEIGHTED_INTERLEAVE"}

// OwnMempolicy is the NUMA policy mode of the calling thread (0: the
// default; crrun's threads all have the one it was started with, which
// its app inherits).
func OwnMempolicy() int32 {
	var mode int32
	if _, _, e := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), 0, 0, 0, 0, 0); e != 0 {
		return 0
	}
	return mode
}

// MempolicyReason is the refusal of a policy mode (the dump's and the
// verdict's words).
func MempolicyReason(mode int32) string { return mempolicyReason(mode) }

// MempolicyName names a policy mode.
func MempolicyName(mode int32) string {
	if name := mpolNames[mode&0xff]; name != "" {
		return name
	}
	return fmt.Sprintf("mode %d", mode)
}

func mempolicyReason(mode int32) string {
	name := MempolicyName(mode)
	return fmt.Sprintf("CR: a NUMA memory policy (%s, set_mempolicy or inherited, e.g. from numactl) not supported yet: a restored process would run with the default policy", name)
}
