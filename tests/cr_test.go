package tests

// End-to-end tests of checkpoint and restore, written against the CLI:
//
//	crrun --dir DIR -- CMD ARGS        checkpoints go to DIR/gen-NNNNNN
//	kill -USR1 <crrun>                 checkpoint, the app goes on
//	crrun checkpoint [--exit] [PID]    prints the image directory once durable;
//	                                   --exit ends the app, crrun exits 75
//	crrun restore [--dir DIR2] DIR     DIR: a store (newest valid generation)
//	                                   or one generation; exits like crrun run
//	crrun inspect [--json] DIR
//
// The victims (testdata/cr/*, testdata/gocr) check their own state and print
// exactly "PASS" or "FAIL: <what>" as their last stdout line. Their stdout is
// deterministic: an uninterrupted run and a run cut by a checkpoint and
// finished by a restore print the same bytes. On stderr they print
// "<name>: pid=N" at start, "<name>: running" when the phase a checkpoint
// should land in begins, and "<name>: end pid=N" after it (from getpid(),
// after the restore).
//
// Random delays come from a seeded generator: the seed is logged, and
// CRRUN_TEST_SEED=N replays a run. Until the engine exists (`crrun checkpoint
// --help` is not a command) every test here skips.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
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

// crExitCheckpointed is the exit status of crrun after `crrun checkpoint --exit`.
const crExitCheckpointed = 75

// Default running times of the victims are ~3 s natively; the defaults below
// must match the victims' own.
const (
	crCounterIters = 4000000
	crThreadRounds = 30000
)

var (
	crAvailMu sync.Mutex
	crAvail   = map[string]string{} // subcommand -> "" if available, else why not
)

// requireCR skips the test unless crrun has the subcommands (default:
// checkpoint and restore). It needs root like every end-to-end test.
func requireCR(t *testing.T, subcommands ...string) {
	t.Helper()
	requireRoot(t)
	if len(subcommands) == 0 {
		subcommands = []string{"checkpoint", "restore"}
	}
	crAvailMu.Lock()
	defer crAvailMu.Unlock()
	for _, sub := range subcommands {
		why, ok := crAvail[sub]
		if !ok {
			why = crProbe(sub)
			crAvail[sub] = why
		}
		if why != "" {
			t.Skipf("checkpoint/restore engine not available yet: %s", why)
		}
	}
}

