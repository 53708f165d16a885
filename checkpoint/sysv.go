package checkpoint

import (
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/seccomp"
)

const pageSize = 4096

var mqueueUnlinkedReason = seccomp.MqueueUnlinkedReason

// sysvAttachments checks every SysV segment mapping of the image against
// the segments saved with the IPC namespace: it must be one of them, and
// map it whole (restore attaches a segment whole with shmat; a mapping of
// part of one, after mprotect or munmap of a part, is refused). In the
// host's IPC namespace the scan has refused them already.
func sysvAttachments(procs []*image.Process, ipc *image.IPC) error {
	segs := map[int]*image.SysVShm{}
	if ipc != nil {
		for i := range ipc.Shm {
			segs[ipc.Shm[i].ID] = &ipc.Shm[i]
		}
	}
	var f []seccomp.Finding
	for _, p := range procs {
		for i := range p.Memory {
			v := &p.Memory[i]
			if v.Kind != image.VMASysV {
				continue
			}
			where := fmt.Sprintf("pid %d: SysV segment mapping %#x-%#x %q", p.PID, uint64(v.Start), uint64(v.End), v.Path)
			s, ok := segs[v.ShmID]
			switch {
			case ipc == nil || ipc.Mode != image.IPCPrivate:
				f = append(f, seccomp.Finding{Pid: p.PID, Kind: "sysv_shm", Fd: -1,
					Reason: "CR: " + where + ": SysV shared memory in the host's IPC namespace (--ipc=host) not supported"})
			case !ok:
				return fmt.Errorf("%s: shmid %d is not among the namespace's segments", where, v.ShmID)
			case v.Offset != 0 || v.Size() != (s.Size+pageSize-1)/pageSize*pageSize:
				f = append(f, seccomp.Finding{Pid: p.PID, Kind: "sysv_shm", Fd: -1,
					Reason: fmt.Sprintf("CR: %s: maps part of shmid %d (offset %#x, %d of %d bytes; mprotect or munmap of part of an attachment) not supported yet",
						where, v.ShmID, uint64(v.Offset), v.Size(), s.Size)})
			}
		}
	}
	if len(f) > 0 {
		return &NotCheckpointableError{Findings: f}
	}
	return nil
}
