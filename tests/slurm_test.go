package tests

// End-to-end tests of crrun's Slurm workflow on a real single-node Slurm
// (.ci/slurm.sh start; CI starts it before `make test`). Every job runs
// examples/slurm/job.sbatch, the script users are told to copy, with
// testdata/slurm/compute.c as the app: a deterministic computation paced by
// the clock (steps of 100 ms) whose stdout depends only on its step count, so
// the job's output file, appended to by every run of the job, must equal the
// output of an uninterrupted run without Slurm or crrun.
//
//	(a) TestSlurm/TimeLimit     --time=1 --signal=B:USR1@20, ~92 s of work:
//	                            at least two checkpoint+requeue cycles
//	(b) TestSlurm/Preempt       preempted in `low` (GraceTime=0) by a job in `high`:
//	                            SIGTERM to every process at once
//	    TestSlurm/PreemptSignal the same for a job with --signal: USR1
//	                            (preempt_send_user_signal) and SIGTERM at once
//	    TestSlurm/PreemptGrace  the same in `lowgrace` (GraceTime=10): USR1,
//	                            SIGTERM 10 s later
//	(c) TestSlurm/ScancelUSR1   scancel --signal=USR1 --batch
//	(d) TestSlurm/User          the time-limit cycle as an ordinary user (crrun-test)
//
// Slurm facts these tests rely on (22.05, measured with .ci/slurm.sh's
// configuration; docs/hpc.md has the details):
//   - slurmctld looks at time limits every 30 s: --signal=B:SIG@N arrives N to
//     N+30 s before the limit (10 to 40 s into a run of --time=1 with @20),
//     and a job past its limit is killed up to 30 s late.
//   - A requeued job may start again cred_expire+1 = 6 s after its processes
//     are gone (sched_interval=2, bf_interval=1 make that prompt).
//   - SIGTERM (time limit, preemption, scancel, and `scontrol requeue` itself)
//     goes to every process of the job, the app included, not only to crrun.
//
// The scenarios run at once, each as a subtest started from its own goroutine
// (not t.Parallel, which `go test` caps at GOMAXPROCS: they mostly wait): the
// whole takes as long as the longest, (a), about two minutes. The node's
// memory is the consumable resource and CPUs are shared, so all the jobs fit
// at once; the three preemption scenarios take turns, each needing more than
// half of the memory. Jobs that must not be preempted run in `high`. Every
// scenario cancels its jobs and removes its files, also when it fails.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The app's pacing: 100 ms per step, a progress line every 10 steps.
const slurmStepMS = 100

// slurmCluster is the running Slurm the tests submit to.
type slurmCluster struct {
	conf    string // SLURM_CONF
	node    string
	realMem int // MiB, the node's RealMemory: what --mem can ask for in all
	crrun   string
	compute string
	script  string // examples/slurm/job.sbatch
	// scriptNoSignal is the same without its #SBATCH --signal line: a job
	// that Slurm sends no USR1, whatever the site's configuration.
	scriptNoSignal string
}

var (
	slurmOnce    sync.Once
	slurmC       *slurmCluster
	slurmWhy     string
	slurmPreempt sync.Mutex // the preemption tests take turns
)

// requireSlurm skips the test unless a Slurm answers (SLURM_CONF set and
// sinfo works, or .ci/slurm.sh status finds the instance it starts) and crrun
// has its Slurm mode.
func requireSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	requireRoot(t)
	if testing.Short() {
		t.Skip("Slurm end-to-end tests take minutes: skipped with -short")
	}
	slurmOnce.Do(func() {
		slurmWhy = "the Slurm setup failed in another test"
		slurmC, slurmWhy = slurmProbe(t)
	})
	if slurmWhy != "" {
		t.Skip(slurmWhy)
	}
	return slurmC
}

