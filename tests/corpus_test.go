package tests

// The corpus (issue 9): one small self-verifying C program per kind of kernel
// state, in tests/corpus/<kind>.c. Each starts with a header:
//
//	// corpus: <the state kind, one line>
//	// expect: exact                     or: // expect: refuse <substring of the reason>
//	// needs: root                       (optional: not run as an ordinary user)
//	// cflags: -lsqlite3                 (optional: extra gcc arguments)
//	// flags: --net=private              (optional: crrun run flags, both runs)
//	// chain: no <why>                   (optional: never restored from a chain)
//	// status: blind <why>               (optional, "refuse" only: status cannot see it)
//
// and follows the contract of tests/corpus/corpus.h. TestCorpus runs each
// program uninterrupted under crrun, then again with a `crrun checkpoint
// --exit` at a seeded random moment after "<name>: running" and a restore:
// an "exact" program must print the same bytes as the uninterrupted run,
// ending in PASS; a "refuse" program must be refused by the checkpoint with
// the reason (exit 1) and run on to PASS. Programs without "needs: root" run
// a second time as an ordinary user (nobody, in crrun's user namespace).
// For one "exact" run in two (seeded), a first checkpoint the app runs on
// from comes before the --exit one, which is then incremental: the restore
// is from a chain of two (CRRUN_TEST_CHAIN=1: every run, =0: none).
// Before a "refuse" program's checkpoint, `crrun status` must say it is
// not checkpointable, not even with --exit, with the same reason (the two
// verdicts never disagree), unless its header says why status is blind.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crrun/crrun/checkpoint"
)

type corpusProg struct {
	name, kind string
	refuse     string // "" for exact
	root       bool   // needs root
	cflags     []string
	flags      []string // crrun run flags
	noChain    string   // why it is never restored from a chain ("" if it may be)
	blind      string   // why status cannot see its refusal ("" if it can)
	src        string
}

func readCorpus(t *testing.T) []corpusProg {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "tests", "corpus", "*.c"))
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusProg
	for _, f := range files {
		p := corpusProg{name: strings.TrimSuffix(filepath.Base(f), ".c"), src: f}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		expect := ""
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "// ") {
				break
			}
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "// "), ":")
			v = strings.TrimSpace(v)
			switch k {
			case "corpus":
				p.kind = v
			case "expect":
				expect = v
			case "needs":
				p.root = v == "root"
			case "cflags":
				p.cflags = strings.Fields(v)
			case "flags":
				p.flags = strings.Fields(v)
			case "status":
				if !strings.HasPrefix(v, "blind ") {
					t.Errorf("%s: `// status:` must be `blind <why>`, not %q", f, v)
				}
				p.blind = strings.TrimSpace(strings.TrimPrefix(v, "blind "))
			case "chain":
				if !strings.HasPrefix(v, "no ") {
					t.Errorf("%s: `// chain:` must be `no <why>`, not %q", f, v)
				}
				p.noChain = strings.TrimSpace(strings.TrimPrefix(v, "no "))
			}
		}
		fh.Close()
		switch {
		case p.kind == "":
			t.Errorf("%s: no `// corpus:` header line", f)
			continue
		case expect == "exact":
		case strings.HasPrefix(expect, "refuse "):
			p.refuse = strings.TrimSpace(strings.TrimPrefix(expect, "refuse "))
		default:
			t.Errorf("%s: `// expect:` must be `exact` or `refuse <reason>`, not %q", f, expect)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (p corpusProg) build(t *testing.T) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(workDir, "corpus-"+p.name)
	if _, ok := built["corpus:"+p.name]; ok {
		return out
	}
	args := append([]string{"-O1", "-g", "-Wall", "-pthread", "-I", filepath.Dir(p.src), "-o", out, p.src}, p.cflags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", p.name, err, b)
	}
	built["corpus:"+p.name] = out
	return out
}

// corpusSlots bounds the round trips running at once: the machine has two
// cores, and a round trip spends most of its time sleeping.
var corpusSlots = make(chan struct{}, 3)

func TestCorpus(t *testing.T) {
	requireCR(t)
	for _, p := range readCorpus(t) {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			bin := p.build(t)
			t.Run("root", func(t *testing.T) {
				corpusSlots <- struct{}{}
				defer func() { <-corpusSlots }()
				rt := runtimeDir(t)
				dir := t.TempDir()
				corpusRoundTrip(t, p, dir, func(args ...string) *exec.Cmd {
					cmd := exec.Command(crrunBin, args...)
					cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
					cmd.Dir = dir
					return cmd
				}, bin)
			})
			if p.root {
				return
			}
			t.Run("user", func(t *testing.T) {
				corpusSlots <- struct{}{}
				defer func() { <-corpusSlots }()
				dir, asNobody := nobodyEnv(t)
				corpusRoundTrip(t, p, dir, asNobody, bin)
			})
		})
	}
}

// corpusRoundTrip runs the program uninterrupted, then with a checkpoint
// at a random moment; crrun(args) makes a crrun command (root or nobody).
// Should the app have finished its work before the checkpoint reached it
// (a machine so loaded that the harness's own steps outlast the program's
// 1.5 s window), the round trip is made once more, checkpointed at once.
func corpusRoundTrip(t *testing.T, p corpusProg, dir string, crrunAs func(args ...string) *exec.Cmd, bin string) {
	t.Helper()
	// Every process tracked, the corpus's small programs too
	// (checkpoint.TestArmAllEnv): their chains then refer to their parents.
	crrun := func(args ...string) *exec.Cmd {
		cmd := crrunAs(args...)
		cmd.Env = append(cmd.Env, checkpoint.TestArmAllEnv+"=1")
		return cmd
	}
	if corpusRoundTripOnce(t, p, dir, crrun, bin, false) {
		t.Logf("the app ended before the checkpoint reached it (the machine is slow): again, checkpointed at once")
		corpusRoundTripOnce(t, p, dir, crrun, bin, true)
	}
}

