package image

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// UnixSockOpt is a SOL_SOCKET option of an AF_UNIX socket that the image keeps
// (Socket.Opts, by Name): an int, or a struct timeval as microseconds
// (Timeval), or a buffer size that getsockopt gives doubled (Buf).
type UnixSockOpt struct {
	Name    string
	Opt     int
	Timeval bool
	Buf     bool
}

// UnixSockOpts are the options saved for every unix socket, in the order
// restore sets them.
var UnixSockOpts = []UnixSockOpt{
	{Name: "passcred", Opt: unix.SO_PASSCRED},
	{Name: "passsec", Opt: unix.SO_PASSSEC},
	{Name: "passpidfd", Opt: unix.SO_PASSPIDFD},
	{Name: "peek_off", Opt: unix.SO_PEEK_OFF},
	{Name: "sndbuf", Opt: unix.SO_SNDBUF, Buf: true},
	{Name: "rcvbuf", Opt: unix.SO_RCVBUF, Buf: true},
	{Name: "rcvlowat", Opt: unix.SO_RCVLOWAT},
	{Name: "rcvtimeo", Opt: unix.SO_RCVTIMEO, Timeval: true},
	{Name: "sndtimeo", Opt: unix.SO_SNDTIMEO, Timeval: true},
	{Name: "keepalive", Opt: unix.SO_KEEPALIVE},
	{Name: "priority", Opt: unix.SO_PRIORITY},
	{Name: "mark", Opt: unix.SO_MARK},
	{Name: "timestamp", Opt: unix.SO_TIMESTAMP},
	{Name: "timestampns", Opt: unix.SO_TIMESTAMPNS},
}

// ReadSockOpts reads UnixSockOpts from socket fd (an option the kernel does not
// know is left out).
func ReadSockOpts(fd int) map[string]int64 {
	out := map[string]int64{}
	for _, o := range UnixSockOpts {
		if o.Timeval {
			tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, o.Opt)
			if err == nil {
				out[o.Name] = tv.Sec*1e6 + tv.Usec
			}
			continue
		}
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, o.Opt)
		if err == nil {
			out[o.Name] = int64(v)
		}
	}
	return out
}

// SetSockOpts sets on socket fd the options of want that it has otherwise
// and reads them back: an error names an option the kernel would not take
// (a buffer above the system's maximum for an ordinary user, a mark
// without CAP_NET_ADMIN).
func SetSockOpts(fd int, want map[string]int64) error {
	have := ReadSockOpts(fd)
	for _, o := range UnixSockOpts {
		v, ok := want[o.Name]
		if !ok || have[o.Name] == v {
			continue
		}
		var err error
		switch {
		case o.Timeval:
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, o.Opt, &unix.Timeval{Sec: v / 1e6, Usec: v % 1e6})
		case o.Buf:
			// The kernel doubles what it is given (and keeps a minimum).
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.Opt, int(v/2))
			if g, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, o.Opt); err == nil && int64(g) != v {
				force := unix.SO_SNDBUFFORCE
				if o.Opt == unix.SO_RCVBUF {
					force = unix.SO_RCVBUFFORCE
				}
				err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, int(v/2))
			}
		default:
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.Opt, int(v))
		}
		if err != nil {
			return fmt.Errorf("setsockopt %s=%d: %w", o.Name, v, err)
		}
	}
	got := ReadSockOpts(fd)
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("socket option %s is %d after setsockopt, want %d", k, got[k], v)
		}
	}
	return nil
}

// FormatSockOpts renders options as "name=value" words in UnixSockOpts order
// (the verifier's field).
func FormatSockOpts(m map[string]int64) string {
	var b []string
	for _, o := range UnixSockOpts {
		if v, ok := m[o.Name]; ok {
			b = append(b, o.Name+"="+strconv.FormatInt(v, 10))
		}
	}
	return strings.Join(b, " ")
}

// RoomToSend raises the send buffer of socket p to take n more bytes
// than it holds (SO_SNDBUFFORCE, or SO_SNDBUF within net.core.wmem_max when
// crrun may not force: only where the app's value can be set back), and
// returns what sets the app's value back and checks it. A stream queue
// sent again in one piece may take more of it than the app's writes did
// (sk_buffs cut otherwise: measured, a queue filled by 64 KiB writes).
func RoomToSend(p, n int) (func() error, error) {
	orig, err := unix.GetsockoptInt(p, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return nil, fmt.Errorf("SO_SNDBUF: %w", err)
	}
	set := func(v int) bool {
		if unix.SetsockoptInt(p, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, v/2) == nil {
			return true
		}
		if b, err := os.ReadFile("/proc/sys/net/core/wmem_max"); err == nil {
			var max int
			if _, err := fmt.Sscan(string(b), &max); err == nil && orig/2 <= max {
				return unix.SetsockoptInt(p, unix.SOL_SOCKET, unix.SO_SNDBUF, v/2) == nil
			}
		}
		return false
	}
	none := func() error { return nil }
	if !set(orig + 2*n + 1<<20) {
		return none, nil // as it is: the app's own buffer took these bytes
	}
	return func() error {
		set(orig)
		if now, err := unix.GetsockoptInt(p, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || now != orig {
			return fmt.Errorf("the peer's SO_SNDBUF could not be set back to %d (it is %d)", orig, now)
		}
		return nil
	}, nil
}
