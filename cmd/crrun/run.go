package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"crrun/internal/clog"
	"crrun/supervisor"

	"github.com/spf13/cobra"
)

type globalFlags struct {
	dir        string
	onNOCR     string
	wait       string
	logFormat  string
	logLevel   string
	runtimeDir string
}

func (g *globalFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&g.onNOCR, "on-nocr", "warn", "when the app creates state crrun cannot checkpoint: warn (record it), deny (fail the syscall), kill (end the app)")
	c.Flags().StringVar(&g.wait, "wait", "all", "supervise until 'all' processes of the app exit, or only the 'main' one (then kill the rest)")
	c.Flags().StringVar(&g.dir, "dir", defaultDir(), "checkpoint directory: generations gen-NNNNNN are written side by side in it ($CRRUN_DIR)")
}

func newRunCmd() *cobra.Command {
	var g globalFlags
	c := &cobra.Command{
		Use:   "run [flags] [--] COMMAND [ARGS...]",
		Short: "Run a program under crrun (the same as 'crrun [flags] -- COMMAND')",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			g.logFormat, _ = root.PersistentFlags().GetString("log-format")
			g.logLevel, _ = root.PersistentFlags().GetString("log-level")
			g.runtimeDir, _ = root.PersistentFlags().GetString("runtime-dir")
			return runApp(&g, args)
		},
	}
	c.Flags().SetInterspersed(false)
	g.register(c)
	return c
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
	if g.wait != "all" && g.wait != "main" {
		return usageError{errors.New("--wait=" + g.wait + ": want all or main")}
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
	dir, err := filepath.Abs(g.dir)
	if err != nil {
		return usageError{fmt.Errorf("--dir %q: %w", g.dir, err)}
	}
	exit, err := supervisor.Run(supervisor.Config{Argv: args, Path: path, OnNOCR: policy,
		WaitMain: g.wait == "main", RuntimeDir: g.runtimeDir, Dir: dir, Version: version})
	if err != nil {
		return err
	}
	if exit.Signal != 0 {
		supervisor.DieBy(exit.Signal)
	}
	return &exitError{code: exit.Code}
}

// defaultDir is where checkpoints go without --dir: $CRRUN_DIR, else
// ./crrun-checkpoint (made absolute at launch).
func defaultDir() string {
	if d := os.Getenv("CRRUN_DIR"); d != "" {
		return d
	}
	return "crrun-checkpoint"
}
