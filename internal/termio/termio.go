// Package termio holds the few terminal calls the checkpoint and restore
// engines share.
package termio

import "golang.org/x/sys/unix"

// Peer opens the slave of pty master m (TIOCGPTPEER: no path lookup), never
// as the caller's controlling terminal: crrun may be a session leader
// without one (started under setsid), and a plain open would make the pty
// its terminal.
func Peer(m int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
