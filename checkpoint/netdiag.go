package checkpoint

import (
	"fmt"
	"os"
	"sync"

	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// NetDiagFd is where crrun's init keeps a NETLINK_SOCK_DIAG socket made in
// the app's own network namespace (--net=private): sock_diag answers about
// the sockets of the namespace the asking socket was made in, and crrun
// cannot enter the app's (setns needs CAP_SYS_ADMIN in crrun's own user
// namespace), so it borrows the init's (pidfd_getfd) instead.
const NetDiagFd = 255

// diagMu makes one request at a time on the init's socket (every copy is
// the same socket).
var diagMu sync.Mutex

// diagSocket gives a sock_diag socket of the network namespace of init
// (crrun's init; 0 or one in crrun's own namespace: a new socket of
// crrun's), and the function that gives it back.
func diagSocket(init int) (int, func(), error) {
	if init > 0 && !sameNetNS(init) {
		diagMu.Lock()
		fd, err := ptrace.CopyFd(init, NetDiagFd)
		if err != nil {
			diagMu.Unlock()
			return -1, nil, fmt.Errorf("the sock_diag socket of the app's network namespace (fd %d of crrun's init): %w", NetDiagFd, err)
		}
		// What an earlier request left unread (it failed half way).
		buf := make([]byte, 1<<16)
		for {
			if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil && err != unix.EINTR {
				break
			}
		}
		return fd, func() { unix.Close(fd); diagMu.Unlock() }, nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	return fd, func() { unix.Close(fd) }, nil
}

// sameNetNS reports whether pid is in crrun's network namespace.
func sameNetNS(pid int) bool {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err1 != nil || err2 != nil || mine == its
}
