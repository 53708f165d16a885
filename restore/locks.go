package restore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// File locks and description owners (docs/design.md, Restore).
//
// Every lock is taken again before anything of the app runs, once every
// process has its final fd table (closing any fd of a file drops the POSIX
// locks its process holds on it, so this comes after the parked fds and the
// files opened for mappings are closed):
//   - a POSIX lock by its owner, through the fd it showed under (a POSIX
//     lock belongs to the process and to the description it was taken
//     through), with an injected fcntl(F_SETLK);
//   - an OFD lock once per description, through a copy of it in crrun
//     (its owner is the description: the kernel shows pid -1);
//   - a flock lock and a lease once per description, by the process that
//     took it (the kernel shows its pid; a lease also makes it the
//     description's owner), injected; a flock lock whose taker is gone
//     through crrun's copy (the app then sees pid 0, as before).
//
// Never waiting: a lock another process holds now fails the restore with
// its holder named. Owners (F_SETOWN_EX), F_SETSIG and O_ASYNC come last,
// after the credentials, from a holder of the description (a lease reset
// the owner; O_ASYNC set by the holder on its own fd number, which SIGIO's
// si_fd reports).

// F_SETOWN_EX owner type.
const fOwnerPID = 1

// descKey names a description across the tree (stdio: the restorer's).
func descKey(f *image.FD) int {
	if f.Stdio != nil {
		return 1<<30 + *f.Stdio
	}
	return f.OFD
}

// lockKey names a lock of a description across the tree.
func lockKey(f *image.FD, lk image.FileLock) string {
	return fmt.Sprintf("%d/%s/%v/%d/%d", descKey(f), lk.Kind, lk.Write, lk.Start, lk.End)
}

// fileLocks takes every saved lock again.
func (t *treeRestorer) fileLocks() error {
	done := map[string]bool{} // the OFD, flock and lease locks taken, by lockKey
	for _, p := range t.procs {
		if p.Zombie != nil {
			continue
		}
		r := t.by[p.PID]
		for i := range p.FDs {
			f := &p.FDs[i]
			for _, lk := range f.Locks {
				if err := r.takeLock(f, lk, done); err != nil {
					return fmt.Errorf("pid %d fd %d (%s): %s lock %s: %w", p.PID, f.FD, f.Path, lk.Kind, lockRange(lk), err)
				}
			}
		}
	}
	// A flock lock or a lease whose taker held no fd of it: the
	// checkpoint refuses that; an image saying so is inconsistent.
	for _, p := range t.procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			for _, lk := range f.Locks {
				if lk.Kind != image.LockPOSIX && !done[lockKey(f, lk)] {
					return fmt.Errorf("pid %d fd %d (%s): %s lock taken by pid %d, which holds no fd of it in the image", p.PID, f.FD, f.Path, lk.Kind, lk.Pid)
				}
			}
		}
	}
	return nil
}

func lockRange(lk image.FileLock) string {
	typ := "read"
	if lk.Write {
		typ = "write"
	}
	if lk.Kind != image.LockPOSIX && lk.Kind != image.LockOFD {
		return typ
	}
	if lk.End < 0 {
		return fmt.Sprintf("%s [%d, EOF)", typ, lk.Start)
	}
	return fmt.Sprintf("%s [%d, %d]", typ, lk.Start, lk.End)
}

// flockT is struct flock on x86_64.
func flockT(lk image.FileLock) []byte {
	typ := uint16(unix.F_RDLCK)
	if lk.Write {
		typ = unix.F_WRLCK
	}
	var ln int64
	if lk.End >= 0 {
		ln = lk.End - lk.Start + 1
	}
	b := binary.LittleEndian.AppendUint16(nil, typ)
	b = binary.LittleEndian.AppendUint16(b, unix.SEEK_SET)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(lk.Start))
	b = binary.LittleEndian.AppendUint64(b, uint64(ln))
	return binary.LittleEndian.AppendUint64(b, 0) // l_pid, padding
}

// takeLock takes one lock of fd f in process r (or not, when another
// holder of the description takes it).
func (r *restorer) takeLock(f *image.FD, lk image.FileLock, done map[string]bool) error {
	var err error
	key := lockKey(f, lk)
	switch lk.Kind {
	case image.LockPOSIX:
		if lk.Pid != 0 && lk.Pid != r.p.PID {
			return fmt.Errorf("a POSIX lock of pid %d in the fds of pid %d: inconsistent image", lk.Pid, r.p.PID)
		}
		r.reset()
		a, perr := r.put(flockT(lk))
		if perr != nil {
			return perr
		}
		_, err = r.tr.Inject(r.pid, unix.SYS_FCNTL, uint64(f.FD), unix.F_SETLK, a)
	case image.LockOFD:
		if done[key] {
			return nil
		}
		err = r.withCopy(f, func(c int) error {
			fl := unix.Flock_t{Type: unix.F_RDLCK, Whence: unix.SEEK_SET, Start: lk.Start}
			if lk.Write {
				fl.Type = unix.F_WRLCK
			}
			if lk.End >= 0 {
				fl.Len = lk.End - lk.Start + 1
			}
			return unix.FcntlFlock(uintptr(c), unix.F_OFD_SETLK, &fl)
		})
	case image.LockFlock:
		how := uint64(unix.LOCK_SH | unix.LOCK_NB)
		if lk.Write {
			how = unix.LOCK_EX | unix.LOCK_NB
		}
		switch {
		case done[key]:
			return nil
		case lk.Pid == r.p.PID:
			_, err = r.tr.Inject(r.pid, unix.SYS_FLOCK, uint64(f.FD), how)
		case lk.Pid == 0: // its taker is gone: nobody of the app
			err = r.withCopy(f, func(c int) error { return unix.Flock(c, int(how)) })
		default:
			return nil // its taker takes it
		}
	case image.LockLease:
		if done[key] || lk.Pid != r.p.PID {
			return nil
		}
		typ := uint64(unix.F_RDLCK)
		if lk.Write {
			typ = unix.F_WRLCK
		}
		_, err = r.tr.Inject(r.pid, unix.SYS_FCNTL, uint64(f.FD), unix.F_SETLEASE, typ)
	default:
		return fmt.Errorf("unknown lock kind %q", lk.Kind)
	}
	if err == nil {
		if lk.Kind != image.LockPOSIX {
			done[key] = true
		}
		return nil
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: the file is locked by another process now: %s; stop it or restore where the file is free", err, r.t.lockHolders(f))
	}
	return err
}

