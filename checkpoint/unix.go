package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// unixDiag is what sock_diag tells about one AF_UNIX socket.
type unixDiag struct {
	typ, state int
	ino, peer  uint64
	name       string
	rqueue     uint32
	wqueue     uint32 // for a listener: its backlog
	shutdown   int
	vfsIno     uint64   // the socket file's inode (a path name), 0 if none
	vfsDev     uint32   // its device, as the kernel's dev_t (major<<20|minor)
	hasPeer    bool     // UNIX_DIAG_PEER came: connected (peer 0: to a socket closed since, or not accepted yet)
	icons      []uint64 // a listener's backlog: each connection's connecting socket (0: closed since)
}

// sock_diag constants for AF_UNIX (include/uapi/linux/unix_diag.h).
const (
	udiagShowName     = 0x01
	udiagShowVFS      = 0x02
	unixDiagVFS       = 1
	udiagShowPeer     = 0x04
	udiagShowIcons    = 0x08
	unixDiagIcons     = 3
	udiagShowRqlen    = 0x10
	unixDiagName      = 0
	unixDiagPeer      = 2
	unixDiagRqlen     = 4
	unixDiagShutdown  = 6
	sockDiagByFamily  = 20
	tcpListen         = 10
	unixDiagReqLength = 24 // struct unix_diag_req
)

// unixSockets asks the kernel (NETLINK_SOCK_DIAG) for every AF_UNIX socket of
// the app's network namespace (init: crrun's init, see diagSocket): type,
// state, peer, name, queued bytes; and the embryos of backlogs.
func unixSockets(init int) (map[uint64]unixDiag, []unixDiag, error) {
	fd, release, err := diagSocket(init)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	le := binary.LittleEndian
	req := make([]byte, 16+unixDiagReqLength)
	le.PutUint32(req[0:], uint32(len(req)))
	le.PutUint16(req[4:], sockDiagByFamily)
	le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16] = unix.AF_UNIX
	le.PutUint32(req[20:], ^uint32(0)) // all states
	// struct unix_diag_req: family u8, protocol u8, pad u16, states u32,
	// ino u32, show u32, cookie [2]u32. UNIX_DIAG_SHUTDOWN always comes.
	le.PutUint32(req[28:], udiagShowName|udiagShowVFS|udiagShowPeer|udiagShowIcons|udiagShowRqlen)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, nil, fmt.Errorf("sock_diag request: %w", err)
	}
	out := map[uint64]unixDiag{}
	var embryos []unixDiag
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, embryos, nil
			case syscall.NLMSG_ERROR:
				return nil, nil, fmt.Errorf("sock_diag: error %d", int32(le.Uint32(m.Data)))
			}
			d := m.Data
			if len(d) < 16 {
				continue
			}
			u := unixDiag{typ: int(d[1]), state: int(d[2]), ino: uint64(le.Uint32(d[4:])), shutdown: -1}
			for a := d[16:]; len(a) >= 4; {
				l := int(le.Uint16(a))
				if l < 4 || l > len(a) {
					break
				}
				v := a[4:l]
				switch le.Uint16(a[2:]) {
				case unixDiagName: // the bound address; a path with its NUL
					u.name = string(v)
					if !strings.HasPrefix(u.name, "\x00") {
						u.name = strings.TrimRight(u.name, "\x00")
					}
				case unixDiagVFS:
					if len(v) >= 8 {
						u.vfsIno, u.vfsDev = uint64(le.Uint32(v)), le.Uint32(v[4:])
					}
				case unixDiagPeer:
					if len(v) >= 4 {
						u.peer, u.hasPeer = uint64(le.Uint32(v)), true
					}
				case unixDiagIcons:
					for i := 0; i+4 <= len(v); i += 4 {
						u.icons = append(u.icons, uint64(le.Uint32(v[i:])))
					}
				case unixDiagRqlen:
					if len(v) >= 8 {
						u.rqueue, u.wqueue = le.Uint32(v), le.Uint32(v[4:])
					}
				case unixDiagShutdown:
					if len(v) >= 1 {
						u.shutdown = int(v[0])
					}
				}
				a = a[(l+3)&^3:]
			}
			if u.ino == 0 { // not accepted yet (its listener's icons) or being closed
				embryos = append(embryos, u)
				continue
			}
			out[u.ino] = u
		}
	}
}

