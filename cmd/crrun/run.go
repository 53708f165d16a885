package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/clog"
	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type globalFlags struct {
	dir        string
	resume     string
	interval   time.Duration
	keep       int
	slurm      bool
	requeueSig string
	termGrace  time.Duration
	maxRequeue int
	onNOCR     string
	ipc        string
	wait       string
	logFormat  string
	logLevel   string
	runtimeDir string
	trustImage bool
	net        string

	restartMax   int
	restartOn    string
	restartDelay time.Duration
	onCheckpoint string
	onRestore    string
	hookTimeout  time.Duration
	compress     string
	incremental  bool
}

// minInterval is the shortest --interval: below it the app would spend
// its time frozen.
const minInterval = 100 * time.Millisecond

func (g *globalFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&g.onNOCR, "on-nocr", "warn", "when the app creates state crrun cannot checkpoint: warn (record it), deny (fail the syscall), kill (end the app)")
	c.Flags().StringVar(&g.ipc, "ipc", "private", "the app's IPC namespace: private (its own: SysV shared memory, semaphores and message queues are checkpointed) or host (the host's: they are NOCR)")
	c.Flags().StringVar(&g.wait, "wait", "all", "supervise until 'all' processes of the app exit, or only the 'main' one (then kill the rest)")
	c.Flags().StringVar(&g.dir, "dir", defaultDir(), "checkpoint directory: generations gen-NNNNNN are written side by side in it ($CRRUN_DIR)")
	c.Flags().DurationVar(&g.interval, "interval", 0, "take a checkpoint every DURATION (e.g. 30m); 0: only on request")
	c.Flags().IntVar(&g.keep, "keep", 2, "keep the newest N generations in --dir (0: all)")
	c.Flags().BoolVar(&g.slurm, "slurm", false, "batch-job mode (on by itself when SLURM_JOB_ID is set): the requeue signal checkpoints, requeues and exits; SIGTERM checkpoints")
	c.Flags().StringVar(&g.requeueSig, "requeue-signal", "USR1", "Slurm mode: the checkpoint-and-requeue signal")
	c.Flags().DurationVar(&g.termGrace, "term-grace", 4*time.Second, "Slurm mode: how long the checkpoint on SIGTERM may take (keep it below Slurm's KillWait)")
	c.Flags().IntVar(&g.maxRequeue, "max-requeues", 10, "Slurm mode: past this SLURM_RESTART_COUNT, checkpoint without requeueing")
	c.Flags().IntVar(&g.restartMax, "restart-on-failure", 0, "when the app fails (see --restart-on), restore its newest valid checkpoint of this run and supervise it again, at most N times; with no checkpoint yet, start the command afresh")
	c.Flags().StringVar(&g.restartOn, "restart-on", "crash", "what --restart-on-failure counts as a failure: crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP, SIGKILL as the OOM killer sends it), nonzero (a crash or a non-zero exit status), any (a non-zero status or any signal)")
	c.Flags().DurationVar(&g.restartDelay, "restart-delay", time.Second, "pause before the first restart; doubled for each next one (at most 5m)")
	c.Flags().StringVar(&g.onCheckpoint, "on-checkpoint", "", "run CMD ARGS... (split like a shell would, run without one) after each durable checkpoint, with CRRUN_DIR, CRRUN_GENERATION, CRRUN_REASON, CRRUN_PID... in its environment; a failure is logged, the checkpoint kept")
	c.Flags().StringVar(&g.onRestore, "on-restore", "", "run CMD ARGS... after a restore rebuilt the app, before it runs again (same environment as --on-checkpoint)")
	c.Flags().DurationVar(&g.hookTimeout, "hook-timeout", supervisor.DefaultHookTimeout, "kill a hook (its whole process group) still running after this long")
	c.Flags().StringVar(&g.compress, "compress", string(image.DefaultCompression), "how checkpoints store memory: auto (zero pages not stored; compressed only where a sample halves; the rest raw), zstd (compress everything that saves 1/8), or none (raw pages, as older crruns wrote and read them)")
	c.Flags().BoolVar(&g.incremental, "incremental", true, "after the first checkpoint, save only the memory written since the previous generation and refer to it for the rest (userfaultfd write-protection; a full checkpoint where that is unavailable); false: every checkpoint saves all memory")
	c.Flags().BoolVar(&g.trustImage, "trust-image", false, "restore an image, or resume from a --dir, that another user owns or that others may write (an image is code: it runs with your credentials)")
}

