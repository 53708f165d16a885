package sysvipc

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// POSIX message queues live in the IPC namespace's mqueue file system,
// which the app need not have mounted: the init reaches it by a mount of
// its own that is attached nowhere (fsopen, fsmount), so the app never
// sees it.

// mqueueRoot returns an fd of the root of this IPC namespace's mqueue
// file system.
func mqueueRoot() (int, error) {
	fsfd, err := unix.Fsopen("mqueue", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen(mqueue): %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig(mqueue, CREATE): %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount(mqueue): %w", err)
	}
	defer unix.Close(mfd)
	// The mount's fd is a path only: open its root to list it.
	root, err := unix.Openat(mfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the mqueue file system's root: %w", err)
	}
	return root, nil
}

// mqAttr is struct mq_attr.
type mqAttr struct {
	Flags, MaxMsg, MsgSize, CurMsgs int64
	_                               [4]int64
}

// past is an absolute CLOCK_REALTIME timeout already past: a receive
// from an empty queue fails at once (ETIMEDOUT) whatever the fd's
// O_NONBLOCK.
var past = unix.Timespec{}

// takeMqueues reads every queue: name, mode, owner, limits, and its
// messages, received and sent again in the same order (the app is frozen:
// a receive is the only way to read one). A queue with a notification
// registered (mq_notify) or full (a sender may be blocked, whose message
// a receive would let in) is refused.
func takeMqueues(d *Dump) error {
	root, err := mqueueRoot()
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(root), "mqueue")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list the mqueue file system: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		q := image.Mqueue{Name: name}
		fd, err := unix.Openat(root, name, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open queue /%s: %w", name, err)
		}
		err = takeMqueue(fd, &q, d)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("queue /%s: %w", name, err)
		}
		d.IPC.Mqueues = append(d.IPC.Mqueues, q)
	}
	return nil
}

func takeMqueue(fd int, q *image.Mqueue, d *Dump) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	q.Mode, q.UID, q.GID = image.Octal(st.Mode&0o7777), st.Uid, st.Gid
	// The file's text: QSIZE:n NOTIFY:n SIGNO:n NOTIFY_PID:n
	buf := make([]byte, 256)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("read its state: %w", err)
	}
	info := strings.Fields(strings.NewReplacer(":", " ").Replace(string(buf[:n])))
	for i := 0; i+1 < len(info); i += 2 {
		if info[i] == "NOTIFY_PID" && info[i+1] != "0" {
			// Not read: a message sent back into the emptied queue
			// would fire the notification.
			d.Refused = append(d.Refused, fmt.Sprintf("CR: POSIX message queue /%s: a notification (mq_notify) registered by pid %s not supported yet", q.Name, info[i+1]))
			return nil
		}
	}
	var a mqAttr
	if _, _, e := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), 0, uintptr(unsafe.Pointer(&a))); e != 0 {
		return fmt.Errorf("mq_getattr: %w", e)
	}
	q.MaxMsg, q.MsgSize = a.MaxMsg, a.MsgSize
	if a.CurMsgs >= a.MaxMsg {
		d.Refused = append(d.Refused, fmt.Sprintf("CR: POSIX message queue /%s is full (%d messages): a sender may be blocked on it, whose message reading the queue would let in; not supported yet", q.Name, a.CurMsgs))
		return nil
	}
	if a.CurMsgs == 0 {
		return nil
	}
	var texts []byte
	msg := make([]byte, a.MsgSize)
	for {
		var prio uint32
		n, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)),
			uintptr(unsafe.Pointer(&prio)), uintptr(unsafe.Pointer(&past)), 0)
		if e == unix.ETIMEDOUT || e == unix.EAGAIN {
			break
		}
		if e != 0 {
			return fmt.Errorf("mq_timedreceive: %w", e)
		}
		q.Messages = append(q.Messages, image.MqueueMessage{Prio: prio, Size: int(n)})
		texts = append(texts, msg[:n]...)
	}
	// Back in, in the order received: the same order for the next receiver.
	if err := sendAll(fd, q, texts); err != nil {
		return fmt.Errorf("put its messages back (the app's queue may have lost them): %w", err)
	}
	if len(q.Messages) != int(a.CurMsgs) {
		return fmt.Errorf("%d messages read, %d queued", len(q.Messages), a.CurMsgs)
	}
	q.Blob = fmt.Sprintf("mqueue-%d", len(d.IPC.Mqueues)) // names may be longer than a blob's
	q.SHA256 = sum(texts)
	if d.MqTexts == nil {
		d.MqTexts = map[string][]byte{}
	}
	d.MqTexts[q.Name] = texts
	return nil
}

func sendAll(fd int, q *image.Mqueue, texts []byte) error {
	for i, m := range q.Messages {
		if m.Size > len(texts) {
			return fmt.Errorf("message %d: %d bytes, %d left", i, m.Size, len(texts))
		}
		var p uintptr
		if m.Size > 0 {
			p = uintptr(unsafe.Pointer(&texts[0]))
		}
		if _, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), p, uintptr(m.Size), uintptr(m.Prio), uintptr(unsafe.Pointer(&past)), 0); e != 0 {
			return fmt.Errorf("message %d (priority %d, %d bytes): %w", i, m.Prio, m.Size, e)
		}
		texts = texts[m.Size:]
	}
	if len(texts) != 0 {
		return fmt.Errorf("%d bytes of texts left over", len(texts))
	}
	return nil
}

// createMqueues makes every queue again: mq_open(O_CREAT|O_EXCL) with its
// limits, its mode and owner, its messages.
func createMqueues(qs []image.Mqueue, texts map[string][]byte) error {
	for _, q := range qs {
		if q.Name == "" || strings.ContainsRune(q.Name, '/') || q.Name == "." || q.Name == ".." {
			return fmt.Errorf("bad queue name %q", q.Name)
		}
		name, err := unix.BytePtrFromString(q.Name)
		if err != nil {
			return fmt.Errorf("queue name %q: %w", q.Name, err)
		}
		a := mqAttr{MaxMsg: q.MaxMsg, MsgSize: q.MsgSize}
		fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC,
			0o600, uintptr(unsafe.Pointer(&a)), 0, 0)
		runtime.KeepAlive(name)
		if e != 0 {
			return fmt.Errorf("create queue /%s (%d messages of %d bytes): %w", q.Name, q.MaxMsg, q.MsgSize, e)
		}
		err = func() error {
			if err := unix.Fchown(int(fd), int(q.UID), int(q.GID)); err != nil {
				return fmt.Errorf("owner %d:%d: %w", q.UID, q.GID, err)
			}
			if err := unix.Fchmod(int(fd), uint32(q.Mode)); err != nil {
				return fmt.Errorf("mode %o: %w", uint32(q.Mode), err)
			}
			return sendAll(int(fd), &q, texts[q.Name])
		}()
		unix.Close(int(fd))
		if err != nil {
			return fmt.Errorf("queue /%s: %w", q.Name, err)
		}
	}
	return nil
}
