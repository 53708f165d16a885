package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// Files in flight on a unix stream socket (SCM_RIGHTS). Each sendmsg with
// files makes sk_buffs of its own, and the files ride on the first. What
// the kernel lets a reader see (measured, Linux 6.18):
//
//   - a read returns the files with the first read that reaches a byte of
//     their sk_buff, and stops at the end of that sk_buff: it glues the
//     plain bytes before them, never those after. So where the carrying
//     run starts and where it ends are both observable (a read that stops
//     one byte before it gets no files);
//   - a peek (MSG_PEEK, with or without SO_PEEK_OFF) stops at the end of
//     the carrying sk_buff too, but a peek that ends in a plain sk_buff
//     before it goes on into the next ones with nothing left to copy and
//     returns their files all the same (even a peek of 0 or 1 byte, at any
//     offset before them): a peek finds where each carrying run ends,
//     never where it starts. The files a peek returns are new fds in the
//     peeker's table;
//   - a read of one byte at a time gets the files exactly at the first
//     byte of their sk_buff.
//
// So the dump finds the runs by reading the queue, not peeking it: the
// peek walk (peekQueue) gives each carrying run's end, one-byte reads find
// its start, and every byte, with its files (as crrun's fds) and the
// credentials the reads gave, is sent again at once from the peer, in
// order, each carrying run by one sendmsg, so the app's queue is as it
// was (then peeked again and compared). The runs are saved as the
// socket's messages (image.Socket.Msgs), which restore sends again from
// the peer in the same way. For a reader without SO_PASSCRED the bytes
// sent again carry crrun's credentials in the kernel (as every stream
// byte a restore writes does): seen only if the app turns SO_PASSCRED on
// before it reads them.

// streamRightsRefusal is why the queue of stream socket u, which holds
// files in flight, cannot be read and sent again from its peer: the peer
// must be a socket of the app that may still send to u. passcred: the
// reader has SO_PASSCRED or SO_PASSPIDFD (the bytes must name their
// senders again: root only).
func streamRightsRefusal(u unixDiag, diag map[uint64]unixDiag, inTree map[uint64]bool, passcred bool) string {
	const what = "files in flight (SCM_RIGHTS) on a unix stream socket"
	peer, ok := diag[u.peer]
	switch {
	case u.peer == 0:
		return what + " whose peer has closed not supported: the bytes that carry them are found by reading the queue and sending it again from the peer"
	case !ok || !inTree[u.peer]:
		return what + " whose peer is no socket of the app not supported"
	case u.shutdown > 0 && u.shutdown&1 != 0 || peer.shutdown > 0 && peer.shutdown&2 != 0:
		return what + " shut down (the reader for reading, or its peer for writing) not supported: the bytes that carry them are found by reading the queue and sending it again from the peer"
	case passcred && os.Geteuid() != 0:
		return what + " whose reader has SO_PASSCRED or SO_PASSPIDFD: sending the queue again naming its senders needs root (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID)"
	}
	return ""
}

// streamQueue is what drainStream read: the bytes, the runs (each carrying
// run alone, with its files as crrun's fds), each run's message with its
// credentials when the reader passes them (host pid until senderCreds).
type streamQueue struct {
	data []byte
	msgs []image.SockMsg
	runs []run
}

