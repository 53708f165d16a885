package inventory

import (
	"encoding/hex"
	"strconv"

	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// ping observes an ICMP ping socket through crrun's copy c (inode ino):
// its local address, identifier and peer ("fd N ping"), each option of
// image.PingOptionsOf ("fd N ping sockopt NAME"), its filter ("fd N ping
// filter"). ("fd N inet" gives its family, type and protocol.)
func (o *observer) ping(pre string, c int, ino uint64) {
	if t, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_DGRAM {
		return
	}
	if p, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || (p != unix.IPPROTO_ICMP && p != unix.IPPROTO_ICMPV6) {
		return
	}
	in, err := inetsock.ReadPing(c, o.p.Host, ino)
	if err != nil || (in.Family != unix.AF_INET && in.Family != unix.AF_INET6) {
		return
	}
	v := "at " + in.Local.Addr().String() + " id " + strconv.Itoa(int(in.Local.Port()))
	if in.Peer.IsValid() {
		v += " -> " + in.Peer.Addr().String()
	}
	o.f[pre+" ping"] = v
	for _, so := range inetsock.PingOptions(c, in.Family) {
		o.f[pre+" ping sockopt "+so.Name] = hex.EncodeToString(so.Value)
	}
	if f, err := inetsock.ReadFilter(c); err == nil && f != nil {
		o.f[pre+" ping filter"] = inetsock.FilterString(f)
	}
}

// packet observes a packet socket through crrun's copy c: its type,
// protocols and interface ("fd N packet"), each option of
// image.PacketOptions ("fd N packet sockopt NAME"), its filter ("fd N
// packet filter").
func (o *observer) packet(pre string, c int) {
	if d, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || d != unix.AF_PACKET {
		return
	}
	in, err := inetsock.ReadPacket(c)
	if err != nil {
		return
	}
	o.f[pre+" packet"] = "type " + strconv.Itoa(in.Type) + " protocol 0x" + strconv.FormatInt(int64(in.Protocol), 16) +
		" bound 0x" + strconv.FormatInt(int64(in.Bound), 16) + " ifindex " + strconv.Itoa(in.Ifindex) + " " + in.Ifname +
		" fanout " + strconv.Itoa(in.Fanout)
	for _, so := range inetsock.PacketOptions(c) {
		o.f[pre+" packet sockopt "+so.Name] = hex.EncodeToString(so.Value)
	}
	if f, err := inetsock.ReadFilter(c); err == nil && f != nil {
		o.f[pre+" packet filter"] = inetsock.FilterString(f)
	}
}
