package seccomp

import (
	"fmt"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Socket options. Every setsockopt traps (its row in Table): an option the
// checkpoint saves (a row of image.UnixSockOpts, InetOptions,
// NetlinkOptions or RawOptions), one it reads back by other means (multicast
// memberships, netlink groups, a classic filter) or one that leaves no state
// behind goes on untainted; any other taints for the life of the process,
// naming the option: a restore would silently lose it (an option set on a
// socket nothing reads back is state like any other). The family of the
// socket is not looked at: an option saved for one family and set on
// another either has no effect there or fails.

type sockoptKey struct{ level, opt int }

// sockoptSaved are the options whose value a checkpoint keeps.
var sockoptSaved = func() map[sockoptKey]bool {
	m := map[sockoptKey]bool{}
	for _, o := range image.UnixSockOpts {
		m[sockoptKey{unix.SOL_SOCKET, o.Opt}] = true
	}
	for _, t := range [][]image.InetOption{image.InetOptions, image.NetlinkOptions, image.RawOptions, image.PacketOptions} {
		for _, o := range t {
			m[sockoptKey{o.Level, o.Opt}] = true
		}
	}
	// Read back by other means: multicast memberships and source filters
	// (checkpoint/mcast.go), netlink groups, a classic socket filter and
	// its lock (checkpoint/sockfilter.go); SO_DETACH_FILTER, leaves and
	// drops only undo state. TCP_QUICKACK is a moment's mode, not state.
	for _, level := range []int{unix.IPPROTO_IP, unix.IPPROTO_IPV6} {
		for _, opt := range []int{unix.MCAST_JOIN_GROUP, unix.MCAST_LEAVE_GROUP, unix.MCAST_BLOCK_SOURCE,
			unix.MCAST_UNBLOCK_SOURCE, unix.MCAST_JOIN_SOURCE_GROUP, unix.MCAST_LEAVE_SOURCE_GROUP, unix.MCAST_MSFILTER} {
			m[sockoptKey{level, opt}] = true
		}
	}
	for _, opt := range []int{unix.IP_ADD_MEMBERSHIP, unix.IP_DROP_MEMBERSHIP, unix.IP_ADD_SOURCE_MEMBERSHIP,
		unix.IP_DROP_SOURCE_MEMBERSHIP, unix.IP_BLOCK_SOURCE, unix.IP_UNBLOCK_SOURCE, unix.IP_MSFILTER} {
		m[sockoptKey{unix.IPPROTO_IP, opt}] = true
	}
	for _, opt := range []int{unix.IPV6_ADD_MEMBERSHIP, unix.IPV6_DROP_MEMBERSHIP, unix.IPV6_LEAVE_ANYCAST} {
		m[sockoptKey{unix.IPPROTO_IPV6, opt}] = true
	}
	m[sockoptKey{unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP}] = true
	m[sockoptKey{unix.SOL_NETLINK, unix.NETLINK_DROP_MEMBERSHIP}] = true
	for _, opt := range []int{unix.SO_ATTACH_FILTER, unix.SO_DETACH_FILTER, unix.SO_LOCK_FILTER} {
		m[sockoptKey{unix.SOL_SOCKET, opt}] = true
	}
	m[sockoptKey{unix.IPPROTO_TCP, unix.TCP_QUICKACK}] = true
	return m
}()

// sockoptReason judges a setsockopt the special rules (multicastReason)
// let go: an option no checkpoint keeps taints.
func sockoptReason(a [6]uint64) (string, bool) {
	level, opt := int(int32(a[1])), int(int32(a[2]))
	if sockoptSaved[sockoptKey{level, opt}] {
		return "", false
	}
	if level == unix.SOL_PACKET {
		if n, ok := packetOptNames[opt]; ok {
			return fmt.Sprintf("CR: setsockopt(SOL_PACKET, %s) %s: not supported yet", n[0], n[1]), true
		}
	}
	return fmt.Sprintf("CR: setsockopt(%s, %d) sets a socket option no checkpoint saves: not supported yet", levelName(level), opt), true
}

// packetOptNames name the packet socket options that taint, and why
// (checkpoint/packet.go).
var packetOptNames = map[int][2]string{
	unix.PACKET_ADD_MEMBERSHIP:  {"PACKET_ADD_MEMBERSHIP", "joins a multicast or promiscuous membership, which no getsockopt reads back"},
	unix.PACKET_DROP_MEMBERSHIP: {"PACKET_DROP_MEMBERSHIP", "changes memberships, which no getsockopt reads back"},
	unix.PACKET_RX_RING:         {"PACKET_RX_RING", "sets up a receive ring, whose frames are shared with the app's memory"},
	unix.PACKET_TX_RING:         {"PACKET_TX_RING", "sets up a transmit ring, whose frames are shared with the app's memory"},
	unix.PACKET_FANOUT:          {"PACKET_FANOUT", "joins a fanout group, shared with other sockets"},
	unix.PACKET_FANOUT_DATA:     {"PACKET_FANOUT_DATA", "gives a fanout group a program"},
	unix.PACKET_COPY_THRESH:     {"PACKET_COPY_THRESH", "sets a ring's copy threshold"},
}

func levelName(level int) string {
	switch level {
	case unix.SOL_SOCKET:
		return "SOL_SOCKET"
	case unix.IPPROTO_IP:
		return "IPPROTO_IP"
	case unix.IPPROTO_IPV6:
		return "IPPROTO_IPV6"
	case unix.IPPROTO_TCP:
		return "IPPROTO_TCP"
	case unix.IPPROTO_UDP:
		return "IPPROTO_UDP"
	case unix.SOL_NETLINK:
		return "SOL_NETLINK"
	case unix.SOL_RAW:
		return "SOL_RAW"
	case unix.IPPROTO_ICMPV6:
		return "IPPROTO_ICMPV6"
	case unix.SOL_PACKET:
		return "SOL_PACKET"
	}
	return fmt.Sprintf("level %d", level)
}
