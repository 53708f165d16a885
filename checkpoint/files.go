package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

func timespec(t unix.Timespec) time.Time { return time.Unix(t.Sec, t.Nsec) }

func (d *dumper) files(p *image.Process) error {
	fds, err := procfs.Fds(d.pid)
	if err != nil {
		return fmt.Errorf("pid %d: list fds: %w", d.pid, err)
	}
	stdio := map[seccomp.FileID][]int{}
	for k, id := range d.req.Stdio {
		stdio[id] = append(stdio[id], k)
	}
	nspid, err := d.ns(d.pid)
	if err != nil {
		return err
	}
	// keep saves what any kind of fd may carry besides its own state: the
	// locks held through it and its description's owner and signal.
	keep := func(fd *image.FD, info *procfs.ProcFdinfo) error {
		if err := d.locks(fd, info, nspid); err != nil {
			return err
		}
		return d.owner(fd)
	}
	for _, e := range fds {
		if err := d.saveFD(p, e, stdio, keep); err != nil {
			return err
		}
	}
	return nil
}

// saveFD saves fd e of d.pid into p.FDs (and the tree's list of fds to
// link): crrun's own stdio as such, every other kind with its state; keep
// adds what any kind may carry besides (locks, owner).
func (d *dumper) saveFD(p *image.Process, e procfs.FdEntry, stdio map[seccomp.FileID][]int, keep func(*image.FD, *procfs.ProcFdinfo) error) error {
	where := fmt.Sprintf("pid %d: fd %d (%s)", d.pid, e.Num, e.Target)
	info, err := procfs.Fdinfo(d.pid, e.Num)
	if err != nil {
		return fmt.Errorf("%s: fdinfo: %w", where, err)
	}
	fd := image.FD{FD: e.Num, Path: e.Target, Flags: image.Octal(info.Flags), Cloexec: info.Flags&unix.O_CLOEXEC != 0,
		Pos: info.Pos, MntID: info.MntID}
	link := fmt.Sprintf("/proc/%d/fd/%d", d.pid, e.Num)
	var st unix.Stat_t // one stat per fd, in the app's pause
	statErr := unix.Stat(link, &st)
	if statErr == nil && stdioShared(&st) {
		if ks := sameDescription(stdio[seccomp.FileID{Dev: st.Dev, Ino: st.Ino}], d.pid, e.Num); len(ks) > 0 {
			k := pickStdio(ks, e.Num, info.Flags)
			fd.Stdio = &k
			fd.Kind = image.FDFile
			if err := keep(&fd, info); err != nil {
				return err
			}
			p.FDs = append(p.FDs, fd)
			return nil
		}
	}
	switch {
	case e.Kind == procfs.KindDevice && e.Rdev.Major == 5 && e.Rdev.Minor == 2: // /dev/ptmx: a pty of the app's
		pt, err := d.ptyMaster(e.Num)
		if err != nil {
			var nc *NotCheckpointableError
			if errors.As(err, &nc) {
				return err
			}
			return fmt.Errorf("%s: %w", where, err)
		}
		fd.Kind, fd.Pty = image.FDPty, pt
		if err := keep(&fd, info); err != nil {
			return err
		}
		p.FDs = append(p.FDs, fd)
		d.t.fds = append(d.t.fds, fdRef{host: d.pid, p: p, idx: len(p.FDs) - 1, key: fileKey{st.Dev, st.Ino}})
		return nil
	}
	switch e.Kind {
	case procfs.KindFile, procfs.KindDir, procfs.KindDevice:
		if statErr != nil {
			return fmt.Errorf("%s: stat: %w", where, statErr)
		}
		fd.Kind = map[procfs.Kind]image.FDKind{procfs.KindFile: image.FDFile, procfs.KindDir: image.FDDir,
			procfs.KindDevice: image.FDDevice}[e.Kind]
		fd.File = fileIdentity(e.Path, &st, e.Deleted)
		fd.Procfs = e.FsType == unix.PROC_SUPER_MAGIC
		if e.Kind == procfs.KindFile && !fd.Procfs {
			hashIdentity(fd.File, link, false)
		}
		if n, ok := ptyIndex(e.Rdev.Major, e.Rdev.Minor); ok && e.Kind == procfs.KindDevice {
			d.t.slaves = append(d.t.slaves, slaveRef{p: p, idx: len(p.FDs), index: n})
		}
		if e.Deleted {
			if err := d.deletedFD(&fd, where, link, &st); err != nil {
				return err
			}
		}
	case procfs.KindEventpoll:
		fd.Kind = image.FDEpoll
		fd.Epoll = &image.Epoll{}
		for _, t := range info.Epoll {
			fd.Epoll.Targets = append(fd.Epoll.Targets, image.EpollTarget{FD: t.Fd, Events: image.Hex(t.Events),
				Data: image.Hex(t.Data), Inode: t.Ino, Dev: image.MakeDev(t.Sdev.Major, t.Sdev.Minor), Pos: t.Pos})
		}
	case procfs.KindEventfd:
		fd.Kind = image.FDEventfd
		if info.Eventfd == nil {
			return fmt.Errorf("%s: no eventfd-count in fdinfo", where)
		}
		fd.Eventfd = &image.Eventfd{Count: info.Eventfd.Count, Semaphore: info.Eventfd.Semaphore}
	case procfs.KindPipe, procfs.KindFIFO:
		fd.Kind = image.FDPipe
		if e.Kind == procfs.KindFIFO {
			if statErr != nil {
				return fmt.Errorf("%s: stat: %w", where, statErr)
			}
			fd.Kind = image.FDFIFO
			fd.File = fileIdentity(e.Path, &st, e.Deleted)
			if e.Deleted {
				if err := d.deletedFD(&fd, where, link, &st); err != nil {
					return err
				}
			}
		}
		fd.Pipe = &image.Pipe{Inode: st.Ino}
	case procfs.KindTimerfd:
		ti := info.Timerfd
		if ti == nil {
			return fmt.Errorf("%s: no timerfd state in fdinfo", where)
		}
		fd.Kind = image.FDTimerfd
		fd.Timerfd = &image.Timerfd{Clock: ti.ClockID, Ticks: ti.Ticks, SettimeFlags: int(ti.SettimeFlags),
			ValueNS: int64(ti.Value.Sec)*1e9 + int64(ti.Value.Nsec), IntervalNS: int64(ti.Interval.Sec)*1e9 + int64(ti.Interval.Nsec)}
		if tf := fd.Timerfd; tf.SettimeFlags&unix.TFD_TIMER_ABSTIME != 0 && tf.ValueNS != 0 && realtimeClock(tf.Clock) {
			// A wall-clock deadline stays one whatever the downtime:
			// the instant it is due, read just after its time left.
			var now unix.Timespec
			if err := unix.ClockGettime(int32(tf.Clock), &now); err == nil {
				tf.DeadlineNS = now.Nano() + tf.ValueNS
			}
		}
	case procfs.KindSignalfd:
		if info.Signalfd == nil {
			return fmt.Errorf("%s: no signalfd state in fdinfo", where)
		}
		fd.Kind = image.FDSignalfd
		fd.Signalfd = &image.Signalfd{Mask: image.Hex(info.Signalfd.Sigmask)}
	case procfs.KindMemfd:
		if statErr != nil {
			return fmt.Errorf("%s: stat: %w", where, statErr)
		}
		fd.Kind = image.FDMemfd
		m, err := d.memfd(e.Num, link, &st)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		fd.Memfd = m
		fd.Blob = inodeBlob(st.Dev, st.Ino)
		if err := d.t.saveBlobOnce(fd.Blob, link); err != nil {
			return fmt.Errorf("%s: save the memfd's content: %w", where, err)
		}
	case procfs.KindInotify:
		fd.Kind = image.FDInotify
		in, err := inotifyWatches(info.Inotify, d.req.WatchPath)
		if err != nil {
			return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "inotify", Fd: e.Num,
				Reason: inotifyReason(e.Num, err)}}}
		}
		fd.Inotify = in
	case procfs.KindPidfd:
		pi := info.Pidfd
		if r := pidfdRefusal(pi, e.Num); r != "" { // as Refusals (the scan) says
			return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "pidfd", Fd: e.Num, Reason: r}}}
		}
		fd.Kind = image.FDPidfd
		fd.Pidfd = &image.Pidfd{Pid: pi.NSpid[len(pi.NSpid)-1]}
	case procfs.KindSocket:
		if isInetSaved(e) {
			if err := d.inet(e, &fd); err != nil {
				return err
			}
			break
		}
		if e.Family == procfs.FamilyNetlink {
			if err := d.netlink(e, &fd); err != nil {
				return err
			}
			break
		}
		if isRawSaved(e) {
			if err := d.raw(e, &fd); err != nil { // raw.go
				return err
			}
			break
		}
		if isPingSaved(e) {
			if err := d.ping(e, &fd); err != nil { // ping.go
				return err
			}
			break
		}
		if e.Family == procfs.FamilyPacket {
			if err := d.packet(e, &fd); err != nil { // packet.go
				return err
			}
			break
		}
		if e.Family != procfs.FamilyUnix {
			return fmt.Errorf("%s: CR: socket(%s) not supported yet", where, e.Family)
		}
		fd.Kind = image.FDUnix
		fd.Socket = &image.Socket{Inode: st.Ino}
		if d.scratch != 0 { // not a file in flight crrun's peek holds: the app's fd holds it too
			pc, err := d.peerCred(e.Num)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			fd.Socket.PeerCred = pc
		}
	case procfs.KindMqueue:
		// A queue of the app's own IPC namespace, saved with it
		// (Request.IPC); the fd is opened again by name.
		if !d.req.PrivateIPC {
			return fmt.Errorf("%s: CR: POSIX message queues in the host's IPC namespace (--ipc=host) not supported", where)
		}
		if e.Deleted || !strings.HasPrefix(e.Path, "/") || strings.Count(e.Path, "/") != 1 {
			return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "mqueue", Fd: e.Num,
				Reason: mqueueUnlinkedReason(d.pid, e.Num, e.Target)}}}
		}
		fd.Kind = image.FDMqueue
		fd.Path = e.Path
	default:
		// The scan refuses these before we get here; this is the safety net.
		return fmt.Errorf("%s: CR: %s fds not supported yet", where, e.Kind)
	}
	if err := keep(&fd, info); err != nil {
		return err
	}
	p.FDs = append(p.FDs, fd)
	if statErr == nil {
		d.t.fds = append(d.t.fds, fdRef{host: d.pid, p: p, idx: len(p.FDs) - 1, key: fileKey{st.Dev, st.Ino}})
	}
	return nil
}

