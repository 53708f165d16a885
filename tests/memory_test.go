package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemoryCOW: copy-on-write sharing between a parent and its forked
// child survives a checkpoint and a restore. A parent with 256 MiB of
// private anonymous memory forks a child that writes 1% of it; the tree's
// Rss and Pss (smaps_rollup of both) before the checkpoint and after the
// restore are logged and compared (before: 265 MB of Pss; restoring each
// process's memory by itself gave 525 MB), and both check their content.
func TestMemoryCOW(t *testing.T) {
	requireCR(t)
	requireRoot(t)
	if err := os.MkdirAll(filepath.Join(workDir, "mem"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := compileC(t, "mem/cow", false)
	dir := t.TempDir()
	rt := runtimeDir(t)
	crrun := func(args ...string) *exec.Cmd {
		cmd := exec.Command(crrunBin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		cmd.Dir = dir
		return cmd
	}
	store := filepath.Join(dir, "ck")
	app := crrun("--dir", store, "--", bin)
	out, errb, done := startCmd(t, app)
	if err := eventually(time.Minute, func() bool { return strings.Contains(errb.String(), "cow: running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\nstdout:\n%s\nstderr:\n%s", err, out, errb)
	}
	time.Sleep(300 * time.Millisecond)
	ck := crrun("checkpoint", "--exit", strconv.Itoa(app.Process.Pid))
	var ckOut bytes.Buffer
	ck.Stdout, ck.Stderr = &ckOut, &ckOut
	if err := ck.Run(); err != nil {
		t.Fatalf("checkpoint: %v\n%s\napp stderr:\n%s", err, &ckOut, errb)
	}
	<-done
	rs := crrun("restore", store)
	rout, rerr, rdone := startCmd(t, rs)
	select {
	case <-rdone:
	case <-time.After(2 * time.Minute):
		rs.Process.Kill()
		<-rdone
		t.Fatalf("restore did not end\n%s", rerr)
	}
	if rs.ProcessState.ExitCode() != 0 || !crPassed(rout.String()) {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", rs.ProcessState.ExitCode(), rout, rerr)
	}
	re := regexp.MustCompile(`cow: (before|after) rss_kb=(\d+) pss_kb=(\d+)`)
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	b := re.FindStringSubmatch(errb.String())
	a := re.FindStringSubmatch(rerr.String())
	if b == nil || a == nil || b[1] != "before" || a[1] != "after" {
		t.Fatalf("no measurements\nbefore:\n%s\nafter:\n%s", errb, rerr)
	}
	ratio := num(a[3]) / num(b[3])
	t.Logf("tree before checkpoint: Rss %s kB, Pss %s kB; after restore: Rss %s kB, Pss %s kB (Pss x%.2f)", b[2], b[3], a[2], a[3], ratio)
	if ratio > 1.1 {
		t.Errorf("the restored tree's Pss is x%.2f the checkpointed one's: the pages parent and child shared are copies again", ratio)
	}
}
