package supervisor

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
)

// A restore recreates the app's processes with their saved pids, each in a
// pid namespace of its own, while the host's files stay shared. A copy of
// the same app that still runs under another crrun on this host (the
// original, checkpointed and left running, or a second restore of the same
// image) has those very pids: both would use every file the app names
// after its pids (Open MPI's session directory in /tmp, pid and lock
// files), and the restore's own preparation cuts back files the running
// copy is writing (restore.Plan.Apply). Nothing tells either copy. So a
// restore is refused while another app under crrun runs a process with one
// of the image's pids and the same executable (device and inode), naming
// it. A process of another program that holds one of the pids by chance is
// not refused but warned about (docs/design.md, "What is not done yet"),
// and a launch starts its pids away from the pids other apps use
// (launchPidBase).

// liveCopy is a process of another app under crrun that holds a pid of the
// image with the image process's executable.
type liveCopy struct {
	pid        int    // the pid, in both namespaces
	host       int    // the live process, on the host
	exe        string // its executable
	supervisor int    // the crrun that runs it (its init's parent)
}

func (c *liveCopy) Error() string {
	return fmt.Sprintf("pid %d of the image runs %s, and so does pid %d of another app under crrun on this host "+
		"(crrun pid %d; host pid %d), still there after %v: it is this app again, the original still running or another restore of this image. "+
		"Restored beside it, both would share every file named after their pids (Open MPI's session directory in /tmp, pid and lock files), "+
		"and this restore would cut back any file it has grown since the checkpoint. End that app first (kill %d), or restore on another host",
		c.pid, c.exe, c.pid, c.supervisor, c.host, liveCopyGrace, c.supervisor)
}

// liveCopyGrace is how long a restore waits for a live copy to end: a copy
// whose crrun was just killed (a requeued job, a restart after kill -9)
// takes a moment to go, its init's death ending the processes.
const liveCopyGrace = 3 * time.Second

// waitLiveCopy returns the live copy findLiveCopy finds, unless it ends
// within liveCopyGrace.
func waitLiveCopy(procs []*image.Process) *liveCopy {
	deadline := time.Now().Add(liveCopyGrace)
	for {
		c, met := findLiveCopy(procs)
		if c == nil && len(met) > 0 {
			slog.Warn("restore: other apps under crrun on this host have pids of this image: " + strings.Join(met, "; ") +
				". Files the programs name after their pids (in /tmp, say) would be shared")
		}
		if c == nil || time.Now().After(deadline) {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appProc is a process of another app under crrun on this host.
type appProc struct {
	host       int // its host pid
	supervisor int // the crrun that runs it (its init's parent)
}

// otherApps lists, by their pid in their own namespace, the processes of
// the apps other crruns on this host run (this crrun's own earlier lives
// excluded), for want (nil: every pid). Processes crrun may not inspect
// (another user's, for an ordinary user: their files are not this user's
// either) are not listed. One readlink per host process; the status of
// those in other pid namespaces.
func otherApps(want func(nspid int) bool) map[int][]appProc {
	out := map[int][]appProc{}
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return out
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	sups := map[string]int{} // pid namespace → its crrun (0: not crrun's)
	for _, e := range ents {
		host, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Most processes share crrun's namespace: one readlink each.
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", host))
		if err != nil || ns == self {
			continue
		}
		st, err := procfs.Status(host)
		if err != nil || len(st.NSpid) < 2 || want != nil && !want(st.InnermostPid()) {
			continue
		}
		sup, ok := sups[ns]
		if !ok {
			sup = crrunSupervisorOf(host, st)
			sups[ns] = sup
		}
		if sup == 0 || sup == os.Getpid() {
			continue // not under crrun, or this crrun's own earlier life
		}
		out[st.InnermostPid()] = append(out[st.InnermostPid()], appProc{host: host, supervisor: sup})
	}
	return out
}

// findLiveCopy looks for a process of another app under crrun that holds
// one of the image's pids with the same executable (liveCopy); nil if
// there is none. It also returns the pids of the image that processes of
// other programs under crrun hold (a meeting by chance: warned about, not
// refused).
func findLiveCopy(procs []*image.Process) (*liveCopy, []string) {
	want := map[int]*image.Process{}
	for _, p := range procs {
		if p.Zombie == nil && p.PID > 1 {
			want[p.PID] = p
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	var met []string
	apps := otherApps(func(n int) bool { return want[n] != nil })
	for _, pid := range slices.Sorted(maps.Keys(apps)) {
		p := want[pid]
		for _, a := range apps[pid] {
			exe, err := procfs.Exe(a.host)
			if err != nil {
				continue
			}
			if image.MakeDev(exe.Dev.Major, exe.Dev.Minor) == p.Exe.Dev && exe.Inode == p.Exe.Inode {
				return &liveCopy{pid: p.PID, host: a.host, exe: exe.Path, supervisor: a.supervisor}, nil
			}
			met = append(met, fmt.Sprintf("pid %d (%s, under crrun pid %d)", pid, exe.Path, a.supervisor))
		}
	}
	return nil, met
}

// crrunSupervisorOf returns the host pid of the crrun whose app process
// host (status st) belongs to: the parent of its namespace's init, if that
// init is crrun's (InitArg); 0 if it is not under crrun.
func crrunSupervisorOf(host int, st *procfs.ProcStatus) int {
	for range 256 { // a chain of parents inside one namespace
		if st.InnermostPid() == 1 {
			cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", host))
			if err != nil {
				return 0
			}
			args := strings.Split(string(cmd), "\x00")
			if len(args) < 2 || args[1] != InitArg {
				return 0
			}
			return st.PPid
		}
		if st.PPid <= 1 {
			return 0
		}
		host = st.PPid
		var err error
		if st, err = procfs.Status(host); err != nil {
			return 0
		}
	}
	return 0
}