// memfd reads a memfd's name and seals. The seals need the file itself:
// pidfd_getfd lends crrun a copy of the descriptor.
func (d *dumper) memfd(fd int, link string, st *unix.Stat_t) (*image.Memfd, error) {
	target, err := os.Readlink(link)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(strings.TrimPrefix(target, "/memfd:"), " (deleted)")
	mine, err := ptrace.CopyFd(d.pid, fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mine)
	return d.memfdState(mine, name, st)
}

// sameDescription keeps the supervisor's stdio fds ks (all on the app's
// file) that are the very open file description of the app's fd: the app
// inherited it from crrun. A description the app opened itself on the same
// file (its own open("/dev/null", O_WRONLY) while crrun's stdin is
// /dev/null, or the same tty) is the app's, and is saved as such. Should
// kcmp fail, the inode alone decides, as before.
func sameDescription(ks []int, pid, fd int) []int {
	var out []int
	for _, k := range ks {
		r, err := kcmp(os.Getpid(), pid, kcmpFile, uintptr(k), uintptr(fd))
		if err != nil || r == 0 {
			out = append(out, k)
		}
	}
	return out
}

// pickStdio chooses which of the supervisor's stdio fds (ks, all the same
// file: often /dev/null or one tty for all three) an app fd stands for: the
// one with its own number, else one opened for the same direction (stdout
// before stderr for writing, stdin for reading).
func pickStdio(ks []int, fd int, flags uint32) int {
	for _, k := range ks {
		if k == fd {
			return k
		}
	}
	want := []int{0, 1, 2}
	if flags&(unix.O_WRONLY|unix.O_RDWR) != 0 {
		want = []int{1, 2, 0}
	}
	for _, w := range want {
		for _, k := range ks {
			if k == w {
				return k
			}
		}
	}
	return ks[0]
}