func slurmProbe(t *testing.T) (*slurmCluster, string) {
	conf := os.Getenv("SLURM_CONF")
	if conf == "" {
		out, _ := exec.Command("bash", filepath.Join(repoRoot, ".ci", "slurm.sh"), "status").Output()
		if m := regexp.MustCompile(`(?m)^export SLURM_CONF=(\S+)$`).FindSubmatch(out); m != nil {
			conf = string(m[1])
		}
	}
	if conf == "" {
		return nil, "no Slurm: SLURM_CONF is not set and `.ci/slurm.sh status` finds no instance " +
			"(start one with: eval \"$(bash .ci/slurm.sh start)\")"
	}
	c := &slurmCluster{conf: conf}
	out, err := c.run(nil, "sinfo", "-h", "-o", "%n %t")
	if err != nil {
		// SLURM_CONF names a Slurm that should be there (CI starts it before
		// the tests): not answering is a failure, not a reason to skip.
		t.Fatalf("Slurm does not answer: sinfo (SLURM_CONF=%s): %v: %s", conf, err, strings.TrimSpace(string(out)))
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("no Slurm node: sinfo says %q", out)
	}
	c.node = f[0]
	out, _ = c.run(nil, "sinfo", "-h", "-o", "%R")
	for _, p := range []string{"low", "lowgrace", "high"} {
		if !slices.Contains(strings.Fields(string(out)), p) {
			return nil, fmt.Sprintf("the Slurm of SLURM_CONF=%s has no partition %q: these tests need the one .ci/slurm.sh starts", conf, p)
		}
	}
	out, err = c.run(nil, "scontrol", "show", "node", "-o", c.node)
	if err != nil {
		return nil, fmt.Sprintf("scontrol show node %s: %v: %s", c.node, err, out)
	}
	c.realMem, _ = strconv.Atoi(slurmField(string(out), "RealMemory"))
	if c.realMem < 1024 {
		return nil, fmt.Sprintf("node %s: RealMemory=%d MiB is too small for the preemption tests", c.node, c.realMem)
	}
	help, _ := exec.Command(crrunBin, "--help").CombinedOutput()
	for _, flag := range []string{"--resume", "--slurm", "--interval"} {
		if !bytes.Contains(help, []byte(flag)) {
			return nil, "crrun has no " + flag + " yet (crrun --help): the Slurm mode is not implemented"
		}
	}
	// The jobs' files must be readable by the test user: the binaries go into
	// a directory of their own (workDir is 0755).
	bin := filepath.Join(workDir, "slurm")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err.Error()
	}
	c.crrun = filepath.Join(bin, "crrun")
	if err := copyFile(crrunBin, c.crrun, 0o755); err != nil {
		return nil, err.Error()
	}
	c.script = filepath.Join(bin, "job.sbatch")
	if err := copyFile(filepath.Join(repoRoot, "examples", "slurm", "job.sbatch"), c.script, 0o755); err != nil {
		return nil, err.Error()
	}
	b, err := os.ReadFile(c.script)
	if err != nil {
		return nil, err.Error()
	}
	noSignal := regexp.MustCompile(`(?m)^#SBATCH --signal.*\n`).ReplaceAll(b, nil)
	if bytes.Equal(noSignal, b) {
		return nil, "examples/slurm/job.sbatch has no #SBATCH --signal line"
	}
	c.scriptNoSignal = filepath.Join(bin, "job-nosignal.sbatch")
	if err := os.WriteFile(c.scriptNoSignal, noSignal, 0o755); err != nil {
		return nil, err.Error()
	}
	c.compute = compileC(t, "slurm/compute", false)
	return c, ""
}

func copyFile(from, to string, mode os.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, mode)
}

// run runs a Slurm client command against c (mod may adjust it first) and
// returns its combined output.
func (c *slurmCluster) run(mod func(*exec.Cmd), name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+c.conf)
	if mod != nil {
		mod(cmd)
	}
	return cmd.CombinedOutput()
}

