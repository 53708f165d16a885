package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/nfhold"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// TCP and UDP sockets (AF_INET, AF_INET6). Saved: a TCP socket not
// connected (created, bound) or listening with no connection waiting to be
// accepted; an established TCP connection whose peer is a socket of the
// app, in repair mode (TCP_REPAIR: root, or --net=private where crrun owns
// the namespace's user namespace); any UDP socket (bound, connected, with
// its queued datagrams and their sources); with their options
// (image.InetOptions). Refused: a connection to a peer outside the app,
// the other connected TCP states (half-closed, closing, connecting), a
// listener with connections not accepted yet, a TCP socket whose
// connection has ended.
//
// Repair mode stays on from the dump of a connection until the app is
// thawed (then it is turned off, TCP_REPAIR_OFF_NO_WP, as CRIU does when it
// leaves the tree running) or killed (checkpoint --exit: the sockets close
// in repair mode, sending neither FIN nor RST).

// maxDatagrams bounds the datagrams saved per UDP socket.
const maxDatagrams = 4096

// TCP_* states (tcpListen: unix.go).
const (
	tcpEstablished = 1
	tcpClose       = 7
)

// inetFd is one AF_INET/AF_INET6 TCP or UDP fd of the app.
type inetFd struct {
	host, fd int
	ino      uint64
}

// inetSock is what the verdict knows of one.
type inetSock struct {
	inetFd
	in *inetsock.Info
	lq inetsock.ListenQueue // a listener's accept queue
	ok bool                 // lq is set (sock_diag knows the listener)
	// pend is what the socket holds that is neither saved nor given back
	// (inetsock.Pending): a pending error, urgent data.
	pend string
	// clients, on a listener, counts the app's connections whose peer
	// waits in its accept queue (inetRefusals).
	clients int
	// holdErr, on a connection with a peer outside the app, is why its
	// traffic cannot be held (nil: it can: internal/nfhold).
	holdErr error
	// outq, on a TCP connection, is its send queue (SIOCOUTQ: bytes not
	// acknowledged yet, a FIN included).
	outq int
}

