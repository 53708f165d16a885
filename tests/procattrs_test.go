package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Per-process and per-thread state (issue 9 item 3): credentials,
// capabilities, scheduling, process attributes, personality, rlimits,
// membarrier, stopped processes, zombies killed by SIGKILL, and the app's own
// seccomp filters each have a self-verifying program in tests/corpus
// (creds, caps, sched, sched_rt, prctl_attrs, oom_lower, membarrier,
// personality, rlimits, loginuid, stopped, zombie_kill, seccomp_filter),
// round-tripped by TestCorpus as root and as nobody. The tests here cover
// what one program cannot: who restores whose image.

// corpusBin builds tests/corpus/<name>.c as TestCorpus does.
func corpusBin(t *testing.T, name string) string {
	t.Helper()
	for _, p := range readCorpus(t) {
		if p.name == name {
			return p.build(t)
		}
	}
	t.Fatalf("no corpus program %s", name)
	return ""
}

// TestProcAttrsForeignIDs: an image of an app that ran as other users (uids
// 1000-1002, gids 2000-2002, groups 4 24 27) is refused by an ordinary
// user's restore, which may not take those ids, naming them; root's
// restore of an ordinary user's image runs the app as that user, not as
// root.
func TestProcAttrsForeignIDs(t *testing.T) {
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	store := filepath.Join(dir, "root-ck")
	bin := corpusBin(t, "creds")
	a := start(t, opts{}, "--dir", store, "--", bin)
	crWaitStderr(t, a, "creds: running", time.Minute)
	crCheckpoint(t, a, store, true)
	if c := a.wait(time.Minute); c != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", c, crExitCheckpointed, a.stderr)
	}
	if err := exec.Command("chmod", "-R", "a+rX", store).Run(); err != nil {
		t.Fatal(err)
	}
	out, err := asNobody("restore", "--trust-image", "--dir", filepath.Join(dir, "nobody-ck"), store).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the app ran with") && !strings.Contains(string(out), "the app had supplementary groups") {
		t.Fatalf("nobody restoring root's image of an app with other ids: %v, want a refusal naming the ids\n%s", err, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(string(out)))

	// nobody's app, restored by root: it runs as nobody.
	prog := filepath.Join(dir, "idloop.sh")
	script := "#!/bin/sh\necho start >&2\nsleep 0.3; echo ids: running >&2\nsleep 1\nid -u; id -g; grep -E '^(Uid|Gid|CapEff)' /proc/self/status\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck")
	app := asNobody("--dir", ck, "--", prog)
	_, appErr, done := startCmd(t, app)
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "ids: running") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	if out, err := asNobody("checkpoint", "--exit").CombinedOutput(); err != nil {
		t.Fatalf("checkpoint as nobody: %v\n%s", err, out)
	}
	<-done
	r := start(t, opts{}, "restore", "--trust-image", ck)
	code := r.wait(time.Minute)
	// In its user namespace the app had the full bounding set; a root
	// whose own lacks some (a container's) cannot give them back, and the
	// restore says so.
	if bnd, _ := os.ReadFile("/proc/self/status"); code != 0 && !strings.Contains(string(bnd), "CapBnd:\t000001ffffffffff") &&
		strings.Contains(r.stderr.String(), "CapBnd") {
		t.Logf("refused (this root lacks bounding capabilities): %s", strings.TrimSpace(r.stderr.String()))
		return
	}
	if code != 0 {
		t.Fatalf("root restoring nobody's image: exit %d\n%s", code, r.stderr)
	}
	want := "65534\n65534\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nCapEff:\t0000000000000000\n"
	if got := r.stdout.String(); got != want {
		t.Fatalf("the restored app's ids:\n%s\nwant:\n%s", got, want)
	}
}

// TestProcAttrsSeccompUnprivileged: an ordinary user's crrun cannot read the
// app's own seccomp filter (PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN):
// the checkpoint refuses naming it, and the app runs on to PASS.
func TestProcAttrsSeccompUnprivileged(t *testing.T) {
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	bin := filepath.Join(dir, "seccomp_filter")
	if data, err := os.ReadFile(corpusBin(t, "seccomp_filter")); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("copy the program: %v", err)
	}
	app := asNobody("--dir", filepath.Join(dir, "ck"), "--", bin)
	var appOut, appErr syncBuffer
	app.Stdout, app.Stderr = &appOut, &appErr
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Wait(); close(done) }()
	t.Cleanup(func() { app.Process.Kill(); <-done })
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "seccomp_filter: running") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	out, err := asNobody("checkpoint").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the app's own seccomp filter not supported yet") {
		t.Fatalf("checkpoint as nobody: %v, want a refusal naming the app's seccomp filter\n%s", err, out)
	}
	<-done
	if app.ProcessState.ExitCode() != 0 || !crPassed(appOut.String()) {
		t.Fatalf("the app after the refusal: %v\n%s\n%s", app.ProcessState, appOut.String(), appErr.String())
	}
}

