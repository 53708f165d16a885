package inetsock

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// RawOptions reads every option of image.RawOptionsOf(family) (one the
// kernel does not know is left out).
func RawOptions(fd, family int) []image.SockOpt {
	var out []image.SockOpt
	for _, o := range image.RawOptionsOf(family) {
		if v, err := getRaw(fd, o.Level, o.Opt); err == nil {
			out = append(out, image.SockOpt{Name: o.Name, Value: v})
		}
	}
	return out
}

// SetRawOptions gives a new raw socket the saved option values it does
// not have already, buffer sizes before SO_BUF_LOCK, each read back.
func SetRawOptions(fd, family int, opts []image.SockOpt) error {
	return setTable(fd, opts, func(name string) (image.InetOption, bool) { return image.RawOptionByName(family, name) })
}

// Queued is the memory a socket's receive queue holds (SO_MEMINFO's
// SK_MEMINFO_RMEM_ALLOC), and whether an error is pending (poll's POLLERR;
// SO_ERROR would clear it).
func Queued(fd int) (uint32, bool, error) {
	mi := make([]byte, 4*unix.SK_MEMINFO_VARS)
	if _, err := getsockopt(fd, unix.SOL_SOCKET, unix.SO_MEMINFO, mi); err != nil {
		return 0, false, fmt.Errorf("SO_MEMINFO: %w", err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd)}}
	perr := false
	if _, err := unix.Poll(pfd, 0); err == nil && pfd[0].Revents&unix.POLLERR != 0 {
		perr = true
	}
	return le32(mi[4*unix.SK_MEMINFO_RMEM_ALLOC:]), perr, nil
}

// RawInfo is what crrun reads of a raw IP socket.
type RawInfo struct {
	Family, Protocol int
	Local            netip.AddrPort // getsockname (the port is the protocol)
	// Peer is the address connect gave it (getpeername does not show a
	// raw socket's: /proc/PID/net/raw's rem_address, state 1); invalid
	// when not connected.
	Peer netip.AddrPort
}

// ReadRaw reads raw socket fd (inode ino) of process pid.
func ReadRaw(fd, pid int, ino uint64) (*RawInfo, error) {
	fam, proto, local, peer, err := readIPSock(fd, pid, ino, "raw")
	if err != nil {
		return nil, err
	}
	return &RawInfo{Family: fam, Protocol: proto, Local: local, Peer: peer}, nil
}

// readIPSock reads an IP socket whose peer getpeername does not show (raw,
// ping): family, protocol, getsockname, and the peer from its line in
// /proc/PID/net/TABLE (TABLE6 for IPv6).
func readIPSock(fd, pid int, ino uint64, table string) (family, protocol int, local, peer netip.AddrPort, err error) {
	if family, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return 0, 0, local, peer, fmt.Errorf("SO_DOMAIN: %w", err)
	}
	if protocol, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return 0, 0, local, peer, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		local = AddrPort(sa)
	}
	if family == unix.AF_INET6 {
		table += "6"
	}
	if peer, err = procPeer(pid, table, ino); err != nil {
		return 0, 0, local, peer, err
	}
	return family, protocol, local, peer, nil
}

// procPeer reads the peer of socket ino from /proc/PID/net/FILE (raw,
// raw6, icmp, icmp6): rem_address of a socket in state 1 (connected);
// invalid when not connected.
func procPeer(pid int, file string, ino uint64) (netip.AddrPort, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
	if err != nil {
		return netip.AddrPort{}, err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[9] != strconv.FormatUint(ino, 10) {
			continue
		}
		if f[3] != "01" { // TCP_ESTABLISHED: connected
			return netip.AddrPort{}, nil
		}
		addr, _, _ := strings.Cut(f[2], ":")
		h, err := hex.DecodeString(addr)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("/proc/%d/net/%s: rem_address %q", pid, file, f[2])
		}
		// The kernel prints each 32-bit word of the address as a host number.
		for i := 0; i+4 <= len(h); i += 4 {
			h[i], h[i+1], h[i+2], h[i+3] = h[i+3], h[i+2], h[i+1], h[i]
		}
		if a, ok := netip.AddrFromSlice(h); ok {
			return netip.AddrPortFrom(a, 0), nil
		}
		return netip.AddrPort{}, nil
	}
	return netip.AddrPort{}, fmt.Errorf("socket:[%d] is not in /proc/%d/net/%s", ino, pid, file)
}
