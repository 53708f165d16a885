package tests

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Single-node MPI (issue 10): Debian's Open MPI runs 4 ranks of
// testdata/mpi/ring.c on this node (shared-memory transport between ranks,
// TCP on loopback between mpirun and its ranks, ptys for their output) under
// crrun, which checkpoints the whole job at a random moment; the restored job
// must print what an uninterrupted one prints (rank 0's per-step sums, the
// global checksum of every rank's array, and PASS: every rank kept its pid).

var (
	mpiOnce sync.Once
	mpiBin  string
	mpiErr  string
)

// mpiRing compiles ring.c with mpicc, or skips saying why it cannot.
func mpiRing(t *testing.T) string {
	t.Helper()
	mpiOnce.Do(func() {
		cc, err := exec.LookPath("mpicc")
		if err != nil {
			mpiErr = "needs Open MPI's mpicc (Debian: openmpi-bin libopenmpi-dev; `make deps` installs them)"
			return
		}
		if _, err := exec.LookPath("mpirun"); err != nil {
			mpiErr = "needs Open MPI's mpirun"
			return
		}
		out := filepath.Join(workDir, "mpi-ring")
		if b, err := exec.Command(cc, "-O2", "-o", out, filepath.Join(repoRoot, "tests", "testdata", "mpi", "ring.c")).CombinedOutput(); err != nil {
			mpiErr = "mpicc ring.c: " + err.Error() + "\n" + string(b)
			return
		}
		mpiBin = out
	})
	if mpiBin == "" {
		t.Skip(mpiErr)
	}
	return mpiBin
}

// mpiArgv: 4 ranks on this node, whatever its core count; ranks talk through
// shared memory (vader); mpirun as root needs to be told that is fine.
func mpiArgv(ring string) []string {
	return []string{"mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
		"--mca", "btl", "self,vader", "-np", "4", ring, "200", "64"}
}

func TestMPIRing(t *testing.T) {
	requireCR(t)
	requireRoot(t)
	if testing.Short() {
		t.Skip("-short")
	}
	ring := mpiRing(t)
	for _, exitMode := range []bool{true, false} {
		t.Run("exit="+strconv.FormatBool(exitMode), func(t *testing.T) {
			treeRoundTrip(t, treeVictim{
				name:     "ring",
				argv:     func(t *testing.T, dir string) []string { return mpiArgv(ring) },
				lo:       200 * time.Millisecond,
				hi:       2 * time.Second,
				exitMode: exitMode,
				minProcs: 5,
			})
		})
	}
}