// linkSockets keeps the AF_UNIX sockets restore can rebuild, each with its
// options (image.UnixSockOpts): the two ends of a socketpair or of a connection
// inside the app (named or not; the peer may be closed since), with the
// bytes queued at each end — a datagram or seqpacket socket's messages one
// by one, with their senders' addresses; listening sockets with the
// connections waiting in their backlog (their connecting ends in the app,
// nothing queued in them yet); unconnected sockets, bound or not. It
// refuses the others with the reason.
func (t *tree) linkSockets() error {
	var refs []fdRef
	inTree := map[uint64]bool{}
	holder := map[uint64]fdRef{} // an fd of the app on each socket
	for _, r := range t.fds {
		if f := &r.p.FDs[r.idx]; f.Socket != nil {
			refs = append(refs, r)
			inTree[f.Socket.Inode] = true
			if _, ok := holder[f.Socket.Inode]; !ok {
				holder[f.Socket.Inode] = r
			}
		}
	}
	if len(refs) == 0 {
		return nil
	}
	diag, _, err := unixSockets(t.req.Init)
	if err != nil {
		return err
	}
	var findings []seccomp.Finding
	refuse := func(r fdRef, format string, a ...any) {
		f := &r.p.FDs[r.idx]
		findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "unix_socket", Fd: f.FD,
			Reason: unixReason(fmt.Sprintf(format, a...), r.p.PID, f.FD)})
	}
	t.unlinkedNames(refs, diag, refuse)
	var appProcs []*image.Process
	for _, p := range t.procs {
		appProcs = append(appProcs, p)
	}
	waiting := waitingClients(diag)
	saved := map[uint64]bool{}
	optsOf := map[uint64]map[string]int64{}
	queued := false
	var peekBuf []byte // one message at a time, for every socket
	for _, r := range refs {
		f := &r.p.FDs[r.idx]
		u, ok := diag[f.Socket.Inode]
		if !ok {
			u.ino = f.Socket.Inode
		}
		// The same verdict as the scan's (Refusals).
		if reason := unixRefusal(u, ok, diag, inTree); reason != "" {
			refuse(r, "%s", reason)
			continue
		}
		if c := f.Socket.PeerCred; c != nil {
			if reason := image.PeerCredRefusal(*c, appProcs); reason != "" {
				refuse(r, "unix socket %d: %s", u.ino, reason)
				continue
			}
		}
		s := f.Socket
		s.Type, s.Name = u.typ, u.name
		if optsOf[u.ino] == nil {
			// Options and queue are the socket's: read once, whatever
			// the number of fds on it (the queue goes with the first).
			opts, err := sockOpts(r.host, f.FD)
			if err != nil {
				return fmt.Errorf("pid %d fd %d: options of unix socket %d: %w", r.p.PID, f.FD, u.ino, err)
			}
			optsOf[u.ino] = opts
			queued = true
		}
		s.Opts = optsOf[u.ino]
		if u.state == tcpListen {
			if s.Unlinked && len(u.icons) > 0 {
				refuse(r, "listening unix socket %q, whose name another socket has now, has connections not accepted yet: not supported", u.name)
				continue
			}
			s.Listen, s.Backlog, s.Pending = true, int(u.wqueue), u.icons
			continue
		}
		s.Peer = u.peer
		s.PeerGone = u.hasPeer && u.peer == 0 && !waiting[u.ino]
		if u.shutdown > 0 {
			s.Shutdown = u.shutdown
		}
		if saved[u.ino] {
			continue
		}
		saved[u.ino] = true
		if u.typ == unix.SOCK_STREAM {
			if u.rqueue == 0 {
				continue
			}
			if oob, err := oobQueued(r.host, f.FD); err != nil {
				return fmt.Errorf("pid %d fd %d: unix socket %d: %w", r.p.PID, f.FD, u.ino, err)
			} else if oob {
				refuse(r, "%s", oobReason)
				continue
			}
			data, segs, creds, err := peekQueue(r.host, f.FD, int(u.rqueue))
			if err != nil {
				return fmt.Errorf("pid %d fd %d: read the queued data of unix socket %d: %w", r.p.PID, f.FD, u.ino, err)
			}
			if ends := fdEnds(segs); len(ends) > 0 {
				// Files in flight: the runs that carry them are found
				// by reading the queue and sending it again from the
				// peer (unixstream.go).
				passcred := s.Opts["passcred"] != 0 || s.Opts["passpidfd"] != 0
				if reason := streamRightsRefusal(u, diag, inTree, passcred); reason != "" {
					refuse(r, "%s", reason)
					continue
				}
				if s.Opts["passpidfd"] != 0 && s.Opts["passcred"] == 0 {
					refuse(r, "files in flight (SCM_RIGHTS) on a unix stream socket whose reader has SO_PASSPIDFD without SO_PASSCRED not supported")
					continue
				}
				if len(creds) > 0 {
					// Checked before the queue is read: restore (and the
					// dump's resend) must name these senders again.
					msgs := make([]image.SockMsg, len(creds))
					for i, c := range creds {
						msgs[i] = image.SockMsg{Len: c.n, Cred: &image.Ucred{Pid: int(c.cred.Pid), Uid: c.cred.Uid, Gid: c.cred.Gid}}
					}
					if reason := t.senderCreds(msgs, s); reason != "" {
						refuse(r, "%s", reason)
						continue
					}
				}
				pr, ok := holder[u.peer]
				if !ok {
					refuse(r, "files in flight (SCM_RIGHTS) on a unix stream socket whose peer is no socket of the app not supported")
					continue
				}
				t.mutated = true // inventory.go
				q, err := drainStream(r.host, f.FD, pr.host, pr.p.FDs[pr.idx].FD, int(u.rqueue), ends, passcred)
				t.flightFds = append(t.flightFds, runFds(q.runs)...)
				if err != nil {
					return fmt.Errorf("pid %d fd %d: the files in flight of unix stream socket %d: %w", r.p.PID, f.FD, u.ino, err)
				}
				if err := samePeek(r.host, f.FD, q, segs); err != nil {
					return fmt.Errorf("pid %d fd %d: the files in flight of unix stream socket %d, sent again: %w", r.p.PID, f.FD, u.ino, err)
				}
				if reason := t.senderCreds(q.msgs, s); reason != "" {
					refuse(r, "%s", reason)
					continue
				}
				if reason, err := t.flightFiles(q.msgs, q.runs, inTree); err != nil {
					return err
				} else if reason != "" {
					refuse(r, "%s", reason)
					continue
				}
				name := fmt.Sprintf("socket-%d.bin", u.ino)
				if err := writeBlob(t.w, name, q.data); err != nil {
					return err
				}
				s.Data, s.Msgs = name, q.msgs
				continue
			}
			if len(creds) > 0 {
				msgs := make([]image.SockMsg, len(creds))
				for i, c := range creds {
					msgs[i] = image.SockMsg{Len: c.n, Cred: &image.Ucred{Pid: int(c.cred.Pid), Uid: c.cred.Uid, Gid: c.cred.Gid}}
				}
				if reason := t.senderCreds(msgs, s); reason != "" {
					refuse(r, "%s", reason)
					continue
				}
				s.Msgs = msgs
			}
			name := fmt.Sprintf("socket-%d.bin", u.ino)
			if err := writeBlob(t.w, name, data); err != nil {
				return err
			}
			s.Data = name
			continue
		}
		// Datagram and seqpacket: every message (a datagram's size is all
		// sock_diag gives, of the first one only: always look).
		if peekBuf == nil {
			peekBuf = make([]byte, 1<<20)
		}
		q, err := peekMsgs(r.host, f.FD, u.shutdown&1 != 0 || s.PeerGone && u.typ == unix.SOCK_SEQPACKET, peekBuf)
		t.flightFds = append(t.flightFds, runFds(q.runs)...)
		if err != nil {
			return fmt.Errorf("pid %d fd %d: read the queued messages of unix socket %d: %w", r.p.PID, f.FD, u.ino, err)
		}
		if q.reason != "" {
			refuse(r, "%s", q.reason)
			continue
		}
		if len(q.msgs) == 0 {
			continue
		}
		if reason := t.senders(s, u, q.msgs, diag, inTree); reason != "" {
			refuse(r, "%s", reason)
			continue
		}
		if reason := t.senderCreds(q.msgs, s); reason != "" {
			refuse(r, "%s", reason)
			continue
		}
		if reason, err := t.flightFiles(q.msgs, q.runs, inTree); err != nil {
			return err
		} else if reason != "" {
			refuse(r, "%s", reason)
			continue
		}
		name := fmt.Sprintf("socket-%d.bin", u.ino)
		if err := writeBlob(t.w, name, q.data); err != nil {
			return err
		}
		s.Data, s.Msgs = name, q.msgs
	}
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	if queued {
		t.w.RequireFeature("unix-queues")
	}
	t.w.RequireFeature("unix-peercred") // Socket.PeerCred, the fds' peercred fields

	return nil
}

