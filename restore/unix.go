package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
		if t.listeners == nil {
			t.listeners, t.listening = map[string]uint64{}, map[uint64]listening{}
		}
		t.listening[fd] = listening{backlog: s.Backlog, cred: &image.NoPeerCred} // listens below
		if err := t.listenAs(fd, s.PeerCred); err != nil {
			return 0, err
		}
		t.listeners[s.Name] = fd
	}
	return fd, nil
}

// connectPair connects a new socket to the listener of the accepted end's
// name and accepts it, giving the end for s now and its peer's later.
func (t *treeRestorer) connectPair(s, peer *image.Socket, socks map[uint64]*sockObj) (_ uint64, err error) {
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
	if cli != nil && cli.Name != "" {
		cfd, err = t.bindSocket(cli, false)
	} else {
		cfd, err = r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, uint64(acc.Type)|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return 0, err
	}
	// The client end copies the listener's SO_PEERCRED; the accepted end
	// gets the connector's.
	if cli != nil && cli.PeerCred != nil {
		lcred := t.listening[lst].cred
		if err := t.listenAs(lst, cli.PeerCred); err != nil {
			return 0, err
		}
		defer func() {
			if err == nil {
				err = t.listenAs(lst, lcred)
			}
		}()
	}
	if err = t.asCred(acc.PeerCred, "connect", func(mk *restorer) error {
		return mk.withAddr(cfd, unix.SYS_CONNECT, "connect", acc.Name)
	}); err != nil {
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
	t.peerFd[s.Inode] = other
	if s.Data != "" && len(s.Msgs) == 0 {
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

// unconnected creates a socket connected to nothing: bound to its name,
// listening, or neither.
func (t *treeRestorer) unconnected(s *image.Socket) (uint64, error) {
	if s.Listen || s.Name != "" {
		return t.bindSocket(s, s.Listen)
	}
	r := t.root
	return r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, uint64(s.Type)|unix.SOCK_CLOEXEC, 0)
}

// lateOpts are options set once the queues are filled: with SO_PASSCRED
// on a receiver, an unbound sender would be given a name (autobind) as it
// sends.
type lateOpts struct {
	fd   uint64
	opts map[string]int64
}

// late options: the SO_PASS* flags.
var lateNames = map[string]bool{"passcred": true, "passsec": true, "passpidfd": true}

// sockOpts sets the options of s on its new socket fd (the SO_PASS* flags
// later, fillQueues), through a copy in crrun.
func (t *treeRestorer) sockOpts(fd uint64, s *image.Socket) error {
	if len(s.Opts) == 0 {
		return nil
	}
	now, late := map[string]int64{}, map[string]int64{}
	for k, v := range s.Opts {
		if lateNames[k] {
			late[k] = v
		} else {
			now[k] = v
		}
	}
	t.lateOpts = append(t.lateOpts, lateOpts{fd, late})
	c, err := t.root.getfd(fd)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	return image.SetSockOpts(c, now)
}

// pendingConns connects again the connections that waited in listener s's
// backlog, oldest first: each connecting socket is made now (bound to its
// own name if it had one) and given to its holder later (openSocket).
func (t *treeRestorer) pendingConns(s *image.Socket) error {
	r := t.root
	lfd := t.sockFd[s.Inode]
	for _, c := range s.Pending {
		cs := t.sockets[c]
		if cs == nil {
			return fmt.Errorf("listening socket %q: the connecting socket %d of a connection waiting in its backlog is not in the image", s.Name, c)
		}
		var fd uint64
		var err error
		if made, ok := t.sockFd[c]; ok {
			fd = made // bound early (an unlinked name): connected now
		} else if cs.Name != "" {
			fd, err = t.bindSocket(cs, false)
		} else {
			fd, err = r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, uint64(cs.Type)|unix.SOCK_CLOEXEC, 0)
		}
		if err != nil {
			return err
		}
		if _, ok := t.sockFd[c]; !ok {
			if err := t.sockOpts(fd, cs); err != nil {
				return err
			}
		}
		// The connecting end copies the listener's SO_PEERCRED; the
		// connection waiting has the connector's, which nobody can read
		// before accept: the main process connects.
		if err := t.listenAs(lfd, cs.PeerCred); err != nil {
			return err
		}
		if err := r.withAddr(fd, unix.SYS_CONNECT, "connect", s.Name); err != nil {
			return err
		}
		t.sockFd[c] = fd
	}
	return t.listenAs(lfd, s.PeerCred)
}

// fillQueues sends the messages queued at each datagram and seqpacket
// socket again, in order, each from a socket with its sender's address: the
// sender itself when it is in the image, the peer for a seqpacket socket, a
// temporary socket bound to the address otherwise. Then the SO_PASS* flags.
func (t *treeRestorer) fillQueues(pipes map[uint64]*pipeObj, socks map[uint64]*sockObj, withCreds bool) (err error) {
	r := t.root
	var temps []uint64
	defer func() {
		for _, fd := range temps {
			_, _ = r.inj(r.pid, "close(sender)", unix.SYS_CLOSE, fd)
		}
	}()
	tempFor := map[string]uint64{}
	var backs []func() error // the peers' send buffers set back
	defer func() {
		for _, back := range backs {
			if e := back(); e != nil && err == nil {
				err = e
			}
		}
	}()
	for _, s := range t.sockets {
		if len(s.Msgs) == 0 || s.Data == "" || hasCreds(s) != withCreds {
			continue
		}
		if _, ok := t.sockFd[s.Inode]; !ok {
			return fmt.Errorf("unix socket %d: not created", s.Inode)
		}
		b, err := t.req.Image.OpenBlob(s.Data)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			return err
		}
		if s.Type == unix.SOCK_STREAM {
			// Room in the peer's send buffer for the whole queue,
			// the image's value set back after (image.RoomToSend).
			back, err := t.roomToSend(s, len(data))
			if err != nil {
				return err
			}
			backs = append(backs, back)
		}
		off := 0
		for i, m := range s.Msgs {
			if m.Len < 0 || off+m.Len > len(data) {
				return fmt.Errorf("unix socket %d: message %d overruns %s", s.Inode, i+1, s.Data)
			}
			part := data[off : off+m.Len]
			off += m.Len
			var from uint64
			to, ok := "", false
			switch {
			case s.Type != unix.SOCK_DGRAM: // from the peer, always
				from, ok = t.peerFd[s.Inode]
			case m.Sender != 0:
				from, ok = t.sockFd[m.Sender]
				if snd := t.sockets[m.Sender]; snd == nil || snd.Peer != s.Inode {
					to = s.Name
				}
			case s.Peer != 0 || s.PeerGone:
				from, ok = t.peerFd[s.Inode]
			default:
				to = s.Name
				if from, ok = tempFor[m.From]; !ok {
					if from, err = r.inj(r.pid, "socket(AF_UNIX)", unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
						return err
					}
					temps = append(temps, from)
					if m.From != "" {
						if err := r.withAddr(from, unix.SYS_BIND, "bind", m.From); err != nil {
							return fmt.Errorf("a temporary sender with the address of a closed socket: %w", err)
						}
					}
					tempFor[m.From], ok = from, true
				}
			}
			if !ok {
				return fmt.Errorf("unix socket %d: message %d: its sender was not created", s.Inode, i+1)
			}
			files, err := t.flightFiles(m.Files, pipes, socks)
			if err != nil {
				return fmt.Errorf("unix socket %d: message %d: %w", s.Inode, i+1, err)
			}
			for first := true; first || len(part) > 0; first = false {
				// A stream's bytes may be more than the scratch area
				// holds: several sends with the same credentials read
				// as one run.
				n := len(part)
				if s.Type == unix.SOCK_STREAM {
					n = min(n, 512<<10)
				}
				if err := t.sendMsg(from, part[:n], to, files, m.Cred); err != nil {
					return fmt.Errorf("unix socket %d: message %d: %w", s.Inode, i+1, err)
				}
				part, files = part[n:], nil
			}
		}
	}
	return nil
}

