package supervisor

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/seccomp"
)

// Status is the answer to `crrun status --json`. It is a stable interface:
// fields are only ever added. See docs/status.md.
type Status struct {
	SupervisorPid int       `json:"supervisor_pid"`
	Command       []string  `json:"command"`
	Started       time.Time `json:"started"`
	OnNOCR        string    `json:"on_nocr"`
	// MainNsPid is the main process's pid in the app's namespace; MainExit
	// says how it ended when it has exited while others run on (crrun then
	// exits so once they end).
	MainNsPid int             `json:"main_nspid,omitempty"`
	MainExit  *image.MainExit `json:"main_exit,omitempty"`
	// Checkpointable: a checkpoint that leaves the app running (USR1,
	// --interval, `crrun checkpoint`) would save it now. ExitCheckpointable:
	// `crrun checkpoint --exit` would (every reason is KeepRunning).
	Checkpointable     bool      `json:"checkpointable"`
	ExitCheckpointable bool      `json:"exit_checkpointable"`
	Reasons            []Reason  `json:"reasons"`
	Denied             []Reason  `json:"denied"`
	Processes          []Process `json:"processes"`
	Restarts           []Restart `json:"restarts"` // --restart-on-failure, oldest first
}

// Reason is one reason the app cannot be checkpointed, and who caused it.
type Reason struct {
	Reason  string    `json:"reason"`
	Kind    string    `json:"kind"`
	Pid     int       `json:"pid"`
	NsPid   int       `json:"nspid"`
	Tid     int       `json:"tid"`
	Comm    string    `json:"comm"`
	Syscall string    `json:"syscall"`          // the trapped call, "" if only the scan saw it
	Fd      *int      `json:"fd,omitempty"`     // the fd holding the state
	Source  string    `json:"source"`           // "trap" (sticky), "scan", or "trap+scan"
	Since   time.Time `json:"since,omitzero"`   // when the trap fired
	Sticky  bool      `json:"sticky,omitempty"` // lasts for the life of the process
	// KeepRunning: only a checkpoint that leaves the app running refuses
	// it; `checkpoint --exit` saves the state.
	KeepRunning bool `json:"keep_running_only,omitempty"`
}

// Process is one process of the app.
type Process struct {
	Pid     int    `json:"pid"`   // in crrun's (the caller's) PID namespace
	NsPid   int    `json:"nspid"` // inside the app's PID namespace
	PPid    int    `json:"ppid"`  // parent, inside the app's namespace (1 = crrun's init)
	Comm    string `json:"comm"`
	Threads int    `json:"threads"`
	State   string `json:"state"`
}

func (s *Supervisor) recordBaseline() {
	ns := seccomp.ReadNamespaces(s.initPid)
	if c, ok := ns["time_for_children"]; ok {
		// The init stays in the host's time namespace; the app is in the
		// one it made for its children (docs/design.md, "Clocks").
		ns["time"] = c
	}
	s.baseline = Baseline{
		Namespaces: ns,
		// The app runs under the filters its init had, plus crrun's own.
		SeccompFilters: seccomp.ReadSeccompFilters(s.initPid) + 1,
	}
}

// processes lists the app's processes, main first then in tree order, by
// walking /proc/PID/task/*/children down from crrun's init.
func (s *Supervisor) processes() []Process {
	var out []Process
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		all, _ := procfs.Children(pid)
		var kids []int
		for _, k := range all {
			if !seen[k] {
				seen[k] = true
				kids = append(kids, k)
			}
		}
		sort.Slice(kids, func(i, j int) bool {
			return (kids[i] == s.mainPid) || (kids[j] != s.mainPid && kids[i] < kids[j])
		})
		for _, k := range kids {
			out = append(out, readProcess(k))
			walk(k)
		}
	}
	if s.initPid > 0 {
		walk(s.initPid)
	}
	return out
}

func readProcess(pid int) Process {
	p := Process{Pid: pid}
	st, err := procfs.Status(pid)
	if err != nil {
		return p
	}
	p.Comm, p.Threads, p.State = st.Name, st.Threads, st.StateName
	p.NsPid = st.InnermostTgid()
	// PPid is in our namespace; show the parent's pid inside the app's one.
	if pst, err := procfs.Status(st.PPid); err == nil {
		p.PPid = pst.InnermostTgid()
	}
	return p
}

