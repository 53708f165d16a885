package checkpoint

import (
	"fmt"
	"os"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Packet sockets (socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM, ethertype)):
// CAP_NET_RAW in the user namespace owning the network namespace, so root's
// apps (an ordinary user's app under crrun has no capability in crrun's
// user namespace, even with --net=private). Saved: type, socket()'s
// protocol, the protocol and interface bound (getsockname: sll_protocol,
// sll_ifindex, with the interface's name: a restore binds the same index
// only if it names the same interface), the options of
// image.PacketOptions (PACKET_VERSION, RESERVE, AUXDATA, ORIGDEV,
// VNET_HDR, TIMESTAMP, QDISC_BYPASS, IGNORE_OUTGOING... and the socket
// level ones), a classic filter. Refused: a fanout group
// (getsockopt(PACKET_FANOUT)), and frames or an error queued after the
// freeze's second of retries (they came from an interface: sending them
// again would reach every other socket on it too). Rings and memberships,
// which no getsockopt reads back, are refused when set (the trap:
// seccomp/sockopt.go). Not kept: PACKET_STATISTICS's counters (reading
// them resets them; a restored socket counts from zero).

func packetName(in *inetsock.PacketInfo) string {
	typ := "SOCK_RAW"
	if in.Type == unix.SOCK_DGRAM {
		typ = "SOCK_DGRAM"
	}
	where := "every interface"
	if in.Ifindex != 0 {
		where = fmt.Sprintf("interface %d (%s)", in.Ifindex, in.Ifname)
	}
	return fmt.Sprintf("packet socket (%s, protocol %#04x) on %s", typ, in.Bound, where)
}

// ownNetNS: pid is in a network namespace other than crrun's (the app's
// own, --net=private).
func ownNetNS(pid int) bool {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err1 == nil && err2 == nil && mine != its
}

// packetRefusal is what refuses a packet socket whatever the moment: the
// obsolete type, a fanout group.
func packetRefusal(in *inetsock.PacketInfo) string {
	if in.Type != unix.SOCK_RAW && in.Type != unix.SOCK_DGRAM {
		return fmt.Sprintf("socket(AF_PACKET, %s) not supported yet (the obsolete interface: use SOCK_RAW or SOCK_DGRAM)", seccomp.InetKindName(uint64(in.Type), 0))
	}
	if in.Fanout != 0 {
		return fmt.Sprintf("%s is in fanout group %d (type %d), shared with other sockets: not supported yet",
			packetName(in), in.Fanout&0xffff, in.Fanout>>16&0xff)
	}
	return ""
}

// packetGateRefusal is packetRefusal for fd of host pid, read through a
// copy (the gate: `crrun status` says what the dump would).
func packetGateRefusal(host, fd int) string {
	c, err := ptrace.CopyFd(host, fd)
	if err != nil {
		return "" // gone; the dump says why otherwise
	}
	defer unix.Close(c)
	in, err := inetsock.ReadPacket(c)
	if err != nil {
		return ""
	}
	if r := packetRefusal(in); r != "" {
		return inetReason(r, nsPid(host), fd)
	}
	return ""
}

// packet saves the packet socket of fd e.
func (d *dumper) packet(e procfs.FdEntry, fd *image.FD) error {
	refuse := func(reason string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "socket", Detail: e.Family.String(), Fd: e.Num,
			Reason: inetReason(reason, d.p(), e.Num)}}}
	}
	c, err := ptrace.CopyFd(d.pid, e.Num)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	in, err := inetsock.ReadPacket(c)
	if err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	if r := packetRefusal(in); r != "" {
		return refuse(r)
	}
	if in.Ifindex != 0 && in.Ifname == "" {
		return refuse(fmt.Sprintf("%s: its interface is gone (no name for index %d in the app's network namespace): not supported yet", packetName(in), in.Ifindex))
	}
	if in.Ifindex != 0 && in.Ifname != "lo" && ownNetNS(d.pid) {
		return refuse(fmt.Sprintf("%s: the interface is one of the app's own network namespace (--net=private), which a restore does not make again (it makes lo only): not supported yet", packetName(in)))
	}
	n, perr, err := inetsock.Queued(c)
	switch {
	case err != nil:
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	case perr:
		return refuse(fmt.Sprintf("%s has an error pending that the app has not read yet, which no interface sets again: not supported yet", packetName(in)))
	case n > 0:
		return refuse(fmt.Sprintf("%s has frames queued and not read yet (%d bytes) after 1 s of retries: "+
			"they came from an interface and cannot be queued again as they were, not supported yet (checkpoint again once the app has read them)", packetName(in), n))
	}
	st := &image.Packet{Type: in.Type, Protocol: in.Protocol, Bound: in.Bound, Ifindex: in.Ifindex, Ifname: in.Ifname, Options: inetsock.PacketOptions(c)}
	if st.Filter, err = inetsock.ReadFilter(c); err != nil {
		return refuse(fmt.Sprintf("%s: %v: not supported yet", packetName(in), err))
	}
	if st.Filter != nil {
		d.w.RequireFeature("socket-filter")
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	fd.Kind, fd.Packet = image.FDPacket, st
	d.w.RequireFeature("packet-sockets")
	return nil
}
