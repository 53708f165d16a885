package checkpoint

import (
	"fmt"
	"time"

	"crrun/image"
	"crrun/internal/procfs"
	"crrun/seccomp"

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
	for _, e := range fds {
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
		if statErr == nil {
			if ks, ok := stdio[seccomp.FileID{Dev: st.Dev, Ino: st.Ino}]; ok {
				k := pickStdio(ks, e.Num, info.Flags)
				fd.Stdio = &k
				fd.Kind = image.FDFile
				p.FDs = append(p.FDs, fd)
				continue
			}
		}
		switch e.Kind {
		case procfs.KindFile, procfs.KindDir, procfs.KindDevice:
			if statErr != nil {
				return fmt.Errorf("%s: stat: %w", where, statErr)
			}
			fd.Kind = map[procfs.Kind]image.FDKind{procfs.KindFile: image.FDFile, procfs.KindDir: image.FDDir,
				procfs.KindDevice: image.FDDevice}[e.Kind]
			fd.File = fileIdentity(e.Path, &st, e.Deleted)
			if e.Deleted && e.Kind == procfs.KindFile {
				name := fmt.Sprintf("fd-%d-%d.bin", p.PID, e.Num)
				if err := d.saveBlob(name, link); err != nil {
					return fmt.Errorf("%s: save the deleted file's content: %w", where, err)
				}
				fd.Blob = name
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
		default:
			// The scan refuses these before we get here; this is the safety net.
			return fmt.Errorf("%s: CR: %s fds not supported yet", where, e.Kind)
		}
		p.FDs = append(p.FDs, fd)
	}
	return nil
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
