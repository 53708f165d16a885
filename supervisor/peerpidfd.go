package supervisor

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/restore"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// SO_PEERPIDFD of restored unix sockets. A socket whose SO_PEERCRED names
// another process than the main one was made by a stand-in with that pid
// (restore/peercred.go): SO_PEERCRED reads as before, but the kernel's
// SO_PEERPIDFD would give a pidfd of the stand-in, which has exited, where
// the original gave one of the live process. The filter traps
// getsockopt(SOL_SOCKET, SO_PEERPIDFD) (seccomp table, row "peerpidfd");
// for those sockets the supervisor answers with a pidfd of the restored
// process (opened while the restore held it, so never a reused pid), added
// to the caller's fd table close-on-exec, as the kernel does. Every other
// socket's call runs as it is.

// peerPidfds maps a restored socket's inode to a pidfd of the process its
// SO_PEERCRED names.
type peerPidfds struct {
	mu    sync.Mutex
	byIno map[uint64]int
}

// notePeerPidfds finds the restored sockets made by a stand-in for a live
// process of the image, while the restored tree is still held.
func (s *Supervisor) notePeerPidfds(meta *image.Meta, procs []*image.Process, res *restore.TreeResult) {
	host := map[int]int{}
	for _, p := range res.Procs {
		host[p.PID] = p.Pid
	}
	pidfds := map[int]int{}
	for _, p := range procs {
		holder, ok := host[p.PID]
		if !ok || p.Zombie != nil {
			continue
		}
		for _, f := range p.FDs {
			if f.Socket == nil || f.Socket.PeerCred == nil || f.Stdio != nil {
				continue
			}
			c := f.Socket.PeerCred
			target, ok := host[c.Pid]
			if !ok || c.Pid == meta.Root && meta.MainExit == nil {
				continue // made by the main process itself, or its maker had exited
			}
			var st unix.Stat_t
			if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", holder, f.FD), &st); err != nil {
				slog.Warn("SO_PEERPIDFD: a restored socket is gone", "pid", p.PID, "fd", f.FD, "err", err)
				continue
			}
			pfd, ok := pidfds[target]
			if !ok {
				var err error
				if pfd, err = unix.PidfdOpen(target, 0); err != nil {
					slog.Warn("SO_PEERPIDFD: pidfd_open", "pid", c.Pid, "err", err)
					continue
				}
				unix.CloseOnExec(pfd)
				pidfds[target] = pfd
			}
			s.peers.mu.Lock()
			if s.peers.byIno == nil {
				s.peers.byIno = map[uint64]int{}
			}
			s.peers.byIno[st.Ino] = pfd
			s.peers.mu.Unlock()
			slog.Debug("SO_PEERPIDFD answered by crrun", "pid", p.PID, "fd", f.FD, "inode", st.Ino, "peer", c.Pid)
		}
	}
}

// answerPeerPidfd answers a trapped getsockopt(SO_PEERPIDFD) for a socket
// noted by notePeerPidfds; false: not one of them, the call runs as is.
func (s *Supervisor) answerPeerPidfd(fd int, n *seccomp.Notif) bool {
	s.peers.mu.Lock()
	empty := len(s.peers.byIno) == 0
	s.peers.mu.Unlock()
	if empty {
		return false
	}
	tid := int(n.Pid)
	tgid, _, _ := taskInfo(tid)
	pidfd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return false
	}
	sock, err := unix.PidfdGetfd(pidfd, int(n.Args[0]), 0)
	unix.Close(pidfd)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	err = unix.Fstat(sock, &st)
	unix.Close(sock)
	if err != nil {
		return false
	}
	s.peers.mu.Lock()
	peer, ok := s.peers.byIno[st.Ino]
	s.peers.mu.Unlock()
	slog.Debug("trapped SO_PEERPIDFD", "tid", tid, "fd", n.Args[0], "inode", st.Ino, "ours", ok)
	if !ok {
		return false
	}
	mem, err := os.OpenFile("/proc/"+strconv.Itoa(tid)+"/mem", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer mem.Close()
	lb := make([]byte, 4)
	if _, err := mem.ReadAt(lb, int64(n.Args[4])); err != nil {
		_ = seccomp.Fail(fd, n.ID, unix.EFAULT)
		return true
	}
	if int32(binary.LittleEndian.Uint32(lb)) < 4 {
		_ = seccomp.Fail(fd, n.ID, unix.EINVAL)
		return true
	}
	if !seccomp.IDValid(fd, n.ID) { // the tid may have been reused meanwhile
		return true
	}
	nfd, err := seccomp.AddFD(fd, n.ID, peer, unix.O_CLOEXEC)
	if err != nil {
		_ = seccomp.Fail(fd, n.ID, unix.EMFILE)
		return true
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(nfd))
	if _, err := mem.WriteAt(out, int64(n.Args[3])); err != nil {
		_ = seccomp.Fail(fd, n.ID, unix.EFAULT)
		return true
	}
	if _, err := mem.WriteAt(binary.LittleEndian.AppendUint32(nil, 4), int64(n.Args[4])); err != nil {
		_ = seccomp.Fail(fd, n.ID, unix.EFAULT)
		return true
	}
	_ = seccomp.Return(fd, n.ID, 0)
	return true
}
