package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// ErrNotCheckpointable is returned (wrapped in *NotCheckpointableError) when
// the app holds state the engine cannot save.
var ErrNotCheckpointable = errors.New("not checkpointable")

// NotCheckpointableError lists every reason a checkpoint was refused.
type NotCheckpointableError struct {
	Findings []seccomp.Finding
}

func (e *NotCheckpointableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the app is not checkpointable (%d reasons):", len(e.Findings))
	for _, f := range e.Findings {
		fmt.Fprintf(&b, "\n  pid %d: %s", f.Pid, f.Reason)
	}
	return b.String()
}

// Transient says whether every finding is one that moved while it was
// saved (Finding.Transient): checkpointing again may succeed.
func (e *NotCheckpointableError) Transient() bool {
	for _, f := range e.Findings {
		if !f.Transient {
			return false
		}
	}
	return len(e.Findings) > 0
}

// Unwrap makes errors.Is(err, ErrNotCheckpointable) work.
func (e *NotCheckpointableError) Unwrap() error { return ErrNotCheckpointable }

// Request says what to checkpoint and where.
type Request struct {
	// Init is the host pid of crrun's init (pid 1 of the app's namespace):
	// what a restored process inherits rather than gets set comes from
	// the restorer's init, so the inventory compares the app with it.
	Init int
	// Pid is the host pid of the app's main process, 0 once it is known
	// to have exited.
	Pid int
	// MainNsPid is the main process's pid inside the app's namespace (the
	// image's root, even when the main process has exited).
	MainNsPid int
	// MainExit says how the main process ended, when it is gone while
	// others run on (a daemon, `cmd &`): the image records it, and the
	// restored crrun mirrors it. It may wait a little for crrun's init to
	// report the exit; nil means unknown.
	MainExit func() *image.MainExit
	// List returns the host pids of every process of the app (zombies
	// included), parents before children, the main process first. Nil means
	// the main process alone.
	List func() []int
	Scan seccomp.ScanInput
	// Refusals, if set, is the one verdict `crrun status` also gives (the
	// scan, the tree checks of Refusals, the sticky taints) for the live
	// processes pids, with tracer allowed to trace them (0 for status),
	// less the inventory's refusals, which the dump makes itself once the
	// tree is saved (observe). Nil means Refusals(Scan, WatchPath, false,
	// Init) plus Sticky.
	Refusals func(pids []int, tracer int) []seccomp.Finding
	// Stdio identifies the supervisor's own stdin, stdout and stderr (index =
	// fd number): the app's fds on these files are saved as "stdio k".
	Stdio []seccomp.FileID
	// TtyFg, if set, gives the host process group that has the foreground
	// of crrun's terminal (0: none, or crrun's own); read once the app is
	// frozen, recorded as image.Meta.TtyFg when it is one of the app's.
	TtyFg func() int
	// Terminal, if set, reads crrun's terminal's mode and size (nil: no
	// terminal), recorded as image.Meta.Terminal once the app is frozen.
	Terminal func() *image.Terminal
	Meta     image.Meta // Reason, Trigger, CrrunVersion, Argv; the rest is filled here
	// Writer receives the image; Dump commits it.
	Writer *image.Writer
	// Sticky are taints recorded by traps that no scan can see (keyrings…).
	Sticky []seccomp.Finding
	// Exit ends the app after the checkpoint instead of letting it run: it
	// stays frozen until the image is durable, then is killed, so it does
	// nothing (writes no output) that the restored app would do again.
	Exit bool
	// BeforeKill, with Exit, runs once the image is durable, just before the
	// app is killed (the supervisor must know the death is intended).
	BeforeKill func(dir string)
	// DropSignals are left out of the saved pending signals: a checkpoint
	// taken because the job is being stopped must not carry the stop (Slurm
	// sends SIGCONT and SIGTERM to every process of the job, which then wait,
	// pending, in the frozen app; restored, it would die at once).
	DropSignals []unix.Signal
	// WatchPath returns the path the app gave inotify_add_watch for the
	// file (dev, ino), if the supervisor saw it: an ordinary user's
	// checkpoint cannot find a watched file from its handle.
	WatchPath func(dev, ino uint64) (string, bool)
	// Mempolicy says whether process host set a thread's NUMA policy
	// (set_mempolicy, not to the default) or an area's (mbind), as the
	// supervisor saw: the dump then asks every thread, or reads numa_maps
	// (mempolicy.go). Nil: neither.
	Mempolicy func(host int) (threads, areas bool)
	// IPC saves the app's IPC namespace (SysV objects) into the image,
	// the tree frozen, and says how many bytes of contents it wrote; nil:
	// none recorded.
	IPC func(w *image.Writer) (*image.IPC, uint64, error)
	// PrivateIPC: the app has an IPC namespace of its own, whose SysV
	// segments IPC saves: their mappings are saved as attachments.
	PrivateIPC bool
	// SemUndo returns the semaphore sets in which process pid (host)
	// made a SEM_UNDO operation (the supervisor traps them all), nil if
	// none; SemStates reads sets of the app's IPC namespace. Both nil:
	// no undo list is saved (semundo.go).
	SemUndo   func(pid int) []int
	SemStates SemStatesFunc
	// Tracker, if set, tracks dirty pages across checkpoints (dirty.go):
	// the image refers to the previous generation for the pages unchanged
	// since, and the app is protected again for the next one. The caller
	// calls Committed or Forget after Dump.
	Tracker *Tracker
}