func newRunCmd() *cobra.Command {
	var g globalFlags
	c := &cobra.Command{
		Use:   "run [flags] [--] COMMAND [ARGS...]",
		Short: "Run a program under crrun (the same as 'crrun [flags] -- COMMAND')",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g.inherit(cmd)
			return runApp(&g, args)
		},
	}
	c.Flags().SetInterspersed(false)
	g.register(c)
	g.registerResume(c)
	return c
}

func (g *globalFlags) registerResume(c *cobra.Command) {
	c.Flags().StringVar(&g.resume, "resume", "auto", "with a checkpoint in --dir: auto (restore the newest valid one, else start fresh), never, require")
	c.Flags().StringVar(&g.net, "net", "host", "the app's network: host (the machine's), or private (a network namespace of its own with only a loopback, up; its TCP connections then checkpoint without root). Recorded in the image: a restore makes the same")
}

func runApp(g *globalFlags, args []string) error {
	if err := clog.Setup(os.Stderr, g.logFormat, g.logLevel); err != nil {
		return usageError{err}
	}
	if len(args) == 0 {
		return usageError{errors.New("no command given: crrun [flags] -- COMMAND [ARGS...]")}
	}
	policy, err := supervisor.ParsePolicy(g.onNOCR)
	if err != nil {
		return usageError{err}
	}
	if g.ipc != "private" && g.ipc != "host" {
		return usageError{errors.New("--ipc=" + g.ipc + ": want private or host")}
	}
	if g.wait != "all" && g.wait != "main" {
		return usageError{errors.New("--wait=" + g.wait + ": want all or main")}
	}
	netMode, err := supervisor.ParseNet(g.net)
	if err != nil {
		return usageError{err}
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) {
			return &supervisor.Error{Code: supervisor.ExitNotExec, Msg: args[0] + ": permission denied (not an executable file)"}
		}
		return &supervisor.Error{Code: supervisor.ExitNotFound, Msg: args[0] + ": command not found"}
	}
	if errors.Is(err, exec.ErrDot) {
		path = args[0]
	}
	dir, err := checkDirFlag(g.dir)
	if err != nil {
		return err
	}
	hpc, err := g.hpc()
	if err != nil {
		return err
	}
	switch g.resume {
	case "auto", "require":
		gen, err := supervisor.FindResumable(dir, args, g.trustImage)
		if err != nil {
			return err
		}
		if gen != "" {
			return restoreAndMirror(supervisor.RestoreConfig{Image: gen, Verified: true, TrustImage: g.trustImage, Dir: dir, OnNOCR: policy,
				WaitMain: g.wait == "main", RuntimeDir: g.runtimeDir, Version: version, HPC: hpc, Net: &netMode})
		}
		if g.resume == "require" {
			return &supervisor.Error{Code: supervisor.ExitInternal, Msg: "--resume=require: no valid checkpoint in " + dir}
		}
	case "never":
	default:
		return usageError{errors.New("--resume=" + g.resume + ": want auto, never or require")}
	}
	exit, err := supervisor.Run(supervisor.Config{Argv: args, Path: path, OnNOCR: policy,
		WaitMain: g.wait == "main", RuntimeDir: g.runtimeDir, Dir: dir, Version: version,
		Interval: hpc.Interval, Keep: hpc.Keep, Slurm: hpc.Slurm, Restart: hpc.Restart, Hooks: hpc.Hooks,
		HostIPC: g.ipc == "host", Net: netMode, Compress: hpc.Compress, NoIncremental: hpc.NoIncremental})
	if err != nil {
		return err
	}
	if exit.Signal != 0 {
		supervisor.DieBy(exit.Signal)
	}
	return &exitError{code: exit.Code}
}

