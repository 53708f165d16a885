package restore

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// Raw IP sockets (checkpoint/raw.go): created by an injected socket(2) in
// the blank main process (the app's network namespace; CAP_NET_RAW there,
// which the restorer must have), then through crrun's copy: options, bind
// to the saved address, connect to the saved peer, the filter; read back.
// A foreign image (not the restorer's own) owned by another user than
// root may hold none (Check): root would hand the app a raw socket its
// owner may not make.

// openRaw makes one raw socket.
func (t *treeRestorer) openRaw(f *image.FD) (uint64, error) {
	r := t.root
	s := f.Inet
	if s == nil {
		return 0, errors.New("no raw socket state in the image")
	}
	if err := s.ValidateRaw(); err != nil {
		return 0, err
	}
	fd, err := r.inj(r.pid, "socket(SOCK_RAW)", unix.SYS_SOCKET, uint64(s.Family), unix.SOCK_RAW|unix.SOCK_CLOEXEC, uint64(s.Protocol))
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("a raw socket (protocol %d) needs CAP_NET_RAW in the app's network namespace, which this restorer lacks: %w", s.Protocol, err)
		}
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	if err := inetsock.SetRawOptions(c, s.Family, s.Options); err != nil {
		return 0, fmt.Errorf("raw socket (protocol %d): %w", s.Protocol, err)
	}
	for _, a := range []struct {
		addr string
		op   func(int, unix.Sockaddr) error
		what string
	}{{s.Local, unix.Bind, "bind"}, {s.Peer, unix.Connect, "connect"}} {
		if a.addr == "" {
			continue
		}
		ap := netip.MustParseAddrPort(a.addr) // ValidateRaw parsed it
		if a.what == "bind" && ap.Addr().IsUnspecified() && ap.Addr().Zone() == "" {
			continue // as a new socket is
		}
		sa, err := inetsock.Sockaddr(s.Family, netip.AddrPortFrom(ap.Addr(), 0))
		if err != nil {
			return 0, err
		}
		if err := a.op(c, sa); err != nil {
			return 0, fmt.Errorf("%s raw socket (protocol %d) to %s: %w", a.what, s.Protocol, ap.Addr(), err)
		}
	}
	if err := inetsock.SetFilter(c, s.Filter); err != nil {
		return 0, fmt.Errorf("raw socket (protocol %d): %w", s.Protocol, err)
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}

// rawForeign refuses a raw or packet socket in a foreign image of an
// owner other than root (Check).
func rawForeign(p *image.Process, owner uint32) error {
	if owner == 0 {
		return nil
	}
	for _, f := range p.FDs {
		if f.Kind == image.FDRaw || f.Kind == image.FDPacket {
			return fmt.Errorf("fd %d is a %s socket, but the image belongs to uid %d: a restore never grants more than the image's owner has", f.FD, f.Kind, owner)
		}
	}
	return nil
}
