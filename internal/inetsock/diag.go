package inetsock

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"

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

// DiagSocket gives a sock_diag socket of the network namespace of init
// (crrun's init; 0, or one in crrun's own namespace: a new socket of
// crrun's), and the function that gives it back.
func DiagSocket(init int) (int, func(), error) {
	if init > 0 && !SameNetNS(init) {
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

// SameNetNS reports whether pid is in crrun's network namespace.
func SameNetNS(pid int) bool {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err1 != nil || err2 != nil || mine == its
}

// ListenQueue is a listening TCP socket's accept queue: the connections
// waiting to be accepted and the most it holds (listen's backlog, capped
// by somaxconn).
type ListenQueue struct{ Waiting, Backlog int }

// Listeners asks sock_diag for every listening TCP socket (IPv4 and IPv6)
// of init's network namespace, by inode.
func Listeners(init int) (map[uint64]ListenQueue, error) {
	return tcpDiag(init, 1<<10) // TCP_LISTEN
}

// ReceiveQueues asks sock_diag for the connected TCP sockets of init's
// network namespace: by inode, rcv_nxt - copied_seq (inet_diag's rqueue),
// which counts what SIOCINQ leaves out: a FIN received and not read, and
// the bytes past an urgent mark.
func ReceiveQueues(init int) (map[uint64]int, error) {
	m, err := tcpDiag(init, 1<<StateEstablished|1<<StateFinWait1|1<<StateFinWait2|1<<StateCloseWait|1<<StateLastAck|1<<StateClosing)
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]int, len(m))
	for ino, q := range m {
		out[ino] = q.Waiting
	}
	return out, nil
}

// tcpDiag dumps the TCP sockets in the states of mask (1<<state): by
// inode, inet_diag_msg's rqueue (Waiting) and wqueue (Backlog).
func tcpDiag(init int, mask uint32) (map[uint64]ListenQueue, error) {
	fd, release, err := DiagSocket(init)
	if err != nil {
		return nil, err
	}
	defer release()
	out := map[uint64]ListenQueue{}
	le := binary.LittleEndian
	for _, fam := range []byte{unix.AF_INET, unix.AF_INET6} {
		// nlmsghdr + struct inet_diag_req_v2 (family, protocol, ext, pad,
		// states, inet_diag_sockid of 48 bytes).
		req := make([]byte, 16+56)
		le.PutUint32(req[0:], uint32(len(req)))
		le.PutUint16(req[4:], 20) // SOCK_DIAG_BY_FAMILY
		le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
		req[16], req[17] = fam, unix.IPPROTO_TCP
		le.PutUint32(req[20:], mask)
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("inet_diag request: %w", err)
		}
		buf := make([]byte, 1<<16)
	recv:
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("inet_diag reply: %w", err)
			}
			msgs, err := syscall.ParseNetlinkMessage(buf[:n])
			if err != nil {
				return nil, fmt.Errorf("inet_diag reply: %w", err)
			}
			for _, m := range msgs {
				switch m.Header.Type {
				case syscall.NLMSG_DONE:
					break recv
				case syscall.NLMSG_ERROR:
					if e := int32(le.Uint32(m.Data)); e != 0 {
						if fam == unix.AF_INET6 && -e == int32(unix.ENOENT) {
							break recv // no IPv6
						}
						return nil, fmt.Errorf("inet_diag: error %d", e)
					}
					continue
				}
				d := m.Data
				if len(d) < 72 {
					continue
				}
				// struct inet_diag_msg: ... expires u32 @52, rqueue @56,
				// wqueue @60, uid @64, inode @68.
				out[uint64(le.Uint32(d[68:]))] = ListenQueue{Waiting: int(le.Uint32(d[56:])), Backlog: int(le.Uint32(d[60:]))}
			}
		}
	}
	return out, nil
}
