package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/nfhold"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/inventory"

	"golang.org/x/sys/unix"
)

// TCP and UDP sockets. Each is created by an injected socket(2) in the
// blank main process (so it belongs to the app's network namespace), then
// set up by crrun through a copy of the descriptor: its options (those a
// new socket does not have already), bind to its saved address, listen or
// connect. A port that is taken on this host fails the restore, naming it.
// The datagrams queued on a UDP socket are sent to it again from their
// source (the app's own socket bound there, or a socket made for the
// purpose), once every socket exists, then read back (MSG_PEEK) and
// compared with the image: a queue that differs fails the restore.

// inetState is the restore's record of the TCP and UDP sockets.
type inetState struct {
	filter []inetQueued              // sockets whose filter is attached after the datagrams (mcast.go)
	udp    map[netip.AddrPort]uint64 // UDP sockets by local address → parked fd
	queued []inetQueued              // sockets with datagrams to queue
	listen []inetListen              // listeners, whose backlog is read back
	conns  []inetConn                // connections in repair mode until releaseConns
	// accepting: clients whose connection waits in a listener of the
	// app, bound, connected by connectPending (parked fds).
	accepting []inetAccepting
	// held: the checkpoints whose firewall rules hold connections of the
	// image with a peer outside the app (internal/nfhold), removed once
	// they are back, or when the restore fails.
	held map[string]bool
}

type inetAccepting struct {
	fd    uint64
	s     *image.Inet
	reuse []image.SockOpt // set once connected (openInet)
}

// inetConn is crrun's copy of a restored connection, in repair mode, and
// the unsent bytes to queue once out of it.
type inetConn struct {
	fd   int
	s    *image.Inet
	tail []byte
}

// restoreConn rebuilds an established connection (inetsock.RestoreConn)
// from the image's blob.
func (t *treeRestorer) restoreConn(c int, peer unix.Sockaddr, ic *inetConn) error {
	conn := ic.s.Conn
	var data []byte
	if conn.Data != "" {
		b, err := t.req.Image.OpenBlob(conn.Data)
		if err != nil {
			return err
		}
		data, err = io.ReadAll(b)
		b.Close()
		if err != nil {
			return err
		}
	}
	if len(data) != conn.RecvLen+conn.SendLen {
		return fmt.Errorf("the blob %q holds %d bytes, want %d", conn.Data, len(data), conn.RecvLen+conn.SendLen)
	}
	recv, send := data[:conn.RecvLen], data[conn.RecvLen:]
	ic.tail = send[conn.SendLen-conn.Unsent:]
	return inetsock.RestoreConn(c, ic.s.Family, peer, conn, recv, send)
}

// releaseConns takes every restored connection out of repair mode, once
// the whole tree is back and verified (a peer must exist before anything
// is sent to it), and queues the bytes the app had written and the kernel
// had not sent yet.
func (t *treeRestorer) releaseConns() error {
	defer t.inet.close()
	// The peers outside the app are heard again, each connection still
	// in repair mode (its socket exists: no RST), and leaving it sends
	// them a window probe.
	if err := t.inet.releaseHolds(); err != nil {
		return err
	}
	for _, c := range t.inet.conns {
		if err := inetsock.RepairOff(c.fd); err != nil {
			return fmt.Errorf("TCP connection %s -> %s: %w", c.s.Local, c.s.Peer, err)
		}
		if err := inetsock.SendTail(c.fd, c.tail); err != nil {
			return fmt.Errorf("TCP connection %s -> %s: the %d bytes not sent yet: %w", c.s.Local, c.s.Peer, len(c.tail), err)
		}
	}
	return t.closeHalf()
}

// close closes crrun's copies (on a failed restore the connections die in
// repair mode, silently).
func (s *inetState) close() {
	for _, c := range s.conns {
		unix.Close(c.fd)
	}
	s.conns = nil
	if err := s.releaseHolds(); err != nil {
		slog.Warn("restore: firewall rules holding connections of the image stay", "table", nfhold.TableName, "err", err)
	}
}