// drainStream reads the n bytes queued at stream socket fd of pid, whose
// carrying runs end at ends (from the peek walk), and sends each run again
// from the peer (peerFd of peerPid) at once. creds: send each run naming
// the credentials its read gave. On an error after the first read the
// queue may have lost bytes: the error says so.
func drainStream(pid, fd, peerPid, peerFd, n int, ends []int, creds bool) (q streamQueue, err error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return q, err
	}
	defer unix.Close(s)
	p, err := ptrace.CopyFd(peerPid, peerFd)
	if err != nil {
		return q, err
	}
	defer unix.Close(p)
	peekOff, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil {
		return q, fmt.Errorf("SO_PEEK_OFF: %w", err)
	}
	// The reads move the app's peek offset back: set again afterwards.
	defer unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEEK_OFF, peekOff) //nolint:errcheck
	q.data = make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(253*4)+unix.CmsgSpace(unix.SizeofUcred))
	var cred []*unix.Ucred // of each run
	// read reads up to k bytes at pos: a carrying run's files, the
	// credentials.
	read := func(pos, k int) (int, []int, *unix.Ucred, error) {
		for {
			m, oobn, _, _, err := unix.Recvmsg(s, q.data[pos:pos+k], oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, nil, nil, err
			}
			fds := rightsOf(oob[:oobn])
			closePidfds(oob[:oobn])
			if m == 0 {
				closeAll(fds)
				return 0, nil, nil, fmt.Errorf("read 0 of %d bytes at %d", k, pos)
			}
			return m, fds, credOf(oob[:oobn]), nil
		}
	}
	plain := func(m int, c *unix.Ucred) {
		if l := len(q.runs) - 1; l >= 0 && q.runs[l].fds == nil && sameCred(cred[l], c) {
			q.runs[l].n += m
			return
		}
		q.runs = append(q.runs, run{n: m})
		cred = append(cred, c)
	}
	pos := 0
	fail := func(err error) (streamQueue, error) {
		closeAll(runFds(q.runs))
		if pos > 0 {
			err = fmt.Errorf("%w (the queue was read up to byte %d of %d to find the files in flight, and not all of it was sent again: the app's socket has lost bytes)", err, pos, n)
		}
		return streamQueue{}, err
	}
	var ones oneByOne
	for _, end := range ends {
		// A carrying run ends at end: it starts at the first byte whose
		// read (of one byte) brings its files. One recvmmsg reads many
		// bytes one by one (never past end); the bytes after the first
		// with files are the run's.
		found := false
		if limit := carryCap(); limit > 0 && end-limit > pos {
			// No carrying sk_buff holds more than limit bytes: those
			// before end-limit are plain, read at once.
			for pos < end-limit {
				m, fds, c, err := read(pos, end-limit-pos)
				if err != nil {
					return fail(err)
				}
				if fds != nil {
					closeAll(fds)
					return fail(fmt.Errorf("files in flight at byte %d, more than %d bytes before the end of their run", pos, limit))
				}
				plain(m, c)
				pos += m
			}
		}
		for pos < end && !found {
			got, err := ones.read(s, q.data[pos:min(end, pos+oneByOneMax)])
			for _, b := range got {
				switch {
				case b.fds == nil && !found:
					plain(1, b.cred)
				case b.fds == nil:
					q.runs[len(q.runs)-1].n++
				case found:
					closeAll(b.fds)
					err = fmt.Errorf("files in flight at byte %d, inside another carrying run", pos)
				default:
					found = true
					q.runs, cred = append(q.runs, run{n: 1, fds: b.fds}), append(cred, b.cred)
				}
				pos++
			}
			if err != nil {
				return fail(err) // every fd got is closed or in q.runs
			}
		}
		for found && pos < end {
			m, more, _, err := read(pos, end-pos)
			if err != nil {
				return fail(err)
			}
			if more != nil {
				closeAll(more)
				return fail(fmt.Errorf("files in flight at byte %d, inside another carrying run", pos))
			}
			q.runs[len(q.runs)-1].n += m
			pos += m
		}
		if !found {
			return fail(fmt.Errorf("no files in flight before byte %d, where the peek saw them end", end))
		}
	}
	for pos < n {
		m, fds, c, err := read(pos, n-pos)
		if err != nil {
			return fail(err)
		}
		if fds != nil {
			closeAll(fds)
			return fail(fmt.Errorf("files in flight at byte %d, where the peek saw none", pos))
		}
		plain(m, c)
		pos += m
	}
	// Send every run again, in order, from the peer, whose send buffer
	// may need room for sk_buffs cut otherwise than the app's (measured:
	// a queue filled by 64 KiB writes took more than the buffer when
	// sent again in one piece).
	back, err := image.RoomToSend(p, n)
	if err != nil {
		pos = n
		return fail(err)
	}
	defer func() {
		if e := back(); e != nil && err == nil {
			err = e
		}
	}()
	off := 0
	for i, r := range q.runs {
		if err := resend(p, q.data[off:off+r.n], r.fds, cred[i], creds); err != nil {
			pos = n
			return fail(fmt.Errorf("send run %d (%d bytes) again: %w", i+1, r.n, err))
		}
		off += r.n
		m := image.SockMsg{Len: r.n}
		if c := cred[i]; creds && c != nil {
			m.Cred = &image.Ucred{Pid: int(c.Pid), Uid: c.Uid, Gid: c.Gid}
		}
		q.msgs = append(q.msgs, m)
	}
	return q, nil
}

