package image

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FDPacket is a packet socket (socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM,
// proto)), its state in FD.Packet (required feature "packet-sockets").
const FDPacket FDKind = "packet"

// Packet is the state of a packet socket (checkpoint/packet.go). Its queue
// was empty at checkpoint, it had no ring, fanout group or membership
// (else refused).
type Packet struct {
	Type int `json:"type"` // SOCK_RAW, SOCK_DGRAM
	// Protocol is socket()'s protocol (SO_PROTOCOL), an ethertype in host
	// order; Bound is the one it receives now (getsockname's
	// sll_protocol: bind may change it), 0: none (not hooked).
	Protocol int `json:"protocol"`
	Bound    int `json:"bound"`
	// Ifindex is the interface it is bound to (0: every one), Ifname its
	// name at checkpoint: a restore binds the same index only if it
	// names the same interface in the app's network namespace.
	Ifindex int    `json:"ifindex,omitempty"`
	Ifname  string `json:"ifname,omitempty"`
	// Options are PacketOptions' values as getsockopt gave them.
	Options []SockOpt `json:"options,omitempty"`
	// Filter is its classic filter, attached again last.
	Filter *SockFilter `json:"filter,omitempty"`
}

// SOL_PACKET options (linux/if_packet.h) golang.org/x/sys/unix may lack.
const (
	packetVnetHdrSz = 24 // PACKET_VNET_HDR_SZ (6.7)
)

// PacketOptions are the options of a packet socket the checkpoint reads,
// the restore sets and the verifier compares: the socket-level rows of
// InetOptions a UDP socket has, then the SOL_PACKET ones that keep state
// (not PACKET_STATISTICS, whose reading resets the counters, nor the
// rings, fanout and memberships, which are refused).
var PacketOptions = func() []InetOption {
	var out []InetOption
	for _, o := range InetOptionsOf(unix.AF_INET, unix.IPPROTO_UDP) {
		if o.Level == unix.SOL_SOCKET {
			out = append(out, o)
		}
	}
	return append(out,
		InetOption{Name: "PACKET_VERSION", Level: unix.SOL_PACKET, Opt: unix.PACKET_VERSION},
		InetOption{Name: "PACKET_RESERVE", Level: unix.SOL_PACKET, Opt: unix.PACKET_RESERVE},
		InetOption{Name: "PACKET_AUXDATA", Level: unix.SOL_PACKET, Opt: unix.PACKET_AUXDATA},
		InetOption{Name: "PACKET_ORIGDEV", Level: unix.SOL_PACKET, Opt: unix.PACKET_ORIGDEV},
		InetOption{Name: "PACKET_VNET_HDR", Level: unix.SOL_PACKET, Opt: unix.PACKET_VNET_HDR},
		InetOption{Name: "PACKET_VNET_HDR_SZ", Level: unix.SOL_PACKET, Opt: packetVnetHdrSz},
		InetOption{Name: "PACKET_LOSS", Level: unix.SOL_PACKET, Opt: unix.PACKET_LOSS},
		InetOption{Name: "PACKET_TIMESTAMP", Level: unix.SOL_PACKET, Opt: unix.PACKET_TIMESTAMP},
		InetOption{Name: "PACKET_TX_HAS_OFF", Level: unix.SOL_PACKET, Opt: unix.PACKET_TX_HAS_OFF},
		InetOption{Name: "PACKET_QDISC_BYPASS", Level: unix.SOL_PACKET, Opt: unix.PACKET_QDISC_BYPASS},
		InetOption{Name: "PACKET_IGNORE_OUTGOING", Level: unix.SOL_PACKET, Opt: unix.PACKET_IGNORE_OUTGOING},
	)
}()

// PacketOptionByName finds an option of PacketOptions.
func PacketOptionByName(name string) (InetOption, bool) {
	for _, o := range PacketOptions {
		if o.Name == name {
			return o, true
		}
	}
	return InetOption{}, false
}

// Validate checks a packet socket's state.
func (s *Packet) Validate() error {
	if s.Type != unix.SOCK_RAW && s.Type != unix.SOCK_DGRAM {
		return fmt.Errorf("packet socket: type %d", s.Type)
	}
	if s.Protocol < 0 || s.Protocol > 0xffff || s.Bound < 0 || s.Bound > 0xffff || s.Ifindex < 0 {
		return fmt.Errorf("packet socket: protocol %#x bound %#x ifindex %d", s.Protocol, s.Bound, s.Ifindex)
	}
	if s.Ifindex != 0 && (s.Ifname == "" || len(s.Ifname) >= unix.IFNAMSIZ) {
		return fmt.Errorf("packet socket: interface %d named %q", s.Ifindex, s.Ifname)
	}
	for _, o := range s.Options {
		if _, ok := PacketOptionByName(o.Name); !ok {
			return fmt.Errorf("packet socket: unknown option %q", o.Name)
		}
	}
	if s.Filter != nil {
		return s.Filter.Validate()
	}
	return nil
}