// inherit takes the root's persistent flags (log format and level, runtime
// dir) into a subcommand's own flag set.
func (g *globalFlags) inherit(cmd *cobra.Command) {
	pf := cmd.Root().PersistentFlags()
	g.logFormat, _ = pf.GetString("log-format")
	g.logLevel, _ = pf.GetString("log-level")
	g.runtimeDir, _ = pf.GetString("runtime-dir")
}

// hpc turns the batch-job flags into their supervisor form.
func (g *globalFlags) hpc() (supervisor.HPC, error) {
	h := supervisor.HPC{Interval: g.interval, Keep: g.keep}
	comp, err := image.ParseCompression(g.compress)
	if err != nil {
		return h, usageError{fmt.Errorf("--compress: %w", err)}
	}
	h.Compress = comp
	h.NoIncremental = !g.incremental
	if g.keep < 0 {
		return h, usageError{fmt.Errorf("--keep %d: want 0 or more", g.keep)}
	}
	if g.interval < 0 || (g.interval > 0 && g.interval < minInterval) {
		return h, usageError{fmt.Errorf("--interval %v: want 0 (only on request) or at least %v", g.interval, minInterval)}
	}
	if g.restartMax < 0 {
		return h, usageError{fmt.Errorf("--restart-on-failure %d: want 0 or more", g.restartMax)}
	}
	on, err := supervisor.ParseRestartOn(g.restartOn)
	if err != nil {
		return h, usageError{err}
	}
	if g.restartDelay < 0 {
		return h, usageError{fmt.Errorf("--restart-delay %v: want 0 or more", g.restartDelay)}
	}
	h.Restart = supervisor.RestartPolicy{Max: g.restartMax, On: on, Delay: g.restartDelay}
	if g.hookTimeout <= 0 {
		return h, usageError{fmt.Errorf("--hook-timeout %v: want more than 0", g.hookTimeout)}
	}
	h.Hooks.Timeout = g.hookTimeout
	if h.Hooks.OnCheckpoint, err = supervisor.ParseHook("--on-checkpoint", g.onCheckpoint); err != nil {
		return h, usageError{err}
	}
	if h.Hooks.OnRestore, err = supervisor.ParseHook("--on-restore", g.onRestore); err != nil {
		return h, usageError{err}
	}
	if sl := supervisor.DetectSlurm(g.slurm); sl != nil {
		sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(g.requeueSig), "SIG"))
		if sig == 0 {
			return h, usageError{fmt.Errorf("--requeue-signal %q: not a signal", g.requeueSig)}
		}
		sl.RequeueSignal, sl.TermGrace, sl.MaxRequeues = sig, g.termGrace, g.maxRequeue
		h.Slurm = sl
	}
	return h, nil
}

func restoreAndMirror(cfg supervisor.RestoreConfig) error {
	exit, err := supervisor.Restore(cfg)
	if err != nil {
		return err
	}
	if exit.Signal != 0 {
		supervisor.DieBy(exit.Signal)
	}
	return &exitError{code: exit.Code}
}

// checkDirFlag validates --dir, for run and restore alike: not empty, made
// absolute, and a directory if it exists.
func checkDirFlag(d string) (string, error) {
	if d == "" {
		return "", usageError{errors.New("--dir \"\": want a directory")}
	}
	dir, err := filepath.Abs(d)
	if err != nil {
		return "", usageError{fmt.Errorf("--dir %q: %w", d, err)}
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return "", usageError{fmt.Errorf("--dir %s: not a directory", dir)}
	}
	return dir, nil
}

// defaultDir is where checkpoints go without --dir: $CRRUN_DIR, else
// ./crrun-checkpoint (made absolute at launch).
func defaultDir() string {
	if d := os.Getenv("CRRUN_DIR"); d != "" {
		return d
	}
	return "crrun-checkpoint"
}