func sameCred(a, b *unix.Ucred) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// resend sends b from socket p with files fds (on the first sk_buff), and
// credentials c when withCred.
func resend(p int, b []byte, fds []int, c *unix.Ucred, withCred bool) error {
	files := len(fds) > 0
	for len(b) > 0 {
		var oob []byte
		if files {
			oob = unix.UnixRights(fds...)
		}
		if withCred && c != nil {
			oob = append(oob, unix.UnixCredentials(c)...)
		}
		m, err := unix.SendmsgN(p, b, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		files, b = false, b[m:]
	}
	return nil
}

// fdEnds are the offsets where the carrying runs of a peek walk end.
func fdEnds(segs []peekSeg) []int {
	var out []int
	for _, s := range segs {
		if s.rights {
			out = append(out, s.end)
		}
	}
	return out
}

// closePidfds closes the pidfds a read received (SCM_PIDFD: a reader with
// SO_PASSPIDFD).
func closePidfds(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, cm := range msgs {
		if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SCM_PIDFD && len(cm.Data) >= 4 {
			unix.Close(int(int32(uint32(cm.Data[0]) | uint32(cm.Data[1])<<8 | uint32(cm.Data[2])<<16 | uint32(cm.Data[3])<<24)))
		}
	}
}

// samePeek peeks the queue of stream socket fd of pid again, once sent
// again by drainStream: the same bytes, the carrying runs ending where
// they did (segs, the first walk).
func samePeek(pid, fd int, q streamQueue, segs []peekSeg) error {
	data, again, _, err := peekQueue(pid, fd, len(q.data))
	if err != nil {
		return err
	}
	if string(data) != string(q.data) {
		return errors.New("the bytes queued differ")
	}
	if a, b := fdEnds(segs), fdEnds(again); !slices.Equal(a, b) {
		return fmt.Errorf("the runs that carry files end at %v, not %v", b, a)
	}
	return nil
}

// oneByOneMax bounds the bytes one recvmmsg reads one by one.
const oneByOneMax = 256

// oneByte is what the read of one byte brought: files in flight (crrun's
// fds), the sender's credentials (a reader with SO_PASSCRED).
type oneByte struct {
	fds  []int
	cred *unix.Ucred
}

// oneByOne reads bytes one at a time with recvmmsg (a message of one byte
// each, on a stream socket: a read of each): its buffers, kept.
type oneByOne struct {
	hdrs []mmsghdr
	iovs []unix.Iovec
	oob  []byte
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

const oneByteOob = 1024 + 64 // SCM_RIGHTS of 253 fds, SCM_CREDENTIALS, SCM_PIDFD

// read reads len(b) bytes of socket s into b, one by one, in one
// recvmmsg (fewer if fewer are there: an error only if none is).
func (o *oneByOne) read(s int, b []byte) ([]oneByte, error) {
	if o.hdrs == nil {
		o.hdrs = make([]mmsghdr, oneByOneMax)
		o.iovs = make([]unix.Iovec, oneByOneMax)
		o.oob = make([]byte, oneByOneMax*oneByteOob)
	}
	k := min(len(b), oneByOneMax)
	for i := range k {
		o.iovs[i] = unix.Iovec{Base: &b[i], Len: 1}
		o.hdrs[i] = mmsghdr{hdr: unix.Msghdr{Iov: &o.iovs[i], Iovlen: 1, Control: &o.oob[i*oneByteOob], Controllen: oneByteOob}}
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s), uintptr(unsafe.Pointer(&o.hdrs[0])), uintptr(k),
			unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		out := make([]oneByte, 0, r)
		for i := range int(r) {
			h := &o.hdrs[i]
			c := o.oob[i*oneByteOob : i*oneByteOob+int(h.hdr.Controllen)]
			fds := rightsOf(c)
			closePidfds(c)
			if h.len != 1 {
				closeAll(fds)
				for _, x := range out {
					closeAll(x.fds)
				}
				return nil, fmt.Errorf("recvmmsg: message %d of %d bytes, not 1", i, h.len)
			}
			out = append(out, oneByte{fds: fds, cred: credOf(c)})
		}
		if len(out) == 0 {
			return nil, errors.New("recvmmsg: no byte")
		}
		return out, nil
	}
}

// carryCap is the most bytes a sk_buff that carries files in flight on a
// unix stream socket holds on this kernel, measured once: a sendmsg with
// a file cuts its bytes into sk_buffs of at most min(SO_SNDBUF/2 - 64,
// SKB_MAX_HEAD(0) + 32 KiB) (36544 on x86_64, Linux 6.18), the file on the
// first; a peek of such a send ends where the first ends. 0: not known
// (the probe's send buffer was the bound, or it failed).
var carryCap = sync.OnceValue(func() int {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer closeAll(sv[:])
	var pp [2]int
	if unix.Pipe2(pp[:], unix.O_CLOEXEC) != nil {
		return 0
	}
	defer closeAll(pp[:])
	const probe = 1 << 20
	if unix.SetsockoptInt(sv[0], unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, probe) != nil {
		unix.SetsockoptInt(sv[0], unix.SOL_SOCKET, unix.SO_SNDBUF, probe) //nolint:errcheck
	}
	snd, err := unix.GetsockoptInt(sv[0], unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return 0
	}
	b := make([]byte, probe)
	if _, err := unix.SendmsgN(sv[0], b, unix.UnixRights(pp[0]), nil, unix.MSG_DONTWAIT); err != nil {
		return 0
	}
	if unix.SetsockoptInt(sv[1], unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0) != nil {
		return 0
	}
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sv[1], b, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return 0
	}
	fds := rightsOf(oob[:oobn])
	closeAll(fds)
	if len(fds) != 1 || n <= 0 || n >= snd/2-64 {
		return 0 // the send buffer may be what bounded it
	}
	return n
})

