package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// pipeObj is a recreated pipe: the two ends pipe2 gave, parked in the main
// process, and whether a saved description took each.
type pipeObj struct {
	rd, wr         uint64
	rdUsed, wrUsed bool
	anchor         bool // a FIFO: rd is an O_RDWR keeper, not an end of the image
}

// sockObj is a recreated socketpair end waiting for its peer's description.
type sockObj struct {
	fd, other uint64 // this end, and the end it is connected to
	used      bool
}

// tfdSetTicks is TFD_IOC_SET_TICKS, _IOW('T', 0, u64).
const tfdSetTicks = 0x40085400

// openFiles creates every open file description of the tree once, in the
// blank main process, on parked fds above every fd number of the image. The
// restorer's stdio is parked first. Every process inherits them all when it
// is cloned, and takes its own with dup3 (placeFiles).
func (t *treeRestorer) openFiles() error {
	r := t.root
	maxfd, n := 2, 0
	synth := -1
	for _, p := range t.procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			maxfd = max(maxfd, f.FD)
			n++
			if f.OFD == 0 && f.Stdio == nil { // an image without OFDs: nothing shared
				f.OFD = synth
				synth--
			}
		}
	}
	t.base = uint64(maxfd + 1)
	need := t.base + 3 + uint64(2*n) + 8
	var lim unix.Rlimit
	if err := unix.Prlimit(r.pid, unix.RLIMIT_NOFILE, nil, &lim); err == nil && lim.Cur < need {
		if lim.Max < need {
			return fmt.Errorf("the image needs fds up to %d, over this machine's hard RLIMIT_NOFILE %d", need, lim.Max)
		}
		lim.Cur = lim.Max
		if err := unix.Prlimit(r.pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
			return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	next := t.base
	for k := 0; k < 3; k++ {
		fd, err := r.inj(r.pid, "fcntl(F_DUPFD_CLOEXEC)", unix.SYS_FCNTL, uint64(k), unix.F_DUPFD_CLOEXEC, next)
		if err != nil {
			return fmt.Errorf("park stdio %d: %w", k, err)
		}
		t.stdio[k] = fd
		next = fd + 1
	}
	// Everything is opened close-on-exec on the first free fd ≥ base: the
	// kernel picks the lowest free number, and 0…base-1 stay as they are.
	if _, err := r.inj(r.pid, "close_range(0, 2)", unix.SYS_CLOSE_RANGE, 0, 2, 0); err != nil {
		return err
	}
	// Fill 0…base-1 with a placeholder so that new fds land above.
	for fd := uint64(0); fd < t.base; fd++ {
		if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, t.stdio[0], fd, unix.O_CLOEXEC); err != nil {
			return err
		}
	}
	pipes := map[uint64]*pipeObj{}
	socks := map[uint64]*sockObj{}
	// Sockets: every one known by inode, and the listeners made first (a
	// connection through a name is made again through its listener).
	t.sockets = map[uint64]*image.Socket{}
	for _, p := range t.procs {
		for i := range p.FDs {
			// The first fd on a socket carries its queue.
			if s := p.FDs[i].Socket; s != nil && t.sockets[s.Inode] == nil {
				t.sockets[s.Inode] = s
			}
		}
	}
	// Sockets whose name another socket may own now first (bindsEarly),
	// then listeners and pty masters, then everything else.
	for _, p := range t.procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			if _, ok := t.ofd[f.OFD]; ok || !bindsEarly(f) {
				continue
			}
			fd, err := t.open(f, pipes, socks)
			if err != nil {
				return fmt.Errorf("pid %d fd %d (%s): %w", p.PID, f.FD, f.Path, err)
			}
			t.ofd[f.OFD] = fd
		}
	}
	for _, p := range t.procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			if (f.Socket == nil || !f.Socket.Listen) && (f.Pty == nil || !f.Pty.Master) {
				continue // listeners and pty masters first
			}
			if _, ok := t.ofd[f.OFD]; ok {
				continue
			}
			fd, err := t.open(f, pipes, socks)
			if err != nil {
				return fmt.Errorf("pid %d fd %d (%s): %w", p.PID, f.FD, f.Path, err)
			}
			t.ofd[f.OFD] = fd
		}
	}
	for _, p := range t.procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			if f.Stdio != nil {
				if k := *f.Stdio; k < 0 || k > 2 {
					return fmt.Errorf("pid %d fd %d: bad stdio index %d", p.PID, f.FD, k)
				}
				continue
			}
			if _, ok := t.ofd[f.OFD]; ok || f.Kind == image.FDPidfd || isDevTty(f) || t.procLater(f) {
				continue // pidfds, /dev/tty and /proc/PID files are opened by their holder (placeFiles)
			}
			fd, err := t.open(f, pipes, socks)
			if err != nil {
				return fmt.Errorf("pid %d fd %d (%s): %w", p.PID, f.FD, f.Path, err)
			}
			t.ofd[f.OFD] = fd
		}
	}
	if err := t.queueDatagrams(); err != nil {
		return err
	}
	if err := t.fillQueues(pipes, socks, false); err != nil {
		return err
	}
	if t.blank != nil {
		// The stand-in for a gone main process exits once the tree is
		// cloned: the sockets are finished now (no message names its
		// sender's credentials then: the checkpoint refuses them).
		if err := t.finishSockets(pipes, socks); err != nil {
			return err
		}
	} else {
		t.sockPipes, t.sockSocks = pipes, socks
	}
	if err := t.unlinkNames(); err != nil {
		return err
	}
	// Pipe ends and socket ends no description of the image had (closed by
	// the app) go now; their data is in the other end already.
	for _, o := range pipes {
		if !o.rdUsed {
			t.anchors = append(t.anchors, o.rd)
		}
		if !o.wrUsed && !o.anchor {
			t.anchors = append(t.anchors, o.wr)
		}
	}
	for _, s := range socks {
		if !s.used {
			t.anchors = append(t.anchors, s.fd)
		}
	}
	for _, fd := range t.anchors {
		if _, err := r.inj(r.pid, "close", unix.SYS_CLOSE, fd); err != nil {
			return err
		}
	}
	// Memfds only mapped (their fds closed), parked like the others.
	if err := t.mappedMemfds(); err != nil {
		return err
	}
	// The stand-ins that made sockets as other pids: those pids are the tree's.
	if err := t.endMakers(); err != nil {
		return err
	}
	// The placeholders.
	_, err := r.inj(r.pid, "close_range", unix.SYS_CLOSE_RANGE, 0, t.base-1, 0)
	return err
}

