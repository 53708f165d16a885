// Package inetsock reads and sets the state of AF_INET/AF_INET6 sockets
// through a descriptor crrun holds (a pidfd_getfd copy of the app's): the
// one place the checkpoint, the restore and the verifier read it from.
package inetsock

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Info is what getsockopt and getsockname tell about a socket.
type Info struct {
	Family, Type, Protocol int
	Local, Peer            netip.AddrPort // invalid when there is none
	// TCPState is tcp_info's state (TCP_ESTABLISHED...); 0 for UDP.
	TCPState int
	// Used: a TCP socket that sent or received a segment (a closed
	// socket that had a connection, not a fresh one).
	Used bool
}

// Read reads fd's kind, addresses and TCP state.
func Read(fd int) (*Info, error) {
	var in Info
	var err error
	if in.Family, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return nil, fmt.Errorf("SO_DOMAIN: %w", err)
	}
	if in.Type, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, fmt.Errorf("SO_TYPE: %w", err)
	}
	if in.Protocol, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return nil, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	if in.Family != unix.AF_INET && in.Family != unix.AF_INET6 {
		return &in, nil
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		in.Local = AddrPort(sa)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		in.Peer = AddrPort(sa)
	}
	if in.Protocol == unix.IPPROTO_TCP {
		ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return nil, fmt.Errorf("TCP_INFO: %w", err)
		}
		in.TCPState = int(ti.State)
		in.Used = ti.Segs_out != 0 || ti.Segs_in != 0
	}
	return &in, nil
}

// Bound: the socket has a port (bind, listen, connect or a send gave it one).
func (in *Info) Bound() bool { return in.Local.IsValid() && in.Local.Port() != 0 }

// ProtoName is "tcp4", "udp6"...
func (in *Info) ProtoName() string {
	p := "udp"
	if in.Protocol == unix.IPPROTO_TCP {
		p = "tcp"
	}
	if in.Family == unix.AF_INET6 {
		return p + "6"
	}
	return p + "4"
}

// TCPStateName names a TCP_* state.
func TCPStateName(s int) string {
	names := map[int]string{1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait1", 5: "fin-wait2",
		6: "time-wait", 7: "closed", 8: "close-wait", 9: "last-ack", 10: "listen", 11: "closing", 12: "new-syn-recv"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("state %d", s)
}

// AddrPort converts a sockaddr (nil: none).
func AddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			ip = ip.WithZone(fmt.Sprint(a.ZoneId))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}

// Sockaddr converts an address for a socket of family.
func Sockaddr(family int, ap netip.AddrPort) (unix.Sockaddr, error) {
	ip := ap.Addr()
	if family == unix.AF_INET {
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 address", ap)
		}
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		var id uint32
		if _, err := fmt.Sscan(z, &id); err != nil {
			return nil, fmt.Errorf("%s: zone %q", ap, z)
		}
		sa.ZoneId = id
	}
	return sa, nil
}

// ConnIgnored: an option not saved on an established connection: the MSS
// is restored as the connection's (TCP_REPAIR_OPTIONS), IPV6_V6ONLY means
// nothing once connected (and binding the connection's address again sets
// it).
func ConnIgnored(name string) bool { return name == "TCP_MAXSEG" || name == "IPV6_V6ONLY" }

// Options reads every option of image.InetOptions that applies to the
// socket (an option this kernel does not know is left out).
func Options(fd int, in *Info) []image.SockOpt {
	var out []image.SockOpt
	for _, o := range image.InetOptionsOf(in.Family, in.Protocol) {
		if v, err := getRaw(fd, o.Level, o.Opt); err == nil {
			out = append(out, image.SockOpt{Name: o.Name, Value: v})
		}
	}
	return out
}

// getRaw is getsockopt with a 64-byte buffer, the bytes the kernel wrote.
func getRaw(fd, level, opt int) ([]byte, error) {
	b := make([]byte, 64)
	n, err := getsockopt(fd, level, opt, b)
	if err != nil {
		return nil, err
	}
	b = b[:n]
	if level == unix.IPPROTO_TCP && opt == unix.TCP_CONGESTION {
		b = bytes.TrimRight(b, "\x00")
	}
	return b, nil
}

// SetOptions gives a new socket the saved option values it does not have
// already (what a fresh socket has is the kernel's default: setting it
// would make a default look chosen), buffer sizes before SO_BUF_LOCK.
func SetOptions(fd int, opts []image.SockOpt) error {
	var late []image.SockOpt
	locks := -1 // SO_BUF_LOCK's saved bits (-1: not saved: every size is the app's)
	for _, so := range opts {
		if so.Name == "SO_BUF_LOCK" && len(so.Value) == 4 {
			locks = int(le32(so.Value))
		}
	}
	for _, so := range opts {
		o, ok := image.InetOptionByName(so.Name)
		if !ok {
			return fmt.Errorf("unknown socket option %q", so.Name)
		}
		if o.AfterBuffer {
			late = append(late, so)
			continue
		}
		if err := setOne(fd, o, so.Value); err != nil {
			if bit, ok := bufLockBit[so.Name]; ok && locks >= 0 && locks&bit == 0 {
				// A size the kernel tuned (the app never set it):
				// as near as setsockopt sets it (an even number),
				// tuned by the kernel again from there.
				continue
			}
			return err
		}
	}
	for _, so := range late {
		o, _ := image.InetOptionByName(so.Name)
		if err := setOne(fd, o, so.Value); err != nil {
			return err
		}
	}
	return nil
}