// slurmField returns key's value in `scontrol show -o` output.
func slurmField(s, key string) string {
	m := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(key) + `=(\S*)`).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// slurmJobSpec is one submission of examples/slurm/job.sbatch.
type slurmJobSpec struct {
	name       string // short: squeue shows 8 characters
	partition  string
	time       string // --time
	signal     string // --signal, "" for the script's (B:USR1@60), "none" for none
	mem        int    // --mem in MiB, 0: DefMemPerNode
	steps      int    // the app's steps (100 ms each)
	crrunFlags string // CRRUN_FLAGS
	user       *user.User
	app        []string // the job's command, instead of compute STEPS STEP_MS
}

// slurmJob is a submitted job.
type slurmJob struct {
	t     *testing.T
	c     *slurmCluster
	spec  slurmJobSpec
	id    string
	dir   string // the job's working directory: output files, checkpoints
	out   string // stdout: the app's output, appended to by every run
	errf  string // stderr: crrun's log and the script's
	ckpt  string // --dir of crrun
	start time.Time
	last  string // last JobState/Restarts seen, for the log
}

// jobDir makes a directory for one job's files, owned by u (nil: root),
// removed at cleanup unless CRRUN_TEST_KEEP is set.
func jobDir(t *testing.T, u *user.User) string {
	t.Helper()
	d, err := os.MkdirTemp("", "crrun-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("CRRUN_TEST_KEEP") != "" {
			t.Logf("CRRUN_TEST_KEEP: kept %s", d)
			return
		}
		os.RemoveAll(d)
	})
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if u != nil {
		cred := userCred(u)
		if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// userCred is u's uid and gid, without supplementary groups.
func userCred(u *user.User) *syscall.Credential {
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// submit runs sbatch (as spec.user if set) and registers the job's
// cancellation at cleanup.
func (c *slurmCluster) submit(t *testing.T, spec slurmJobSpec) *slurmJob {
	t.Helper()
	dir := jobDir(t, spec.user)
	j := &slurmJob{t: t, c: c, spec: spec, dir: dir,
		out: filepath.Join(dir, "job.out"), errf: filepath.Join(dir, "job.err"), ckpt: filepath.Join(dir, "ckpt")}
	args := []string{"--parsable", "--job-name=" + spec.name, "--partition=" + spec.partition,
		"--time=" + spec.time, "--output=" + j.out, "--error=" + j.errf, "--chdir=" + dir}
	script := c.script
	switch spec.signal {
	case "":
	case "none":
		script = c.scriptNoSignal
	default:
		args = append(args, "--signal="+spec.signal)
	}
	if spec.mem > 0 {
		args = append(args, fmt.Sprintf("--mem=%d", spec.mem))
	}
	if spec.app != nil {
		args = append(append(args, script), spec.app...)
	} else {
		args = append(args, script, c.compute, strconv.Itoa(spec.steps), strconv.Itoa(slurmStepMS))
	}
	// The job's environment is the submitter's (--export=ALL): what the
	// script and crrun need, nothing of the test runner's.
	home := "/root"
	if spec.user != nil {
		home = spec.user.HomeDir
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home, "LANG=C",
		"SLURM_CONF=" + c.conf,
		"CRRUN=" + c.crrun,
		"CKPT=" + j.ckpt,
		"CRRUN_FLAGS=" + spec.crrunFlags,
		"CRRUN_RUNTIME_DIR=" + filepath.Join(dir, "rt"),
	}
	out, err := c.run(func(cmd *exec.Cmd) {
		cmd.Env = env
		cmd.Dir = dir
		if spec.user != nil {
			cmd.Env = append(cmd.Env, "USER="+spec.user.Username, "LOGNAME="+spec.user.Username)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: userCred(spec.user)}
		}
	}, "sbatch", args...)
	if err != nil {
		t.Fatalf("sbatch %s: %v: %s", strings.Join(args, " "), err, out)
	}
	j.id = strings.TrimSpace(strings.Split(string(out), ";")[0])
	j.start = time.Now()
	t.Logf("job %s (%s): submitted to %s, --time=%s --signal=%s, %d steps of %d ms, files in %s",
		j.id, spec.name, spec.partition, spec.time, spec.signal, spec.steps, slurmStepMS, dir)
	t.Cleanup(func() { j.cleanup() })
	return j
}

// submitWrap submits a plain shell command (the preemptor).
func (c *slurmCluster) submitWrap(t *testing.T, name, partition string, mem int, shell string) *slurmJob {
	t.Helper()
	dir := jobDir(t, nil)
	j := &slurmJob{t: t, c: c, spec: slurmJobSpec{name: name, partition: partition}, dir: dir,
		out: filepath.Join(dir, "job.out"), errf: filepath.Join(dir, "job.out")}
	args := []string{"--parsable", "--job-name=" + name, "--partition=" + partition, "--time=1",
		fmt.Sprintf("--mem=%d", mem), "--output=" + j.out, "--chdir=" + dir, "--wrap=" + shell}
	out, err := c.run(nil, "sbatch", args...)
	if err != nil {
		t.Fatalf("sbatch %s: %v: %s", strings.Join(args, " "), err, out)
	}
	j.id = strings.TrimSpace(strings.Split(string(out), ";")[0])
	j.start = time.Now()
	t.Logf("job %s (%s): submitted to %s, --mem=%d: %s", j.id, name, partition, mem, shell)
	t.Cleanup(func() { j.cleanup() })
	return j
}

var errJobGone = errors.New("job no longer known to slurmctld")

// info returns `scontrol show job -o ID`.
func (j *slurmJob) info() (string, error) {
	out, err := j.c.run(nil, "scontrol", "show", "job", "-o", j.id)
	s := string(out)
	if strings.Contains(s, "Invalid job id") {
		return "", errJobGone
	}
	if err != nil {
		return "", fmt.Errorf("scontrol show job %s: %v: %s", j.id, err, s)
	}
	return s, nil
}

var slurmFinal = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true,
	"NODE_FAIL": true, "PREEMPTED": true, "OUT_OF_MEMORY": true, "BOOT_FAIL": true, "DEADLINE": true}

