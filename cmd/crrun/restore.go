package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crrun/crrun/internal/clog"
	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
)

func newRestoreCmd() *cobra.Command {
	var g globalFlags
	var check bool
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
your credentials; --trust-image restores it anyway).

With --check, runs every one of those checks (the image verified, whose it
is, the kernel, the CPU, every file, a copy of the app still running under
another crrun here) and stops: prints the generation that would be
restored and what the restore would change on the host (files cut back to
their size at the checkpoint), and exits 0; or fails as the restore would.
Nothing is changed and nothing runs: a job script or a node's prolog can
ask whether a checkpoint restores here before it counts on it.`,
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
			if check {
				res, err := supervisor.CheckRestore(supervisor.RestoreConfig{Image: imgDir, TrustImage: g.trustImage, Dir: dir, OnNOCR: policy,
					RuntimeDir: g.runtimeDir, Version: version, HPC: hpc})
				if err != nil {
					return err
				}
				fmt.Println(res.Image + ": restorable here")
				if len(res.Changes) == 0 {
					fmt.Println("a restore would change nothing on the host before the app runs")
				}
				for _, c := range res.Changes {
					fmt.Println("a restore would change: " + c)
				}
				return nil
			}
			return restoreAndMirror(supervisor.RestoreConfig{Image: imgDir, TrustImage: g.trustImage, Dir: dir, OnNOCR: policy,
				WaitMain: g.wait == "main", RuntimeDir: g.runtimeDir, Version: version, HPC: hpc})
		},
	}
	g.register(c)
	c.Flags().BoolVar(&check, "check", false, "run every check of the restore and stop: print the generation and what the restore would change on the host, exit 0, or fail as the restore would; nothing changes, nothing runs")
	return c
}
