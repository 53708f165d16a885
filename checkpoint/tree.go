package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/nfhold"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// errRetry marks a freeze that met a transient state (a process exiting):
// Dump thaws everything and tries again a little later.
var errRetry = errors.New("the app is changing (a process is exiting)")

// exitingError is a freeze that met exiting threads: transient (a process on
// its way out), unless it is a main thread that called pthread_exit while the
// others run on.
type exitingError struct {
	pid  int
	tids []int
}

func (e *exitingError) Error() string {
	if e.leader() {
		return mainThreadExitedReason(e.pid)
	}
	return fmt.Sprintf("pid %d has exiting threads %v", e.pid, e.tids)
}

func (e *exitingError) leader() bool { return slices.Contains(e.tids, e.pid) }

func (e *exitingError) Unwrap() error { return errRetry }

// frozenTree is every process of the app, stopped.
type frozenTree struct {
	order  []int // host pids, parents before children, the main process first
	frozen map[int]*ptrace.Frozen
	zombie map[int]*procfs.ProcStat // exited, not reaped: nothing to stop
}

// freezeOptions: root's checkpoint suspends the app's own seccomp filters
// while it is traced (they would block injected syscalls).
var freezeOptions = func() ptrace.Options {
	if seccomp.CanSaveFilters {
		return ptrace.TraceClone | ptrace.SuspendSeccomp
	}
	return ptrace.TraceClone
}()

// freezeTree stops every process list() names, and lists again until a
// listing names nothing new. A stopped process cannot fork, and a child
// forked before its parent stopped is in the parent's children list by the
// time the parent reaches its stop, so the listing after the last freeze is
// complete.
func freezeTree(tr *ptrace.Tracer, list func() []int) (*frozenTree, error) {
	ft := &frozenTree{frozen: map[int]*ptrace.Frozen{}, zombie: map[int]*procfs.ProcStat{}}
	fail := func(err error) (*frozenTree, error) {
		ft.thaw(tr)
		return nil, err
	}
	for round := 0; ; round++ {
		if round > 1000 {
			return fail(errors.New("the app keeps creating processes faster than they can be frozen"))
		}
		pids := list()
		added := false
		for _, pid := range pids {
			if ft.frozen[pid] != nil || ft.zombie[pid] != nil {
				continue
			}
			st, err := procfs.Stat(pid)
			if err != nil {
				continue // gone (reaped) since the listing
			}
			if st.State == 'Z' || st.State == 'X' {
				if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil && len(tasks) > 1 {
					// Not a zombie process: its main thread called
					// pthread_exit and the others run on.
					return fail(&exitingError{pid: pid, tids: []int{pid}})
				}
				ft.zombie[pid] = st
				added = true
				continue
			}
			f, err := tr.FreezeProcess(pid, freezeOptions)
			if err != nil {
				if st, serr := procfs.Stat(pid); serr != nil {
					continue // gone
				} else if st.State == 'Z' {
					ft.zombie[pid] = st
					added = true
					continue
				}
				return fail(fmt.Errorf("freeze pid %d: %w", pid, err))
			}
			ft.frozen[pid] = f
			added = true
			if len(f.Zombies) > 0 {
				return fail(&exitingError{pid: pid, tids: f.Zombies})
			}
		}
		if !added {
			for _, pid := range pids {
				if ft.frozen[pid] != nil || ft.zombie[pid] != nil {
					ft.order = append(ft.order, pid)
				}
			}
			return ft, nil
		}
	}
}