// waitingClients are the connecting ends of the connections waiting in a
// listener's backlog (sock_diag shows them connected to no socket, as a
// socket whose peer has closed).
func waitingClients(diag map[uint64]unixDiag) map[uint64]bool {
	out := map[uint64]bool{}
	for _, u := range diag {
		for _, c := range u.icons {
			out[c] = true
		}
	}
	return out
}

// senders finds, for each datagram queued at s, the socket of the app that
// sent it (by its address), and refuses what restore could not send again
// from the same address to the same socket: a sender bound to a path that
// is no socket of the app any more, a receiver only its own peer may send
// to now, a receiver whose name is another socket's now.
func (t *tree) senders(s *image.Socket, u unixDiag, msgs []image.SockMsg, diag map[uint64]unixDiag, inTree map[uint64]bool) string {
	if u.typ == unix.SOCK_SEQPACKET {
		return "" // from its peer, always
	}
	byName := map[string][]uint64{}
	for ino := range inTree {
		if d, ok := diag[ino]; ok && d.name != "" && d.state != tcpListen {
			byName[d.name] = append(byName[d.name], ino)
		}
	}
	// reaches: restore can send from snd to s: snd is connected to s, or s
	// has its name.
	reaches := func(snd uint64) bool { return diag[snd].peer == s.Inode || s.Name != "" && !s.Unlinked }
	for i := range msgs {
		m := &msgs[i]
		from := m.From
		if m.From == "" {
			if s.Peer != 0 && diag[s.Peer].name == "" {
				m.Sender = s.Peer // an unbound peer: from it (nothing tells another unbound socket apart)
				if !reaches(m.Sender) {
					return fmt.Sprintf("datagram %d queued at an unnamed unix datagram socket from its peer, connected to another socket now: not supported", i+1)
				}
				continue
			}
			if s.Peer == 0 && s.PeerGone {
				continue // from the closed peer, or as if
			}
			if s.Peer == 0 && s.Name != "" && !s.Unlinked {
				continue // sent to its name by an unbound socket
			}
			return fmt.Sprintf("datagram %d queued at a unix datagram socket from an unbound socket that cannot reach it now: not supported", i+1)
		}
		if strings.HasPrefix(from, "@") { // x/sys writes an abstract name's NUL as @
			from = "\x00" + from[1:]
		}
		cands := byName[from]
		if from != m.From {
			cands = append(slices.Clone(cands), byName[m.From]...)
		}
		if len(cands) > 1 {
			return fmt.Sprintf("datagram %d queued at a unix datagram socket from %q, a name several sockets of the app have: not supported", i+1, m.From)
		}
		if len(cands) == 1 {
			m.Sender, m.From = cands[0], diag[cands[0]].name
		} else if !strings.HasPrefix(m.From, "@") {
			return fmt.Sprintf("datagram %d queued at a unix datagram socket from %q, a path no socket of the app is bound to now: not supported", i+1, m.From)
		} else {
			m.From = from // an abstract name: a temporary socket takes it again
		}
		switch {
		case s.Peer != 0 && m.Sender != s.Peer, s.PeerGone:
			return fmt.Sprintf("datagram %d queued at a unix datagram socket from %q, which it is not connected to: not supported", i+1, m.From)
		case s.Peer == 0 && (s.Name == "" || s.Unlinked), m.Sender != 0 && !reaches(m.Sender):
			return fmt.Sprintf("datagram %d queued at a unix datagram socket from %q, that has no name to send it to now: not supported", i+1, m.From)
		}
	}
	return ""
}