// Stats are measurements of one checkpoint.
type Stats struct {
	Pause       time.Duration // from freeze to the app running again
	Total       time.Duration // including the durable commit
	MemoryBytes uint64        // page data saved
	RefBytes    uint64        // memory unchanged since the parent generation, referred to there
	Threads     int
	Processes   int
}

// vforkRetries bounds how long a checkpoint waits for a vfork child to exec
// (or exit): 40 × 25 ms.
const vforkRetries = 40

// ptyPatience is how long a checkpoint waits for the app to read the bytes
// in flight through its ptys, retrying the freeze further and further
// apart (ptyBackoff). A second was too short on a loaded node: with an MPI
// job's ranks each polling shared memory at 100 % of a CPU, mpirun, which
// reads its ranks' ptys, got no CPU for a second, and the checkpoint was
// refused (a CI run with six MPI jobs on two CPUs).
const ptyPatience = 3 * time.Second

// ptyBackoff is the pause before the freeze's attempt n while a pty is
// busy: 25 ms for the first ten, doubling every ten up to 200 ms, so a
// starved reader gets longer stretches of CPU and the app fewer freezes.
func ptyBackoff(n int) time.Duration {
	return min(25*time.Millisecond<<(n/10), 200*time.Millisecond)
}

// Dump checkpoints the app's process tree. The app runs on afterwards (the
// caller ends it for checkpoint --exit). It returns the committed image
// directory.
func Dump(req Request) (dir string, st Stats, err error) {
	warmPageBuf() // the first checkpoint of a supervisor faults it in, outside the pause
	t0 := time.Now()
	tr := ptrace.New()
	defer tr.Close()
	if req.List == nil {
		req.List = func() []int { return []int{req.Pid} }
	}

	var ft *frozenTree
	for attempt := 0; ; attempt++ {
		// On the tracer's thread, as the dump: one hand-off instead of one
		// per process (each a wake-up of the tracer thread, which on a busy
		// machine waits for a CPU).
		if err = tr.Do(func() (e error) { ft, e = freezeTree(tr, req.List); return e }); err != nil {
			if errors.Is(err, errRetry) && attempt < vforkRetries {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if ee := (*exitingError)(nil); errors.As(err, &ee) && ee.leader() {
				return "", st, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: ee.pid, Kind: "thread_exit", Fd: -1,
					Reason: mainThreadExitedReason(ee.pid)}}}
			}
			return "", st, err
		}
		child, parent := ft.vforkChild()
		if child == 0 {
			// Bytes in flight through a pty of the app's cannot be saved;
			// they are gone a moment later (the app reads them): try again
			// then (ptyPatience), and let the dump refuse if they stay. So
			// are messages queued on a netlink socket (netlink.go: a second).
			if ft.ptyBusy() && time.Since(t0) < ptyPatience {
				ft.thaw(tr)
				time.Sleep(ptyBackoff(attempt))
				continue
			}
			if attempt < vforkRetries && ft.netlinkBusy() {
				ft.thaw(tr)
				time.Sleep(25 * time.Millisecond)
				continue
			}
			break
		}
		ft.thaw(tr)
		if attempt >= vforkRetries {
			return "", st, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: child, Kind: "vfork", Fd: -1,
				Reason: vforkReason(child, parent)}}}
		}
		time.Sleep(25 * time.Millisecond)
	}
	slog.Debug("checkpoint: frozen", "processes", len(ft.order), "took", time.Since(t0))
	// Snapshot children are ended after the thaw, on every path (the
	// reap interrupts a thread of the running app: snapshot.go).
	var t *tree
	defer func() {
		if t != nil {
			t.releaseAll()
			t.releaseBuffer()
		}
	}()
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if t != nil {
				t.repairOff()
			}
			tt := time.Now()
			// One hand-off to the tracer thread for the whole thaw: the
			// processes thawed first run at once and compete with crrun
			// for the CPUs, so a hand-off per process could wait behind
			// them.
			_ = tr.Do(func() error { ft.thaw(tr); return nil })
			st.Pause = time.Since(t0)
			slog.Debug("checkpoint: thawed", "took", time.Since(tt))
		}
	}
	defer thaw()
	mainExit, err := ft.mainGone(req)
	if err != nil {
		return "", st, err
	}

	// The NOCR gate, now that nothing moves: the same verdict as `crrun
	// status`.
	var findings []seccomp.Finding
	if req.Refusals != nil {
		findings = req.Refusals(ft.live(), tr.ThreadID()) // TracerPid names the tracer thread
	} else {
		scan := req.Scan
		scan.Pids, scan.Tracer = ft.live(), tr.ThreadID()
		findings = append(Refusals(scan, req.WatchPath, false, req.Init), req.Sticky...)
	}
	if req.Exit { // what only a checkpoint that leaves the app running refuses
		findings = slices.DeleteFunc(findings, func(f seccomp.Finding) bool { return f.KeepRunning })
	}
	if len(findings) > 0 {
		return "", st, &NotCheckpointableError{Findings: findings}
	}

	slog.Debug("checkpoint: scanned", "took", time.Since(t0))
	t = newTree(tr, req)
	t.mainExit = mainExit
	if req.Tracker != nil {
		req.Writer.SetChainable()
		if t.parent = req.Tracker.parent(req.Writer); t.parent != nil {
			defer t.parent.Close()
		}
	}
	var procs []*image.Process
	// On the tracer's thread: injected syscalls are direct calls then, not
	// hand-offs between threads.
	err = tr.Do(func() error {
		var e error
		procs, e = t.dump(ft)
		return e
	})
	if err != nil {
		return "", st, t.endTaken(ft.order, err)
	}
	slog.Debug("checkpoint: saved", "took", time.Since(t0), "snapshots", t.snapshotSummary())
	st.Processes = len(procs)
	for _, f := range ft.frozen {
		st.Threads += len(f.Threads)
	}
	st.RefBytes = t.refBytes
	if req.Exit {
		st.MemoryBytes = t.memBytes
		if err = t.submitPaused(); err != nil {
			return "", st, t.endTaken(ft.order, err)
		}
		if err = t.writeJSON(procs); err != nil {
			return "", st, t.endTaken(ft.order, err)
		}
		var undoHold func()
		if undoHold, err = t.holdForImage(); err != nil {
			return "", st, t.endTaken(ft.order, err)
		}
		if err = t.addParts(); err != nil {
			return "", st, err
		}
		dir, err = req.Writer.Commit()
		if err != nil {
			undoHold()
		}
		err = t.endTaken(ft.order, err)
		if err == nil {
			thawed = true // never: it dies frozen
			if req.BeforeKill != nil {
				req.BeforeKill(dir)
			}
			for _, pid := range ft.order {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			t.closeRepairs()
			t.releaseHolds() // the image's hold them now
			st.Pause = time.Since(t0)
		}
		st.Total = time.Since(t0)
		return dir, st, err
	}
	thaw()
	// The app runs again: the pages read in the pause go to the writer
	// (pauseread.go), and its private memory as it was at the freeze is
	// read from the snapshot children (snapshot.go).
	if err = t.submitPaused(); err != nil {
		return "", st, err
	}
	if err = t.writeJSON(procs); err != nil {
		return "", st, err
	}
	if err = t.drain(); err != nil {
		return "", st, err
	}
	if err = t.addParts(); err != nil {
		return "", st, err
	}
	t.releaseAll()
	st.MemoryBytes = t.memBytes
	slog.Debug("checkpoint: drained", "took", time.Since(t0))
	dir, err = req.Writer.Commit()
	st.Total = time.Since(t0)
	if err != nil {
		return "", st, err
	}
	return dir, st, nil
}

