package procfs

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Namespaces reads the /proc/PID/ns links ("net:[4026531833]") into a map from the
// link name (cgroup, ipc, mnt, net, pid, pid_for_children, time,
// time_for_children, user, uts) to the namespace's inode. Two processes share a
// namespace when the inodes are equal. Link types the kernel lacks are absent.
func (f FS) Namespaces(pid int) (map[string]uint64, error) {
	dir := f.pidPath(pid, "ns")
	names, err := readDirNames(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(names))
	for _, name := range names {
		ino, err := f.readlinkNS(pid, name)
		if err != nil {
			return nil, err // ENOENT also for a zombie, which has no namespaces left
		}
		out[name] = ino
	}
	return out, nil
}

// Namespaces reads the /proc/PID/ns links with the default FS.
func Namespaces(pid int) (map[string]uint64, error) { return FS{}.Namespaces(pid) }

// readlinkNS reads /proc/PID/ns/NAME and returns the inode in "type:[inode]".
func (f FS) readlinkNS(pid int, name string) (uint64, error) {
	path := f.pidPath(pid, "ns/"+name)
	t, err := readlink(path)
	if err != nil {
		return 0, err
	}
	o := strings.IndexByte(t, '[')
	if o < 0 || !strings.HasSuffix(t, "]") {
		return 0, parseErr(path, 0, "bad namespace link %q", t)
	}
	ino, ok := parseDec([]byte(t[o+1 : len(t)-1]))
	if !ok {
		return 0, parseErr(path, 0, "bad namespace link %q", t)
	}
	return ino, nil
}

// AuxvEntry is one entry of the ELF auxiliary vector (AT_* type and value).
type AuxvEntry struct {
	Type, Value uint64
}

