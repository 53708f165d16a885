package checkpoint

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Raw IP sockets (SOCK_RAW of AF_INET, AF_INET6), as root or in a network
// namespace where the app may make them. Saved: family, protocol, the
// address bound (getsockname) and connected to (/proc/PID/net/raw:
// getpeername does not show a raw socket's peer), the options of
// image.RawOptionsOf (IP_HDRINCL, ICMP_FILTER, IPV6_CHECKSUM,
// ICMPV6_FILTER, with the socket- and IP-level ones), a classic filter.
// Refused: packets or an error queued and not read (they came from the
// network or the kernel: nothing can queue them again as they were; the
// freeze retries a second first, as for netlink), multicast memberships.

// isRawSaved: a raw IP socket fd, which the dump saves as image.FDRaw.
func isRawSaved(e procfs.FdEntry) bool {
	return (e.Family == procfs.FamilyInet || e.Family == procfs.FamilyInet6) && strings.TrimSuffix(e.SocketProto, "v6") == "RAW"
}

func rawName(in *inetsock.RawInfo) string {
	return fmt.Sprintf("raw socket (%s, protocol %d) at %s", seccomp.FamilyName(uint64(in.Family)), in.Protocol, in.Local.Addr())
}

// raw saves the raw socket of fd e.
func (d *dumper) raw(e procfs.FdEntry, fd *image.FD) error {
	return d.ipDgram(e, fd, ipDgramKind{
		read: func(c int) (int, int, netip.AddrPort, netip.AddrPort, error) {
			in, err := inetsock.ReadRaw(c, d.pid, e.Inode)
			if err != nil {
				return 0, 0, netip.AddrPort{}, netip.AddrPort{}, err
			}
			return in.Family, in.Protocol, in.Local, in.Peer, nil
		},
		name: func(fam, proto int, local netip.AddrPort) string {
			return rawName(&inetsock.RawInfo{Family: fam, Protocol: proto, Local: local})
		},
		queued: "packets queued and not read yet (%d bytes) after 1 s of retries: " +
			"they came from the network or the kernel and cannot be queued again as they were, not supported yet (checkpoint again once the app has read them)",
		typ: unix.SOCK_RAW, options: inetsock.RawOptions, validate: (*image.Inet).ValidateRaw,
		kind: image.FDRaw, feature: "raw-sockets",
	})
}

// ipDgramKind is what tells a ping socket's dump from a raw one's.
type ipDgramKind struct {
	read     func(c int) (family, protocol int, local, peer netip.AddrPort, err error)
	name     func(family, protocol int, local netip.AddrPort) string
	queued   string // what the queue holds, with %d bytes
	typ      int
	options  func(fd, family int) []image.SockOpt
	validate func(*image.Inet) error
	kind     image.FDKind
	feature  string
}

// ipDgram saves a ping or raw socket of fd e: its addresses, options and
// classic filter; refused with a pending error, a queue not empty, or
// multicast memberships.
func (d *dumper) ipDgram(e procfs.FdEntry, fd *image.FD, k ipDgramKind) error {
	refuse := func(reason string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "socket", Detail: e.Family.String(), Fd: e.Num,
			Reason: inetReason(reason, d.p(), e.Num)}}}
	}
	c, err := ptrace.CopyFd(d.pid, e.Num)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	fam, proto, local, peer, err := k.read(c)
	if err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	name := k.name(fam, proto, local)
	n, perr, err := inetsock.Queued(c)
	switch {
	case err != nil:
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	case perr:
		return refuse(fmt.Sprintf("%s has an error pending that the app has not read yet, which no interface sets again: not supported yet", name))
	case n > 0:
		return refuse(fmt.Sprintf("%s has "+k.queued, name, n))
	}
	cands, err := inetsock.McastCandidates(d.pid)
	if err != nil {
		return fmt.Errorf("pid %d: the multicast groups of its network: %w", d.pid, err)
	}
	if ms, err := inetsock.Memberships(c, fam, cands); err != nil || len(ms) > 0 {
		return refuse(fmt.Sprintf("%s is a member of multicast groups (%s%v): not supported yet", name, inetsock.McastString(ms), err))
	}
	st := &image.Inet{Family: fam, Type: k.typ, Protocol: proto, Options: k.options(c, fam)}
	if local.IsValid() {
		st.Local = local.String()
	}
	if peer.IsValid() {
		st.Peer = peer.String()
	}
	if st.Filter, err = inetsock.ReadFilter(c); err != nil {
		return refuse(fmt.Sprintf("%s: %v: not supported yet", name, err))
	}
	if st.Filter != nil {
		d.w.RequireFeature("socket-filter")
	}
	if err := k.validate(st); err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	fd.Kind, fd.Inet = k.kind, st
	d.w.RequireFeature(k.feature)
	return nil
}
