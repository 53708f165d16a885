package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Refusals is the verdict on the app's processes in.Pids (host pids, main
// first; at checkpoint time the frozen ones): everything the dump would
// refuse that can be seen without freezing the app. `crrun status` and the
// checkpoint's NOCR gate both call it (with the sticky taints added by the
// supervisor), so that the two never disagree: a refusal the dump makes later
// and a scan could have seen belongs here, with the same reason text.
//
// It is seccomp.Scan (fds, mappings, ptrace, seccomp, namespaces,
// personality) plus what needs the tree or sock_diag: a main thread gone by
// pthread_exit, a child sharing its parent's memory (vfork before exec,
// clone(CLONE_VM)) or fd table (clone(CLONE_FILES)), pidfds the dump cannot
// save, inotify watches whose files cannot be found again (watchPath: the
// paths the supervisor saw given to inotify_add_watch, as Request.WatchPath),
// a deleted file mapped and open nowhere that only root can read, and the
// AF_UNIX sockets it refuses (see unixRefusal).
//
// With inventory, it also observes each process as the checkpoint does once
// the tree is saved (package inventory) and gives what the inventory
// refuses (a scheduling policy, file locks, F_SETOWN…). `crrun status` asks
// for it; the checkpoint's gate does not, as the dump observes the very
// same fields after saving and refuses with the same inventory.Refusals.
//
// init is the host pid of crrun's init: what a restored process inherits
// rather than gets set is compared with it (Request.Init).
func Refusals(in seccomp.ScanInput, watchPath func(dev, ino uint64) (string, bool), inventory bool, init int) []seccomp.Finding {
	out := seccomp.Scan(in)
	if inventory {
		out = append(out, inventoryRefusals(in, init)...)
	}
	in2 := map[int]bool{}
	for _, pid := range in.Pids {
		in2[pid] = true
	}
	var sockets []sockFd
	stdio := map[seccomp.FileID][]int{}
	for k, id := range in.Stdio {
		stdio[id] = append(stdio[id], k)
	}
	var inets, netlinks []inetFd
	for _, pid := range in.Pids {
		add := func(kind string, fd int, reason string) {
			out = append(out, seccomp.Finding{Pid: pid, Kind: kind, Fd: fd, Reason: reason})
		}
		st, err := procfs.Stat(pid)
		if err != nil {
			continue // gone
		}
		if st.State == 'Z' || st.State == 'X' {
			if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil && len(tasks) > 1 {
				add("thread_exit", -1, mainThreadExitedReason(pid))
			}
			continue // a zombie: nothing else to look at
		}
		if r := ia32Refusal(pid); r != "" {
			add("ia32", -1, r)
		}
		if r := ksmRefusal(pid); r != "" {
			add("ksm", -1, r)
		}
		if in2[st.PPid] {
			if r, err := kcmp(st.PPid, pid, kcmpVM, 0, 0); err == nil && r == 0 {
				add("vfork", -1, vforkReason(pid, st.PPid))
			} else if r, err := kcmp(st.PPid, pid, kcmpFiles, 0, 0); err == nil && r == 0 {
				add("clone_files", -1, cloneFilesReason(pid, st.PPid))
			}
		}
		if r := unreadableMapping(pid, in.Pids); r != "" {
			add("deleted_mapping", -1, r)
		}
		fds, err := procfs.Fds(pid)
		if err != nil {
			continue
		}
		for _, e := range fds {
			switch {
			case e.Kind == procfs.KindPidfd:
				if info, err := procfs.Fdinfo(pid, e.Num); err == nil {
					if r := pidfdRefusal(info.Pidfd, e.Num); r != "" {
						add("pidfd", e.Num, r)
					}
				}
			case e.Kind == procfs.KindMemfd:
				if r := memfdHugetlb(pid, e.Num); r != "" {
					add("memfd", e.Num, r)
				}
			case e.Kind == procfs.KindInotify:
				if info, err := procfs.Fdinfo(pid, e.Num); err == nil {
					if _, err := inotifyWatches(info.Inotify, watchPath); err != nil {
						add("inotify", e.Num, inotifyReason(e.Num, err))
					}
				}
			case e.Kind == procfs.KindSocket && e.Family == procfs.FamilyUnix:
				if id, ok := seccomp.StatFileID(fmt.Sprintf("/proc/%d/fd/%d", pid, e.Num)); ok && len(sameDescription(stdio[id], pid, e.Num)) > 0 {
					continue // crrun's own stdio, as the dump decides it (files.go)
				}
				sockets = append(sockets, sockFd{host: pid, fd: e.Num, ino: e.Inode})
			case e.Kind == procfs.KindSocket && isInetSaved(e):
				inets = append(inets, inetFd{host: pid, fd: e.Num, ino: e.Inode})
			case e.Kind == procfs.KindSocket && e.Family == procfs.FamilyNetlink:
				netlinks = append(netlinks, inetFd{host: pid, fd: e.Num, ino: e.Inode})
			case e.Kind == procfs.KindSocket && e.Family == procfs.FamilyPacket:
				if r := packetGateRefusal(pid, e.Num); r != "" { // packet.go
					out = append(out, seccomp.Finding{Pid: pid, Kind: "socket", Detail: e.Family.String(), Fd: e.Num, Reason: r})
				}
			}
		}
	}
	if os.Geteuid() == 0 && init > 0 && !sameNetNS(init) && len(in.Pids) > 0 {
		if r := netConfRefusal(init); r != "" {
			out = append(out, seccomp.Finding{Pid: in.Pids[0], Kind: "netns", Fd: -1, Reason: r})
		}
	}
	out = append(out, inetRefusals(inets, init, in.Urgent)...)
	out = append(out, netlinkRefusals(netlinks)...)
	out = append(out, filterRefusals(sockets)...)
	return append(out, unixRefusals(sockets, init)...)
}

