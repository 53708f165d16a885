package restore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// How a tree is rebuilt (docs/design.md, "Restoring a process tree"):
//
//  1. The stub (the main process's executable, exec'd stopped) clones the
//     main process with its pid. While it is still blank, that process gets
//     the NOCR filter (children inherit it; a responder answers its
//     notifications until the supervisor takes over), its stdio parked on
//     high fds, every open file description of the whole tree (pipes with
//     their data, socketpairs, files at their offsets, eventfds, timerfds…)
//     on parked fds above those, and every shared memory object at a
//     temporary address.
//  2. Each process is cloned, with its pid, from its blank parent: it
//     inherits every parked fd and shared object. Sessions (setsid) are made
//     before the process's own children exist; process groups afterwards,
//     leaders first.
//  3. Each process then takes its fds from the parked ones (dup3, so
//     descriptions stay shared exactly as they were), maps its memory
//     (shared objects by mremap of the inherited mapping, so every process
//     sees the same pages), and gets its threads and their state.
//  4. Zombies are made to exit again with their status while their parents are
//     still blank; the parents' SIGCHLD is consumed (the original one was
//     delivered or is in the saved pending set). Then pending signals and
//     credentials, and everything is let go.

// TreeRequest says what to restore into which stub.
type TreeRequest struct {
	Tracer *ptrace.Tracer
	// Stub is the host pid of a process that exec'd the main process's
	// executable and is stopped under Tracer at its PTRACE_EVENT_EXEC stop
	// (seized with TraceClone|TraceFork|TraceExec), before any instruction of
	// the new image ran. Its parent is crrun's init; its stdio is the
	// restorer's.
	Stub  int
	Image *image.Reader
	// BPF is the NOCR filter, installed in the main process while it is
	// blank (every process inherits it) with a new listener.
	BPF []byte
	// TempDir holds files that must be recreated (deleted files' content);
	// they are unlinked once the app has them open or mapped.
	TempDir string
}

// TreeResult is the restored tree, stopped under the tracer until Release.
type TreeResult struct {
	Root     int // host pid of the main process; 0 if it had exited (image.Meta.MainExit)
	Procs    []*Result
	Listener int // the seccomp listener, an fd of the caller's process
	stop     func()
}

// Result is one restored process.
type Result struct {
	PID  int   // in the app's namespace
	Pid  int   // host pid
	Tids []int // host tids, main first
	// Stopped: the process is in group-stop (job control), and stays so
	// after Release.
	Stopped bool
}

// treeRestorer holds what the processes of one tree share during restore.
type treeRestorer struct {
	req     TreeRequest
	tr      *ptrace.Tracer
	procs   []*image.Process
	by      map[int]*restorer // by namespace pid
	root    *restorer         // the main process, or the blank stand-in when it had exited
	blank   *restorer         // the stand-in: exits once every process is cloned
	scratch uint64
	all     []image.VMA // every process's mappings: free addresses avoid them all
	// envAffinity: the CPU affinity the restore's environment gives (the
	// stub's), for threads that had their environment's (attrs.go).
	envAffinity []image.Hex

	base    uint64    // first parked fd
	stdio   [3]uint64 // the restorer's stdio, parked
	ofd     map[int]uint64
	anchors []uint64           // parked helper fds closed at the end (FIFO keepers)
	shm     map[fileKey]uint64 // shared memory object → temporary address in every blank process
	shmSize map[fileKey]uint64
	memfd   map[string]uint64 // blob name → parked fd of a memfd holding it
	blobs   map[string]string // blob name → recreated file
	deleted []*unlinkedObj    // deleted objects recreated, named until finishUnlinked
	cleanup []func()

	epolls    map[int]bool      // epoll descriptions whose interest list is filled
	timerfds  []parkedTimerfd   // armed last (armTimerfds)
	ownerDone map[int]bool      // descriptions given their owner, signal and O_ASYNC (descKey)
	procFds   map[int][2]int    // /proc/PID files opened by their first holder: OFD → (pid, fd)
	shutdowns []sockShutdown    // made once every socket has its bytes
	unlinked  map[string]bool   // names bound for unlinked sockets, whose files go at the end
	helpers   map[int]*restorer // stand-ins for gone session and group leaders, by pid

	sockets   map[uint64]*image.Socket // every socket of the image, by inode
	listeners map[string]uint64        // listening sockets created, by name → parked fd
	listening map[uint64]listening     // the same, by parked fd: backlog and SO_PEERCRED
	makers    map[int]*credMaker       // processes making sockets as their SO_PEERCRED pid (peercred.go)
	sockFd    map[uint64]uint64        // every socket end created, by inode → parked fd
	peerFd    map[uint64]uint64        // the end each one is connected to (a temporary one for a closed peer)
	lateOpts  []lateOpts               // options set once every queue is filled (finishSockets)
	sockPipes map[uint64]*pipeObj      // openFiles' objects, for finishSockets
	sockSocks map[uint64]*sockObj
	rootCwd   bool           // the main process is in its working directory already
	ptys      map[int]uint64 // pty index (as saved) → parked master fd
	inet      inetState      // TCP and UDP sockets (inet.go)

	listener int
	respond  sync.WaitGroup
	quit     chan struct{}
	wake     int // eventfd that wakes the responder to quit (-1: none)
}