// withCopy runs fn on a copy of fd f of r lent to crrun.
func (r *restorer) withCopy(f *image.FD, fn func(c int) error) error {
	c, err := r.getfd(uint64(f.FD))
	if err != nil {
		return err
	}
	defer unix.Close(c)
	return fn(c)
}

// lockHolders names the holders of locks on f's file now (/proc/locks, pids
// of crrun's namespace), but the restored app's own; an OFD lock (pid -1
// there) is found in the fdinfo of the process holding its description.
func (t *treeRestorer) lockHolders(f *image.FD) string {
	var st unix.Stat_t
	if f.File == nil || unix.Stat(f.File.Path, &st) != nil {
		return "holder unknown"
	}
	ours := map[string]bool{}
	for _, r := range t.by {
		ours[strconv.Itoa(r.pid)] = true
	}
	fh, err := os.Open("/proc/locks")
	if err != nil {
		return "holder unknown"
	}
	defer fh.Close()
	key := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[1] == "->" || fs[5] != key || ours[fs[4]] {
			continue
		}
		who := "pid " + fs[4]
		if fs[4] == "-1" {
			who = ofdHolder(key, fs[6], fs[7])
		} else if comm, err := os.ReadFile("/proc/" + fs[4] + "/comm"); err == nil {
			who += " (" + strings.TrimSpace(string(comm)) + ")"
		}
		out = append(out, fmt.Sprintf("%s %s %s-%s held by %s", fs[1], fs[3], fs[6], fs[7], who))
	}
	if len(out) == 0 {
		return "holder unknown (" + key + " has no other lock in /proc/locks now)"
	}
	return strings.Join(out, "; ")
}

// ofdHolder finds the processes whose fdinfo shows the OFD lock on key
// (dev:ino) from start to end.
func ofdHolder(key, start, end string) string {
	want := fmt.Sprintf(" %s %s %s", key, start, end)
	var who []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fdinfo")
		for _, fd := range fds {
			b, err := os.ReadFile("/proc/" + p.Name() + "/fdinfo/" + fd.Name())
			if err != nil || !strings.Contains(string(b), "OFDLCK") || !strings.Contains(string(b), want) {
				continue
			}
			comm, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
			who = append(who, fmt.Sprintf("pid %s (%s) fd %s", p.Name(), strings.TrimSpace(string(comm)), fd.Name()))
		}
	}
	if len(who) == 0 {
		return "an open file description (OFD lock) of an unknown process"
	}
	return "an open file description (OFD lock) of " + strings.Join(who, ", ")
}

// fOwnerExT is struct f_owner_ex.
type fOwnerExT struct {
	Type int32
	Pid  int32
}

// owners gives each description of the process, once, its O_ASYNC, owner
// and signal as saved. It runs after the credentials (F_SETOWN records
// the caller's, which decide who may be signalled).
func (r *restorer) owners() error {
	t := r.t
	if t.ownerDone == nil {
		t.ownerDone = map[int]bool{}
	}
	for i := range r.p.FDs {
		f := &r.p.FDs[i]
		lease := false
		for _, lk := range f.Locks {
			lease = lease || lk.Kind == image.LockLease
		}
		if f.Owner == nil && f.Sig == 0 && f.Flags&unix.O_ASYNC == 0 && !lease || t.ownerDone[descKey(f)] {
			continue
		}
		t.ownerDone[descKey(f)] = true
		fd := uint64(f.FD)
		if f.Flags&unix.O_ASYNC != 0 {
			// Off then on, from this fd: the kernel registers the fd
			// number SIGIO reports (the parked fd had another).
			fl := uint64(f.Flags) &^ (unix.O_CLOEXEC | unix.O_ACCMODE)
			if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, fl&^unix.O_ASYNC); err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
			if _, err := r.inj(r.pid, "fcntl(F_SETFL, O_ASYNC)", unix.SYS_FCNTL, fd, unix.F_SETFL, fl); err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
		}
		if f.Owner != nil || lease {
			o := fOwnerExT{Type: fOwnerPID}
			if f.Owner != nil {
				o = fOwnerExT{Type: int32(f.Owner.Type), Pid: int32(f.Owner.Pid)}
			}
			r.reset()
			a, err := r.put(unsafe.Slice((*byte)(unsafe.Pointer(&o)), unsafe.Sizeof(o)))
			if err != nil {
				return err
			}
			if _, err := r.inj(r.pid, fmt.Sprintf("fcntl(F_SETOWN_EX, %d)", o.Pid), unix.SYS_FCNTL, fd, unix.F_SETOWN_EX, a); err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
		}
		if f.Sig != 0 {
			if _, err := r.inj(r.pid, "fcntl(F_SETSIG)", unix.SYS_FCNTL, fd, unix.F_SETSIG, uint64(f.Sig)); err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
		}
	}
	return nil
}
