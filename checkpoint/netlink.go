package checkpoint

import (
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Netlink sockets (AF_NETLINK). Saved: a NETLINK_ROUTE socket (the one
// glibc's getaddrinfo and if_nameindex, Go's net package, iproute2's
// library open), raw or datagram, bound or not, with its port id (the
// restore binds that very number, an autobound one too: a number taken
// on the restoring host fails the restore naming it), its multicast
// groups (NETLINK_LIST_MEMBERSHIPS) and options (image.NetlinkOptions).
// Refused: the other protocols, a socket connected to a peer (connect to
// a port id or group), a group only a privileged process may join, and
// messages or an error queued and not read: the kernel's replies and
// events come from port id 0, which nothing else can send from, so they
// cannot be queued again. The freeze retries for a second while a
// netlink queue of the app holds messages (the app is reading them).

// netlinkName is a socket as a reason names it: "NETLINK_ROUTE socket
// (port id 42)".
func netlinkName(in *inetsock.NetlinkInfo) string {
	if in.PortID == 0 {
		return inetsock.NetlinkProtoName(in.Protocol) + " socket (not bound)"
	}
	return fmt.Sprintf("%s socket (port id %d)", inetsock.NetlinkProtoName(in.Protocol), int32(in.PortID))
}

// netlinkRefusal is why the checkpoint refuses netlink socket in ("" if
// it saves it), its queue aside (netlinkQueueRefusal).
func netlinkRefusal(in *inetsock.NetlinkInfo) string {
	if _, ok := image.NetlinkSaved[in.Protocol]; !ok {
		return fmt.Sprintf("socket(AF_NETLINK, %s) not supported yet", inetsock.NetlinkProtoName(in.Protocol))
	}
	if in.PeerPortID != 0 || in.PeerGroups != 0 {
		return fmt.Sprintf("%s connected to port id %d, groups %#x (connect): not supported yet", netlinkName(in), int32(in.PeerPortID), in.PeerGroups)
	}
	for _, g := range inetsock.GroupNumbers(in.Groups) {
		if image.NetlinkGroupPrivileged(in.Protocol, g) {
			return fmt.Sprintf("%s is in multicast group %d, which only a process with CAP_NET_ADMIN may join "+
				"(a restore would join it with crrun's privileges): not supported yet", netlinkName(in), g)
		}
	}
	return ""
}

// netlinkQueueRefusal is why the dump refuses a socket's queue ("" if it
// is empty).
func netlinkQueueRefusal(in *inetsock.NetlinkInfo) string {
	if in.Error {
		return fmt.Sprintf("%s has an error pending that the app has not read yet (the kernel dropped messages: ENOBUFS), "+
			"which no interface sets again: not supported yet", netlinkName(in))
	}
	if in.Queued > 0 {
		return fmt.Sprintf("%s has messages queued and not read yet (%d bytes of the kernel's replies or events, or a dump under way) "+
			"after 1 s of retries: the kernel's messages cannot be queued again, not supported yet (checkpoint again once the app has read them)",
			netlinkName(in), in.Queued)
	}
	return ""
}

// readNetlink reads one socket through a copy of the fd.
func readNetlink(host, fd int) (*inetsock.NetlinkInfo, error) {
	c, err := ptrace.CopyFd(host, fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(c)
	return inetsock.ReadNetlink(c)
}

// netlinkRefusals applies netlinkRefusal to every netlink fd of the app
// (the gate: `crrun status` says the same).
func netlinkRefusals(fds []inetFd) []seccomp.Finding {
	var out []seccomp.Finding
	for _, f := range fds {
		in, err := readNetlink(f.host, f.fd)
		if err != nil {
			continue // gone; the dump says why otherwise
		}
		if r := netlinkRefusal(in); r != "" {
			out = append(out, seccomp.Finding{Pid: f.host, Kind: "socket", Detail: procfs.FamilyNetlink.String(), Fd: f.fd,
				Reason: inetReason(r, nsPid(f.host), f.fd)})
		}
	}
	return out
}

// netlinkBusy reports whether a netlink socket of the frozen app has
// messages or an error queued, or a raw socket packets (raw.go): the
// freeze tries again a moment later.
func (ft *frozenTree) netlinkBusy() bool {
	for _, pid := range ft.live() {
		fds, err := procfs.Fds(pid)
		if err != nil {
			continue
		}
		for _, e := range fds {
			if e.Kind == procfs.KindSocket && isRawSaved(e) && rawBusy(pid, e.Num) {
				return true
			}
			if e.Kind != procfs.KindSocket || e.Family != procfs.FamilyNetlink {
				continue
			}
			if in, err := readNetlink(pid, e.Num); err == nil && netlinkQueueRefusal(in) != "" {
				return true
			}
		}
	}
	return false
}

// netlink saves the netlink socket of fd e.
func (d *dumper) netlink(e procfs.FdEntry, fd *image.FD) error {
	refuse := func(reason string) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "socket", Detail: procfs.FamilyNetlink.String(), Fd: e.Num,
			Reason: inetReason(reason, d.p(), e.Num)}}}
	}
	c, err := ptrace.CopyFd(d.pid, e.Num)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	in, err := inetsock.ReadNetlink(c)
	if err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	if r := netlinkRefusal(in); r != "" {
		return refuse(r)
	}
	if r := netlinkQueueRefusal(in); r != "" {
		return refuse(r)
	}
	st := &image.Netlink{Type: in.Type, Protocol: in.Protocol, PortID: in.PortID, Groups: in.Groups, Options: inetsock.NetlinkOptions(c)}
	if st.Filter, err = inetsock.ReadFilter(c); err != nil {
		return refuse(fmt.Sprintf("%s: %v: not supported yet", netlinkName(in), err))
	}
	if st.Filter != nil {
		d.w.RequireFeature("socket-filter")
	}
	for _, o := range st.Options {
		if o.Name == "NETLINK_LISTEN_ALL_NSID" && len(o.Value) == 4 && (o.Value[0]|o.Value[1]|o.Value[2]|o.Value[3]) != 0 {
			return refuse(fmt.Sprintf("%s listens to every network namespace's messages (NETLINK_LISTEN_ALL_NSID), "+
				"which needs CAP_NET_BROADCAST (a restore would set it with crrun's privileges): not supported yet", netlinkName(in)))
		}
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("pid %d fd %d: %w", d.pid, e.Num, err)
	}
	fd.Kind, fd.Netlink = image.FDNetlink, st
	d.w.RequireFeature("netlink-sockets")
	return nil
}
