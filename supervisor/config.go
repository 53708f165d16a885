package supervisor

import (
	"fmt"
	"syscall"
	"time"

	"github.com/crrun/crrun/image"
)

// Policy is what --on-nocr does when the app makes a syscall in the NOCR table.
type Policy string

// NOCR policies.
const (
	PolicyWarn Policy = "warn" // record the taint, let the call run
	PolicyDeny Policy = "deny" // fail the call with the entry's errno; the app stays checkpointable
	PolicyKill Policy = "kill" // end the app with a message
)

// ParsePolicy checks a --on-nocr value.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyWarn, PolicyDeny, PolicyKill:
		return p, nil
	}
	return "", fmt.Errorf("--on-nocr=%q: want warn, deny or kill", s)
}

// Config is what `crrun run` needs.
type Config struct {
	Argv   []string // the command as the user typed it
	Path   string   // Argv[0] resolved through PATH
	OnNOCR Policy
	// WaitMain ends the whole app when its main process exits; by default crrun
	// supervises until every process of the app has exited.
	WaitMain bool
	// RuntimeDir overrides where the control socket lives (see RuntimeDir).
	RuntimeDir string
	// Dir is the checkpoint store: generations gen-NNNNNN side by side.
	Dir string
	// Version is crrun's version string, recorded in images.
	Version string
	// Interval takes a checkpoint periodically (0: never).
	Interval time.Duration
	// Keep is how many generations to keep in Dir (0: all).
	Keep int
	// Slurm turns on the batch-job behaviour; nil outside Slurm.
	Slurm *Slurm
	// Restart restarts the app from its newest checkpoint when it fails
	// (--restart-on-failure).
	Restart RestartPolicy
	// Hooks are the commands run after each checkpoint and before a
	// restored app runs.
	Hooks Hooks
	// HostIPC keeps the host's IPC namespace (--ipc=host): the app's SysV
	// objects are NOCR there. By default the app gets its own, saved and
	// restored with it.
	HostIPC bool
	// Net is the app's network: "" the host's, NetPrivate a namespace of
	// its own with a loopback (netns.go). A restore takes it from the image.
	Net string
	// Compress is how checkpoints store page data ("" means
	// image.DefaultCompression); a checkpoint request may override it.
	Compress image.Compression
	// NoIncremental makes every checkpoint save all memory; else, after
	// the first one, a checkpoint saves the pages changed since the
	// previous generation and refers to it for the rest (checkpoint/dirty.go).
	NoIncremental bool
}

// Exit is how the app ended, for crrun to mirror.
type Exit struct {
	Code   int            // exit code, when Signal == 0
	Signal syscall.Signal // the app was killed by this signal
	// byCrrun: crrun ended the app on purpose (checkpoint --exit, Slurm
	// requeue); never a failure to restart after.
	byCrrun bool
}

// Exit codes of crrun's own, as podman and docker use them.
const (
	ExitUsage    = 2   // bad command line
	ExitInternal = 125 // crrun itself failed (also: --on-nocr=kill ended the app)
	ExitNotExec  = 126 // the command exists but cannot be executed
	ExitNotFound = 127 // the command was not found
)

// Error carries an exit code with a message for the user.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
