package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"

	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newStatusCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [SUPERVISOR-PID]",
		Short: "Show the process tree of a running crrun and whether it can be checkpointed",
		Long: `Without a pid, lists every running crrun of this user. With the pid of a
crrun supervisor (the crrun process itself), shows that one. --json prints the
stable machine-readable form documented in docs/status.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pids []int
			if len(args) == 1 {
				pid, err := strconv.Atoi(args[0])
				if err != nil || pid <= 0 {
					return usageError{fmt.Errorf("status: %q is not a pid", args[0])}
				}
				pids = []int{pid}
			} else {
				var err error
				if pids, err = supervisor.ListSupervisors(g.runtimeDir); err != nil {
					return err
				}
			}
			var sts []*supervisor.Status
			for _, pid := range pids {
				st, err := supervisor.QueryStatus(g.runtimeDir, pid)
				if err != nil {
					if len(args) == 1 {
						return err
					}
					continue // it exited meanwhile
				}
				sts = append(sts, st)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if len(args) == 1 {
					return enc.Encode(sts[0])
				}
				if sts == nil {
					sts = []*supervisor.Status{}
				}
				return enc.Encode(sts)
			}
			if len(sts) == 0 {
				fmt.Fprintln(out, "no crrun is running")
			}
			for i, st := range sts {
				if i > 0 {
					fmt.Fprintln(out)
				}
				printStatus(out, st)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (a list without a pid)")
	return c
}

func printStatus(w io.Writer, st *supervisor.Status) {
	fmt.Fprintf(w, "crrun %d: %s\n", st.SupervisorPid, supervisor.QuoteCommand(st.Command))
	fmt.Fprintf(w, "  started %s, --on-nocr=%s\n", st.Started.Format("2006-01-02 15:04:05"), st.OnNOCR)
	fmt.Fprintf(w, "  %-8s %-6s %-6s %-4s %-8s %s\n", "PID", "NSPID", "PPID", "THR", "STATE", "COMM")
	for _, p := range st.Processes {
		fmt.Fprintf(w, "  %-8d %-6d %-6d %-4d %-8s %s\n", p.Pid, p.NsPid, p.PPid, p.Threads, firstWord(p.State), p.Comm)
	}
	if me := st.MainExit; me != nil {
		how := fmt.Sprintf("exit %d", me.Code)
		if me.Signal != 0 {
			how = "killed by " + unix.SignalName(syscall.Signal(me.Signal))
		}
		fmt.Fprintf(w, "  main process %d: %s; crrun exits so once the rest of the app ends\n", st.MainNsPid, how)
	}
	if st.Checkpointable {
		fmt.Fprintln(w, "  checkpointable: yes")
	} else {
		exit := ""
		if st.ExitCheckpointable {
			exit = "; with --exit: yes"
		}
		fmt.Fprintf(w, "  checkpointable: no (%d %s)%s\n", len(st.Reasons), plural(len(st.Reasons), "reason"), exit)
		for _, r := range st.Reasons {
			who := fmt.Sprintf("pid %d/%d (%s)", r.Pid, r.NsPid, r.Comm)
			if r.Syscall != "" {
				who += fmt.Sprintf(", tid %d: %s", r.Tid, r.Syscall)
			}
			if r.KeepRunning {
				who += "; --exit saves it"
			}
			fmt.Fprintf(w, "    %s  [%s]\n", r.Reason, who)
		}
	}
	if n := len(st.Restarts); n > 0 {
		fmt.Fprintf(w, "  restarted %d %s (--restart-on-failure):\n", n, plural(n, "time"))
		for _, r := range st.Restarts {
			from := "restored " + r.From
			if r.From == "" {
				from = "started afresh (no checkpoint yet)"
			}
			fmt.Fprintf(w, "    %d. %s  the app was %s; %s\n", r.N, r.Time.Format("15:04:05"), r.Cause, from)
		}
	}
	if len(st.Denied) > 0 {
		fmt.Fprintf(w, "  denied by --on-nocr=deny (%d):\n", len(st.Denied))
		for _, r := range st.Denied {
			fmt.Fprintf(w, "    %s  [pid %d (%s): %s]\n", r.Reason, r.Pid, r.Comm, r.Syscall)
		}
	}
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
