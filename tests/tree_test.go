package tests

// The process-tree corpus: checkpoint/restore of apps made of several
// processes sharing kernel state — shell pipelines, a Python
// multiprocessing.Pool, make -j2 running compilers, zombies and
// sessions/process groups, pipes with data in them, a file offset, shared
// anonymous memory and a memfd shared by a fork tree, a Go program reading a
// child's pipe through its poller, timerfd/eventfd/signalfd in an epoll loop,
// a unix socketpair with data in flight, and a pty the app made itself.
//
// The victims (testdata/tree/*) follow the contract of the cr tests (see
// cr_test.go): deterministic stdout ending in exactly "PASS" or "FAIL:
// <what>", written by the main process only; on stderr "<name>: pid=N",
// "<name>: running" when the checkpoint window opens (the tree exists by
// then) and "<name>: end pid=N" after it. Each test has two halves:
//
//	uninterrupted   the victim under crrun, start to end: it must PASS.
//	checkpoint      the victim again, checkpointed at a random moment
//	                (crRand: CRRUN_TEST_SEED=N replays), then `crrun
//	                checkpoint --exit` or a SIGKILL of crrun after the
//	                checkpoint, then `crrun restore`; the outputs must make
//	                up the uninterrupted run's, ending in PASS, with the main
//	                process's pid kept.
//
// A refused checkpoint fails the checkpoint half with the reasons crrun gave
// (except the pty victim's, which may be refused for the pty); the app must
// then still run to the end as if nothing had happened.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// treeVictim describes one process-tree round trip.
type treeVictim struct {
	name string // the victim's stderr prefix
	// argv gives the command for one run; dir is a fresh directory of that
	// run, also crrun's (and so the app's) working directory.
	argv     func(t *testing.T, dir string) []string
	lo, hi   time.Duration // the checkpoint lands this long after "<name>: running"
	exitMode bool          // true: crrun checkpoint --exit; false: crrun checkpoint, then SIGKILL crrun
	minProcs int           // the checkpoint waits until `crrun status` shows this many processes
	flags    []string      // crrun's flags for both runs (--net=private...)
	// refusal, if set, makes a refused checkpoint an accepted outcome when
	// every reason given matches it.
	refusal *regexp.Regexp
}

// treeTimeout bounds every single run of a victim (they take ~3-5 s).
const treeTimeout = 45 * time.Second

// treeCompile builds testdata/tree/<name>.c.
func treeCompile(t *testing.T, name string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(workDir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	return compileC(t, "tree/"+name, false)
}

// treeCompileGo builds testdata/tree/<name>/.
func treeCompileGo(t *testing.T, name string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(workDir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	return compileGo(t, "tree/"+name)
}

func treeFile(name string) string { return filepath.Join(repoRoot, "tests", "testdata", "tree", name) }

// treeNeed skips the test unless every program is on PATH, and returns the
// path of the first.
func treeNeed(t *testing.T, progs ...string) string {
	t.Helper()
	var first string
	for i, p := range progs {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Skipf("needs %s, which is not installed (%v)", p, err)
		}
		if i == 0 {
			first = path
		}
	}
	return first
}

// treeWaitProcs waits until a's supervisor shows at least n processes and
// returns that status (or the last one, with a log line, after timeout).
func treeWaitProcs(t *testing.T, a *app, n int, timeout time.Duration) *Status {
	t.Helper()
	st := crStatus(t, a, time.Minute)
	deadline := time.Now().Add(timeout)
	for len(st.Processes) < n && time.Now().Before(deadline) && !crExited(a) {
		time.Sleep(20 * time.Millisecond)
		st = crStatus(t, a, time.Minute)
	}
	if len(st.Processes) < n {
		t.Logf("`crrun status` shows %d processes, expected at least %d: checkpointing anyway", len(st.Processes), n)
	}
	return st
}

func treeProcs(st *Status) string {
	var b strings.Builder
	for _, p := range st.Processes {
		fmt.Fprintf(&b, " %d(%s, ppid %d)", p.NsPid, p.Comm, p.PPid)
	}
	return strings.TrimSpace(b.String())
}

var treeReasonLine = regexp.MustCompile(`(?m)^\s+pid \d+: (.+)$`)

// treeReasons extracts the reasons from the stderr of a refused `crrun
// checkpoint` ("  pid N: CR: ... not supported yet" lines).
func treeReasons(stderr string) []string {
	var rs []string
	for _, m := range treeReasonLine.FindAllStringSubmatch(stderr, -1) {
		rs = append(rs, strings.TrimSpace(m[1]))
	}
	return rs
}

var treeDigits = regexp.MustCompile(`\d+`)

// treeSummary folds reasons that differ only in numbers (pids, fds) into one
// line with a count.
func treeSummary(reasons []string) string {
	count := map[string]int{}
	var order []string
	for _, r := range reasons {
		k := treeDigits.ReplaceAllString(r, "N")
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "\n  %dx %s", count[k], k)
	}
	return b.String()
}

