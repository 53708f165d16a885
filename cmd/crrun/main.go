// Command crrun runs a program under a transparent checkpoint/restart
// supervisor. This package is wiring only: flags, subcommands, exit codes.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
)

func init() {
	// The exec stage must run (and exec) on the main thread: the seccomp
	// filter is loaded on the calling thread, and at restore the supervisor
	// seizes the stage's main thread before the exec. The init must fork
	// the exec stage from its main thread: it unshares the app's time
	// namespace on that thread, and /proc/PID/ns/time_for_children (what
	// the NOCR scan compares the app with) shows the main thread's. init
	// functions run on the main thread; locking here keeps main() there.
	if len(os.Args) > 1 && (os.Args[1] == supervisor.ExecArg || os.Args[1] == supervisor.InitArg) {
		runtime.LockOSThread()
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The child side of a launch: crrun re-executes itself to run code
	// between fork and exec, which Go cannot.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case supervisor.InitArg:
			supervisor.InitMain(os.Args[2:])
		case supervisor.ExecArg:
			supervisor.ExecMain(os.Args[2:])
		}
		if !isClientCommand(os.Args[1]) {
			supervisor.CatchSignals() // before anything slow: a signal now is not lost
		}
	}
	os.Exit(execute(os.Args[1:]))
}

// usageError marks command-line mistakes (exit 2).
type usageError struct{ error }

func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	fmt.Fprintln(os.Stderr, "crrun: "+strings.TrimSpace(err.Error()))
	var se *supervisor.Error
	if errors.As(err, &se) {
		return se.Code
	}
	var re *supervisor.RemoteError
	if errors.As(err, &re) && re.Code != 0 {
		return re.Code
	}
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		fmt.Fprintln(os.Stderr, "Run 'crrun --help' for usage.")
		return supervisor.ExitUsage
	}
	return supervisor.ExitInternal
}

// exitError carries an exit code that has already been reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func isFlagError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown flag") || strings.HasPrefix(s, "unknown shorthand flag") ||
		strings.Contains(s, "flag needs an argument") || strings.HasPrefix(s, "invalid argument") ||
		strings.HasPrefix(s, "unknown command") || strings.Contains(s, "accepts ")
}

func newRootCmd() *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "crrun [flags] -- COMMAND [ARGS...]",
		Short: "Run a program under a transparent checkpoint/restart supervisor",
		Long: `crrun runs an unmodified program under a seccomp user-notification filter.
The moment the program creates kernel state crrun cannot save yet, crrun marks it
NOCR ("not checkpointable") with a reason and says so; 'crrun status' lists them.

Exit status: the app's own; if the app is killed by a signal, crrun dies the same
way. crrun's own errors exit 125, a command that cannot be executed 126, one that
is not found 127, a bad command line 2, an image that is corrupt, incomplete or
of an unknown format 65; after 'crrun checkpoint --exit' crrun exits 75.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApp(&g, args)
		},
	}
	root.Flags().SetInterspersed(false) // flags after COMMAND belong to COMMAND
	g.register(root)
	g.registerResume(root)
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.runtimeDir, "runtime-dir", "", "where control sockets live (default $CRRUN_RUNTIME_DIR, $XDG_RUNTIME_DIR/crrun, /run/crrun for root, /tmp/crrun-UID)")
	root.AddCommand(newRunCmd(), newStatusCmd(&g), newCheckpointCmd(&g), newRestoreCmd(), newInspectCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return root
}

// isClientCommand tells the subcommands that only talk to a running crrun
// (they must keep default signal behaviour: Ctrl-C ends them).
func isClientCommand(arg string) bool {
	switch arg {
	case "status", "checkpoint", "inspect", "help", "--help", "-h", "--version", "completion":
		return true
	}
	return false
}
