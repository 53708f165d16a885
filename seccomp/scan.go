package seccomp

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/crrun/crrun/internal/procfs"

	"golang.org/x/sys/unix"
)

// Finding is one piece of state the scan found that crrun cannot save yet.
type Finding struct {
	Pid    int    // host pid
	Kind   string // same vocabulary as Entry.Kind
	Reason string // "CR: ... not supported yet"
	Fd     int    // the fd holding it, or -1
	// Detail tells findings of one kind apart (a socket's family, as
	// FamilyName writes it), for matching with Decision.Detail.
	Detail string
	// KeepRunning: only a checkpoint that leaves the app running refuses
	// it; `checkpoint --exit` saves the state.
	KeepRunning bool
	// Transient: the state moved while it was saved (bytes between two
	// sockets of the app in flight through the kernel); the same
	// checkpoint a moment later saves it, and crrun tries again by itself
	// before it gives the reason.
	Transient bool
}

// ScanInput tells the scan what is normal for this app.
type ScanInput struct {
	Pids []int // host pids of every process of the app, main first
	// Namespaces of the app at launch (name → inode, from /proc/PID/ns/NAME).
	Namespaces map[string]uint64
	// SeccompFilters is the number of filters the app had at launch (crrun's own
	// included); more means the app installed its own.
	SeccompFilters int
	// Stdio are the files crrun was started with (its 0, 1, 2): the app's fds
	// that are these files are reattached to the restorer's stdio, whatever they
	// are (tty, pipe, file).
	Stdio []FileID
	// Tracer is the pid allowed to trace the app (the checkpoint engine), or 0.
	Tracer int
	// PrivateIPC: the app has its own IPC namespace, whose SysV segments
	// the checkpoint saves: their mappings are no finding.
	PrivateIPC bool
	// Urgent maps the inode of each socket the app sent urgent data on
	// (MSG_OOB: an Answered row) to the call; UrgentAny stands for every
	// socket once the record is full.
	Urgent map[uint64]string
}

// UrgentAny is the Urgent key that stands for every socket.
const UrgentAny = ^uint64(0)

// FileID identifies an open file by device and inode.
type FileID struct{ Dev, Ino uint64 }

// StatFileID identifies the file behind path (following symlinks, so
// /proc/PID/fd/N names the open file itself).
func StatFileID(path string) (FileID, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return FileID{}, false
	}
	return FileID{st.Dev, st.Ino}, true
}

// ReadNamespaces reads the namespace inodes of pid (/proc/PID/ns/*).
func ReadNamespaces(pid int) map[string]uint64 {
	m, _ := procfs.Namespaces(pid)
	return m
}

// ReadSeccompFilters returns the Seccomp_filters count of pid's status.
func ReadSeccompFilters(pid int) int {
	st, err := procfs.Status(pid)
	if err != nil {
		return 0
	}
	return st.SeccompFilters
}

