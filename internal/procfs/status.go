package procfs

// IDs holds the four ids of a "Uid:" or "Gid:" line.
type IDs struct {
	Real, Effective, Saved, FS uint32
}

// SigQ is the "SigQ:" line: signals queued to the real user / the RLIMIT_SIGPENDING
// limit.
type SigQ struct {
	Queued, Limit uint64
}

// ProcStatus is /proc/PID/status (or /proc/PID/task/TID/status). Memory sizes are in
// bytes (the file prints kB). Fields absent from the file (the Vm* lines of a
// zombie or kernel thread) stay zero.
type ProcStatus struct {
	Name      string // the comm, with the kernel's "\n" and "\\" escapes undone
	Umask     uint32
	State     byte   // R, S, D, T, t, X, Z, P, I
	StateName string // "running", "sleeping", "tracing stop"...
	Tgid      int
	Ngid      int
	Pid       int // the thread id when read for a thread
	PPid      int
	TracerPid int
	Uid, Gid  IDs
	FDSize    int
	Groups    []uint32
	// Ids in each PID namespace the task is visible in, outermost first; the last
	// one is the id inside the task's own namespace.
	NStgid, NSpid, NSpgid, NSsid []int
	Kthread                      bool

	VmPeak, VmSize, VmLck, VmPin, VmHWM, VmRSS uint64
	RssAnon, RssFile, RssShmem                 uint64
	VmData, VmStk, VmExe, VmLib, VmPTE, VmSwap uint64
	HugetlbPages                               uint64
	CoreDumping                                bool
	THPEnabled                                 bool

	Threads int
	SigQ    SigQ
	// Signal masks, bit n-1 for signal n.
	SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt uint64
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	NoNewPrivs                             bool
	Seccomp                                int // 0 disabled, 1 strict, 2 filter
	SeccompFilters                         int // number of filters attached
	CpusAllowedList                        string

	VoluntaryCtxtSwitches, NonvoluntaryCtxtSwitches uint64
}

// Status parses /proc/PID/status. Given a thread id instead of a pid it reads that
// thread (thread directories resolve at the top level even though they are not
// listed there), which is how a seccomp notification's TID finds its Tgid.
func (f FS) Status(pid int) (*ProcStatus, error) {
	return readStatus(f.pidPath(pid, "status"))
}

// TaskStatus parses /proc/PID/task/TID/status.
func (f FS) TaskStatus(pid, tid int) (*ProcStatus, error) {
	return readStatus(f.taskPath(pid, tid, "status"))
}

// Status parses /proc/PID/status with the default FS.
func Status(pid int) (*ProcStatus, error) { return FS{}.Status(pid) }

// TaskStatus parses /proc/PID/task/TID/status with the default FS.
func TaskStatus(pid, tid int) (*ProcStatus, error) { return FS{}.TaskStatus(pid, tid) }

func readStatus(path string) (*ProcStatus, error) {
	return withFile(path, func(data []byte) (*ProcStatus, error) {
		return parseStatus(path, data)
	})
}

