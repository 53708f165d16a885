package image

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestPingPacketValidate(t *testing.T) {
	for _, tc := range []struct {
		net, r string
		ok     bool
	}{{"private", "0\t0", true}, {"private", "100 200", true}, {"", "0\t0", false}, {"private", "0", false}, {"private", "0 x", false}, {"private", "0 0\n1", false}} {
		if err := validPingGroupRange(tc.net, tc.r); (err == nil) != tc.ok {
			t.Errorf("ping_group_range %q net %q: %v", tc.r, tc.net, err)
		}
	}
	for _, tc := range []struct {
		s  Inet
		ok bool
	}{
		{Inet{Family: unix.AF_INET, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_ICMP, Local: "127.0.0.1:42", Peer: "127.0.0.1:0"}, true},
		{Inet{Family: unix.AF_INET6, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_ICMPV6, Options: []SockOpt{{Name: "IPV6_UNICAST_HOPS"}}}, true},
		{Inet{Family: unix.AF_INET6, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_ICMP}, false},
		{Inet{Family: unix.AF_INET, Type: unix.SOCK_RAW, Protocol: unix.IPPROTO_ICMP}, false},
		{Inet{Family: unix.AF_INET, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_ICMP, Options: []SockOpt{{Name: "ICMP_FILTER"}}}, false},
		{Inet{Family: unix.AF_INET, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_ICMP, Datagrams: []Datagram{{}}}, false},
	} {
		if err := tc.s.ValidatePing(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.s, err)
		}
	}
	for _, tc := range []struct {
		p  Packet
		ok bool
	}{
		{Packet{Type: unix.SOCK_DGRAM, Protocol: 0x88b5, Bound: 0x88b5, Ifindex: 1, Ifname: "lo", Options: []SockOpt{{Name: "PACKET_AUXDATA"}, {Name: "SO_RCVBUF"}}}, true},
		{Packet{Type: unix.SOCK_RAW}, true},
		{Packet{Type: unix.SOCK_PACKET}, false},
		{Packet{Type: unix.SOCK_RAW, Ifindex: 2}, false},
		{Packet{Type: unix.SOCK_RAW, Protocol: 0x10000}, false},
		{Packet{Type: unix.SOCK_RAW, Options: []SockOpt{{Name: "PACKET_STATISTICS"}}}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.p, err)
		}
	}
}