// poll returns JobState and Restarts, logging each change.
func (j *slurmJob) poll() (state string, restarts int, raw string) {
	j.t.Helper()
	raw, err := j.info()
	if err != nil {
		j.t.Fatalf("job %s: %v", j.id, err)
	}
	state = slurmField(raw, "JobState")
	restarts, _ = strconv.Atoi(slurmField(raw, "Restarts"))
	if now := fmt.Sprintf("%s restarts=%d", state, restarts); now != j.last {
		j.last = now
		j.t.Logf("job %s (%s) at %5.1fs: %s reason=%s", j.id, j.spec.name, time.Since(j.start).Seconds(), now, slurmField(raw, "Reason"))
	}
	return state, restarts, raw
}

// waitFor polls the job until cond holds; a final state that does not
// satisfy cond fails the test.
func (j *slurmJob) waitFor(what string, timeout time.Duration, cond func(state string, restarts int) bool) string {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state, restarts, raw := j.poll()
		if cond(state, restarts) {
			return raw
		}
		if slurmFinal[state] {
			j.t.Fatalf("job %s ended %s (restarts=%d) while waiting for %s%s", j.id, state, restarts, what, j.diagnose(raw))
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("job %s: no %s within %v (now %s, restarts=%d)%s", j.id, what, timeout, state, restarts, j.diagnose(raw))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitEnd waits for a final state and returns scontrol's record of the job.
func (j *slurmJob) waitEnd(timeout time.Duration) (state string, restarts int, raw string) {
	j.t.Helper()
	raw = j.waitFor("its end", timeout, func(s string, _ int) bool { return slurmFinal[s] })
	state = slurmField(raw, "JobState")
	restarts, _ = strconv.Atoi(slurmField(raw, "Restarts"))
	j.t.Logf("job %s (%s): %s after %.0fs, restarts=%d, ExitCode=%s", j.id, j.spec.name, state,
		time.Since(j.start).Seconds(), restarts, slurmField(raw, "ExitCode"))
	return state, restarts, raw
}

// waitOutput waits until the job's stdout contains s.
func (j *slurmJob) waitOutput(s string, timeout time.Duration) {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(j.out)
		if bytes.Contains(b, []byte(s)) {
			return
		}
		state, restarts, raw := j.poll()
		if slurmFinal[state] {
			j.t.Fatalf("job %s ended %s (restarts=%d) before printing %q%s", j.id, state, restarts, s, j.diagnose(raw))
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("job %s: no %q on its stdout within %v%s", j.id, s, timeout, j.diagnose(raw))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitGeneration waits until crrun has written a checkpoint generation.
func (j *slurmJob) waitGeneration(timeout time.Duration) {
	j.t.Helper()
	if err := eventually(timeout, func() bool {
		m, _ := filepath.Glob(filepath.Join(j.ckpt, "gen-*"))
		return len(m) > 0
	}); err != nil {
		raw, _ := j.info()
		j.t.Fatalf("job %s: no checkpoint generation in %s within %v%s", j.id, j.ckpt, timeout, j.diagnose(raw))
	}
}

// diagnose is what a failure message shows about the job.
func (j *slurmJob) diagnose(raw string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- scontrol show job %s:\n%s", j.id, strings.TrimSpace(raw))
	fmt.Fprintf(&b, "\n--- stdout (%s), last lines:\n%s", j.out, tailFile(j.out, 15))
	if j.errf != j.out {
		fmt.Fprintf(&b, "\n--- stderr (%s), last lines:\n%s", j.errf, tailFile(j.errf, 60))
	}
	if slurmField(raw, "ExitCode") == "0:15" {
		b.WriteString("\n--- hint: the job's process died of SIGTERM. Slurm sends SIGTERM to every process of the job, " +
			"the app included; a checkpoint taken after it reached the app keeps it pending " +
			"(crrun inspect --json: shared_pending signo 15) and the restored app dies of it")
	}
	return b.String()
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// cleanup cancels the job if it is still around and waits until its
// processes are gone (KillWait is 5 s).
func (j *slurmJob) cleanup() {
	raw, err := j.info()
	if err != nil {
		return
	}
	state := slurmField(raw, "JobState")
	if !slurmFinal[state] {
		j.c.run(nil, "scancel", j.id)
	}
	if j.t.Failed() && !slurmFinal[state] {
		j.t.Logf("job %s (%s) at cleanup: %s", j.id, j.spec.name, j.diagnose(raw))
	}
	eventually(30*time.Second, func() bool {
		raw, err := j.info()
		return err != nil || slurmFinal[slurmField(raw, "JobState")]
	})
}

var (
	slurmRefMu sync.Mutex
	slurmRef   = map[int]string{}
)

// reference is the stdout of an uninterrupted run of the app, without Slurm
// or crrun and without the pacing.
func (c *slurmCluster) reference(t *testing.T, steps int) string {
	t.Helper()
	slurmRefMu.Lock()
	defer slurmRefMu.Unlock()
	if s, ok := slurmRef[steps]; ok {
		return s
	}
	var out bytes.Buffer
	cmd := exec.Command(c.compute, strconv.Itoa(steps), "0")
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("reference run of compute %d: %v\n%s", steps, err, out.String())
	}
	if !strings.HasSuffix(out.String(), "PASS\n") {
		t.Fatalf("reference run of compute %d did not PASS:\n%s", steps, out.String())
	}
	slurmRef[steps] = out.String()
	return out.String()
}

// checkOutput compares the job's stdout with the uninterrupted run's.
func (j *slurmJob) checkOutput(want string) {
	j.t.Helper()
	b, err := os.ReadFile(j.out)
	if err != nil {
		j.t.Fatal(err)
	}
	got := string(b)
	if got == want {
		return
	}
	j.t.Errorf("job %s: stdout differs from an uninterrupted run: %s\n--- stderr (%s), last lines:\n%s",
		j.id, firstDifference(got, want), j.errf, tailFile(j.errf, 60))
}

// firstDifference describes where got departs from want, line by line.
func firstDifference(got, want string) string {
	g := strings.Split(got, "\n")
	w := strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, want %q (got %d lines, want %d)", i+1, gl, wl, len(g)-1, len(w)-1)
		}
	}
	return "?"
}

// checkReplay accepts a stdout in which the app re-ran steps after a restore
// from an older generation: every line must be the uninterrupted run's line
// for that step, and the run must end with the same result and PASS. It
// returns how many lines were printed again.
func (j *slurmJob) checkReplay(want string) (replayed int) {
	j.t.Helper()
	b, err := os.ReadFile(j.out)
	if err != nil {
		j.t.Fatal(err)
	}
	ref := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		ref[l] = true
	}
	seen := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if !ref[l] {
			j.t.Errorf("job %s: stdout line %d %q is not a line of the uninterrupted run", j.id, i+1, l)
			return replayed
		}
		if seen[l] {
			replayed++
		}
		seen[l] = true
	}
	wantEnd := want[strings.LastIndex(strings.TrimSuffix(want, "PASS\n"), "result "):]
	if !strings.HasSuffix(string(b), wantEnd) {
		j.t.Errorf("job %s: stdout does not end with the uninterrupted run's %q:\n%s", j.id, wantEnd, tailFile(j.out, 5))
	}
	return replayed
}

