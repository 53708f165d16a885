package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Named AF_UNIX sockets. A listening socket is bound and listens again; a
// connection made through a name is made again through it (connect, then
// accept on the listener — a temporary one when the app's was closed), so
// getsockname/getpeername answer as before; a bound datagram socket is
// bound again. A path left by the dead original is unlinked first, unless
// something listens on it (then the restore fails: the name is taken).

// sockaddr builds a struct sockaddr_un for name (a path, or an abstract
// name starting with NUL) and its length.
func sockaddr(name string) ([]byte, error) {
	if len(name) >= 108 {
		return nil, fmt.Errorf("socket name %q too long", name)
	}
	b := make([]byte, 2, 2+len(name)+1)
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	b = append(b, name...)
	if !strings.HasPrefix(name, "\x00") {
		b = append(b, 0)
	}
	return b, nil
}

// withAddr injects bind or connect (nr, named call) of socket fd to name.
func (r *restorer) withAddr(fd uint64, nr int, call, name string) error {
	sa, err := sockaddr(name)
	if err != nil {
		return err
	}
	r.reset()
	a, err := r.put(sa)
	if err != nil {
		return err
	}
	_, err = r.inj(r.pid, fmt.Sprintf("%s(%q)", call, name), nr, fd, a, uint64(len(sa)))
	return err
}

// hostPath is where crrun sees a socket path of the app (relative names are
// taken from the main process's working directory, where restore binds).
func (t *treeRestorer) hostPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(t.root.p.Cwd, name)
}

// freeName makes a socket path bindable: a socket file nobody listens on
// (the original's) is removed. It reports whether a file was there.
func (t *treeRestorer) freeName(name string) (existed bool, err error) {
	if name == "" || strings.HasPrefix(name, "\x00") {
		return false, nil
	}
	p := t.hostPath(name)
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return true, fmt.Errorf("socket path %s is now a file of another kind", p)
	}
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET, unix.SOCK_DGRAM} {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			continue
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: p})
		unix.Close(fd)
		if err == nil || errors.Is(err, unix.EAGAIN) {
			return true, fmt.Errorf("socket path %s is in use (something accepts connections on it): stop it first", p)
		}
	}
	return true, os.Remove(p)
}

// chdirRoot puts the main process in its own working directory, so that
// relative socket names bind where they did.
func (t *treeRestorer) chdirRoot() error {
	if t.rootCwd {
		return nil
	}
	r := t.root
	r.reset()
	cwd, err := t.cwdPath(r.p)
	if err != nil {
		return err
	}
	a, err := r.putString(cwd)
	if err != nil {
		return err
	}
	if _, err := r.inj(r.pid, "chdir("+cwd+")", unix.SYS_CHDIR, a); err != nil {
		return err
	}
	t.rootCwd = true
	return nil
}

// bindSocket creates a socket bound to s.Name, listening if listen.
func (t *treeRestorer) bindSocket(s *image.Socket, listen bool) (uint64, error) {
	r := t.root
	if err := t.chdirRoot(); err != nil {
		return 0, err
	}
	if t.unlinked[s.Name] && !s.Unlinked {
		// The name's owner now: the file of the socket bound to it
		// before (whose file was then unlinked) gives way.
		if err := os.Remove(t.hostPath(s.Name)); err != nil {
			return 0, err
		}
		delete(t.unlinked, s.Name)
	} else if _, err := t.freeName(s.Name); err != nil {
		return 0, err
	}
	fd, err := r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, uint64(s.Type)|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	if err := r.withAddr(fd, unix.SYS_BIND, "bind", s.Name); err != nil {
		return 0, err
	}
	if s.Unlinked && !strings.HasPrefix(s.Name, "\x00") {
		if t.unlinked == nil {
			t.unlinked = map[string]bool{}
		}
		t.unlinked[s.Name] = true
	}
	if listen {
		if _, err := r.inj(r.pid, "listen", unix.SYS_LISTEN, fd, uint64(max(s.Backlog, 1))); err != nil {
			return 0, err
		}
		if t.listeners == nil {
			t.listeners = map[string]uint64{}
		}
		t.listeners[s.Name] = fd
	}
	return fd, nil
}

