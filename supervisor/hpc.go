package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Slurm configures the batch-job behaviour (docs/hpc.md).
type Slurm struct {
	JobID string
	// RequeueSignal makes crrun checkpoint (the app frozen until the image is
	// durable), `scontrol requeue` the job, end the app and exit 0. Slurm sends
	// it with `#SBATCH --signal=B:USR1@LEAD` or `scancel --signal=USR1 --batch`.
	RequeueSignal unix.Signal
	// TermGrace bounds the best-effort checkpoint on SIGTERM (time limit,
	// preemption, cancel); keep it below Slurm's KillWait.
	TermGrace time.Duration
	// MaxRequeues: past this many restarts (SLURM_RESTART_COUNT) the job is
	// checkpointed but not requeued any more.
	MaxRequeues int
	// RestartCount is SLURM_RESTART_COUNT at start.
	RestartCount int
}

// DetectSlurm fills a Slurm from the environment; nil outside a Slurm job.
func DetectSlurm(force bool) *Slurm {
	id := os.Getenv("SLURM_JOB_ID")
	if id == "" && !force {
		return nil
	}
	n, _ := strconv.Atoi(os.Getenv("SLURM_RESTART_COUNT"))
	return &Slurm{JobID: id, RequeueSignal: unix.SIGUSR1, TermGrace: 4 * time.Second, MaxRequeues: 10, RestartCount: n}
}

// periodic takes a checkpoint every interval; a failed one is logged and the
// app keeps running, the previous generations untouched.
func (s *Supervisor) periodic(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Checkpoint(image.TriggerTimer, "timer (every "+every.String()+")", false); err != nil {
				slog.Warn("periodic checkpoint failed; the previous generations are kept", "err", err)
			}
		}
	}
}

// prune keeps the newest Keep generations.
func (s *Supervisor) prune() {
	if s.cfg.Keep <= 0 {
		return
	}
	store, err := image.OpenStore(s.cfg.Dir)
	if err != nil {
		return
	}
	removed, err := store.Prune(s.cfg.Keep)
	if err != nil {
		slog.Warn("pruning old generations", "dir", s.cfg.Dir, "err", err)
	}
	for _, r := range removed {
		slog.Debug("removed old generation " + r)
	}
}

// jobStopSignals are what Slurm sends every process of a job it stops; a
// checkpoint taken for the stop leaves them out of the saved pending signals.
var jobStopSignals = []unix.Signal{unix.SIGTERM, unix.SIGCONT}

// slurmRequeue handles the checkpoint-and-requeue signal.
func (s *Supervisor) slurmRequeue() {
	sl := s.cfg.Slurm
	requeue := sl.JobID != "" && sl.RestartCount < sl.MaxRequeues
	if !requeue && sl.JobID != "" {
		slog.Warn(fmt.Sprintf("slurm: job %s was requeued %d times (--max-requeues %d): checkpointing without requeue",
			sl.JobID, sl.RestartCount, sl.MaxRequeues))
	}
	s.leaving.Store(true) // our own requeue makes Slurm send SIGTERM: not a new request
	_, err := s.checkpoint(image.TriggerExit, "slurm: "+unix.SignalName(sl.RequeueSignal), true, func(dir string) {
		if requeue {
			s.scontrolRequeue()
		}
		s.requestExit(0, "checkpointed to "+dir+"; the app was ended for the requeue")
	}, jobStopSignals...)
	if err != nil {
		slog.Error("slurm: checkpoint failed, the job is not requeued; the app runs on until Slurm ends it", "err", err)
	}
}

func (s *Supervisor) scontrolRequeue() {
	id := s.cfg.Slurm.JobID
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scontrol", "requeue", id).CombinedOutput()
	if err != nil {
		slog.Error(fmt.Sprintf("slurm: scontrol requeue %s failed: %v: %s", id, err, out))
		return
	}
	slog.Info("slurm: job " + id + " requeued")
}

// slurmTerm makes a best-effort checkpoint within TermGrace, then ends the
// app. A checkpoint cut short leaves only a temporary directory: the last good
// generation is never replaced by a partial one.
func (s *Supervisor) slurmTerm() {
	if s.leaving.Swap(true) {
		return // already checkpointing for the requeue or for an earlier SIGTERM
	}
	grace := s.cfg.Slurm.TermGrace
	done := make(chan error, 1)
	go func() {
		_, err := s.checkpoint(image.TriggerExit, "SIGTERM", true, func(dir string) {
			s.requestExit(0, "checkpointed to "+dir+" on SIGTERM; the app was ended")
		}, jobStopSignals...)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			slog.Error("SIGTERM: no checkpoint; ending the app", "err", err)
			s.requestExit(ExitInternal, "SIGTERM: the app was ended without a checkpoint")
		}
	case <-time.After(grace):
		slog.Error(fmt.Sprintf("SIGTERM: the checkpoint did not finish within --term-grace %v; ending the app (the last good generation is kept)", grace))
		s.requestExit(ExitInternal, "SIGTERM: the app was ended without a checkpoint")
	}
}