func setOne(fd int, o image.InetOption, v []byte) error {
	cur, err := getRaw(fd, o.Level, o.Opt)
	if err == nil && bytes.Equal(cur, v) {
		return nil
	}
	set := v
	if o.Half && len(v) == 4 {
		n := int32(le32(v)) / 2
		set = []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	}
	if err := setsockopt(fd, o.Level, o.Opt, set); err != nil {
		return fmt.Errorf("setsockopt(%s, %x): %w", o.Name, v, err)
	}
	got, err := getRaw(fd, o.Level, o.Opt)
	if err != nil {
		return fmt.Errorf("getsockopt(%s): %w", o.Name, err)
	}
	if force, ok := forced[o.Opt]; ok && o.Level == unix.SOL_SOCKET && !bytes.Equal(got, v) {
		// A size the kernel's autotuning grew past net.core.[rw]mem_max,
		// which setsockopt caps at: the forcing variant (CAP_NET_ADMIN,
		// which crrun has wherever it restores a connection).
		if err := setsockopt(fd, o.Level, force, set); err == nil {
			if got, err = getRaw(fd, o.Level, o.Opt); err != nil {
				return fmt.Errorf("getsockopt(%s): %w", o.Name, err)
			}
		}
	}
	if !bytes.Equal(got, v) {
		return fmt.Errorf("%s: set %x, reads back %x", o.Name, v, got)
	}
	return nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// ErrNoPeek: the socket's queue cannot be walked.
var ErrNoPeek = errors.New("SO_PEEK_OFF not available")

// Datagram is one queued datagram.
type Datagram struct {
	From netip.AddrPort
	Data []byte
}

// PeekDatagrams reads the datagrams queued on a UDP socket without
// consuming them: MSG_PEEK walking SO_PEEK_OFF, which is put back as it
// was. At most max datagrams (more is an error).
func PeekDatagrams(fd int, max int) ([]Datagram, error) {
	old, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPeek, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPeek, err)
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, old) //nolint:errcheck
	var out []Datagram
	buf := make([]byte, 1<<16)
	for {
		n, _, flags, from, err := unix.Recvmsg(fd, buf, nil, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if err := checkHidden(fd, out); err != nil {
				return nil, err
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return nil, fmt.Errorf("a queued datagram longer than %d bytes", len(buf))
		}
		if len(out) >= max {
			return nil, fmt.Errorf("more than %d datagrams queued", max)
		}
		out = append(out, Datagram{From: AddrPort(from), Data: append([]byte(nil), buf[:n]...)})
	}
}

// Pending says what a socket holds that neither the checkpoint saves nor
// a restore could give back ("" if nothing), without consuming it (poll
// and ioctls only: reading SO_ERROR or the error queue would take it from
// the app): an error waiting for the app (SO_ERROR, or the error queue of
// IP_RECVERR/IPV6_RECVERR: poll's POLLERR, which cannot tell the two apart
// without taking the error), urgent data (MSG_OOB) not read yet (POLLPRI),
// or a TCP read position at the urgent mark (SIOCATMARK).
func Pending(fd int, in *Info) string {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLERR | unix.POLLPRI}}
	for {
		_, err := unix.Poll(p, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ""
		}
		break
	}
	what := fmt.Sprintf("%s socket %s", strings.ToUpper(in.ProtoName()[:3]), in.Local)
	if p[0].Revents&unix.POLLERR != 0 {
		return what + ": an error is pending (SO_ERROR) or queued (the IP_RECVERR error queue), which a restore cannot give back: not supported yet (checkpoint again once the app has read it)"
	}
	if in.Protocol != unix.IPPROTO_TCP || in.TCPState == 10 {
		return ""
	}
	if p[0].Revents&unix.POLLPRI != 0 {
		return what + ": urgent (out-of-band, MSG_OOB) data not read yet, which a restore cannot queue again: not supported yet"
	}
	if at, err := unix.IoctlGetInt(fd, unix.SIOCATMARK); err == nil && at != 0 {
		return what + ": the app reads at the urgent (out-of-band, MSG_OOB) mark, which a restore cannot set again: not supported yet"
	}
	return ""
}

// TCP states of a connection (TCP_ESTABLISHED and the half-closed and
// closing ones, whose two ends both still hold a connection).
const (
	StateEstablished = 1
	StateFinWait1    = 4
	StateFinWait2    = 5
	StateCloseWait   = 8
	StateLastAck     = 9
	StateClosing     = 11
)

// Connected: a TCP state with a connection (established, half-closed or
// closing).
func Connected(state int) bool {
	switch state {
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait, StateLastAck, StateClosing:
		return true
	}
	return false
}

// forced are the options whose setsockopt caps at a sysctl, and their
// variants that do not.
var forced = map[int]int{unix.SO_RCVBUF: unix.SO_RCVBUFFORCE, unix.SO_SNDBUF: unix.SO_SNDBUFFORCE}

// bufLockBit is each buffer size's bit in SO_BUF_LOCK (SOCK_SNDBUF_LOCK,
// SOCK_RCVBUF_LOCK): set when the app chose the size, clear while the
// kernel tunes it.
var bufLockBit = map[string]int{"SO_SNDBUF": 1, "SO_RCVBUF": 2}

// Autotuned says whether option name is a buffer size the kernel tunes on
// this socket (its SO_BUF_LOCK bit clear): the observer records it as
// such, not its value, which moves as the connection runs.
func Autotuned(fd int, name string) bool {
	bit, ok := bufLockBit[name]
	if !ok {
		return false
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, 72) // SO_BUF_LOCK
	return err == nil && v&bit == 0
}
