package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Per-process and per-thread state (issue 9 item 3): credentials,
// capabilities, scheduling, process attributes, personality, rlimits,
// membarrier, stopped processes, zombies killed by SIGKILL, and the app's own
// seccomp filter (refused). Each kind is a self-verifying program in
// tests/corpus (see its header); TestProcAttrs runs each uninterrupted, then
// checkpoints it (--exit) at a seeded random moment after "<kind>: running"
// and restores it, and expects PASS with the same stdout, or, for
// "expect: refuse", a checkpoint that exits 1 naming the reason while the app
// runs on to PASS.
var procAttrKinds = []string{
	"creds", "caps", "sched", "sched_rt", "prctl_attrs", "oom_lower", "membarrier",
	"personality", "rlimits", "loginuid", "stopped", "zombie_kill", "seccomp_filter",
}

// corpusHeader is the contract of a tests/corpus program's first lines.
type corpusHeader struct {
	expect string // "exact" or "refuse"
	reason string // for refuse: a substring of the reason
	root   bool   // needs: root
}

func readCorpusHeader(t *testing.T, path string) corpusHeader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h corpusHeader
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "//") {
			break
		}
		k, v, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "//")), ":")
		v = strings.TrimSpace(v)
		switch k {
		case "expect":
			h.expect, h.reason, _ = strings.Cut(v, " ")
		case "needs":
			h.root = v == "root"
		}
	}
	if h.expect != "exact" && h.expect != "refuse" {
		t.Fatalf("%s: no valid \"// expect:\" line", path)
	}
	return h
}

// compileCorpus builds tests/corpus/<kind>.c once per run.
func compileCorpus(t *testing.T, kind string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := "corpus/" + kind
	if p, ok := built[key]; ok {
		return p
	}
	dir := filepath.Join(workDir, "corpus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, kind)
	src := filepath.Join(repoRoot, "tests", "corpus", kind+".c")
	if b, err := exec.Command("gcc", "-O1", "-g", "-Wall", "-pthread", "-I", filepath.Join(repoRoot, "tests", "corpus"), "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	built[key] = out
	return out
}

func TestProcAttrs(t *testing.T) {
	requireCR(t)
	for _, kind := range procAttrKinds {
		t.Run(kind, func(t *testing.T) {
			src := filepath.Join(repoRoot, "tests", "corpus", kind+".c")
			h := readCorpusHeader(t, src)
			if h.root && os.Geteuid() != 0 {
				t.Skip("needs root")
			}
			procAttrRoundTrip(t, kind, compileCorpus(t, kind), h)
		})
	}
}

func procAttrRoundTrip(t *testing.T, kind, bin string, h corpusHeader) {
	t.Helper()
	rng := crRand(t)
	code, ref, refErr := run(t, opts{}, "--", bin)
	if code != 0 || !crPassed(ref) {
		t.Fatalf("uninterrupted run under crrun: exit %d\nstdout:\n%s\nstderr:\n%s", code, ref, refErr)
	}
	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", bin)
	crWaitStderr(t, a, kind+": running", time.Minute)
	d := crDelay(rng, 0, time.Second)
	t.Logf("checkpoint %v after %q", d, kind+": running")
	time.Sleep(d)
	args := []string{"checkpoint", "--exit", strconv.Itoa(a.cmd.Process.Pid)}
	code, out, errs := crClient(t, a.runtime, 5*time.Minute, args...)
	if h.expect == "refuse" {
		if code != 1 || !strings.Contains(errs, h.reason) {
			t.Fatalf("crrun checkpoint: exit %d, want 1 naming %q\nstdout: %s\nstderr: %s", code, h.reason, out, errs)
		}
		if c := a.wait(time.Minute); c != 0 || !crPassed(a.stdout.String()) {
			t.Fatalf("the app after a refused checkpoint: exit %d\nstdout:\n%s\nstderr:\n%s", c, a.stdout, a.stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("crrun checkpoint: exit %d, want 0\nstdout: %s\nstderr: %s\napp stderr:\n%s", code, out, errs, a.stderr)
	}
	if c := a.wait(time.Minute); c != crExitCheckpointed {
		t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", c, crExitCheckpointed, a.stderr)
	}
	before := a.stdout.String()
	r := start(t, opts{}, "restore", store)
	code = r.wait(3 * time.Minute)
	after := r.stdout.String()
	if code != 0 {
		t.Fatalf("crrun restore: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, after, r.stderr)
	}
	crCheckJoin(t, ref, before, after, true)
}

// TestProcAttrsUnprivileged round-trips the kinds that need no root as an
// ordinary user (nobody): crrun runs the app in a user namespace mapping
// the user's own ids, and restores every attribute from there.
func TestProcAttrsUnprivileged(t *testing.T) {
	requireCR(t)
	for _, kind := range procAttrKinds {
		t.Run(kind, func(t *testing.T) {
			h := readCorpusHeader(t, filepath.Join(repoRoot, "tests", "corpus", kind+".c"))
			if h.root || h.expect != "exact" {
				t.Skip("needs root, or is a refusal")
			}
			dir, asNobody := nobodyEnv(t)
			bin := filepath.Join(dir, kind)
			if data, err := os.ReadFile(compileCorpus(t, kind)); err != nil || os.WriteFile(bin, data, 0o755) != nil {
				t.Fatalf("copy the program: %v", err)
			}
			settle := crDelay(crRand(t), 0, time.Second)
			got, rErr := nobodyRoundTrip(t, asNobody, filepath.Join(dir, "ck"), kind+": running", settle, bin)
			if !crPassed(got) {
				t.Fatalf("output %q\nrestore's stderr:\n%s", got, rErr)
			}
		})
	}
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
	bin := compileCorpus(t, "creds")
	a := start(t, opts{}, "--dir", store, "--", bin)
	crWaitStderr(t, a, "creds: running", time.Minute)
	crCheckpoint(t, a, store, true)
	if c := a.wait(time.Minute); c != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", c, crExitCheckpointed, a.stderr)
	}
	if err := exec.Command("chmod", "-R", "a+rX", store).Run(); err != nil {
		t.Fatal(err)
	}
	out, err := asNobody("restore", "--dir", filepath.Join(dir, "nobody-ck"), store).CombinedOutput()
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
	var appErr syncBuffer
	app.Stderr = &appErr
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Wait(); close(done) }()
	t.Cleanup(func() { app.Process.Kill(); <-done })
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "ids: running") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	if out, err := asNobody("checkpoint", "--exit").CombinedOutput(); err != nil {
		t.Fatalf("checkpoint as nobody: %v\n%s", err, out)
	}
	<-done
	r := start(t, opts{}, "restore", ck)
	code := r.wait(time.Minute)
	// In its user namespace the app had the full bounding set; root's
	// restore runs it in the initial namespace, where a root whose own
	// bounding set lacks some (a container's) cannot give them back.
	if bnd, _ := os.ReadFile("/proc/self/status"); !strings.Contains(string(bnd), "CapBnd:\t000001ffffffffff") {
		if code == 0 || !strings.Contains(r.stderr.String(), "capability bounding set") {
			t.Fatalf("root without a full bounding set restoring nobody's image: exit %d, want a refusal naming the bounding set\n%s", code, r.stderr)
		}
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
	if data, err := os.ReadFile(compileCorpus(t, "seccomp_filter")); err != nil || os.WriteFile(bin, data, 0o755) != nil {
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
