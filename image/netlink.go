package image

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Netlink is an AF_NETLINK socket of a protocol crrun saves (required
// feature "netlink-sockets"; NetlinkSaved). Restore creates it (socket),
// sets its options, binds it to its port id (PortID, the same number: an
// autobound one too) and joins its multicast groups again. A socket with
// messages or an error queued, connected to a peer, or in a group only a
// privileged process may join is refused at checkpoint.
type Netlink struct {
	Type     int `json:"type"`     // SOCK_RAW, SOCK_DGRAM
	Protocol int `json:"protocol"` // NETLINK_ROUTE
	// PortID is getsockname's nl_pid: 0 if the socket is not bound (the
	// kernel autobinds it at its first send).
	PortID uint32 `json:"port_id,omitempty"`
	// Groups are the multicast groups it is a member of, as
	// NETLINK_LIST_MEMBERSHIPS gives them: bit i of word w is group
	// 32*w+i+1.
	Groups []uint32 `json:"groups,omitempty"`
	// Options are the socket's option values (NetlinkOptions), as
	// getsockopt returned them.
	Options []SockOpt `json:"options,omitempty"`
	// Filter is its classic socket filter and lock.
	Filter *SockFilter `json:"filter,omitempty"`
}

// NetlinkSaved: the netlink protocols crrun saves, by number. The others
// (uevents, audit, generic netlink's families...) stay refused: their
// sockets carry state of the kernel's subsystems that a bind alone does
// not give back.
var NetlinkSaved = map[int]string{unix.NETLINK_ROUTE: "NETLINK_ROUTE"}

// NetlinkGroupPrivileged: the groups of a saved protocol that only a
// process with CAP_NET_ADMIN may join (rtnetlink_bind). A restore joins
// groups with crrun's privileges, so a checkpoint refuses them: an image
// must not give the app a membership it could not have had.
func NetlinkGroupPrivileged(protocol, group int) bool {
	return protocol == unix.NETLINK_ROUTE && (group == unix.RTNLGRP_IPV4_MROUTE_R || group == unix.RTNLGRP_IPV6_MROUTE_R)
}

// NetlinkOptions is the one table of the options of a netlink socket the
// checkpoint reads, the restore sets and the verifier compares (the
// fields of InetOption that name protocols are not used).
// NETLINK_LISTEN_ALL_NSID is read and refused when set (it needs
// CAP_NET_BROADCAST, which the restore would give from crrun's).
var NetlinkOptions = []InetOption{
	{Name: "SO_SNDBUF", Level: unix.SOL_SOCKET, Opt: unix.SO_SNDBUF, Half: true},
	{Name: "SO_RCVBUF", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVBUF, Half: true},
	{Name: "SO_BUF_LOCK", Level: unix.SOL_SOCKET, Opt: soBufLock, AfterBuffer: true},
	{Name: "SO_PASSCRED", Level: unix.SOL_SOCKET, Opt: unix.SO_PASSCRED},
	{Name: "SO_RCVTIMEO", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVTIMEO},
	{Name: "SO_SNDTIMEO", Level: unix.SOL_SOCKET, Opt: unix.SO_SNDTIMEO},
	{Name: "SO_TIMESTAMP", Level: unix.SOL_SOCKET, Opt: unix.SO_TIMESTAMP},
	{Name: "SO_TIMESTAMPNS", Level: unix.SOL_SOCKET, Opt: unix.SO_TIMESTAMPNS},
	{Name: "SO_PRIORITY", Level: unix.SOL_SOCKET, Opt: unix.SO_PRIORITY},
	{Name: "SO_RCVLOWAT", Level: unix.SOL_SOCKET, Opt: unix.SO_RCVLOWAT},
	{Name: "NETLINK_PKTINFO", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_PKTINFO},
	{Name: "NETLINK_BROADCAST_ERROR", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_BROADCAST_ERROR},
	{Name: "NETLINK_NO_ENOBUFS", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_NO_ENOBUFS},
	{Name: "NETLINK_LISTEN_ALL_NSID", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_LISTEN_ALL_NSID},
	{Name: "NETLINK_CAP_ACK", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_CAP_ACK},
	{Name: "NETLINK_EXT_ACK", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_EXT_ACK},
	{Name: "NETLINK_GET_STRICT_CHK", Level: unix.SOL_NETLINK, Opt: unix.NETLINK_GET_STRICT_CHK},
}

// NetlinkOptionByName finds an option of NetlinkOptions.
func NetlinkOptionByName(name string) (InetOption, bool) {
	for _, o := range NetlinkOptions {
		if o.Name == name {
			return o, true
		}
	}
	return InetOption{}, false
}

// Validate checks what a restore relies on: a saved protocol, no group
// only a privileged process may join, known options, none of them
// NETLINK_LISTEN_ALL_NSID set.
func (s *Netlink) Validate() error {
	if _, ok := NetlinkSaved[s.Protocol]; !ok {
		return fmt.Errorf("netlink socket: protocol %d", s.Protocol)
	}
	if s.Type != unix.SOCK_RAW && s.Type != unix.SOCK_DGRAM {
		return fmt.Errorf("netlink socket: type %d", s.Type)
	}
	if len(s.Groups) > 64 {
		return fmt.Errorf("netlink socket: %d words of groups", len(s.Groups))
	}
	for w, bits := range s.Groups {
		for i := 0; i < 32; i++ {
			if bits&(1<<i) != 0 && NetlinkGroupPrivileged(s.Protocol, 32*w+i+1) {
				return fmt.Errorf("netlink socket: group %d needs CAP_NET_ADMIN", 32*w+i+1)
			}
		}
	}
	for _, o := range s.Options {
		if _, ok := NetlinkOptionByName(o.Name); !ok {
			return fmt.Errorf("netlink socket: unknown option %q", o.Name)
		}
		if o.Name == "NETLINK_LISTEN_ALL_NSID" && len(o.Value) == 4 && (o.Value[0]|o.Value[1]|o.Value[2]|o.Value[3]) != 0 {
			return fmt.Errorf("netlink socket: NETLINK_LISTEN_ALL_NSID set")
		}
	}
	return nil
}

// NetlinkProtoName names a netlink protocol for a reason.
func NetlinkProtoName(p int) string {
	names := map[int]string{
		unix.NETLINK_ROUTE: "NETLINK_ROUTE", unix.NETLINK_USERSOCK: "NETLINK_USERSOCK", unix.NETLINK_FIREWALL: "NETLINK_FIREWALL",
		unix.NETLINK_SOCK_DIAG: "NETLINK_SOCK_DIAG", unix.NETLINK_NFLOG: "NETLINK_NFLOG", unix.NETLINK_XFRM: "NETLINK_XFRM",
		unix.NETLINK_SELINUX: "NETLINK_SELINUX", unix.NETLINK_ISCSI: "NETLINK_ISCSI", unix.NETLINK_AUDIT: "NETLINK_AUDIT",
		unix.NETLINK_FIB_LOOKUP: "NETLINK_FIB_LOOKUP", unix.NETLINK_CONNECTOR: "NETLINK_CONNECTOR", unix.NETLINK_NETFILTER: "NETLINK_NETFILTER",
		unix.NETLINK_IP6_FW: "NETLINK_IP6_FW", unix.NETLINK_DNRTMSG: "NETLINK_DNRTMSG", unix.NETLINK_KOBJECT_UEVENT: "NETLINK_KOBJECT_UEVENT",
		unix.NETLINK_GENERIC: "NETLINK_GENERIC", unix.NETLINK_SCSITRANSPORT: "NETLINK_SCSITRANSPORT", unix.NETLINK_ECRYPTFS: "NETLINK_ECRYPTFS",
		unix.NETLINK_RDMA: "NETLINK_RDMA", unix.NETLINK_CRYPTO: "NETLINK_CRYPTO", unix.NETLINK_SMC: "NETLINK_SMC",
	}
	if n, ok := names[p]; ok {
		return n
	}
	return fmt.Sprintf("netlink protocol %d", p)
}

// NetlinkGroupList names the groups of a NETLINK_LIST_MEMBERSHIPS bitmap: "1,28".
func NetlinkGroupList(words []uint32) string {
	var g []string
	for _, n := range NetlinkGroupNumbers(words) {
		g = append(g, fmt.Sprint(n))
	}
	return strings.Join(g, ",")
}

// NetlinkGroupNumbers lists the groups of a NETLINK_LIST_MEMBERSHIPS bitmap.
func NetlinkGroupNumbers(words []uint32) []int {
	var out []int
	for w, bits := range words {
		for i := 0; i < 32; i++ {
			if bits&(1<<i) != 0 {
				out = append(out, 32*w+i+1)
			}
		}
	}
	return out
}

// The features of issue 10's other sockets (docs/image-format.md), kept
// here rather than on KnownFeatures' line, which every change touches.
func init() {
	KnownFeatures = append(KnownFeatures, "netlink-sockets", "inet-multicast", "socket-filter", "raw-sockets")
}