// releaseHolds removes the image's firewall holds.
func (s *inetState) releaseHolds() error {
	for id := range s.held {
		if err := nfhold.Release(nfhold.ImageTag(id)); err != nil {
			return fmt.Errorf("removing the firewall rules holding the connections with a peer outside the app (table inet %s): %w", nfhold.TableName, err)
		}
		delete(s.held, id)
	}
	return nil
}

type inetListen struct {
	ino     uint64
	backlog int
	local   string
	pending []image.Inet
}

type inetQueued struct {
	fd uint64 // parked
	s  *image.Inet
}

func protoName(s *image.Inet) string {
	if s.Protocol == unix.IPPROTO_TCP {
		return "TCP"
	}
	return "UDP"
}

// openInet makes one TCP or UDP socket.
func (t *treeRestorer) openInet(f *image.FD) (uint64, error) {
	t0 := time.Now()
	defer func() { slog.Debug("restore: inet socket", "local", f.Inet.Local, "took", time.Since(t0)) }()
	r := t.root
	s := f.Inet
	if s == nil {
		return 0, errors.New("no inet socket state in the image")
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	fd, err := r.inj(r.pid, "socket("+protoName(s)+")", unix.SYS_SOCKET, uint64(s.Family), uint64(s.Type)|unix.SOCK_CLOEXEC, uint64(s.Protocol))
	if err != nil {
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	repair := s.Conn != nil && !s.Accepting
	if repair {
		// Repair mode first: binding the port a listener of the app
		// holds is allowed then, and nothing is sent until the whole
		// tree is back (releaseConns).
		if err := inetsock.RepairOn(c, false); err != nil {
			return 0, fmt.Errorf("TCP connection %s -> %s: %w", s.Local, s.Peer, err)
		}
		rc, err := unix.FcntlInt(uintptr(c), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		t.inet.conns = append(t.inet.conns, inetConn{fd: rc, s: s})
		if s.Conn.Held != "" {
			if t.inet.held == nil {
				t.inet.held = map[string]bool{}
			}
			t.inet.held[s.Conn.Held] = true
		}
	}
	opts, reuse := s.Options, []image.SockOpt(nil)
	if s.Protocol == unix.IPPROTO_TCP {
		// SO_REUSEADDR once bound: repair mode's forced reuse binds
		// the port the app's listener holds; TCP_WINDOW_CLAMP once
		// connected: connect computes its own.
		opts = nil
		for _, o := range s.Options {
			if o.Name == "SO_REUSEADDR" || o.Name == "TCP_WINDOW_CLAMP" {
				reuse = append(reuse, o)
			} else {
				opts = append(opts, o)
			}
		}
	}
	if err := inetsock.SetOptions(c, opts); err != nil {
		return 0, fmt.Errorf("%s socket %s: %w", protoName(s), s.Local, err)
	}
	if s.Protocol == unix.IPPROTO_TCP && !repair {
		// Bound with SO_REUSEADDR, as CRIU does: the port may be held
		// by connections of the app that ended since (TIME_WAIT), never
		// by another listener (bind and listen still refuse that).
		if err := inetsock.SetReuseAddr(c, 1); err != nil {
			return 0, err
		}
	}
	if s.Local != "" {
		ap := netip.MustParseAddrPort(s.Local) // Validate parsed it
		sa, err := inetsock.Sockaddr(s.Family, ap)
		if err != nil {
			return 0, err
		}
		if err := unix.Bind(c, sa); err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				why := "something else is bound to it now"
				if s.Protocol == unix.IPPROTO_TCP {
					why += ", or connections that ended there wait in TIME_WAIT (up to a minute)"
				}
				return 0, fmt.Errorf("%s port %s is taken on this host (%s): free it, then restore again", protoName(s), ap, why)
			}
			return 0, fmt.Errorf("bind %s socket to %s: %w", protoName(s), ap, err)
		}
		if s.Protocol == unix.IPPROTO_UDP {
			if t.inet.udp == nil {
				t.inet.udp = map[netip.AddrPort]uint64{}
			}
			if _, ok := t.inet.udp[unmapAP(ap)]; !ok {
				t.inet.udp[unmapAP(ap)] = fd
			}
		}
	}
	if s.Listen {
		if err := unix.Listen(c, s.Backlog); err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				return 0, fmt.Errorf("TCP port %s is taken on this host (something else listens on it now): free it, then restore again", s.Local)
			}
			return 0, fmt.Errorf("listen on %s: %w", s.Local, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(c, &st); err != nil {
			return 0, err
		}
		t.inet.listen = append(t.inet.listen, inetListen{ino: st.Ino, backlog: s.Backlog, local: s.Local, pending: s.Pending})
	}
	if s.Accepting {
		t.inet.accepting = append(t.inet.accepting, inetAccepting{fd: fd, s: s, reuse: reuse})
	} else if s.Peer != "" {
		sa, err := inetsock.Sockaddr(s.Family, netip.MustParseAddrPort(s.Peer))
		if err != nil {
			return 0, err
		}
		if s.Conn != nil {
			if err := t.restoreConn(c, sa, &t.inet.conns[len(t.inet.conns)-1]); err != nil {
				return 0, fmt.Errorf("TCP connection %s -> %s: %w", s.Local, s.Peer, err)
			}
			if err := inetsock.SetReuseAddr(c, 0); err != nil {
				return 0, err
			}
			if err := inetsock.SetOptions(c, reuse); err != nil {
				return 0, err
			}
		} else if err := unix.Connect(c, sa); err != nil {
			return 0, fmt.Errorf("connect UDP socket %s to %s: %w", s.Local, s.Peer, err)
		}
	}
	if s.Protocol == unix.IPPROTO_TCP && !repair {
		if err := inetsock.SetReuseAddr(c, 0); err != nil {
			return 0, err
		}
		if s.Accepting {
			reuse = nil // once connected (connectPending)
		}
		if err := inetsock.SetOptions(c, reuse); err != nil {
			return 0, err
		}
	}
	if s.Filter != nil {
		t.inet.filter = append(t.inet.filter, inetQueued{fd: fd, s: s})
	}
	if len(s.Memberships) > 0 {
		if err := inetsock.Join(c, s.Family, s.Memberships); err != nil {
			return 0, fmt.Errorf("UDP socket %s: %w", s.Local, err)
		}
	}
	if len(s.Datagrams) > 0 {
		t.inet.queued = append(t.inet.queued, inetQueued{fd: fd, s: s})
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}

func unmapAP(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// queueDatagrams sends every saved datagram again, in order, from its
// source to its socket, and checks the queue that results; it also reads
// back each listener's backlog (listen caps it at the namespace's
// net.core.somaxconn, which may be lower here).
func (t *treeRestorer) queueDatagrams() error {
	if err := t.connectPending(); err != nil {
		return err
	}
	if len(t.inet.listen) > 0 {
		st, err := procfs.Stat(t.root.pid)
		if err != nil {
			return err
		}
		lq, err := inetsock.Listeners(st.PPid) // crrun's init
		if err != nil {
			return err
		}
		for _, l := range t.inet.listen {
			if got := lq[l.ino]; got.Backlog != l.backlog {
				return fmt.Errorf("listening TCP socket %s: backlog %d, want %d (is net.core.somaxconn lower here?)", l.local, got.Backlog, l.backlog)
			} else if got.Waiting != len(l.pending) {
				return fmt.Errorf("listening TCP socket %s: %d connections waiting to be accepted, want %d", l.local, got.Waiting, len(l.pending))
			}
		}
	}
	for _, q := range t.inet.queued {
		if err := t.queueOne(q); err != nil {
			return fmt.Errorf("UDP socket %s: its %d queued datagrams: %w", q.s.Local, len(q.s.Datagrams), err)
		}
	}
	return t.attachFilters() // mcast.go
}

func (t *treeRestorer) queueOne(q inetQueued) error {
	r := t.root
	b, err := t.req.Image.OpenBlob(q.s.Data)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(b)
	b.Close()
	if err != nil {
		return err
	}
	rc, err := r.getfd(q.fd)
	if err != nil {
		return err
	}
	defer unix.Close(rc)
	lsa, err := unix.Getsockname(rc)
	if err != nil {
		return err
	}
	local := inetsock.AddrPort(lsa)
	want := make([]inetsock.Datagram, 0, len(q.s.Datagrams))
	off := 0
	for i, g := range q.s.Datagrams {
		if off+g.Len > len(data) {
			return fmt.Errorf("datagram %d: the blob %s is too short", i, q.s.Data)
		}
		from := netip.MustParseAddrPort(g.From)
		payload := data[off : off+g.Len]
		off += g.Len
		want = append(want, inetsock.Datagram{From: from, Data: payload})
		if err := t.sendFrom(from, local, payload); err != nil {
			return fmt.Errorf("datagram %d from %s: %w", i, from, err)
		}
	}
	got, err := inetsock.PeekDatagrams(rc, len(want)+1)
	if err != nil {
		return fmt.Errorf("read the queue back: %w", err)
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d datagrams queued again, want %d", len(got), len(want))
	}
	for i := range want {
		if unmapAP(got[i].From) != unmapAP(want[i].From) || !bytes.Equal(got[i].Data, want[i].Data) {
			return fmt.Errorf("datagram %d queued again from %s with %d bytes, want from %s with %d", i, got[i].From, len(got[i].Data), want[i].From, len(want[i].Data))
		}
	}
	return nil
}

// sendFrom sends payload to the socket bound at to (an unspecified address:
// the loopback of from's family) from the address from: through the app's
// UDP socket bound there (exactly or to the wildcard), or a socket made in
// the app's network namespace and bound to from for this one datagram.
func (t *treeRestorer) sendFrom(from, to netip.AddrPort, payload []byte) error {
	r := t.root
	src := unmapAP(from)
	fd, ok := t.inet.udp[src]
	if !ok {
		for a, f := range t.inet.udp {
			if a.Port() == src.Port() && a.Addr().IsUnspecified() && (a.Addr().Is4() == src.Addr().Is4() || a.Addr().Is6()) {
				fd, ok = f, true
				break
			}
		}
	}
	family := unix.AF_INET6
	if src.Addr().Is4() {
		family = unix.AF_INET
	}
	if !ok {
		tmp, err := r.inj(r.pid, "socket(UDP)", unix.SYS_SOCKET, uint64(family), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer func() { _, _ = r.inj(r.pid, "close", unix.SYS_CLOSE, tmp) }()
		c, err := r.getfd(tmp)
		if err != nil {
			return err
		}
		defer unix.Close(c)
		sa, err := inetsock.Sockaddr(family, src)
		if err != nil {
			return err
		}
		if err := unix.Bind(c, sa); err != nil {
			return fmt.Errorf("its source address is taken on this host (%w)", err)
		}
		return sendTo(c, family, payload, to, src)
	}
	c, err := r.getfd(fd)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	if f, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil {
		family = f
	}
	return sendTo(c, family, payload, to, src)
}

// sendTo sends from socket c (of family) to the receiver's address to
// (its loopback when it is bound to the wildcard).
func sendTo(c, family int, payload []byte, to, src netip.AddrPort) error {
	ip := to.Addr().Unmap()
	if ip.IsUnspecified() {
		if src.Addr().Is4() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	if family == unix.AF_INET6 && ip.Is4() {
		ip = netip.AddrFrom16(ip.As16())
	}
	sa, err := inetsock.Sockaddr(family, netip.AddrPortFrom(ip, to.Port()))
	if err != nil {
		return err
	}
	return unix.Sendto(c, payload, 0, sa)
}

// connectPending makes again the connections that waited in a listener
// of the app: in each listener's queue order, the client (a socket of the
// app, bound by openInet) connects to the listener for real, so that the
// server end waits in the accept queue as it did (the two ends' sequence
// numbers are new: neither end was ever seen by the app at its old ones
// but the client, whose numbers the app cannot read); then the client
// sends what the server end had received and then what it had sent that
// was not received yet. The listener's queue is
// read back after each, and the client's negotiated options (MSS, window
// scales, SACK, timestamps) must be the checkpoint's.
func (t *treeRestorer) connectPending() error {
	if len(t.inet.accepting) == 0 {
		return nil
	}
	st, err := procfs.Stat(t.root.pid)
	if err != nil {
		return err
	}
	used := 0
	for _, l := range t.inet.listen {
		for i := range l.pending {
			srv := &l.pending[i]
			var cl *inetAccepting
			for j := range t.inet.accepting {
				a := &t.inet.accepting[j]
				if sameAP(a.s.Local, srv.Peer) && sameAP(a.s.Peer, srv.Local) {
					cl = a
				}
			}
			if cl == nil {
				return fmt.Errorf("listening TCP socket %s: the connection from %s waiting to be accepted has no client in the image", l.local, srv.Peer)
			}
			used++
			if err := t.connectOne(st.PPid, l, i, srv, cl); err != nil {
				return fmt.Errorf("TCP connection %s -> %s waiting to be accepted on %s: %w", cl.s.Local, cl.s.Peer, l.local, err)
			}
		}
	}
	if used != len(t.inet.accepting) {
		return fmt.Errorf("%d TCP connections waiting to be accepted, %d of them in a listener of the image", len(t.inet.accepting), used)
	}
	return nil
}

func sameAP(a, b string) bool {
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && unmapAP(x) == unmapAP(y)
}

func (t *treeRestorer) readConnBlob(c *image.TCPConn) ([]byte, error) {
	if c.Data == "" {
		return nil, nil
	}
	b, err := t.req.Image.OpenBlob(c.Data)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		return nil, err
	}
	if len(data) != c.RecvLen+c.SendLen {
		return nil, fmt.Errorf("the blob %q holds %d bytes, want %d", c.Data, len(data), c.RecvLen+c.SendLen)
	}
	return data, nil
}

// connectOne connects client cl to the listener l as its i-th waiting
// connection (server end srv); init is crrun's init (sock_diag).
func (t *treeRestorer) connectOne(init int, l inetListen, i int, srv *image.Inet, cl *inetAccepting) error {
	got, err := t.readConnBlob(srv.Conn)
	if err != nil {
		return err
	}
	mine, err := t.readConnBlob(cl.s.Conn)
	if err != nil {
		return err
	}
	cc := cl.s.Conn
	sent := mine[cc.RecvLen:]
	// The client's bytes the server end had already received are in got.
	una := cc.SndSeq - uint32(cc.SendLen)
	if d := int(int32(srv.Conn.RcvSeq - una)); d > 0 {
		sent = sent[min(d, len(sent)):]
	}
	c, err := t.root.getfd(cl.fd)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	sa, err := inetsock.Sockaddr(cl.s.Family, netip.MustParseAddrPort(cl.s.Peer))
	if err != nil {
		return err
	}
	if err := inetsock.Connect(c, sa, 5*time.Second); err != nil {
		return err
	}
	if err := inetsock.SetOptions(c, cl.reuse); err != nil {
		return err
	}
	// Every byte is then in the server end's receive queue or the
	// client's send queue, as at the checkpoint (the new server end's
	// window may take them in other steps: the client's send buffer is
	// grown for the moment if they do not fit, SendTail).
	if err := inetsock.SendTail(c, append(got, sent...)); err != nil {
		return fmt.Errorf("the %d bytes its server end had received and the %d it had sent: %w", len(got), len(sent), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lq, err := inetsock.Listeners(init)
		if err != nil {
			return err
		}
		if lq[l.ino].Waiting > i {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not in the listener's queue within 5 s (%d waiting)", lq[l.ino].Waiting)
		}
		time.Sleep(time.Millisecond)
	}
	n, err := inetsock.ReadNegotiated(c)
	if err != nil {
		return err
	}
	if want := (inetsock.Negotiated{Options: cc.Options, SndWscale: cc.SndWscale, RcvWscale: cc.RcvWscale, MSS: cc.MSS}); n != want {
		return fmt.Errorf("negotiated %+v, the checkpoint's %+v", n, want)
	}
	return nil
}

// closeHalf replays the shutdowns of the half-closed and closing
// connections (and of those whose reading the app shut down), once every
// connection is out of repair mode (releaseConns): each was rebuilt
// established, its FINs left out of its sequence numbers. Every end that
// had shut down its writing before receiving its peer's FIN (fin-wait1,
// fin-wait2, closing) shuts it down, its FIN following every byte before
// it; once the ends in last-ack have received theirs (close-wait), they
// shut down; then the reading shutdowns. Each end must then be in its
// saved state within 2 s (the verifier, which runs before, expects them
// established: verifyExpect), or the restore fails.
func (t *treeRestorer) closeHalf() error {
	var done []inetConn
	for _, c := range t.inet.conns {
		if cc := c.s.Conn; cc.State != 0 || cc.ShutRd {
			done = append(done, c)
		}
	}
	if len(done) == 0 {
		return nil
	}
	shut := func(c inetConn, how int) error {
		if err := unix.Shutdown(c.fd, how); err != nil {
			return fmt.Errorf("TCP connection %s -> %s: shutdown: %w", c.s.Local, c.s.Peer, err)
		}
		return nil
	}
	wait := func(ok func(c inetConn, state int) bool, what string) error {
		deadline := time.Now().Add(2 * time.Second)
		for _, c := range done {
			for {
				ti, err := unix.GetsockoptTCPInfo(c.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
				if err != nil {
					return fmt.Errorf("TCP connection %s -> %s: TCP_INFO: %w", c.s.Local, c.s.Peer, err)
				}
				if ok(c, int(ti.State)) {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("TCP connection %s -> %s: state %s 2 s after its shutdowns were replayed, want %s", c.s.Local, c.s.Peer,
						inetsock.TCPStateName(int(ti.State)), what)
				}
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	}
	for _, c := range done {
		if c.s.Conn.FinSent && c.s.Conn.State != inetsock.StateLastAck {
			if err := shut(c, unix.SHUT_WR); err != nil {
				return err
			}
		}
	}
	if err := wait(func(c inetConn, st int) bool {
		return c.s.Conn.State != inetsock.StateLastAck || st == inetsock.StateCloseWait
	}, "close-wait"); err != nil {
		return err
	}
	for _, c := range done {
		if c.s.Conn.State == inetsock.StateLastAck {
			if err := shut(c, unix.SHUT_WR); err != nil {
				return err
			}
		}
		if c.s.Conn.ShutRd {
			if err := shut(c, unix.SHUT_RD); err != nil {
				return err
			}
		}
	}
	return wait(func(c inetConn, st int) bool {
		return st == max(c.s.Conn.State, inetsock.StateEstablished)
	}, "the saved one")
}

// verifyExpect is what the verifier expects of process p's restored fds
// before releaseConns: a half-closed or closing connection established
// (closeHalf replays its shutdowns after, and checks its state then).
func verifyExpect(p *image.Process, saved inventory.Fields) inventory.Fields {
	var out inventory.Fields
	for _, f := range p.FDs {
		if f.Inet == nil || f.Inet.Conn == nil || f.Inet.Conn.State == 0 {
			continue
		}
		if out == nil {
			out = inventory.Fields{}
			for k, v := range saved {
				out[k] = v
			}
		}
		k := fmt.Sprintf("fd %d inet", f.FD)
		if v, ok := out[k]; ok {
			out[k] = strings.Replace(v, " "+inetsock.TCPStateName(f.Inet.Conn.State)+" ", " established ", 1)
		}
	}
	if out == nil {
		return saved
	}
	return out
}