// connectPair connects a new socket to the listener of the accepted end's
// name and accepts it, giving the end for s now and its peer's later.
func (t *treeRestorer) connectPair(s, peer *image.Socket, socks map[uint64]*sockObj) (uint64, error) {
	r := t.root
	// The accepted end carries its listener's name; the client is unnamed
	// or has a name of its own.
	acc, cli := s, peer
	if _, ok := t.listeners[s.Name]; !ok && peer != nil {
		if _, ok := t.listeners[peer.Name]; ok || s.Name == "" {
			acc, cli = peer, s
		}
	}
	if acc == nil || acc.Name == "" {
		return 0, fmt.Errorf("unix socket %d: cannot tell which end was accepted", s.Inode)
	}
	lst, ok := t.listeners[acc.Name]
	if !ok { // the app closed its listener: a temporary one
		existed, err := t.freeName(acc.Name)
		if err != nil {
			return 0, err
		}
		if lst, err = t.bindSocket(&image.Socket{Type: acc.Type, Name: acc.Name, Backlog: 1}, true); err != nil {
			return 0, err
		}
		delete(t.listeners, acc.Name)
		defer func() {
			_, _ = r.inj(r.pid, "close(listener)", unix.SYS_CLOSE, lst)
			if !existed && !strings.HasPrefix(acc.Name, "\x00") {
				os.Remove(t.hostPath(acc.Name))
			}
		}()
	}
	var cfd uint64
	var err error
	if cli != nil && cli.Name != "" {
		cfd, err = t.bindSocket(cli, false)
	} else {
		cfd, err = r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, uint64(acc.Type)|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return 0, err
	}
	if err := r.withAddr(cfd, unix.SYS_CONNECT, "connect", acc.Name); err != nil {
		return 0, err
	}
	afd, err := r.inj(r.pid, "accept4", unix.SYS_ACCEPT4, lst, 0, 0, unix.SOCK_CLOEXEC)
	if err != nil {
		return 0, err
	}
	mine, other := afd, cfd
	if s == cli {
		mine, other = cfd, afd
	}
	if peer != nil {
		socks[peer.Inode] = &sockObj{fd: other, other: mine}
	} else {
		socks[^s.Inode] = &sockObj{fd: other, other: mine} // no holder: closed with the unused ends
	}
	if s.Data != "" {
		if err := t.sendTo(other, s.Data); err != nil {
			return 0, err
		}
	}
	return mine, nil
}

// sockShutdown is a shutdown(2) to make on a parked socket: sk_shutdown's
// bits as sock_diag gave them (RCV_SHUTDOWN 1, SEND_SHUTDOWN 2).
type sockShutdown struct {
	fd  uint64
	how int
}

// shutdownSockets shuts sockets down as saved, once every socket of the
// tree has its queued bytes: an end that may not send any more (or whose
// peer may not receive) could not carry them.
func (t *treeRestorer) shutdownSockets() error {
	r := t.root
	for _, s := range t.shutdowns {
		how, name := uint64(unix.SHUT_RDWR), "SHUT_RDWR"
		switch s.how {
		case 1:
			how, name = unix.SHUT_RD, "SHUT_RD"
		case 2:
			how, name = unix.SHUT_WR, "SHUT_WR"
		}
		if _, err := r.inj(r.pid, "shutdown("+name+")", unix.SYS_SHUTDOWN, s.fd, how); err != nil {
			return err
		}
	}
	return nil
}

// bindsEarly reports a socket bound to a name another socket may own now
// (Unlinked): it is bound before the others, so that the owner, bound
// later, ends up with the path.
func bindsEarly(f *image.FD) bool {
	s := f.Socket
	return s != nil && s.Unlinked && (s.Listen || s.Peer == 0 && s.Name != "")
}

// unlinkNames removes the files of the unlinked sockets that no socket of
// the image owns now, once every connection through them is made.
func (t *treeRestorer) unlinkNames() error {
	for name := range t.unlinked {
		if err := os.Remove(t.hostPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unlink the name %q of an unlinked socket: %w", name, err)
		}
	}
	t.unlinked = nil
	return nil
}