type fileKey struct {
	dev image.Dev
	ino uint64
}

// Tree restores the image. On failure everything it created is killed.
// It runs on the tracer's thread: every injected syscall is then a direct
// call, not a hand-off between threads (~23 µs of ~105 each, measured with
// BenchmarkDo and BenchmarkInject in internal/ptrace).
func Tree(req TreeRequest) (res *TreeResult, err error) {
	err = req.Tracer.Do(func() error {
		var e error
		res, e = tree(req)
		return e
	})
	return res, err
}

func tree(req TreeRequest) (res *TreeResult, err error) {
	t := &treeRestorer{req: req, tr: req.Tracer, procs: req.Image.Processes(), by: map[int]*restorer{},
		ofd: map[int]uint64{}, shm: map[fileKey]uint64{}, shmSize: map[fileKey]uint64{}, memfd: map[string]uint64{},
		blobs: map[string]string{}, listener: -1, wake: -1, quit: make(chan struct{})}
	for _, p := range t.procs {
		t.all = append(t.all, p.Memory...)
	}
	// The stub's affinity is the restore's environment's (attrs.go,
	// affinityWant); unreadable, every thread's saved one is set.
	t.envAffinity, _ = image.Affinity(req.Stub)
	defer t.closeTimerfds()
	defer t.inet.close()
	defer func() {
		for _, f := range t.cleanup {
			f()
		}
		if err != nil {
			t.stopResponder()
			if t.listener >= 0 {
				unix.Close(t.listener)
			}
			for _, r := range t.by {
				if r.pid != 0 {
					_ = unix.Kill(r.pid, unix.SIGKILL)
				}
			}
			for _, h := range t.helpers {
				_ = unix.Kill(h.pid, unix.SIGKILL)
			}
			if t.blank != nil && t.blank.pid != 0 {
				_ = unix.Kill(t.blank.pid, unix.SIGKILL)
			}
		}
	}()
	step := func(name string, f func() error) error {
		t0 := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		slog.Debug("restore step", "step", name, "took", time.Since(t0))
		return nil
	}
	// Zombies exit while their parents are blank, with the default SIGCHLD
	// disposition: a restored SIG_IGN or SA_NOCLDWAIT would have the kernel
	// reap them at once.
	for _, s := range []struct {
		name string
		f    func() error
	}{
		{"create the main process", t.createRoot},
		{"seccomp filter", t.seccomp},
		{"open files", t.openFiles},
		{"shared memory", t.sharedMemory},
		{"process tree", t.createTree},
		{"process groups", t.groups},
		{"zombies", t.zombies},
		{"socket queues", t.socketQueues},
		{"processes", t.eachLive((*restorer).restore)},
		{"semaphore undo lists", t.eachLive((*restorer).semUndo)},
		{"file locks", t.fileLocks},
		{"deleted files", t.finishUnlinked},
		{"stopped processes", t.stops},
		{"signals, credentials", t.eachLive((*restorer).finish)},
		{"timerfds", t.armTimerfds},
		{"verify", t.verify},
		{"scratch area", t.eachLive((*restorer).unmapScratch)},
		{"tcp connections", t.releaseConns},
	} {
		if err := step(s.name, s.f); err != nil {
			return nil, err
		}
	}
	res = &TreeResult{Listener: t.listener, stop: t.stopResponder}
	if t.blank == nil {
		res.Root = t.root.pid
	}
	for _, p := range t.procs {
		if p.Zombie != nil {
			continue
		}
		r := t.by[p.PID]
		pr := &Result{PID: p.PID, Pid: r.pid, Stopped: p.Attrs != nil && p.Attrs.Stop != nil}
		for _, th := range p.Threads {
			pr.Tids = append(pr.Tids, r.tids[th.TID])
		}
		res.Procs = append(res.Procs, pr)
	}
	return res, nil
}