// corpusRoundTripOnce is one round trip (at once: no delay, no chain); it
// says whether the app had ended before its checkpoint was asked for.
func corpusRoundTripOnce(t *testing.T, p corpusProg, dir string, crrun func(args ...string) *exec.Cmd, bin string, atOnce bool) (tooLate bool) {
	t.Helper()
	rng := crRand(t)
	runOne := func(args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer, chan struct{}) {
		cmd := crrun(args...)
		o, e, done := startCmd(t, cmd)
		return cmd, o, e, done
	}
	waitDone := func(cmd *exec.Cmd, done chan struct{}, what string, stderr *syncBuffer) int {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s did not end within 2 min\nstderr:\n%s", what, stderr)
		}
		return cmd.ProcessState.ExitCode()
	}

	cmd, refOut, refErr, done := runOne(append(append([]string{}, p.flags...), "--", bin)...)
	if code := waitDone(cmd, done, "the uninterrupted run", refErr); code != 0 || !crPassed(refOut.String()) {
		t.Fatalf("uninterrupted run: exit %d\nstdout:\n%s\nstderr:\n%s", code, refOut, refErr)
	}
	ref := refOut.String()

	store := filepath.Join(dir, "ck-"+p.name)
	if atOnce {
		store += "-again"
	}
	cmd, out, errb, done := runOne(append(append([]string{"--dir", store}, p.flags...), "--", bin)...)
	if err := eventually(time.Minute, func() bool { return strings.Contains(errb.String(), p.name+": running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\nstdout:\n%s\nstderr:\n%s", err, out, errb)
	}
	d := crDelay(rng, 0, 900*time.Millisecond)
	chain := rng.IntN(2) == 0
	if atOnce {
		d, chain = 0, false
	}
	t.Logf("checkpoint %v after running", d)
	switch os.Getenv("CRRUN_TEST_CHAIN") {
	case "1":
		chain = !atOnce
	case "0":
		chain = false
	}
	if chain && p.refuse == "" && p.noChain == "" {
		// A restore from an incremental chain of two (a checkpoint the
		// app runs on from, then the --exit one refers to it).
		t.Logf("restored from a chain of two")
		time.Sleep(d / 2)
		d -= d / 2
		if out, err := crrun("checkpoint", strconv.Itoa(cmd.Process.Pid)).CombinedOutput(); err != nil && !crDone(done) {
			t.Fatalf("first checkpoint of the chain: %v\n%s\napp stderr:\n%s", err, out, errb)
		}
	}
	time.Sleep(d)
	var verdict string // what status said just before a refused checkpoint
	if p.refuse != "" && p.blind == "" {
		b, err := crrun("status", "--json", strconv.Itoa(cmd.Process.Pid)).Output()
		var st Status
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		switch {
		case err != nil:
			verdict = fmt.Sprintf("no status: %v", err)
		case st.Checkpointable || st.ExitOK:
			verdict = fmt.Sprintf("status said checkpointable (with --exit: %v)", st.ExitOK)
		case !slices.ContainsFunc(st.Reasons, func(r StatusReason) bool { return strings.Contains(r.Reason, p.refuse) }):
			verdict = fmt.Sprintf("status gave other reasons: %s", b)
		}
	}
	ck := crrun("checkpoint", "--exit", strconv.Itoa(cmd.Process.Pid))
	var ckOut, ckErr bytes.Buffer
	ck.Stdout, ck.Stderr = &ckOut, &ckErr
	ckErrRun := ck.Run()
	if ckErrRun != nil && !atOnce && crDone(done) && strings.Contains(ckErr.String(), "no running crrun") {
		// crrun had exited, the app done, before the checkpoint was
		// asked for: nothing was tried on it.
		return true
	}
	if p.refuse != "" {
		if ckErrRun == nil || ck.ProcessState.ExitCode() != 1 {
			t.Fatalf("checkpoint: %v, want exit 1 refusing %q\nstdout: %s\nstderr: %s", ckErrRun, p.refuse, &ckOut, &ckErr)
		}
		if !strings.Contains(ckErr.String()+ckOut.String(), p.refuse) {
			t.Fatalf("checkpoint refused without the reason %q:\n%s%s", p.refuse, &ckOut, &ckErr)
		}
		if code := waitDone(cmd, done, "the refused app", errb); code != 0 || out.String() != ref {
			t.Fatalf("after the refusal the app ended with exit %d, output %s\nstdout:\n%s\nstderr:\n%s", code, crDiff(ref, out.String()), out, errb)
		}
		if verdict != "" {
			t.Fatalf("the checkpoint refused %q, but just before it %s", p.refuse, verdict)
		}
		return false
	}
	if ckErrRun != nil {
		t.Fatalf("checkpoint --exit: %v\nstdout: %s\nstderr: %s\napp stderr:\n%s", ckErrRun, &ckOut, &ckErr, errb)
	}
	if code := waitDone(cmd, done, "the checkpointed app", errb); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after checkpoint --exit, want %d\nstderr:\n%s", code, crExitCheckpointed, errb)
	}
	before := out.String()
	rcmd, rout, rerr, rdone := runOne("restore", store)
	if code := waitDone(rcmd, rdone, "the restore", rerr); code != 0 {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, rout, rerr)
	}
	crCheckJoin(t, ref, before, rout.String(), true)
	return false
}

func crDone(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
