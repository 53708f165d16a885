package procfs

import (
	"bytes"
	"strconv"
)

// ProcFdinfo is /proc/PID/fdinfo/FD: the common lines and, depending on the kind of
// file, one of the kind-specific parts (nil when the file has none).
type ProcFdinfo struct {
	Pos   int64
	Flags uint32 // open(2) flags: O_ACCMODE, O_APPEND, O_NONBLOCK, O_CLOEXEC…
	MntID int
	Ino   uint64

	Eventfd  *EventfdInfo
	Epoll    []EpollTarget // one per "tfd:" line
	Timerfd  *TimerfdInfo
	Signalfd *SignalfdInfo
	Inotify  []InotifyWatch
	Fanotify *FanotifyInfo
	Pidfd    *PidfdInfo
	// Locks are the file locks held on the file ("lock:" lines), by any process.
	Locks []FileLock
	// Extra holds other "Key: value" lines (io_uring's SqMask…, userfaultfd's
	// pending/total/API, a unix socket's scm_fds) verbatim.
	Extra map[string]string
}

// EventfdInfo is an eventfd's state.
type EventfdInfo struct {
	Count     uint64 // "eventfd-count" (printed in hex)
	ID        int    // "eventfd-id", absent before 5.14
	Semaphore bool   // "eventfd-semaphore" (EFD_SEMAPHORE)
}

// EpollTarget is one file watched by an epoll instance: "tfd: 5 events: 19 data:
// 1234 pos:0 ino:40e sdev:10".
type EpollTarget struct {
	Fd     int    // the fd number in the process that added it (it may be closed since)
	Events uint32 // EPOLLIN… including EPOLLET, EPOLLONESHOT (bit 31 = EPOLLET)
	Data   uint64 // epoll_data
	Pos    int64  // file position of the target
	Ino    uint64 // target inode
	Sdev   Dev    // target superblock's device
}

// TimerfdInfo is a timerfd's state. Value is the time left until the next expiry
// (zero when disarmed), Interval the period.
type TimerfdInfo struct {
	ClockID      int
	Ticks        uint64 // expirations not yet read
	SettimeFlags uint32 // TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET (printed in octal)
	Value        Timespec
	Interval     Timespec
}

// Timespec is seconds and nanoseconds.
type Timespec struct {
	Sec, Nsec uint64
}

// SignalfdInfo is a signalfd's state.
type SignalfdInfo struct {
	Sigmask uint64 // bit n-1 for signal n
}

// InotifyWatch is one inotify watch: "inotify wd:1 ino:3c4a3 sdev:fe00000
// mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000".
type InotifyWatch struct {
	WD          int
	Ino         uint64
	Sdev        Dev
	Mask        uint32
	IgnoredMask uint32
	Handle      FileHandle
}

// FileHandle is a name_to_handle_at(2) handle, as fdinfo prints it for inotify
// and fanotify marks (empty when the filesystem cannot export handles).
type FileHandle struct {
	Type  int32
	Bytes []byte
}

// FanotifyInfo is a fanotify group: "fanotify flags:0 event-flags:8000" and one
// mark per watched object.
type FanotifyInfo struct {
	Flags      uint32 // fanotify_init flags
	EventFlags uint32 // fanotify_init event_f_flags
	Marks      []FanotifyMark
}

// FanotifyMark is one fanotify mark: on an inode (Ino, Sdev set), a mount (MntID
// set) or a filesystem (Sdev only).
type FanotifyMark struct {
	Ino         uint64
	Sdev        Dev
	MntID       int
	MFlags      uint32
	Mask        uint32
	IgnoredMask uint32
	Handle      FileHandle
}

// PidfdInfo is what a pidfd refers to: the pid in the reader's namespace (-1 once
// the process is gone, 0 when it is outside it) and in each nested namespace.
type PidfdInfo struct {
	Pid   int
	NSpid []int
}

// FileLock is one "lock:" line, as in /proc/locks:
// "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF".
type FileLock struct {
	Raw    string // the line after "lock:"
	Class  string // POSIX, FLOCK, OFDLCK, LEASE, DELEG…
	Mode   string // ADVISORY, MANDATORY, BREAKING, ACTIVE, BREAKER
	Access string // READ, WRITE, UNLCK
	Pid    int    // -1 for OFD locks
}

// Fdinfo parses /proc/PID/fdinfo/FD.
func (f FS) Fdinfo(pid, fd int) (*ProcFdinfo, error) {
	path := f.pidPath(pid, "fdinfo/"+strconv.Itoa(fd))
	return withFile(path, func(data []byte) (*ProcFdinfo, error) {
		return parseFdinfo(path, data)
	})
}

// Fdinfo parses /proc/PID/fdinfo/FD with the default FS.
func Fdinfo(pid, fd int) (*ProcFdinfo, error) { return FS{}.Fdinfo(pid, fd) }