// Auxv reads /proc/PID/auxv (native 64-bit layout) up to, not including, AT_NULL.
func (f FS) Auxv(pid int) ([]AuxvEntry, error) {
	path := f.pidPath(pid, "auxv")
	return withFile(path, func(b []byte) ([]AuxvEntry, error) {
		if len(b)%16 != 0 {
			return nil, parseErr(path, 0, "length %d is not a multiple of 16", len(b))
		}
		out := make([]AuxvEntry, 0, len(b)/16)
		for ; len(b) >= 16; b = b[16:] {
			e := AuxvEntry{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
			if e.Type == 0 { // AT_NULL
				break
			}
			out = append(out, e)
		}
		return out, nil
	})
}

// Auxv reads /proc/PID/auxv with the default FS.
func Auxv(pid int) ([]AuxvEntry, error) { return FS{}.Auxv(pid) }

// Personality reads /proc/PID/personality (hex): the personality(2) flags, such
// as ADDR_NO_RANDOMIZE (0x0040000). Reading it needs ptrace access.
func (f FS) Personality(pid int) (uint32, error) {
	path := f.pidPath(pid, "personality")
	return withFile(path, func(b []byte) (uint32, error) {
		v, ok := parseHex(trimSpace(b))
		if !ok || v > 1<<32-1 {
			return 0, parseErr(path, 0, "bad personality %q", b)
		}
		return uint32(v), nil
	})
}

// Personality reads /proc/PID/personality with the default FS.
func Personality(pid int) (uint32, error) { return FS{}.Personality(pid) }

// Timer is one POSIX timer (timer_create) from /proc/PID/timers.
type Timer struct {
	ID       int32
	Signal   int    // sigev_signo
	SigValue uint64 // sigev_value, as a pointer-sized integer
	// Notify is how expiry is delivered: "signal", "thread" (SIGEV_THREAD_ID) or
	// "none"; NotifyKind says whom: "pid" (the process) or "tid" (one thread).
	Notify     string
	NotifyKind string
	NotifyPid  int // the pid or tid notified
	ClockID    int
}

// Timers reads /proc/PID/timers: four lines per timer,
//
//	ID: 1
//	signal: 12/0000000000000000
//	notify: signal/pid.13364
//	ClockID: 0
func (f FS) Timers(pid int) ([]Timer, error) {
	path := f.pidPath(pid, "timers")
	return withFile(path, func(data []byte) ([]Timer, error) {
		var out []Timer
		var cur *Timer
		for n := 1; len(data) > 0; n++ {
			var line []byte
			line, data = cutLine(data)
			if len(trimSpace(line)) == 0 {
				continue
			}
			key, val, ok := cutKey(line)
			if !ok {
				return nil, parseErr(path, n, "no colon in %q", line)
			}
			if string(key) == "ID" {
				id, ok := parseInt(val)
				if !ok {
					return nil, parseErr(path, n, "bad ID %q", val)
				}
				out = append(out, Timer{ID: int32(id)})
				cur = &out[len(out)-1]
				continue
			}
			if cur == nil {
				return nil, parseErr(path, n, "%q before the first ID", line)
			}
			bad := false
			switch string(key) {
			case "signal":
				i := indexByte(val, '/')
				if i < 0 {
					bad = true
					break
				}
				sig, ok1 := parseInt(val[:i])
				sv, ok2 := parseHex(val[i+1:])
				cur.Signal, cur.SigValue, bad = int(sig), sv, !ok1 || !ok2
			case "notify":
				slash, dot := indexByte(val, '/'), bytesLastIndex(val, '.')
				if slash < 0 || dot < slash {
					bad = true
					break
				}
				p, ok := parseInt(val[dot+1:])
				cur.Notify, cur.NotifyKind, cur.NotifyPid, bad = string(val[:slash]), string(val[slash+1:dot]), int(p), !ok
			case "ClockID":
				c, ok := parseInt(val)
				cur.ClockID, bad = int(c), !ok
			}
			if bad {
				return nil, parseErr(path, n, "bad %s value %q", key, val)
			}
		}
		return out, nil
	})
}

// Timers reads /proc/PID/timers with the default FS.
func Timers(pid int) ([]Timer, error) { return FS{}.Timers(pid) }

func bytesLastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// Tasks lists the thread ids of a process (/proc/PID/task), sorted.
func (f FS) Tasks(pid int) ([]int, error) {
	tids, err := readDirInts(f.pidPath(pid, "task"), nil)
	slices.Sort(tids)
	return tids, err
}

// Tasks lists the thread ids of a process with the default FS.
func Tasks(pid int) ([]int, error) { return FS{}.Tasks(pid) }

// Children lists the children of every thread of a process, from
// /proc/PID/task/TID/children (a child belongs to the thread that forked it),
// sorted. A thread that exits meanwhile is skipped. Needs CONFIG_PROC_CHILDREN.
func (f FS) Children(pid int) ([]int, error) {
	tids, err := f.Tasks(pid)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, tid := range tids {
		path := f.taskPath(pid, tid, "children")
		bp, n, err := readFile(path)
		if err != nil {
			if isNotExist(err) && tid != pid {
				continue
			}
			return nil, err
		}
		data := (*bp)[:n]
		for {
			var tok []byte
			tok, data = nextField(trimSpace(data))
			if len(tok) == 0 {
				break
			}
			v, ok := parseDec(tok)
			if !ok {
				putBuf(bp)
				return nil, parseErr(path, 0, "bad pid %q", tok)
			}
			out = append(out, int(v))
		}
		putBuf(bp)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Children lists the children of a process with the default FS.
func Children(pid int) ([]int, error) { return FS{}.Children(pid) }

// Comm reads /proc/PID/comm: the process name, raw (up to 15 bytes).
func (f FS) Comm(pid int) (string, error) { return readComm(f.pidPath(pid, "comm")) }

// TaskComm reads /proc/PID/task/TID/comm: a thread's name.
func (f FS) TaskComm(pid, tid int) (string, error) {
	return readComm(f.taskPath(pid, tid, "comm"))
}

// Comm reads /proc/PID/comm with the default FS.
func Comm(pid int) (string, error) { return FS{}.Comm(pid) }

// TaskComm reads /proc/PID/task/TID/comm with the default FS.
func TaskComm(pid, tid int) (string, error) { return FS{}.TaskComm(pid, tid) }

func readComm(path string) (string, error) {
	return withFile(path, func(b []byte) (string, error) {
		// The kernel appends exactly one '\n'; a comm may itself end in one.
		if len(b) == 0 || b[len(b)-1] != '\n' {
			return "", parseErr(path, 0, "comm %q does not end in a newline", b)
		}
		return string(b[:len(b)-1]), nil
	})
}

// Cwd reads the /proc/PID/cwd link.
func (f FS) Cwd(pid int) (string, error) { return readlink(f.pidPath(pid, "cwd")) }

// Cwd reads the /proc/PID/cwd link with the default FS.
func Cwd(pid int) (string, error) { return FS{}.Cwd(pid) }

// RootDir reads the /proc/PID/root link: "/" unless the process chrooted.
func (f FS) RootDir(pid int) (string, error) { return readlink(f.pidPath(pid, "root")) }

// RootDir reads the /proc/PID/root link with the default FS.
func RootDir(pid int) (string, error) { return FS{}.RootDir(pid) }

// ExeInfo identifies a process's executable, so restore can check it is the same
// file.
type ExeInfo struct {
	Path    string // the /proc/PID/exe link without " (deleted)"
	Deleted bool
	Dev     Dev
	Inode   uint64
	Size    int64
	Mode    uint32
	Mtime   time.Time
	Ctime   time.Time
}

// Exe reads the /proc/PID/exe link and stats the executable through it (which
// works even when it was deleted or lives in another mount namespace).
func (f FS) Exe(pid int) (*ExeInfo, error) {
	path := f.pidPath(pid, "exe")
	t, err := readlink(path)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := statRetry(path, &st); err != nil {
		return nil, err
	}
	p, deleted := strings.CutSuffix(t, deletedSuffix)
	return &ExeInfo{
		Path:    p,
		Deleted: deleted,
		Dev:     DevFromStat(st.Dev),
		Inode:   st.Ino,
		Size:    st.Size,
		Mode:    st.Mode,
		Mtime:   time.Unix(st.Mtim.Unix()),
		Ctime:   time.Unix(st.Ctim.Unix()),
	}, nil
}

// Exe identifies the executable of a process with the default FS.
func Exe(pid int) (*ExeInfo, error) { return FS{}.Exe(pid) }

// Cmdline reads /proc/PID/cmdline split on NUL: argv as the process currently
// shows it (a process may overwrite it, and then need not end in NUL).
func (f FS) Cmdline(pid int) ([]string, error) {
	return withFile(f.pidPath(pid, "cmdline"), func(b []byte) ([]string, error) { return splitNUL(b), nil })
}

// Cmdline reads /proc/PID/cmdline with the default FS.
func Cmdline(pid int) ([]string, error) { return FS{}.Cmdline(pid) }

// Environ reads /proc/PID/environ split on NUL ("KEY=value" strings). It shows the
// initial environment block; reading it needs ptrace access.
func (f FS) Environ(pid int) ([]string, error) {
	return withFile(f.pidPath(pid, "environ"), func(b []byte) ([]string, error) { return splitNUL(b), nil })
}

// Environ reads /proc/PID/environ with the default FS.
func Environ(pid int) ([]string, error) { return FS{}.Environ(pid) }
