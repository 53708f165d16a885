package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A keep-running checkpoint reads the app's private memory from a
// copy-on-write snapshot after the thaw, while the app rewrites every page
// (checkpoint/snapshot.go); shared and MADV_WIPEONFORK memory is read in the
// pause. snapwrite checks every page against the pass it is in, so the
// restored app fails if any page of the image is not as it was at the freeze.
func TestCRSnapshotDrain(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "snapwrite", false)
	t.Run("root", func(t *testing.T) {
		crRoundTrip(t, crVictim{name: "snapwrite", argv: []string{b}, lo: 150 * time.Millisecond, hi: 700 * time.Millisecond})
	})
	t.Run("user", func(t *testing.T) {
		// An ordinary user's checkpoint clones, reads and reaps the
		// snapshot the same way (no capability involved).
		dir, asNobody := nobodyEnv(t)
		prog := filepath.Join(dir, "snapwrite")
		if data, err := os.ReadFile(b); err != nil || os.WriteFile(prog, data, 0o755) != nil {
			t.Fatalf("copy snapwrite: %v", err)
		}
		ck := filepath.Join(dir, "ck")
		app := asNobody("--dir", ck, "--", prog)
		_, appErr, done := startCmd(t, app)
		if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "snapwrite: running") }); err != nil {
			app.Process.Kill()
			t.Fatalf("no progress: %s", appErr)
		}
		time.Sleep(300 * time.Millisecond)
		out, err := asNobody("checkpoint").CombinedOutput()
		time.Sleep(100 * time.Millisecond) // the app runs on
		app.Process.Kill()
		<-done
		if err != nil {
			t.Fatalf("checkpoint as nobody: %v\n%s\n%s", err, out, appErr)
		}
		res := asNobody("restore", ck)
		var rOut, rErr syncBuffer
		res.Stdout, res.Stderr = &rOut, &rErr
		if err := res.Run(); err != nil || !crPassed(rOut.String()) {
			t.Fatalf("restore as nobody: %v\nstdout:\n%s\nstderr:\n%s", err, rOut.String(), rErr.String())
		}
	})
}

// A keep-running checkpoint of a tree whose processes all rewrite their
// memory and send through a shared pipe right after the thaw: each
// process's memory takes another path of the dump (a snapshot read after
// the thaw, small or sparse private memory read in the pause, a shared
// region), and the processes are observed in parallel
// (inventory.Tree.ObserveAll). The restored tree fails if any page or any
// record buffered in the pipe is not as it was at the freeze; the
// restore's verifier compares the observation, inode classes included.
func TestTreeSnapshot(t *testing.T) {
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "snaptree",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "snaptree")} },
		lo:   100 * time.Millisecond, hi: 1500 * time.Millisecond, exitMode: false, minProcs: 5,
	})
}