// roomToSend raises the send buffer of the peer of stream socket s to
// take n bytes more, through a copy in crrun; the returned func sets it
// back (and closes the copy).
func (t *treeRestorer) roomToSend(s *image.Socket, n int) (func() error, error) {
	from, ok := t.peerFd[s.Inode]
	if !ok {
		return nil, fmt.Errorf("unix socket %d: its peer was not created", s.Inode)
	}
	c, err := t.root.getfd(from)
	if err != nil {
		return nil, err
	}
	back, err := image.RoomToSend(c, n)
	if err != nil {
		unix.Close(c)
		return nil, err
	}
	return func() error {
		defer unix.Close(c)
		if err := back(); err != nil {
			return fmt.Errorf("unix socket %d: %w", s.Inode, err)
		}
		return nil
	}, nil
}

// hasCreds reports a socket whose messages name their senders'
// credentials: sent once every process exists (socketQueues).
func hasCreds(s *image.Socket) bool {
	for _, m := range s.Msgs {
		if m.Cred != nil {
			return true
		}
	}
	return false
}

// finishSockets fills the queues whose messages name their senders'
// credentials (SCM_CREDENTIALS names a live process: every process of the
// tree and its zombies exist now, and the main process still holds every
// parked description), then sets the SO_PASS* flags and makes the
// shutdowns, which must come after every byte is queued.
func (t *treeRestorer) finishSockets(pipes map[uint64]*pipeObj, socks map[uint64]*sockObj) error {
	if err := t.fillQueues(pipes, socks, true); err != nil {
		return err
	}
	r := t.root
	for _, l := range t.lateOpts {
		if len(l.opts) == 0 {
			continue
		}
		c, err := r.getfd(l.fd)
		if err != nil {
			return err
		}
		err = image.SetSockOpts(c, l.opts)
		unix.Close(c)
		if err != nil {
			return err
		}
	}
	t.lateOpts = nil
	return t.shutdownSockets()
}

