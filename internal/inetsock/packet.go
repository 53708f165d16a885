package inetsock

import (
	"fmt"
	"math/bits"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// PacketInfo is what crrun reads of a packet socket.
type PacketInfo struct {
	Type int
	// Protocol is socket()'s (SO_PROTOCOL), Bound getsockname's
	// sll_protocol (what bind last chose), both ethertypes in host order.
	Protocol, Bound int
	// Ifindex is getsockname's sll_ifindex (0: every interface), Ifname
	// its name in the socket's network namespace (SIOCGIFNAME on it).
	Ifindex int
	Ifname  string
	// Fanout is getsockopt(PACKET_FANOUT): 0 when in no fanout group.
	Fanout int
}

// ReadPacket reads packet socket fd.
func ReadPacket(fd int) (*PacketInfo, error) {
	var in PacketInfo
	var err error
	if in.Type, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, fmt.Errorf("SO_TYPE: %w", err)
	}
	if in.Type != unix.SOCK_RAW && in.Type != unix.SOCK_DGRAM {
		return &in, nil // SOCK_PACKET: no SOL_PACKET options
	}
	p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	in.Protocol = int(bits.ReverseBytes16(uint16(p))) // network order as socket() took it
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	ll, ok := sa.(*unix.SockaddrLinklayer)
	if !ok {
		return nil, fmt.Errorf("getsockname: not a link-layer address: %T", sa)
	}
	in.Bound = int(bits.ReverseBytes16(ll.Protocol)) // the struct's __be16 read as a host number
	in.Ifindex = ll.Ifindex
	if in.Ifindex != 0 {
		if in.Ifname, err = IfName(fd, in.Ifindex); err != nil {
			in.Ifname = ""
		}
	}
	if in.Fanout, err = unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT); err != nil {
		return nil, fmt.Errorf("PACKET_FANOUT: %w", err)
	}
	return &in, nil
}

// IfName names interface index in the network namespace of socket fd.
func IfName(fd, index int) (string, error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return "", err
	}
	ifr.SetUint32(uint32(index))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return "", fmt.Errorf("SIOCGIFNAME %d: %w", index, err)
	}
	return ifr.Name(), nil
}

// PacketOptions reads every option of image.PacketOptions (one the kernel
// does not know is left out).
func PacketOptions(fd int) []image.SockOpt {
	var out []image.SockOpt
	for _, o := range image.PacketOptions {
		if v, err := getRaw(fd, o.Level, o.Opt); err == nil {
			out = append(out, image.SockOpt{Name: o.Name, Value: v})
		}
	}
	return out
}

// SetPacketOptions gives a new packet socket the saved option values,
// buffer sizes before SO_BUF_LOCK.
func SetPacketOptions(fd int, opts []image.SockOpt) error {
	return setTable(fd, opts, image.PacketOptionByName)
}
