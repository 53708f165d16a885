package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// File locks and the owner of a description's signals (docs/design.md,
// Checkpoint step 7).
//
// The kernel's own view is the source of truth: the "lock:" lines of
// /proc/PID/fdinfo/N show the locks held through that fd — a POSIX lock
// under the fds of the description it was taken through, in its owner only;
// an OFD lock, a flock lock or a lease under every fd of its description.
// Their pid is in crrun's pid namespace (-1 for OFD locks). Blocked waiters
// are not locks: they are syscalls that restart.

// F_GETOWN_EX owner types (include/uapi/asm-generic/fcntl.h).
const (
	fOwnerTID  = 0
	fOwnerPID  = 1
	fOwnerPGRP = 2
)

// refuseFd is a NOCR-style refusal about one fd.
func (d *dumper) refuseFd(kind string, fd int, format string, a ...any) error {
	return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: kind, Fd: fd,
		Reason: fmt.Sprintf(format, a...)}}}
}

// locks saves the locks fdinfo shows on fd f (of this process, nspid).
func (d *dumper) locks(f *image.FD, info *procfs.ProcFdinfo, nspid int) error {
	for _, l := range info.Locks {
		lk, err := d.parseLock(l.Raw, nspid)
		if err != nil {
			return d.refuseFd("file_lock", f.FD, "CR: file lock %q on fd %d (%s) not supported yet: %v", l.Raw, f.FD, f.Path, err)
		}
		if lk != nil {
			f.Locks = append(f.Locks, *lk)
		}
	}
	if len(f.Locks) > 0 {
		d.w.RequireFeature("file-locks")
	}
	return nil
}

// parseLock reads one "lock:" line: "1: POSIX  ADVISORY  WRITE 1234
// fe:00:5678 0 EOF". nil for a blocked waiter ("1: -> POSIX …").
func (d *dumper) parseLock(raw string, nspid int) (*image.FileLock, error) {
	f := strings.Fields(raw)
	if len(f) > 1 && f[1] == "->" {
		return nil, nil
	}
	if len(f) < 8 {
		return nil, fmt.Errorf("cannot parse the lock line")
	}
	class, mode, access, pidS, start, end := f[1], f[2], f[3], f[4], f[6], f[7]
	if r := inventory.LockRefusal(class, mode); r != "" {
		return nil, errors.New(r)
	}
	lk := &image.FileLock{}
	pid, err := strconv.Atoi(pidS)
	if err != nil {
		return nil, fmt.Errorf("pid %q", pidS)
	}
	switch class {
	case "POSIX":
		lk.Kind = image.LockPOSIX
		lk.Pid = nspid // fdinfo shows a POSIX lock in its owner only
	case "OFDLCK":
		lk.Kind = image.LockOFD
	case "FLOCK":
		lk.Kind = image.LockFlock
	default: // LEASE: LockRefusal let only active ones through
		lk.Kind = image.LockLease
	}
	switch access {
	case "READ":
	case "WRITE":
		lk.Write = true
	default:
		return nil, fmt.Errorf("lock type %s", access)
	}
	if lk.Kind == image.LockPOSIX || lk.Kind == image.LockOFD {
		if lk.Start, err = strconv.ParseInt(start, 10, 64); err != nil {
			return nil, fmt.Errorf("start %q", start)
		}
		lk.End = -1
		if end != "EOF" {
			if lk.End, err = strconv.ParseInt(end, 10, 64); err != nil {
				return nil, fmt.Errorf("end %q", end)
			}
		}
	} else {
		lk.End = -1
		// flock locks and leases name who took them: a process of the
		// app (the one restore makes take them again), else nobody now.
		if pid > 0 && slices.Contains(d.t.live, pid) {
			if lk.Pid, err = d.ns(pid); err != nil {
				return nil, err
			}
		} else if lk.Kind == image.LockLease {
			return nil, fmt.Errorf("the lease was taken by pid %d, no running process of the app: a lease cannot be taken again for it", pid)
		} else if pid > 0 && d.t.isZombie(pid) {
			return nil, fmt.Errorf("the flock lock was taken by pid %d, now a zombie of the app: reap it and checkpoint again", pid)
		}
	}
	return lk, nil
}

