package inventory

import (
	"encoding/hex"

	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// raw observes a raw IP socket through crrun's copy c (inode ino): its
// local address and peer ("fd N raw") and each option of
// image.RawOptionsOf ("fd N raw sockopt NAME"), its filter ("fd N raw
// filter"). ("fd N inet" gives its family, type and protocol.)
func (o *observer) raw(pre string, c int, ino uint64) {
	if t, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_RAW {
		return
	}
	in, err := inetsock.ReadRaw(c, o.p.Host, ino)
	if err != nil || (in.Family != unix.AF_INET && in.Family != unix.AF_INET6) {
		return
	}
	v := "at " + in.Local.Addr().String()
	if in.Peer.IsValid() {
		v += " -> " + in.Peer.Addr().String()
	}
	o.f[pre+" raw"] = v
	for _, so := range inetsock.RawOptions(c, in.Family) {
		o.f[pre+" raw sockopt "+so.Name] = hex.EncodeToString(so.Value)
	}
	if f, err := inetsock.ReadFilter(c); err == nil && f != nil {
		o.f[pre+" raw filter"] = inetsock.FilterString(f)
	}
}
