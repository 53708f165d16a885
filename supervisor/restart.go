package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// RestartOn says which ends of the app --restart-on-failure restarts.
type RestartOn string

// --restart-on values.
const (
	// RestartCrash: death by a crash signal (SEGV, BUS, ILL, FPE, ABRT, SYS,
	// TRAP) or by SIGKILL (the OOM killer's).
	RestartCrash RestartOn = "crash"
	// RestartNonzero: a crash, or an exit with a non-zero status.
	RestartNonzero RestartOn = "nonzero"
	// RestartAny: any abnormal end: a non-zero status or death by any signal.
	RestartAny RestartOn = "any"
)

// ParseRestartOn checks a --restart-on value.
func ParseRestartOn(s string) (RestartOn, error) {
	switch r := RestartOn(s); r {
	case RestartCrash, RestartNonzero, RestartAny:
		return r, nil
	}
	return "", fmt.Errorf("--restart-on=%q: want crash, nonzero or any", s)
}

// RestartPolicy is --restart-on-failure and its companions.
type RestartPolicy struct {
	Max   int           // at most this many restarts (0: never restart)
	On    RestartOn     // which ends count as failures
	Delay time.Duration // before the first restart; doubled for each next one, at most MaxRestartDelay
}

// MaxRestartDelay caps the growing delay between restarts.
const MaxRestartDelay = 5 * time.Minute

// crashSignals are the signals --restart-on=crash restarts after: the
// kernel's for a faulting program, abort(3), seccomp's SIGSYS, and SIGKILL,
// which is how the OOM killer ends a process.
var crashSignals = map[syscall.Signal]bool{unix.SIGSEGV: true, unix.SIGBUS: true, unix.SIGILL: true,
	unix.SIGFPE: true, unix.SIGABRT: true, unix.SIGSYS: true, unix.SIGTRAP: true, unix.SIGKILL: true}

// failed reports whether the policy restarts after e.
func (p RestartPolicy) failed(e Exit) bool {
	switch {
	case e.Signal != 0 && crashSignals[e.Signal]:
		return true
	case e.Signal != 0:
		return p.On == RestartAny
	case e.Code != 0:
		return p.On == RestartNonzero || p.On == RestartAny
	}
	return false
}

// delay is the pause before restart n (1-based).
func (p RestartPolicy) delay(n int) time.Duration {
	d := p.Delay
	for i := 1; i < n && d < MaxRestartDelay; i++ {
		d *= 2
	}
	return min(d, MaxRestartDelay)
}

// Restart is one restart of the app, as the log and `crrun status` show it.
type Restart struct {
	N     int       `json:"n"`     // 1 for the first restart
	Time  time.Time `json:"time"`  // when the app was started again
	Cause string    `json:"cause"` // how the app ended: "killed by SIGKILL", "exit status 3"
	// Signal or Code is how the app ended.
	Signal string `json:"signal,omitempty"`
	Code   int    `json:"code"`
	// From is the generation restored; "" when no checkpoint of this run
	// existed and the command was started afresh.
	From    string `json:"from"`
	DelayMS int64  `json:"delay_ms"` // the pause before the restart
}