func parseStatus(path string, data []byte) (*ProcStatus, error) {
	s := &ProcStatus{}
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = cutLine(data)
		key, value, ok := cutKey(line)
		if !ok {
			if len(trimSpace(line)) == 0 {
				continue
			}
			return nil, parseErr(path, n, "no colon in %q", line)
		}
		var err bool
		switch string(key) {
		case "Name":
			// "Name:\t%s": take the comm verbatim, blanks included.
			s.Name = unescapeComm(line[min(len(key)+2, len(line)):])
		case "Umask":
			v, ok := parseOct(value)
			s.Umask, err = uint32(v), !ok
		case "State":
			if len(value) == 0 {
				err = true
				break
			}
			s.State = value[0]
			if o, c := indexByte(value, '('), indexByte(value, ')'); o >= 0 && c > o {
				s.StateName = stateName(value[o+1 : c])
			}
		case "Tgid":
			s.Tgid, err = decInt(value)
		case "Ngid":
			s.Ngid, err = decInt(value)
		case "Pid":
			s.Pid, err = decInt(value)
		case "PPid":
			s.PPid, err = decInt(value)
		case "TracerPid":
			s.TracerPid, err = decInt(value)
		case "Uid":
			s.Uid, err = parseIDs(value)
		case "Gid":
			s.Gid, err = parseIDs(value)
		case "FDSize":
			s.FDSize, err = decInt(value)
		case "Groups":
			for {
				var g []byte
				g, value = nextField(value)
				if len(g) == 0 {
					break
				}
				v, ok := parseDec(g)
				if !ok || v > 1<<32-1 {
					err = true
					break
				}
				s.Groups = append(s.Groups, uint32(v))
			}
		case "NStgid":
			s.NStgid, err = parseIntList(value)
		case "NSpid":
			s.NSpid, err = parseIntList(value)
		case "NSpgid":
			s.NSpgid, err = parseIntList(value)
		case "NSsid":
			s.NSsid, err = parseIntList(value)
		case "Kthread":
			s.Kthread, err = parseBool(value)
		case "VmPeak":
			s.VmPeak, err = kb(value)
		case "VmSize":
			s.VmSize, err = kb(value)
		case "VmLck":
			s.VmLck, err = kb(value)
		case "VmPin":
			s.VmPin, err = kb(value)
		case "VmHWM":
			s.VmHWM, err = kb(value)
		case "VmRSS":
			s.VmRSS, err = kb(value)
		case "RssAnon":
			s.RssAnon, err = kb(value)
		case "RssFile":
			s.RssFile, err = kb(value)
		case "RssShmem":
			s.RssShmem, err = kb(value)
		case "VmData":
			s.VmData, err = kb(value)
		case "VmStk":
			s.VmStk, err = kb(value)
		case "VmExe":
			s.VmExe, err = kb(value)
		case "VmLib":
			s.VmLib, err = kb(value)
		case "VmPTE":
			s.VmPTE, err = kb(value)
		case "VmSwap":
			s.VmSwap, err = kb(value)
		case "HugetlbPages":
			s.HugetlbPages, err = kb(value)
		case "CoreDumping":
			s.CoreDumping, err = parseBool(value)
		case "THP_enabled":
			s.THPEnabled, err = parseBool(value)
		case "Threads":
			s.Threads, err = decInt(value)
		case "SigQ":
			i := indexByte(value, '/')
			if i < 0 {
				err = true
				break
			}
			q, ok1 := parseDec(value[:i])
			l, ok2 := parseDec(value[i+1:])
			s.SigQ, err = SigQ{q, l}, !ok1 || !ok2
		case "SigPnd":
			s.SigPnd, err = hex64(value)
		case "ShdPnd":
			s.ShdPnd, err = hex64(value)
		case "SigBlk":
			s.SigBlk, err = hex64(value)
		case "SigIgn":
			s.SigIgn, err = hex64(value)
		case "SigCgt":
			s.SigCgt, err = hex64(value)
		case "CapInh":
			s.CapInh, err = hex64(value)
		case "CapPrm":
			s.CapPrm, err = hex64(value)
		case "CapEff":
			s.CapEff, err = hex64(value)
		case "CapBnd":
			s.CapBnd, err = hex64(value)
		case "CapAmb":
			s.CapAmb, err = hex64(value)
		case "NoNewPrivs":
			s.NoNewPrivs, err = parseBool(value)
		case "Seccomp":
			s.Seccomp, err = decInt(value)
		case "Seccomp_filters":
			s.SeccompFilters, err = decInt(value)
		case "Cpus_allowed_list":
			s.CpusAllowedList = string(value)
		case "voluntary_ctxt_switches":
			v, ok := parseDec(value)
			s.VoluntaryCtxtSwitches, err = v, !ok
		case "nonvoluntary_ctxt_switches":
			v, ok := parseDec(value)
			s.NonvoluntaryCtxtSwitches, err = v, !ok
		}
		if err {
			return nil, parseErr(path, n, "bad %s value %q", key, value)
		}
	}
	if s.Pid == 0 && s.Tgid == 0 {
		return nil, parseErr(path, 0, "no Pid or Tgid line")
	}
	return s, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// decInt parses a decimal int; the bool is true on failure, to fit the switch.
func decInt(b []byte) (int, bool) {
	v, ok := parseInt(b)
	return int(v), !ok
}

func hex64(b []byte) (uint64, bool) {
	v, ok := parseHex(b)
	return v, !ok
}

func kb(b []byte) (uint64, bool) {
	v, ok := parseKB(b)
	return v, !ok
}

func parseBool(b []byte) (bool, bool) {
	switch string(b) {
	case "0":
		return false, false
	case "1":
		return true, false
	}
	return false, true
}

func parseIDs(b []byte) (IDs, bool) {
	var v [4]uint32
	for i := range v {
		var f []byte
		f, b = nextField(b)
		x, ok := parseDec(f)
		if !ok || x > 1<<32-1 {
			return IDs{}, true
		}
		v[i] = uint32(x)
	}
	return IDs{v[0], v[1], v[2], v[3]}, false
}

func parseIntList(b []byte) ([]int, bool) {
	var out []int
	for {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			return out, false
		}
		v, ok := parseInt(f)
		if !ok {
			return nil, true
		}
		out = append(out, int(v))
	}
}

func stateName(b []byte) string {
	switch string(b) {
	case "running":
		return "running"
	case "sleeping":
		return "sleeping"
	case "disk sleep":
		return "disk sleep"
	case "stopped":
		return "stopped"
	case "tracing stop":
		return "tracing stop"
	case "zombie":
		return "zombie"
	case "dead":
		return "dead"
	case "idle":
		return "idle"
	case "parked":
		return "parked"
	}
	return string(b)
}

// unescapeComm undoes the escaping /proc/PID/status applies to the task name: the
// kernel writes "\n" as `\n` and "\" as `\\` (string_escape_str with
// ESCAPE_SPACE|ESCAPE_SPECIAL limited to "\n\\").
func unescapeComm(b []byte) string {
	if indexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case 'n':
				out = append(out, '\n')
				i++
				continue
			case '\\':
				out = append(out, '\\')
				i++
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

// InnermostTgid is the thread group id inside the task's own PID namespace
// (the last NStgid entry), or 0 if the kernel printed none.
func (s *ProcStatus) InnermostTgid() int { return innermost(s.NStgid) }

// InnermostPid is the task's id inside its own PID namespace (the last NSpid
// entry), or 0.
func (s *ProcStatus) InnermostPid() int { return innermost(s.NSpid) }

func innermost(ids []int) int {
	if len(ids) == 0 {
		return 0
	}
	return ids[len(ids)-1]
}
