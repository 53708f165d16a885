package checkpoint

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"

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
	vfsIno     uint64 // the socket file's inode (a path name), 0 if none
	vfsDev     uint32 // its device, as the kernel's dev_t (major<<20|minor)
}

// sock_diag constants for AF_UNIX (include/uapi/linux/unix_diag.h).
const (
	udiagShowName     = 0x01
	udiagShowVFS      = 0x02
	unixDiagVFS       = 1
	udiagShowPeer     = 0x04
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
// state, peer, name, queued bytes.
func unixSockets(init int) (map[uint64]unixDiag, error) {
	fd, release, err := diagSocket(init)
	if err != nil {
		return nil, err
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
	le.PutUint32(req[28:], udiagShowName|udiagShowVFS|udiagShowPeer|udiagShowRqlen)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	out := map[uint64]unixDiag{}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag: error %d", int32(le.Uint32(m.Data)))
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
						u.peer = uint64(le.Uint32(v))
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
			out[u.ino] = u
		}
	}
}

func sockType(t int) string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_DGRAM:
		return "datagram"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	}
	return fmt.Sprintf("type %d", t)
}

// linkSockets keeps the AF_UNIX sockets restore can rebuild: the two ends of
// a socketpair or of a stream connection inside the app (named or not), with
// the bytes queued at each end; listening sockets with nothing pending;
// bound datagram sockets with nothing queued. It refuses the others with the
// reason.
func (t *tree) linkSockets() error {
	var refs []fdRef
	inTree := map[uint64]bool{}
	for _, r := range t.fds {
		if f := &r.p.FDs[r.idx]; f.Socket != nil {
			refs = append(refs, r)
			inTree[f.Socket.Inode] = true
		}
	}
	if len(refs) == 0 {
		return nil
	}
	diag, err := unixSockets(t.req.Init)
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
	saved := map[uint64]bool{}
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
		switch {
		case u.state == tcpListen:
			f.Socket.Type, f.Socket.Name, f.Socket.Listen, f.Socket.Backlog = u.typ, u.name, true, int(u.wqueue)
			continue
		case u.peer == 0: // bound, unconnected, nothing queued: bind again
			f.Socket.Type, f.Socket.Name = u.typ, u.name
			continue
		}
		f.Socket.Type, f.Socket.Peer, f.Socket.Name = u.typ, u.peer, u.name
		if u.shutdown > 0 {
			f.Socket.Shutdown = u.shutdown
		}
		if u.rqueue == 0 || saved[u.ino] {
			continue
		}
		saved[u.ino] = true
		data, rights, err := peekQueue(r.host, f.FD, int(u.rqueue))
		if err != nil {
			return fmt.Errorf("pid %d fd %d: read the queued data of unix socket %d: %w", r.p.PID, f.FD, u.ino, err)
		}
		if rights {
			refuse(r, "%s", unixRightsReason)
			continue
		}
		name := fmt.Sprintf("socket-%d.bin", u.ino)
		if err := writeBlob(t.w, name, data); err != nil {
			return err
		}
		f.Socket.Data = name
	}
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	return nil
}

// peekQueue reads the n bytes queued at a stream socket of pid without
// consuming them: a copy of the fd (pidfd_getfd) is read with MSG_PEEK,
// walking the queue with SO_PEEK_OFF (a stream peek stops where the sender's
// credentials change), which is reset afterwards. rights reports file
// descriptors in flight (they arrive as SCM_RIGHTS even with MSG_PEEK; the
// copies are closed).
func peekQueue(pid, fd, n int) (data []byte, rights bool, err error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return nil, false, err
	}
	defer unix.Close(s)
	if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return nil, false, fmt.Errorf("SO_PEEK_OFF: %w", err)
	}
	defer unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1) //nolint:errcheck
	data = make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(253*4))
	got := 0
	for got < n {
		m, oobn, _, _, err := unix.Recvmsg(s, data[got:], oob, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range msgs {
					if fds, err := unix.ParseUnixRights(&cm); err == nil {
						rights = true
						for _, x := range fds {
							unix.Close(x)
						}
					}
				}
			}
		}
		if m == 0 {
			break
		}
		got += m
	}
	if got != n {
		return nil, rights, fmt.Errorf("peeked %d of %d queued bytes", got, n)
	}
	return data, rights, nil
}