// stdioIDs identifies crrun's own stdin, stdout and stderr.
func stdioIDs() []seccomp.FileID {
	var ids []seccomp.FileID
	for fd := 0; fd <= 2; fd++ {
		if id, ok := seccomp.StatFileID(fmt.Sprintf("/proc/self/fd/%d", fd)); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// verdict is the one decision whether the app can be checkpointed, for
// `crrun status` and `crrun checkpoint` alike: checkpoint.Refusals on the
// live processes pids (tracer may trace them: the checkpoint's tracer
// thread), plus the taints no scan can see — the sticky ones, and the SysV
// ones while /proc/sysvipc shows an object that is, or may be, the app's.
// It returns the scan's findings, the taints that hold, and every taint of
// the ledger (to say which call made a finding).
func (s *Supervisor) verdict(pids []int, tracer int) (findings []seccomp.Finding, held, all []Taint) {
	alive := map[int]bool{}
	for _, p := range pids {
		alive[p] = true
	}
	all = s.ledger.Snapshot(alive)
	findings = checkpoint.Refusals(seccomp.ScanInput{Pids: pids, Namespaces: s.baseline.Namespaces, PrivateIPC: !s.hostIPC(),
		SeccompFilters: s.baseline.SeccompFilters, Stdio: stdioIDs(), Tracer: tracer, Urgent: s.urgent.snapshot()}, s.watches.lookup,
		// The checkpoint (tracer != 0) observes the inventory itself
		// once the tree is saved, and refuses with the same words.
		tracer == 0, s.initPid)
	// SysV: one look at /proc/sysvipc per kind, from the app's first call
	// of that kind; the pids of the app and of every process that made a
	// call (objects outlive their creator).
	since := map[string]time.Time{}
	callers := map[int]bool{}
	for p := range alive {
		callers[p] = true
	}
	for _, t := range all {
		if t.Scope == seccomp.SysVDecided {
			callers[t.Pid] = true
			if f, ok := since[t.Kind]; !ok || t.Time.Before(f) {
				since[t.Kind] = t.Time
			}
		}
	}
	sysv := map[string]string{}
	for kind, t0 := range since {
		if what, ok := seccomp.SysVHeld(kind, t0, callers); ok {
			sysv[kind] = what
		}
	}
	for _, t := range all {
		switch t.Scope {
		case seccomp.Sticky:
			held = append(held, t)
		case seccomp.SysVDecided:
			if what, ok := sysv[t.Kind]; ok {
				t.Reason += " (" + what + ")"
				held = append(held, t)
			}
		}
	}
	return findings, held, all
}

// refusals is verdict as the checkpoint's gate takes it: one list.
func (s *Supervisor) refusals(pids []int, tracer int) []seccomp.Finding {
	findings, held, _ := s.verdict(pids, tracer)
	for _, t := range held {
		findings = append(findings, seccomp.Finding{Pid: t.Pid, Kind: t.Kind, Reason: t.Reason, Fd: -1})
	}
	return findings
}

// madeBy finds the trapped call that made finding f: a call of the same
// process and kind, of the same detail (a socket's family), that created
// f's fd when f has one. Nil when none does: status then names no call
// rather than a wrong one.
func madeBy(f seccomp.Finding, taints []Taint) *Taint {
	for i := len(taints) - 1; i >= 0; i-- { // the latest call first: fds are reused
		t := &taints[i]
		if t.Pid != f.Pid || t.Kind != f.Kind || t.Detail != f.Detail {
			continue
		}
		if f.Fd >= 0 && !slices.Contains(t.Fds, f.Fd) {
			continue
		}
		return t
	}
	return nil
}

// Status answers `crrun status`: the process tree and whether the app can be
// checkpointed, with every reason: the same verdict as the checkpoint's.
// Trap records say which call made what the scan found, and carry the
// taints no scan can see.
func (s *Supervisor) Status() Status {
	procs := s.processes()
	nspid := map[int]int{}
	comm := map[int]string{}
	var pids []int
	for _, p := range procs {
		nspid[p.Pid] = p.NsPid
		comm[p.Pid] = p.Comm
		// As the checkpoint's gate: every live process (a zombie whose
		// main thread called pthread_exit while others run is one).
		if p.State != "zombie" || p.Threads > 1 {
			pids = append(pids, p.Pid)
		}
	}
	st := Status{SupervisorPid: os.Getpid(), Command: s.cfg.Argv, Started: s.started,
		OnNOCR: string(s.cfg.OnNOCR), Processes: procs, Reasons: []Reason{}, Denied: []Reason{}}
	st.Restarts = append([]Restart{}, s.line.restarts...)
	if st.Processes == nil {
		st.Processes = []Process{}
	}
	st.MainNsPid, st.MainExit = s.mainNs(), s.mainGone(0)
	findings, held, all := s.verdict(pids, 0)
	for _, f := range findings {
		r := Reason{Reason: f.Reason, Kind: f.Kind, Pid: f.Pid, NsPid: nspid[f.Pid], Tid: f.Pid,
			Comm: comm[f.Pid], Source: "scan", KeepRunning: f.KeepRunning}
		if f.Fd >= 0 {
			fd := f.Fd
			r.Fd = &fd
		}
		if t := madeBy(f, all); t != nil {
			r.Tid, r.Syscall, r.Since, r.Source = t.Tid, t.Syscall, t.Time, "trap+scan"
		}
		st.Reasons = append(st.Reasons, r)
	}
	for _, t := range held {
		st.Reasons = append(st.Reasons, Reason{Reason: t.Reason, Kind: t.Kind, Pid: t.Pid, NsPid: t.NsPid,
			Tid: t.Tid, Comm: t.Comm, Syscall: t.Syscall, Source: "trap", Since: t.Time, Sticky: t.Scope == seccomp.Sticky})
	}
	alive := map[int]bool{}
	for _, p := range procs {
		alive[p.Pid] = true
	}
	for _, t := range s.denied.Snapshot(alive) {
		st.Denied = append(st.Denied, Reason{Reason: t.Reason, Kind: t.Kind, Pid: t.Pid, NsPid: t.NsPid,
			Tid: t.Tid, Comm: t.Comm, Syscall: t.Syscall, Source: "trap", Since: t.Time})
	}
	st.Checkpointable = len(st.Reasons) == 0
	st.ExitCheckpointable = !slices.ContainsFunc(st.Reasons, func(r Reason) bool { return !r.KeepRunning })
	return st
}
