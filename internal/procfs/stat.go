package procfs

import "bytes"

// ProcStat is /proc/PID/stat (or /proc/PID/task/TID/stat), fields numbered as in
// proc(5). Times are in clock ticks (sysconf(_SC_CLK_TCK)); StartTime counts from
// boot. The mm fields (StartCode, EndCode, StartStack, StartData…EnvEnd) read as
// zero unless the reader may ptrace the process, and are zero for kernel threads
// and zombies.
type ProcStat struct {
	Pid        int    // (1)
	Comm       string // (2) raw, may contain blanks, parentheses and newlines
	State      byte   // (3)
	PPid       int    // (4)
	Pgrp       int    // (5)
	Session    int    // (6)
	TtyNr      int    // (7) controlling tty as a userspace dev_t; see TTY
	Tpgid      int    // (8) foreground process group of the tty, or -1
	Flags      uint32 // (9) PF_* flags
	MinFlt     uint64 // (10)
	CMinFlt    uint64 // (11)
	MajFlt     uint64 // (12)
	CMajFlt    uint64 // (13)
	Utime      uint64 // (14)
	Stime      uint64 // (15)
	CUtime     int64  // (16)
	CStime     int64  // (17)
	Priority   int64  // (18)
	Nice       int64  // (19)
	NumThreads int    // (20)
	StartTime  uint64 // (22)
	VSize      uint64 // (23) bytes
	RSS        int64  // (24) pages
	RSSLim     uint64 // (25) bytes
	StartCode  uint64 // (26)
	EndCode    uint64 // (27)
	StartStack uint64 // (28)
	KstkESP    uint64 // (29) only for a task that is dumping core
	KstkEIP    uint64 // (30)
	WChan      uint64 // (35) 0 or 1 since 4.x
	ExitSignal int    // (38) signal sent to the parent at exit
	Processor  int    // (39)
	RTPriority uint32 // (40)
	Policy     uint32 // (41)
	BlkioTicks uint64 // (42) delayacct_blkio_ticks
	GuestTime  uint64 // (43)
	CGuestTime int64  // (44)
	StartData  uint64 // (45)
	EndData    uint64 // (46)
	StartBrk   uint64 // (47) the heap's start; the current brk needs brk(0)
	ArgStart   uint64 // (48)
	ArgEnd     uint64 // (49)
	EnvStart   uint64 // (50)
	EnvEnd     uint64 // (51)
	ExitCode   int    // (52) wait status, for a zombie
}

// TTY returns the controlling terminal's device number (zero when none).
func (s *ProcStat) TTY() Dev { return DevFromStat(uint64(uint32(s.TtyNr))) }

// statFields is the number of fields this kernel prints (since Linux 3.5).
const statFields = 52

// Stat parses /proc/PID/stat.
func (f FS) Stat(pid int) (*ProcStat, error) { return readStat(f.pidPath(pid, "stat")) }

// TaskStat parses /proc/PID/task/TID/stat.
func (f FS) TaskStat(pid, tid int) (*ProcStat, error) {
	return readStat(f.taskPath(pid, tid, "stat"))
}

// Stat parses /proc/PID/stat with the default FS.
func Stat(pid int) (*ProcStat, error) { return FS{}.Stat(pid) }

// TaskStat parses /proc/PID/task/TID/stat with the default FS.
func TaskStat(pid, tid int) (*ProcStat, error) { return FS{}.TaskStat(pid, tid) }

func readStat(path string) (*ProcStat, error) {
	return withFile(path, func(data []byte) (*ProcStat, error) {
		return parseStat(path, data)
	})
}

// parseStat parses one stat line. The comm is whatever the task set with prctl
// (PR_SET_NAME) or exec: up to 15 bytes of anything but NUL, so it may hold ")",
// " (" and newlines. Nothing after the comm can contain ')', so the comm ends at
// the LAST ')' of the file.
func parseStat(path string, data []byte) (*ProcStat, error) {
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 1 || closing < open || data[open-1] != ' ' {
		return nil, parseErr(path, 0, "no (comm) in %q", truncate(data))
	}
	s := &ProcStat{}
	pid, ok := parseInt(data[:open-1])
	if !ok {
		return nil, parseErr(path, 0, "bad pid %q", data[:open-1])
	}
	s.Pid = int(pid)
	s.Comm = string(data[open+1 : closing])

	// Fields 3.. are single-space separated; the line ends in '\n'.
	rest := trimNL(data[closing+1:])
	var f [statFields + 1][]byte // f[i] is field i (1-based); f[1], f[2] unused
	n := 2
	for {
		var tok []byte
		tok, rest = nextField(rest)
		if len(tok) == 0 {
			break
		}
		n++
		if n <= statFields {
			f[n] = tok
		}
	}
	if n < statFields {
		return nil, parseErr(path, 0, "%d fields, want %d", n, statFields)
	}
	if len(f[3]) != 1 {
		return nil, parseErr(path, 0, "bad state %q", f[3])
	}
	s.State = f[3][0]

	bad := 0
	u := func(i int) uint64 {
		v, ok := parseDec(f[i])
		if !ok && bad == 0 {
			bad = i
		}
		return v
	}
	d := func(i int) int64 {
		v, ok := parseInt(f[i])
		if !ok && bad == 0 {
			bad = i
		}
		return v
	}
	s.PPid = int(d(4))
	s.Pgrp = int(d(5))
	s.Session = int(d(6))
	s.TtyNr = int(d(7))
	s.Tpgid = int(d(8))
	s.Flags = uint32(u(9))
	s.MinFlt = u(10)
	s.CMinFlt = u(11)
	s.MajFlt = u(12)
	s.CMajFlt = u(13)
	s.Utime = u(14)
	s.Stime = u(15)
	s.CUtime = d(16)
	s.CStime = d(17)
	s.Priority = d(18)
	s.Nice = d(19)
	s.NumThreads = int(d(20))
	d(21) // itrealvalue, always 0
	s.StartTime = u(22)
	s.VSize = u(23)
	s.RSS = d(24)
	s.RSSLim = u(25)
	s.StartCode = u(26)
	s.EndCode = u(27)
	s.StartStack = u(28)
	s.KstkESP = u(29)
	s.KstkEIP = u(30)
	for i := 31; i <= 34; i++ {
		u(i) // obsolete decimal signal masks; status has them in hex
	}
	s.WChan = u(35)
	u(36) // nswap
	u(37) // cnswap
	s.ExitSignal = int(d(38))
	s.Processor = int(d(39))
	s.RTPriority = uint32(u(40))
	s.Policy = uint32(u(41))
	s.BlkioTicks = u(42)
	s.GuestTime = u(43)
	s.CGuestTime = d(44)
	s.StartData = u(45)
	s.EndData = u(46)
	s.StartBrk = u(47)
	s.ArgStart = u(48)
	s.ArgEnd = u(49)
	s.EnvStart = u(50)
	s.EnvEnd = u(51)
	s.ExitCode = int(d(52))
	if bad != 0 {
		return nil, parseErr(path, 0, "bad field %d %q", bad, f[bad])
	}
	return s, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