// checkCompleted checks the job's final record and crrun's log.
func (j *slurmJob) checkCompleted(state string, restarts, minRestarts int, raw string) {
	j.t.Helper()
	if state != "COMPLETED" || slurmField(raw, "ExitCode") != "0:0" {
		j.t.Fatalf("job %s ended %s ExitCode=%s, want COMPLETED 0:0%s", j.id, state, slurmField(raw, "ExitCode"), j.diagnose(raw))
	}
	if restarts < minRestarts {
		j.t.Errorf("job %s: %d restarts, want at least %d%s", j.id, restarts, minRestarts, j.diagnose(raw))
	}
	log, _ := os.ReadFile(j.errf)
	for n := 1; n <= restarts; n++ {
		if !bytes.Contains(log, []byte(fmt.Sprintf("SLURM_RESTART_COUNT=%d", n))) {
			j.t.Errorf("job %s: crrun did not log SLURM_RESTART_COUNT=%d in the run after requeue %d\n%s", j.id, n, n, tailFile(j.errf, 40))
			break
		}
	}
}

// verifyGenerations runs `crrun inspect --verify` on every generation left.
func (j *slurmJob) verifyGenerations() {
	j.t.Helper()
	gens, _ := filepath.Glob(filepath.Join(j.ckpt, "gen-*"))
	for _, g := range gens {
		if out, err := exec.Command(crrunBin, "inspect", "--verify", g).CombinedOutput(); err != nil {
			j.t.Errorf("crrun inspect --verify %s: %v\n%s", g, err, out)
		}
	}
}