// sockOpts reads the options of socket fd of pid (a pidfd_getfd copy).
func sockOpts(pid, fd int) (map[string]int64, error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(s)
	return image.ReadSockOpts(s), nil
}

// run is one message a peek gave, with its files in flight as crrun
// received them (fds of crrun's own).
type run struct {
	n   int
	fds []int
}

// runFds are every fd of runs.
func runFds(runs []run) []int {
	var out []int
	for _, r := range runs {
		out = append(out, r.fds...)
	}
	return out
}

// peekQueue reads the n bytes queued at a stream socket of pid without
// consuming them: a copy of the fd (pidfd_getfd) is read with MSG_PEEK,
// walking the queue with SO_PEEK_OFF, which is set back afterwards. segs
// are the walk's peeks: each one's end, and whether it brought files in
// flight (SCM_RIGHTS: the kernel installs copies in crrun even with
// MSG_PEEK; they are closed): such a peek ends where the sk_buff that
// carries them ends (unixstream.go); creds, for a reader with
// SO_PASSCRED, the runs of bytes of each sender's credentials.
func peekQueue(pid, fd, n int) (data []byte, segs []peekSeg, creds []credRun, err error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return nil, nil, nil, err
	}
	defer unix.Close(s)
	restore, err := peekFrom0(s)
	if err != nil {
		return nil, nil, nil, err
	}
	defer restore()
	data = make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(253*4)+unix.CmsgSpace(unix.SizeofUcred))
	got := 0
	for got < n {
		m, oobn, _, _, err := unix.Recvmsg(s, data[got:], oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		fds := rightsOf(oob[:oobn])
		closeAll(fds)
		closePidfds(oob[:oobn])
		if m == 0 {
			break
		}
		if c := credOf(oob[:oobn]); c != nil {
			// A reader with SO_PASSCRED: a peek stops where the
			// sender's credentials change.
			creds = append(creds, credRun{n: m, cred: *c})
		}
		got += m
		segs = append(segs, peekSeg{end: got, rights: fds != nil})
	}
	if got != n {
		return nil, nil, nil, fmt.Errorf("peeked %d of %d queued bytes", got, n)
	}
	return data, segs, creds, nil
}