// Scan decides, from /proc, what state of the app crrun cannot checkpoint. It
// is the authoritative answer at checkpoint time (fds arrive by inheritance and
// SCM_RIGHTS and leave by close(), which no trap sees), and it matches what
// the checkpoint engine supports: single process, any threads, regular files,
// directories, deleted files, the harmless devices, the Go runtime's poller
// (one epoll and its eventfd), and the app's stdio whatever it is.
func Scan(in ScanInput) []Finding {
	var out []Finding
	stdio := map[FileID]bool{}
	for _, id := range in.Stdio {
		stdio[id] = true
	}
	for _, pid := range in.Pids {
		add := func(kind string, fd int, format string, a ...any) *Finding {
			out = append(out, Finding{Pid: pid, Kind: kind, Fd: fd, Reason: fmt.Sprintf(format, a...)})
			return &out[len(out)-1]
		}
		st, err := procfs.Status(pid)
		if err != nil {
			continue // gone
		}
		scanFds(pid, in.PrivateIPC, stdio, add)
		scanMaps(pid, in.PrivateIPC, add)
		if st.TracerPid != 0 && st.TracerPid != in.Tracer && !ownThread(st.TracerPid) {
			add("ptrace", -1, "CR: ptrace inside the app not supported yet (traced by pid %d)", st.TracerPid)
		}
		if st.Seccomp == 1 {
			add("seccomp", -1, "CR: the app's own seccomp filter in strict mode not supported yet")
		} else if in.SeccompFilters > 0 && st.SeccompFilters > in.SeccompFilters && !CanSaveFilters {
			add("seccomp", -1, "CR: the app's own seccomp filter not supported yet (%d filters, crrun installed %d; only root's crrun can save them)",
				st.SeccompFilters, in.SeccompFilters)
		}
		if in.Namespaces != nil {
			now := ReadNamespaces(pid)
			var diff []string
			for n, base := range in.Namespaces {
				if ino, ok := now[n]; ok && ino != base {
					diff = append(diff, n)
				}
			}
			if len(diff) > 0 {
				sort.Strings(diff)
				add("namespace", -1, "CR: new namespaces (%s) not supported yet", strings.Join(diff, ", "))
			}
		}
		if p, err := procfs.Personality(pid); err == nil {
			if reason, ok := PersonalityReason(uint64(p)); ok {
				add("personality", -1, "%s", reason)
			}
		}
	}
	return out
}

// Devices any app may hold: the checkpoint reopens them by path.
func harmlessDevice(major, minor uint32) bool {
	switch {
	case major == 1 && (minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9):
		return true // null zero full random urandom
	case major == 5 && (minor == 0 || minor == 2): // /dev/tty, /dev/ptmx (a pty of the app's: saved)
		return true
	case major >= 136 && major <= 143: // /dev/pts/N
		return true
	}
	return false
}

// fdReasons gives the reason for each fd kind the engine cannot save yet;
// kinds absent here (files, directories, epoll, eventfd) are saved, devices
// and sockets are decided in scanFds.
var fdReasons = map[procfs.Kind][2]string{
	procfs.KindFanotify:    {"fanotify", "CR: fanotify not supported yet"},
	procfs.KindIoUring:     {"io_uring", "CR: io_uring not supported yet"},
	procfs.KindBpf:         {"bpf", "CR: bpf maps/programs not supported yet"},
	procfs.KindUserfaultfd: {"userfaultfd", "CR: userfaultfd not supported yet"},
	procfs.KindPerfEvent:   {"perf_event", "CR: perf_event_open not supported yet"},
	procfs.KindSecretmem:   {"memfd_secret", "CR: memfd_secret memory cannot be read"},
	procfs.KindMqueue:      {"mqueue", "CR: POSIX message queues not supported yet"},
	procfs.KindNamespace:   {"namespace", "CR: namespace fds not supported yet"},
	procfs.KindAnonInode:   {"anon_inode", "CR: this anon_inode fd not supported yet"},
	procfs.KindUnknown:     {"unknown_fd", "CR: this kind of fd not supported yet"},
}

// MqueueUnlinkedReason: a POSIX queue removed (mq_unlink) while open can
// be neither listed nor opened again by name.
func MqueueUnlinkedReason(pid, fd int, target string) string {
	return fmt.Sprintf("CR: pid %d: fd %d (%s): a POSIX message queue removed (mq_unlink) while open not supported yet", pid, fd, target)
}

