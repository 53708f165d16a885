package restore

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// Packet sockets (checkpoint/packet.go): created by an injected socket(2)
// in the blank main process (CAP_NET_RAW in the app's network namespace,
// which the restorer must have), then through crrun's copy: options, bind
// to the saved protocol and interface — only when the index names the
// same interface in the app's namespace —, the filter; read back. A
// foreign image owned by another user than root may hold none (rawForeign).

// openPacket makes one packet socket.
func (t *treeRestorer) openPacket(f *image.FD) (uint64, error) {
	r := t.root
	s := f.Packet
	if s == nil {
		return 0, errors.New("no packet socket state in the image")
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	proto := uint64(bits.ReverseBytes16(uint16(s.Protocol)))
	fd, err := r.inj(r.pid, "socket(AF_PACKET)", unix.SYS_SOCKET, unix.AF_PACKET, uint64(s.Type)|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("a packet socket needs CAP_NET_RAW in the app's network namespace, which this restorer lacks: %w", err)
		}
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	if err := inetsock.SetPacketOptions(c, s.Options); err != nil {
		return 0, fmt.Errorf("packet socket: %w", err)
	}
	if s.Ifindex != 0 {
		if name, err := inetsock.IfName(c, s.Ifindex); err != nil || name != s.Ifname {
			return 0, fmt.Errorf("packet socket bound to interface %d (%s): in the app's network namespace here index %d is %q (%v): not the same interface",
				s.Ifindex, s.Ifname, s.Ifindex, name, err)
		}
	}
	if s.Ifindex != 0 || s.Bound != s.Protocol {
		sa := &unix.SockaddrLinklayer{Protocol: bits.ReverseBytes16(uint16(s.Bound)), Ifindex: s.Ifindex}
		if err := unix.Bind(c, sa); err != nil {
			return 0, fmt.Errorf("bind packet socket to protocol %#04x on interface %d (%s): %w", s.Bound, s.Ifindex, s.Ifname, err)
		}
	}
	in, err := inetsock.ReadPacket(c)
	if err != nil {
		return 0, fmt.Errorf("packet socket: %w", err)
	}
	if in.Bound != s.Bound || in.Ifindex != s.Ifindex || in.Protocol != s.Protocol || in.Type != s.Type {
		return 0, fmt.Errorf("packet socket: made type %d protocol %#04x bound %#04x on %d, the image has type %d protocol %#04x bound %#04x on %d",
			in.Type, in.Protocol, in.Bound, in.Ifindex, s.Type, s.Protocol, s.Bound, s.Ifindex)
	}
	if err := inetsock.SetFilter(c, s.Filter); err != nil {
		return 0, fmt.Errorf("packet socket: %w", err)
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}
