package seccomp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Finding is one piece of state the scan found that crrun cannot save yet.
type Finding struct {
	Pid    int    // host pid
	Kind   string // same vocabulary as Entry.Kind
	Reason string // "CR: ... not supported yet"
	Fd     int    // the fd holding it, or -1
}

// ScanInput tells the scan what is normal for this app.
type ScanInput struct {
	Pids []int // host pids of every process of the app, main first
	// Namespaces of the app at launch (name → link text, as /proc/PID/ns/NAME reads).
	Namespaces map[string]string
	// SeccompFilters is the number of filters the app had at launch (crrun's own
	// included); more means the app installed its own.
	SeccompFilters int
	// Stdio are the files crrun was started with (its 0, 1, 2): the app's fds
	// that are these files are reattached to the restorer's stdio, whatever they
	// are (tty, pipe, file).
	Stdio []FileID
	// Tracer is the pid allowed to trace the app (the checkpoint engine), or 0.
	Tracer int
}

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

// nsNames are the namespace links compared against the launch baseline.
var nsNames = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}

// ReadNamespaces reads /proc/PID/ns/*.
func ReadNamespaces(pid int) map[string]string {
	m := map[string]string{}
	for _, n := range nsNames {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n)); err == nil {
			m[n] = l
		}
	}
	return m
}

// ReadSeccompFilters returns the Seccomp_filters count of pid's status.
func ReadSeccompFilters(pid int) int {
	v, _ := statusField(pid, "Seccomp_filters")
	n, _ := strconv.Atoi(v)
	return n
}

func statusField(pid int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", false
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if k, v, ok := bytes.Cut(line, []byte{':'}); ok && string(k) == name {
			return string(bytes.TrimSpace(v)), true
		}
	}
	return "", false
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
	for i, pid := range in.Pids {
		add := func(kind string, fd int, format string, a ...any) {
			out = append(out, Finding{Pid: pid, Kind: kind, Fd: fd, Reason: fmt.Sprintf(format, a...)})
		}
		if i > 0 {
			ppid, _ := statusField(pid, "PPid")
			add("process_tree", -1, "CR: more than one process (pid %d, child of %s) not supported yet", pid, ppid)
		}
		scanFds(pid, stdio, add)
		scanMaps(pid, add)
		if v, ok := statusField(pid, "TracerPid"); ok && v != "0" && v != strconv.Itoa(in.Tracer) {
			add("ptrace", -1, "CR: ptrace inside the app not supported yet (traced by pid %s)", v)
		}
		if v, _ := statusField(pid, "Seccomp"); v == "1" {
			add("seccomp", -1, "CR: the app's own seccomp filter not supported yet (strict mode)")
		} else if n := ReadSeccompFilters(pid); in.SeccompFilters > 0 && n > in.SeccompFilters {
			add("seccomp", -1, "CR: the app's own seccomp filter not supported yet (%d filters, crrun installed %d)", n, in.SeccompFilters)
		}
		if in.Namespaces != nil {
			now := ReadNamespaces(pid)
			var diff []string
			for _, n := range nsNames {
				if base, ok := in.Namespaces[n]; ok && now[n] != "" && now[n] != base {
					diff = append(diff, n)
				}
			}
			if len(diff) > 0 {
				add("namespace", -1, "CR: new namespaces (%s) not supported yet", strings.Join(diff, ", "))
			}
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timers", pid)); err == nil && len(bytes.TrimSpace(b)) > 0 {
			add("posix_timer", -1, "CR: POSIX timers not supported yet (%d timers)", bytes.Count(b, []byte("ID:")))
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/personality", pid)); err == nil {
			if p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32); err == nil && p != 0 {
				add("personality", -1, "CR: personality(%s) not supported yet", PersonalityName(p))
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
	case major == 5 && minor == 0: // /dev/tty
		return true
	case major >= 136 && major <= 143: // /dev/pts/N
		return true
	}
	return false
}

// anonKinds maps anon_inode names to (kind, reason); an empty reason means the
// engine saves it.
var anonKinds = map[string][2]string{
	"[eventpoll]":    {"epoll", ""},
	"[eventfd]":      {"eventfd", ""},
	"[io_uring]":     {"io_uring", "CR: io_uring not supported yet"},
	"[timerfd]":      {"timerfd", "CR: timerfd not supported yet"},
	"[signalfd]":     {"signalfd", "CR: signalfd not supported yet"},
	"inotify":        {"inotify", "CR: inotify not supported yet"},
	"[fanotify]":     {"fanotify", "CR: fanotify not supported yet"},
	"[userfaultfd]":  {"userfaultfd", "CR: userfaultfd not supported yet"},
	"[perf_event]":   {"perf_event", "CR: perf_event_open not supported yet"},
	"[pidfd]":        {"pidfd", "CR: pidfd not supported yet"},
	"[memfd_secret]": {"memfd_secret", "CR: memfd_secret memory cannot be read"},
}