// crProbe runs `crrun SUB --help`. Before the engine lands, crrun either
// says "unknown command" or, since the root command takes a program to run,
// tries to run a program named SUB ("command not found", exit 127).
func crProbe(sub string) string {
	rt, err := os.MkdirTemp("", "crrun-rt-")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, crrunBin, sub, "--help")
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil || strings.Contains(s, "unknown command") || strings.Contains(s, "command not found") {
		return fmt.Sprintf("`crrun %s --help`: %v: %s", sub, err, strings.TrimSpace(firstLine(s)))
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// crRand returns a generator seeded from CRRUN_TEST_SEED or the clock, and
// the test's name; it logs the seed.
func crRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRRUN_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CRRUN_TEST_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("random seed %d (replay with CRRUN_TEST_SEED=%d)", seed, seed)
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

func crDelay(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// compileCR builds testdata/cr/<name>.c.
func compileCR(t *testing.T, name string, static bool, extra ...string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(workDir, "cr"), 0o755); err != nil {
		t.Fatal(err)
	}
	return compileC(t, "cr/"+name, static, extra...)
}

var (
	crPyOnce sync.Once
	crPyPath string
)

// crPython returns the real python3 interpreter (not a pyenv shim: a shell
// script would make the app two processes).
func crPython(t *testing.T) string {
	t.Helper()
	crPyOnce.Do(func() {
		out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		if err != nil {
			return
		}
		if p, err := filepath.EvalSymlinks(strings.TrimSpace(string(out))); err == nil {
			crPyPath = p
		}
	})
	if crPyPath == "" {
		t.Skip("no python3")
	}
	return crPyPath
}

func crScript(name string) string { return filepath.Join(repoRoot, "tests", "testdata", "cr", name) }

// crWaitStderr waits until a's stderr contains s.
func crWaitStderr(t *testing.T, a *app, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.stderr.String(), s) {
		select {
		case <-a.done:
			if strings.Contains(a.stderr.String(), s) {
				return
			}
			t.Fatalf("crrun exited before %q on stderr\nstdout:\n%s\nstderr:\n%s", s, a.stdout, a.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on stderr within %v\nstdout:\n%s\nstderr:\n%s", s, timeout, a.stdout, a.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func crExited(a *app) bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// crStatus waits until a's supervisor answers `crrun status` with at least
// one process (a restore may take a while) and returns the status.
func crStatus(t *testing.T, a *app, timeout time.Duration) *Status {
	t.Helper()
	var st Status
	var last error
	err := eventually(timeout, func() bool {
		if crExited(a) {
			return true
		}
		out, err := a.crrunCmd("status", "--json", strconv.Itoa(a.cmd.Process.Pid))
		if err != nil {
			last = err
			return false
		}
		st = Status{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			last = fmt.Errorf("status JSON: %v\n%s", err, out)
			return false
		}
		return len(st.Processes) > 0
	})
	if crExited(a) {
		t.Fatalf("crrun exited (%v) before `crrun status` showed the app\nstdout:\n%s\nstderr:\n%s", a.err, a.stdout, a.stderr)
	}
	if err != nil {
		t.Fatalf("`crrun status` never showed the app: %v", last)
	}
	return &st
}

// crRequireCheckpointable checks that the app is one checkpointable process
// with namespace pid nspid, and returns its host pid.
func crRequireCheckpointable(t *testing.T, st *Status, nspid int) int {
	t.Helper()
	if len(st.Processes) != 1 {
		t.Fatalf("status shows %d processes, want 1: %+v", len(st.Processes), st.Processes)
	}
	if st.Processes[0].NsPid != nspid {
		t.Fatalf("status shows the app as pid %d in its namespace, the app says %d", st.Processes[0].NsPid, nspid)
	}
	if !st.Checkpointable {
		t.Fatalf("the app is not checkpointable:\n%s", st.reasons())
	}
	return st.Processes[0].Pid
}

// crExec runs a crrun client command against runtime dir rt. It is safe
// from any goroutine: failures to run at all come back as err.
func crExec(rt string, timeout time.Duration, args ...string) (code int, stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, crrunBin, args...)
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return -1, out.String(), errb.String(), fmt.Errorf("crrun %s did not return within %v", strings.Join(args, " "), timeout)
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
	default:
		return -1, out.String(), errb.String(), runErr
	}
	return code, out.String(), errb.String(), nil
}

// crClient is crExec for the test goroutine.
func crClient(t *testing.T, rt string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	code, out, errs, err := crExec(rt, timeout, args...)
	if err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	return code, out, errs
}

// crCheckpoint asks a's supervisor for a checkpoint (`crrun checkpoint
// [--exit] PID`) and returns the image directory it printed, after checking
// it is a complete generation of store.
func crCheckpoint(t *testing.T, a *app, store string, exit bool, extra ...string) string {
	t.Helper()
	args := append([]string{"checkpoint"}, extra...)
	if exit {
		args = append(args, "--exit")
	}
	args = append(args, strconv.Itoa(a.cmd.Process.Pid))
	t0 := time.Now()
	code, out, errs := crClient(t, a.runtime, 5*time.Minute, args...)
	if code != 0 {
		t.Fatalf("crrun %s: exit %d, want 0\nstdout: %s\nstderr: %s\napp stderr:\n%s", strings.Join(args, " "), code, out, errs, a.stderr)
	}
	img := crImagePath(t, out, store)
	t.Logf("crrun %s: %s in %v", strings.Join(args, " "), img, time.Since(t0).Round(time.Millisecond))
	return img
}

var crGenName = regexp.MustCompile(`^gen-\d{6,}$`)

// crImagePath checks the stdout of `crrun checkpoint`: one line, the path of
// a complete generation (it has its manifest) inside store.
func crImagePath(t *testing.T, stdout, store string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Fatalf("crrun checkpoint printed %q, want one line: the image directory", stdout)
	}
	img := lines[0]
	if !filepath.IsAbs(img) {
		t.Errorf("crrun checkpoint printed a relative path %q", img)
		img = filepath.Join(store, img)
	}
	if store != "" {
		if filepath.Dir(filepath.Clean(img)) != filepath.Clean(store) || !crGenName.MatchString(filepath.Base(img)) {
			t.Fatalf("image directory %q is not a generation gen-NNNNNN of the store %s", img, store)
		}
	}
	if _, err := os.Stat(filepath.Join(img, "MANIFEST.json")); err != nil {
		t.Fatalf("crrun checkpoint returned before the image was complete: %v", err)
	}
	return img
}

// crGenerations lists the complete generations of store (with a manifest),
// oldest first.
func crGenerations(t *testing.T, store string) []string {
	t.Helper()
	ents, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	var gens []string
	for _, e := range ents {
		if e.IsDir() && crGenName.MatchString(e.Name()) {
			if _, err := os.Stat(filepath.Join(store, e.Name(), "MANIFEST.json")); err == nil {
				gens = append(gens, e.Name())
			}
		}
	}
	slices.SortFunc(gens, func(a, b string) int { return crGenNum(a) - crGenNum(b) })
	return gens
}

func crGenNum(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(name), "gen-"))
	return n
}