// inotifyWatches resolves each watch's file handle to a path: the mount of
// its device (crrun's mountinfo: the app's mounts are crrun's but /proc),
// open_by_handle_at (CAP_DAC_READ_SEARCH: root only), readlink.
func inotifyWatches(ws []procfs.InotifyWatch, recorded func(dev, ino uint64) (string, bool)) (*image.Inotify, error) {
	in := &image.Inotify{}
	mounts := map[procfs.Dev]string{}
	if mi, err := procfs.MountInfo(os.Getpid()); err == nil {
		for _, m := range mi { // a mount of the whole filesystem reaches every handle
			if _, ok := mounts[m.Dev]; !ok || m.Root == "/" {
				mounts[m.Dev] = m.MountPoint
			}
		}
	}
	for _, w := range ws {
		mp, ok := mounts[w.Sdev]
		if !ok {
			return nil, fmt.Errorf("watch %d: no mount of device %d:%d", w.WD, w.Sdev.Major, w.Sdev.Minor)
		}
		if len(w.Handle.Bytes) == 0 {
			return nil, fmt.Errorf("watch %d: the filesystem of %s gives no file handle", w.WD, mp)
		}
		mfd, err := unix.Open(mp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0) // not O_PATH: open_by_handle_at refuses it
		if err != nil {
			return nil, fmt.Errorf("watch %d: open mount %s: %w", w.WD, mp, err)
		}
		fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(w.Handle.Type, w.Handle.Bytes), unix.O_PATH|unix.O_CLOEXEC)
		unix.Close(mfd)
		if err == unix.EPERM && recorded != nil {
			// An ordinary user: the path the app gave inotify_add_watch,
			// if it still names the watched file.
			dev := unix.Mkdev(w.Sdev.Major, w.Sdev.Minor)
			if path, ok := recorded(dev, w.Ino); ok {
				var st unix.Stat_t
				if unix.Lstat(path, &st) == nil && st.Ino == w.Ino && st.Dev == dev || unix.Stat(path, &st) == nil && st.Ino == w.Ino && st.Dev == dev {
					in.Watches = append(in.Watches, image.InotifyWatch{WD: w.WD, Path: path, Mask: image.Hex(w.Mask),
						Inode: w.Ino, Dev: image.MakeDev(w.Sdev.Major, w.Sdev.Minor)})
					continue
				}
			}
		}
		if err != nil {
			if err == unix.EPERM {
				return nil, fmt.Errorf("watch %d: the watched file's path is unknown: an ordinary user cannot use open_by_handle_at, and the path given to inotify_add_watch no longer names it (renamed or deleted since?)", w.WD)
			}
			return nil, fmt.Errorf("watch %d: open_by_handle_at on %s: %w (the watched file was deleted?)", w.WD, mp, err)
		}
		path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("watch %d: %w", w.WD, err)
		}
		if strings.HasSuffix(path, " (deleted)") {
			return nil, fmt.Errorf("watch %d: the watched file %s was deleted", w.WD, path)
		}
		in.Watches = append(in.Watches, image.InotifyWatch{WD: w.WD, Path: path, Mask: image.Hex(w.Mask),
			Inode: w.Ino, Dev: image.MakeDev(w.Sdev.Major, w.Sdev.Minor)})
	}
	slices.SortFunc(in.Watches, func(a, b image.InotifyWatch) int { return a.WD - b.WD })
	return in, nil
}

// stdioShared reports whether an fd on one of crrun's own stdio files stays
// the caller's (restore gives the app the restorer's stdio instead): a
// terminal, a pipe or a socket. A regular file (`app < input.sql`), a
// directory or a harmless device such as /dev/null is saved like any other
// file, by path, offset and identity.
func stdioShared(st *unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK:
		return true
	case unix.S_IFCHR:
		return unix.Major(st.Rdev) != 1 // 1: /dev/null, zero, full, random, urandom…
	}
	return false
}

// realtimeClock reports whether a timer's clock is wall-clock time
// (CLOCK_REALTIME, CLOCK_REALTIME_ALARM): no time namespace shifts it, and
// an absolute deadline on it is an instant of the host's calendar.
func realtimeClock(c int) bool { return c == unix.CLOCK_REALTIME || c == unix.CLOCK_REALTIME_ALARM }
