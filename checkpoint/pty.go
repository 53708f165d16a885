package checkpoint

import (
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/internal/termio"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Pseudo-terminals the app created. The master (an fd on /dev/ptmx) is
// examined through a copy lent by pidfd_getfd, and its slave through
// TIOCGPTPEER on that copy: no path, no controlling-terminal side effects.

// ptyIndex gives N of /dev/pts/N for a devpts device number (majors 136–143).
func ptyIndex(major, minor uint32) (int, bool) {
	if major < 136 || major > 143 {
		return 0, false
	}
	return int(major-136)<<8 | int(minor), true
}

// ptyMaster saves the state of the pty whose master is fd of the process.
func (d *dumper) ptyMaster(fd int) (*image.Pty, error) {
	m, err := ptrace.CopyFd(d.pid, fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(m)
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("TIOCGPTN: %w", err)
	}
	if done, ok := d.t.ptys[n]; ok { // another fd on the same master: saved once
		c := *done
		return &c, nil
	}
	pt := &image.Pty{Index: n, Master: true}
	defer func() {
		if d.t.ptys == nil {
			d.t.ptys = map[int]*image.Pty{}
		}
		d.t.ptys[n] = pt
	}()
	if v, err := unix.IoctlGetInt(m, unix.TIOCGPTLCK); err == nil {
		pt.Locked = v != 0
	}
	if v, err := unix.IoctlGetInt(m, unix.TIOCGPKT); err == nil {
		pt.Packet = v != 0
	}
	if t, err := unix.IoctlGetTermios(m, unix.TCGETS); err == nil {
		pt.MasterTermio = image.TermiosOf(t)
	}
	if ws, err := unix.IoctlGetWinsize(m, unix.TIOCGWINSZ); err == nil {
		pt.Rows, pt.Cols, pt.Xpixel, pt.Ypixel = ws.Row, ws.Col, ws.Xpixel, ws.Ypixel
	}
	s, err := termio.Peer(m)
	if err != nil {
		return nil, fmt.Errorf("TIOCGPTPEER: %w", err)
	}
	defer unix.Close(s)
	t, err := unix.IoctlGetTermios(s, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("TCGETS on the slave: %w", err)
	}
	pt.Termios = image.TermiosOf(t)
	// Bytes on their way through the pair cannot be read without taking
	// them from the app, nor reliably put back (the pty's buffers take
	// less than they held): refuse. It is transient: the freeze retried
	// for ptyPatience before getting here.
	toMaster, _ := unix.IoctlGetInt(m, unix.TIOCINQ)
	toSlave, _ := unix.IoctlGetInt(s, unix.TIOCINQ)
	if toMaster > 0 || toSlave > 0 {
		return nil, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "pty", Fd: fd,
			Reason: fmt.Sprintf("CR: pty /dev/pts/%d has bytes in flight (%d for the master, %d for the slave) after %.0f s of retries: ptys with data in flight not supported yet (fd %d)",
				n, toMaster, toSlave, ptyPatience.Seconds(), fd)}}}
	}
	return pt, nil
}

// slaveRef is an fd on some /dev/pts/N, found while saving fds.
type slaveRef struct {
	p     *image.Process
	idx   int
	index int
}

// linkPtys turns fds on the slave of a pty the app created into pty fds of
// that pty (other /dev/pts/N are terminals from outside, reopened by path),
// and keeps a session leader's controlling terminal only if it is one of the
// app's ptys.
func (t *tree) linkPtys(procs []*image.Process) {
	mine := map[int]bool{}
	for _, r := range t.fds {
		if f := &r.p.FDs[r.idx]; f.Pty != nil && f.Pty.Master {
			mine[f.Pty.Index] = true
		}
	}
	for _, s := range t.slaves {
		if mine[s.index] {
			f := &s.p.FDs[s.idx]
			f.Kind, f.Pty, f.File = image.FDPty, &image.Pty{Index: s.index}, nil
		}
	}
	for _, p := range procs {
		if p.Ctty != nil && !mine[p.Ctty.Pty] {
			p.Ctty = nil
		}
	}
}

// ptyBusy reports bytes in flight through a pty whose master a frozen
// process holds (the dump cannot save them).
func (ft *frozenTree) ptyBusy() bool {
	for _, pid := range ft.live() {
		fds, err := procfs.Fds(pid)
		if err != nil {
			continue
		}
		for _, e := range fds {
			if e.Kind != procfs.KindDevice || e.Rdev.Major != 5 || e.Rdev.Minor != 2 {
				continue
			}
			if busy, err := ptyBuffered(pid, e.Num); err == nil && busy {
				return true
			}
		}
	}
	return false
}

// ptyBuffered reports whether the pty of master fd of pid has bytes queued.
func ptyBuffered(pid, fd int) (bool, error) {
	m, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return false, err
	}
	defer unix.Close(m)
	s, err := termio.Peer(m)
	if err != nil {
		return false, err
	}
	defer unix.Close(s)
	a, _ := unix.IoctlGetInt(m, unix.TIOCINQ)
	b, _ := unix.IoctlGetInt(s, unix.TIOCINQ)
	return a > 0 || b > 0, nil
}