// readInet reads one socket through a copy of the fd.
func readInet(f inetFd, listeners map[uint64]inetsock.ListenQueue) (*inetSock, error) {
	c, err := ptrace.CopyFd(f.host, f.fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(c)
	in, err := inetsock.Read(c)
	if err != nil {
		return nil, err
	}
	s := &inetSock{inetFd: f, in: in, pend: inetsock.Pending(c, in)}
	s.lq, s.ok = listeners[f.ino]
	if in.Protocol == unix.IPPROTO_TCP && inetsock.Connected(in.TCPState) {
		s.outq, _ = unix.IoctlGetInt(c, unix.SIOCOUTQ)
	}
	return s, nil
}

// urgentSent is why the gate refuses connection s for urgent data the app
// sent on it ("" if it does not): the urgent pointer is no state a
// checkpoint reads, so a connection that sent urgent data (urgent: the
// sockets the supervisor saw a send with MSG_OOB on, supervisor/urgent.go)
// is refused while its send queue holds a byte the peer has not
// acknowledged: the restore would send the urgent byte as an ordinary one.
func urgentSent(s *inetSock, urgent map[uint64]string) string {
	if s.outq == 0 || len(urgent) == 0 {
		return ""
	}
	call, ok := urgent[s.ino]
	if !ok {
		if call, ok = urgent[seccomp.UrgentAny]; !ok {
			return ""
		}
		call = "sends with MSG_OOB on too many sockets to tell which (the last: " + call + ")"
	}
	return fmt.Sprintf("TCP connection %s -> %s sent urgent (out-of-band, MSG_OOB) data, %s, and %d bytes of its send queue are not acknowledged yet: "+
		"a restore cannot set the urgent pointer again (it would arrive as an ordinary byte); checkpoint again once the peer has read them",
		s.in.Local, s.in.Peer, call, s.outq)
}

// inetRefusal is why the dump refuses socket s ("" if it saves it);
// connected are the local addresses of the app's connected TCP sockets (nil
// if unknown), root and private say whether crrun is root and whether the
// app has a network namespace of its own.
func inetRefusal(s *inetSock, connected map[netip.AddrPort]bool, root, private bool) string {
	in := s.in
	if in.Protocol != unix.IPPROTO_TCP && in.Protocol != unix.IPPROTO_UDP {
		return fmt.Sprintf("socket(%s, %s) not supported yet", seccomp.FamilyName(uint64(in.Family)),
			seccomp.InetKindName(uint64(in.Type), uint64(in.Protocol)))
	}
	if s.pend != "" {
		return s.pend
	}
	if in.Protocol == unix.IPPROTO_UDP {
		return ""
	}
	switch in.TCPState {
	case tcpListen:
		if s.ok && s.lq.Waiting > 0 && connected != nil {
			return listenerRefusal(s, root, private)
		}
		return ""
	case tcpClose:
		if in.Used {
			return fmt.Sprintf("TCP socket %s whose connection has ended not supported yet", in.Local)
		}
		return ""
	case tcpEstablished, inetsock.StateFinWait1, inetsock.StateFinWait2, inetsock.StateCloseWait, inetsock.StateLastAck, inetsock.StateClosing:
		switch {
		case connected == nil: // the dump: the gate has judged with the whole app in view
			return ""
		case !connected[in.Peer] && connected[listenKey(in.Peer)]:
			// Its peer waits in a listener of the app: the listener
			// is judged with it (listenerRefusal).
			if in.TCPState != tcpEstablished {
				return fmt.Sprintf("TCP connection %s -> %s in state %s waiting to be accepted inside the app not supported yet", in.Local, in.Peer, inetsock.TCPStateName(in.TCPState))
			}
			if !root && !private {
				return fmt.Sprintf("TCP connection %s -> %s waiting to be accepted inside the app: saving it needs TCP_REPAIR, "+
					"which an ordinary user has only in a network namespace of the app's own: run the app with --net=private", in.Local, in.Peer)
			}
		case !connected[in.Peer] && !root:
			return fmt.Sprintf("TCP connection %s -> %s with a peer outside the app: holding its peer's traffic while it is saved needs root "+
				"(the kernel's firewall, nf_tables): not supported for an ordinary user", in.Local, in.Peer)
		case !connected[in.Peer] && private:
			return fmt.Sprintf("TCP connection %s -> %s with a peer outside the app's network namespace not supported", in.Local, in.Peer)
		case !connected[in.Peer] && in.TCPState != tcpEstablished:
			return fmt.Sprintf("TCP connection %s -> %s in state %s with a peer outside the app not supported: "+
				"a FIN it received cannot be received again", in.Local, in.Peer, inetsock.TCPStateName(in.TCPState))
		case !connected[in.Peer] && !onThisHost(in.Peer):
			return fmt.Sprintf("TCP connection %s -> %s with a peer on another host (a job across nodes?) not supported: only peers on this host are held while it is saved", in.Local, in.Peer)
		case !connected[in.Peer] && s.holdErr != nil:
			return fmt.Sprintf("TCP connection %s -> %s with a peer outside the app: holding its peer's traffic while it is saved needs "+
				"the kernel's firewall (nf_tables), unavailable here (%v)", in.Local, in.Peer, s.holdErr)
		case !root && !private:
			return fmt.Sprintf("established TCP connection %s -> %s inside the app: restoring it needs TCP_REPAIR, "+
				"which an ordinary user has only in a network namespace of the app's own: run the app with --net=private", in.Local, in.Peer)
		}
		return ""
	}
	return fmt.Sprintf("TCP socket %s -> %s in state %s not supported yet", in.Local, in.Peer, inetsock.TCPStateName(in.TCPState))
}

// inetReason renders a refusal as the dump gives it.
func inetReason(reason string, nspid, fd int) string {
	return fmt.Sprintf("CR: %s (pid %d fd %d)", reason, nspid, fd)
}

// inetRefusals applies inetRefusal, and urgentSent with urgent (the sockets
// the app sent urgent data on: ScanInput.Urgent), to every TCP and UDP fd
// of the app.
func inetRefusals(fds []inetFd, init int, urgent map[uint64]string) []seccomp.Finding {
	if len(fds) == 0 {
		return nil
	}
	listeners, err := inetsock.Listeners(init)
	if err != nil {
		return nil // the dump says why
	}
	var socks []*inetSock
	connected := map[netip.AddrPort]bool{}
	for _, f := range fds {
		s, err := readInet(f, listeners)
		if err != nil {
			continue // gone
		}
		socks = append(socks, s)
		if s.in.Protocol == unix.IPPROTO_TCP && s.in.Peer.IsValid() {
			connected[unmap(s.in.Local)] = true
		}
		if s.in.Protocol == unix.IPPROTO_TCP && s.in.TCPState == tcpListen {
			connected[listenKey(s.in.Local)] = true
		}
	}
	countClients(socks, connected)
	var out []seccomp.Finding
	root, private := os.Geteuid() == 0, init > 0 && !sameNetNS(init)
	var probed bool
	var holdErr error
	for _, s := range socks {
		m := map[netip.AddrPort]bool{}
		for a := range connected {
			m[a] = true
		}
		if s.in.Peer.IsValid() {
			m[s.in.Peer] = connected[unmap(s.in.Peer)]
			m[listenKey(s.in.Peer)] = connected[listenKey(unmap(s.in.Peer))] || connected[listenKey(netip.AddrPortFrom(netip.IPv4Unspecified(), s.in.Peer.Port()))] ||
				connected[listenKey(netip.AddrPortFrom(netip.IPv6Unspecified(), s.in.Peer.Port()))]
			if s.in.Protocol == unix.IPPROTO_TCP && !m[s.in.Peer] && !m[listenKey(s.in.Peer)] && root && !private {
				if !probed {
					probed, holdErr = true, nfhold.Probe()
				}
				s.holdErr = holdErr
			}
		}
		r := inetRefusal(s, m, root, private)
		if r == "" {
			r = urgentSent(s, urgent)
		}
		if r != "" {
			out = append(out, seccomp.Finding{Pid: s.host, Kind: "inet_socket", Fd: s.fd, Reason: inetReason(r, nsPid(s.host), s.fd)})
		} else if s.in.Protocol == unix.IPPROTO_TCP && s.in.TCPState == tcpListen && s.ok && s.lq.Waiting > 0 {
			// Saved by --exit alone (dumper.inet): status says so, and the
			// gate of a checkpoint that leaves the app running refuses it.
			out = append(out, seccomp.Finding{Pid: s.host, Kind: "inet_socket", Fd: s.fd, KeepRunning: true,
				Reason: inetReason(waitingReason(s), nsPid(s.host), s.fd)})
		}
	}
	return out
}

// unmap gives an IPv4-mapped IPv6 address as IPv4 (the same endpoint seen
// from an AF_INET socket).
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// inet saves the TCP or UDP socket of fd e.
func (d *dumper) inet(e procfs.FdEntry, fd *image.FD) error {
	refuse := func(reason string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "inet_socket", Fd: e.Num,
			Reason: inetReason(reason, d.p(), e.Num)}}}
	}
	if d.t.listeners == nil {
		l, err := inetsock.Listeners(d.req.Init)
		if err != nil {
			return fmt.Errorf("pid %d: the listening TCP sockets: %w", d.pid, err)
		}
		d.t.listeners = l
	}
	c, err := ptrace.CopyFd(d.pid, e.Num)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	in, err := inetsock.Read(c)
	if err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	s := &inetSock{inetFd: inetFd{host: d.pid, fd: e.Num, ino: e.Inode}, in: in, pend: inetsock.Pending(c, in)}
	s.lq, s.ok = d.t.listeners[e.Inode]
	// The gate (Refusals) has judged the connections with the whole app
	// in view; here nothing connected over TCP passes.
	if r := inetRefusal(s, nil, true, true); r != "" {
		return refuse(r)
	}
	st := &image.Inet{Family: in.Family, Type: in.Type, Protocol: in.Protocol}
	if in.Bound() {
		st.Local = in.Local.String()
	}
	if in.Peer.IsValid() {
		st.Peer = in.Peer.String()
	}
	if in.TCPState == tcpListen {
		if !s.ok {
			return fmt.Errorf("pid %d fd %d: listening socket %s unknown to sock_diag", d.pid, e.Num, in.Local)
		}
		st.Listen, st.Backlog = true, s.lq.Backlog
		if s.lq.Waiting > 0 {
			if !d.req.Exit {
				return refuse(waitingReason(s))
			}
			if err := d.pendingConns(c, st, e.Num); err != nil {
				return err
			}
			d.w.RequireFeature("tcp-accept-queue")
		}
	}
	st.Options = inetsock.Options(c, in)
	if err := d.inetMore(c, in, st, refuse); err != nil { // mcast.go
		return err
	}
	if in.Protocol == unix.IPPROTO_UDP {
		dgs, err := inetsock.PeekDatagrams(c, maxDatagrams)
		if err != nil {
			return refuse(fmt.Sprintf("UDP socket %s: its queued datagrams cannot be read (%v)", in.Local, err))
		}
		var data []byte
		for _, g := range dgs {
			if !g.From.IsValid() {
				return refuse(fmt.Sprintf("UDP socket %s: a queued datagram without a source address", in.Local))
			}
			st.Datagrams = append(st.Datagrams, image.Datagram{From: g.From.String(), Len: len(g.Data)})
			data = append(data, g.Data...)
		}
		if len(dgs) > 0 {
			st.Data = fmt.Sprintf("inet-%d.bin", e.Inode)
			if !d.t.blobs[st.Data] {
				if err := writeBlob(d.w, st.Data, data); err != nil {
					return err
				}
				if d.t.blobs == nil {
					d.t.blobs = map[string]bool{}
				}
				d.t.blobs[st.Data] = true
			}
		}
	}
	if in.Protocol == unix.IPPROTO_TCP && inetsock.Connected(in.TCPState) {
		if err := d.tcpConn(c, e, st, refuse); err != nil {
			return err
		}
	}
	fd.Kind, fd.Inet = image.FDInet, st
	d.w.RequireFeature("inet-sockets")
	return nil
}