// (a) A computation longer than its time limit: each run is stopped by the
// B:USR1 signal (10 to 40 s into a run), checkpointed and requeued; 92 s of
// work need at least three runs.
func slurmTimeLimit(t *testing.T, c *slurmCluster) {
	const steps = 900
	want := c.reference(t, steps)
	j := c.submit(t, slurmJobSpec{name: "cr-tl", partition: "high", time: "1", signal: "B:USR1@20", steps: steps})
	state, restarts, raw := j.waitEnd(8 * time.Minute)
	j.checkCompleted(state, restarts, 2, raw)
	j.checkOutput(want)
}

// (b) Preemption without grace time (partition low, GraceTime=0) of a job
// without --signal: Slurm requeues the job itself and sends SIGCONT+SIGTERM to
// all its processes at once, crrun and the app alike: crrun's best-effort
// checkpoint races the app's own SIGTERM. --interval 5s guarantees an older
// generation. Required: the job resumes from a checkpoint, not from the start,
// every line it prints is the uninterrupted run's, and it ends with the same
// result and PASS. Steps printed again after a restore from the periodic
// generation are logged, not failed.
//
// (b, PreemptSignal) The same for a job with --signal: preempt_send_user_signal
// sends USR1 to crrun a few ms before the SIGTERM to every process. crrun's
// checkpoint may freeze the app before or after the app's SIGTERM is queued:
// an image taken after must not keep that SIGTERM pending, or the restored
// app dies of it at once (the job ends FAILED, ExitCode 0:15).
//
// (b') Preemption with grace time (partition lowgrace, GraceTime=10, and
// SlurmctldParameters=preempt_send_user_signal): crrun gets its USR1 at once,
// checkpoints and requeues 10 s before Slurm's SIGTERM: the output must be
// exactly the uninterrupted run's.
func slurmPreemptTest(t *testing.T, c *slurmCluster, partition, name, signal string, exact bool) {
	slurmPreempt.Lock()
	defer slurmPreempt.Unlock()
	const steps = 200
	want := c.reference(t, steps)
	// The victim takes half of the node's memory, the preemptor more than
	// what is left: it cannot start unless the victim goes. The other tests'
	// jobs (64 MiB each, in high) are not preemptable.
	victimMem := c.realMem / 2
	j := c.submit(t, slurmJobSpec{name: name, partition: partition, time: "5", signal: signal,
		mem: victimMem, steps: steps, crrunFlags: "--interval 5s"})
	j.waitOutput("step 80/", 90*time.Second)
	j.waitGeneration(30 * time.Second)
	hi := c.submitWrap(t, "cr-hi", "high", c.realMem-victimMem+1, "sleep 3")
	j.waitFor("the requeue by preemption", 60*time.Second, func(_ string, r int) bool { return r >= 1 })
	hs, _, hraw := hi.waitEnd(90 * time.Second)
	if hs != "COMPLETED" {
		t.Errorf("the preemptor %s ended %s%s", hi.id, hs, hi.diagnose(hraw))
	}
	state, restarts, raw := j.waitEnd(3 * time.Minute)
	j.checkCompleted(state, restarts, 1, raw)
	if exact {
		j.checkOutput(want)
	} else {
		replayed := j.checkReplay(want)
		b, _ := os.ReadFile(j.out)
		if strings.Count(string(b), "step 10/") > 1 {
			t.Errorf("job %s started again from the first step: no checkpoint was restored\n%s", j.id, tailFile(j.errf, 40))
		}
		if replayed > 0 {
			t.Logf("job %s: %d progress lines were printed again (restored from an older generation than the moment of preemption)", j.id, replayed)
		}
	}
	j.verifyGenerations()
}

