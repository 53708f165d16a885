package tests

import (
	"os/exec"
	"path/filepath"
	"regexp"
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
		"--mca", "btl", "self,vader", "-np", "4", ring, "400", "64"}
}

// mpiRootTest starts a parallel MPI test that runs as root, and gives the
// compiled ring.
func mpiRootTest(t *testing.T) string {
	t.Helper()
	requireCR(t)
	requireRoot(t)
	if testing.Short() {
		t.Skip("-short")
	}
	t.Parallel()
	return mpiRing(t)
}

func TestMPIRing(t *testing.T) {
	ring := mpiRootTest(t)
	for _, exitMode := range []bool{true, false} {
		t.Run("exit="+strconv.FormatBool(exitMode), func(t *testing.T) {
			// Without --exit the app runs on and is then killed: its
			// connections end, and their ports wait in TIME_WAIT on the
			// host's network for a minute (a restore there is refused,
			// naming the port). In a network of its own they do not.
			var flags []string
			if !exitMode {
				flags = []string{"--net=private"}
			}
			treeRoundTrip(t, treeVictim{
				name:     "ring",
				argv:     func(t *testing.T, dir string) []string { return mpiArgv(ring) },
				lo:       200 * time.Millisecond,
				hi:       1200 * time.Millisecond,
				exitMode: exitMode,
				minProcs: 5,
				flags:    flags,
			})
		})
	}
}

// TestMPIConcurrentJobs: three `crrun -- mpirun` jobs of one user at once
// on one node, as Slurm runs several jobs of a user on a shared node. Every
// app under crrun once started at pid 100 of its namespace: the three
// mpiruns had one pid, hence one Open MPI session directory in /tmp, and
// two of three jobs failed in MPI_Init ("getting local rank failed") or
// crashed. Each supervisor now starts its app's pids elsewhere
// (supervisor.appPidBase): every job PASSes, and their pids differ.
func TestMPIConcurrentJobs(t *testing.T) {
	ring := mpiRootTest(t)
	const jobs = 3
	apps := make([]*app, jobs)
	for i := range apps {
		argv := append(mpiArgv(ring)[:len(mpiArgv(ring))-2], "150", "64")
		apps[i] = start(t, opts{}, append([]string{"--"}, argv...)...)
	}
	pids := map[string]int{}
	for i, a := range apps {
		if code := a.wait(3 * time.Minute); code != 0 || !crPassed(a.stdout.String()) {
			t.Errorf("job %d of %d at once: exit %d\nstdout:\n%s\nstderr:\n%s", i+1, jobs, code, a.stdout, a.stderr)
			continue
		}
		m := regexp.MustCompile(`(?m)^ring: pid=(\d+)$`).FindStringSubmatch(a.stderr.String())
		if m == nil {
			t.Errorf("job %d: no \"ring: pid=N\" line from rank 0:\n%s", i+1, a.stderr)
			continue
		}
		if o, ok := pids[m[1]]; ok {
			t.Errorf("jobs %d and %d: rank 0 has pid %s in both", o, i+1, m[1])
		}
		pids[m[1]] = i + 1
	}
}

// TestMPIRingUser: the same job as an ordinary user, who can restore its
// TCP connections only in a network namespace of the app's own.
func TestMPIRingUser(t *testing.T) {
	requireCR(t)
	if testing.Short() {
		t.Skip("-short")
	}
	t.Parallel()
	ring := mpiRing(t)
	dir, asNobody := nobodyEnv(t)
	argv := mpiArgv(ring)
	argv = append(argv[:1], argv[2:]...) // not root: no --allow-run-as-root
	ref := asNobody(append([]string{"--net=private", "--"}, argv...)...)
	var refOut, refErr syncBuffer
	ref.Stdout, ref.Stderr = &refOut, &refErr
	if err := ref.Run(); err != nil || !crPassed(refOut.String()) {
		t.Fatalf("uninterrupted run as nobody: %v\n%s\n%s", err, refOut.String(), refErr.String())
	}
	out, errs := nobodyRoundTrip(t, func(args ...string) *exec.Cmd {
		if args[0] == "--dir" {
			args = append([]string{"--net=private"}, args...)
		}
		return asNobody(args...)
	}, filepath.Join(dir, "ckpt"), "ring: running", 700*time.Millisecond, argv...)
	if out != refOut.String() {
		t.Fatalf("output before the checkpoint + after the restore differs from an uninterrupted run: %s\nstderr:\n%s", crDiff(refOut.String(), out), errs)
	}
}
