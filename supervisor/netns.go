package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// The app's network: the host's (the default), or, with --net=private, a
// network namespace of its own with only the loopback interface, up. The
// choice is recorded in the image (image.Meta.Net) and a restore makes the
// same one. The namespace is created with the PID and mount namespaces
// (CLONE_NEWNET in the init's clone); for an ordinary user it is owned by
// crrun's user namespace, so crrun (whose uid owns that user namespace) has
// CAP_NET_ADMIN over it: TCP_REPAIR and the like on a pidfd_getfd copy of a
// socket are allowed to it there, and nowhere else.

// Network modes (--net).
const (
	NetHost    = "host"
	NetPrivate = "private"
)

// ParseNet checks a --net value; "" is the host's network.
func ParseNet(v string) (string, error) {
	switch v {
	case "", NetHost:
		return "", nil
	case NetPrivate:
		return NetPrivate, nil
	}
	return "", fmt.Errorf("--net=%s: want host or private", v)
}

// netName is a network as --net spells it.
func netName(n string) string {
	if n == "" {
		return NetHost
	}
	return n
}

// netNS adds a network namespace to the init's clone when net is private.
// An ordinary user's init (exec'd inside its user namespace, where it keeps
// only ambient capabilities) also keeps CAP_NET_ADMIN to bring the loopback
// up; the exec stage clears it with the others before the app runs.
func netNS(a *syscall.SysProcAttr, net string) {
	if net != NetPrivate {
		return
	}
	a.Cloneflags |= unix.CLONE_NEWNET
	if os.Geteuid() != 0 {
		a.AmbientCaps = append(a.AmbientCaps, unix.CAP_NET_ADMIN)
	}
}

// keepDiagSocket makes the init's NETLINK_SOCK_DIAG socket of the app's
// network namespace, which crrun borrows to list the app's unix sockets
// (inetsock.NetDiagFd).
func keepDiagSocket() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	if fd != inetsock.NetDiagFd {
		if err := unix.Dup3(fd, inetsock.NetDiagFd, unix.O_CLOEXEC); err != nil {
			unix.Close(fd)
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// loopbackUp sets IFF_UP on "lo" in the caller's network namespace (a new
// one has it down), as `ip link set lo up` does.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// hostPingRange is the net.ipv4.ping_group_range the app's own network
// namespace (--net=private) gets from crrun's init, "" to leave a new
// namespace's "1 0" (no one): the host's range, narrowed for an ordinary
// user to its own group (the only one crrun's user namespace maps) when the
// host's range holds it. So the app may make ICMP ping sockets in its
// namespace exactly when it could on the host's network — never more (and
// there they reach only its loopback). Root's app may change it there
// itself; a checkpoint saves what it is (image.Meta.PingGroupRange), and a
// restore sets that rather than this.
func hostPingRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	f := strings.Fields(string(b))
	if err != nil || len(f) != 2 {
		return ""
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 32)
	hi, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || lo > hi {
		return ""
	}
	if os.Geteuid() == 0 {
		return f[0] + " " + f[1]
	}
	if g := uint64(os.Getegid()); g >= lo && g <= hi {
		return fmt.Sprintf("%d %d", g, g)
	}
	return ""
}
