package inventory

import (
	"encoding/hex"
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// netlink observes an AF_NETLINK socket through crrun's copy c: its
// protocol, type, port id and groups ("fd N netlink") and each option of
// image.NetlinkOptions ("fd N netlink sockopt NAME", getsockopt's bytes in
// hex). Its queue is not compared: it was empty at checkpoint (else
// refused), and the kernel may queue an event for a group at any moment.
func (o *observer) netlink(pre string, c int) {
	if fam, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || fam != unix.AF_NETLINK {
		return
	}
	in, err := inetsock.ReadNetlink(c)
	if err != nil {
		return
	}
	typ := "raw"
	if in.Type == unix.SOCK_DGRAM {
		typ = "dgram"
	} else if in.Type != unix.SOCK_RAW {
		typ = fmt.Sprintf("type %d", in.Type)
	}
	v := fmt.Sprintf("%s %s port %d", image.NetlinkProtoName(in.Protocol), typ, int32(in.PortID))
	if len(in.Groups) > 0 {
		v += " groups " + inetsock.GroupList(in.Groups)
	}
	if in.PeerPortID != 0 || in.PeerGroups != 0 {
		v += fmt.Sprintf(" -> port %d groups %#x", int32(in.PeerPortID), in.PeerGroups)
	}
	o.f[pre+" netlink"] = v
	if f, err := inetsock.ReadFilter(c); err == nil && f != nil {
		o.f[pre+" netlink filter"] = inetsock.FilterString(f)
	}
	for _, so := range inetsock.NetlinkOptions(c) {
		o.f[pre+" netlink sockopt "+so.Name] = hex.EncodeToString(so.Value)
	}
}