// peekSeg is one peek of a stream's walk: where it ended, and whether it
// brought files in flight.
type peekSeg struct {
	end    int
	rights bool
}

// credRun is a run of stream bytes sent with the same credentials (as
// crrun's peek sees them: pid and ids in crrun's namespaces).
type credRun struct {
	n    int
	cred unix.Ucred
}

// credOf returns the SCM_CREDENTIALS a peek received, nil if none.
func credOf(oob []byte) *unix.Ucred {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, cm := range msgs {
		if c, err := unix.ParseUnixCredentials(&cm); err == nil {
			return c
		}
	}
	return nil
}

// peekFrom0 sets the peek offset of socket s to 0 and returns what sets it
// back to the app's value (-1: off).
func peekFrom0(s int) (func(), error) {
	was, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil {
		return nil, fmt.Errorf("SO_PEEK_OFF: %w", err)
	}
	if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return nil, fmt.Errorf("SO_PEEK_OFF: %w", err)
	}
	return func() { unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF, was) }, nil //nolint:errcheck
}

// rightsOf returns the file descriptors a peek received (SCM_RIGHTS), nil
// if none.
func rightsOf(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var out []int
	for _, cm := range msgs {
		if fds, err := unix.ParseUnixRights(&cm); err == nil {
			out = append(out, fds...)
		}
	}
	return out
}