// describeExit says how the app ended, for logs.
func describeExit(e Exit) string {
	if e.Signal != 0 {
		return "killed by " + unix.SignalName(e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// stopSignals are the signals by which a user asks the app to end: once crrun
// has passed one on, the app's end is not a failure to restart after.
var stopSignals = map[syscall.Signal]bool{unix.SIGINT: true, unix.SIGTERM: true, unix.SIGHUP: true, unix.SIGQUIT: true}

// restartWanted reports whether this life's end e is one to restart after
// (the count is not checked here). Never when the user asked the app to end,
// crrun ended it, or the Slurm job is ending (its SIGTERM reaches the app
// directly too); nor when the main process had ended before the checkpoint
// this life was restored from (its daemons ended now).
func (s *Supervisor) restartWanted(e Exit) bool {
	if s.cfg.Restart.Max <= 0 || e.byCrrun || s.userStop || s.leaving.Load() || !s.mainDiedHere {
		return false
	}
	if e.Signal != 0 && s.forwarded[e.Signal] {
		return false // the user's own signal, passed on by crrun
	}
	return s.cfg.Restart.failed(e)
}

// noteForwarded records a signal crrun passed on to the app.
func (s *Supervisor) noteForwarded(sig syscall.Signal) {
	if s.forwarded == nil {
		s.forwarded = map[syscall.Signal]bool{}
	}
	s.forwarded[sig] = true
	if stopSignals[sig] {
		s.userStop = true
	}
}

// storeFloor is the lowest generation number this run may write: one above
// every generation already in dir. Restarts restore only generations of
// their own run, never an older run's left in the store (--resume=never).
func storeFloor(dir string) uint64 {
	if dir == "" {
		return 0
	}
	if _, err := os.Stat(dir); err != nil {
		return 1
	}
	store, err := image.OpenStore(dir)
	if err != nil {
		return 1
	}
	gens, err := store.List()
	if err != nil || len(gens) == 0 {
		return 1
	}
	return gens[len(gens)-1].Seq + 1
}

// lineage is what the lives of one crrun have in common.
type lineage struct {
	floor  uint64 // generations of this run are numbered from here
	origin string // the generation the first life was restored from ("" = a fresh run)
	trust  bool   // --trust-image
	// suspect: generations a restored life failed from before any newer
	// checkpoint (restartSource).
	suspect  map[string]bool
	started  time.Time // the first life's start
	restarts []Restart
}

// restartSource picks what the next life starts from: the newest valid
// generation this run wrote that is not suspect, else the generation the
// run was restored from, else nothing (start the command afresh). verified
// reports that the returned generation's checksums were just verified.
//
// A generation is suspect once a life restored from it failed before any
// newer generation was written: a checkpoint taken after the app's fatal
// step (its decision to crash, its corrupt result) restores that step, and
// the same failure follows at every restart. The next restart then goes
// back a generation, and further back while restored lives keep failing
// so; when every generation of the run is suspect, the newest is restored
// again. skipped names the suspect generations passed over.
func (s *Supervisor) restartSource() (gen string, verified bool, skipped []string) {
	var fallback string
	if store, err := image.OpenStore(s.cfg.Dir); err == nil {
		gens, _ := store.List()
		for i := len(gens) - 1; i >= 0 && gens[i].Seq >= s.line.floor; i-- {
			r, err := image.Open(gens[i].Path)
			if err == nil {
				err = r.Verify()
				r.Close()
			}
			if err != nil {
				slog.Warn("restart: skipped a generation: " + err.Error())
				continue
			}
			if s.line.suspect[gens[i].Path] {
				skipped = append(skipped, gens[i].Path)
				if fallback == "" {
					fallback = gens[i].Path
				}
				continue
			}
			return gens[i].Path, true, skipped
		}
	}
	if fallback != "" {
		return fallback, true, nil
	}
	return s.line.origin, false, nil
}

// markSuspect records that the life that just failed was restored from a
// generation and wrote none after it (restartSource).
func (s *Supervisor) markSuspect() {
	if len(s.line.restarts) == 0 {
		return // the first life was not restored by a restart
	}
	from := s.line.restarts[len(s.line.restarts)-1].From
	if from == "" {
		return
	}
	if store, err := image.OpenStore(s.cfg.Dir); err == nil {
		if gens, _ := store.List(); len(gens) > 0 && gens[len(gens)-1].Path != from {
			return // this life checkpointed after its restore
		}
	}
	if s.line.suspect == nil {
		s.line.suspect = map[string]bool{}
	}
	s.line.suspect[from] = true
}

// supervise runs the lives of the app: the first one with s, then, after
// each failure --restart-on-failure covers, one restored from the newest
// valid generation of this run. It returns how the last life ended.
func supervise(s *Supervisor) (Exit, error) {
	for {
		exit, err := s.run()
		s.release()
		if err != nil || !s.restartWanted(exit) {
			return exit, err
		}
		pol := s.cfg.Restart
		n := len(s.line.restarts) + 1
		if n > pol.Max {
			slog.Error(fmt.Sprintf("the app %s; it was restarted %d times (--restart-on-failure=%d): giving up", describeExit(exit), pol.Max, pol.Max))
			return exit, nil
		}
		// A checkpoint (and its hook) under way when the app died finishes
		// or fails before the next life picks its generation.
		s.waitCheckpoint()
		rearmSignals()
		delay := pol.delay(n)
		slog.Warn(fmt.Sprintf("the app %s; restart %d of %d in %v", describeExit(exit), n, pol.Max, delay))
		if sig := sleepUnlessStopped(delay); sig != 0 {
			slog.Info(fmt.Sprintf("%s during the restart delay: not restarting", unix.SignalName(sig)))
			return exit, nil
		}
		rec := Restart{N: n, Cause: describeExit(exit), Code: exit.Code, DelayMS: delay.Milliseconds()}
		if exit.Signal != 0 {
			rec.Signal = unix.SignalName(exit.Signal)
		}
		s.markSuspect()
		gen, verified, skipped := s.restartSource()
		for _, g := range skipped {
			slog.Warn(fmt.Sprintf("restart %d: not restoring %s: the life restored from it failed before any newer checkpoint "+
				"(a checkpoint taken after the failure's cause brings the failure back)", n, g))
		}
		rec.From = gen
		var next *Supervisor
		if gen == "" {
			slog.Warn(fmt.Sprintf("restart %d: no checkpoint of this run yet: starting %s afresh", n, QuoteCommand(s.cfg.Argv)))
			next, err = newSupervisor(s.cfg)
		} else {
			slog.Warn(fmt.Sprintf("restart %d: restoring %s", n, gen))
			next, err = prepareRestore(RestoreConfig{Image: gen, Verified: verified, Dir: s.cfg.Dir, OnNOCR: s.cfg.OnNOCR,
				WaitMain: s.cfg.WaitMain, RuntimeDir: s.cfg.RuntimeDir, Version: s.cfg.Version, TrustImage: s.line.trust,
				HPC: HPC{Interval: s.cfg.Interval, Keep: s.cfg.Keep, Slurm: s.cfg.Slurm, Restart: s.cfg.Restart, Hooks: s.cfg.Hooks, Compress: s.cfg.Compress, NoIncremental: s.cfg.NoIncremental}})
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Msg = fmt.Sprintf("restart %d after the app was %s: %s", n, describeExit(exit), e.Msg)
				return Exit{}, e
			}
			return Exit{}, fmt.Errorf("restart %d: %w", n, err)
		}
		rec.Time = time.Now()
		if gen != "" {
			// The restore put the app's output files back to their size at
			// the checkpoint; when crrun's own stderr is one of them, what
			// it logged since is gone (prepareRestore moved crrun's offset
			// to the new end): say again what happened.
			slog.Warn(fmt.Sprintf("restart %d of %d: the app was %s; restored %s", n, pol.Max, describeExit(exit), gen))
		}
		next.line = s.line
		next.line.restarts = append(next.line.restarts, rec)
		next.restoreReason = fmt.Sprintf("restart %d: the app was %s", n, describeExit(exit))
		s = next
	}
}

// seekStdioToEnd moves crrun's stdout and stderr to the end of their file
// when they are regular files (not O_APPEND) that were truncated below their
// offset — by a restore that put the app's output files (crrun's, when the
// app's stdio was crrun's) back to their size at the checkpoint. Else
// crrun's next write would leave a hole of NULs.
func seekStdioToEnd() {
	for fd := 1; fd <= 2; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
			continue
		}
		if off, err := unix.Seek(fd, 0, io.SeekCurrent); err == nil && off > st.Size {
			_, _ = unix.Seek(fd, 0, io.SeekEnd)
		}
	}
}

// release frees what one life held after it ended.
func (s *Supervisor) release() {
	if s.plan != nil && s.plan.img != nil {
		s.plan.img.Close()
		s.plan.img = nil
	}
}

// waitCheckpoint waits for a checkpoint in flight, hooks included, at most
// the hook timeout and a minute more.
func (s *Supervisor) waitCheckpoint() {
	done := make(chan struct{})
	go func() {
		s.ckptMu.Lock()
		//lint:ignore SA2001 only waiting for the checkpoint in flight to end
		s.ckptMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.cfg.Hooks.timeout() + time.Minute):
		slog.Warn("a checkpoint still under way after the app ended was left behind")
	}
}

// sleepUnlessStopped waits d, or until a signal asking crrun to stop
// arrives (it returns that signal). Other signals are dropped: there is no
// app to pass them to.
func sleepUnlessStopped(d time.Duration) syscall.Signal {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return 0
		case sig := <-early.c:
			if s := sig.(syscall.Signal); stopSignals[s] {
				return s
			}
		}
	}
}

// rearmSignals catches crrun's signals again after a life ended (run stops
// catching them on its way out).
func rearmSignals() {
	signal.Notify(early.c, early.sigs...)
}