func (ft *frozenTree) thaw(tr *ptrace.Tracer) {
	thaw := func(f *ptrace.Frozen) {
		if err := tr.Thaw(f); err != nil && !errors.Is(err, ptrace.ErrVanished) {
			fmt.Fprintf(os.Stderr, "crrun: thaw pid %d after checkpoint: %v\n", f.Pid, err)
		}
		delete(ft.frozen, f.Pid)
	}
	// Children first, and a stopped one back in its group stop before its
	// parent runs: detached, it runs kernel code for a moment (state R),
	// which its parent could see.
	for i := len(ft.order) - 1; i >= 0; i-- {
		if f := ft.frozen[ft.order[i]]; f != nil {
			thaw(f)
			if st := f.Stops[f.Pid]; st != nil && st.Kind == ptrace.StopGroup {
				for n := 0; n < 200; n++ {
					if s, err := procfs.Stat(f.Pid); err != nil || s.State == 'T' {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
	}
	for _, f := range ft.frozen {
		thaw(f)
	}
	ft.frozen = map[int]*ptrace.Frozen{}
}

// mainGone checks the main process. Alive, it must be listed first, and
// mainGone returns nil. Gone while others run on (a daemon, `cmd &`, a
// double fork: the orphans live under crrun's init), it returns how it ended,
// which the image records: from its zombie if crrun's init has not reaped it
// yet (the init will, and report that very status), else from the init's
// report (req.MainExit).
func (ft *frozenTree) mainGone(req Request) (*image.MainExit, error) {
	if req.Pid != 0 && ft.frozen[req.Pid] != nil {
		if ft.order[0] != req.Pid {
			return nil, fmt.Errorf("the app's main process %d is not the first of its tree %v", req.Pid, ft.order)
		}
		return nil, nil
	}
	var me *image.MainExit
	if z := ft.zombie[req.Pid]; req.Pid != 0 && z != nil {
		me = MainExitOf(unix.WaitStatus(z.ExitCode))
		delete(ft.zombie, req.Pid)
		ft.order = slices.DeleteFunc(ft.order, func(p int) bool { return p == req.Pid })
	} else if req.MainExit != nil {
		me = req.MainExit()
	}
	if len(ft.live()) == 0 {
		return nil, errors.New("the app has exited: no process of it is left to checkpoint")
	}
	if me == nil {
		return nil, fmt.Errorf("the app's main process %d has exited and crrun's init has not reported how yet: try again", req.MainNsPid)
	}
	return me, nil
}

// MainExitOf converts a wait status into the image's record of it.
func MainExitOf(ws unix.WaitStatus) *image.MainExit {
	if ws.Signaled() {
		return &image.MainExit{Signal: int(ws.Signal())}
	}
	return &image.MainExit{Code: ws.ExitStatus()}
}

// live lists the frozen (not zombie) processes in order.
func (ft *frozenTree) live() []int {
	var out []int
	for _, pid := range ft.order {
		if ft.frozen[pid] != nil {
			out = append(out, pid)
		}
	}
	return out
}

// kcmp type constants (include/uapi/linux/kcmp.h).
const (
	kcmpFile  = 0
	kcmpVM    = 1
	kcmpFiles = 2
)

func kcmp(pid1, pid2, typ int, a, b uintptr) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), uintptr(typ), a, b, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// vforkChild finds a process that shares its parent's memory (a vfork child
// that has not exec'd yet): its parent is blocked in vfork until it execs or
// exits, and the shared address space cannot be saved twice.
func (ft *frozenTree) vforkChild() (child, parent int) {
	for _, pid := range ft.live() {
		st, err := procfs.Stat(pid)
		if err != nil || ft.frozen[st.PPid] == nil {
			continue
		}
		if r, err := kcmp(st.PPid, pid, kcmpVM, 0, 0); err == nil && r == 0 {
			return pid, st.PPid
		}
	}
	return 0, 0
}

// tree collects the image of every process and links what they share.
type tree struct {
	tr           *ptrace.Tracer
	req          Request
	w            *image.Writer
	nsOf         map[int]int
	memBytes     uint64
	blobs        map[string]bool         // blobs written (deleted files are saved once per inode)
	unlinkedDone map[fileKey]unlinkedObj // deleted objects described, by inode
	shmem        map[fileKey][]span      // offsets of shared memory objects already saved
	fds          []fdRef                 // every fd of every process, for linking
	procs        map[int]*image.Process
	live         []int // host pids of the frozen processes
	slaves       []slaveRef
	ptys         map[int]*image.Pty // saved once per pty, whatever the number of fds on its master
	mainExit     *image.MainExit    // the main process is gone: how it ended
	// stopReported: for each group-stopped process (host pid) whose parent
	// is in the app, whether the parent has already seen the stop (set
	// when the parent is saved, before its children).
	stopReported map[int]bool
	// madeDumpable: host pids made dumpable for the checkpoint (openProc).
	madeDumpable []int
	snaps        []*snapshot    // copy-on-write children to drain after the thaw
	pool         chan []byte    // pageBuf's buffers, taken and given back (buffers)
	paused       *pausedBuf     // the buffer pages read in the pause go into (pauseread.go)
	full         []*pausedBuf   // buffers of pages read in the pause, for the writer after the thaw
	meta         image.Meta     // written by writeJSON
	smaps        map[int][]byte // each process's smaps as the dump read it, for the inventory
	parent       *image.Reader  // the generation this image may refer to (dirty.go), or nil
	refBytes     uint64         // memory referred to in parent generations
	parts        []partRef      // parts of parent extents to refer to after the thaw (dirty.go)
	// Files in flight in unix sockets (SCM_RIGHTS), received by crrun's
	// peeks: saved as fds of a process that is not in the image (flight,
	// host pid: crrun) so that they are linked like the app's, then copied
	// into their messages (flightFix); flightFds are crrun's, closed after.
	flight    *image.Process
	flightFds []int
	flightFix []flightFix
	// listeners: the app's listening TCP sockets, by inode (inet.go).
	listeners map[uint64]inetsock.ListenQueue
	// repairs: crrun's copies of the app's TCP connections, in repair
	// mode until the app is thawed or killed (inet.go).
	repairs []int
	// taken: the server ends crrun accepted from the app's listeners to
	// save them (checkpoint --exit only), in repair mode, closed when the
	// app is killed (inet.go, pendingConns).
	taken        []int
	pendingReads []pendingRead
	// holdID names this checkpoint's firewall holds of connections with a
	// peer outside the app, held those connections (inet.go, hold).
	holdID string
	held   []nfhold.Conn
	// appTCP: the local addresses of the app's connected TCP sockets
	// (inet.go, outside), read once.
	appTCP map[netip.AddrPort]bool
	// rqueues: inet_diag's rqueue of each connected TCP socket, by inode
	// (inet.go, tcpConn), read once.
	rqueues map[uint64]int
	// mutated: a step after the processes were saved changed the app
	// (semop adjustments, a stream queue read and sent again, connections
	// accepted): the inventory is taken again after it (inventory.go).
	mutated bool
}

// flightFix gives a message its files in flight once they are linked.
type flightFix struct {
	msgs []image.SockMsg
	i    int
	idx  []int // in flight.FDs
}

type fileKey struct{ dev, ino uint64 }

type span struct{ lo, hi uint64 }

// fdRef points at one saved fd and the process holding it.
type fdRef struct {
	host int // host pid
	p    *image.Process
	idx  int // in p.FDs
	key  fileKey
}

func newTree(tr *ptrace.Tracer, req Request) *tree {
	return &tree{tr: tr, req: req, w: req.Writer, blobs: map[string]bool{}, stopReported: map[int]bool{}, shmem: map[fileKey][]span{},
		procs: map[int]*image.Process{}, smaps: map[int][]byte{}}
}

// ns returns the pid of host pid/tid h inside the app's namespace.
func (t *tree) ns(h int) (int, error) {
	if n, ok := t.nsOf[h]; ok {
		return n, nil
	}
	st, err := procfs.Status(h)
	if err != nil {
		return 0, err
	}
	n := st.InnermostPid()
	if n == 0 {
		return 0, fmt.Errorf("no NSpid for %d", h)
	}
	if t.nsOf == nil {
		t.nsOf = map[int]int{}
	}
	t.nsOf[h] = n
	return n, nil
}

// dump saves every process, links shared state, and writes the metadata.
func (t *tree) dump(ft *frozenTree) ([]*image.Process, error) {
	defer t.undoDumpable()
	var procs []*image.Process
	var vdso image.VDSO
	t0 := time.Now()
	t.live = ft.live()
	early := t.startObserving(ft) // each process as soon as it is saved (inventory.go)
	defer early.wait()            // also when a process fails: nothing reads /proc after Dump
	for i, pid := range ft.order {
		var p *image.Process
		if zst := ft.zombie[pid]; zst != nil {
			var err error
			if p, err = t.zombie(pid, zst); err != nil {
				return nil, err
			}
		} else {
			f := ft.frozen[pid]
			d := &dumper{t: t, tr: t.tr, req: t.req, pid: pid, tids: f.Threads, w: t.w, frozen: f, ft: ft}
			var v image.VDSO
			var err error
			if p, v, err = d.dump(); err != nil {
				return nil, err
			}
			if vdso.SHA256 == "" { // the main process's, or the first one's when it is gone
				vdso = v
			}
			t.memBytes += d.memBytes
			early.add(t, i, pid, p)
		}
		t.procs[pid] = p
		procs = append(procs, p)
		slog.Debug("checkpoint: process saved", "pid", p.PID, "took", time.Since(t0))
	}
	sp := newSpans("tree", 0)
	defer sp.done()
	// Every observation ends before anything below changes the app.
	early.wait()
	sp.mark("observed")
	if err := t.semShareCheck(ft); err != nil {
		return nil, err
	}
	if err := t.linkFiles(); err != nil {
		return nil, err
	}
	if err := t.readTaken(); err != nil {
		return nil, err
	}
	if err := t.checkConns(); err != nil {
		return nil, err
	}
	sp.mark("linkFiles")
	if err := t.checkLocks(); err != nil {
		return nil, err
	}
	if err := t.epollTargets(); err != nil {
		return nil, err
	}
	t.linkPtys(procs)
	sp.mark("locks+epoll+ptys")
	if err := t.observe(ft, procs, early); err != nil {
		return nil, err
	}
	sp.mark("observe")
	meta := t.req.Meta
	meta.Root = procs[0].PID
	if t.req.TtyFg != nil {
		if fg := t.req.TtyFg(); fg > 0 {
			for i, host := range ft.order {
				if st, err := procfs.Stat(host); err == nil && procs[i].Zombie == nil && st.Pgrp == fg {
					meta.TtyFg = procs[i].PGID
					t.w.RequireFeature("tty-foreground")
					break
				}
			}
		}
	}
	if t.req.Terminal != nil {
		if meta.Terminal = t.req.Terminal(); meta.Terminal != nil {
			t.w.RequireFeature("terminal")
		}
	}
	if t.mainExit != nil {
		meta.Root, meta.MainExit = t.req.MainNsPid, t.mainExit
		t.w.RequireFeature("main-exited")
	}
	for _, p := range procs {
		meta.Processes = append(meta.Processes, p.PID)
	}
	meta.Hostname, _ = os.Hostname()
	meta.Host = image.ThisHost()
	meta.CPU = image.ThisCPU()
	if t.req.Init > 0 {
		if a, err := image.Affinity(t.req.Init); err == nil {
			meta.EnvAffinity = a
		}
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		meta.Kernel = image.Kernel{Release: unix.ByteSliceToString(uts.Release[:]),
			Version: unix.ByteSliceToString(uts.Version[:]), Machine: unix.ByteSliceToString(uts.Machine[:])}
	}
	meta.VDSO = vdso
	if t.req.IPC != nil {
		ipc, n, err := t.req.IPC(t.w)
		if err != nil {
			return nil, err
		}
		t.memBytes += n
		meta.IPC = ipc
		if err := sysvAttachments(procs, meta.IPC); err != nil {
			return nil, err
		}
	}
	// Last: every timer's remaining time has been read.
	clocks, err := appClocks(t.live)
	if err != nil {
		return nil, err
	}
	meta.Clocks = clocks
	sp.mark("meta+clocks")
	t.w.RequireFeature("clocks")
	if len(procs) > 1 {
		t.w.RequireFeature("process-tree")
	}
	// Credentials, scheduling, stops...: an older restore would ignore
	// them and run the app silently different (as root, for one).
	t.w.RequireFeature("proc-attrs")
	if meta.Net != "" {
		t.w.RequireFeature("net-private")
		// The app's namespace's ping_group_range (ping.go): only root's
		// app may have changed it from what crrun's init gave it (an
		// ordinary user's has no capability in crrun's user namespace),
		// and only root may setns to read it.
		if os.Geteuid() == 0 {
			pid := t.req.Init
			if pid <= 0 && len(ft.order) > 0 {
				pid = ft.order[0] // the app's main process: the same namespace
			}
			r, err := inetsock.PingGroupRange(pid)
			if err != nil {
				return nil, fmt.Errorf("net.ipv4.ping_group_range of the app's network namespace: %w", err)
			}
			// Saved even when "1 0": a restore would otherwise give
			// the new namespace its host's range (supervisor/netns.go).
			// Only another range needs a crrun that knows the field.
			meta.PingGroupRange = r
			if r != image.PingGroupRange {
				t.w.RequireFeature("ping-sockets")
			}
		}
	}
	t.meta = meta
	return procs, nil
}

// writeJSON writes the processes and the metadata dump collected: after
// the thaw, it needs nothing from the app.
func (t *tree) writeJSON(procs []*image.Process) error {
	for _, p := range procs {
		if err := t.w.WriteProcess(p); err != nil {
			return err
		}
	}
	return t.w.WriteMeta(&t.meta)
}

// zombie records a process that exited but was not reaped.
func (t *tree) zombie(pid int, st *procfs.ProcStat) (*image.Process, error) {
	nspid, err := t.ns(pid)
	if err != nil {
		return nil, fmt.Errorf("zombie %d: %w", pid, err)
	}
	p := &image.Process{PID: nspid, Comm: st.Comm, ExitSignal: st.ExitSignal, Zombie: &image.Zombie{Status: st.ExitCode}}
	if ws := unix.WaitStatus(st.ExitCode); ws.Signaled() && ws.CoreDump() {
		return nil, fmt.Errorf("CR: zombie %d (%s) was killed by %v with a core dump: not supported yet (restore cannot make it dump core again, and its parent's wait would see no core flag)", nspid, st.Comm, ws.Signal())
	}
	status, err := procfs.Status(pid)
	if err != nil {
		return nil, fmt.Errorf("zombie %d: %w", pid, err)
	}
	t.ids(p, st, status)
	return p, nil
}

// ids fills PPID, PGID and SID as the app sees them (0 = outside the app's
// namespace: crrun's own session).
func (t *tree) ids(p *image.Process, st *procfs.ProcStat, status *procfs.ProcStatus) {
	if pst, err := procfs.Status(st.PPid); err == nil {
		p.PPID = pst.InnermostTgid()
	}
	if n := len(status.NSpgid); n > 0 {
		p.PGID = status.NSpgid[n-1]
	}
	if n := len(status.NSsid); n > 0 {
		p.SID = status.NSsid[n-1]
	}
	p.NSPID = status.NSpid
}

// linkFiles finds the open file descriptions that several fds share (dup,
// fork, SCM_RIGHTS: kcmp tells), and saves the contents of pipes once.
func (t *tree) linkFiles() error {
	// Sockets first: their peeks find the files in flight, linked below
	// with the app's.
	defer func() {
		for _, fd := range t.flightFds {
			unix.Close(fd)
		}
		t.flightFds = nil
	}()
	if err := t.linkSockets(); err != nil {
		return err
	}
	// OFDs: fds on the same inode are compared with kcmp against one
	// representative of each description found so far.
	type class struct {
		rep fdRef
		id  int
	}
	byKey := map[fileKey][]class{}
	next := 1
	for _, r := range t.fds {
		f := &r.p.FDs[r.idx]
		id := 0
		for _, c := range byKey[r.key] {
			same, err := kcmp(r.host, c.rep.host, kcmpFile, uintptr(f.FD), uintptr(c.rep.p.FDs[c.rep.idx].FD))
			if err != nil {
				return fmt.Errorf("pid %d fd %d: kcmp with pid %d fd %d: %w", r.p.PID, f.FD, c.rep.p.PID,
					c.rep.p.FDs[c.rep.idx].FD, err)
			}
			if same == 0 {
				id = c.id
				break
			}
		}
		if id == 0 {
			id = next
			next++
			byKey[r.key] = append(byKey[r.key], class{rep: r, id: id})
		}
		f.OFD = id
	}
	// Pipes and FIFOs: the first fd of each carries its size and data.
	seen := map[uint64]bool{}
	for _, r := range t.fds {
		f := &r.p.FDs[r.idx]
		if f.Pipe == nil || seen[f.Pipe.Inode] {
			continue
		}
		seen[f.Pipe.Inode] = true
		if err := t.pipeData(r.host, f); err != nil {
			return fmt.Errorf("pid %d: fd %d (%s): %w", r.p.PID, f.FD, f.Path, err)
		}
	}
	for _, x := range t.flightFix {
		for _, k := range x.idx {
			x.msgs[x.i].Files = append(x.msgs[x.i].Files, t.flight.FDs[k])
		}
	}
	return nil
}

// pipeData reads what is buffered in the pipe of f without consuming it: a
// new read end (opened through /proc, O_NONBLOCK so it never waits for a
// writer) is tee(2)'d into a pipe of ours as large, which duplicates the
// buffers and leaves the app's pipe as it was.
func (t *tree) pipeData(host int, f *image.FD) error {
	rd, err := unix.Open(fmt.Sprintf("/proc/%d/fd/%d", host, f.FD), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open a read end: %w", err)
	}
	defer unix.Close(rd)
	size, err := unix.FcntlInt(uintptr(rd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return fmt.Errorf("F_GETPIPE_SZ: %w", err)
	}
	f.Pipe.Size = size
	n, err := unix.IoctlGetInt(rd, unix.TIOCINQ)
	if err != nil {
		return fmt.Errorf("FIONREAD: %w", err)
	}
	if n == 0 {
		return nil
	}
	var q [2]int
	if err := unix.Pipe2(q[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	defer unix.Close(q[0])
	defer unix.Close(q[1])
	if _, err := unix.FcntlInt(uintptr(q[1]), unix.F_SETPIPE_SZ, size); err != nil {
		return fmt.Errorf("F_SETPIPE_SZ(%d) on a pipe of crrun's: %w", size, err)
	}
	got, err := unix.Tee(rd, q[1], n, unix.SPLICE_F_NONBLOCK)
	if err != nil {
		return fmt.Errorf("tee %d buffered bytes: %w", n, err)
	}
	if int(got) != n {
		return fmt.Errorf("tee copied %d of %d buffered bytes", got, n)
	}
	buf := make([]byte, n)
	if _, err := readFull(q[0], buf); err != nil {
		return err
	}
	name := fmt.Sprintf("pipe-%d.bin", f.Pipe.Inode)
	if err := writeBlob(t.w, name, buf); err != nil {
		return err
	}
	f.Pipe.Data = name
	return nil
}

// writeBlob stores data as blob name.
func writeBlob(w *image.Writer, name string, data []byte) error {
	bw, err := w.CreateBlob(name)
	if err != nil {
		return err
	}
	if _, err := bw.Write(data); err != nil {
		bw.Close()
		return err
	}
	return bw.Close()
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, fmt.Errorf("short read: %d of %d bytes", n, len(b))
		}
		n += m
	}
	return n, nil
}

// saveBlobOnce saves the file at path as blob name unless this checkpoint
// already did (the same deleted file open or mapped in several places).
func (t *tree) saveBlobOnce(name, path string) error {
	if t.blobs[name] {
		return nil
	}
	if err := saveBlob(t.w, name, path); err != nil {
		return err
	}
	t.blobs[name] = true
	return nil
}

// fdOn finds an fd of the app on inode (major:minor, ino) and returns its
// /proc path (an ordinary user can open /proc/PID/fd/N of a process it
// traces, unlike /proc/PID/map_files).
func (t *tree) fdOn(major, minor uint32, ino uint64) (string, bool) {
	for _, pid := range t.live {
		fds, err := procfs.Fds(pid)
		if err != nil {
			continue
		}
		for _, e := range fds {
			link := fmt.Sprintf("/proc/%d/fd/%d", pid, e.Num)
			var st unix.Stat_t
			if unix.Stat(link, &st) == nil && st.Ino == ino && unix.Major(st.Dev) == major && unix.Minor(st.Dev) == minor {
				return link, true
			}
		}
	}
	return "", false
}

// inodeBlob names the blob of a deleted file or memfd by its inode, so that
// every fd and mapping of it shares one copy, and restore one file.
func inodeBlob(dev, ino uint64) string {
	return fmt.Sprintf("inode-%d-%d-%d.bin", unix.Major(dev), unix.Minor(dev), ino)
}

// uncovered returns the parts of [lo, hi) of object k not saved yet, and
// marks them saved.
func (t *tree) uncovered(k fileKey, lo, hi uint64) []span {
	out := []span{{lo, hi}}
	for _, c := range t.shmem[k] {
		var next []span
		for _, s := range out {
			if c.hi <= s.lo || c.lo >= s.hi {
				next = append(next, s)
				continue
			}
			if s.lo < c.lo {
				next = append(next, span{s.lo, c.lo})
			}
			if c.hi < s.hi {
				next = append(next, span{c.hi, s.hi})
			}
		}
		out = next
	}
	t.shmem[k] = append(t.shmem[k], span{lo, hi})
	slices.SortFunc(out, func(a, b span) int { return int(a.lo>>12) - int(b.lo>>12) })
	return out
}