// tcpConn saves an established connection in repair mode (left on: see
// the top of this file); one with a peer outside the app has its traffic
// held first (hold).
func (d *dumper) tcpConn(c int, e procfs.FdEntry, st *image.Inet, refuse func(string) error) error {
	held, err := d.hold(st)
	if err != nil {
		return refuse(fmt.Sprintf("TCP connection %s -> %s with a peer outside the app: holding its traffic: %v", st.Local, st.Peer, err))
	}
	rc, err := unix.FcntlInt(uintptr(c), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := inetsock.RepairOn(rc, true); err != nil {
		unix.Close(rc)
		return refuse(fmt.Sprintf("established TCP connection %s -> %s: %v", st.Local, st.Peer, err))
	}
	d.t.repairs = append(d.t.repairs, rc)
	conn, recv, send, err := inetsock.ReadConn(rc)
	if err != nil {
		r := refuse(fmt.Sprintf("TCP connection %s -> %s: %v", st.Local, st.Peer, err))
		if errors.Is(err, inetsock.ErrInFlight) {
			r = transient(r)
		}
		return r
	}
	if len(recv)+len(send) > 0 {
		conn.Data = fmt.Sprintf("tcp-%d.bin", e.Inode)
		if !d.t.blobs[conn.Data] {
			if err := writeBlob(d.w, conn.Data, append(recv, send...)); err != nil {
				return err
			}
			if d.t.blobs == nil {
				d.t.blobs = map[string]bool{}
			}
			d.t.blobs[conn.Data] = true
		}
	}
	if r := d.urgentRead(e, conn); r != "" {
		// Bytes still arriving look the same: tried again by itself.
		return transient(refuse(fmt.Sprintf("TCP connection %s -> %s: %s", st.Local, st.Peer, r)))
	}
	st.Conn = conn
	conn.Held = held
	// The MSS is the connection's (TCP_REPAIR_OPTIONS), not an option;
	// IPV6_V6ONLY means nothing to a connected socket (and binding its
	// address again sets it).
	opts := st.Options[:0]
	for _, o := range st.Options {
		if !inetsock.ConnIgnored(o.Name) {
			opts = append(opts, o)
		}
	}
	st.Options = opts
	d.w.RequireFeature("tcp-repair")
	if conn.State != 0 || conn.ShutRd {
		d.w.RequireFeature("tcp-half-closed")
	}
	if held != "" {
		d.w.RequireFeature("tcp-held")
	}
	return nil
}

// repairOff takes the app's connections out of repair mode (the app runs
// on) and closes crrun's copies.
func (t *tree) repairOff() {
	t.releaseHolds()
	t.dropPendingReads()
	for _, fd := range t.repairs {
		if err := inetsock.RepairOff(fd); err != nil {
			slog.Warn("checkpoint: a TCP connection of the app stays in repair mode", "err", err)
		}
		unix.Close(fd)
	}
	t.repairs = nil
}

// closeRepairs closes crrun's copies, leaving repair mode on: the app is
// being killed, and its connections close without a word to the peer.
func (t *tree) closeRepairs() {
	for _, fd := range t.repairs {
		unix.Close(fd)
	}
	t.repairs = nil
	for _, fd := range t.taken {
		unix.Close(fd)
	}
	t.taken = nil
	t.dropPendingReads()
}

// dropPendingReads closes crrun's copies of listeners whose connections
// were not taken (the dump failed before).
func (t *tree) dropPendingReads() {
	for _, r := range t.pendingReads {
		unix.Close(r.listener)
	}
	t.pendingReads = nil
}

// p is the process's pid in the app's namespace, for reasons.
func (d *dumper) p() int {
	if n, err := d.ns(d.pid); err == nil {
		return n
	}
	return d.pid
}

// isInetSaved: a socket fd the dump saves as image.FDInet (the others of
// these families the scan refuses).
func isInetSaved(e procfs.FdEntry) bool {
	if e.Family != procfs.FamilyInet && e.Family != procfs.FamilyInet6 {
		return false
	}
	p := strings.TrimSuffix(e.SocketProto, "v6")
	return p == "TCP" || p == "UDP"
}

// checkConns checks the two ends of every connection inside the app, as
// saved: the kernel may move bytes between two sockets in repair mode
// while the tree is saved one socket after the other, and a byte the
// sender saw acknowledged must be in the receiver's saved state (its
// sequence number below the receiver's rcv_nxt). Otherwise the checkpoint
// is refused (checkpoint again): a restore would lose it.
func (t *tree) checkConns() error {
	// By both ends: the connections a server accepted share its local
	// address, each is told apart by its peer.
	type ends struct{ local, peer string }
	conns := map[ends]*image.Inet{}
	pending := map[*image.Inet]bool{} // server ends waiting in a listener: false until their client is found
	type listener struct {
		in          *image.Inet
		host, p, fd int
	}
	var listeners []listener
	for _, r := range t.fds {
		if in := r.p.FDs[r.idx].Inet; in != nil && in.Conn != nil {
			conns[ends{in.Local, in.Peer}] = in
		}
		if in := r.p.FDs[r.idx].Inet; in != nil && len(in.Pending) > 0 {
			listeners = append(listeners, listener{in, r.host, r.p.PID, r.p.FDs[r.idx].FD})
			for i := range in.Pending {
				p := &in.Pending[i]
				conns[ends{p.Local, p.Peer}] = p
				pending[p] = false
			}
		}
	}
	seqLE := func(a, b uint32) bool { return int32(b-a) >= 0 }
	moved := testMovedConns()
	var findings []seccomp.Finding
	for _, r := range t.fds {
		f := &r.p.FDs[r.idx]
		a := f.Inet
		if a == nil || a.Conn == nil {
			continue
		}
		b := conns[ends{a.Peer, a.Local}]
		if b == nil {
			b = conns[ends{mappedPeer(a.Peer), mappedPeer(a.Local)}]
		}
		if b != nil && b.Conn.FinRecv && !a.Conn.FinSent {
			findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "inet_socket", Fd: f.FD,
				Reason: inetReason(fmt.Sprintf("TCP connection %s -> %s: its peer received a FIN it did not send (it moved while saved): checkpoint again", a.Local, a.Peer), r.p.PID, f.FD), Transient: true})
			continue
		}
		if b == nil && a.Conn.Held != "" {
			continue // a peer outside the app, its traffic held
		}
		if b == nil {
			findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "inet_socket", Fd: f.FD,
				Reason: inetReason(fmt.Sprintf("TCP connection %s -> %s: its peer is no socket of the app", a.Local, a.Peer), r.p.PID, f.FD)})
			continue
		}
		if _, ok := pending[b]; ok {
			// Its peer waits in a listener of the app: the restore
			// connects it again (the peer never sent a byte).
			pending[b], a.Accepting = true, true
			if a.Conn.RecvLen != 0 {
				findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "inet_socket", Fd: f.FD,
					Reason: inetReason(fmt.Sprintf("TCP connection %s -> %s waiting to be accepted: %d bytes received from a peer that was never accepted", a.Local, a.Peer, a.Conn.RecvLen), r.p.PID, f.FD)})
			}
		}
		if una := a.Conn.SndSeq - uint32(a.Conn.SendLen); moved || !seqLE(una, b.Conn.RcvSeq) || !seqLE(b.Conn.RcvSeq, a.Conn.SndSeq) {
			findings = append(findings, seccomp.Finding{Pid: r.host, Kind: "inet_socket", Fd: f.FD,
				Reason: inetReason(fmt.Sprintf("TCP connection %s -> %s: bytes moved between its ends while they were saved (sent from %d to %d, received up to %d): checkpoint again", a.Local, a.Peer, una, a.Conn.SndSeq, b.Conn.RcvSeq), r.p.PID, f.FD), Transient: true})
		}
	}
	for _, l := range listeners {
		for i := range l.in.Pending {
			if p := &l.in.Pending[i]; !pending[p] {
				findings = append(findings, seccomp.Finding{Pid: l.host, Kind: "inet_socket", Fd: l.fd,
					Reason: inetReason(fmt.Sprintf("listening TCP socket %s: the connection from %s waiting to be accepted has no client in the app: not supported yet", l.in.Local, p.Peer), l.p, l.fd)})
			}
		}
	}
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	return nil
}

