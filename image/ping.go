package image

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FDPing is an ICMP "ping" socket (socket(AF_INET, SOCK_DGRAM,
// IPPROTO_ICMP) or AF_INET6 and IPPROTO_ICMPV6), its state in FD.Inet
// (required feature "ping-sockets"): family, protocol, the address it is
// bound to (Local; its port is the ICMP echo identifier, which the restore
// binds again), the address it is connected to (Peer), Options
// (PingOptionsOf), Filter. Its queue was empty at checkpoint (else refused).
const FDPing FDKind = "ping"

// PingOptionsOf lists the options read on a ping socket of family: the
// socket- and IP-level rows of InetOptions a UDP socket has (a ping
// socket's setsockopt is the IP layer's).
func PingOptionsOf(family int) []InetOption {
	var out []InetOption
	for _, o := range InetOptionsOf(family, unix.IPPROTO_UDP) {
		if o.Level == unix.SOL_SOCKET || o.Level == unix.IPPROTO_IP || o.Level == unix.IPPROTO_IPV6 {
			out = append(out, o)
		}
	}
	return out
}

// PingOptionByName finds an option of PingOptionsOf(family).
func PingOptionByName(family int, name string) (InetOption, bool) {
	for _, o := range PingOptionsOf(family) {
		if o.Name == name {
			return o, true
		}
	}
	return InetOption{}, false
}

// ValidatePing checks a ping socket's state.
func (s *Inet) ValidatePing() error {
	switch {
	case s.Family == unix.AF_INET && s.Protocol == unix.IPPROTO_ICMP, s.Family == unix.AF_INET6 && s.Protocol == unix.IPPROTO_ICMPV6:
	default:
		return fmt.Errorf("ping socket: family %d protocol %d", s.Family, s.Protocol)
	}
	if s.Type != unix.SOCK_DGRAM {
		return fmt.Errorf("ping socket: type %d", s.Type)
	}
	for _, a := range []string{s.Local, s.Peer} {
		if a == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(a); err != nil {
			return fmt.Errorf("ping socket: address %q: %w", a, err)
		}
	}
	for _, o := range s.Options {
		if _, ok := PingOptionByName(s.Family, o.Name); !ok {
			return fmt.Errorf("ping socket: unknown option %q", o.Name)
		}
	}
	if s.Listen || s.Conn != nil || len(s.Datagrams) > 0 || s.Data != "" || len(s.Memberships) > 0 {
		return fmt.Errorf("ping socket: a listener, connection, queue or multicast membership")
	}
	if s.Filter != nil {
		return s.Filter.Validate()
	}
	return nil
}

// validPingGroupRange checks Meta.PingGroupRange: two group ids, as the
// kernel prints them, of an app with a network of its own.
func validPingGroupRange(net, r string) error {
	f := strings.Fields(r)
	if net != "private" || len(f) != 2 {
		return fmt.Errorf("ping_group_range %q (net %q): two group ids of an app's own network", r, net)
	}
	for _, g := range f {
		if _, err := strconv.ParseUint(g, 10, 32); err != nil {
			return fmt.Errorf("ping_group_range %q: %w", r, err)
		}
	}
	return nil
}

// PingGroupRange is the default of net.ipv4.ping_group_range in a new
// network namespace ("1 0": nobody may make ping sockets).
const PingGroupRange = "1\t0"

func init() {
	KnownFeatures = append(KnownFeatures, "ping-sockets", "packet-sockets")
}
