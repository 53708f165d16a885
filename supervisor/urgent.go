package supervisor

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Urgent data sent. A TCP send with MSG_OOB sets the connection's urgent
// pointer (snd_up), which no interface reads back: TCP_INFO, inet_diag and
// repair mode all leave it out, and a restore that puts the send queue back
// in repair mode sends the urgent byte as an ordinary one (the peer's
// recv(MSG_OOB) then fails where it would have read it). The pointer
// matters only while the byte it marks has not been acknowledged, that is
// while the socket's send queue is not empty; once it is, the peer holds
// the urgent data, and the peer's side is judged where it lives. So the
// filter traps sends with MSG_OOB (seccomp.Answered, never a taint) and
// the supervisor notes the socket here; the checkpoint's gate refuses a
// noted TCP socket whose send queue (SIOCOUTQ) is not empty
// (checkpoint/inet.go, urgentSent). The socket is named by the inode its
// fd shows while the call waits: another thread replacing that fd number
// (dup2) in the microseconds before the call runs would have the wrong
// socket noted (a race the kernel gives no way to close from outside).

// urgentSends maps the inode of a socket the app sent urgent data on to
// the call that did it (for the reason).
type urgentSends struct {
	mu sync.Mutex
	m  map[uint64]string
}

// maxUrgent bounds the record; past it, sends are still noted by
// replacing nothing: an app opening that many sockets with urgent data is
// refused as a whole (urgentOverflow).
const maxUrgent = 65536

// urgentOverflow stands in for every socket once the record is full.
const urgentOverflow = seccomp.UrgentAny

// record notes the socket behind fd of thread tid (app pid nspid).
func (u *urgentSends) record(tid, nspid int, fd uint64, call string) {
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(tid)+"/fd/"+strconv.FormatUint(fd&0xffffffff, 10), &st) != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return // the call fails (EBADF, ENOTSOCK) by itself
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[uint64]string{}
	}
	what := fmt.Sprintf("%s(fd %d, MSG_OOB) in pid %d", call, fd&0xffffffff, nspid)
	if _, ok := u.m[st.Ino]; !ok && len(u.m) >= maxUrgent {
		u.m[urgentOverflow] = what
		return
	}
	u.m[st.Ino] = what
}

// snapshot copies the record for one verdict.
func (u *urgentSends) snapshot() map[uint64]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[uint64]string, len(u.m))
	for k, v := range u.m {
		out[k] = v
	}
	return out
}
