package procfs

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind classifies an open file descriptor by what its /proc/PID/fd link and, for
// paths, stat(2) and statfs(2) show.
type Kind int

// The kinds of file descriptors.
const (
	KindUnknown     Kind = iota // a link this package does not recognise
	KindFile                    // a regular file (or anything else opened by path)
	KindDir                     // a directory
	KindDevice                  // a character or block device; see FdEntry.Rdev
	KindFIFO                    // a named pipe opened by path
	KindSocket                  // "socket:[ino]"; see FdEntry.Family
	KindPipe                    // "pipe:[ino]"
	KindEventpoll               // "anon_inode:[eventpoll]"
	KindEventfd                 // "anon_inode:[eventfd]"
	KindTimerfd                 // "anon_inode:[timerfd]"
	KindSignalfd                // "anon_inode:[signalfd]"
	KindInotify                 // "anon_inode:inotify"
	KindFanotify                // "anon_inode:[fanotify]"
	KindIoUring                 // "anon_inode:[io_uring]"
	KindBpf                     // "anon_inode:bpf-map", "bpf-prog", "bpf_link", "bpf_iter"...
	KindUserfaultfd             // "anon_inode:[userfaultfd]"
	KindPerfEvent               // "anon_inode:[perf_event]"
	KindPidfd                   // "anon_inode:[pidfd]" (pidfs still names it so)
	KindMemfd                   // "/memfd:NAME (deleted)"
	KindSecretmem               // "/secretmem (deleted)" from memfd_secret
	KindMqueue                  // a POSIX message queue (statfs says mqueue)
	KindNamespace               // "net:[ino]", "mnt:[ino]"… from opening /proc/PID/ns/*
	KindAnonInode               // any other "anon_inode:NAME"
)

var kindNames = [...]string{
	KindUnknown:     "unknown",
	KindFile:        "file",
	KindDir:         "directory",
	KindDevice:      "device",
	KindFIFO:        "fifo",
	KindSocket:      "socket",
	KindPipe:        "pipe",
	KindEventpoll:   "epoll",
	KindEventfd:     "eventfd",
	KindTimerfd:     "timerfd",
	KindSignalfd:    "signalfd",
	KindInotify:     "inotify",
	KindFanotify:    "fanotify",
	KindIoUring:     "io_uring",
	KindBpf:         "bpf",
	KindUserfaultfd: "userfaultfd",
	KindPerfEvent:   "perf_event",
	KindPidfd:       "pidfd",
	KindMemfd:       "memfd",
	KindSecretmem:   "secretmem",
	KindMqueue:      "mqueue",
	KindNamespace:   "namespace",
	KindAnonInode:   "anon_inode",
}

// String returns the kind's name as NOCR reasons use it ("epoll", "eventfd").
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Filesystem magics (statfs f_type) not in x/sys/unix.
const mqueueMagic = 0x19800202

// FdEntry is one open file descriptor of a process.
type FdEntry struct {
	Num    int
	Target string // the link as readlink(2) returns it
	Kind   Kind
	// Path is the target without a " (deleted)" suffix, for fds with a path
	// (files, directories, devices, FIFOs, memfds as "/memfd:NAME", mqueues).
	Path    string
	Deleted bool // the target ended in " (deleted)"
	// Inode is the inode number: from the link for sockets, pipes and namespaces,
	// from stat(2) for fds with a path; 0 for anonymous inodes.
	Inode uint64
	// Stat results, for fds with a path only.
	Dev    Dev    // st_dev
	Rdev   Dev    // st_rdev, for KindDevice
	Mode   uint32 // st_mode
	Size   int64
	Nlink  uint64
	FsType int64 // statfs f_type (unix.TMPFS_MAGIC, unix.PROC_SUPER_MAGIC...)
	// AnonName is what follows "anon_inode:" ("[eventpoll]", "bpf-map").
	AnonName string
	// Family and SocketProto describe a socket, from its "system.sockprotoname"
	// xattr ("TCP", "TCPv6", "UNIX-STREAM", "NETLINK").
	Family      Family
	SocketProto string
}

// IsCharDevice reports whether a KindDevice fd is a character device.
func (e *FdEntry) IsCharDevice() bool { return e.Mode&unix.S_IFMT == unix.S_IFCHR }

// MemfdName returns NAME for a memfd ("/memfd:NAME (deleted)").
func (e *FdEntry) MemfdName() string {
	if e.Kind != KindMemfd {
		return ""
	}
	return strings.TrimPrefix(e.Path, "/memfd:")
}

// Fds lists the open file descriptors of a process, sorted by number. An fd closed
// while the list is read is left out, so call it on a stopped process for a
// consistent answer. Cost per fd: one readlink, plus a stat for fds with a path,
// a statfs per distinct filesystem, and a getxattr per socket.
func (f FS) Fds(pid int) ([]FdEntry, error) {
	dir := f.pidPath(pid, "fd")
	nums, err := readDirInts(dir, nil)
	if err != nil {
		return nil, err
	}
	slices.Sort(nums)
	out := make([]FdEntry, 0, len(nums))
	fsTypes := map[uint64]int64{}
	pb := make([]byte, 0, len(dir)+16)
	pb = append(pb, dir...)
	pb = append(pb, '/')
	skipped := false
	for _, n := range nums {
		p := string(strconv.AppendInt(pb, int64(n), 10))
		e, err := fdEntry(p, n, fsTypes)
		if err != nil {
			if isNotExist(err) {
				skipped = true // closed meanwhile, or the process is gone
				continue
			}
			return nil, err
		}
		out = append(out, e)
	}
	if skipped {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return nil, pathErr("stat", dir, err)
		}
	}
	return out, nil
}