// eachLive returns a step running f for every process that is not a
// zombie, in image order.
func (t *treeRestorer) eachLive(f func(*restorer) error) func() error {
	return func() error {
		for _, p := range t.procs {
			if p.Zombie != nil {
				continue
			}
			if err := f(t.by[p.PID]); err != nil {
				return fmt.Errorf("pid %d: %w", p.PID, err)
			}
		}
		return nil
	}
}

// Release hands the listener over (the responder stops) and lets every
// restored thread run. The detaches run on the tracer's thread in one go: a
// hand-off per thread would cost a wake-up of that thread each.
func Release(tr *ptrace.Tracer, res *TreeResult) error {
	if res.stop != nil {
		res.stop()
	}
	var err error
	t0 := time.Now()
	if e := tr.Do(func() error { err = release(tr, res); return nil }); e != nil {
		return e
	}
	slog.Debug("restore step", "step", "release", "took", time.Since(t0))
	return err
}

func release(tr *ptrace.Tracer, res *TreeResult) error {
	// Children first: a released process may at once kill another (the
	// main process ending its helpers), which then vanishes under us:
	// that is the app's doing, not a failure.
	var errs []error
	for i := len(res.Procs) - 1; i >= 0; i-- {
		p := res.Procs[i]
		for _, tid := range p.Tids {
			if err := tr.Detach(tid, 0); err != nil && !errors.Is(err, ptrace.ErrVanished) {
				errs = append(errs, err)
			}
		}
		// A stopped process goes back to its group stop once let go (it
		// runs kernel code for a moment, seen as state R): before its
		// parent runs and looks.
		if p.Stopped {
			if err := waitStopped(p.Pid); err != nil {
				errs = append(errs, fmt.Errorf("pid %d was stopped: %w", p.PID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// createRoot clones the main process with its saved pid from the stub:
// clone3 with set_tid and CLONE_PARENT (so its parent is crrun's init, like
// the original's), into a copy of the stub's address space whose
// /proc/PID/exe is already the app's executable.
//
// When the main process had exited (a daemon, `cmd &`: the image's
// MainExit), no process of the image is the root of the others: a *blank*
// process stands in for it, cloned the same way but with a pid the kernel
// picks (above every saved one). It gets the filter, the parked fds and the
// shared memory like a main process would; every orphan (and every helper)
// is cloned from it with CLONE_PARENT, so their parent is crrun's init as it
// was; and it exits once the tree exists, before anything runs (the init
// reaps it, and reports no main exit: see the init's MainGone).
func (t *treeRestorer) createRoot() error {
	meta := t.req.Image.Meta()
	p := t.req.Image.Process(meta.Root)
	if meta.MainExit != nil {
		// The stub exec'd the first live process's executable; the blank
		// process has its identity and working directory (relative socket
		// names are bound from there), in crrun's session, as the stub.
		var first *image.Process
		for _, q := range t.procs {
			if q.Zombie == nil {
				first = q
				break
			}
		}
		if first == nil {
			return errors.New("the main process had exited and no live process is in the image")
		}
		p = &image.Process{PID: 0, Exe: first.Exe, Cwd: first.Cwd}
	} else if p == nil || p.Zombie != nil {
		return fmt.Errorf("no live main process %d in the image", meta.Root)
	}
	stub := t.req.Stub
	r := &restorer{t: t, tr: t.tr, p: p, tids: map[int]int{}}
	t.root = r
	if meta.MainExit != nil {
		t.blank = r
	}
	if _, err := t.tr.Interrupt(stub); err != nil { // from the exec event to the boundary
		return fmt.Errorf("stub %d: %w", stub, err)
	}
	var err error
	for _, a := range freeAddrs(t.all, scratchSize) {
		ret, e := t.tr.Inject(stub, unix.SYS_MMAP, a, scratchSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0)
		if e == nil && uint64(ret) == a {
			t.scratch = a
			break
		}
		err = e
	}
	if t.scratch == 0 {
		return fmt.Errorf("no room for the scratch area in the stub: %v", err)
	}
	r.scratch = t.scratch
	if err := ptrace.WriteMem(stub, uintptr(t.scratch), ptrace.ScratchCode); err != nil {
		return err
	}
	if err := ptrace.WriteMem(stub, uintptr(t.scratch+batchCodeOff), ptrace.BatchCode); err != nil {
		return err
	}
	if err := t.tr.SetSyscallInsn(stub, uintptr(t.scratch)); err != nil {
		return err
	}
	r.pid = stub                                                          // put() writes into the stub until the child exists
	host, err := r.cloneWithTid(stub, "pid", p.PID, unix.CLONE_PARENT, 0) // PID 0 (blank): any pid
	r.pid = host
	if err != nil {
		return err
	}
	if t.blank == nil {
		r.tids[p.PID] = host
		t.by[p.PID] = r
	}
	_ = t.tr.Detach(stub, unix.SIGKILL) // the stub has served
	// Killed while traced, it stays a zombie until its tracer (this
	// thread) collects it; only then can crrun's init reap it. Meanwhile
	// `crrun status` would list it beside the app.
	var ws unix.WaitStatus
	_, _ = unix.Wait4(stub, &ws, unix.WALL, nil)
	if err := t.tr.SetSyscallInsn(host, uintptr(t.scratch)); err != nil {
		return err
	}
	if t.blank != nil {
		slog.Debug("restore: the main process had exited; a blank process stands in", "host_pid", host)
		return nil
	}
	// Its own process group now, so that children inherit the right one.
	if p.PGID == p.PID {
		if _, err := r.inj(host, "setpgid", unix.SYS_SETPGID, 0, 0); err != nil {
			return err
		}
	}
	slog.Debug("restore: main process recreated", "pid", p.PID, "host_pid", host)
	return nil
}

// createTree clones every other process from its (blank) parent, parents
// first, with its pid and exit signal. A process whose parent is not in the
// image (crrun's init adopted it) is cloned from the main process with
// CLONE_PARENT. Session leaders call setsid before they have children.
func (t *treeRestorer) createTree() error {
	if t.blank == nil && t.root.p.SID == t.root.p.PID {
		if _, err := t.root.inj(t.root.pid, "setsid", unix.SYS_SETSID); err != nil {
			return err
		}
	}
	// Sessions whose leader is gone (a daemon's double fork): a helper
	// with the leader's pid, child of crrun's init, calls setsid; their
	// members without a parent in the app are cloned from it.
	inImage := map[int]bool{}
	for _, p := range t.procs {
		inImage[p.PID] = true
	}
	for _, p := range t.procs {
		if p.SID != 0 && !inImage[p.SID] && t.helpers[p.SID] == nil {
			h, err := t.helper(t.root, p.SID, "session")
			if err != nil {
				return err
			}
			if _, err := h.inj(h.pid, "setsid", unix.SYS_SETSID); err != nil {
				return fmt.Errorf("helper for session %d: %w", p.SID, err)
			}
			h.p.SID, h.p.PGID = p.SID, p.SID
		}
	}
	early := t.sharesWithChildren()
	for _, p := range t.procs {
		if p == t.root.p {
			continue
		}
		parent := t.by[p.PPID]
		if parent != nil && early[parent.p.PID] {
			// Its children inherit its pages copy-on-write (cow.go).
			if err := parent.earlyMemory(); err != nil {
				return err
			}
		}
		flags, exitSig := uint64(0), uint64(p.ExitSignal)
		if parent == nil {
			parent, flags, exitSig = t.root, unix.CLONE_PARENT, 0
			if h := t.helpers[p.SID]; h != nil {
				parent = h
			}
		}
		if parent.p.Zombie != nil {
			return fmt.Errorf("pid %d: its parent %d is a zombie", p.PID, p.PPID)
		}
		r := &restorer{t: t, tr: t.tr, p: p, tids: map[int]int{}, scratch: t.scratch}
		r.pid = parent.pid // put() writes into the parent until the child exists
		host, err := r.cloneWithTid(parent.pid, "pid", p.PID, flags, exitSig)
		if err != nil {
			return err
		}
		r.pid = host
		r.tids[p.PID] = host
		t.by[p.PID] = r
		if err := t.tr.SetSyscallInsn(host, uintptr(t.scratch)); err != nil {
			return err
		}
		switch {
		case p.SID == p.PID:
			if _, err := r.inj(host, "setsid", unix.SYS_SETSID); err != nil {
				return fmt.Errorf("pid %d: %w", p.PID, err)
			}
			if err := r.takeCtty(); err != nil {
				return fmt.Errorf("pid %d: %w", p.PID, err)
			}
		case p.SID != parent.p.SID:
			return fmt.Errorf("pid %d is in session %d, its parent %d in session %d: cannot be rebuilt", p.PID, p.SID, parent.p.PID, parent.p.SID)
		}
		slog.Debug("restore: process recreated", "pid", p.PID, "host_pid", host, "parent", parent.p.PID)
	}
	return t.endBlank()
}

// endBlank lets the blank stand-in for a gone main process exit, now that
// every process and session helper has been cloned from it; crrun's init
// reaps it.
func (t *treeRestorer) endBlank() error {
	if t.blank == nil {
		return nil
	}
	host := t.blank.pid
	_, _ = t.tr.Inject(host, unix.SYS_EXIT_GROUP, 0) // never returns
	if err := t.waitGone(host, 0); err != nil {
		return fmt.Errorf("the blank stand-in for the main process: %w", err)
	}
	t.blank.pid = 0
	// Reaped by crrun's init at once; until then `crrun status` would
	// list it beside the app.
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", host)); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// helper clones a stand-in for a session or group leader that is gone, with
// its pid, from creator with CLONE_PARENT: its parent is the creator's (crrun's
// init, which reaps it when it exits after the members have joined).
func (t *treeRestorer) helper(creator *restorer, pid int, what string) (*restorer, error) {
	h := &restorer{t: t, tr: t.tr, p: &image.Process{PID: pid, SID: creator.p.SID}, tids: map[int]int{}, scratch: t.scratch}
	h.pid = creator.pid
	host, err := h.cloneWithTid(creator.pid, "pid", pid, unix.CLONE_PARENT, 0)
	if err != nil {
		return nil, fmt.Errorf("helper for %s %d: %w", what, pid, err)
	}
	h.pid = host
	if err := t.tr.SetSyscallInsn(host, uintptr(t.scratch)); err != nil {
		return nil, err
	}
	if t.helpers == nil {
		t.helpers = map[int]*restorer{}
	}
	t.helpers[pid] = h
	slog.Debug("restore: helper created", "for", what, "pid", pid, "host_pid", host)
	return h, nil
}

// groupHelpers makes a helper lead each process group whose leader is gone,
// in the group's session: cloned from a process of that session whose parent
// is crrun's init (or the session's helper).
func (t *treeRestorer) groupHelpers() error {
	inImage := map[int]bool{}
	for _, p := range t.procs {
		inImage[p.PID] = true
	}
	for _, p := range t.procs {
		if p.PGID == 0 || inImage[p.PGID] || t.helpers[p.PGID] != nil {
			continue
		}
		creator := t.helpers[p.SID]
		for _, q := range t.procs {
			if creator == nil && q.Zombie == nil && q.SID == p.SID && !inImage[q.PPID] {
				creator = t.by[q.PID]
			}
		}
		if creator == nil {
			return fmt.Errorf("CR: process group %d (of pid %d) has no leader any more and no process of its session %d is a child of crrun's init to recreate one: not supported yet", p.PGID, p.PID, p.SID)
		}
		h, err := t.helper(creator, p.PGID, "process group")
		if err != nil {
			return err
		}
		if _, err := h.inj(h.pid, "setpgid", unix.SYS_SETPGID, 0, 0); err != nil {
			return fmt.Errorf("helper for process group %d: %w", p.PGID, err)
		}
	}
	return nil
}

// endHelpers lets the helpers exit; crrun's init reaps them.
func (t *treeRestorer) endHelpers() error {
	for pid, h := range t.helpers {
		_, _ = t.tr.Inject(h.pid, unix.SYS_EXIT_GROUP, 0) // never returns
		if err := t.waitGone(h.pid, pid); err != nil {
			return fmt.Errorf("helper %d: %w", pid, err)
		}
		delete(t.helpers, pid)
	}
	return nil
}

// groups puts every process in its process group: leaders first, then the
// members (setpgid joins an existing group of the same session only).
func (t *treeRestorer) groups() error {
	if err := t.groupHelpers(); err != nil {
		return err
	}
	for pass := 0; pass < 2; pass++ {
		for _, p := range t.procs {
			if p.PGID == 0 || (p.PGID == p.PID) != (pass == 0) || p.SID == p.PID {
				continue // a session leader already leads its group
			}
			r := t.by[p.PID]
			pg := uint64(p.PGID)
			if p.PGID == p.PID {
				pg = 0
			}
			if _, err := r.inj(r.pid, fmt.Sprintf("setpgid(%d)", p.PGID), unix.SYS_SETPGID, 0, pg); err != nil {
				return fmt.Errorf("pid %d: %w", p.PID, err)
			}
		}
	}
	for _, p := range t.procs {
		if r := t.by[p.PID]; r != nil && p.Ctty != nil {
			if err := r.setForeground(); err != nil {
				return fmt.Errorf("pid %d: %w", p.PID, err)
			}
		}
	}
	return t.endHelpers()
}

// zombies makes each zombie exit again as it did, then consumes the signal
// its parent got for it.
func (t *treeRestorer) zombies() error {
	for _, p := range t.procs {
		if p.Zombie == nil {
			continue
		}
		r := t.by[p.PID]
		st := unix.WaitStatus(p.Zombie.Status)
		switch {
		case st.Exited():
			// The injection never returns: the process is gone.
			_, _ = t.tr.Inject(r.pid, unix.SYS_EXIT_GROUP, uint64(st.ExitStatus()))
		case st.Signaled():
			sig := st.Signal()
			_ = unix.Prlimit(r.pid, unix.RLIMIT_CORE, &unix.Rlimit{}, nil)
			if sig != unix.SIGKILL && sig != unix.SIGSTOP { // those two have no handler to reset (EINVAL)
				r.reset()
				a, err := r.put(le64(0, 0, 0, 0)) // SIG_DFL
				if err != nil {
					return err
				}
				if _, err := r.inj(r.pid, "rt_sigaction", unix.SYS_RT_SIGACTION, uint64(sig), a, 0, 8); err != nil {
					return fmt.Errorf("zombie %d: %w", p.PID, err)
				}
			}
			if err := t.tr.SetSigmask(r.pid, 0); err != nil {
				return fmt.Errorf("zombie %d: %w", p.PID, err)
			}
			if _, err := r.inj(r.pid, "kill(self)", unix.SYS_KILL, uint64(p.PID), uint64(sig)); err != nil {
				// SIGKILL ends it inside the injected syscall: the
				// injection sees the exit.
				var ee *ptrace.ExitError
				if !errors.As(err, &ee) || !ee.Status.Signaled() || ee.Status.Signal() != sig {
					return fmt.Errorf("zombie %d: %w", p.PID, err)
				}
			}
			if err := t.tr.Cont(r.pid, 0); err != nil && !errors.Is(err, ptrace.ErrVanished) && !errors.Is(err, ptrace.ErrNotTraced) {
				return fmt.Errorf("zombie %d: %w", p.PID, err)
			}
		default:
			return fmt.Errorf("zombie %d: wait status %#x is neither an exit nor a signal", p.PID, p.Zombie.Status)
		}
		if err := t.waitGone(r.pid, p.PID); err != nil {
			return err
		}
		delete(t.by, p.PID) // nothing to kill any more
		if parent := t.by[p.PPID]; parent != nil && p.ExitSignal > 0 {
			if err := parent.consumeSignal(p.ExitSignal); err != nil {
				return fmt.Errorf("zombie %d: parent %d: %w", p.PID, p.PPID, err)
			}
		}
	}
	return nil
}

// waitGone collects the exit of a traced process until it is a zombie for
// its parent to reap, passing the signals it meets.
func (t *treeRestorer) waitGone(host, pid int) error {
	for i := 0; i < 100; i++ {
		st, err := t.tr.Wait(host)
		if err != nil {
			// Gone, and already collected by the injection that saw it exit.
			if errors.Is(err, ptrace.ErrVanished) || errors.Is(err, ptrace.ErrNotTraced) {
				return nil
			}
			return fmt.Errorf("zombie %d: %w", pid, err)
		}
		switch st.Kind {
		case ptrace.Exited:
			return nil
		case ptrace.StopSignal:
			if err := t.tr.Cont(host, st.Signal); err != nil && !errors.Is(err, ptrace.ErrVanished) {
				return err
			}
		default:
			if err := t.tr.Cont(host, 0); err != nil && !errors.Is(err, ptrace.ErrVanished) {
				return err
			}
		}
	}
	return fmt.Errorf("zombie %d does not exit", pid)
}

// consumeSignal dequeues one pending sig of the process (the SIGCHLD a
// recreated zombie just sent), with rt_sigtimedwait and a zero timeout.
func (r *restorer) consumeSignal(sig int) error {
	r.reset()
	set, err := r.put(le64(1 << (sig - 1)))
	if err != nil {
		return err
	}
	ts, err := r.put(le64(0, 0))
	if err != nil {
		return err
	}
	_, err = r.tr.Inject(r.pid, unix.SYS_RT_SIGTIMEDWAIT, set, 0, ts, 8)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("rt_sigtimedwait(%d): %w", sig, err)
	}
	return nil
}

// seccomp installs the NOCR filter with a new listener in the blank main
// process (every process of the tree inherits it), takes the listener, and
// answers CONTINUE to whatever it traps until Release: the restore's own
// injected syscalls (prctl(PR_SET_MM) is in the table) must run.
func (t *treeRestorer) seccomp() error {
	r := t.root
	if len(t.req.BPF) == 0 {
		return errors.New("no filter")
	}
	if _, err := r.inj(r.pid, "prctl(PR_SET_NO_NEW_PRIVS)", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	r.reset()
	fa, err := r.put(t.req.BPF)
	if err != nil {
		return err
	}
	prog := le64(uint64(len(t.req.BPF)/8), fa) // struct sock_fprog: len (u16) + padding, filter
	pa, err := r.put(prog)
	if err != nil {
		return err
	}
	lfd, err := r.inj(r.pid, "seccomp(SET_MODE_FILTER)", unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, pa)
	if err != nil {
		return err
	}
	mine, err := r.getfd(lfd)
	if err != nil {
		return fmt.Errorf("the listener: %w", err)
	}
	if _, err := r.inj(r.pid, "close(listener)", unix.SYS_CLOSE, lfd); err != nil {
		unix.Close(mine)
		return err
	}
	t.listener = mine
	// The responder polls the listener and an eventfd that stopResponder
	// signals: stopping it costs no poll timeout (a 50 ms poll made the
	// release wait 25 ms on average).
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd for the responder: %w", err)
	}
	t.wake = wake
	t.respond.Add(1)
	go t.responder(mine, wake)
	return nil
}

func (t *treeRestorer) responder(fd, wake int) {
	defer t.respond.Done()
	var n seccomp.Notif
	for {
		select {
		case <-t.quit:
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		if k, err := unix.Poll(pfd, 50); err != nil || k == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			if pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
				return
			}
			continue
		}
		if seccomp.Recv(fd, &n) == nil {
			_ = seccomp.Continue(fd, n.ID)
		}
	}
}

func (t *treeRestorer) stopResponder() {
	select {
	case <-t.quit:
	default:
		close(t.quit)
		if t.wake >= 0 {
			_, _ = unix.Write(t.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
	}
	t.respond.Wait()
	if t.wake >= 0 {
		unix.Close(t.wake)
		t.wake = -1
	}
}

// getfd copies fd of the process into crrun.
func (r *restorer) getfd(fd uint64) (int, error) { return ptrace.CopyFd(r.pid, int(fd)) }

// sharedMemory creates each shared anonymous memory object once, in the
// blank main process at a temporary address, large enough for every mapping
// of it; every process inherits it and mremaps its own views out of it.
func (t *treeRestorer) sharedMemory() error {
	r := t.root
	var keys []fileKey
	noreserve := map[fileKey]bool{}
	for _, p := range t.procs {
		for _, v := range p.Memory {
			if v.Kind != image.VMAShmem {
				continue
			}
			if v.File != nil && slices.Contains(v.Flags, "nr") {
				noreserve[fileKey{v.File.Dev, v.File.Inode}] = true
			}
			if v.File == nil {
				return fmt.Errorf("pid %d: shared memory at %#x has no identity", p.PID, uint64(v.Start))
			}
			k := fileKey{v.File.Dev, v.File.Inode}
			if _, ok := t.shmSize[k]; !ok {
				keys = append(keys, k)
			}
			t.shmSize[k] = max(t.shmSize[k], uint64(v.Offset)+v.Size())
		}
	}
	avoid := append([]image.VMA{{Start: image.Hex(t.scratch), End: image.Hex(t.scratch + scratchSize)}}, t.all...)
	for _, k := range keys {
		size := t.shmSize[k]
		var addr uint64
		var err error
		// MAP_NORESERVE only where the original had it (VmFlags "nr"):
		// every view mremap'd out of the object inherits the flag.
		flags := uint64(unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE)
		if noreserve[k] {
			flags |= unix.MAP_NORESERVE
		}
		for _, a := range freeAddrs(avoid, size) {
			ret, e := r.tr.Inject(r.pid, unix.SYS_MMAP, a, size, unix.PROT_READ|unix.PROT_WRITE, flags, ^uint64(0), 0)
			if e == nil && uint64(ret) == a {
				addr = a
				break
			}
			err = e
		}
		if addr == 0 {
			return fmt.Errorf("no room for a shared memory object of %d bytes: %v", size, err)
		}
		t.shm[k] = addr
		avoid = append(avoid, image.VMA{Start: image.Hex(addr), End: image.Hex(addr + size)})
	}
	return nil
}

// inShm reports whether [start, end) is a temporary shared memory area.
func (t *treeRestorer) inShm(start, end uint64) bool {
	for k, a := range t.shm {
		if start >= a && end <= a+t.shmSize[k] {
			return true
		}
	}
	return false
}
