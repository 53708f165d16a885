package checkpoint

import (
	"fmt"
	"os"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/timens"
	"github.com/crrun/crrun/seccomp"
)

// appClocks reads the app's clocks as the app sees them (the host's plus the
// offsets of its time namespace) for Meta.Clocks. It is called once every
// process is saved, the tree still frozen: every timer's remaining time was
// read before, so a timer restored with it never fires early in the app's
// time (docs/design.md, "Clocks").
func appClocks(live []int) (*image.Clocks, error) {
	if len(live) == 0 {
		return nil, fmt.Errorf("clocks: no live process to read them from")
	}
	first := live[0]
	if timens.Available() {
		// One time namespace for the whole tree, the one its children get
		// too (crrun's init made it; an app's own unshare(CLONE_NEWTIME) is
		// a taint, this is the safety net).
		var want uint64
		for _, pid := range live {
			ns, err := procfs.Namespaces(pid)
			if err != nil {
				return nil, fmt.Errorf("clocks: pid %d: %w", pid, err)
			}
			if want == 0 {
				want = ns["time"]
			}
			if ns["time"] != want || ns["time_for_children"] != want {
				return nil, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: pid, Kind: "namespace", Fd: -1,
					Reason: fmt.Sprintf("CR: a time namespace of the app's own not supported yet (pid %d: time:[%d], "+
						"time_for_children:[%d]; the app's is time:[%d])", pid, ns["time"], ns["time_for_children"], want)}}}
			}
		}
	}
	c, err := timens.Of(first)
	if err != nil {
		return nil, fmt.Errorf("clocks: %w", err)
	}
	own, _ := procfs.Namespaces(os.Getpid())
	app, _ := procfs.Namespaces(first)
	return &image.Clocks{Monotonic: c.Monotonic, Boottime: c.Boottime, Realtime: c.Realtime,
		TimeNS: timens.Available() && app["time"] != 0 && app["time"] != own["time"]}, nil
}