func scanFds(pid int, stdio map[FileID]bool, add func(kind string, fd int, format string, a ...any)) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	pidfd := -1
	defer func() {
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}()
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p := filepath.Join(dir, e.Name())
		link, err := os.Readlink(p)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && stdio[FileID{st.Dev, st.Ino}] {
			continue // crrun's own stdio: reattached to the restorer's
		}
		switch {
		case strings.HasPrefix(link, "socket:["):
			if pidfd < 0 {
				if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
					pidfd = -1
				}
			}
			fam := socketFamily(pidfd, fd)
			if fam == "AF_UNIX" {
				add("unix_socket", fd, "CR: unix sockets not supported yet (fd %d)", fd)
			} else {
				add("socket", fd, "CR: socket(%s) not supported yet (fd %d)", fam, fd)
			}
		case strings.HasPrefix(link, "pipe:["):
			add("pipe", fd, "CR: pipes not supported yet (fd %d)", fd)
		case strings.HasPrefix(link, "anon_inode:"):
			name := link[len("anon_inode:"):]
			k, ok := anonKinds[name]
			switch {
			case strings.HasPrefix(name, "bpf"):
				add("bpf", fd, "CR: bpf maps/programs not supported yet (fd %d)", fd)
			case !ok:
				add("anon_inode", fd, "CR: %s not supported yet (fd %d)", link, fd)
			case k[1] != "":
				add(k[0], fd, "%s (fd %d)", k[1], fd)
			}
		case strings.HasPrefix(link, "/memfd:"):
			add("memfd", fd, "CR: memfd not supported yet (fd %d, %s)", fd, link)
		default:
			if st.Mode == 0 {
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFCHR, unix.S_IFBLK:
				maj, min := unix.Major(st.Rdev), unix.Minor(st.Rdev)
				if !harmlessDevice(maj, min) {
					add("device", fd, "CR: device %s (%d:%d) not supported (fd %d)", link, maj, min, fd)
				}
			case unix.S_IFIFO:
				add("pipe", fd, "CR: FIFOs not supported yet (fd %d, %s)", fd, link)
			case unix.S_IFSOCK:
				add("unix_socket", fd, "CR: unix sockets not supported yet (fd %d)", fd)
			case unix.S_IFREG:
				var sfs unix.Statfs_t
				if unix.Statfs(p, &sfs) == nil && sfs.Type == mqueueMagic {
					add("mqueue", fd, "CR: POSIX message queues not supported yet (fd %d, %s)", fd, link)
				}
			}
		}
	}
}

// socketFamily asks the socket itself: a duplicate taken with pidfd_getfd
// (needs ptrace access to pid, which the app's supervisor has) answers
// SO_DOMAIN for every family, bound or not, where /proc/net lists only the
// sockets in the protocols' hash tables (an unbound TCP socket is not there).
func socketFamily(pidfd, fd int) string {
	if pidfd < 0 {
		return "unknown family"
	}
	dup, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return "unknown family"
	}
	defer unix.Close(dup)
	dom, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return "unknown family"
	}
	return FamilyName(uint64(dom))
}

func scanMaps(pid int, add func(kind string, fd int, format string, a ...any)) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 {
			continue
		}
		path := strings.Join(fs[5:], " ")
		if seen[path] {
			continue
		}
		seen[path] = true
		switch {
		case strings.HasPrefix(path, "/SYSV"):
			add("sysv_shm", -1, "CR: SysV shared memory not supported yet (mapping at %s)", fs[0])
		case strings.HasPrefix(path, "/[aio]"):
			add("aio", -1, "CR: Linux AIO not supported yet (ring at %s)", fs[0])
		case strings.HasPrefix(path, "/memfd:"):
			add("memfd", -1, "CR: memfd not supported yet (mapping %s at %s)", path, fs[0])
		case strings.HasPrefix(path, "/dev/") && !strings.HasPrefix(path, "/dev/shm/") && !strings.HasPrefix(path, "/dev/zero"):
			var st unix.Stat_t
			if unix.Stat(strings.TrimSuffix(path, " (deleted)"), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
				maj, min := unix.Major(st.Rdev), unix.Minor(st.Rdev)
				if !harmlessDevice(maj, min) {
					add("device", -1, "CR: device mapping %s (%d:%d) not supported", path, maj, min)
				}
			}
		}
	}
}

// mqueueMagic is MQUEUE_MAGIC from include/uapi/linux/magic.h.
const mqueueMagic = 0x19800202