// (c) `scancel --signal=USR1 --batch`: the signal reaches crrun only; one
// checkpoint+requeue, then the job finishes within its 5-minute limit.
func slurmScancelUSR1(t *testing.T, c *slurmCluster) {
	const steps = 300
	want := c.reference(t, steps)
	j := c.submit(t, slurmJobSpec{name: "cr-usr1", partition: "high", time: "5", signal: "none", steps: steps})
	j.waitOutput("step 80/", 90*time.Second)
	if out, err := c.run(nil, "scancel", "--signal=USR1", "--batch", j.id); err != nil {
		t.Fatalf("scancel --signal=USR1 --batch %s: %v: %s", j.id, err, out)
	}
	j.waitFor("the requeue", 60*time.Second, func(_ string, r int) bool { return r >= 1 })
	state, restarts, raw := j.waitEnd(3 * time.Minute)
	j.checkCompleted(state, restarts, 1, raw)
	if restarts != 1 {
		t.Errorf("job %s: %d restarts, want exactly 1", j.id, restarts)
	}
	j.checkOutput(want)
}

// (e) A single-node Open MPI job (mpirun and 4 ranks of testdata/mpi/ring.c)
// checkpointed by `scancel --signal=USR1 --batch`, requeued, and resumed by
// the same job script: its output must be an uninterrupted run's.
func slurmMPI(t *testing.T, c *slurmCluster) {
	ring := mpiRing(t)
	const steps = "600"
	argv := append(mpiArgv(ring)[:len(mpiArgv(ring))-2], steps, "64")
	ref := exec.Command(argv[0], argv[1:]...)
	var want bytes.Buffer
	ref.Stdout, ref.Stderr = &want, io.Discard
	if err := ref.Run(); err != nil || !strings.HasSuffix(want.String(), "PASS\n") {
		t.Fatalf("reference run %s: %v\n%s", strings.Join(argv, " "), err, want.String())
	}
	j := c.submit(t, slurmJobSpec{name: "cr-mpi", partition: "high", time: "5", signal: "none", app: argv})
	j.waitOutput("step 100 ", 2*time.Minute)
	if out, err := c.run(nil, "scancel", "--signal=USR1", "--batch", j.id); err != nil {
		t.Fatalf("scancel --signal=USR1 --batch %s: %v: %s", j.id, err, out)
	}
	j.waitFor("the requeue", 90*time.Second, func(_ string, r int) bool { return r >= 1 })
	state, restarts, raw := j.waitEnd(4 * time.Minute)
	j.checkCompleted(state, restarts, 1, raw)
	j.checkOutput(want.String())
}