// crVictimPid reads "<name>: pid=N" (end: "<name>: end pid=N") from a
// victim's stderr.
func crVictimPid(t *testing.T, stderr, name string, end bool) int {
	t.Helper()
	key := "pid"
	if end {
		key = "end pid"
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: ` + key + `=(\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no %q line on stderr:\n%s", name+": "+key+"=N", stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// crWaitGone waits until host pid hostPid is gone (crrun's exit takes the app
// with it).
func crWaitGone(t *testing.T, hostPid int) {
	t.Helper()
	if err := eventually(15*time.Second, func() bool { return !processAlive(hostPid) }); err != nil {
		t.Fatalf("the app (host pid %d) is still alive after its crrun exited", hostPid)
	}
}

func crPassed(stdout string) bool { return strings.HasSuffix(stdout, "\nPASS\n") || stdout == "PASS\n" }

// crCheckJoin checks the stdout of a run cut by a checkpoint (before) and
// of the restored run (after) against an uninterrupted run (ref). exact: the
// app ended at the checkpoint (--exit), so before+after must be ref; else the
// app ran on after the checkpoint, and the restored run repeats the end of
// before.
func crCheckJoin(t *testing.T, ref, before, after string, exact bool) {
	t.Helper()
	if !crPassed(after) {
		t.Fatalf("the restored app did not PASS:\n%s", after)
	}
	if exact {
		if got := before + after; got != ref {
			t.Fatalf("output before the checkpoint + output after the restore differs from an uninterrupted run: %s\nbefore:\n%s\nafter:\n%s",
				crDiff(ref, got), before, after)
		}
		return
	}
	if !strings.HasPrefix(ref, before) || !strings.HasSuffix(ref, after) || len(before)+len(after) < len(ref) {
		got, _ := crMerge(before, after)
		t.Fatalf("outputs before the kill and after the restore do not make up an uninterrupted run: %s\nbefore:\n%s\nafter:\n%s",
			crDiff(ref, got), before, after)
	}
}

// crMerge joins before and after on their longest overlap (the end of
// before that after repeats).
func crMerge(before, after string) (string, bool) {
	for k := min(len(before), len(after)); k >= 0; k-- {
		if strings.HasSuffix(before, after[:k]) {
			return before + after[k:], true
		}
	}
	return before + after, false
}

// crDiff describes the first line where got differs from want.
func crDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g || i >= len(wl) || i >= len(gl) {
			return fmt.Sprintf("line %d is %q, want %q", i+1, g, w)
		}
	}
	return "no difference"
}

// crLastLine is the last non-empty line of s.
func crLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// crVictim describes one round trip.
type crVictim struct {
	name     string                         // the victim's stderr prefix
	argv     []string                       // the command
	lo, hi   time.Duration                  // the checkpoint lands this long after "<name>: running"
	exitMode bool                           // true: crrun checkpoint --exit; false: crrun checkpoint, then SIGKILL crrun
	ckptArgs []string                       // more arguments of crrun checkpoint (--compress=none)
	check    func(t *testing.T, img string) // checks the image, if set
	chain    int                            // checkpoints the app runs on from before the last: it is restored from an incremental chain
}

// crRoundTrip runs v uninterrupted, then under --dir with a checkpoint at a
// random moment, then restores it, and compares.
func crRoundTrip(t *testing.T, v crVictim) {
	t.Helper()
	rng := crRand(t)
	code, ref, refErr := run(t, opts{}, append([]string{"--"}, v.argv...)...)
	if code != 0 || !crPassed(ref) {
		t.Fatalf("uninterrupted run under crrun: exit %d\nstdout:\n%s\nstderr:\n%s", code, ref, refErr)
	}

	var store string
	var a *app
	var pid, hostPid int
	for attempt := 0; ; attempt++ {
		store = t.TempDir()
		a = start(t, opts{}, append([]string{"--dir", store, "--"}, v.argv...)...)
		crWaitStderr(t, a, v.name+": running", time.Minute)
		pid = crVictimPid(t, a.stderr.String(), v.name, false)
		hostPid = crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
		d := crDelay(rng, v.lo, v.hi)
		t.Logf("checkpoint %v after %q", d, v.name+": running")
		for range v.chain {
			time.Sleep(d / time.Duration(v.chain+1))
			crCheckpoint(t, a, store, false, v.ckptArgs...)
		}
		time.Sleep(d / time.Duration(v.chain+1))
		// A machine quicker (or a victim luckier) than measured may end
		// the work before the moment: nothing left to prove. Once, again
		// with the moment halved.
		if attempt == 0 && strings.Contains(a.stderr.String(), v.name+": end pid") {
			t.Logf("the victim ended its work within %v of running: again, the checkpoint within %v", d, v.hi/2)
			a.cmd.Process.Kill()
			a.wait(time.Minute)
			v.hi /= 2
			v.lo = min(v.lo, v.hi/2)
			continue
		}
		break
	}
	img := crCheckpoint(t, a, store, v.exitMode, v.ckptArgs...)
	if v.check != nil {
		v.check(t, img)
	}
	restoreArg := store // the newest valid generation
	if v.exitMode {
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
		}
	} else {
		time.Sleep(crDelay(rng, 50*time.Millisecond, 300*time.Millisecond)) // the app runs on
		a.cmd.Process.Kill()
		a.wait(time.Minute)
		restoreArg = img // one generation, named
	}
	crWaitGone(t, hostPid)
	if gens := crGenerations(t, store); v.chain > 0 {
		if len(gens) != v.chain+1 || gens[len(gens)-1] != filepath.Base(img) {
			t.Errorf("store holds generations %v, want %d up to %s (each incremental one needs the older ones)", gens, v.chain+1, filepath.Base(img))
		}
	} else if len(gens) != 1 || gens[0] != filepath.Base(img) {
		t.Errorf("store holds generations %v, want just %s", gens, filepath.Base(img))
	}
	before := a.stdout.String()

	r := start(t, opts{}, "restore", restoreArg)
	code = r.wait(3 * time.Minute)
	after := r.stdout.String()
	if code != 0 {
		t.Fatalf("crrun restore %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", restoreArg, code, after, r.stderr)
	}
	crCheckJoin(t, ref, before, after, v.exitMode)
	// On a quiet machine the checkpoint may land after the loop's end:
	// then the original printed the end line, with the same pid.
	if end := crVictimPid(t, a.stderr.String()+r.stderr.String(), v.name, true); end != pid {
		t.Errorf("the restored app has pid %d, it had %d", end, pid)
	}
}