// dumper saves one live process.
type dumper struct {
	t        *tree
	tr       *ptrace.Tracer
	req      Request
	pid      int
	tids     []int
	w        *image.Writer
	scratch  uintptr // a page mapped into the app for injected syscalls' buffers
	memBytes uint64
	// pending signals, read first (readPending)
	sharedPending []image.SigInfo
	threadPending map[int][]image.SigInfo
	cow           cowParent      // the parent whose pages this process shares (cow.go)
	frozen        *ptrace.Frozen // how each thread stopped
	ft            *frozenTree
	dumpable      int       // prctl(PR_GET_DUMPABLE) as the app had it
	snap          *snapshot // the copy-on-write child pages are read from after the thaw
	private       []pageRun // private runs set aside by savePages for flushPrivate
	privateBytes  uint64
	presentBytes  uint64          // present pages of its private mappings, saved or not (readCheaper)
	trk           *tracked        // the process's dirty tracking, if armed by the last checkpoint (dirty.go)
	protected     map[uint64]bool // tracked mappings (by start) scanned and protected again
	cloned        bool            // a snapshot child was cloned (it shares the private pages)
	contPending   bool            // a SIGCONT is pending: no batched queries (queries.go)
	mainQ         *mainQueries    // the main thread's own queries, run with the process's (queries.go)
	ownSeccomp    bool            // the app may have a seccomp filter of its own: no batched queries
}