func scanFds(pid int, privateIPC bool, stdio map[FileID]bool, add func(kind string, fd int, format string, a ...any) *Finding) {
	fds, err := procfs.Fds(pid)
	if err != nil {
		return
	}
	for _, e := range fds {
		if id, ok := StatFileID(fmt.Sprintf("/proc/%d/fd/%d", pid, e.Num)); ok && stdio[id] {
			continue // crrun's own stdio: reattached to the restorer's
		}
		switch e.Kind {
		case procfs.KindSocket:
			switch {
			case e.Family == procfs.FamilyUnix: // the checkpoint decides (socketpairs inside the app are saved)
			case e.Family == procfs.FamilyInet || e.Family == procfs.FamilyInet6:
				// TCP and UDP: the checkpoint decides by their state
				// (checkpoint/inet.go); the other protocols are refused.
				if p := strings.TrimSuffix(e.SocketProto, "v6"); p != "TCP" && p != "UDP" && p != "RAW" && p != "PING" { // RAW: checkpoint/raw.go, PING: ping.go
					add("socket", e.Num, "CR: socket(%s, %s) not supported yet (fd %d)", e.Family, inetProtoName(p), e.Num).Detail = e.Family.String()
				}
			case e.Family == procfs.FamilyNetlink:
				// The checkpoint decides by protocol and state
				// (checkpoint/netlink.go: NETLINK_ROUTE is saved).
			case e.Family == procfs.FamilyPacket:
				// The checkpoint decides by type and state
				// (checkpoint/packet.go).
			default:
				add("socket", e.Num, "CR: socket(%s) not supported yet (fd %d)", e.Family, e.Num).Detail = e.Family.String()
			}
		case procfs.KindMqueue:
			if !privateIPC {
				add("mqueue", e.Num, "CR: POSIX message queues not supported yet (fd %d, %s)", e.Num, e.Path)
			} else if e.Deleted || !strings.HasPrefix(e.Path, "/") || strings.Count(e.Path, "/") != 1 {
				add("mqueue", e.Num, "%s", MqueueUnlinkedReason(pid, e.Num, e.Target))
			}
		case procfs.KindDevice:
			if !harmlessDevice(e.Rdev.Major, e.Rdev.Minor) {
				add("device", e.Num, "CR: device %s (%d:%d) not supported (fd %d)", e.Path, e.Rdev.Major, e.Rdev.Minor, e.Num)
			}
		default:
			if r, ok := fdReasons[e.Kind]; ok {
				if e.Path != "" { // FIFOs, memfds, mqueues: name the file
					add(r[0], e.Num, "%s (fd %d, %s)", r[1], e.Num, e.Path)
				} else {
					add(r[0], e.Num, "%s (fd %d)", r[1], e.Num)
				}
			}
		}
	}
}

func scanMaps(pid int, privateIPC bool, add func(kind string, fd int, format string, a ...any) *Finding) {
	maps, err := procfs.Maps(pid)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, m := range maps {
		if seen[m.Path] {
			continue
		}
		seen[m.Path] = true
		at := fmt.Sprintf("%#x-%#x", m.Start, m.End)
		switch {
		case strings.HasPrefix(m.Path, "/SYSV"):
			if privateIPC {
				continue
			}
			add("sysv_shm", -1, "CR: SysV shared memory not supported yet (mapping at %s)", at)
		case m.Path == "/[aio]":
			add("aio", -1, "CR: Linux AIO not supported yet (ring at %s)", at)
		case m.Path == "/secretmem":
			add("memfd_secret", -1, "CR: memfd_secret memory cannot be read (mapping at %s)", at)
		case strings.HasPrefix(m.Path, "/dev/") && m.Path != "/dev/zero" && !strings.HasPrefix(m.Path, "/dev/shm/"):
			var st unix.Stat_t
			if unix.Stat(m.Path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
				maj, min := unix.Major(st.Rdev), unix.Minor(st.Rdev)
				if !harmlessDevice(maj, min) {
					add("device", -1, "CR: device mapping %s (%d:%d) not supported", m.Path, maj, min)
				}
			}
		}
	}
}

// ownThread reports whether tid is a thread of this process: crrun's own
// tracer (a checkpoint or restore under way) is not the app tracing itself,
// whichever of crrun's threads asks.
func ownThread(tid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid))
	return err == nil
}

// inetProtoName names a sockfs protocol of AF_INET/AF_INET6 (less "v6") as
// the trap table's reason does (InetKindName).
func inetProtoName(p string) string {
	switch p {
	case "RAW":
		return "SOCK_RAW"
	case "PING":
		return "ICMP ping"
	case "UDPLITE":
		return "UDP-Lite"
	case "":
		return "unknown protocol"
	}
	return p
}
