package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// netlinkRefusals applies netlinkRefusal and netlinkQueueRefusal to every
// netlink fd of the app (the gate: `crrun status` says the same).
func netlinkRefusals(fds []inetFd) []seccomp.Finding {
	var out []seccomp.Finding
	for _, f := range fds {
		in, err := readNetlink(f.host, f.fd)
		if err != nil {
			continue // gone; the dump says why otherwise
		}
		r := netlinkRefusal(in)
		if r == "" {
			// The checkpoint's gate runs after the freeze's retries
			// (netlinkBusy): a queue still full there is the dump's
			// refusal, which status then gives too.
			r = netlinkQueueRefusal(in)
		}
		if r != "" {
			out = append(out, seccomp.Finding{Pid: f.host, Kind: "socket", Detail: procfs.FamilyNetlink.String(), Fd: f.fd,
				Reason: inetReason(r, nsPid(f.host), f.fd)})
		}
	}
	return out
}

// netlinkBusy reports whether a netlink socket of the frozen app has
// messages queued, or a raw, ping or packet socket packets (raw.go,
// ping.go, packet.go): the freeze tries
// again a moment later. It reads the queues of every netlink and raw
// socket of the app's network namespaces from /proc/PID/net (Rmem,
// rx_queue: sk_rmem_alloc), and only when one is not empty, which is rare,
// the app's fds to see whether the socket is the app's: a checkpoint's
// pause does not grow with the app's fds.
func (ft *frozenTree) netlinkBusy() bool {
	live := ft.live()
	queued := map[uint64]bool{}
	seen := map[string]bool{}
	for _, pid := range live {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		queuedSockets(pid, queued)
	}
	if len(queued) == 0 {
		return false
	}
	for _, pid := range live {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, e := range ents {
			t, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			if err != nil || !strings.HasPrefix(t, "socket:[") {
				continue
			}
			if ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(t, "socket:["), "]"), 10, 64); err == nil && queued[ino] {
				return true
			}
		}
	}
	return false
}

// queuedSockets adds the inodes of the netlink, raw, ping and packet
// sockets of pid's
// network namespace whose receive queue is not empty.
func queuedSockets(pid int, out map[uint64]bool) {
	for _, f := range []struct {
		name       string
		queue, ino int
	}{{"netlink", 4, 9}, {"raw", 4, 9}, {"raw6", 4, 9}, {"icmp", 4, 9}, {"icmp6", 4, 9}, {"packet", 6, 8}} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f.name))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[1:] {
			fs := strings.Fields(line)
			if len(fs) <= f.ino {
				continue
			}
			q, base := fs[f.queue], 10                // netlink: Rmem, decimal
			if _, rx, ok := strings.Cut(q, ":"); ok { // raw: tx_queue:rx_queue, hex
				q, base = rx, 16
			}
			n, err := strconv.ParseUint(q, base, 64)
			if err != nil || n == 0 {
				continue
			}
			if ino, err := strconv.ParseUint(fs[f.ino], 10, 64); err == nil {
				out[ino] = true
			}
		}
	}
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
