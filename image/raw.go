package image

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// FDRaw is a raw IP socket (socket(AF_INET or AF_INET6, SOCK_RAW, proto)),
// its state in FD.Inet (required feature "raw-sockets"): family, protocol,
// the address it is bound to (Local; the port is the protocol, as
// getsockname gives it) and connected to (Peer), Options (RawOptionsOf),
// Filter. Its queue was empty at checkpoint (else refused).
const FDRaw FDKind = "raw"

// Raw-socket options not in InetOptions (linux/icmp.h, linux/icmpv6.h).
const (
	icmpFilter   = 1 // ICMP_FILTER, level SOL_RAW
	icmpv6Filter = 1 // ICMPV6_FILTER, level IPPROTO_ICMPV6
)

// RawOptions are the options of a raw socket besides the socket- and
// IP-level ones of InetOptions that UDP sockets have (RawOptionsOf).
var RawOptions = []InetOption{
	{Name: "IP_HDRINCL", Level: unix.IPPROTO_IP, Opt: unix.IP_HDRINCL, Inet4: true},
	{Name: "ICMP_FILTER", Level: unix.SOL_RAW, Opt: icmpFilter, Inet4: true},
	{Name: "IP_NODEFRAG", Level: unix.IPPROTO_IP, Opt: unix.IP_NODEFRAG, Inet4: true},
	{Name: "IP_ROUTER_ALERT", Level: unix.IPPROTO_IP, Opt: unix.IP_ROUTER_ALERT, Inet4: true},
	{Name: "IPV6_ROUTER_ALERT", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_ROUTER_ALERT, Inet6: true},
	{Name: "IPV6_HDRINCL", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_HDRINCL, Inet6: true},
	{Name: "IPV6_CHECKSUM", Level: unix.IPPROTO_IPV6, Opt: unix.IPV6_CHECKSUM, Inet6: true},
	{Name: "ICMPV6_FILTER", Level: unix.IPPROTO_ICMPV6, Opt: icmpv6Filter, Inet6: true},
}

// RawOptionsOf lists the options read on a raw socket of family: the
// socket- and IP-level rows of InetOptions a UDP socket has, then
// RawOptions.
func RawOptionsOf(family int) []InetOption {
	var out []InetOption
	for _, o := range append(InetOptionsOf(family, unix.IPPROTO_UDP), RawOptions...) {
		if (o.Inet6 && family != unix.AF_INET6) || (o.Inet4 && family != unix.AF_INET) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// RawOptionByName finds an option of RawOptionsOf(family).
func RawOptionByName(family int, name string) (InetOption, bool) {
	for _, o := range RawOptionsOf(family) {
		if o.Name == name {
			return o, true
		}
	}
	return InetOption{}, false
}

// ValidateRaw checks a raw socket's state.
func (s *Inet) ValidateRaw() error {
	if s.Family != unix.AF_INET && s.Family != unix.AF_INET6 {
		return fmt.Errorf("raw socket: family %d", s.Family)
	}
	if s.Type != unix.SOCK_RAW || s.Protocol < 0 || s.Protocol > 255 {
		return fmt.Errorf("raw socket: type %d protocol %d", s.Type, s.Protocol)
	}
	for _, a := range []string{s.Local, s.Peer} {
		if a == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(a); err != nil {
			return fmt.Errorf("raw socket: address %q: %w", a, err)
		}
	}
	for _, o := range s.Options {
		if _, ok := RawOptionByName(s.Family, o.Name); !ok {
			return fmt.Errorf("raw socket: unknown option %q", o.Name)
		}
	}
	if s.Listen || s.Conn != nil || len(s.Datagrams) > 0 || s.Data != "" || len(s.Memberships) > 0 {
		return fmt.Errorf("raw socket: a listener, connection, queue or multicast membership")
	}
	if s.Filter != nil {
		return s.Filter.Validate()
	}
	return nil
}