func parseFdinfo(path string, data []byte) (*ProcFdinfo, error) {
	fi := &ProcFdinfo{}
	seenFlags := false
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = cutLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		var ok bool
		switch {
		case bytes.HasPrefix(line, []byte("tfd:")):
			var t EpollTarget
			t, ok = parseEpollLine(line)
			fi.Epoll = append(fi.Epoll, t)
		case bytes.HasPrefix(line, []byte("inotify ")):
			var w InotifyWatch
			w, ok = parseInotifyLine(line)
			fi.Inotify = append(fi.Inotify, w)
		case bytes.HasPrefix(line, []byte("fanotify ")):
			if fi.Fanotify == nil {
				fi.Fanotify = &FanotifyInfo{}
			}
			ok = parseFanotifyLine(line, fi.Fanotify)
		case bytes.HasPrefix(line, []byte("lock:")):
			var l FileLock
			l, ok = parseLockLine(trimSpace(line[len("lock:"):]))
			fi.Locks = append(fi.Locks, l)
		default:
			key, val, hasColon := cutKey(line)
			if !hasColon {
				return nil, parseErr(path, n, "no colon in %q", line)
			}
			ok = fi.setField(key, val)
			if string(key) == "flags" {
				seenFlags = true
			}
		}
		if !ok {
			return nil, parseErr(path, n, "bad line %q", line)
		}
	}
	if !seenFlags {
		return nil, parseErr(path, 0, "no flags line")
	}
	return fi, nil
}

// setField handles one "key: value" line.
func (fi *ProcFdinfo) setField(key, val []byte) bool {
	var ok bool
	switch string(key) {
	case "pos":
		fi.Pos, ok = parseInt(val)
	case "flags":
		var v uint64
		v, ok = parseOct(val)
		fi.Flags = uint32(v)
	case "mnt_id":
		var v int64
		v, ok = parseInt(val)
		fi.MntID = int(v)
	case "ino":
		fi.Ino, ok = parseDec(val)
	case "eventfd-count":
		fi.eventfd().Count, ok = parseHex(val)
	case "eventfd-id":
		var v int64
		v, ok = parseInt(val)
		fi.eventfd().ID = int(v)
	case "eventfd-semaphore":
		fi.eventfd().Semaphore, ok = parseFlag(val)
	case "clockid":
		var v int64
		v, ok = parseInt(val)
		fi.timerfd().ClockID = int(v)
	case "ticks":
		fi.timerfd().Ticks, ok = parseDec(val)
	case "settime flags":
		var v uint64
		v, ok = parseOct(val)
		fi.timerfd().SettimeFlags = uint32(v)
	case "it_value":
		fi.timerfd().Value, ok = parseTimespec(val)
	case "it_interval":
		fi.timerfd().Interval, ok = parseTimespec(val)
	case "sigmask":
		var v uint64
		v, ok = parseHex(val)
		fi.Signalfd = &SignalfdInfo{Sigmask: v}
	case "Pid":
		var v int64
		v, ok = parseInt(val)
		fi.pidfd().Pid = int(v)
	case "NSpid":
		var bad bool
		fi.pidfd().NSpid, bad = parseIntList(val)
		ok = !bad
	default:
		if fi.Extra == nil {
			fi.Extra = map[string]string{}
		}
		fi.Extra[string(key)] = string(val)
		ok = true
	}
	return ok
}

func (fi *ProcFdinfo) eventfd() *EventfdInfo {
	if fi.Eventfd == nil {
		fi.Eventfd = &EventfdInfo{}
	}
	return fi.Eventfd
}

func (fi *ProcFdinfo) timerfd() *TimerfdInfo {
	if fi.Timerfd == nil {
		fi.Timerfd = &TimerfdInfo{}
	}
	return fi.Timerfd
}

func (fi *ProcFdinfo) pidfd() *PidfdInfo {
	if fi.Pidfd == nil {
		fi.Pidfd = &PidfdInfo{}
	}
	return fi.Pidfd
}

func parseFlag(b []byte) (bool, bool) {
	v, bad := parseBool(b)
	return v, !bad
}

// parseTimespec parses "(9, 949668392)".
func parseTimespec(b []byte) (Timespec, bool) {
	if len(b) < 5 || b[0] != '(' || b[len(b)-1] != ')' {
		return Timespec{}, false
	}
	b = b[1 : len(b)-1]
	i := bytes.IndexByte(b, ',')
	if i < 0 {
		return Timespec{}, false
	}
	s, ok1 := parseDec(trimSpace(b[:i]))
	ns, ok2 := parseDec(trimSpace(b[i+1:]))
	return Timespec{s, ns}, ok1 && ok2
}