// nsPid is host pid h as the app sees it (h itself if unknown).
func nsPid(h int) int {
	if st, err := procfs.Status(h); err == nil {
		if n := st.InnermostTgid(); n > 0 {
			return n
		}
	}
	return h
}

func mainThreadExitedReason(host int) string {
	return fmt.Sprintf("CR: the main thread of pid %d has exited (pthread_exit) while its other threads run: not supported yet", nsPid(host))
}

func vforkReason(child, parent int) string {
	return fmt.Sprintf("CR: process %d shares the memory of its parent %d (a vfork child that has not exec'd yet, or clone(CLONE_VM)): not supported yet", nsPid(child), nsPid(parent))
}

func cloneFilesReason(child, parent int) string {
	return fmt.Sprintf("CR: process %d shares its parent %d's fd table (clone(CLONE_FILES)): not supported yet", nsPid(child), nsPid(parent))
}

func inotifyReason(fd int, err error) string {
	return fmt.Sprintf("CR: inotify (fd %d): %v", fd, err)
}

// pidfdRefusal is why the dump refuses a pidfd ("" if it saves it).
func pidfdRefusal(pi *procfs.PidfdInfo, fd int) string {
	if pi == nil || pi.Pid <= 0 {
		return fmt.Sprintf("CR: pidfd of a process that has exited not supported yet (fd %d)", fd)
	}
	if len(pi.NSpid) < 2 {
		return fmt.Sprintf("CR: pidfd of process %d outside the app not supported (fd %d)", pi.Pid, fd)
	}
	return ""
}

func deletedMappingReason(pid int, m *procfs.Mapping) string {
	return fmt.Sprintf("CR: pid %d: mapping %#x-%#x %s %q: a deleted file or memfd mapped with no fd open on it can only be read as root (/proc/PID/map_files needs CAP_CHECKPOINT_RESTORE)",
		nsPid(pid), m.Start, m.End, m.Perms, m.Path)
}

