package inetsock

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// PingInfo is what crrun reads of an ICMP ping socket.
type PingInfo struct {
	Family, Protocol int
	// Local is getsockname's: its port is the ICMP echo identifier (0:
	// none chosen yet).
	Local netip.AddrPort
	// Peer is the address connect gave it: getpeername answers ENOTCONN
	// (a ping socket's inet_dport stays 0), /proc/PID/net/icmp shows it.
	Peer netip.AddrPort
}

// ReadPing reads ping socket fd (inode ino) of process pid.
func ReadPing(fd, pid int, ino uint64) (*PingInfo, error) {
	fam, proto, local, peer, err := readIPSock(fd, pid, ino, "icmp")
	if err != nil {
		return nil, err
	}
	return &PingInfo{Family: fam, Protocol: proto, Local: local, Peer: peer}, nil
}

// PingOptions reads every option of image.PingOptionsOf(family) (one the
// kernel does not know is left out).
func PingOptions(fd, family int) []image.SockOpt {
	var out []image.SockOpt
	for _, o := range image.PingOptionsOf(family) {
		if v, err := getRaw(fd, o.Level, o.Opt); err == nil {
			out = append(out, image.SockOpt{Name: o.Name, Value: v})
		}
	}
	return out
}

// SetPingOptions gives a new ping socket the saved option values,
// buffer sizes before SO_BUF_LOCK.
func SetPingOptions(fd, family int, opts []image.SockOpt) error {
	return setTable(fd, opts, func(name string) (image.InetOption, bool) { return image.PingOptionByName(family, name) })
}

// setTable sets opts, each found by byName, those after the buffers last.
func setTable(fd int, opts []image.SockOpt, byName func(string) (image.InetOption, bool)) error {
	var late []image.InetOption
	var lateV [][]byte
	for _, so := range opts {
		o, ok := byName(so.Name)
		if !ok {
			return fmt.Errorf("unknown socket option %q", so.Name)
		}
		if o.AfterBuffer {
			late, lateV = append(late, o), append(lateV, so.Value)
			continue
		}
		if err := setOne(fd, o, so.Value); err != nil {
			return err
		}
	}
	for i, o := range late {
		if err := setOne(fd, o, lateV[i]); err != nil {
			return err
		}
	}
	return nil
}

// PingGroupRange reads net.ipv4.ping_group_range in the network
// namespace of pid, from a thread that enters it (root only: setns needs
// CAP_SYS_ADMIN). The thread is never handed back: it ends with its
// goroutine.
func PingGroupRange(pid int) (string, error) {
	return inNetNS(pid, func() (string, error) {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
		return strings.TrimSpace(string(b)), err
	})
}

func inNetNS(pid int, f func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime drops the thread
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			ch <- result{err: fmt.Errorf("enter the network namespace of pid %d: %w", pid, err)}
			return
		}
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}
