package checkpoint

import (
	"encoding/binary"
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

func (d *dumper) thread(tid int) (image.Thread, error) {
	var th image.Thread
	nstid, err := d.ns(tid)
	if err != nil {
		return th, err
	}
	th.TID = nstid
	if st, err := procfs.TaskStatus(d.pid, tid); err == nil {
		th.NSTID = st.NSpid
	}
	th.Comm, _ = procfs.TaskComm(d.pid, tid)
	regs, err := d.tr.GetRegs(tid)
	if err != nil {
		return th, err
	}
	if err := d.refuse32(tid, regs.Cs); err != nil {
		return th, err
	}
	norm, _ := ptrace.NormalizeRestart(regs)
	pr := unix.PtraceRegs(norm)
	th.Regs = image.RegsFromPtrace(&pr)
	if th.XState, err = d.tr.GetXstate(tid); err != nil {
		return th, err
	}
	mask, err := d.tr.GetSigmask(tid)
	if err != nil {
		return th, err
	}
	th.SigMask = image.Hex(mask)
	if rs, err := d.tr.GetRseqConfig(tid); err != nil {
		return th, err
	} else if rs.AbiPointer != 0 {
		th.Rseq = &image.Rseq{Addr: image.Hex(rs.AbiPointer), Len: rs.AbiSize, Sig: image.Hex(rs.Signature), Flags: rs.Flags}
	}
	th.Pending = d.threadPending[tid] // read before any timer (readPending)

	buf := uint64(d.scratch) + ptrace.ScratchDataOffset
	// The clear-tid address is write-only from outside: only the thread can
	// read it (PR_GET_TID_ADDRESS). Without it pthread_join hangs after
	// restore (verified).
	if _, err := d.tr.Inject(tid, unix.SYS_PRCTL, unix.PR_GET_TID_ADDRESS, buf); err != nil {
		return th, fmt.Errorf("thread %d: injected prctl(PR_GET_TID_ADDRESS): %w", tid, err)
	}
	b, err := d.readScratch(ptrace.ScratchDataOffset, 8)
	if err != nil {
		return th, err
	}
	th.ClearTID = image.Hex(binary.LittleEndian.Uint64(b))
	if _, err := d.tr.Inject(tid, unix.SYS_SIGALTSTACK, 0, buf); err != nil {
		return th, fmt.Errorf("thread %d: injected sigaltstack: %w", tid, err)
	}
	if b, err = d.readScratch(ptrace.ScratchDataOffset, 24); err != nil { // stack_t {sp, flags, size}
		return th, err
	}
	th.SigAltStack = image.SigAltStack{SP: image.Hex(binary.LittleEndian.Uint64(b[0:])),
		Flags: int32(binary.LittleEndian.Uint32(b[8:])), Size: binary.LittleEndian.Uint64(b[16:])}
	// get_robust_list works from outside for a task we may ptrace.
	head, n, err := robustList(tid)
	if err != nil {
		return th, fmt.Errorf("thread %d: get_robust_list: %w", tid, err)
	}
	th.RobustList = image.RobustList{Head: image.Hex(head), Len: n}
	if th.Attrs, err = d.threadAttrs(tid, buf); err != nil {
		return th, err
	}
	if th.Seccomp, err = d.seccompFilters(tid); err != nil {
		return th, err
	}
	return th, nil
}
