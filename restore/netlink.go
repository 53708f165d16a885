package restore

import (
	"errors"
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// Netlink sockets (checkpoint/netlink.go). Each is created by an injected
// socket(2) in the blank main process (so it belongs to the app's network
// namespace), then set up by crrun through a copy: its options, bind to its
// saved port id (the same number, autobound or not: a number another
// socket holds in this namespace fails the restore, naming it), its
// multicast groups joined again (NETLINK_ADD_MEMBERSHIP), each read back.
// Its queue was empty at checkpoint (the checkpoint refuses any other).

// openNetlink makes one netlink socket.
func (t *treeRestorer) openNetlink(f *image.FD) (uint64, error) {
	r := t.root
	s := f.Netlink
	if s == nil {
		return 0, errors.New("no netlink socket state in the image")
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	name := image.NetlinkProtoName(s.Protocol)
	fd, err := r.inj(r.pid, "socket(AF_NETLINK, "+name+")", unix.SYS_SOCKET, unix.AF_NETLINK, uint64(s.Type)|unix.SOCK_CLOEXEC, uint64(s.Protocol))
	if err != nil {
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	if err := inetsock.SetNetlinkOptions(c, s.Options); err != nil {
		return 0, fmt.Errorf("%s socket: %w", name, err)
	}
	if s.PortID != 0 {
		if err := unix.Bind(c, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: s.PortID}); err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				return 0, fmt.Errorf("%s port id %d is taken in this network namespace (another socket holds it now: "+
					"with the host's network, a process outside the app; --net=private avoids that): free it, then restore again", name, int32(s.PortID))
			}
			return 0, fmt.Errorf("bind %s socket to port id %d: %w", name, int32(s.PortID), err)
		}
	}
	if err := inetsock.JoinGroups(c, s.Groups); err != nil {
		return 0, fmt.Errorf("%s socket (port id %d): %w", name, int32(s.PortID), err)
	}
	if err := inetsock.SetFilter(c, s.Filter); err != nil {
		return 0, fmt.Errorf("%s socket (port id %d): %w", name, int32(s.PortID), err)
	}
	in, err := inetsock.ReadNetlink(c)
	if err != nil {
		return 0, err
	}
	if in.PortID != s.PortID {
		return 0, fmt.Errorf("%s socket: port id %d, want %d", name, int32(in.PortID), int32(s.PortID))
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}