// Fds lists the open file descriptors of a process with the default FS.
func Fds(pid int) ([]FdEntry, error) { return FS{}.Fds(pid) }

// Fd describes one open file descriptor of a process.
func (f FS) Fd(pid, fd int) (FdEntry, error) {
	return fdEntry(f.pidPath(pid, "fd/"+strconv.Itoa(fd)), fd, nil)
}

// Fd describes one open file descriptor of a process with the default FS.
func Fd(pid, fd int) (FdEntry, error) { return FS{}.Fd(pid, fd) }

// fdEntry reads and classifies the fd whose magic link is at path.
func fdEntry(path string, num int, fsTypes map[uint64]int64) (FdEntry, error) {
	target, err := readlink(path)
	if err != nil {
		return FdEntry{}, err
	}
	e := FdEntry{Num: num, Target: target}
	classifyTarget(&e)
	switch e.Kind {
	case KindSocket:
		e.SocketProto, err = sockProtoName(path)
		if err != nil {
			return FdEntry{}, err
		}
		e.Family = familyFromProto(e.SocketProto)
		return e, nil
	case KindFile, KindMemfd, KindSecretmem: // a path: stat it below
	default:
		return e, nil
	}
	// A path: stat through the magic link reaches the open file itself, even when
	// deleted or outside our mount namespace.
	var st unix.Stat_t
	if err := statRetry(path, &st); err != nil {
		return FdEntry{}, err
	}
	e.Inode, e.Dev, e.Mode, e.Size, e.Nlink = st.Ino, DevFromStat(st.Dev), st.Mode, st.Size, st.Nlink
	fsType, ok := fsTypes[st.Dev]
	if !ok {
		var sfs unix.Statfs_t
		if err := statfsRetry(path, &sfs); err != nil {
			return FdEntry{}, err
		}
		fsType = sfs.Type
		if fsTypes != nil {
			fsTypes[st.Dev] = fsType
		}
	}
	e.FsType = fsType
	if e.Kind != KindFile {
		return e, nil // memfd, secretmem
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.Kind = KindDir
	case unix.S_IFCHR, unix.S_IFBLK:
		e.Kind = KindDevice
		e.Rdev = DevFromStat(st.Rdev)
	case unix.S_IFIFO:
		e.Kind = KindFIFO
	default:
		e.Kind = KindFile
		if fsType == mqueueMagic {
			e.Kind = KindMqueue
		}
	}
	return e, nil
}

func statRetry(path string, st *unix.Stat_t) error {
	for {
		err := unix.Stat(path, st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pathErr("stat", path, err)
		}
		return nil
	}
}

func statfsRetry(path string, st *unix.Statfs_t) error {
	for {
		err := unix.Statfs(path, st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pathErr("statfs", path, err)
		}
		return nil
	}
}

// sockProtoName reads the "system.sockprotoname" xattr that sockfs gives every
// socket inode: the protocol's name ("TCP", "UDPv6", "UNIX-STREAM"). Unlike
// /proc/net/*, it also answers for sockets that were never bound or connected,
// which are in no table. "" when the kernel has no such xattr.
func sockProtoName(path string) (string, error) {
	var buf [64]byte
	for {
		n, err := unix.Getxattr(path, "system.sockprotoname", buf[:])
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ERANGE):
			return "", nil
		case err != nil:
			return "", pathErr("getxattr", path, err)
		}
		b := buf[:n]
		if i := indexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b), nil
	}
}

// classifyTarget sets Kind, Path, Deleted, Inode and AnonName from the link alone.
// Fds with a path are left as KindFile for stat to refine.
func classifyTarget(e *FdEntry) {
	t := e.Target
	if name, ok := strings.CutPrefix(t, "anon_inode:"); ok {
		e.AnonName = name
		e.Kind = anonKind(name)
		return
	}
	if strings.HasPrefix(t, "/") {
		p, deleted := strings.CutSuffix(t, deletedSuffix)
		e.Path, e.Deleted = p, deleted
		switch {
		case deleted && strings.HasPrefix(p, "/memfd:"):
			e.Kind = KindMemfd
		case deleted && p == "/secretmem":
			e.Kind = KindSecretmem
		default:
			e.Kind = KindFile
		}
		return
	}
	// "type:[inode]": sockets, pipes, namespaces (and pidfs on kernels that name
	// pidfds "pidfd:[ino]").
	colon := strings.IndexByte(t, ':')
	if colon <= 0 || len(t) < colon+4 || t[colon+1] != '[' || t[len(t)-1] != ']' {
		return
	}
	ino, ok := parseDec([]byte(t[colon+2 : len(t)-1]))
	if !ok {
		return
	}
	switch typ := t[:colon]; typ {
	case "socket":
		e.Kind = KindSocket
	case "pipe":
		e.Kind = KindPipe
	case "pidfd":
		e.Kind = KindPidfd
	case "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts":
		e.Kind = KindNamespace
	default:
		return
	}
	e.Inode = ino
}

func anonKind(name string) Kind {
	switch name {
	case "[eventpoll]":
		return KindEventpoll
	case "[eventfd]":
		return KindEventfd
	case "[timerfd]":
		return KindTimerfd
	case "[signalfd]":
		return KindSignalfd
	case "inotify", "[inotify]":
		return KindInotify
	case "[fanotify]", "fanotify":
		return KindFanotify
	case "[io_uring]":
		return KindIoUring
	case "[userfaultfd]":
		return KindUserfaultfd
	case "[perf_event]":
		return KindPerfEvent
	case "[pidfd]":
		return KindPidfd
	}
	if strings.HasPrefix(name, "bpf") || strings.HasPrefix(name, "[bpf") {
		return KindBpf
	}
	return KindAnonInode
}
