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
	mpiTurn(t)
	return mpiRing(t)
}

// mpiHeavy lets one of this file's MPI tests run at a time. Open MPI's
// ranks poll shared memory: each keeps a CPU busy, and with TestMPIRing,
// TestMPIRingUser and TestMPIConcurrentJobs side by side (up to 20 ranks,
// besides TestSlurm's job) on two CPUs, an mpirun could not read its
// ranks' ptys for a second, and a checkpoint was refused for the bytes in
// flight there (a CI run: "pty /dev/pts/4 has bytes in flight ... after 1 s
// of retries"). TestSlurm's MPI job may still run beside one of them.
var mpiHeavy sync.Mutex

// mpiTurn waits for the other MPI tests of this file to end.
func mpiTurn(t *testing.T) {
	mpiHeavy.Lock()
	t.Cleanup(mpiHeavy.Unlock)
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
// app under crrun once started near pid 100 of its namespace: mpiruns had
// the same pid or nearly, and with the same pid one Open MPI session
// directory in /tmp, so jobs failed in MPI_Init ("getting local rank
// failed") or crashed (2 of 3 jobs of 4 ranks, measured). Each supervisor
// now starts its app's pids at a base of its own (supervisor.appPidBase):
// every job PASSes, and the mpiruns' pids are far apart.
func TestMPIConcurrentJobs(t *testing.T) {
	ring := mpiRootTest(t)
	const jobs = 3
	apps := make([]*app, jobs)
	for i := range apps {
		// Two ranks each, the fewest that make an MPI job (the three
		// mpiruns' pids are what collided).
		argv := mpiArgv(ring)
		argv = append(argv[:len(argv)-4], "2", ring, "100", "64")
		apps[i] = start(t, opts{}, append([]string{"--"}, argv...)...)
	}
	var mpiruns []int
	for i, a := range apps {
		if code := a.wait(3 * time.Minute); code != 0 || !crPassed(a.stdout.String()) {
			t.Errorf("job %d of %d at once: exit %d\nstdout:\n%s\nstderr:\n%s", i+1, jobs, code, a.stdout, a.stderr)
			continue
		}
		// Rank 0's parent is mpirun: its pid names the session directory.
		m := regexp.MustCompile(`(?m)^ring: pid=\d+ ppid=(\d+)$`).FindStringSubmatch(a.stderr.String())
		if m == nil {
			t.Errorf("job %d: no \"ring: pid=N ppid=M\" line from rank 0:\n%s", i+1, a.stderr)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		mpiruns = append(mpiruns, n)
	}
	// Apart by more than a job's processes: each app's pids start at a
	// base of its own (for supervisors started one after the other, 185
	// pids apart at least), not all near 100, where a few helper forks
	// made them differ by chance, or not at all.
	for i := range mpiruns {
		for j := i + 1; j < len(mpiruns); j++ {
			if d := mpiruns[i] - mpiruns[j]; d > -20 && d < 20 {
				t.Errorf("the mpiruns of two jobs have pids %d and %d, %d apart: want 20 or more", mpiruns[i], mpiruns[j], max(d, -d))
			}
		}
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
	mpiTurn(t)
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
