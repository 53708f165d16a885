package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// ExitCheckpointed is crrun's exit status after `crrun checkpoint --exit`:
// EX_TEMPFAIL of sysexits.h, "try again later" — the app is saved, not done.
const ExitCheckpointed = 75

// CheckpointResult describes a committed checkpoint.
type CheckpointResult struct {
	Dir     string `json:"dir"`
	PauseMS int64  `json:"pause_ms"`
	TotalMS int64  `json:"total_ms"`
	Bytes   uint64 `json:"bytes"`
	Threads int    `json:"threads"`
	// Processes is the number of processes saved (zombies included).
	Processes int `json:"processes"`
}

// Checkpoint saves the app into the next generation of the --dir store.
// Requests are serialized: a second one waits for the first. With exit, the
// app is ended once the checkpoint is durable and crrun exits with
// ExitCheckpointed.
func (s *Supervisor) Checkpoint(trigger image.Trigger, reason string, exit bool) (*CheckpointResult, error) {
	return s.CheckpointWith(trigger, reason, exit, "")
}

// CheckpointWith is Checkpoint with the page compression of this one
// checkpoint ("" for the configured one, --compress).
func (s *Supervisor) CheckpointWith(trigger image.Trigger, reason string, exit bool, compress image.Compression) (*CheckpointResult, error) {
	return s.checkpointC(trigger, reason, exit, compress, func(dir string) {
		s.requestExit(ExitCheckpointed, "checkpointed to "+dir+"; the app was ended (checkpoint --exit)")
	})
}

// checkpoint is Checkpoint with what to do, with exit, once the image is
// durable and just before the app is killed.
func (s *Supervisor) checkpoint(trigger image.Trigger, reason string, exit bool, beforeKill func(dir string), drop ...unix.Signal) (*CheckpointResult, error) {
	return s.checkpointC(trigger, reason, exit, "", beforeKill, drop...)
}

// compression returns the compression of a checkpoint: the request's, else
// the configured one, else the default.
func (s *Supervisor) compression(req image.Compression) image.Compression {
	switch {
	case req != "":
		return req
	case s.cfg.Compress != "":
		return s.cfg.Compress
	}
	return image.DefaultCompression
}

