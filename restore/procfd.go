package restore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Files on procfs. They have no content or identity to check: each is
// opened again by its path in the app's /proc, at its offset (a seq_file
// reads up to it). /proc/PID/... of a process other than the main one can
// only be opened once that process exists: its first holder (image order)
// opens it while placing its fds, and any other process holding the same
// description takes a copy of it with an injected pidfd_getfd, so the
// description stays shared.

// procPid is the pid of a /proc/PID/... path, 0 for any other.
func procPid(path string) int {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return 0
	}
	first, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(first)
	if err != nil {
		return 0
	}
	return n
}

// procLater reports whether f is a procfs file of an app process that does
// not exist yet when the descriptions are parked (anything but the main
// process).
func (t *treeRestorer) procLater(f *image.FD) bool {
	if !f.Procfs || f.File == nil || f.Stdio != nil {
		return false
	}
	pid := procPid(f.File.Path)
	if pid == 0 || pid == t.root.p.PID {
		return false
	}
	for _, p := range t.procs {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// openProcLater gives the process fd f: opened by path at its offset, or
// copied from the process that opened the description already.
func (r *restorer) openProcLater(f *image.FD) error {
	t := r.t
	if t.procFds == nil {
		t.procFds = map[int][2]int{}
	}
	var nfd uint64
	if from, ok := t.procFds[f.OFD]; ok && from[0] != r.p.PID {
		pfd, err := r.inj(r.pid, fmt.Sprintf("pidfd_open(%d)", from[0]), unix.SYS_PIDFD_OPEN, uint64(from[0]), 0)
		if err != nil {
			return err
		}
		nfd, err = r.inj(r.pid, "pidfd_getfd", unix.SYS_PIDFD_GETFD, pfd, uint64(from[1]), 0)
		if _, cerr := r.inj(r.pid, "close(pidfd)", unix.SYS_CLOSE, pfd); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else if ok { // the same description at another fd of this process
		var err error
		if nfd, err = r.inj(r.pid, "fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, uint64(from[1]), unix.F_DUPFD_CLOEXEC, t.base); err != nil {
			return err
		}
	} else {
		r.reset()
		a, err := r.putString(f.File.Path)
		if err != nil {
			return err
		}
		flags := uint64(f.Flags) &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY | unix.O_CLOEXEC)
		if nfd, err = r.inj(r.pid, "openat("+f.File.Path+")", unix.SYS_OPENAT, atFdcwd, a, flags|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		if f.Pos != 0 && f.Flags&unix.O_PATH == 0 {
			if _, err := r.inj(r.pid, "lseek", unix.SYS_LSEEK, nfd, uint64(f.Pos), unix.SEEK_SET); err != nil {
				return err
			}
		}
		t.procFds[f.OFD] = [2]int{r.p.PID, f.FD}
	}
	if nfd == uint64(f.FD) { // the lowest free number was its own
		_, err := r.inj(r.pid, "fcntl(F_SETFD)", unix.SYS_FCNTL, nfd, unix.F_SETFD, cloexecFlag(f)>>19) // O_CLOEXEC → FD_CLOEXEC
		return err
	}
	if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, nfd, uint64(f.FD), cloexecFlag(f)); err != nil {
		return err
	}
	_, err := r.inj(r.pid, "close", unix.SYS_CLOSE, nfd)
	return err
}