// oobReason refuses a byte sent out of band (MSG_OOB) still waiting at a
// unix stream socket: a read stops before it and skips it (or takes it
// inline, SO_OOBINLINE), so neither a peek walk nor the reads of
// drainStream keep it, nor the mark (SIOCATMARK) where it was.
const oobReason = "an out-of-band byte (MSG_OOB) queued at a unix stream socket not supported"

// oobQueued reports an out-of-band byte waiting at unix stream socket fd
// of pid: a peek with MSG_OOB returns it (EINVAL: none; SO_OOBINLINE is
// cleared for the peek and set back).
func oobQueued(pid, fd int) (bool, error) {
	s, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return false, err
	}
	defer unix.Close(s)
	if v, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_OOBINLINE); err == nil && v != 0 {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_OOBINLINE, 0); err != nil {
			return false, fmt.Errorf("SO_OOBINLINE: %w", err)
		}
		defer unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_OOBINLINE, v) //nolint:errcheck
	}
	b := make([]byte, 1)
	for {
		_, _, err = unix.Recvfrom(s, b, unix.MSG_OOB|unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch err {
		case unix.EINTR:
			continue
		case nil:
			return true, nil
		case unix.EINVAL, unix.EOPNOTSUPP, unix.EAGAIN:
			return false, nil
		}
		return false, fmt.Errorf("a peek of its out-of-band byte: %w", err)
	}
}