func closeAll(fds []int) {
	for _, x := range fds {
		unix.Close(x)
	}
}

// msgQueue is what peekMsgs read: the bytes of every message, each one's
// size and sender, with its files in flight (runs), or why the queue is
// refused.
type msgQueue struct {
	data   []byte
	msgs   []image.SockMsg
	runs   []run
	reason string
}

// peekMsgs reads the messages queued at a datagram or seqpacket socket of
// pid without consuming them, as peekQueue does: each peek gives one
// message, its size (MSG_TRUNC), its sender's address and its files in
// flight. eof: the socket may read no more (a 0 is then the end, not an
// empty message). buf holds one message at a time.
func peekMsgs(pid, fd int, eof bool, buf []byte) (q msgQueue, err error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return q, err
	}
	defer unix.Close(s)
	restore, err := peekFrom0(s)
	if err != nil {
		return q, err
	}
	defer restore()
	oob := make([]byte, unix.CmsgSpace(253*4))
	for {
		n, oobn, _, from, err := unix.Recvmsg(s, buf, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return q, nil
		}
		if err != nil {
			return q, err
		}
		fds := rightsOf(oob[:oobn])
		closePidfds(oob[:oobn])
		q.runs = append(q.runs, run{n: n, fds: fds})
		if n == 0 && fds == nil {
			if eof {
				q.runs = q.runs[:len(q.runs)-1]
				return q, nil
			}
			q.reason = "a message of 0 bytes queued at a unix socket not supported (a peek hides it from the next one)"
			return q, nil
		}
		if n > len(buf) {
			q.reason = fmt.Sprintf("a message of %d bytes queued at a unix socket, over crrun's %d, not supported", n, len(buf))
			return q, nil
		}
		m := image.SockMsg{Len: n}
		if c := credOf(oob[:oobn]); c != nil {
			m.Cred = &image.Ucred{Pid: int(c.Pid), Uid: c.Uid, Gid: c.Gid} // host pid until senderCreds
		}
		if sa, ok := from.(*unix.SockaddrUnix); ok {
			m.From = sa.Name
		}
		q.data = append(q.data, buf[:n]...)
		q.msgs = append(q.msgs, m)
	}
}

// flightFiles saves the files in flight of each message (runs[i] for
// msgs[i]) as fds of crrun (tree.flight), to be copied into msgs once
// linked; it returns why one cannot be restored.
func (t *tree) flightFiles(msgs []image.SockMsg, runs []run, inTree map[uint64]bool) (string, error) {
	stdio := map[seccomp.FileID][]int{}
	for k, id := range t.req.Stdio {
		stdio[id] = append(stdio[id], k)
	}
	if t.flight == nil {
		t.flight = &image.Process{}
	}
	d := &dumper{t: t, tr: t.tr, req: t.req, pid: os.Getpid(), w: t.w}
	none := func(*image.FD, *procfs.ProcFdinfo) error { return nil }
	for i, r := range runs {
		if len(r.fds) == 0 {
			continue
		}
		var idx []int
		for _, fd := range r.fds {
			e, err := procfs.Fd(os.Getpid(), fd)
			if err != nil {
				return "", fmt.Errorf("a file in flight: %w", err)
			}
			if e.Kind == procfs.KindSocket && e.Family != procfs.FamilyUnix {
				return fmt.Sprintf("a %s socket in flight (SCM_RIGHTS) on a unix socket not supported yet", e.Family), nil
			}
			n := len(t.flight.FDs)
			if err := d.saveFD(t.flight, e, stdio, none); err != nil {
				var nc *NotCheckpointableError
				if errors.As(err, &nc) && len(nc.Findings) > 0 {
					return "a file in flight (SCM_RIGHTS): " + nc.Findings[0].Reason, nil
				}
				return "", fmt.Errorf("a file in flight (%s): %w", e.Target, err)
			}
			if reason := flightRefusal(&t.flight.FDs[n], inTree); reason != "" {
				return reason, nil
			}
			idx = append(idx, n)
		}
		t.flightFix = append(t.flightFix, flightFix{msgs: msgs, i: i, idx: idx})
	}
	return "", nil
}