// transient marks the findings of err, a refusal, as ones that may be gone
// a moment later (seccomp.Finding.Transient).
func transient(err error) error {
	if nc := (*NotCheckpointableError)(nil); errors.As(err, &nc) {
		for i := range nc.Findings {
			nc.Findings[i].Transient = true
		}
	}
	return err
}

// TestMovedConnsEnv names a test-only knob: CRRUN_TEST_MOVED_CONNS=N makes
// the first N checks of connections in this crrun (checkConns) see bytes
// moved between the ends of every connection inside the app, as a busy
// machine's loopback does now and then, so that a test sees the checkpoint
// tried again, or refused once the tries are spent.
const TestMovedConnsEnv = "CRRUN_TEST_MOVED_CONNS"

var movedChecks atomic.Int64

// testMovedConns says whether this check sees moved bytes
// (TestMovedConnsEnv).
func testMovedConns() bool {
	n, err := strconv.Atoi(os.Getenv(TestMovedConnsEnv))
	return err == nil && movedChecks.Add(1) <= int64(n)
}

// mappedPeer is the other spelling of an address: an IPv4 one as an
// IPv4-mapped IPv6 one and the reverse ("" if neither).
func mappedPeer(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ""
	}
	if ap.Addr().Is4In6() {
		return unmap(ap).String()
	}
	if ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port()).String()
	}
	return ""
}

