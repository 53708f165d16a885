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
