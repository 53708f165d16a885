package restore

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"crrun/inventory"

	"golang.org/x/sys/unix"
)

// verify reads every restored process back the way the checkpoint read the
// original (package inventory) and refuses any difference, before any
// process of the tree runs an instruction of its own: on error the tree is
// killed by tree()'s cleanup.
func (t *treeRestorer) verify() error {
	t0 := time.Now()
	for _, p := range t.procs {
		if p.Zombie == nil && p.Inventory == nil {
			slog.Warn("restore: the image has no inventory (written by an older crrun): the restored tree is not verified")
			return nil
		}
	}
	// Recreated deleted files are unlinked first: the app must see them
	// deleted, as they were.
	for _, f := range t.cleanup {
		f()
	}
	t.cleanup = nil
	if err := breakForTest(t); err != nil {
		return err
	}
	ns, err := inventory.NamespaceOf(t.root.pid)
	if err != nil {
		return err
	}
	obs := inventory.NewTree(ns)
	var bad []inventory.Mismatch
	n, fields := 0, 0
	for _, p := range t.procs {
		if p.Zombie != nil {
			continue
		}
		skip := map[int]bool{}
		for _, fd := range p.FDs {
			if fd.Stdio != nil {
				skip[fd.FD] = true
			}
		}
		f, err := obs.Observe(inventory.Proc{Host: t.by[p.PID].pid, Skip: skip})
		if err != nil {
			return err
		}
		bad = append(bad, inventory.Compare(p.PID, p.Inventory, f)...)
		n++
		fields += len(f)
	}
	slog.Debug("restore: verified", "processes", n, "fields", fields, "mismatches", len(bad), "took", time.Since(t0))
	if len(bad) > 0 {
		return &inventory.Error{Mismatches: bad}
	}
	return nil
}

// TestBreakEnv names a test-only knob: CRRUN_TEST_BREAK_RESTORE=rlimit
// changes one field of the restored main process (its RLIMIT_NOFILE soft
// limit, lowered by one) just before the verification, which must then
// refuse the restore. Tests use it to see the verifier work end to end.
const TestBreakEnv = "CRRUN_TEST_BREAK_RESTORE"

func breakForTest(t *treeRestorer) error {
	switch v := os.Getenv(TestBreakEnv); v {
	case "":
		return nil
	case "rlimit":
		var lim unix.Rlimit
		if err := unix.Prlimit(t.root.pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
			return err
		}
		lim.Cur--
		slog.Warn("restore: " + TestBreakEnv + "=rlimit: lowering RLIMIT_NOFILE of the main process by one, for a test")
		return unix.Prlimit(t.root.pid, unix.RLIMIT_NOFILE, &lim, nil)
	default:
		return fmt.Errorf("%s=%q: unknown (known: rlimit)", TestBreakEnv, v)
	}
}