// unreadableMapping finds, as the dump would, a deleted file or memfd that
// pid maps, that crrun cannot open through /proc/PID/map_files (an ordinary
// user), and that no process of the app (pids) has open.
func unreadableMapping(pid int, pids []int) string {
	maps, err := procfs.Maps(pid)
	if err != nil {
		return ""
	}
	var fds map[[3]uint64]bool // dev major, minor, inode of every fd of the app
	for i := range maps {
		m := &maps[i]
		if !m.Deleted || vmaKind(&procfs.SmapsEntry{Mapping: *m}) != image.VMAFile ||
			strings.HasPrefix(m.Path, "/SYSV") || m.Path == "/[aio]" || m.Path == "/secretmem" {
			continue // not a file the dump reads through map_files (the scan judges the others)
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End), &st) == nil {
			continue
		}
		if fds == nil {
			fds = map[[3]uint64]bool{}
			for _, p := range pids {
				ents, _ := procfs.Fds(p)
				for _, e := range ents {
					if unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", p, e.Num), &st) == nil {
						fds[[3]uint64{uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev)), st.Ino}] = true
					}
				}
			}
		}
		if !fds[[3]uint64{uint64(m.Dev.Major), uint64(m.Dev.Minor), m.Inode}] {
			return deletedMappingReason(pid, m)
		}
	}
	return ""
}

// sockFd is one AF_UNIX fd of the app.
type sockFd struct {
	host, fd int
	ino      uint64
}

// unixRefusal is why the dump refuses an AF_UNIX socket u (ok: sock_diag
// knows it), held by the app (inTree: every socket inode the app holds), or
// "" if it can be saved. The dump's peeks may refuse more: files in flight
// restore could not send again (flightRefusal), datagrams restore could not
// send again from their senders (senders).
func unixRefusal(u unixDiag, ok bool, diag map[uint64]unixDiag, inTree map[uint64]bool) string {
	switch {
	case !ok:
		return fmt.Sprintf("unix socket %d unknown to sock_diag", u.ino)
	case u.state == tcpListen:
		for _, c := range u.icons {
			switch {
			case c == 0:
				return fmt.Sprintf("listening unix socket %q has a connection not accepted yet whose connecting socket was closed: what it queued cannot be read without accepting it", u.name)
			case !inTree[c]:
				return fmt.Sprintf("listening unix socket %q has a connection not accepted yet from %s: not supported", u.name, outsidePeer(c, diag))
			case diag[c].wqueue > 0:
				return fmt.Sprintf("listening unix socket %q has a connection not accepted yet with bytes queued in it: they cannot be read without accepting it", u.name)
			}
		}
		return ""
	case u.peer != 0 && !inTree[u.peer]:
		if _, alive := diag[u.peer]; alive {
			return fmt.Sprintf("unix socket connected to %s: not supported", outsidePeer(u.peer, diag))
		}
	}
	return ""
}

// outsidePeer names socket ino, which no fd of the app holds: its address,
// and a process holding it if one can be found.
func outsidePeer(ino uint64, diag map[uint64]unixDiag) string {
	what := fmt.Sprintf("socket %d outside the app", ino)
	if n := diag[ino].name; n != "" {
		what = fmt.Sprintf("%q (socket %d) outside the app", strings.ReplaceAll(n, "\x00", "@"), ino)
	}
	if pid, comm := socketHolder(ino); pid > 0 {
		what += fmt.Sprintf(", held by pid %d (%s)", pid, comm)
	}
	return what
}

// socketHolder finds a process with an fd on socket ino (0 if none is
// visible).
func socketHolder(ino uint64) (int, string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, ""
	}
	want := fmt.Sprintf("socket:[%d]", ino)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == want {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				return pid, strings.TrimSpace(string(comm))
			}
		}
	}
	return 0, ""
}

// unixReason renders a unix socket refusal as the dump gives it.
func unixReason(reason string, nspid, fd int) string {
	return fmt.Sprintf("CR: %s (pid %d fd %d)", reason, nspid, fd)
}