// TestProcAttrsEnvAffinity: a thread whose CPU affinity is the one its
// environment gave it (crrun started with `taskset -c 0`) gets the
// restore's environment's, as a batch job requeued onto other cores would;
// a thread that set its own gets that exactly, or the restore is refused.
// Under `taskset -c 1` the main thread gets CPU 1 and the second keeps the
// 0-1 it set. As root, inside a cpuset of CPU 1 alone (what Slurm's
// task/cgroup gives a job): an image whose second thread set CPU 1
// restores (the main thread's CPU 0 is not asked for: the previous build
// failed on it), one whose second thread set 0-1 is refused naming it. The
// app compares its threads' affinity after each restore; the verifier too.
func TestProcAttrsEnvAffinity(t *testing.T) {
	requireCR(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("needs taskset (util-linux)")
	}
	t.Parallel()
	bin := compileC(t, "affinity", false)
	image := func(second string) (img, dir string) {
		dir, store := t.TempDir(), t.TempDir()
		a := start(t, opts{wrap: []string{"taskset", "-c", "0"}}, "--dir", store, "--", bin, dir, second)
		crWaitStderr(t, a, "affinity: ready", time.Minute)
		crStatus(t, a, time.Minute)
		img = crCheckpoint(t, a, store, true)
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("exit %d after checkpoint --exit, want %d\n%s", code, crExitCheckpointed, a.stderr)
		}
		return img, dir
	}
	restore := func(img, dir, expect string, wrap []string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "expect"), []byte(expect), 0o644); err != nil {
			t.Fatal(err)
		}
		r := start(t, opts{wrap: wrap}, "restore", img)
		if code := r.wait(time.Minute); code != 0 || !crPassed(r.stdout.String()) {
			t.Fatalf("restore of %s (%v): exit %d\nstdout:\n%s\nstderr:\n%s", img, wrap, code, r.stdout, r.stderr)
		}
	}
	wide, wideDir := image("0-1")
	restore(wide, wideDir, "1\n0-1\n", []string{"taskset", "-c", "1"})

	cpuset := cpusetOf(t, "1")
	if cpuset == nil {
		return
	}
	one, oneDir := image("1")
	restore(one, oneDir, "1\n1\n", cpuset)
	r := start(t, opts{wrap: cpuset}, "restore", wide)
	if code := r.wait(time.Minute); code == 0 || !regexp.MustCompile(`CPU affinity (\{0,1\} cannot be set here|is \{1\} after restore, want \{0,1\})`).MatchString(r.stderr.String()) {
		t.Fatalf("restore of a thread that set CPUs 0-1 inside a cpuset of CPU 1: exit %d, want a refusal naming its affinity\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}

// cpusetOf makes a cpuset cgroup of the CPUs cpus (root, cgroup v1's
// cpuset hierarchy or v2's cpuset controller) and returns a wrap for start
// that runs crrun inside it; nil (logged) where it cannot. The cgroup is
// removed when the test ends.
func cpusetOf(t *testing.T, cpus string) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("not root: the cpuset part is skipped")
		return nil
	}
	var dir, mems string
	switch {
	case fileExists("/sys/fs/cgroup/cpuset/cpuset.cpus"): // v1
		dir = filepath.Join("/sys/fs/cgroup/cpuset", "crrun-test-"+strconv.Itoa(os.Getpid())+"-"+t.Name())
		mems = "cpuset.mems"
	case fileExists("/sys/fs/cgroup/cgroup.controllers"): // v2
		if b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); !strings.Contains(string(b), "cpuset") {
			t.Log("cgroup v2 without the cpuset controller: the cpuset part is skipped")
			return nil
		}
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpuset"), 0o644)
		dir = filepath.Join("/sys/fs/cgroup", "crrun-test-"+strconv.Itoa(os.Getpid())+"-"+t.Name())
		mems = "cpuset.mems"
	default:
		t.Log("no cpuset cgroup here: the cpuset part is skipped")
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make a cpuset: %v", err)
	}
	t.Cleanup(func() {
		// The restored apps have ended; their crrun and init too.
		eventually(10*time.Second, func() bool { return os.Remove(dir) == nil })
	})
	for f, v := range map[string]string{"cpuset.cpus": cpus, mems: "0"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatalf("cpuset %s: %s = %s: %v", dir, f, v, err)
		}
	}
	tasks := filepath.Join(dir, "cgroup.procs")
	return []string{"sh", "-c", `echo $$ > "$0" && exec "$@"`, tasks}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
