package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/crrun/crrun/internal/clog"
	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
)

func newRestoreCmd() *cobra.Command {
	var g globalFlags
	c := &cobra.Command{
		Use:   "restore [flags] DIR",
		Short: "Restore a checkpointed app and supervise it again",
		Long: `Rebuilds the app saved in DIR — a generation directory, or a checkpoint store
(--dir of crrun run), meaning its newest valid generation — with the same PIDs,
TIDs, memory, registers, signals and files, under a new supervisor, and runs it
to its end exactly like 'crrun run' (stdio is this command's own; the exit
status is the app's). Later checkpoints go to DIR's store unless --dir says
otherwise. Fails with exit 125, before the app runs, when the image is corrupt
or the machine differs (kernel, executable, files), or when DIR is not yours
alone (another user owns it or may write it: an image is code, it runs with
your credentials; --trust-image restores it anyway).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.inherit(cmd)
			if err := clog.Setup(os.Stderr, g.logFormat, g.logLevel); err != nil {
				return usageError{err}
			}
			policy, err := supervisor.ParsePolicy(g.onNOCR)
			if err != nil {
				return usageError{err}
			}
			if g.wait != "all" && g.wait != "main" {
				return usageError{errors.New("--wait=" + g.wait + ": want all or main")}
			}
			dir := ""
			if cmd.Flags().Changed("dir") {
				if dir, err = checkDirFlag(g.dir); err != nil {
					return err
				}
			}
			imgDir, err := filepath.Abs(args[0])
			if err != nil {
				return usageError{err}
			}
			hpc, err := g.hpc()
			if err != nil {
				return err
			}
			return restoreAndMirror(supervisor.RestoreConfig{Image: imgDir, TrustImage: g.trustImage, Dir: dir, OnNOCR: policy,
				WaitMain: g.wait == "main", RuntimeDir: g.runtimeDir, Version: version, HPC: hpc})
		},
	}
	g.register(c)
	return c
}