// listenKey marks a listener's address in the verdict's map of addresses
// (port 0 of no address is never a socket's).
func listenKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(unmap(a).Addr().As16()).WithZone("listen"), a.Port())
}

// listenerRefusal judges a listener with connections waiting to be
// accepted, in the gate: saved when each one's client is a socket of the
// app and crrun may use TCP_REPAIR.
// waitingReason is why a checkpoint that leaves the app running refuses
// listener s, whose waiting connections only --exit saves.
func waitingReason(s *inetSock) string {
	return fmt.Sprintf("listening TCP socket %s with %d connections not accepted yet: a checkpoint that leaves the app running cannot save them "+
		"(crrun takes them out of the listener's queue to read them, and cannot put them back): use checkpoint --exit", s.in.Local, s.lq.Waiting)
}

func listenerRefusal(s *inetSock, root, private bool) string {
	in := s.in
	switch {
	case s.clients < s.lq.Waiting:
		return fmt.Sprintf("listening TCP socket %s with %d connections not accepted yet, %d of them from a peer outside the app: not supported yet",
			in.Local, s.lq.Waiting, s.lq.Waiting-s.clients)
	case s.clients > s.lq.Waiting:
		return fmt.Sprintf("listening TCP socket %s with %d connections not accepted yet and %d connections of the app to it: not supported yet",
			in.Local, s.lq.Waiting, s.clients)
	case !root && !private:
		return fmt.Sprintf("listening TCP socket %s with %d connections not accepted yet inside the app: saving them needs TCP_REPAIR, "+
			"which an ordinary user has only in a network namespace of the app's own: run the app with --net=private", in.Local, s.lq.Waiting)
	}
	return ""
}

