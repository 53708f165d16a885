package restore

import (
	"fmt"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// epollAddAs registers the description tg.OFD in epoll f under the fd
// number tg.FD, which the process has closed or gives to another file now
// (the kernel keys the entry by file and number, and fdinfo shows that
// number): the description is put on tg.FD for the epoll_ctl, then the
// number is given back to its own file, or closed. It runs while the
// parked descriptions are still open in the process; ev is the event's
// address in the scratch area.
func (r *restorer) epollAddAs(f *image.FD, tg image.EpollTarget, ev uint64) error {
	src, ok := r.t.ofd[tg.OFD]
	if !ok {
		return fmt.Errorf("the watched description %d was not created", tg.OFD)
	}
	var occupant *image.FD
	for i := range r.p.FDs {
		if r.p.FDs[i].FD == tg.FD {
			occupant = &r.p.FDs[i]
		}
	}
	num := uint64(tg.FD)
	var keep uint64
	if occupant != nil { // set aside while the number serves the entry
		var err error
		if keep, err = r.inj(r.pid, "fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, num, unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return err
		}
	}
	if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, src, num, unix.O_CLOEXEC); err != nil {
		return err
	}
	if _, err := r.inj(r.pid, "epoll_ctl(ADD)", unix.SYS_EPOLL_CTL, uint64(f.FD), unix.EPOLL_CTL_ADD, num, ev); err != nil {
		return err
	}
	if occupant == nil {
		_, err := r.inj(r.pid, "close", unix.SYS_CLOSE, num)
		return err
	}
	if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, keep, num, cloexecFlag(occupant)); err != nil {
		return err
	}
	_, err := r.inj(r.pid, "close", unix.SYS_CLOSE, keep)
	return err
}
