package procfs

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// InetSocket is one line of /proc/PID/net/{tcp,tcp6,udp,udp6}: a TCP or
// UDP socket that is bound, listening or connected in the network
// namespace of PID (a socket with no port is in no table).
type InetSocket struct {
	Inode  uint64
	Table  string // "tcp", "tcp6", "udp", "udp6"
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  int // TCP_* (UDP: TCP_ESTABLISHED when connected, TCP_CLOSE otherwise)
	// TxQueue and RxQueue: for a TCP listener, its backlog (the most
	// connections it queues) and the connections waiting to be accepted;
	// for a TCP connection, the bytes sent and not acknowledged and the
	// bytes received and not read; for UDP, the memory of the send and
	// receive queues.
	TxQueue, RxQueue uint64
}

// InetSockets reads the TCP and UDP tables of pid's network namespace,
// by inode.
func InetSockets(pid int) (map[uint64]InetSocket, error) {
	out := map[uint64]InetSocket{}
	for _, t := range []string{"tcp", "tcp6", "udp", "udp6"} {
		path := fmt.Sprintf("/proc/%d/net/%s", pid, t)
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue // no IPv6
			}
			return nil, err
		}
		lines := strings.Split(string(b), "\n")
		for i, line := range lines {
			f := strings.Fields(line)
			if i == 0 || len(f) < 10 {
				continue
			}
			s := InetSocket{Table: t}
			var ok1, ok2 bool
			s.Local, ok1 = hexAddrPort(f[1])
			s.Remote, ok2 = hexAddrPort(f[2])
			st, err1 := strconv.ParseUint(f[3], 16, 8)
			tx, rx, _ := strings.Cut(f[4], ":")
			txq, err2 := strconv.ParseUint(tx, 16, 64)
			rxq, err3 := strconv.ParseUint(rx, 16, 64)
			ino, err4 := strconv.ParseUint(f[9], 10, 64)
			if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				return nil, parseErr(path, i+1, "bad line %q", line)
			}
			s.State, s.TxQueue, s.RxQueue, s.Inode = int(st), txq, rxq, ino
			if ino != 0 {
				out[ino] = s
			}
		}
	}
	return out, nil
}

// hexAddrPort parses "0100007F:1F90" (the address as the kernel's words in
// host order, little-endian here) or its 32-hex-digit IPv6 form.
func hexAddrPort(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	var raw []byte
	for i := 0; i+8 <= len(a); i += 8 {
		w, err := strconv.ParseUint(a[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		raw = binary.LittleEndian.AppendUint32(raw, uint32(w))
	}
	addr, ok := netip.AddrFromSlice(raw)
	if !ok || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