// fOwnerEx is struct f_owner_ex.
type fOwnerEx struct {
	Type int32
	Pid  int32
}

// owner saves F_GETOWN_EX and F_GETSIG of fd f, read through a copy of the
// descriptor lent to crrun (the answers are about the description).
func (d *dumper) owner(f *image.FD) error {
	if f.Flags&unix.O_PATH != 0 {
		return nil // no owner: pidfd_getfd cannot lend it either
	}
	c, err := ptrace.CopyFd(d.pid, f.FD)
	if err != nil {
		return fmt.Errorf("fd %d: %w", f.FD, err)
	}
	defer unix.Close(c)
	var o fOwnerEx
	if _, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(c), unix.F_GETOWN_EX, uintptr(unsafe.Pointer(&o))); e != 0 {
		return fmt.Errorf("fd %d: F_GETOWN_EX: %w", f.FD, e)
	}
	sig, err := unix.FcntlInt(uintptr(c), unix.F_GETSIG, 0)
	if err != nil {
		return fmt.Errorf("fd %d: F_GETSIG: %w", f.FD, err)
	}
	if o.Pid == 0 && sig == 0 {
		return nil
	}
	f.Sig = sig
	if o.Pid != 0 {
		ns, err := d.t.ownerNS(int(o.Type), int(o.Pid))
		if err != nil {
			inner := ""
			if st, serr := procfs.Status(int(o.Pid)); serr == nil && len(st.NSpid) > 1 {
				inner = fmt.Sprintf(", %d in the app's namespace", st.NSpid[len(st.NSpid)-1])
			}
			return d.refuseFd("fd_owner", f.FD, "CR: the signal owner of fd %d (%s), F_SETOWN %s %d%s, not supported: %v", f.FD, f.Path,
				ownerType(int(o.Type)), o.Pid, inner, err)
		}
		f.Owner = &image.FOwner{Type: int(o.Type), Pid: ns}
	}
	d.w.RequireFeature("fd-owner")
	return nil
}

func ownerType(t int) string {
	switch t {
	case fOwnerTID:
		return "thread"
	case fOwnerPID:
		return "process"
	case fOwnerPGRP:
		return "process group"
	}
	return "type " + strconv.Itoa(t)
}

// ownerNS maps an F_GETOWN_EX owner (crrun's namespace) into the app's.
func (t *tree) ownerNS(typ, host int) (int, error) {
	switch typ {
	case fOwnerPID, fOwnerTID:
		st, err := procfs.Status(host)
		if err != nil || !slices.Contains(t.live, st.Tgid) {
			return 0, errors.New(inventory.OwnerOutside)
		}
		return t.ns(host)
	case fOwnerPGRP:
		for _, h := range t.live {
			st, err := procfs.Status(h)
			if err == nil && len(st.NSpgid) > 0 && st.NSpgid[0] == host {
				return st.NSpgid[len(st.NSpgid)-1], nil
			}
		}
		return 0, fmt.Errorf("no process of the app is in that group")
	}
	return 0, fmt.Errorf("unknown owner type")
}

// isZombie reports whether host pid h is a zombie of the app.
func (t *tree) isZombie(h int) bool {
	st, err := procfs.Stat(h)
	return err == nil && st.State == 'Z'
}

// checkLocks runs once every fd is linked to its description: a flock lock
// or a lease is taken again by the process that took it, which must then
// hold the description.
func (t *tree) checkLocks() error {
	holds := map[[2]int]bool{} // (pid, OFD)
	for _, r := range t.fds {
		holds[[2]int{r.p.PID, r.p.FDs[r.idx].OFD}] = true
	}
	for _, r := range t.fds {
		f := &r.p.FDs[r.idx]
		for _, lk := range f.Locks {
			if (lk.Kind == image.LockFlock || lk.Kind == image.LockLease) && lk.Pid != 0 && !holds[[2]int{lk.Pid, f.OFD}] {
				return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: r.host, Kind: "file_lock", Fd: f.FD,
					Reason: fmt.Sprintf("CR: %s on fd %d (%s) of pid %d was taken by pid %d, which no longer holds the file: not supported yet",
						lk.Kind, f.FD, f.Path, r.p.PID, lk.Pid)}}}
			}
		}
	}
	return nil
}