// (d) The time-limit cycle as an ordinary user: crrun without root, and
// `scontrol requeue` by the job's owner.
func slurmUser(t *testing.T, c *slurmCluster) {
	u, err := user.Lookup("crrun-test")
	if err != nil {
		t.Skip("no user crrun-test (.ci/slurm.sh start creates it): ", err)
	}
	if why := crrunAsUser(t, c, u); why != "" {
		t.Skip("crrun as an ordinary user: " + why)
	}
	const steps = 450
	want := c.reference(t, steps)
	j := c.submit(t, slurmJobSpec{name: "cr-user", partition: "high", time: "1", signal: "B:USR1@20", steps: steps, user: u})
	state, restarts, raw := j.waitEnd(6 * time.Minute)
	j.checkCompleted(state, restarts, 1, raw)
	if slurmField(raw, "UserId") != "" && !strings.HasPrefix(slurmField(raw, "UserId"), u.Username+"(") {
		t.Errorf("job %s ran as %s, want %s", j.id, slurmField(raw, "UserId"), u.Username)
	}
	j.checkOutput(want)
	var st syscall.Stat_t
	gens, _ := filepath.Glob(filepath.Join(j.ckpt, "gen-*"))
	for _, g := range gens {
		if err := syscall.Stat(g, &st); err == nil && strconv.Itoa(int(st.Uid)) != u.Uid {
			t.Errorf("%s is owned by uid %d, want %s", g, st.Uid, u.Uid)
		}
	}
}

// crrunAsUser runs `crrun -- true` as u: "" if it works, else crrun's reason
// (today: it needs root).
func crrunAsUser(t *testing.T, c *slurmCluster, u *user.User) string {
	t.Helper()
	dir := jobDir(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.crrun, "--dir", filepath.Join(dir, "ckpt"), "--", "/bin/true")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + u.HomeDir, "CRRUN_RUNTIME_DIR=" + filepath.Join(dir, "rt")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: userCred(u)}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return ""
	}
	msg := strings.TrimSpace(string(out))
	if strings.Contains(strings.ToLower(msg), "root") {
		return msg
	}
	t.Fatalf("crrun -- /bin/true as %s: %v: %s", u.Username, err, msg)
	return ""
}
