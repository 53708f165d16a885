package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/restore"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// RestoreConfig is what `crrun restore` needs.
type RestoreConfig struct {
	Image      string // a generation directory, or a store (its newest valid generation)
	Dir        string // the store for later checkpoints ("" = the image's own store)
	OnNOCR     Policy
	WaitMain   bool
	RuntimeDir string
	Version    string
	HPC        HPC
	Verified   bool // Image is a generation whose checksums were just verified
	// TrustImage restores an image (or resumes from a store) that another
	// user owns or may write (--trust-image): without it such an image is
	// refused, because an image is code.
	TrustImage bool
	// Net, when set (crrun run resuming from --dir), is the network the
	// command line asks for ("" the host's, NetPrivate): an image of the
	// other kind is refused rather than resumed on a network the user did
	// not ask for. A plain restore takes the image's.
	Net *string
	// CheckOnly stops after every check, before anything on the host
	// changes (CheckRestore).
	CheckOnly bool
}

// HPC are the batch-job settings shared by run and restore.
type HPC struct {
	Interval time.Duration
	Keep     int
	Slurm    *Slurm
	Restart  RestartPolicy
	Hooks    Hooks
	Compress image.Compression // --compress
	// NoIncremental: every checkpoint saves all memory (--incremental=false).
	NoIncremental bool
}

// FindResumable returns the newest valid generation in dir ("" if none), and
// refuses (naming what differs) one that was taken of another command. It
// verifies every checksum; a corrupt newest generation is skipped with a
// warning for the previous one.
//
// A store that is not the caller's alone (another owner, or writable by a
// group or others) is refused unless trust: whoever can write it chooses
// what the resumed app runs.
func FindResumable(dir string, argv []string, trust bool) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if !trust {
		if err := image.CheckStoreOwner(dir, os.Geteuid()); err != nil {
			return "", &Error{Code: ExitInternal, Msg: "resume: checkpoint directory " + err.Error()}
		}
	}
	store, err := image.OpenStore(dir)
	if err != nil {
		return "", &Error{Code: ExitInternal, Msg: fmt.Sprintf("checkpoint directory %s: %v", dir, err)}
	}
	r, skipped, err := store.OpenNewest(true)
	for _, e := range skipped {
		slog.Warn("resume: skipped a generation: " + e.Error())
	}
	if err != nil {
		if errors.Is(err, image.ErrNoImage) {
			return "", nil
		}
		return "", &Error{Code: ExitInternal, Msg: fmt.Sprintf("resume from %s: %v", dir, err)}
	}
	defer r.Close()
	if got := r.Meta().Argv; !equalArgv(got, argv) {
		return "", &Error{Code: ExitInternal, Msg: fmt.Sprintf("resume: %s holds a checkpoint of %s, not of %s; "+
			"use another --dir, or --resume=never to start afresh", r.Dir(), QuoteCommand(got), QuoteCommand(argv))}
	}
	// Resumed, this run writes into the store: no other live crrun may
	// (the newest generation may be its app's, running on elsewhere).
	if err := claimStore(dir, argv); err != nil {
		return "", &Error{Code: ExitInternal, Msg: "resume: " + err.Error()}
	}
	slog.Info("resuming from " + r.Dir())
	return r.Dir(), nil
}