// flightRefusal is why restore could not send file f in flight again.
func flightRefusal(f *image.FD, inTree map[uint64]bool) string {
	switch {
	case f.Stdio != nil:
		return ""
	case f.Procfs:
		return fmt.Sprintf("a /proc file (%s) in flight (SCM_RIGHTS) on a unix socket not supported yet", f.Path)
	case f.Kind == image.FDUnix && !inTree[f.Socket.Inode]:
		return "a unix socket in flight (SCM_RIGHTS) that no fd of the app holds not supported yet"
	}
	switch f.Kind {
	case image.FDFile, image.FDDir, image.FDDevice, image.FDPipe, image.FDFIFO, image.FDEventfd, image.FDMemfd, image.FDSignalfd, image.FDUnix:
		return ""
	}
	return fmt.Sprintf("a %s fd (%s) in flight (SCM_RIGHTS) on a unix socket not supported yet", f.Kind, f.Path)
}

// senderCreds maps the credentials of each message (a reader with
// SO_PASSCRED) into the app's namespaces, and refuses what restore could
// not name again (measured, Linux 6.18): a pid that is no process of the
// app (it has exited, or lives outside: SCM_CREDENTIALS names only a live
// process), another process's pid or other ids when crrun is not root
// (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID), a reader whose peer has closed
// (restore sends from the peer once every process exists).
func (t *tree) senderCreds(msgs []image.SockMsg, s *image.Socket) string {
	uns := func(pid int) string { l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); return l }
	for i := range msgs {
		c := msgs[i].Cred
		if c == nil {
			continue
		}
		switch {
		case s.PeerGone || s.Type != unix.SOCK_DGRAM && s.Peer == 0:
			return "bytes queued for a reader with SO_PASSCRED whose peer has closed: their senders' credentials cannot be restored: not supported yet"
		case t.mainExit != nil:
			return "bytes queued for a reader with SO_PASSCRED, the main process gone: restore names their senders' credentials from it: not supported yet"
		}
		p := t.procs[c.Pid]
		if p == nil || len(t.live) == 0 {
			return fmt.Sprintf("bytes queued for a reader with SO_PASSCRED sent by pid %d, which is no process of the app (it has exited, or lives outside): a pid can be named again only while its process lives: not supported", c.Pid)
		}
		if uns(os.Getpid()) != uns(t.live[0]) {
			return "bytes queued for a reader with SO_PASSCRED, the app in another user namespace than crrun's: their senders' ids cannot be mapped: not supported yet"
		}
		main := t.procs[t.live[0]]
		if os.Geteuid() != 0 && (main == nil || p.PID != main.PID || int(c.Uid) != os.Geteuid() || int(c.Gid) != os.Getegid()) {
			return fmt.Sprintf("bytes queued for a reader with SO_PASSCRED sent by pid %d: naming another process or other ids again needs root (CAP_SYS_ADMIN, CAP_SETUID)", p.PID)
		}
		c.Pid = p.PID
	}
	return ""
}