// treeFinish waits for an app whose checkpoint was refused (it keeps
// running) and says how it ended compared with the uninterrupted run ("" if
// the same).
func treeFinish(a *app, ref string) string {
	select {
	case <-a.done:
	case <-time.After(treeTimeout):
		a.cmd.Process.Kill()
		<-a.done
		return fmt.Sprintf("did not end within %v\nstdout:\n%s", treeTimeout, a.stdout)
	}
	code := a.cmd.ProcessState.Sys().(syscall.WaitStatus).ExitStatus()
	if out := a.stdout.String(); code != 0 || out != ref {
		return fmt.Sprintf("ended with exit %d and an output that differs from the uninterrupted run's: %s\nstdout:\n%s\nstderr:\n%s",
			code, crDiff(ref, out), out, a.stderr)
	}
	return ""
}

// treeImageProcs counts the processes `crrun inspect --json` lists in img
// (-1 if inspect fails or its JSON has no processes list).
func treeImageProcs(t *testing.T, rt, img string) int {
	t.Helper()
	code, out, errs, err := crExec(rt, time.Minute, "inspect", "--json", img)
	if err != nil || code != 0 {
		t.Logf("crrun inspect --json %s: exit %d %v %s", img, code, err, errs)
		return -1
	}
	var v struct {
		Processes []json.RawMessage `json:"processes"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Processes == nil {
		t.Logf("crrun inspect --json: no processes list (%v)", err)
		return -1
	}
	return len(v.Processes)
}

// treeRoundTrip runs the two halves of v (see the top of the file).
func treeRoundTrip(t *testing.T, v treeVictim) {
	t.Helper()
	requireRoot(t)
	if _, err := os.Stat(crrunBin); err != nil {
		wd, _ := os.Getwd()
		t.Fatalf("crrun binary %s: %v (a relative CRRUN_BIN is taken from the tests' working directory %s: give an absolute path)", crrunBin, err, wd)
	}
	var ref string
	ok := t.Run("uninterrupted", func(t *testing.T) {
		dir := t.TempDir()
		a := start(t, opts{dir: dir}, append(append(slices.Clone(v.flags), "--"), v.argv(t, dir)...)...)
		code := a.wait(treeTimeout)
		out := a.stdout.String()
		if code != 0 || !crPassed(out) {
			t.Fatalf("uninterrupted run under crrun: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, a.stderr)
		}
		ref = out
	})
	t.Run("checkpoint", func(t *testing.T) {
		if !ok {
			t.Skip("the uninterrupted run failed")
		}
		treeCheckpointRestore(t, v, ref)
	})
}

func treeCheckpointRestore(t *testing.T, v treeVictim, ref string) {
	// A machine quicker (or a victim luckier) than measured may end the
	// work before the random moment: nothing left to prove. Once, again
	// with the moment halved.
	if treeTry(t, v, ref) {
		t.Logf("the app ended its work before the checkpoint: again, the checkpoint within %v", v.hi/2)
		v.hi /= 2
		v.lo = min(v.lo, v.hi/2)
		if treeTry(t, v, ref) {
			t.Fatalf("the app ended its work before the checkpoint twice: make it run longer")
		}
	}
}

// treeTry is one checkpoint and restore of treeCheckpointRestore; it
// reports an app that ended before the checkpoint could freeze it.
func treeTry(t *testing.T, v treeVictim, ref string) (endedFirst bool) {
	requireCR(t)
	rng := crRand(t)
	store, dir := t.TempDir(), t.TempDir()
	a := start(t, opts{dir: dir}, append(append(append([]string{"--dir", store}, v.flags...), "--"), v.argv(t, dir)...)...)
	crWaitStderr(t, a, v.name+": running", treeTimeout)
	pid := crVictimPid(t, a.stderr.String(), v.name, false)
	st := treeWaitProcs(t, a, v.minProcs, 10*time.Second)
	d := crDelay(rng, v.lo, v.hi)
	t.Logf("checkpoint %v after %q; the tree was: %s", d, v.name+": running", treeProcs(st))
	time.Sleep(d)
	if crExited(a) {
		return true
	}
	// The host pids of the tree, to see them gone later.
	var hostPids []int
	if st2, err := a.crrunCmd("status", "--json", strconv.Itoa(a.cmd.Process.Pid)); err == nil {
		var s Status
		if json.Unmarshal([]byte(st2), &s) == nil {
			st = &s
			t.Logf("tree at the checkpoint: %s", treeProcs(st))
		}
	}
	for _, p := range st.Processes {
		hostPids = append(hostPids, p.Pid)
	}

	args := []string{"checkpoint"}
	if v.exitMode {
		args = append(args, "--exit")
	}
	args = append(args, strconv.Itoa(a.cmd.Process.Pid))
	t0 := time.Now()
	code, out, errs := crClient(t, a.runtime, 2*time.Minute, args...)
	if code != 0 && strings.Contains(errs, "no process of it is left to checkpoint") {
		a.cmd.Process.Kill()
		a.wait(time.Minute)
		return true
	}
	if code != 0 {
		reasons := treeReasons(errs)
		accepted := v.refusal != nil && len(reasons) > 0
		for _, r := range reasons {
			if v.refusal == nil || !v.refusal.MatchString(r) {
				accepted = false
			}
		}
		after := treeFinish(a, ref)
		if accepted {
			t.Logf("RESULT: the checkpoint was refused, as allowed (%d reasons):%s", len(reasons), treeSummary(reasons))
			if after != "" {
				t.Errorf("after the refused checkpoint the app %s", after)
			}
			return false
		}
		if after == "" {
			after = "ran on to the end as if nothing had happened"
		}
		t.Errorf("crrun %s refused (exit %d); the app is a tree (%s)\nreasons (%d):%s\ncrrun checkpoint's stderr:\n%s\nafter the refusal the app %s",
			strings.Join(args, " "), code, treeProcs(st), len(reasons), treeSummary(reasons), errs, after)
		return false
	}
	img := crImagePath(t, out, store)
	t.Logf("crrun %s: %s in %v", strings.Join(args, " "), img, time.Since(t0).Round(time.Millisecond))
	restoreArg := store
	if v.exitMode {
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("crrun exited %d after `crrun checkpoint --exit`, want %d\nstderr:\n%s", code, crExitCheckpointed, a.stderr)
		}
	} else {
		time.Sleep(crDelay(rng, 50*time.Millisecond, 300*time.Millisecond)) // the app runs on
		a.cmd.Process.Kill()
		a.wait(time.Minute)
		restoreArg = img
	}
	for _, hp := range hostPids {
		crWaitGone(t, hp)
	}
	if n := treeImageProcs(t, a.runtime, img); n >= 0 {
		t.Logf("the image holds %d processes", n)
		// (A victim whose children come and go — vfork's exec /bin/true
		// and are reaped — asks for one process only.)
		if n < 2 && v.minProcs >= 2 {
			t.Errorf("the image holds %d process(es); the app was a tree (%s)", n, treeProcs(st))
		}
	}
	before := a.stdout.String()

	r := start(t, opts{dir: dir}, "restore", restoreArg)
	code = r.wait(time.Minute)
	after := r.stdout.String()
	if code != 0 {
		t.Fatalf("crrun restore %s: exit %d, want 0\nstdout before the checkpoint:\n%s\nstdout after the restore:\n%s\nstderr:\n%s",
			restoreArg, code, before, after, r.stderr)
	}
	crCheckJoin(t, ref, before, after, v.exitMode)
	if end := crVictimPid(t, a.stderr.String()+r.stderr.String(), v.name, true); end != pid {
		t.Errorf("the restored app has pid %d, it had %d", end, pid)
	}
	t.Logf("RESULT: restored and PASSed")
	return false
}

// TestTreePipeline: a bash job of pipelines — producer | tee | sort | uniq
// -c | gzip in the foreground and producer | gzip as a background job —
// with data streaming through the pipes when the checkpoint lands; the
// script checks every exit status and the sha256 of the result against a
// pipe-free awk count.
func TestTreePipeline(t *testing.T) {
	t.Parallel()
	bash := treeNeed(t, "bash", "gzip", "zcat", "sort", "uniq", "tee", "awk", "sha256sum", "cmp")
	treeRoundTrip(t, treeVictim{
		name: "pipeline",
		argv: func(t *testing.T, dir string) []string {
			return []string{bash, treeFile("pipeline.sh"), treeCompile(t, "producer"), dir}
		},
		lo: 300 * time.Millisecond, hi: 3 * time.Second, exitMode: true, minProcs: 6,
	})
}

// TestTreePool: a Python multiprocessing.Pool of 4 forked workers (pipes,
// semaphores in deleted /dev/shm files, handler threads) mapping a
// computation, checked against a serial run; the workers keep their pids
// and parent.
func TestTreePool(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	py := crPython(t)
	treeRoundTrip(t, treeVictim{
		name: "pool.py",
		argv: func(t *testing.T, dir string) []string { return []string{py, treeFile("pool.py")} },
		lo:   200 * time.Millisecond, hi: 2500 * time.Millisecond, exitMode: false, minProcs: 5,
	})
}

// TestTreeMake: make -j2 of a small C project (every compile sleeps first),
// checkpointed among make, sh, sleep, gcc, cc1 and as; the program built
// must print the expected output and no target may be built twice.
func TestTreeMake(t *testing.T) {
	t.Parallel()
	bash := treeNeed(t, "bash", "make", "cc", "cmp")
	treeRoundTrip(t, treeVictim{
		name: "make",
		argv: func(t *testing.T, dir string) []string {
			return []string{bash, treeFile("build.sh"), treeFile("makeproj"), dir}
		},
		lo: 200 * time.Millisecond, hi: 2500 * time.Millisecond, exitMode: true, minProcs: 3,
	})
}

// TestTreeZombie: two unreaped zombies (exit 42, SIGTERM) reaped after the
// restore with their statuses and the pids fork returned; a setsid child and
// a setpgid child keep their session and process group.
func TestTreeZombie(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "zombie",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "zombie")} },
		lo:   100 * time.Millisecond, hi: 2200 * time.Millisecond, exitMode: false, minProcs: 3,
	})
}

// TestTreeForkShared: a parent and 3 children with pipes holding data, one
// file offset shared by all four, a MAP_SHARED|MAP_ANONYMOUS counter region
// incremented with atomics and a memfd mapped shared. SIGKILL mode: the log
// grows after the checkpoint and must be cut back by the restore.
func TestTreeForkShared(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "forktree",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "forktree"), dir} },
		lo:   100 * time.Millisecond, hi: 2800 * time.Millisecond, exitMode: false, minProcs: 4,
	})
}

// TestTreeGoPipe: a Go program reading its child's stdout through
// exec.Cmd.StdoutPipe (the runtime poller's epoll watches the pipe; os/exec
// holds a pidfd) while data waits in the pipe.
func TestTreeGoPipe(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "gopipe",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompileGo(t, "gopipe")} },
		lo:   100 * time.Millisecond, hi: 2400 * time.Millisecond, exitMode: false, minProcs: 2,
	})
}

// TestTreeTimerfd: an epoll loop on a periodic timerfd, an eventfd a child
// writes to and a signalfd for SIGCHLD; the tick count must be plausible
// (the downtime is not counted as ticks) and the timer keep its period.
func TestTreeTimerfd(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "timerloop",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "timerloop")} },
		lo:   100 * time.Millisecond, hi: 2 * time.Second, exitMode: false, minProcs: 2,
	})
}

// TestTreeSocketpair: a writer and a slow reader on socketpair(AF_UNIX,
// SOCK_STREAM) with data in flight both ways (bursts one way, acks back).
func TestTreeSocketpair(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	treeRoundTrip(t, treeVictim{
		name: "sockpair",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "sockpair")} },
		lo:   100 * time.Millisecond, hi: 2400 * time.Millisecond, exitMode: true, minProcs: 2,
	})
}

// TestTreePty: an echo loop on a pty the app created (posix_openpt) in a
// session of its own, whose controlling terminal it is. The engine saves the
// pty (termios, window size, the session's controlling terminal and
// foreground group) and restores it on a new pair; it refuses the
// checkpoint only when bytes are in flight through the pty at that moment,
// with a reason naming the pty — accepted here, and logged.
func TestTreePty(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	treeRoundTrip(t, treeVictim{
		name: "pty",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "pty")} },
		lo:   100 * time.Millisecond, hi: 2400 * time.Millisecond, exitMode: true, minProcs: 2,
		refusal: regexp.MustCompile(`(?i)\bpty\b|ptmx|/dev/pts|pseudo-?terminal|\bterminal\b|\btty\b`),
	})
}