// parseEpollLine parses "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x".
func parseEpollLine(line []byte) (EpollTarget, bool) {
	var t EpollTarget
	ok, seen := true, 0
	forEachKV(line, func(k, v []byte) {
		var good bool
		switch string(k) {
		case "tfd":
			var x int64
			x, good = parseInt(v)
			t.Fd = int(x)
			seen++
		case "events":
			var x uint64
			x, good = parseHex(v)
			t.Events = uint32(x)
			seen++
		case "data":
			t.Data, good = parseHex(v)
			seen++
		case "pos":
			t.Pos, good = parseInt(v)
		case "ino":
			t.Ino, good = parseHex(v)
		case "sdev":
			var x uint64
			x, good = parseHex(v)
			t.Sdev = DevFromKernel(x)
		default:
			good = true
		}
		ok = ok && good
	})
	return t, ok && seen == 3
}

// parseInotifyLine parses "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x"
// plus the file handle.
func parseInotifyLine(line []byte) (InotifyWatch, bool) {
	var w InotifyWatch
	ok, seenWD := true, false
	forEachKV(line, func(k, v []byte) {
		var good bool
		var x uint64
		switch string(k) {
		case "wd":
			x, good = parseHex(v)
			w.WD = int(x)
			seenWD = true
		case "ino":
			w.Ino, good = parseHex(v)
		case "sdev":
			x, good = parseHex(v)
			w.Sdev = DevFromKernel(x)
		case "mask":
			x, good = parseHex(v)
			w.Mask = uint32(x)
		case "ignored_mask":
			x, good = parseHex(v)
			w.IgnoredMask = uint32(x)
		default:
			good = w.Handle.set(k, v)
		}
		ok = ok && good
	})
	return w, ok && seenWD
}

// parseFanotifyLine parses the group line "fanotify flags:%x event-flags:%x" or a
// mark line "fanotify ino:%lx sdev:%x mflags:%x mask:%x ignored_mask:%x …"
// (or mnt_id:%x / sdev:%x for mount and filesystem marks).
func parseFanotifyLine(line []byte, fa *FanotifyInfo) bool {
	if bytes.Contains(line, []byte(" flags:")) && bytes.Contains(line, []byte("event-flags:")) {
		ok := true
		forEachKV(line, func(k, v []byte) {
			x, good := parseHex(v)
			switch string(k) {
			case "flags":
				fa.Flags = uint32(x)
			case "event-flags":
				fa.EventFlags = uint32(x)
			}
			ok = ok && good
		})
		return ok
	}
	var m FanotifyMark
	ok := true
	forEachKV(line, func(k, v []byte) {
		var good bool
		var x uint64
		switch string(k) {
		case "ino":
			m.Ino, good = parseHex(v)
		case "sdev":
			x, good = parseHex(v)
			m.Sdev = DevFromKernel(x)
		case "mnt_id":
			x, good = parseHex(v)
			m.MntID = int(x)
		case "mflags":
			x, good = parseHex(v)
			m.MFlags = uint32(x)
		case "mask":
			x, good = parseHex(v)
			m.Mask = uint32(x)
		case "ignored_mask":
			x, good = parseHex(v)
			m.IgnoredMask = uint32(x)
		default:
			good = m.Handle.set(k, v)
		}
		ok = ok && good
	})
	fa.Marks = append(fa.Marks, m)
	return ok
}

// set handles the "fhandle-bytes:%x fhandle-type:%x f_handle:%02x…" pairs; other
// keys (from newer kernels) are ignored.
func (h *FileHandle) set(k, v []byte) bool {
	switch string(k) {
	case "fhandle-bytes":
		_, ok := parseHex(v) // implied by f_handle's length
		return ok
	case "fhandle-type":
		x, ok := parseHex(v)
		h.Type = int32(x)
		return ok
	case "f_handle":
		if len(v)%2 != 0 {
			return false
		}
		h.Bytes = make([]byte, len(v)/2)
		for i := range h.Bytes {
			x, ok := parseHex(v[2*i : 2*i+2])
			if !ok {
				return false
			}
			h.Bytes[i] = byte(x)
		}
	}
	return true
}

// parseLockLine parses "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF" (a
// blocked waiter has "-> " after the id).
func parseLockLine(b []byte) (FileLock, bool) {
	l := FileLock{Raw: string(b)}
	id, rest := nextField(b)
	if len(id) == 0 || id[len(id)-1] != ':' {
		return l, false
	}
	f, rest := nextField(rest)
	if string(f) == "->" {
		f, rest = nextField(rest)
	}
	l.Class = string(f)
	f, rest = nextField(rest)
	l.Mode = string(f)
	f, rest = nextField(rest)
	l.Access = string(f)
	f, _ = nextField(rest)
	pid, ok := parseInt(f)
	l.Pid = int(pid)
	return l, ok && l.Class != "" && l.Access != ""
}
