package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"crrun/image"
	"crrun/internal/procfs"
	"crrun/internal/ptrace"
	"crrun/seccomp"

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

// Unwrap makes errors.Is(err, ErrNotCheckpointable) work.
func (e *NotCheckpointableError) Unwrap() error { return ErrNotCheckpointable }

// Request says what to checkpoint and where.
type Request struct {
	Pid  int // host pid of the app's process
	Scan seccomp.ScanInput
	// Stdio identifies the supervisor's own stdin, stdout and stderr (index =
	// fd number): the app's fds on these files are saved as "stdio k".
	Stdio []seccomp.FileID
	Meta  image.Meta // Reason, Trigger, CrrunVersion, Argv; the rest is filled here
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
}

// Stats are measurements of one checkpoint.
type Stats struct {
	Pause       time.Duration // from freeze to the app running again
	Total       time.Duration // including the durable commit
	MemoryBytes uint64        // page data saved
	Threads     int
}

// Dump checkpoints the process. The app runs on afterwards (the caller ends it
// for checkpoint --exit). It returns the committed image directory.
func Dump(req Request) (dir string, st Stats, err error) {
	t0 := time.Now()
	tr := ptrace.New()
	defer tr.Close()

	frozen, err := tr.FreezeProcess(req.Pid, ptrace.TraceClone)
	if err != nil {
		return "", st, fmt.Errorf("freeze pid %d: %w", req.Pid, err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := tr.Thaw(frozen); err != nil && !errors.Is(err, ptrace.ErrVanished) {
				slog.Warn("thaw after checkpoint", "pid", req.Pid, "err", err)
			}
			st.Pause = time.Since(t0)
		}
	}
	defer thaw()
	if len(frozen.Zombies) > 0 {
		return "", st, fmt.Errorf("pid %d has exiting threads %v: retry", req.Pid, frozen.Zombies)
	}
	if len(frozen.Others) > 0 {
		return "", st, fmt.Errorf("pid %d created processes %v while being frozen: retry", req.Pid, frozen.Others)
	}

	// The NOCR gate, now that nothing moves.
	scan := req.Scan
	scan.Tracer = tr.ThreadID() // TracerPid names the tracer thread
	findings := append(seccomp.Scan(scan), req.Sticky...)
	if len(findings) > 0 {
		return "", st, &NotCheckpointableError{Findings: findings}
	}

	d := &dumper{tr: tr, req: req, pid: req.Pid, tids: frozen.Threads, w: req.Writer}
	if err := d.dump(); err != nil {
		return "", st, err
	}
	st.MemoryBytes, st.Threads = d.memBytes, len(frozen.Threads)
	if req.Exit {
		dir, err = req.Writer.Commit()
		if err == nil {
			thawed = true // never: it dies frozen
			if req.BeforeKill != nil {
				req.BeforeKill(dir)
			}
			_ = unix.Kill(req.Pid, unix.SIGKILL)
			st.Pause = time.Since(t0)
		}
		st.Total = time.Since(t0)
		return dir, st, err
	}
	thaw()
	dir, err = req.Writer.Commit()
	st.Total = time.Since(t0)
	if err != nil {
		return "", st, err
	}
	return dir, st, nil
}

type dumper struct {
	tr       *ptrace.Tracer
	req      Request
	pid      int
	tids     []int
	w        *image.Writer
	scratch  uintptr // a page mapped into the app for injected syscalls' buffers
	nsOf     map[int]int
	memBytes uint64
}

// ns returns the pid of host pid/tid h inside the app's namespace.
func (d *dumper) ns(h int) (int, error) {
	if n, ok := d.nsOf[h]; ok {
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
	if d.nsOf == nil {
		d.nsOf = map[int]int{}
	}
	d.nsOf[h] = n
	return n, nil
}

func (d *dumper) dump() error {
	nspid, err := d.ns(d.pid)
	if err != nil {
		return err
	}
	// Everything /proc tells must be read before the scratch page exists.
	maps, err := procfs.Smaps(d.pid)
	if err != nil {
		return fmt.Errorf("read /proc/%d/smaps: %w", d.pid, err)
	}
	d.scratch, err = d.tr.MapScratch(d.pid)
	if err != nil {
		return fmt.Errorf("map a scratch page into pid %d: %w", d.pid, err)
	}
	defer func() {
		if _, err := d.tr.Inject(d.pid, unix.SYS_MUNMAP, uint64(d.scratch), ptrace.ScratchSize); err != nil {
			slog.Warn("unmap the scratch page", "pid", d.pid, "err", err)
		}
	}()

	p := &image.Process{PID: nspid}
	if err := d.processState(p); err != nil {
		return err
	}
	for _, tid := range d.tids {
		th, err := d.thread(tid)
		if err != nil {
			return err
		}
		p.Threads = append(p.Threads, th)
	}
	vdso, err := d.memory(p, maps)
	if err != nil {
		return err
	}
	if err := d.files(p); err != nil {
		return err
	}
	meta := d.req.Meta
	meta.Root = nspid
	meta.Processes = []int{nspid}
	meta.Hostname, _ = os.Hostname()
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		meta.Kernel = image.Kernel{Release: unix.ByteSliceToString(uts.Release[:]),
			Version: unix.ByteSliceToString(uts.Version[:]), Machine: unix.ByteSliceToString(uts.Machine[:])}
	}
	meta.VDSO = vdso
	if err := d.w.WriteProcess(p); err != nil {
		return err
	}
	return d.w.WriteMeta(&meta)
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