// unixRefusals applies unixRefusal to every AF_UNIX fd of the app.
func unixRefusals(fds []sockFd, init int) []seccomp.Finding {
	if len(fds) == 0 {
		return nil
	}
	diag, _, err := unixSockets(init)
	if err != nil {
		return nil // the dump says why
	}
	inTree := map[uint64]bool{}
	for _, s := range fds {
		inTree[s.ino] = true
	}
	var out []seccomp.Finding
	peeked := map[uint64]bool{}
	for _, s := range fds {
		u, ok := diag[s.ino]
		if !ok {
			u.ino = s.ino
		}
		reason := unixRefusal(u, ok, diag, inTree)
		if reason == "" && u.typ == unix.SOCK_STREAM && u.rqueue > 0 && !peeked[u.ino] {
			peeked[u.ino] = true
			if oob, _ := oobQueued(s.host, s.fd); oob {
				reason = oobReason
			} else if scmFds(s.host, s.fd) > 0 {
				reason = streamRightsRefusal(u, diag, inTree, passesCred(s.host, s.fd))
			}
		}
		if reason != "" {
			out = append(out, seccomp.Finding{Pid: s.host, Kind: "unix_socket", Fd: s.fd,
				Reason: unixReason(reason, nsPid(s.host), s.fd)})
		}
	}
	return out
}

// scmFds reads the number of file descriptors in flight on a unix socket's
// receive queue (fdinfo's scm_fds, Linux 5.7+; 0 if absent).
func scmFds(pid, fd int) int {
	info, err := procfs.Fdinfo(pid, fd)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(info.Extra["scm_fds"]))
	return n
}

// inventoryRefusals observes every live process of in.Pids as the
// checkpoint's observe does (the app's fds on crrun's stdio left out) and
// returns what inventory.Refusals refuses, as the dump words it.
func inventoryRefusals(in seccomp.ScanInput, init int) []seccomp.Finding {
	var live []int
	for _, pid := range in.Pids {
		if st, err := procfs.Stat(pid); err == nil && st.State != 'Z' && st.State != 'X' {
			live = append(live, pid)
		}
	}
	if len(live) == 0 {
		return nil
	}
	ns, err := inventory.NamespaceOf(live[0])
	if err != nil {
		return nil
	}
	stdio := map[seccomp.FileID][]int{}
	for k, id := range in.Stdio {
		stdio[id] = append(stdio[id], k)
	}
	if init == 0 {
		init = os.Getpid()
	}
	base, err := inventory.Baseline(init)
	if err != nil {
		base = nil
	}
	obs := inventory.NewTree(ns)
	var out []seccomp.Finding
	for _, pid := range live {
		// crrun's own stdio, as the dump decides it (files.go).
		skip := map[int]bool{}
		if fds, err := procfs.Fds(pid); err == nil {
			for _, e := range fds {
				if id, ok := seccomp.StatFileID(fmt.Sprintf("/proc/%d/fd/%d", pid, e.Num)); ok && len(sameDescription(stdio[id], pid, e.Num)) > 0 {
					skip[e.Num] = true
				}
			}
		}
		f, err := obs.Observe(inventory.Proc{Host: pid, Skip: skip})
		if err != nil {
			continue // gone meanwhile; the checkpoint says why if it is not
		}
		rs := inventory.Refusals(f)
		if base != nil {
			rs = append(rs, inventory.InheritedRefusals(f, base)...)
		}
		for _, r := range rs {
			out = append(out, seccomp.Finding{Pid: pid, Kind: "inventory", Fd: -1, Reason: r})
		}
	}
	return out
}

// passesCred reports a unix socket with SO_PASSCRED or SO_PASSPIDFD (false
// if it cannot be read: the dump reads it again).
func passesCred(pid, fd int) bool {
	c, err := ptrace.CopyFd(pid, fd)
	if err != nil {
		return false
	}
	defer unix.Close(c)
	o := image.ReadSockOpts(c)
	return o["passcred"] != 0 || o["passpidfd"] != 0
}
