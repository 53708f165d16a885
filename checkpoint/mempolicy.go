package checkpoint

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// NUMA memory policies. A thread's policy (set_mempolicy, or inherited:
// `numactl --interleave=all crrun -- app`) and a mapping's (mbind) are
// state a restore would not set again: the restored process would run
// with the default policy, its memory placed otherwise, silently (a probe
// found both gone). So a policy in place at the checkpoint is refused.
// The dump asks each process's main thread for its policy (get_mempolicy,
// in the batch of queries: an inherited one is never trapped); the filter
// traps set_mempolicy (not to MPOL_DEFAULT) and mbind, never a taint (a
// probe that sets a policy and resets it, as hwloc does in every Open MPI
// rank, leaves nothing), and the supervisor notes the process: the dump
// then also asks its other threads (one injected get_mempolicy each), and
// reads its numa_maps for areas (a walk of its pages: only for those
// processes). `crrun status` sees an inherited policy (crrun's own) but
// not one a thread set (blind: tests/corpus/refuse_mempolicy.c). Not
// seen: an mbind policy a forked child inherited from a parent that was
// the one to call it (the child is not noted).

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

// mempolicies refuses a policy a noted process's threads or areas hold
// (the main thread's was asked in the batch of queries).
func (d *dumper) mempolicies() error {
	if d.req.Mempolicy == nil {
		return nil
	}
	threads, areas := d.req.Mempolicy(d.pid)
	refuse := func(r string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "mempolicy", Fd: -1, Reason: r}}}
	}
	if threads {
		buf := uint64(d.scratch) + ptrace.ScratchDataOffset
		for _, tid := range d.tids {
			if tid == d.pid {
				continue
			}
			if _, err := d.tr.Inject(tid, unix.SYS_GET_MEMPOLICY, buf, 0, 0, 0, 0); err != nil {
				return fmt.Errorf("thread %d: injected get_mempolicy: %w", tid, err)
			}
			b, err := d.readScratch(ptrace.ScratchDataOffset, 4)
			if err != nil {
				return err
			}
			if mode := int32(binary.LittleEndian.Uint32(b)); mode != 0 {
				return refuse(fmt.Sprintf("CR: thread %d: a NUMA memory policy (%s, set_mempolicy) not supported yet: a restored thread would run with the default policy", tid, MempolicyName(mode)))
			}
		}
	}
	if areas {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/numa_maps", d.pid))
		if err != nil {
			return fmt.Errorf("pid %d: numa_maps: %w", d.pid, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[1] != "default" {
				return refuse(fmt.Sprintf("CR: pid %d: the mapping at %s has a NUMA memory policy (%s, mbind) not supported yet: a restored mapping would have the default", d.pid, f[0], f[1]))
			}
		}
	}
	return nil
}
