package checkpoint

import (
	"fmt"
	"unsafe"

	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Epoll interest entries are keyed by the file and the fd number they were
// added with ("tfd:" in fdinfo). The number may have been closed since (the
// entry lives as long as its file) or reused for another file: restore must
// then register the right file under that number. kcmp(KCMP_EPOLL_TFD)
// says which fd of which process is the entry's file; the entry records
// that description (EpollTarget.OFD) when it is not the fd of that number.

const kcmpEpollTfd = 7

// kcmpEpollSlot is struct kcmp_epoll_slot.
type kcmpEpollSlot struct {
	Efd, Tfd, Toff uint32
}

// sameEpollTarget reports whether fd of pid1 is the file of the entry
// (tfd, toff 0) of epoll efd in pid2.
func sameEpollTarget(pid1, fd, pid2, efd, tfd int) bool {
	slot := kcmpEpollSlot{Efd: uint32(efd), Tfd: uint32(tfd)}
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpEpollTfd, uintptr(fd), uintptr(unsafe.Pointer(&slot)), 0)
	return e == 0 && r == 0
}

// epollTargets finds, for each epoll entry whose fd number no longer names
// its file in the epoll's process, the description that is its file.
func (t *tree) epollTargets() error {
	var findings []seccomp.Finding
	used := false
	for _, r := range t.fds {
		f := &r.p.FDs[r.idx]
		if f.Epoll == nil {
			continue
		}
		for i := range f.Epoll.Targets {
			tg := &f.Epoll.Targets[i]
			if sameEpollTarget(r.host, tg.FD, r.host, f.FD, tg.FD) {
				continue
			}
			key := fileKey{uint64(unix.Mkdev(tg.Dev.Major(), tg.Dev.Minor())), tg.Inode}
			for _, c := range t.fds {
				if c.key == key && sameEpollTarget(c.host, c.p.FDs[c.idx].FD, r.host, f.FD, tg.FD) {
					tg.OFD = c.p.FDs[c.idx].OFD
					break
				}
			}
			if tg.OFD == 0 {
				findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "epoll", Fd: f.FD,
					Reason: fmt.Sprintf("CR: epoll fd %d of pid %d watches a file (added as fd %d, inode %d) that no fd of the app holds any more: not supported yet",
						f.FD, r.p.PID, tg.FD, tg.Inode)})
				continue
			}
			used = true
		}
	}
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	if used {
		t.w.RequireFeature("epoll-tfd")
	}
	return nil
}
