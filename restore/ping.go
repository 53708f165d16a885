package restore

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// ICMP ping sockets (checkpoint/ping.go): created by an injected socket(2)
// in the blank main process (the app's network namespace, whose
// net.ipv4.ping_group_range must let the restorer's group make one: the
// init set the app's own namespace's range again, the host's is the
// host's), then through crrun's copy: options, bind to the saved address
// and identifier, connect to the saved peer, the filter; read back.

// openPing makes one ping socket.
func (t *treeRestorer) openPing(f *image.FD) (uint64, error) {
	r := t.root
	s := f.Inet
	if s == nil {
		return 0, errors.New("no ping socket state in the image")
	}
	if err := s.ValidatePing(); err != nil {
		return 0, err
	}
	fd, err := r.inj(r.pid, "socket(ICMP ping)", unix.SYS_SOCKET, uint64(s.Family), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, uint64(s.Protocol))
	if err != nil {
		if errors.Is(err, unix.EACCES) {
			return 0, fmt.Errorf("an ICMP ping socket: net.ipv4.ping_group_range of the app's network namespace does not include the restorer's group here: %w", err)
		}
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	if err := inetsock.SetPingOptions(c, s.Family, s.Options); err != nil {
		return 0, fmt.Errorf("ping socket: %w", err)
	}
	if s.Local != "" {
		ap := netip.MustParseAddrPort(s.Local) // ValidatePing parsed it
		if ap.Port() != 0 || !ap.Addr().IsUnspecified() {
			sa, err := inetsock.Sockaddr(s.Family, ap)
			if err != nil {
				return 0, err
			}
			if err := unix.Bind(c, sa); err != nil {
				return 0, fmt.Errorf("bind ping socket to %s (identifier %d): %w", ap.Addr(), ap.Port(), err)
			}
		}
	}
	if s.Peer != "" {
		ap := netip.MustParseAddrPort(s.Peer)
		sa, err := inetsock.Sockaddr(s.Family, netip.AddrPortFrom(ap.Addr(), 0))
		if err != nil {
			return 0, err
		}
		if err := unix.Connect(c, sa); err != nil {
			return 0, fmt.Errorf("connect ping socket to %s: %w", ap.Addr(), err)
		}
	}
	if err := inetsock.SetFilter(c, s.Filter); err != nil {
		return 0, fmt.Errorf("ping socket: %w", err)
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}