func equalArgv(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type restorePlan struct {
	img      *image.Reader
	proc     *image.Process // the main process, or the first live one when it had exited
	lastPid  int
	mainExit *image.MainExit // the main process had exited so
}

// Restore rebuilds the app saved in cfg.Image under a new supervisor and
// supervises it like Run, until it exits.
// CheckedError is what a restore with CheckOnly returns when every check
// passed: nothing was changed, nothing runs.
type CheckedError struct {
	Image   string   // the generation checked
	Changes []string // what a restore would change on the host (restore.Plan.Changes)
}

func (e *CheckedError) Error() string { return e.Image + ": restorable here" }

// CheckRestore runs every check of a restore of cfg.Image (the image's
// integrity and owner, the kernel, the CPU, the files, a live copy of the
// app...) and changes nothing: nil error and the generation with what a
// restore would change on the host, or the refusal a restore would give.
func CheckRestore(cfg RestoreConfig) (*CheckedError, error) {
	if err := checkUserNS(); err != nil {
		return nil, err
	}
	cfg.CheckOnly = true
	_, err := prepareRestore(cfg)
	var ok *CheckedError
	if errors.As(err, &ok) {
		return ok, nil
	}
	if err == nil {
		err = &Error{Code: ExitInternal, Msg: "restore --check: the checks did not end"}
	}
	return nil, err
}

func Restore(cfg RestoreConfig) (Exit, error) {
	if err := checkUserNS(); err != nil {
		return Exit{}, err
	}
	s, err := prepareRestore(cfg)
	if err != nil {
		return Exit{}, err
	}
	s.line = lineage{floor: storeFloor(s.cfg.Dir), origin: s.plan.img.Dir(), trust: cfg.TrustImage, started: s.started}
	s.restoreReason = "restore"
	return supervise(s)
}

// prepareRestore opens, verifies and checks the image of cfg and changes on
// the host what the restore needs (files truncated back); the returned
// supervisor's run rebuilds the app.
func prepareRestore(cfg RestoreConfig) (_ *Supervisor, err error) {
	if m := checkpoint.OwnMempolicy(); m != 0 {
		// Every restored process would inherit it, where the image (whose
		// checkpoint refuses any policy) has the default.
		return nil, &Error{Code: ExitInternal, Msg: fmt.Sprintf("restore: crrun runs under a NUMA memory policy (%s), which the restored app would inherit "+
			"where its image has the default: run the restore without it (numactl?)", checkpoint.MempolicyName(m))}
	}
	// A generation is verified here, with a progress line; a store's
	// newest valid generation is found by verifying them in turn.
	generation := image.IsImageDir(cfg.Image)
	img, skipped, err := image.OpenPath(cfg.Image, !cfg.Verified && !generation)
	for _, e := range skipped {
		slog.Warn("skipped a generation: " + e.Error())
	}
	if err == nil && !cfg.Verified && generation {
		stop := showProgress("verifying the image", img.VerifyBytes(), img.BytesRead)
		err = img.Verify()
		stop()
		if err != nil {
			img.Close()
		}
	}
	if err != nil {
		return nil, &Error{Code: imageExitCode(err), Msg: "restore: " + err.Error()}
	}
	defer func() {
		if err != nil {
			img.Close()
		}
	}()
	meta := img.Meta()
	if cfg.Net != nil && *cfg.Net != meta.Net {
		return nil, &Error{Code: ExitInternal, Msg: fmt.Sprintf("restore: %s ran with --net=%s, not --net=%s: run with that, or --resume=never",
			img.Dir(), netName(meta.Net), netName(*cfg.Net))}
	}
	proc := img.Process(meta.Root)
	if meta.MainExit != nil {
		// The main process had exited: the stub execs the first live
		// process's executable (restore clones every orphan from a blank
		// process made from it).
		proc = nil
		for _, p := range img.Processes() {
			if p.Zombie == nil {
				proc = p
				break
			}
		}
	}
	if proc == nil || proc.Zombie != nil {
		return nil, &Error{Code: ExitInternal, Msg: fmt.Sprintf("restore: no live process %d in the image", meta.Root)}
	}
	// Whose image is it? Checked before anything of it is used.
	uid := os.Geteuid()
	var foreign error
	if filepath.Clean(cfg.Image) != filepath.Clean(img.Dir()) {
		// cfg.Image is a store: its owner chose the generation.
		if err := image.CheckStoreOwner(cfg.Image, uid); err != nil {
			foreign = fmt.Errorf("checkpoint directory %w", err)
		}
	}
	if foreign == nil {
		if err := img.CheckOwner(uid); err != nil {
			foreign = fmt.Errorf("image %w", err)
		}
	}
	checks := restore.CheckOptions{Foreign: foreign != nil}
	if foreign != nil {
		if !cfg.TrustImage {
			return nil, &Error{Code: ExitInternal, Msg: "restore: " + foreign.Error()}
		}
		if checks.Owner, err = img.Owner(); err != nil {
			return nil, &Error{Code: ExitInternal, Msg: "restore: " + err.Error()}
		}
		slog.Warn("restoring an image that is not yours alone (--trust-image): " + foreign.Error())
	}
	last := meta.Root // a gone main process's pid may lead a group still
	for _, p := range img.Processes() {
		last = max(last, p.PID, p.PGID, p.SID)
		for _, th := range p.Threads {
			last = max(last, th.TID)
		}
		for _, f := range p.FDs { // a socket's maker may have exited: its pid is needed too (restore/peercred.go)
			if s := f.Socket; s != nil && s.PeerCred != nil {
				last = max(last, s.PeerCred.Pid)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		var pidMax int
		if _, err := fmt.Sscan(string(b), &pidMax); err == nil && last >= pidMax {
			return nil, &Error{Code: ExitInternal, Msg: fmt.Sprintf("restore: pid %d cannot be recreated: "+
				"it is above this machine's pid_max (%d, /proc/sys/kernel/pid_max)", last, pidMax)}
		}
	}
	if err := checkClocks(meta); err != nil {
		return nil, err
	}
	// Before anything on the host changes (plan.Apply): liveapps.go.
	if c := waitLiveCopy(img.Processes()); c != nil {
		return nil, &Error{Code: ExitInternal, Msg: "restore: " + c.Error()}
	}
	filter, err := seccomp.BuildFor(meta.IPC == nil || meta.IPC.Mode != image.IPCPrivate)
	if err != nil {
		return nil, &Error{Code: ExitInternal, Msg: "build the NOCR seccomp filter: " + err.Error()}
	}
	// Every check of every process first; only then does anything on the
	// host change (files that grew are truncated back).
	plan, err := restore.Check(img, checks)
	if err != nil {
		return nil, &Error{Code: ExitInternal, Msg: "restore: " + err.Error()}
	}
	if cfg.CheckOnly {
		return nil, &CheckedError{Image: img.Dir(), Changes: plan.Changes()}
	}
	if err := plan.Apply(); err != nil {
		return nil, &Error{Code: ExitInternal, Msg: "restore: " + err.Error()}
	}
	seekStdioToEnd() // crrun's own output file may be one Apply cut back
	dir := cfg.Dir
	if dir == "" {
		// Later checkpoints go next to the image: into its store.
		dir = filepath.Dir(img.Dir())
	}
	if sl := cfg.HPC.Slurm; sl != nil {
		slog.Info(fmt.Sprintf("slurm: resuming job %s (SLURM_RESTART_COUNT=%d)", sl.JobID, sl.RestartCount))
	}
	s := &Supervisor{
		cfg: Config{Argv: meta.Argv, Path: proc.Exe.Path, OnNOCR: cfg.OnNOCR, WaitMain: cfg.WaitMain,
			RuntimeDir: cfg.RuntimeDir, Dir: dir, Version: cfg.Version,
			Interval: cfg.HPC.Interval, Keep: cfg.HPC.Keep, Slurm: cfg.HPC.Slurm,
			Restart: cfg.HPC.Restart, Hooks: cfg.HPC.Hooks, Net: meta.Net, Compress: cfg.HPC.Compress, NoIncremental: cfg.HPC.NoIncremental},
		filter: filter, ledger: NewLedger(), denied: NewLedger(), started: time.Now(), killc: make(chan struct{}),
		mainExited: make(chan struct{}), mainNsPid: meta.Root,
		plan: &restorePlan{img: img, proc: proc, lastPid: max(last, firstAppPid-1), mainExit: meta.MainExit},
	}
	if meta.MainExit != nil {
		s.setMainExit(meta.MainExit)
	}
	slog.Info("restoring "+img.Dir(), "taken", meta.Created.Format(time.RFC3339), "reason", meta.Reason, "pid", proc.PID)
	return s, nil
}

// restoreInto runs the restore once the init has started the stub: seize it,
// let it exec the app's binary, rebuild the process in it, release it. It
// returns the seccomp listener of the restored process.
func (s *Supervisor) restoreInto(sc int) (int, error) {
	fail := func(format string, a ...any) (int, error) {
		return -1, &Error{Code: ExitInternal, Msg: "restore: " + fmt.Sprintf(format, a...)}
	}
	buf := make([]byte, 4096)
	n, _, _, _, err := unix.Recvmsg(sc, buf, nil, 0)
	if err != nil || n == 0 || string(buf[:n]) != msgReady {
		return fail("the stub did not start (%v %q)", err, buf[:n])
	}
	kids, err := procfs.Children(s.initPid)
	if err != nil || len(kids) != 1 {
		return fail("cannot find the stub among the init's children %v (%v)", kids, err)
	}
	stub := kids[0]
	tr := ptrace.New()
	defer tr.Close()
	if err := tr.Seize(stub, ptrace.TraceExec|ptrace.TraceClone|ptrace.TraceFork|ptrace.ExitKill); err != nil {
		return fail("seize the stub %d: %v", stub, err)
	}
	if err := unix.Sendmsg(sc, []byte(msgGo), nil, nil, 0); err != nil {
		return fail("start the stub: %v", err)
	}
	for {
		st, err := tr.Wait(stub)
		if err != nil {
			return fail("the stub %d: %v", stub, err)
		}
		if st.Kind == ptrace.StopEvent && st.Event == unix.PTRACE_EVENT_EXEC {
			break
		}
		if st.Kind == ptrace.Exited {
			// it says why on the socket
			if n, _, _, _, err := unix.Recvmsg(sc, buf, nil, unix.MSG_DONTWAIT); err == nil && n > 0 {
				return fail("%s", buf[:n])
			}
			return fail("the stub exited before exec: %v", st)
		}
		if err := tr.Cont(stub, 0); err != nil {
			return fail("the stub %d: %v", stub, err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.plan.img.Dir()), ".crrun-restore-")
	if err != nil {
		tmp = os.TempDir()
	} else {
		defer os.RemoveAll(tmp)
	}
	t0 := time.Now()
	read0 := s.plan.img.BytesRead()
	stopProgress := showProgress("restore", s.plan.img.PageBytes(), func() int64 { return s.plan.img.BytesRead() - read0 })
	if err := s.createIPC(); err != nil {
		stopProgress()
		return fail("%v", err)
	}
	res, err := restore.Tree(restore.TreeRequest{Tracer: tr, Stub: stub, Image: s.plan.img,
		BPF: s.filter.BPF, TempDir: tmp})
	stopProgress()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return -1, e
		}
		return fail("%v", err)
	}
	if err == nil {
		err = s.verifyIPC()
	}
	if err != nil {
		for _, p := range res.Procs {
			_ = unix.Kill(p.Pid, unix.SIGKILL)
		}
		unix.Close(res.Listener)
		return fail("%v", err)
	}
	if err := verifyClocks(s.plan.img.Meta(), res); err != nil {
		for _, p := range res.Procs {
			_ = unix.Kill(p.Pid, unix.SIGKILL)
		}
		unix.Close(res.Listener)
		return fail("%v", err)
	}
	s.mainPid = res.Root
	s.notePeerPidfds(s.plan.img.Meta(), s.plan.img.Processes(), res)
	s.semUndo.restored(s.plan.img.Processes(), res)
	// The restored app's inotify watches were added in an earlier life:
	// their paths are known from the image (for the next checkpoint of an
	// ordinary user).
	for _, p := range s.plan.img.Processes() {
		for _, f := range p.FDs {
			if f.Inotify != nil {
				for _, w := range f.Inotify.Watches {
					s.watches.add(w.Path, uint64(w.Mask)&inDontFollow != 0)
				}
			}
		}
	}
	s.beforeResume(res.Root)
	err = applyTerminal(s.plan.img.Meta().Terminal)
	if err == nil {
		err = s.giveTerminalTo(s.plan.img.Meta().TtyFg, s.plan.img.Processes(), res)
	}
	if err != nil {
		for _, p := range res.Procs {
			_ = unix.Kill(p.Pid, unix.SIGKILL)
		}
		unix.Close(res.Listener)
		return fail("%v", err)
	}
	if err := restore.Release(tr, res); err != nil {
		unix.Close(res.Listener)
		return fail("release the restored process: %v", err)
	}
	winchIfResized(s.plan.img.Meta().Terminal)
	threads := 0
	for _, p := range res.Procs {
		threads += len(p.Tids)
	}
	slog.Info("restored", "pid", s.plan.img.Meta().Root, "host_pid", res.Root, "main_exited", s.plan.mainExit != nil, "processes", len(res.Procs), "threads", threads,
		"took", time.Since(t0).Round(time.Millisecond))
	return res.Listener, nil
}
