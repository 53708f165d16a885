package checkpoint

import (
	"fmt"
	"strings"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// ICMP "ping" sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), AF_INET6
// and IPPROTO_ICMPV6), which net.ipv4.ping_group_range lets a group make
// without privilege. Saved: family, the address bound and the ICMP echo
// identifier (getsockname's port: the kernel picks one at bind, connect or
// the first send, and matches replies by it), the address connected to
// (/proc/PID/net/icmp, icmp6: getpeername answers ENOTCONN), the options
// of image.PingOptionsOf, a classic filter. Refused: replies or an error
// queued and not read (the kernel's ICMP made them: nothing can queue
// them again as they were; the freeze retries a second first, as for raw
// sockets), multicast memberships. The app's network namespace's
// ping_group_range, which only root's app can change, is saved with the
// image's metadata (tree.go).

// isPingSaved: a ping socket fd, which the dump saves as image.FDPing.
func isPingSaved(e procfs.FdEntry) bool {
	return (e.Family == procfs.FamilyInet || e.Family == procfs.FamilyInet6) && strings.TrimSuffix(e.SocketProto, "v6") == "PING"
}

func pingName(in *inetsock.PingInfo) string {
	return fmt.Sprintf("ICMP ping socket (%s) at %s, identifier %d", seccomp.FamilyName(uint64(in.Family)), in.Local.Addr(), in.Local.Port())
}

// ping saves the ping socket of fd e.
func (d *dumper) ping(e procfs.FdEntry, fd *image.FD) error {
	refuse := func(reason string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "socket", Detail: e.Family.String(), Fd: e.Num,
			Reason: inetReason(reason, d.p(), e.Num)}}}
	}
	c, err := ptrace.CopyFd(d.pid, e.Num)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	in, err := inetsock.ReadPing(c, d.pid, e.Inode)
	if err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	n, perr, err := inetsock.Queued(c)
	switch {
	case err != nil:
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	case perr:
		return refuse(fmt.Sprintf("%s has an error pending that the app has not read yet, which no interface sets again: not supported yet", pingName(in)))
	case n > 0:
		return refuse(fmt.Sprintf("%s has replies queued and not read yet (%d bytes) after 1 s of retries: "+
			"the kernel's ICMP made them and nothing can queue them again as they were, not supported yet (checkpoint again once the app has read them)", pingName(in), n))
	}
	cands, err := inetsock.McastCandidates(d.pid)
	if err != nil {
		return fmt.Errorf("pid %d: the multicast groups of its network: %w", d.pid, err)
	}
	if ms, err := inetsock.Memberships(c, in.Family, cands); err != nil || len(ms) > 0 {
		return refuse(fmt.Sprintf("%s is a member of multicast groups (%s%v): not supported yet", pingName(in), inetsock.McastString(ms), err))
	}
	st := &image.Inet{Family: in.Family, Type: unix.SOCK_DGRAM, Protocol: in.Protocol, Options: inetsock.PingOptions(c, in.Family)}
	if in.Local.IsValid() {
		st.Local = in.Local.String()
	}
	if in.Peer.IsValid() {
		st.Peer = in.Peer.String()
	}
	if st.Filter, err = inetsock.ReadFilter(c); err != nil {
		return refuse(fmt.Sprintf("%s: %v: not supported yet", pingName(in), err))
	}
	if st.Filter != nil {
		d.w.RequireFeature("socket-filter")
	}
	if err := st.ValidatePing(); err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	fd.Kind, fd.Inet = image.FDPing, st
	d.w.RequireFeature("ping-sockets")
	return nil
}
