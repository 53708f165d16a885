package image

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Inet is a TCP or UDP socket of AF_INET or AF_INET6 (required feature
// "inet-sockets"). Restore creates it (socket), sets its options, binds it
// to Local, and listens (TCP, Listen) or connects (UDP, Peer) again.
type Inet struct {
	// Memberships are the multicast groups a UDP socket is a member of
	// (McastMembership), joined again at restore (required feature
	// "inet-multicast").
	Memberships []McastMembership `json:"memberships,omitempty"`
	// Filter is its classic socket filter and lock, attached again once
	// its queued datagrams are back (required feature "socket-filter").
	Filter *SockFilter `json:"filter,omitempty"`

	Family   int `json:"family"`   // AF_INET, AF_INET6
	Type     int `json:"type"`     // SOCK_STREAM, SOCK_DGRAM
	Protocol int `json:"protocol"` // IPPROTO_TCP, IPPROTO_UDP
	// Local is getsockname's address ("" if the socket has no port yet);
	// Peer is getpeername's (a connected UDP socket), "" if none.
	Local string `json:"local,omitempty"`
	Peer  string `json:"peer,omitempty"`
	// Listen: a listening TCP socket with this backlog (the connections
	// waiting to be accepted refuse the checkpoint).
	Listen  bool `json:"listen,omitempty"`
	Backlog int  `json:"backlog,omitempty"`
	// Options are the socket's option values as getsockopt returned them
	// (InetOptions names the ones crrun reads); restore sets each that a
	// new socket does not have already.
	Options []SockOpt `json:"options,omitempty"`
	// Datagrams queued on a UDP socket, oldest first; their bytes follow
	// one another in the blob Data.
	Datagrams []Datagram `json:"datagrams,omitempty"`
	Data      string     `json:"data,omitempty"`
	// Conn, on a TCP socket, is its established connection (Local ->
	// Peer), restored in repair mode (required feature "tcp-repair").
	Conn *TCPConn `json:"conn,omitempty"`
	// Pending, on a listener, are the connections waiting in its accept
	// queue (oldest first), whose clients are sockets of the app: each the
	// server end as crrun read it (Local, Peer, Conn with its receive
	// queue, Options), taken out of the queue by a checkpoint --exit. The
	// restore makes each again by a handshake from its client and queues
	// the bytes again (docs/design.md, Network).
	Pending []Inet `json:"pending,omitempty"`
	// Accepting, on a connection (Conn), says its peer is one of Pending
	// of a listener of the app: the restore connects it to the listener
	// rather than repairing it.
	Accepting bool `json:"accepting,omitempty"`
}

// SockOpt is one option value.
type SockOpt struct {
	Name  string `json:"name"`  // as InetOptions names it: "SO_REUSEADDR"
	Value []byte `json:"value"` // getsockopt's bytes
}

// Datagram is one datagram queued on a UDP socket.
type Datagram struct {
	From string `json:"from"` // its source address
	Len  int    `json:"len"`
}

// InetOption is an option crrun saves and restores on TCP and UDP sockets.
type InetOption struct {
	Name        string
	Level, Opt  int
	TCP, UDP    bool // the protocols it is read on
	Inet6       bool // IPv6 sockets only
	Inet4       bool // IPv4 sockets only
	Half        bool // setsockopt takes half of what getsockopt gives (SO_SNDBUF, SO_RCVBUF: the kernel doubles)
	AfterBuffer bool // set after SO_SNDBUF and SO_RCVBUF (SO_BUF_LOCK)
}

// soBufLock is SO_BUF_LOCK (Linux 5.14): whether SO_SNDBUF/SO_RCVBUF were
// set (the kernel then stops tuning them).
const soBufLock = 72

// InetOptions is the one table of the options the checkpoint reads, the
// restore sets and the verifier compares. An option a kernel does not know
// is skipped at checkpoint; an image naming an option not here is refused.
var InetOptions = []InetOption{
	{Name: "SO_REUSEADDR", Level: unix.SOL_SOCKET, Opt: unix.SO_REUSEADDR, TCP: true, UDP: true},
	{Name: "SO_REUSEPORT", Level: unix.SOL_SOCKET, Opt: unix.SO_REUSEPORT, TCP: true, UDP: true},
	{Name: "SO_KEEPALIVE", Level: unix.SOL_SOCKET, Opt: unix.SO_KEEPALIVE, TCP: true},
	{Name: "SO_LINGER", Level: unix.SOL_SOCKET, Opt: unix.SO_LINGER, TCP: true, UDP: true},
	{Name: "SO_BROADCAST", Level: unix.SOL_SOCKET, Opt: unix.SO_BROADCAST, UDP: true},
	{Name: "SO_OOBINLINE", Level: unix.SOL_SOCKET, Opt: unix.SO_OOBINLINE, TCP: true},
	{Name: "SO_RCVLOWAT", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVLOWAT, TCP: true, UDP: true},
	{Name: "SO_PRIORITY", Level: unix.SOL_SOCKET, Opt: unix.SO_PRIORITY, TCP: true, UDP: true},
	{Name: "SO_MARK", Level: unix.SOL_SOCKET, Opt: unix.SO_MARK, TCP: true, UDP: true},
	{Name: "SO_RCVTIMEO", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVTIMEO, TCP: true, UDP: true},
	{Name: "SO_SNDTIMEO", Level: unix.SOL_SOCKET, Opt: unix.SO_SNDTIMEO, TCP: true, UDP: true},
	{Name: "SO_TIMESTAMP", Level: unix.SOL_SOCKET, Opt: unix.SO_TIMESTAMP, TCP: true, UDP: true},
	{Name: "SO_TIMESTAMPNS", Level: unix.SOL_SOCKET, Opt: unix.SO_TIMESTAMPNS, TCP: true, UDP: true},
	{Name: "SO_BINDTODEVICE", Level: unix.SOL_SOCKET, Opt: unix.SO_BINDTODEVICE, TCP: true, UDP: true},
	{Name: "SO_SNDBUF", Level: unix.SOL_SOCKET, Opt: unix.SO_SNDBUF, TCP: true, UDP: true, Half: true},
	{Name: "SO_RCVBUF", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVBUF, TCP: true, UDP: true, Half: true},
	{Name: "SO_BUF_LOCK", Level: unix.SOL_SOCKET, Opt: soBufLock, TCP: true, UDP: true, AfterBuffer: true},
	{Name: "TCP_NODELAY", Level: unix.IPPROTO_TCP, Opt: unix.TCP_NODELAY, TCP: true},
	{Name: "TCP_CORK", Level: unix.IPPROTO_TCP, Opt: unix.TCP_CORK, TCP: true},
	{Name: "TCP_KEEPIDLE", Level: unix.IPPROTO_TCP, Opt: unix.TCP_KEEPIDLE, TCP: true},
	{Name: "TCP_KEEPINTVL", Level: unix.IPPROTO_TCP, Opt: unix.TCP_KEEPINTVL, TCP: true},
	{Name: "TCP_KEEPCNT", Level: unix.IPPROTO_TCP, Opt: unix.TCP_KEEPCNT, TCP: true},
	{Name: "TCP_USER_TIMEOUT", Level: unix.IPPROTO_TCP, Opt: unix.TCP_USER_TIMEOUT, TCP: true},
	{Name: "TCP_CONGESTION", Level: unix.IPPROTO_TCP, Opt: unix.TCP_CONGESTION, TCP: true},
	{Name: "TCP_DEFER_ACCEPT", Level: unix.IPPROTO_TCP, Opt: unix.TCP_DEFER_ACCEPT, TCP: true},
	{Name: "TCP_FASTOPEN", Level: unix.IPPROTO_TCP, Opt: unix.TCP_FASTOPEN, TCP: true},
	{Name: "TCP_WINDOW_CLAMP", Level: unix.IPPROTO_TCP, Opt: unix.TCP_WINDOW_CLAMP, TCP: true},
	{Name: "TCP_NOTSENT_LOWAT", Level: unix.IPPROTO_TCP, Opt: unix.TCP_NOTSENT_LOWAT, TCP: true},
	{Name: "TCP_LINGER2", Level: unix.IPPROTO_TCP, Opt: unix.TCP_LINGER2, TCP: true},
	{Name: "TCP_SYNCNT", Level: unix.IPPROTO_TCP, Opt: unix.TCP_SYNCNT, TCP: true},
	{Name: "TCP_MAXSEG", Level: unix.IPPROTO_TCP, Opt: unix.TCP_MAXSEG, TCP: true},
	{Name: "IP_TOS", Level: unix.IPPROTO_IP, Opt: unix.IP_TOS, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_TTL", Level: unix.IPPROTO_IP, Opt: unix.IP_TTL, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_RECVERR", Level: unix.IPPROTO_IP, Opt: unix.IP_RECVERR, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_PKTINFO", Level: unix.IPPROTO_IP, Opt: unix.IP_PKTINFO, UDP: true, Inet4: true},
	{Name: "IP_RECVTOS", Level: unix.IPPROTO_IP, Opt: unix.IP_RECVTOS, UDP: true, Inet4: true},
	{Name: "IP_RECVTTL", Level: unix.IPPROTO_IP, Opt: unix.IP_RECVTTL, UDP: true, Inet4: true},
	{Name: "IP_MTU_DISCOVER", Level: unix.IPPROTO_IP, Opt: unix.IP_MTU_DISCOVER, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_FREEBIND", Level: unix.IPPROTO_IP, Opt: unix.IP_FREEBIND, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_TRANSPARENT", Level: unix.IPPROTO_IP, Opt: unix.IP_TRANSPARENT, TCP: true, UDP: true, Inet4: true},
	{Name: "IP_MULTICAST_TTL", Level: unix.IPPROTO_IP, Opt: unix.IP_MULTICAST_TTL, UDP: true},
	{Name: "IP_MULTICAST_LOOP", Level: unix.IPPROTO_IP, Opt: unix.IP_MULTICAST_LOOP, UDP: true},
	// IP_MULTICAST_IF by address (by index is a trap taint: getsockopt
	// gives only the address); IP_MULTICAST_ALL; IPV6_MULTICAST_IF. The
	// IP_MULTICAST_* options are read on IPv6 sockets too: an IPv6 UDP
	// socket sends to IPv4 groups with them (SOL_IP).
	{Name: "IP_MULTICAST_IF", Level: unix.IPPROTO_IP, Opt: unix.IP_MULTICAST_IF, UDP: true},
	{Name: "IP_MULTICAST_ALL", Level: unix.IPPROTO_IP, Opt: unix.IP_MULTICAST_ALL, UDP: true},
	{Name: "IPV6_V6ONLY", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_V6ONLY, TCP: true, UDP: true, Inet6: true},
	{Name: "IPV6_TCLASS", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_TCLASS, TCP: true, UDP: true, Inet6: true},
	{Name: "IPV6_UNICAST_HOPS", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_UNICAST_HOPS, TCP: true, UDP: true, Inet6: true},
	{Name: "IPV6_RECVERR", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_RECVERR, TCP: true, UDP: true, Inet6: true},
	{Name: "IPV6_RECVPKTINFO", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_RECVPKTINFO, UDP: true, Inet6: true},
	{Name: "IPV6_MTU_DISCOVER", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_MTU_DISCOVER, TCP: true, UDP: true, Inet6: true},
	{Name: "IPV6_MULTICAST_HOPS", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_MULTICAST_HOPS, UDP: true, Inet6: true},
	{Name: "IPV6_MULTICAST_LOOP", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_MULTICAST_LOOP, UDP: true, Inet6: true},
	{Name: "IPV6_MULTICAST_IF", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_MULTICAST_IF, UDP: true, Inet6: true},
	{Name: "IPV6_MULTICAST_ALL", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_MULTICAST_ALL, UDP: true, Inet6: true},
}

// InetOptionsOf lists the options read on a socket of this family and
// protocol.
func InetOptionsOf(family, protocol int) []InetOption {
	var out []InetOption
	for _, o := range InetOptions {
		switch {
		case protocol == unix.IPPROTO_TCP && !o.TCP, protocol == unix.IPPROTO_UDP && !o.UDP,
			o.Inet6 && family != unix.AF_INET6, o.Inet4 && family != unix.AF_INET:
			continue
		}
		out = append(out, o)
	}
	return out
}

// InetOptionByName finds an option of InetOptions.
func InetOptionByName(name string) (InetOption, bool) {
	for _, o := range InetOptions {
		if o.Name == name {
			return o, true
		}
	}
	return InetOption{}, false
}

// Validate checks what restore relies on: a known family, type and
// protocol, addresses that parse, options crrun knows.
func (s *Inet) Validate() error {
	if s.Family != unix.AF_INET && s.Family != unix.AF_INET6 {
		return fmt.Errorf("inet socket: family %d", s.Family)
	}
	switch {
	case s.Type == unix.SOCK_STREAM && s.Protocol == unix.IPPROTO_TCP:
	case s.Type == unix.SOCK_DGRAM && s.Protocol == unix.IPPROTO_UDP:
	default:
		return fmt.Errorf("inet socket: type %d protocol %d", s.Type, s.Protocol)
	}
	for _, a := range []string{s.Local, s.Peer} {
		if a == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(a); err != nil {
			return fmt.Errorf("inet socket: address %q: %w", a, err)
		}
	}
	for _, o := range s.Options {
		if _, ok := InetOptionByName(o.Name); !ok {
			return fmt.Errorf("inet socket: unknown option %q", o.Name)
		}
	}
	if len(s.Memberships) > 0 && s.Protocol != unix.IPPROTO_UDP {
		return fmt.Errorf("inet socket: multicast memberships of a TCP socket")
	}
	if c := s.Conn; c != nil {
		if s.Protocol != unix.IPPROTO_TCP || s.Local == "" || s.Peer == "" || s.Listen {
			return fmt.Errorf("inet socket: a connection without TCP, both addresses, or on a listener")
		}
		if c.SendLen < 0 || c.RecvLen < 0 || c.Unsent < 0 || c.Unsent > c.SendLen || c.SndWscale < 0 || c.SndWscale > 14 || c.RcvWscale < 0 || c.RcvWscale > 14 {
			return fmt.Errorf("inet socket: bad connection state %+v", *c)
		}
		if s.Accepting && c.RecvLen != 0 {
			return fmt.Errorf("inet socket: a connection waiting to be accepted with %d bytes received", c.RecvLen)
		}
	} else if s.Peer != "" && s.Protocol == unix.IPPROTO_TCP {
		return fmt.Errorf("inet socket: a TCP peer without a connection")
	}
	if len(s.Pending) > 0 && !s.Listen {
		return fmt.Errorf("inet socket: connections waiting to be accepted on a socket that does not listen")
	}
	if s.Accepting && s.Conn == nil {
		return fmt.Errorf("inet socket: a connection waiting to be accepted without its state")
	}
	for i := range s.Pending {
		p := &s.Pending[i]
		if len(p.Pending) > 0 || p.Accepting || p.Conn == nil || p.Conn.SendLen != 0 {
			return fmt.Errorf("inet socket: a bad connection waiting to be accepted on %s", s.Local)
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("a connection waiting to be accepted on %s: %w", s.Local, err)
		}
	}
	for _, d := range s.Datagrams {
		if _, err := netip.ParseAddrPort(d.From); err != nil || d.Len < 0 {
			return fmt.Errorf("inet socket: datagram from %q of %d bytes", d.From, d.Len)
		}
	}
	return nil
}

// TCPConn is the state of an established TCP connection, read and set in
// repair mode (TCP_REPAIR), as CRIU's libsoccr does.
type TCPConn struct {
	// SndSeq and RcvSeq are TCP_QUEUE_SEQ of the send queue (the sequence
	// number after its last byte: write_seq) and of the receive queue
	// (rcv_nxt).
	SndSeq uint32 `json:"snd_seq"`
	RcvSeq uint32 `json:"rcv_seq"`
	// SendLen bytes are in the send queue (sent and not acknowledged, then
	// Unsent not sent yet); RecvLen bytes are received and not read. Data
	// names the blob holding the receive queue, then the send queue.
	SendLen int    `json:"send_len"`
	Unsent  int    `json:"unsent,omitempty"`
	RecvLen int    `json:"recv_len"`
	Data    string `json:"data,omitempty"`
	// Negotiated options: tcp_info's TCPI_OPT_* bits (timestamps 1, SACK
	// 2, window scaling 4), the window scales, the MSS clamp (TCP_MAXSEG),
	// the timestamp clock (TCP_TIMESTAMP).
	Options   int    `json:"options"`
	SndWscale int    `json:"snd_wscale,omitempty"`
	RcvWscale int    `json:"rcv_wscale,omitempty"`
	MSS       uint32 `json:"mss"`
	Timestamp uint32 `json:"timestamp,omitempty"`
	// Window is TCP_REPAIR_WINDOW: snd_wl1, snd_wnd, max_window, rcv_wnd,
	// rcv_wup.
	Window [5]uint32 `json:"window"`
	// State is the connection's TCP state when it is not established
	// (TCP_FIN_WAIT1...: a half-closed or closing connection). FinSent:
	// this end has shut down its writing (shutdown(SHUT_WR) or close: its
	// FIN is in the send queue or acknowledged); FinRecv: it has received
	// its peer's FIN; ShutRd: the app shut down its reading
	// (shutdown(SHUT_RD), no FIN received). The sequence numbers and
	// queue lengths above count data only, never a FIN: the restore
	// rebuilds the connection established, then replays the shutdowns
	// (docs/design.md, Network).
	State   int  `json:"state,omitempty"`
	FinSent bool `json:"fin_sent,omitempty"`
	FinRecv bool `json:"fin_recv,omitempty"`
	ShutRd  bool `json:"shut_rd,omitempty"`
	// Held names the checkpoint whose firewall rules hold the traffic of
	// this connection with a peer outside the app until its restore
	// (internal/nfhold: the rules tagged "image <Held>").
	Held string `json:"held,omitempty"`
}