// crCounterHi is the latest checkpoint moment for the counter victim: well
// inside its loop, which takes 1.8–2.7 s here (measured on an idle machine;
// a checkpoint after the loop's end finds nothing left to prove).
const crCounterHi = 1200 * time.Millisecond

func TestCRCounter(t *testing.T) {
	requireCR(t)
	t.Run("dynamic", func(t *testing.T) {
		b := compileCR(t, "counter", false)
		crRoundTrip(t, crVictim{name: "counter", argv: []string{b, strconv.Itoa(crCounterIters), "64", t.TempDir()},
			lo: 200 * time.Millisecond, hi: crCounterHi, exitMode: true})
	})
	t.Run("static", func(t *testing.T) {
		b := compileCR(t, "counter", true)
		crRoundTrip(t, crVictim{name: "counter", argv: []string{b, strconv.Itoa(crCounterIters), "64", t.TempDir()},
			lo: 200 * time.Millisecond, hi: crCounterHi, exitMode: false})
	})
	t.Run("chain", func(t *testing.T) {
		b := compileCR(t, "counter", false)
		crRoundTrip(t, crVictim{name: "counter", argv: []string{b, strconv.Itoa(crCounterIters), "64", t.TempDir()},
			lo: 600 * time.Millisecond, hi: crCounterHi, exitMode: true, chain: 2})
	})
}

// crThreadsHi is the latest checkpoint moment for the threads victim: its
// workers do a fixed amount of work, 2.0–2.7 s here but 1.7 s on a quicker CI
// machine (which once checkpointed at 1.78 s, after the app had ended).
const crThreadsHi = 1000 * time.Millisecond

func TestCRThreads(t *testing.T) {
	requireCR(t)
	t.Run("dynamic", func(t *testing.T) {
		b := compileCR(t, "threads", false)
		crRoundTrip(t, crVictim{name: "threads", argv: []string{b}, lo: 100 * time.Millisecond, hi: crThreadsHi, exitMode: true})
	})
	t.Run("static", func(t *testing.T) {
		b := compileCR(t, "threads", true)
		crRoundTrip(t, crVictim{name: "threads", argv: []string{b}, lo: 100 * time.Millisecond, hi: crThreadsHi, exitMode: false})
	})
}

func TestCROpenMP(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "openmp", false, "-fopenmp")
	crRoundTrip(t, crVictim{name: "openmp", argv: []string{b, "900"}, lo: 100 * time.Millisecond, hi: 1800 * time.Millisecond, exitMode: false})
}