// countClients counts, for each listener of socks, the app's connected
// TCP sockets whose peer is no socket of the app and whose address the
// listener listens on: the clients of the connections waiting in it.
func countClients(socks []*inetSock, connected map[netip.AddrPort]bool) {
	for _, c := range socks {
		if c.in.Protocol != unix.IPPROTO_TCP || !inetsock.Connected(c.in.TCPState) || !c.in.Peer.IsValid() || connected[unmap(c.in.Peer)] {
			continue
		}
		p := unmap(c.in.Peer)
		for _, l := range socks {
			if l.in.Protocol != unix.IPPROTO_TCP || l.in.TCPState != tcpListen {
				continue
			}
			if a := unmap(l.in.Local); a.Port() == p.Port() && (a.Addr().IsUnspecified() || a.Addr() == p.Addr()) {
				l.clients++
				break
			}
		}
	}
}

// pendingConns notes a listener with connections waiting to be
// accepted, whose clients are sockets of the app (the gate matched them):
// they are taken out of its queue once every process is saved (readTaken),
// so that a refusal found on the way still leaves the app running with
// its queue intact. A checkpoint --exit only (the app cannot get them
// back).
func (d *dumper) pendingConns(c int, st *image.Inet, fdNum int) error {
	lc, err := unix.FcntlInt(uintptr(c), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d.t.pendingReads = append(d.t.pendingReads, pendingRead{st: st, listener: lc, pid: d.pid, nspid: d.p(), fdNum: fdNum})
	return nil
}

// pendingRead is a listener whose waiting connections crrun takes.
type pendingRead struct {
	st         *image.Inet // the listener's
	listener   int         // crrun's copy
	pid, nspid int         // its process, for reasons
	fdNum      int         // and fd
}

// readTaken takes the connections waiting in the app's listeners out of
// their queues, once every process is saved (their clients with them: bytes
// a client had in flight and its server end got after the client was read
// are in both, which the restore sends once): one accept(2) each on
// crrun's copy of the listener, in queue order; each is put in repair mode
// (it dies with the app without a word to its client) and read, its
// state and the bytes its client sent. Should the checkpoint fail after
// this, the app is ended (endTaken).
func (t *tree) readTaken() error {
	var findings []seccomp.Finding
	defer t.dropPendingReads()
	for _, r := range t.pendingReads {
		refuse := func(local, peer, why string) {
			findings = append(findings, seccomp.Finding{Pid: r.pid, Kind: "inet_socket", Fd: r.fdNum,
				Reason: inetReason(fmt.Sprintf("TCP connection %s -> %s waiting to be accepted: %s", local, peer, why), r.nspid, r.fdNum)})
		}
		for {
			p := []unix.PollFd{{Fd: int32(r.listener), Events: unix.POLLIN}}
			if _, err := unix.Poll(p, 0); err == unix.EINTR {
				continue
			} else if err != nil {
				return err
			}
			if p[0].Revents&unix.POLLIN == 0 {
				break
			}
			s, _, err := unix.Accept4(r.listener, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err != nil {
				return fmt.Errorf("accept a connection waiting on %s: %w", r.st.Local, err)
			}
			t.taken = append(t.taken, s)
			t.mutated = true // inventory.go
			sin, err := inetsock.Read(s)
			if err != nil {
				return err
			}
			if err := inetsock.RepairOn(s, true); err != nil {
				refuse(sin.Local.String(), sin.Peer.String(), err.Error())
				continue
			}
			conn, recv, send, err := inetsock.ReadConn(s)
			if err != nil {
				refuse(sin.Local.String(), sin.Peer.String(), err.Error())
				continue
			}
			if len(send) > 0 {
				refuse(sin.Local.String(), sin.Peer.String(), fmt.Sprintf("%d bytes to send", len(send)))
				continue
			}
			var st unix.Stat_t
			if err := unix.Fstat(s, &st); err != nil {
				return err
			}
			if len(recv) > 0 {
				conn.Data = fmt.Sprintf("tcp-%d.bin", st.Ino)
				if err := writeBlob(t.w, conn.Data, recv); err != nil {
					return err
				}
				t.blobs[conn.Data] = true
			}
			r.st.Pending = append(r.st.Pending, image.Inet{Family: sin.Family, Type: sin.Type, Protocol: sin.Protocol,
				Local: sin.Local.String(), Peer: sin.Peer.String(), Conn: conn})
		}
	}
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	return nil
}

// endTaken: a checkpoint that fails after crrun took connections out of
// the app's listeners cannot give them back, so the app (which was to end:
// checkpoint --exit) is ended rather than left running without them.
func (t *tree) endTaken(order []int, err error) error {
	if err == nil || len(t.taken) == 0 {
		return err
	}
	for _, pid := range order {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	n := len(t.taken)
	t.closeRepairs()
	return fmt.Errorf("%w (the app was ended: crrun had taken %d connections waiting to be accepted out of its listeners' queues to save them, which cannot be put back)", err, n)
}

// outside says whether a connection's peer is no socket of the app (the
// gate has let it through: crrun is root on the host's network and can
// hold its traffic). The app's connected TCP sockets are read once.
func (t *tree) outside(peer string) bool {
	if t.appTCP == nil {
		t.appTCP = map[netip.AddrPort]bool{}
		for _, pid := range t.live {
			fds, err := procfs.Fds(pid)
			if err != nil {
				continue
			}
			for _, e := range fds {
				if e.Kind != procfs.KindSocket || !isInetSaved(e) {
					continue
				}
				c, err := ptrace.CopyFd(pid, e.Num)
				if err != nil {
					continue
				}
				if in, err := inetsock.Read(c); err == nil && in.Protocol == unix.IPPROTO_TCP && in.Peer.IsValid() {
					t.appTCP[unmap(in.Local)] = true
				} else if err == nil && in.Protocol == unix.IPPROTO_TCP && in.TCPState == tcpListen {
					t.appTCP[listenKey(in.Local)] = true
				}
				unix.Close(c)
			}
		}
	}
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return false
	}
	ap = unmap(ap)
	// A peer waiting in a listener of the app is inside it.
	for _, a := range []netip.Addr{ap.Addr(), netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		if t.appTCP[listenKey(netip.AddrPortFrom(a, ap.Port()))] {
			return false
		}
	}
	return !t.appTCP[ap]
}

// hold holds the traffic of connection st when its peer is outside the
// app, before it is put in repair mode and read: nothing moves while it is
// saved, and after checkpoint --exit its peer gets no RST until the
// restore (holdForImage). It gives the checkpoint's hold id ("" for a
// connection inside the app).
func (d *dumper) hold(st *image.Inet) (string, error) {
	if !d.t.outside(st.Peer) {
		return "", nil
	}
	if d.t.holdID == "" {
		d.t.holdID = fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano())
	}
	k := nfhold.Conn{Local: unmap(netip.MustParseAddrPort(st.Local)), Peer: unmap(netip.MustParseAddrPort(st.Peer))}
	if err := nfhold.Hold(nfhold.LiveTag(d.t.holdID), []nfhold.Conn{k}); err != nil {
		return "", err
	}
	d.t.held = append(d.t.held, k)
	return d.t.holdID, nil
}

// releaseHolds ends this checkpoint's live holds (the app runs on, or a
// checkpoint --exit that failed).
func (t *tree) releaseHolds() {
	if len(t.held) == 0 {
		return
	}
	if err := nfhold.Release(nfhold.LiveTag(t.holdID)); err != nil {
		slog.Warn("checkpoint: the firewall rules holding the app's connections stay", "table", nfhold.TableName, "err", err)
	}
	t.held = nil
}

// holdForImage, before a checkpoint --exit commits its image, holds the
// connections for the image (rules tagged with its hold id, which its
// restore removes), then ends the live holds; undo removes the image's
// should the commit fail.
func (t *tree) holdForImage() (undo func(), err error) {
	if len(t.held) == 0 {
		return func() {}, nil
	}
	if err := nfhold.Hold(nfhold.ImageTag(t.holdID), t.held); err != nil {
		return nil, fmt.Errorf("holding the connections with a peer outside the app until the restore: %w", err)
	}
	return func() {
		if err := nfhold.Release(nfhold.ImageTag(t.holdID)); err != nil {
			slog.Warn("checkpoint: firewall rules of a failed checkpoint stay", "table", nfhold.TableName, "err", err)
		}
	}, nil
}

// onThisHost says whether a is an address of this host (loopback, or one
// of its interfaces'): a peer there is held while its connection is saved;
// one on another host is refused.
func onThisHost(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if p, err := netip.ParsePrefix(x.String()); err == nil && p.Addr().Unmap() == ip.WithZone("") {
			return true
		}
	}
	return false
}

