package restore

import (
	"errors"
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/termio"

	"golang.org/x/sys/unix"
)

// Ptys the app created: a new pair from /dev/ptmx (its index may differ),
// given the saved state through a copy of the master lent to crrun; slave
// descriptions are TIOCGPTPEER of the master (no path); a session leader
// takes its controlling terminal with TIOCSCTTY right after setsid, before
// its children exist, and the foreground group is set once groups exist.

// openPtyMaster makes the pair and returns the master's fd in the main process.
func (t *treeRestorer) openPtyMaster(f *image.FD) (uint64, error) {
	r := t.root
	pt := f.Pty
	r.reset()
	a, err := r.putString("/dev/ptmx")
	if err != nil {
		return 0, err
	}
	flags := uint64(f.Flags)&(unix.O_NONBLOCK) | unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := r.inj(r.pid, "openat(/dev/ptmx)", unix.SYS_OPENAT, atFdcwd, a, flags, 0)
	if err != nil {
		return 0, err
	}
	m, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(m)
	if !pt.Locked {
		if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
			return 0, fmt.Errorf("unlock the pty: %w", err)
		}
	}
	if pt.Packet {
		if err := unix.IoctlSetPointerInt(m, unix.TIOCPKT, 1); err != nil {
			return 0, fmt.Errorf("packet mode: %w", err)
		}
	}
	if pt.MasterTermio != nil {
		if err := unix.IoctlSetTermios(m, unix.TCSETS, pt.MasterTermio.Unix()); err != nil {
			return 0, fmt.Errorf("the master's termios: %w", err)
		}
	}
	if err := unix.IoctlSetWinsize(m, unix.TIOCSWINSZ, &unix.Winsize{Row: pt.Rows, Col: pt.Cols, Xpixel: pt.Xpixel, Ypixel: pt.Ypixel}); err != nil {
		return 0, fmt.Errorf("window size: %w", err)
	}
	if pt.Termios != nil {
		s, err := termio.Peer(m)
		if err != nil {
			return 0, fmt.Errorf("TIOCGPTPEER: %w", err)
		}
		err = unix.IoctlSetTermios(s, unix.TCSETS, pt.Termios.Unix())
		unix.Close(s)
		if err != nil {
			return 0, fmt.Errorf("the slave's termios: %w", err)
		}
	}
	if t.ptys == nil {
		t.ptys = map[int]uint64{}
	}
	t.ptys[pt.Index] = fd
	return fd, nil
}

// peer opens a new slave description of pty index in process r.
func (r *restorer) peer(index int, flags uint64) (uint64, error) {
	m, ok := r.t.ptys[index]
	if !ok {
		return 0, fmt.Errorf("pty %d has no master in the image", index)
	}
	// No O_CLOEXEC: TIOCGPTPEER puts its flags into the description's
	// f_flags as they are (F_GETFL and fdinfo would show it forever); the
	// fd's own close-on-exec is set by dup3 when a process takes it.
	return r.inj(r.pid, "ioctl(TIOCGPTPEER)", unix.SYS_IOCTL, m, unix.TIOCGPTPEER, flags|unix.O_NOCTTY)
}

// openPtySlave gives a slave description of a pty created in openFiles.
func (t *treeRestorer) openPtySlave(f *image.FD) (uint64, error) {
	// O_LARGEFILE too: open(2) adds it on 64-bit, TIOCGPTPEER does not
	// (and x/sys/unix defines O_LARGEFILE as 0 on amd64).
	return t.root.peer(f.Pty.Index, uint64(f.Flags)&(unix.O_ACCMODE|unix.O_NONBLOCK|oLargefile))
}

// takeCtty makes the pty the controlling terminal of session leader r.
func (r *restorer) takeCtty() error {
	c := r.p.Ctty
	if c == nil {
		return nil
	}
	s, err := r.peer(c.Pty, unix.O_RDWR)
	if err != nil {
		return err
	}
	if _, err := r.inj(r.pid, "ioctl(TIOCSCTTY)", unix.SYS_IOCTL, s, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("take pty %d as controlling terminal: %w", c.Pty, err)
	}
	_, err = r.inj(r.pid, "close", unix.SYS_CLOSE, s)
	return err
}

// setForeground gives the pty's foreground to the saved process group.
func (r *restorer) setForeground() error {
	c := r.p.Ctty
	if c == nil || c.Fg <= 0 {
		return nil
	}
	s, err := r.peer(c.Pty, unix.O_RDWR)
	if err != nil {
		return err
	}
	r.reset()
	a, err := r.put(le64(uint64(c.Fg)))
	if err != nil {
		return err
	}
	// Signals are blocked during injection: no SIGTTOU for a background
	// caller.
	if _, err := r.inj(r.pid, fmt.Sprintf("ioctl(TIOCSPGRP, %d)", c.Fg), unix.SYS_IOCTL, s, unix.TIOCSPGRP, a); err != nil {
		return err
	}
	_, err = r.inj(r.pid, "close", unix.SYS_CLOSE, s)
	return err
}

var errNoPty = errors.New("no pty state in the image")

// oLargefile is the kernel's O_LARGEFILE on x86_64 (x/sys/unix says 0
// there, as open(2) implies it).
const oLargefile = 0o100000