// ns returns the pid of host pid/tid h inside the app's namespace.
func (d *dumper) ns(h int) (int, error) { return d.t.ns(h) }

// dump saves what belongs to the process alone; what processes share (open
// file descriptions, pipes' contents) is linked by the tree afterwards.
func (d *dumper) dump() (*image.Process, image.VDSO, error) {
	var vdso image.VDSO
	sp := newSpans("process", d.pid)
	defer sp.done()
	nspid, err := d.ns(d.pid)
	if err != nil {
		return nil, vdso, err
	}
	if err := d.readPending(); err != nil {
		return nil, vdso, err
	}
	sp.mark("pending")
	// Everything /proc tells must be read before the scratch page exists.
	smaps, maps, err := procfs.SmapsText(d.pid)
	if err != nil {
		return nil, vdso, fmt.Errorf("read /proc/%d/smaps: %w", d.pid, err)
	}
	d.protected = map[uint64]bool{}
	if d.trk = d.t.req.Tracker.get(d.pid); d.trk != nil {
		smaps = stripUW(smaps) // crrun's own registration (dirty.go)
	}
	d.t.smaps[d.pid] = smaps
	sp.mark("smaps")
	// No injection into 32-bit code (ia32.go); thread() checks the others.
	if r, err := d.tr.GetRegs(d.pid); err == nil {
		if err := d.refuse32(d.pid, r.Cs); err != nil {
			return nil, vdso, err
		}
	}
	d.scratch, err = d.tr.MapScratch(d.pid)
	if err != nil {
		return nil, vdso, fmt.Errorf("map a scratch page into pid %d: %w", d.pid, err)
	}
	defer func() {
		if _, err := d.tr.Inject(d.pid, unix.SYS_MUNMAP, uint64(d.scratch), ptrace.ScratchSize); err != nil {
			slog.Warn("unmap the scratch page", "pid", d.pid, "err", err)
		}
		d.tr.ForgetSyscallInsn(d.pid) // it was the scratch page's
	}()

	sp.mark("scratch")
	if err := d.openProc(); err != nil {
		return nil, vdso, err
	}

	sp.mark("openProc")
	p := &image.Process{PID: nspid}
	if err := d.semUndo(p); err != nil {
		return nil, vdso, err
	}
	sp.mark("semUndo")
	if err := d.processState(p); err != nil {
		return nil, vdso, err
	}
	sp.mark("processState")
	if err := d.deletedCwd(p); err != nil {
		return nil, vdso, err
	}
	for _, tid := range d.tids {
		th, err := d.thread(tid)
		if err != nil {
			return nil, vdso, err
		}
		p.Threads = append(p.Threads, th)
	}
	sp.mark("threads")
	if err := d.mempolicies(); err != nil {
		return nil, vdso, err
	}
	if err := d.threadCreds(p); err != nil {
		return nil, vdso, err
	}
	sp.mark("threadCreds")
	if vdso, err = d.memory(p, maps); err != nil {
		return nil, vdso, err
	}
	sp.mark("memory")
	if err := d.files(p); err != nil {
		return nil, vdso, err
	}
	sp.mark("files")
	if err := reopenRefusal(d.pid, p); err != nil {
		return nil, vdso, err
	}
	return p, vdso, nil
}

// VDSOIdentity hashes a [vdso] mapping's bytes as read from pid.
func VDSOIdentity(pid int, start, end uint64) (image.VDSO, error) {
	buf := make([]byte, end-start)
	if err := ptrace.ReadMem(pid, uintptr(start), buf); err != nil {
		return image.VDSO{}, fmt.Errorf("read [vdso] of pid %d: %w", pid, err)
	}
	sum := sha256.Sum256(buf)
	return image.VDSO{Size: end - start, SHA256: hex.EncodeToString(sum[:])}, nil
}