func TestCRGo(t *testing.T) {
	requireCR(t)
	b := compileGo(t, "gocr")
	crRoundTrip(t, crVictim{name: "gocr", argv: []string{b, "2400", t.TempDir()}, lo: 100 * time.Millisecond, hi: 1500 * time.Millisecond, exitMode: true})
}

func TestCRPython(t *testing.T) {
	requireCR(t)
	py := crPython(t)
	crRoundTrip(t, crVictim{name: "compute.py", argv: []string{py, crScript("compute.py")}, lo: 100 * time.Millisecond, hi: 1000 * time.Millisecond, exitMode: false})
}

// crSyscallNr reads the syscall a task is blocked in (/proc/PID/task/TID/syscall).
func crSyscallNr(hostPid, hostTid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", hostPid, hostTid))
	if err != nil {
		return -2
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -2
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -2
	}
	return n
}

// crWaitInRead waits until the app's main thread is blocked in read(2).
func crWaitInRead(t *testing.T, hostPid int) {
	t.Helper()
	if err := eventually(20*time.Second, func() bool { return crSyscallNr(hostPid, hostPid) == syscall.SYS_READ }); err != nil {
		t.Fatalf("the app's main thread is not blocked in read (syscall %d)", crSyscallNr(hostPid, hostPid))
	}
}