// connFields sets the observed receive queue length and TCP state of each
// saved connection from what the dump read: the kernel still moves bytes
// and FINs between sockets in repair mode (a retransmission or window
// probe timer fires) after a connection was read and before the inventory
// is taken, and the image holds the dump's (checkConns checks that no byte
// is lost between two ends).
func connFields(f inventory.Fields, p *image.Process) {
	for _, fd := range p.FDs {
		if fd.Inet == nil || fd.Inet.Conn == nil {
			continue
		}
		k := fmt.Sprintf("fd %d inq", fd.FD)
		if _, ok := f[k]; ok {
			f[k] = strconv.Itoa(fd.Inet.Conn.RecvLen)
		}
		k = fmt.Sprintf("fd %d inet", fd.FD)
		if w := strings.Fields(f[k]); len(w) > 2 {
			w[1] = inetsock.TCPStateName(max(fd.Inet.Conn.State, inetsock.StateEstablished))
			f[k] = strings.Join(w, " ")
		}
	}
}

// urgentRead compares what SIOCINQ told of a connection's receive queue
// with rcv_nxt - copied_seq (inet_diag's rqueue, read once for the tree):
// they differ by the FIN received and not read, or else by urgent data
// whose out-of-band byte the app read and whose mark it has not reached
// (SIOCINQ, and a peek, stop at the mark: the bytes after it would be
// lost).
func (d *dumper) urgentRead(e procfs.FdEntry, conn *image.TCPConn) string {
	if d.t.rqueues == nil {
		q, err := inetsock.ReceiveQueues(d.req.Init)
		if err != nil {
			return fmt.Sprintf("its receive queue cannot be checked (%v)", err)
		}
		d.t.rqueues = q
	}
	fits := func(rq int) bool { extra := rq - conn.RecvLen; return extra == 0 || extra == 1 && conn.FinRecv }
	rq, ok := d.t.rqueues[e.Inode]
	if ok && fits(rq) {
		return ""
	}
	// Listed before this connection was read, bytes may have come since
	// (a timer of its peer in repair mode): listed again.
	q, err := inetsock.ReceiveQueues(d.req.Init)
	if err != nil {
		return fmt.Sprintf("its receive queue cannot be checked (%v)", err)
	}
	d.t.rqueues = q
	if rq, ok = q[e.Inode]; !ok || fits(rq) {
		return ""
	}
	return fmt.Sprintf("%d bytes received, %d of them before an urgent (out-of-band, MSG_OOB) mark the app reads towards, which a restore cannot set again "+
		"(or bytes still arriving: checkpoint again): not supported yet", rq, conn.RecvLen)
}
