package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
)

func newCheckpointCmd(g *globalFlags) *cobra.Command {
	var exit, asJSON bool
	var compress string
	c := &cobra.Command{
		Use:   "checkpoint [--exit] [SUPERVISOR-PID]",
		Short: "Checkpoint a running app; return when the image is durable",
		Long: `Asks a running crrun for a checkpoint into the next generation of its --dir,
and prints the image directory once it is durable. Without a pid, the only
running crrun is used. With --exit the app is ended after the checkpoint and
that crrun exits with status 75.

Exit status: 0 when the image is durable; 1 when the app cannot be
checkpointed (the reasons are printed); 74 when writing the image failed (no
space, quota, I/O error, read-only file system: the previous generations are
kept); 77 when that crrun refused this client (another user), or this client
refused a runtime directory or socket that is not the user's alone.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := pickSupervisor(g.runtimeDir, args)
			if err != nil {
				return err
			}
			var comp image.Compression
			if compress != "" {
				if comp, err = image.ParseCompression(compress); err != nil {
					return usageError{fmt.Errorf("--compress: %w", err)}
				}
			}
			res, err := supervisor.RequestCheckpointWith(g.runtimeDir, pid, exit, comp)
			if err != nil {
				var re *supervisor.RemoteError
				if errors.As(err, &re) {
					code := re.Code
					if code == 0 {
						code = supervisor.ExitNotCheckpointable
					}
					return &supervisor.Error{Code: code, Msg: err.Error()}
				}
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Dir)
			return nil
		},
	}
	c.Flags().BoolVar(&exit, "exit", false, "end the app after the checkpoint (crrun exits 75)")
	c.Flags().StringVar(&compress, "compress", "", "how this checkpoint stores memory: auto, zstd or none (default: the running crrun's --compress)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (dir, pause_ms, total_ms, bytes, threads)")
	return c
}

// pickSupervisor returns the pid given, or the only running crrun.
func pickSupervisor(runtimeDir string, args []string) (int, error) {
	if len(args) == 1 {
		pid, err := strconv.Atoi(args[0])
		if err != nil || pid <= 0 {
			return 0, usageError{fmt.Errorf("%q is not a pid", args[0])}
		}
		return pid, nil
	}
	pids, err := supervisor.ListSupervisors(runtimeDir)
	if err != nil {
		return 0, err
	}
	switch len(pids) {
	case 0:
		return 0, errors.New("no crrun is running")
	case 1:
		return pids[0], nil
	}
	return 0, usageError{fmt.Errorf("%d crruns are running (%v): say which", len(pids), pids)}
}