// TestCRBlocked: checkpoints of a program blocked in read(2) on stdin, in
// nanosleep, in an absolute clock_nanosleep, and both at once in two
// threads. The restored read gets the bytes written after the restore, on
// the restorer's stdin; the sleeps finish after the time that was left, not
// the whole time again. The same image restores more than once, and the
// restored app's exit status (code or signal) is crrun restore's.
func TestCRBlocked(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "blocked", false)
	const msg = "hello after restore\n"

	t.Run("read", func(t *testing.T) {
		code, ref, refErr := run(t, opts{stdinData: msg}, "--", b, "read", msg)
		if code != 0 || !crPassed(ref) {
			t.Fatalf("uninterrupted: exit %d\n%s\n%s", code, ref, refErr)
		}
		store := t.TempDir()
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		a := start(t, opts{stdin: pr}, "--dir", store, "--", b, "read", msg)
		pr.Close()
		crWaitStderr(t, a, "blocked: reading", time.Minute)
		pid := crVictimPid(t, a.stderr.String(), "blocked", false)
		hostPid := crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
		crWaitInRead(t, hostPid)
		img := crCheckpoint(t, a, store, true)
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("exit %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
		}
		pw.Close()
		before := a.stdout.String()

		// Restore with a fresh pipe as stdin; write only once the restored
		// app is blocked in read again.
		pr2, pw2, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw2.Close()
		r := start(t, opts{stdin: pr2}, "restore", img)
		pr2.Close()
		host2 := crStatus(t, r, time.Minute).Processes[0].Pid
		crWaitInRead(t, host2)
		if _, err := pw2.WriteString(msg); err != nil {
			t.Fatal(err)
		}
		pw2.Close()
		if code := r.wait(time.Minute); code != 0 {
			t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
		crCheckJoin(t, ref, before, r.stdout.String(), true)
		if end := crVictimPid(t, r.stderr.String(), "blocked", true); end != pid {
			t.Errorf("the restored app has pid %d, it had %d", end, pid)
		}

		// The same image again, with other input: the app fails, and
		// crrun restore exits with the app's status.
		r2 := start(t, opts{stdinData: "something else\n"}, "restore", img)
		if code := r2.wait(time.Minute); code != 1 || !strings.HasPrefix(crLastLine(r2.stdout.String()), "FAIL: ") {
			t.Fatalf("restore with other input: exit %d, want the app's 1, and a FAIL line\nstdout:\n%s\nstderr:\n%s", code, r2.stdout, r2.stderr)
		}
	})

	for _, mode := range []string{"sleep", "abssleep"} {
		t.Run(mode, func(t *testing.T) {
			// A restart of the whole sleep must stand out from a slow
			// restore on a loaded machine: 10 s, checkpoint at 6 s, 4 s left.
			const secs = 10.0
			var want string
			if mode == "sleep" {
				want = fmt.Sprintf("blocked: %s\nslept %g s\nPASS\n", mode, secs)
			} else {
				want = fmt.Sprintf("blocked: %s\nslept until start+%g s\nPASS\n", mode, secs)
			}
			store := t.TempDir()
			a := start(t, opts{}, "--dir", store, "--", b, mode, fmt.Sprint(secs))
			crWaitStderr(t, a, "blocked: sleeping", time.Minute)
			t0 := time.Now()
			pid := crVictimPid(t, a.stderr.String(), "blocked", false)
			crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
			if late := time.Since(t0); late > 5*time.Second {
				t.Fatalf("the test itself took %v to see the app sleeping and checkpointable: too slow to checkpoint in the middle of the sleep", late)
			}
			time.Sleep(time.Until(t0.Add(6 * time.Second)))
			tc0 := time.Now()
			img := crCheckpoint(t, a, store, true)
			tc1 := time.Now()
			if code := a.wait(time.Minute); code != crExitCheckpointed {
				t.Fatalf("exit %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
			}
			before := a.stdout.String()

			tr := time.Now()
			r := start(t, opts{}, "restore", img)
			code := r.wait(time.Minute)
			elapsed := time.Since(tr)
			if code != 0 {
				t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
			}
			crCheckJoin(t, want, before, r.stdout.String(), true)
			// What was left of the sleep when the app was frozen.
			var lo, hi time.Duration
			if mode == "sleep" {
				lo = time.Duration(secs*float64(time.Second)) - tc1.Sub(t0)
				hi = time.Duration(secs*float64(time.Second)) - tc0.Sub(t0)
			} else { // the deadline is absolute: what is left of it now
				deadline := t0.Add(time.Duration(secs * float64(time.Second)))
				lo = max(deadline.Sub(tr)-300*time.Millisecond, 0)
				hi = max(deadline.Sub(tr), 0)
			}
			t.Logf("restored sleep took %v (%v to %v were left)", elapsed.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
			if elapsed < lo-300*time.Millisecond || elapsed > hi+5*time.Second {
				t.Errorf("the restored %s took %v, want the %v-%v that were left (+ restore time)\nstderr:\n%s", mode, elapsed, lo, hi, r.stderr)
			}
			if end := crVictimPid(t, r.stderr.String(), "blocked", true); end != pid {
				t.Errorf("the restored app has pid %d, it had %d", end, pid)
			}

			if mode != "sleep" {
				return // the deadline has passed: a restore ends at once
			}
			// The same image again, ended by a signal sent to crrun: crrun
			// restore dies by the same signal.
			r2 := start(t, opts{}, "restore", img)
			crStatus(t, r2, time.Minute)
			r2.cmd.Process.Signal(syscall.SIGTERM)
			if code := r2.wait(time.Minute); code != -int(syscall.SIGTERM) {
				t.Fatalf("restored app sent SIGTERM: crrun restore exit %d, want death by SIGTERM\nstderr:\n%s", code, r2.stderr)
			}
		})
	}

	t.Run("both", func(t *testing.T) {
		want := "blocked: both\nread 20 bytes: hello after restore\\n\nslept 4 s\nPASS\n"
		store := t.TempDir()
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		a := start(t, opts{stdin: pr}, "--dir", store, "--", b, "both", "4", msg)
		pr.Close()
		crWaitStderr(t, a, "blocked: sleeping", time.Minute)
		crWaitStderr(t, a, "blocked: reading", time.Minute)
		pid := crVictimPid(t, a.stderr.String(), "blocked", false)
		hostPid := crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
		crWaitInRead(t, hostPid)
		time.Sleep(time.Second)
		img := crCheckpoint(t, a, store, true)
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("exit %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
		}
		pw.Close()
		before := a.stdout.String()
		pr2, pw2, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw2.Close()
		r := start(t, opts{stdin: pr2}, "restore", img)
		pr2.Close()
		crWaitInRead(t, crStatus(t, r, time.Minute).Processes[0].Pid)
		pw2.WriteString(msg)
		pw2.Close()
		if code := r.wait(time.Minute); code != 0 {
			t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
		crCheckJoin(t, want, before, r.stdout.String(), true)
	})
}

// TestCRAppendLog: a file the app appends to (O_APPEND) keeps growing after
// the checkpoint until crrun is killed; the restore truncates it back to its
// size at checkpoint time, so the final file has no duplicate lines and is
// byte for byte an uninterrupted run's.
func TestCRAppendLog(t *testing.T) {
	requireCR(t)
	rng := crRand(t)
	b := compileCR(t, "appendlog", false)
	dir := t.TempDir()
	refFile, file := filepath.Join(dir, "ref.log"), filepath.Join(dir, "cr.log")
	code, ref, refErr := run(t, opts{}, "--", b, refFile)
	if code != 0 || !crPassed(ref) {
		t.Fatalf("uninterrupted: exit %d\n%s\n%s", code, ref, refErr)
	}
	refData, err := os.ReadFile(refFile)
	if err != nil {
		t.Fatal(err)
	}

	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", b, file)
	crWaitStderr(t, a, "appendlog: running", time.Minute)
	pid := crVictimPid(t, a.stderr.String(), "appendlog", false)
	hostPid := crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	time.Sleep(crDelay(rng, 300*time.Millisecond, 1500*time.Millisecond))
	img := crCheckpoint(t, a, store, false)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	sizeAfterCkpt := fi.Size()
	time.Sleep(400 * time.Millisecond) // ~80 more lines
	a.cmd.Process.Kill()
	a.wait(time.Minute)
	crWaitGone(t, hostPid)
	if fi, err = os.Stat(file); err != nil || fi.Size() <= sizeAfterCkpt {
		t.Fatalf("the app appended nothing after the checkpoint (%d bytes then, %v now): the test proves nothing", sizeAfterCkpt, fi.Size())
	}
	t.Logf("file: %d bytes when the checkpoint returned, %d when crrun was killed", sizeAfterCkpt, fi.Size())
	before := a.stdout.String()

	// restore --check says what the restore will cut back, and changes
	// nothing.
	grown := fi.Size()
	c := start(t, opts{}, "restore", "--check", img)
	if code := c.wait(time.Minute); code != 0 {
		t.Fatalf("crrun restore --check: exit %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout, c.stderr)
	}
	want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(img) + `: restorable here\na restore would change: pid ` + strconv.Itoa(pid) +
		`: fd \d+: ` + regexp.QuoteMeta(file) + `: cut back to \d+ bytes, its size at the checkpoint \(now ` + strconv.FormatInt(grown, 10) + ` bytes\)$`)
	if !want.MatchString(c.stdout.String()) {
		t.Fatalf("crrun restore --check printed:\n%s\nwant a match for %s", c.stdout, want)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != grown {
		t.Fatalf("restore --check changed %s: %v bytes, was %d (%v)", file, fi.Size(), grown, err)
	}

	r := start(t, opts{}, "restore", img)
	if code := r.wait(time.Minute); code != 0 {
		t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	crCheckJoin(t, ref, before, r.stdout.String(), false)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, refData) {
		t.Fatalf("the file after restore differs from an uninterrupted run's (%d bytes, want %d): %s",
			len(got), len(refData), crDiff(string(refData), string(got)))
	}
}

// TestCRChain: checkpoint --exit, restore, checkpoint --exit, restore… five
// times into the same store (a restored app checkpoints into the store it
// was restored from), then run to the end. The six pieces of output make up
// an uninterrupted run's.
func TestCRChain(t *testing.T) {
	requireCR(t)
	if testing.Short() {
		t.Skip("-short")
	}
	for _, tc := range []struct {
		name string
		argv func(t *testing.T) []string
	}{
		{"counter", func(t *testing.T) []string {
			return []string{compileCR(t, "counter", false), strconv.Itoa(3 * crCounterIters), "16", t.TempDir()}
		}},
		{"threads", func(t *testing.T) []string {
			// Four rounds: five checkpoints at up to 0.5 s each must all land
			// before the work ends (two were too few for a quick machine).
			return []string{compileCR(t, "threads", false), strconv.Itoa(4 * crThreadRounds)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := crRand(t)
			argv := tc.argv(t)
			code, ref, refErr := run(t, opts{}, append([]string{"--"}, argv...)...)
			if code != 0 || !crPassed(ref) {
				t.Fatalf("uninterrupted: exit %d\n%s\n%s", code, ref, refErr)
			}
			store := t.TempDir()
			cur := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
			crWaitStderr(t, cur, tc.name+": running", time.Minute)
			pid := crVictimPid(t, cur.stderr.String(), tc.name, false)
			var pieces, stderrs []string
			lastGen := 0
			for g := 1; g <= 5; g++ {
				crRequireCheckpointable(t, crStatus(t, cur, 2*time.Minute), pid)
				time.Sleep(crDelay(rng, 150*time.Millisecond, 500*time.Millisecond))
				img := crCheckpoint(t, cur, store, true)
				if n := crGenNum(img); n <= lastGen {
					t.Fatalf("checkpoint %d went to %s, not after generation %d", g, img, lastGen)
				} else {
					lastGen = n
				}
				if code := cur.wait(time.Minute); code != crExitCheckpointed {
					t.Fatalf("checkpoint %d: crrun exited %d, want %d\n%s", g, code, crExitCheckpointed, cur.stderr)
				}
				pieces = append(pieces, cur.stdout.String())
				stderrs = append(stderrs, cur.stderr.String())
				if crPassed(cur.stdout.String()) {
					t.Fatalf("the app finished before checkpoint %d: make it run longer", g)
				}
				cur = start(t, opts{}, "restore", store)
			}
			if code := cur.wait(3 * time.Minute); code != 0 {
				t.Fatalf("last restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, cur.stdout, cur.stderr)
			}
			last := cur.stdout.String()
			crCheckJoin(t, ref, strings.Join(pieces, ""), last, true)
			// The loop may have ended (and printed "end pid") before the
			// last checkpoint, during the app's final verification.
			if end := crVictimPid(t, strings.Join(append(stderrs, cur.stderr.String()), ""), tc.name, true); end != pid {
				t.Errorf("after 5 restores the app has pid %d, it had %d", end, pid)
			}
			// --keep 2 (the default) prunes all but the newest two.
			if gens := crGenerations(t, store); len(gens) != 2 || !strings.HasSuffix(gens[len(gens)-1], "gen-000005") {
				t.Errorf("store has generations %v, want the newest two, up to gen-000005", gens)
			}
		})
	}
}

// TestCRRestoredAppIsSupervised: a restored app shows up in `crrun status`
// under its restorer (same namespace pid, checkpointable), SIGUSR1 to
// `crrun restore` checkpoints it into the store it came from, and `crrun
// restore --dir DIR2` sends its checkpoints to DIR2 (`crrun checkpoint`
// without a pid, with one crrun running).
func TestCRRestoredAppIsSupervised(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "counter", false)
	argv := []string{b, strconv.Itoa(2 * crCounterIters), "16", t.TempDir()}
	code, ref, refErr := run(t, opts{}, append([]string{"--"}, argv...)...)
	if code != 0 || !crPassed(ref) {
		t.Fatalf("uninterrupted: exit %d\n%s\n%s", code, ref, refErr)
	}
	store := t.TempDir()
	a := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	crWaitStderr(t, a, "counter: running", time.Minute)
	pid := crVictimPid(t, a.stderr.String(), "counter", false)
	crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	time.Sleep(300 * time.Millisecond)
	img1 := crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("exit %d, want %d", code, crExitCheckpointed)
	}
	before := a.stdout.String()

	r := start(t, opts{}, "restore", store)
	st := crStatus(t, r, 2*time.Minute)
	crRequireCheckpointable(t, st, pid)
	if st.SupervisorPid != r.cmd.Process.Pid {
		t.Errorf("status supervisor_pid %d, want crrun restore's pid %d", st.SupervisorPid, r.cmd.Process.Pid)
	}
	if st.Processes[0].Comm != "counter" {
		t.Errorf("restored app's comm %q, want counter", st.Processes[0].Comm)
	}
	time.Sleep(300 * time.Millisecond)
	r.cmd.Process.Signal(syscall.SIGUSR1)
	var gens []string
	if err := eventually(2*time.Minute, func() bool { gens = crGenerations(t, store); return len(gens) >= 2 }); err != nil {
		t.Fatalf("no second generation after SIGUSR1 to crrun restore (generations %v)\nstderr:\n%s", gens, r.stderr)
	}
	if code := r.wait(2 * time.Minute); code != 0 {
		t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	after := r.stdout.String()
	crCheckJoin(t, ref, before, after, true)

	// The SIGUSR1 checkpoint restores too, and ends the same way.
	img2 := filepath.Join(store, gens[len(gens)-1])
	r2 := start(t, opts{}, "restore", img2)
	if code := r2.wait(2 * time.Minute); code != 0 {
		t.Fatalf("crrun restore %s: exit %d\nstdout:\n%s\nstderr:\n%s", img2, code, r2.stdout, r2.stderr)
	}
	if out := r2.stdout.String(); !crPassed(out) || !strings.HasSuffix(after, out) {
		t.Fatalf("restore of the SIGUSR1 checkpoint printed\n%s\nwant a suffix of\n%s", out, after)
	}

	// --dir DIR2: the restored app's checkpoints go there.
	store2 := t.TempDir()
	r3 := start(t, opts{}, "restore", "--dir", store2, img1)
	crRequireCheckpointable(t, crStatus(t, r3, 2*time.Minute), pid)
	time.Sleep(200 * time.Millisecond)
	code, out, errs := crClient(t, r3.runtime, 5*time.Minute, "checkpoint") // the only crrun of its runtime dir
	if code != 0 {
		t.Fatalf("crrun checkpoint (no pid): exit %d\n%s", code, errs)
	}
	crImagePath(t, out, store2)
	if gens := crGenerations(t, store); len(gens) != 2 {
		t.Errorf("the first store changed: %v", gens)
	}
	r3.cmd.Process.Kill()
	r3.wait(time.Minute)
	r4 := start(t, opts{}, "restore", store2)
	if code := r4.wait(2 * time.Minute); code != 0 || !crPassed(r4.stdout.String()) || !strings.HasSuffix(ref, r4.stdout.String()) {
		t.Fatalf("restore of DIR2: exit %d\nstdout:\n%s\nstderr:\n%s", code, r4.stdout, r4.stderr)
	}
}
