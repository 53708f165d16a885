package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/kballard/go-shellquote"
	"golang.org/x/sys/unix"
)

// Hooks are user commands crrun runs at points of an app's life
// (--on-checkpoint, --on-restore). Each is an argv, run without a shell.
type Hooks struct {
	OnCheckpoint []string // after each durable checkpoint
	OnRestore    []string // after a restore rebuilt the app, before it runs again
	// Timeout ends a hook still running after this long (its whole process
	// group); 0 means DefaultHookTimeout.
	Timeout time.Duration
}

// DefaultHookTimeout is --hook-timeout's default.
const DefaultHookTimeout = 60 * time.Second

func (h Hooks) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultHookTimeout
}

// ParseHook splits a hook command line as a POSIX shell would split words
// (quotes and backslashes), without running a shell: no variables, no
// globbing, no pipes.
func ParseHook(flag, cmdline string) ([]string, error) {
	if cmdline == "" {
		return nil, nil
	}
	argv, err := shellquote.Split(cmdline)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %v", flag, cmdline, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("%s=%q: no command", flag, cmdline)
	}
	return argv, nil
}

// QuoteCommand shows an argv as a shell would need it typed, so that it can
// be copied back into one.
func QuoteCommand(argv []string) string { return shellquote.Join(argv...) }

// hookEnv are the CRRUN_* variables of a hook (docs/design.md, "Hooks").
func (s *Supervisor) hookEnv(event, generation, reason string, pid int) []string {
	env := append(os.Environ(),
		"CRRUN_EVENT="+event,
		"CRRUN_DIR="+s.cfg.Dir,
		"CRRUN_GENERATION="+generation,
		"CRRUN_REASON="+reason,
		"CRRUN_PID="+strconv.Itoa(pid),
		"CRRUN_SUPERVISOR_PID="+strconv.Itoa(os.Getpid()),
		"CRRUN_RESTARTS="+strconv.Itoa(len(s.line.restarts)),
		"CRRUN_COMMAND="+QuoteCommand(s.cfg.Argv),
	)
	if sl := s.cfg.Slurm; sl != nil && sl.JobID != "" {
		env = append(env, "CRRUN_SLURM_JOB_ID="+sl.JobID)
	}
	return env
}

// runHook runs argv with env, its stdin /dev/null and its output on crrun's
// stderr, in a process group of its own; past the timeout the whole group is
// killed and reaped. A failure is logged and returned; it never undoes what
// the hook was run for.
func (s *Supervisor) runHook(name string, argv []string, env []string) error {
	if len(argv) == 0 {
		return nil
	}
	timeout := s.cfg.Hooks.timeout()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // *os.File: no copying goroutine to wait for
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("%s hook %s: %w", name, QuoteCommand(argv), err)
		slog.Error(err.Error())
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL) // the hook and whatever it started
		<-done
		err = fmt.Errorf("still running after --hook-timeout %v: killed it and its process group", timeout)
	}
	took := time.Since(t0).Round(time.Millisecond)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%s", ee.ProcessState.String())
		}
		err = fmt.Errorf("%s hook %s failed: %w", name, QuoteCommand(argv), err)
		slog.Error(err.Error(), "took", took)
		return err
	}
	slog.Info(name+" hook done", "cmd", QuoteCommand(argv), "took", took)
	return nil
}

// afterCheckpoint runs --on-checkpoint once generation dir is durable.
func (s *Supervisor) afterCheckpoint(dir, reason string) {
	if len(s.cfg.Hooks.OnCheckpoint) == 0 {
		return
	}
	_ = s.runHook("--on-checkpoint", s.cfg.Hooks.OnCheckpoint, s.hookEnv("checkpoint", dir, reason, s.mainPid))
}

// beforeResume runs --on-restore once the app is rebuilt, before it runs.
func (s *Supervisor) beforeResume(pid int) {
	if len(s.cfg.Hooks.OnRestore) == 0 {
		return
	}
	reason := s.restoreReason
	if reason == "" {
		reason = "restore"
	}
	_ = s.runHook("--on-restore", s.cfg.Hooks.OnRestore, s.hookEnv("restore", s.plan.img.Dir(), reason, pid))
}