// flightFiles gives the parked fds of files in flight: crrun's stdio, a
// description of the app's, or one opened now (closed with the parked
// range once every process has its fds).
func (t *treeRestorer) flightFiles(fs []image.FD, pipes map[uint64]*pipeObj, socks map[uint64]*sockObj) ([]uint64, error) {
	var out []uint64
	for i := range fs {
		f := &fs[i]
		if f.Stdio != nil {
			if k := *f.Stdio; k < 0 || k > 2 {
				return nil, fmt.Errorf("a file in flight: bad stdio index %d", k)
			}
			out = append(out, t.stdio[*f.Stdio])
			continue
		}
		if fd, ok := t.ofd[f.OFD]; ok {
			out = append(out, fd)
			continue
		}
		if f.Kind == image.FDUnix || f.Kind == image.FDPidfd || f.Procfs {
			return nil, fmt.Errorf("a file in flight (%s, %s) that the app does not hold: not restorable", f.Kind, f.Path)
		}
		fd, err := t.open(f, pipes, socks)
		if err != nil {
			return nil, fmt.Errorf("a file in flight (%s): %w", f.Path, err)
		}
		t.ofd[f.OFD] = fd
		out = append(out, fd)
	}
	return out, nil
}

// sendMsg injects sendmsg(fd, b, to, files) in the main process (to: ""
// for the socket's peer; files: fds of the main process, as SCM_RIGHTS),
// MSG_DONTWAIT: a queue that takes it no more is an error.
func (t *treeRestorer) sendMsg(fd uint64, b []byte, to string, files []uint64, cred *image.Ucred) error {
	r := t.root
	r.reset()
	a, err := r.put(b)
	if err != nil {
		return err
	}
	var sa, salen uint64
	if to != "" {
		addr, err := sockaddr(to)
		if err != nil {
			return err
		}
		if sa, err = r.put(addr); err != nil {
			return err
		}
		salen = uint64(len(addr))
	}
	var ctl, ctlen uint64
	var c []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f)
		}
		c = unix.UnixRights(fds...)
	}
	if cred != nil {
		c = append(c, unix.UnixCredentials(&unix.Ucred{Pid: int32(cred.Pid), Uid: cred.Uid, Gid: cred.Gid})...)
	}
	if len(c) > 0 {
		if ctl, err = r.put(c); err != nil {
			return err
		}
		ctlen = uint64(len(c))
	}
	iov, err := r.put(le64(a, uint64(len(b))))
	if err != nil {
		return err
	}
	// struct msghdr: name, namelen, iov, iovlen, control, controllen, flags.
	hdr, err := r.put(le64(sa, salen, iov, 1, ctl, ctlen, 0))
	if err != nil {
		return err
	}
	n, err := r.inj(r.pid, "sendmsg", unix.SYS_SENDMSG, fd, hdr, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	if err != nil {
		return err
	}
	if n != uint64(len(b)) {
		return fmt.Errorf("sent %d of %d bytes", n, len(b))
	}
	return nil
}

// socketQueues finishes the sockets (finishSockets) once every process and
// zombie exists, unless openFiles did (the main process had exited).
func (t *treeRestorer) socketQueues() error {
	if t.blank != nil {
		return nil
	}
	err := t.finishSockets(t.sockPipes, t.sockSocks)
	t.sockPipes, t.sockSocks = nil, nil
	return err
}
