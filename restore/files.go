package restore

import (
	"encoding/binary"
	"fmt"

	"crrun/image"

	"golang.org/x/sys/unix"
)

// files recreates the fd table. The process starts with the restorer's stdio
// on 0, 1, 2 (inherited from the stub); those are parked on high fds first,
// then every saved fd is opened and moved to its number, then epoll interest
// lists are rebuilt once every target exists.
func (r *restorer) files() error {
	maxfd := 2
	for _, f := range r.p.FDs {
		maxfd = max(maxfd, f.FD)
	}
	park := uint64(maxfd + 1)
	var parked [3]uint64
	for k := 0; k < 3; k++ {
		fd, err := r.inj(r.pid, "fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, uint64(k), unix.F_DUPFD_CLOEXEC, park)
		if err != nil {
			return fmt.Errorf("park stdio %d: %w", k, err)
		}
		parked[k] = fd
		park = fd + 1
	}
	for k := 0; k < 3; k++ {
		if _, err := r.inj(r.pid, "close", unix.SYS_CLOSE, uint64(k)); err != nil {
			return err
		}
	}
	place := func(tmp uint64, f *image.FD) error {
		cloexec := uint64(0)
		if f.Cloexec {
			cloexec = unix.O_CLOEXEC
		}
		if tmp == uint64(f.FD) {
			fl := uint64(0)
			if f.Cloexec {
				fl = unix.FD_CLOEXEC
			}
			_, err := r.inj(r.pid, "fcntl(F_SETFD)", unix.SYS_FCNTL, tmp, unix.F_SETFD, fl)
			return err
		}
		if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, tmp, uint64(f.FD), cloexec); err != nil {
			return err
		}
		_, err := r.inj(r.pid, "close", unix.SYS_CLOSE, tmp)
		return err
	}
	for i := range r.p.FDs {
		f := &r.p.FDs[i]
		where := fmt.Sprintf("fd %d (%s)", f.FD, f.Path)
		if f.Stdio != nil {
			k := *f.Stdio
			if k < 0 || k > 2 {
				return fmt.Errorf("%s: bad stdio index %d", where, k)
			}
			if err := r.dupTo(parked[k], f); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		var tmp uint64
		var err error
		switch f.Kind {
		case image.FDFile, image.FDDir, image.FDDevice:
			path := f.File.Path
			if f.Blob != "" {
				if path, err = r.blobFile(f.Blob); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
			}
			r.reset()
			a, err := r.putString(path)
			if err != nil {
				return err
			}
			flags := uint64(f.Flags) &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY | unix.O_CLOEXEC)
			if tmp, err = r.inj(r.pid, "openat("+path+")", unix.SYS_OPENAT, atFdcwd, a, flags|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if err := place(tmp, f); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if f.Kind == image.FDFile && f.Pos != 0 {
				if _, err := r.inj(r.pid, "lseek", unix.SYS_LSEEK, uint64(f.FD), uint64(f.Pos), unix.SEEK_SET); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
			}
		case image.FDEpoll:
			if tmp, err = r.inj(r.pid, "epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if err := place(tmp, f); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case image.FDEventfd:
			if f.Eventfd == nil {
				return fmt.Errorf("%s: no eventfd state in the image", where)
			}
			fl := uint64(unix.EFD_CLOEXEC)
			if f.Flags&unix.O_NONBLOCK != 0 {
				fl |= unix.EFD_NONBLOCK
			}
			if f.Eventfd.Semaphore {
				fl |= unix.EFD_SEMAPHORE
			}
			if tmp, err = r.inj(r.pid, "eventfd2", unix.SYS_EVENTFD2, 0, fl); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if f.Eventfd.Count != 0 {
				r.reset()
				a, err := r.put(binary.LittleEndian.AppendUint64(nil, f.Eventfd.Count))
				if err != nil {
					return err
				}
				if _, err := r.inj(r.pid, "write(eventfd)", unix.SYS_WRITE, tmp, a, 8); err != nil {
					return fmt.Errorf("%s: counter %d: %w", where, f.Eventfd.Count, err)
				}
			}
			if err := place(tmp, f); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		default:
			return fmt.Errorf("%s: CR: restoring %s fds not supported yet", where, f.Kind)
		}
	}
	for i := range r.p.FDs {
		f := &r.p.FDs[i]
		if f.Epoll == nil {
			continue
		}
		for _, t := range f.Epoll.Targets {
			r.reset()
			ev := binary.LittleEndian.AppendUint32(nil, uint32(t.Events)) // struct epoll_event is packed on x86_64
			ev = binary.LittleEndian.AppendUint64(ev, uint64(t.Data))
			a, err := r.put(ev)
			if err != nil {
				return err
			}
			if _, err := r.inj(r.pid, "epoll_ctl(ADD)", unix.SYS_EPOLL_CTL, uint64(f.FD), unix.EPOLL_CTL_ADD, uint64(t.FD), a); err != nil {
				return fmt.Errorf("fd %d (epoll): watch fd %d: %w", f.FD, t.FD, err)
			}
		}
	}
	for _, fd := range parked {
		if _, err := r.inj(r.pid, "close", unix.SYS_CLOSE, fd); err != nil {
			return err
		}
	}
	return nil
}

// dupTo puts a copy of fd src on f.FD.
func (r *restorer) dupTo(src uint64, f *image.FD) error {
	cloexec := uint64(0)
	if f.Cloexec {
		cloexec = unix.O_CLOEXEC
	}
	_, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, src, uint64(f.FD), cloexec)
	return err
}
