package checkpoint

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/procfs"
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
	return d.ipDgram(e, fd, ipDgramKind{
		read: func(c int) (int, int, netip.AddrPort, netip.AddrPort, error) {
			in, err := inetsock.ReadPing(c, d.pid, e.Inode)
			if err != nil {
				return 0, 0, netip.AddrPort{}, netip.AddrPort{}, err
			}
			return in.Family, in.Protocol, in.Local, in.Peer, nil
		},
		name: func(fam, _ int, local netip.AddrPort) string {
			return pingName(&inetsock.PingInfo{Family: fam, Local: local})
		},
		queued: "replies queued and not read yet (%d bytes) after 1 s of retries: " +
			"the kernel's ICMP made them and nothing can queue them again as they were, not supported yet (checkpoint again once the app has read them)",
		typ: unix.SOCK_DGRAM, options: inetsock.PingOptions, validate: (*image.Inet).ValidatePing,
		kind: image.FDPing, feature: "ping-sockets",
	})
}