func (s *Supervisor) checkpointC(trigger image.Trigger, reason string, exit bool, compress image.Compression, beforeKill func(dir string), drop ...unix.Signal) (*CheckpointResult, error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	mainNsPid := s.mainNs()
	if mainNsPid == 0 {
		return nil, errors.New("the app has not started yet")
	}
	if s.cfg.Dir == "" {
		return nil, errors.New("no checkpoint directory (--dir)")
	}
	// The main process may have exited while others run on (a daemon,
	// `cmd &`): they are checkpointed, and the image says how it ended.
	mainPid := s.mainPid
	if s.mainGone(0) != nil {
		mainPid = 0 // its host pid may be reused
	}
	store, err := image.OpenStore(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", s.cfg.Dir, err)
	}
	if err := claimStore(s.cfg.Dir, s.cfg.Argv); err != nil { // storelock.go
		slog.Error("checkpoint refused; the app keeps running", "err", err)
		return nil, err
	}
	slog.Info("checkpoint: freezing the app", "pid", mainNsPid, "reason", reason)
	var written atomic.Pointer[image.Writer] // the attempt's, for the progress line
	stopProgress := showProgress("checkpoint", residentBytes(s.processes()), func() int64 {
		if w := written.Load(); w != nil {
			return w.BytesWritten()
		}
		return 0
	})
	var (
		dir string
		st  checkpoint.Stats
	)
	for attempt := 1; ; attempt++ {
		dir, st, err = s.dumpOnce(store, &written, mainPid, mainNsPid, trigger, reason, exit, compress, beforeKill, drop)
		nc := (*checkpoint.NotCheckpointableError)(nil)
		if err == nil || !errors.As(err, &nc) || !nc.Transient() || attempt == transientRetries {
			break
		}
		// Bytes were in flight between two sockets of the app while they
		// were saved (the kernel's loopback delivers them late on a busy
		// machine): the app ran on, a moment later they have landed.
		s.tracker.Forget()
		slog.Info("checkpoint: state moved while it was saved; checkpointing again", "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
	stopProgress()
	if err != nil {
		s.tracker.Forget()
		slog.Error("checkpoint failed; the app keeps running", "err", err)
		return nil, err
	}
	if exit {
		s.tracker.Close()
	} else {
		s.tracker.Committed(dir)
	}
	res := &CheckpointResult{Dir: dir, PauseMS: st.Pause.Milliseconds(), TotalMS: st.Total.Milliseconds(),
		Bytes: st.MemoryBytes, Threads: st.Threads, Processes: st.Processes}
	slog.Info("checkpoint written to "+dir, "pause", st.Pause.Round(time.Millisecond),
		"total", st.Total.Round(time.Millisecond), "memory", fmt.Sprintf("%.1f MiB", float64(st.MemoryBytes)/(1<<20)),
		"unchanged", fmt.Sprintf("%.1f MiB", float64(st.RefBytes)/(1<<20)), "processes", st.Processes, "threads", st.Threads)
	s.afterCheckpoint(dir, reason)
	s.prune()
	return res, nil
}

// transientRetries bounds the checkpoints tried in a row while the app's
// state moves as it is saved (checkpoint.NotCheckpointableError.Transient).
const transientRetries = 4

// dumpOnce is one attempt of checkpointC: a new generation in store,
// committed or aborted.
func (s *Supervisor) dumpOnce(store *image.Store, written *atomic.Pointer[image.Writer], mainPid, mainNsPid int, trigger image.Trigger, reason string, exit bool,
	compress image.Compression, beforeKill func(dir string), drop []unix.Signal) (string, checkpoint.Stats, error) {
	w, err := store.Create()
	if err != nil {
		return "", checkpoint.Stats{}, fmt.Errorf("checkpoint directory %s: %w", s.cfg.Dir, err)
	}
	defer w.Abort() // no-op after a commit
	w.SetCompression(s.compression(compress))
	written.Store(w)
	return checkpoint.Dump(checkpoint.Request{
		Pid:       mainPid,
		Init:      s.initPid,
		MainNsPid: mainNsPid,
		// The init reports the main process's exit a moment after it.
		MainExit: func() *image.MainExit { return s.mainGone(2 * time.Second) },
		List: func() []int {
			var pids []int
			for _, p := range s.processes() {
				pids = append(pids, p.Pid)
			}
			return pids
		},
		Refusals:    s.refusals, // the verdict `crrun status` gives
		Stdio:       stdioIDs(),
		TtyFg:       s.terminalForeground,
		Terminal:    terminalState,
		Meta:        image.Meta{Reason: reason, Trigger: trigger, CrrunVersion: s.cfg.Version, Argv: s.cfg.Argv, Net: s.cfg.Net},
		Writer:      w,
		Exit:        exit,
		BeforeKill:  beforeKill,
		DropSignals: drop,
		WatchPath:   s.watches.lookup,
		Mempolicy:   s.policy.lookup,
		IPC:         s.dumpIPC,
		SemUndo:     s.semUndo.sets,
		SemStates:   s.semStates,
		PrivateIPC:  !s.hostIPC(),
		Tracker:     s.dirtyTracker(),
	})
}

// dirtyTracker returns the app's dirty tracking (made at the first
// checkpoint), nil with --incremental=false. Under ckptMu.
func (s *Supervisor) dirtyTracker() *checkpoint.Tracker {
	if s.cfg.NoIncremental {
		return nil
	}
	if s.tracker == nil {
		s.tracker = checkpoint.NewTracker()
	}
	return s.tracker
}