// open creates one description in the main process and returns its fd.
func (t *treeRestorer) open(f *image.FD, pipes map[uint64]*pipeObj, socks map[uint64]*sockObj) (uint64, error) {
	r := t.root
	r.reset()
	nonblock := uint64(f.Flags) & unix.O_NONBLOCK
	switch f.Kind {
	case image.FDFile, image.FDDir, image.FDDevice:
		if f.File == nil {
			return 0, errors.New("no file identity in the image")
		}
		path := f.File.Path
		if f.Blob != "" || f.File.Deleted {
			var err error
			if path, err = t.deletedPath(f.File, f.Blob); err != nil {
				return 0, err
			}
		}
		a, err := r.putString(path)
		if err != nil {
			return 0, err
		}
		flags := uint64(f.Flags) &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY | unix.O_CLOEXEC)
		fd, err := r.inj(r.pid, "openat("+path+")", unix.SYS_OPENAT, atFdcwd, a, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		// A directory's position is where getdents goes on (a cookie of
		// its file system: tmpfs's is an entry index, past the end
		// LLONG_MAX); it was left at 0, and the next readdir started over.
		if (f.Kind == image.FDFile || f.Kind == image.FDDir) && f.Pos != 0 {
			if _, err := r.inj(r.pid, "lseek", unix.SYS_LSEEK, fd, uint64(f.Pos), unix.SEEK_SET); err != nil {
				return 0, err
			}
		}
		return fd, nil
	case image.FDMqueue:
		// The queue was recreated by crrun's init in the app's IPC
		// namespace (supervisor/ipcns.go); opened by its name, which the
		// syscall takes without the leading "/" (always close-on-exec).
		name := strings.TrimPrefix(f.Path, "/")
		if name == "" || strings.Contains(name, "/") {
			return 0, fmt.Errorf("bad POSIX message queue name %q", f.Path)
		}
		a, err := r.putString(name)
		if err != nil {
			return 0, err
		}
		return r.inj(r.pid, "mq_open("+f.Path+")", unix.SYS_MQ_OPEN, a, uint64(f.Flags)&(unix.O_ACCMODE|unix.O_NONBLOCK), 0, 0)
	case image.FDEpoll:
		return r.inj(r.pid, "epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
	case image.FDEventfd:
		if f.Eventfd == nil {
			return 0, errors.New("no eventfd state in the image")
		}
		fl := uint64(unix.EFD_CLOEXEC) | nonblock
		if f.Eventfd.Semaphore {
			fl |= unix.EFD_SEMAPHORE
		}
		fd, err := r.inj(r.pid, "eventfd2", unix.SYS_EVENTFD2, 0, fl)
		if err != nil {
			return 0, err
		}
		if f.Eventfd.Count != 0 {
			a, err := r.put(binary.LittleEndian.AppendUint64(nil, f.Eventfd.Count))
			if err != nil {
				return 0, err
			}
			if _, err := r.inj(r.pid, "write(eventfd)", unix.SYS_WRITE, fd, a, 8); err != nil {
				return 0, fmt.Errorf("counter %d: %w", f.Eventfd.Count, err)
			}
		}
		return fd, nil
	case image.FDPipe, image.FDFIFO:
		if f.File != nil && f.File.Deleted { // a deleted FIFO: opened at its recreated name
			path, err := t.deletedPath(f.File, "")
			if err != nil {
				return 0, err
			}
			g, id := *f, *f.File
			id.Path, g.File = path, &id
			return t.openPipe(&g, pipes)
		}
		return t.openPipe(f, pipes)
	case image.FDTimerfd:
		tf := f.Timerfd
		if tf == nil {
			return 0, errors.New("no timerfd state in the image")
		}
		fd, err := r.inj(r.pid, "timerfd_create", unix.SYS_TIMERFD_CREATE, uint64(tf.Clock), unix.TFD_CLOEXEC|nonblock)
		if err != nil {
			return 0, err
		}
		if tf.ValueNS != 0 || tf.IntervalNS != 0 || tf.Ticks != 0 {
			// Armed at the end of the restore (armTimerfds), through
			// crrun's copy of the description: armed now, it would
			// count the restore's own time as expirations.
			c, err := r.getfd(fd)
			if err != nil {
				return 0, err
			}
			t.timerfds = append(t.timerfds, parkedTimerfd{fd: c, tf: tf})
		}
		return fd, nil
	case image.FDSignalfd:
		if f.Signalfd == nil {
			return 0, errors.New("no signalfd state in the image")
		}
		a, err := r.put(le64(uint64(f.Signalfd.Mask)))
		if err != nil {
			return 0, err
		}
		return r.inj(r.pid, "signalfd4", unix.SYS_SIGNALFD4, ^uint64(0), a, 8, unix.SFD_CLOEXEC|nonblock)
	case image.FDMemfd:
		return t.openMemfd(f)
	case image.FDInotify:
		return t.openInotify(f)
	case image.FDPty:
		if f.Pty == nil {
			return 0, errNoPty
		}
		if f.Pty.Master {
			return t.openPtyMaster(f)
		}
		return t.openPtySlave(f)
	case image.FDUnix:
		return t.openSocket(f, socks)
	case image.FDInet:
		return t.openInet(f)
	case image.FDNetlink:
		return t.openNetlink(f)
	case image.FDRaw:
		return t.openRaw(f)
	case image.FDPing:
		return t.openPing(f) // ping.go
	case image.FDPacket:
		return t.openPacket(f) // packet.go
	}
	return 0, fmt.Errorf("CR: restoring %s fds not supported yet", f.Kind)
}

// openPipe gives a pipe end: from pipe2 (or, for a FIFO, from its path) the
// first time, reopened through /proc/self/fd for any further description of
// the same end. The end that carries the pipe's state sets its size and
// writes its buffered bytes.
func (t *treeRestorer) openPipe(f *image.FD, pipes map[uint64]*pipeObj) (uint64, error) {
	r := t.root
	if f.Pipe == nil {
		return 0, errors.New("no pipe state in the image")
	}
	o := pipes[f.Pipe.Inode]
	if o == nil {
		o = &pipeObj{}
		if f.Kind == image.FDFIFO {
			if f.File == nil {
				return 0, errors.New("a FIFO without a path")
			}
			a, err := r.putString(f.File.Path)
			if err != nil {
				return 0, err
			}
			// O_RDWR never waits for the other side: a keeper for the FIFO.
			if o.rd, err = r.inj(r.pid, "openat("+f.File.Path+")", unix.SYS_OPENAT, atFdcwd, a,
				unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
				return 0, err
			}
			o.wr, o.anchor = o.rd, true
		} else {
			a, err := r.put(make([]byte, 8))
			if err != nil {
				return 0, err
			}
			if _, err := r.inj(r.pid, "pipe2", unix.SYS_PIPE2, a, unix.O_CLOEXEC|uint64(f.Flags)&unix.O_DIRECT); err != nil {
				return 0, err
			}
			b := make([]byte, 8)
			if err := ptrace.ReadMem(r.pid, uintptr(a), b); err != nil {
				return 0, err
			}
			o.rd, o.wr = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[4:]))
		}
		pipes[f.Pipe.Inode] = o
		if f.Pipe.Size > 0 || f.Pipe.Data != "" {
			if err := t.fillPipe(o.wr, f.Pipe); err != nil {
				return 0, err
			}
		}
	}
	write := f.Flags&unix.O_ACCMODE != unix.O_RDONLY
	var fd uint64
	var err error
	switch {
	case !write && !o.rdUsed && !o.anchor:
		fd, o.rdUsed = o.rd, true
	case write && !o.wrUsed && !o.anchor:
		fd, o.wrUsed = o.wr, true
	default:
		path := fmt.Sprintf("/proc/self/fd/%d", o.rd)
		if f.Kind == image.FDFIFO {
			path = f.File.Path
		}
		r.reset()
		a, err := r.putString(path)
		if err != nil {
			return 0, err
		}
		mode := uint64(f.Flags) & unix.O_ACCMODE
		if fd, err = r.inj(r.pid, "openat("+path+")", unix.SYS_OPENAT, atFdcwd, a, mode|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			return 0, err
		}
	}
	// Status flags (O_NONBLOCK…) as saved.
	if _, err = r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}

