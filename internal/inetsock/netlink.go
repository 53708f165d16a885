package inetsock

import (
	"fmt"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// NetlinkInfo is what getsockopt and getsockname tell about an AF_NETLINK
// socket.
type NetlinkInfo struct {
	Type, Protocol int
	PortID         uint32   // getsockname's nl_pid (0: not bound)
	Groups         []uint32 // NETLINK_LIST_MEMBERSHIPS
	// PeerPortID and PeerGroups are getpeername's (connect): 0 when
	// the socket sends to the kernel.
	PeerPortID, PeerGroups uint32
	// Queued is the memory its receive queue holds (SO_MEMINFO's
	// SK_MEMINFO_RMEM_ALLOC): messages not read yet, or a dump under way.
	Queued uint32
	// Error: an error is pending (poll's POLLERR: the kernel dropped
	// messages, ENOBUFS), which the app's next read would return.
	Error bool
}

// ReadNetlink reads an AF_NETLINK socket's kind, addresses, groups and
// queue. Nothing it does changes the socket (SO_ERROR, which would clear
// the pending error, is not read).
func ReadNetlink(fd int) (*NetlinkInfo, error) {
	var in NetlinkInfo
	var err error
	if in.Type, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, fmt.Errorf("SO_TYPE: %w", err)
	}
	if in.Protocol, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return nil, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	if nl, ok := sa.(*unix.SockaddrNetlink); ok {
		in.PortID = nl.Pid
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		if nl, ok := sa.(*unix.SockaddrNetlink); ok {
			in.PeerPortID, in.PeerGroups = nl.Pid, nl.Groups
		}
	}
	b := make([]byte, 256) // 2048 groups
	n, err := getsockopt(fd, unix.SOL_NETLINK, unix.NETLINK_LIST_MEMBERSHIPS, b)
	if err != nil {
		return nil, fmt.Errorf("NETLINK_LIST_MEMBERSHIPS: %w", err)
	}
	if n > len(b) {
		return nil, fmt.Errorf("NETLINK_LIST_MEMBERSHIPS: %d bytes of groups", n)
	}
	last := 0
	for i := 0; i+4 <= n; i += 4 {
		w := le32(b[i:])
		in.Groups = append(in.Groups, w)
		if w != 0 {
			last = len(in.Groups)
		}
	}
	in.Groups = in.Groups[:last]
	if len(in.Groups) == 0 {
		in.Groups = nil
	}
	mi := make([]byte, 4*unix.SK_MEMINFO_VARS)
	if _, err := getsockopt(fd, unix.SOL_SOCKET, unix.SO_MEMINFO, mi); err != nil {
		return nil, fmt.Errorf("SO_MEMINFO: %w", err)
	}
	in.Queued = le32(mi[4*unix.SK_MEMINFO_RMEM_ALLOC:])
	pfd := []unix.PollFd{{Fd: int32(fd)}}
	if _, err := unix.Poll(pfd, 0); err == nil && pfd[0].Revents&unix.POLLERR != 0 {
		in.Error = true
	}
	return &in, nil
}

// GroupList names the groups of a NETLINK_LIST_MEMBERSHIPS bitmap: "1,28".
func GroupList(words []uint32) string { return image.NetlinkGroupList(words) }

// GroupNumbers lists the groups of a NETLINK_LIST_MEMBERSHIPS bitmap.
func GroupNumbers(words []uint32) []int { return image.NetlinkGroupNumbers(words) }

// NetlinkProtoName names a netlink protocol for a reason.
func NetlinkProtoName(p int) string { return image.NetlinkProtoName(p) }

// NetlinkOptions reads every option of image.NetlinkOptions (one this
// kernel does not know is left out).
func NetlinkOptions(fd int) []image.SockOpt {
	var out []image.SockOpt
	for _, o := range image.NetlinkOptions {
		if v, err := getRaw(fd, o.Level, o.Opt); err == nil {
			out = append(out, image.SockOpt{Name: o.Name, Value: v})
		}
	}
	return out
}

// SetNetlinkOptions gives a new netlink socket the saved option values it
// does not have already, buffer sizes before SO_BUF_LOCK, each read back.
func SetNetlinkOptions(fd int, opts []image.SockOpt) error {
	return setTable(fd, opts, image.NetlinkOptionByName)
}

// JoinGroups makes a netlink socket a member of every group of words
// (NETLINK_ADD_MEMBERSHIP), then reads the memberships back.
func JoinGroups(fd int, words []uint32) error {
	for _, g := range GroupNumbers(words) {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			return fmt.Errorf("join group %d: %w", g, err)
		}
	}
	in, err := ReadNetlink(fd)
	if err != nil {
		return err
	}
	if got, want := GroupList(in.Groups), GroupList(words); got != want {
		return fmt.Errorf("groups %q after joining, want %q", got, want)
	}
	return nil
}