// fillPipe sets a pipe's size and writes its saved bytes, through a copy of
// the write end in crrun.
func (t *treeRestorer) fillPipe(wr uint64, st *image.Pipe) error {
	c, err := t.root.getfd(wr)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	if st.Size > 0 {
		if _, err := unix.FcntlInt(uintptr(c), unix.F_SETPIPE_SZ, st.Size); err != nil {
			return fmt.Errorf("F_SETPIPE_SZ(%d): %w", st.Size, err)
		}
	}
	if st.Data == "" {
		return nil
	}
	return t.copyBlob(c, st.Data)
}

// copyBlob writes a blob of the image to fd (a pipe or socket of the app,
// lent to crrun).
func (t *treeRestorer) copyBlob(fd int, name string) error {
	b, err := t.req.Image.OpenBlob(name)
	if err != nil {
		return err
	}
	defer b.Close()
	// Not an *os.File: its finalizer would close fd, which the caller
	// owns, at some later garbage collection, whatever the number names
	// by then (seen: the verifier's read of /proc/PID/stat failing EBADF).
	_, err = io.Copy(onlyWriter(fd), b)
	return err
}

type onlyWriter int

func (w onlyWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// openSocket recreates an AF_UNIX socketpair when its first end comes, and
// gives the second end when its peer comes. The bytes queued at an end are
// written into the other.
func (t *treeRestorer) openSocket(f *image.FD, socks map[uint64]*sockObj) (uint64, error) {
	r := t.root
	s := f.Socket
	if s == nil {
		return 0, errors.New("no socket state in the image")
	}
	if t.sockFd == nil {
		t.sockFd, t.peerFd = map[uint64]uint64{}, map[uint64]uint64{}
	}
	stream := len(s.Msgs) == 0 // Data is a stream's bytes, else fillQueues sends the messages
	var fd uint64
	made := false
	if fd0, ok := t.sockFd[s.Inode]; ok {
		fd, made = fd0, true // a connection waiting in a backlog, made with its listener
	} else if s.Listen || s.Peer == 0 && !s.PeerGone {
		var err error
		if fd, err = t.unconnected(s); err != nil {
			return 0, err
		}
	} else if o := socks[s.Inode]; o != nil {
		o.used = true
		fd = o.fd
		t.peerFd[s.Inode] = o.other
		if s.Data != "" && stream { // queued here: sent by the other end
			if err := t.sendTo(o.other, s.Data); err != nil {
				return 0, err
			}
		}
	} else if peer := t.sockets[s.Peer]; s.Name != "" || peer != nil && peer.Name != "" {
		// A connection made through a name: made again the same way, so
		// that both ends have their addresses back.
		var err error
		if fd, err = t.connectPair(s, peer, socks); err != nil {
			return 0, err
		}
	} else {
		b := make([]byte, 8)
		err := t.asCred(s.PeerCred, "socketpair(AF_UNIX)", func(mk *restorer) error {
			mk.reset()
			a, err := mk.put(make([]byte, 8))
			if err != nil {
				return err
			}
			if _, err := mk.inj(mk.pid, "socketpair(AF_UNIX)", unix.SYS_SOCKETPAIR, unix.AF_UNIX, uint64(s.Type)|unix.SOCK_CLOEXEC, 0, a); err != nil {
				return err
			}
			return ptrace.ReadMem(mk.pid, uintptr(a), b)
		})
		if err != nil {
			return 0, err
		}
		fd = uint64(binary.LittleEndian.Uint32(b))
		peer := uint64(binary.LittleEndian.Uint32(b[4:]))
		key := s.Peer
		if s.PeerGone {
			key = ^s.Inode // no holder: closed with the unused ends
		}
		socks[key] = &sockObj{fd: peer, other: fd}
		t.peerFd[s.Inode] = peer
		if s.Data != "" && stream {
			if err := t.sendTo(peer, s.Data); err != nil {
				return 0, err
			}
		}
	}
	t.sockFd[s.Inode] = fd
	if s.Shutdown != 0 { // once every socket has its bytes (shutdownSockets)
		t.shutdowns = append(t.shutdowns, sockShutdown{fd, s.Shutdown})
	}
	if !made {
		if err := t.sockOpts(fd, s); err != nil {
			return 0, err
		}
	}
	if s.Listen {
		if err := t.pendingConns(s); err != nil {
			return 0, err
		}
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}

// sendTo writes a blob into a socket end of the main process.
func (t *treeRestorer) sendTo(fd uint64, blob string) error {
	c, err := t.root.getfd(fd)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	return t.copyBlob(c, blob)
}

// placeFiles builds the process's fd table from the parked descriptions:
// everything below the parked range is closed, then each saved fd is a dup3
// of its description (or of the restorer's stdio); epoll interest lists are
// filled once their targets exist.
func (r *restorer) placeFiles() error {
	t := r.t
	if _, err := r.inj(r.pid, "close_range", unix.SYS_CLOSE_RANGE, 0, t.base-1, 0); err != nil {
		return err
	}
	for i := range r.p.FDs {
		f := &r.p.FDs[i]
		src, ok := uint64(0), false
		if f.Stdio != nil {
			src, ok = t.stdio[*f.Stdio], true
		} else if t.procLater(f) {
			if err := r.openProcLater(f); err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
			continue
		} else if f.Pidfd != nil || isDevTty(f) {
			// Opened by the process itself: a pidfd now that its target
			// exists, /dev/tty now that the process has its controlling
			// terminal (it names whichever that is).
			var pfd uint64
			var err error
			if f.Pidfd != nil {
				fl := uint64(f.Flags) & unix.O_NONBLOCK
				pfd, err = r.inj(r.pid, fmt.Sprintf("pidfd_open(%d)", f.Pidfd.Pid), unix.SYS_PIDFD_OPEN, uint64(f.Pidfd.Pid), fl)
			} else {
				r.reset()
				a, perr := r.putString("/dev/tty")
				if perr != nil {
					return perr
				}
				pfd, err = r.inj(r.pid, "openat(/dev/tty)", unix.SYS_OPENAT, atFdcwd, a,
					uint64(f.Flags)&(unix.O_ACCMODE|unix.O_NONBLOCK|unix.O_APPEND)|unix.O_CLOEXEC, 0)
			}
			if err != nil {
				return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
			}
			if pfd != uint64(f.FD) {
				if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, pfd, uint64(f.FD), cloexecFlag(f)); err != nil {
					return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
				}
				if _, err := r.inj(r.pid, "close", unix.SYS_CLOSE, pfd); err != nil {
					return err
				}
			} else if !f.Cloexec {
				if _, err := r.inj(r.pid, "fcntl(F_SETFD)", unix.SYS_FCNTL, pfd, unix.F_SETFD, 0); err != nil {
					return err
				}
			}
			continue
		} else {
			src, ok = t.ofd[f.OFD]
		}
		if !ok {
			return fmt.Errorf("fd %d (%s): its description was not created", f.FD, f.Path)
		}
		if _, err := r.inj(r.pid, "dup3", unix.SYS_DUP3, src, uint64(f.FD), cloexecFlag(f)); err != nil {
			return fmt.Errorf("fd %d (%s): %w", f.FD, f.Path, err)
		}
	}
	for i := range r.p.FDs {
		f := &r.p.FDs[i]
		if f.Epoll == nil || t.epollDone(f.OFD) {
			continue
		}
		for _, tg := range f.Epoll.Targets {
			r.reset()
			ev := binary.LittleEndian.AppendUint32(nil, uint32(tg.Events)) // struct epoll_event is packed on x86_64
			ev = binary.LittleEndian.AppendUint64(ev, uint64(tg.Data))
			a, err := r.put(ev)
			if err != nil {
				return err
			}
			if tg.OFD != 0 {
				if err := r.epollAddAs(f, tg, a); err != nil {
					return fmt.Errorf("fd %d (epoll): watch fd %d: %w", f.FD, tg.FD, err)
				}
				continue
			}
			if _, err := r.inj(r.pid, "epoll_ctl(ADD)", unix.SYS_EPOLL_CTL, uint64(f.FD), unix.EPOLL_CTL_ADD, uint64(tg.FD), a); err != nil {
				return fmt.Errorf("fd %d (epoll): watch fd %d: %w", f.FD, tg.FD, err)
			}
		}
	}
	return nil
}

// epollDone reports whether the epoll description's interest list was
// filled already (by another process sharing it), and marks it.
func (t *treeRestorer) epollDone(ofd int) bool {
	if t.epolls == nil {
		t.epolls = map[int]bool{}
	}
	done := t.epolls[ofd]
	t.epolls[ofd] = true
	return done
}

// closeParked closes the parked descriptions the process inherited.
func (r *restorer) closeParked() error {
	_, err := r.inj(r.pid, "close_range(parked)", unix.SYS_CLOSE_RANGE, r.t.base, ^uint64(0)>>32, 0)
	return err
}

func cloexecFlag(f *image.FD) uint64 {
	if f.Cloexec {
		return unix.O_CLOEXEC
	}
	return 0
}

// openInotify recreates an inotify instance with its watches under the same
// watch descriptors. The kernel hands them out cyclically (the next after
// the last one given), so a gap is skipped by adding and removing a watch on
// "/".
func (t *treeRestorer) openInotify(f *image.FD) (uint64, error) {
	r := t.root
	if f.Inotify == nil {
		return 0, errors.New("no inotify state in the image")
	}
	fd, err := r.inj(r.pid, "inotify_init1", unix.SYS_INOTIFY_INIT1, unix.IN_CLOEXEC|uint64(f.Flags)&unix.O_NONBLOCK)
	if err != nil {
		return 0, err
	}
	next := 1
	for _, w := range f.Inotify.Watches {
		if w.WD < next {
			return 0, fmt.Errorf("watch descriptors out of order (%d after %d)", w.WD, next-1)
		}
		r.reset()
		root, err := r.putString("/")
		if err != nil {
			return 0, err
		}
		for ; next < w.WD; next++ {
			wd, err := r.inj(r.pid, "inotify_add_watch(/)", unix.SYS_INOTIFY_ADD_WATCH, fd, root, unix.IN_ACCESS)
			if err != nil {
				return 0, err
			}
			if _, err := r.inj(r.pid, "inotify_rm_watch", unix.SYS_INOTIFY_RM_WATCH, fd, wd); err != nil {
				return 0, err
			}
		}
		a, err := r.putString(w.Path)
		if err != nil {
			return 0, err
		}
		mask := uint64(w.Mask) &^ (unix.IN_MASK_ADD | 0x10000000) // IN_MASK_CREATE
		wd, err := r.inj(r.pid, "inotify_add_watch("+w.Path+")", unix.SYS_INOTIFY_ADD_WATCH, fd, a, mask)
		if err != nil {
			return 0, fmt.Errorf("watch %d on %s: %w", w.WD, w.Path, err)
		}
		if int(wd) != w.WD {
			return 0, fmt.Errorf("watch on %s got descriptor %d, not %d (the same file watched twice?)", w.Path, wd, w.WD)
		}
		next = w.WD + 1
	}
	// Each removed stand-in watch queued an IN_IGNORED (and "/" may have
	// been read meanwhile): events the app never had, read away here
	// (queued events refuse a checkpoint, so the image has none).
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	buf := make([]byte, 64<<10)
	for {
		pfd := []unix.PollFd{{Fd: int32(c), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err != nil || n == 0 {
			break
		}
		if n, err := unix.Read(c, buf); err != nil || n <= 0 {
			break
		}
	}
	return fd, nil
}

// isDevTty reports an fd on /dev/tty (5:0), which means "my controlling
// terminal" and must be opened by the process that holds it.
func isDevTty(f *image.FD) bool {
	return f.Kind == image.FDDevice && f.Stdio == nil && f.File != nil && f.File.Path == "/dev/tty"
}

// parkedTimerfd is crrun's copy of a restored timerfd, armed last.
type parkedTimerfd struct {
	fd int
	tf *image.Timerfd
}

// armTimerfds arms every restored timerfd with its time left and interval
// and its settime flags, then gives it its unread expirations
// (TFD_IOC_SET_TICKS: timerfd_settime resets them), as the last step before
// the verification, so that the restore's own duration is not counted as
// expirations. A relative timer is armed with its time left (the clock's
// namespace does not matter); an absolute one (TFD_TIMER_ABSTIME) on a wall
// clock at its saved deadline, on another clock at crrun's now plus its time
// left (the app's clock resumes where it stopped), with the same flags
// (TFD_TIMER_CANCEL_ON_SET too), which fdinfo shows.
func (t *treeRestorer) armTimerfds() error {
	defer t.closeTimerfds()
	for _, p := range t.timerfds {
		tf := p.tf
		if tf.ValueNS != 0 || tf.IntervalNS != 0 || tf.SettimeFlags != 0 {
			value := tf.ValueNS
			if value < 0 || value == 0 && tf.IntervalNS != 0 {
				value = 1 // due: fire at once
			}
			if value != 0 && tf.SettimeFlags&unix.TFD_TIMER_ABSTIME != 0 {
				if tf.DeadlineNS != 0 {
					value = tf.DeadlineNS
				} else {
					var now unix.Timespec
					if err := unix.ClockGettime(int32(tf.Clock), &now); err != nil {
						return fmt.Errorf("clock_gettime(%d): %w", tf.Clock, err)
					}
					value += now.Nano()
				}
			}
			spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(tf.IntervalNS), Value: unix.NsecToTimespec(value)}
			if err := unix.TimerfdSettime(p.fd, tf.SettimeFlags, &spec, nil); err != nil {
				return fmt.Errorf("timerfd_settime(flags %#x): %w", tf.SettimeFlags, err)
			}
		}
		if tf.Ticks != 0 {
			ticks := tf.Ticks
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), tfdSetTicks, uintptr(unsafe.Pointer(&ticks))); e != 0 {
				return fmt.Errorf("TFD_IOC_SET_TICKS(%d): %w", ticks, e)
			}
		}
	}
	return nil
}

func (t *treeRestorer) closeTimerfds() {
	for _, p := range t.timerfds {
		unix.Close(p.fd)
	}
	t.timerfds = nil
}
