package main

// The threads and tree cases: bench/threadhog.c (N blocking threads, each
// with stack data it keeps rewriting) and bench/treehog.c (N processes of
// 256 MiB each). For every repetition:
//
//  1. `crrun --dir STORE -- APP …`, until the app is ready (threadhog: its
//     ready line; treehog: one READY line from every process);
//  2. `crrun checkpoint --json PID`, the app keeps running: pause, total,
//     bytes, the app's stall; then SIGUSR2, and every thread or process
//     verifies itself (the apps keep running after a verification);
//  3. `crrun checkpoint --exit --json PID`: the batch-job way, the app is
//     ended once the image is durable and crrun must exit 75;
//  4. `crrun restore GEN` of that generation, cold (image evicted from the
//     page cache) and warm: launch to the first progress line (tree: also to
//     the first progress line of every process), SIGUSR2 and every thread or
//     process verifies; then SIGTERM ends it.
//
// A tree checkpoint refused with the app's NOCR reasons, or a restore refused
// because the image has several processes, marks the case "not supported by
// this build": reported, not counted as an error, the other repetitions
// skipped.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type xRestore struct {
	firstMS   float64 // launch -> first progress line
	allMS     float64 // launch -> every process printed progress (tree), else = firstMS
	tookMS    float64 // crrun's own "restored … took="
	cachedPct float64
	cpuMS     float64 // the restoring crrun's threads on a CPU, launch to first progress
	waitMS    float64 // … and runnable, waiting for a CPU
	err       string
}

type xResult struct {
	readyMS            float64 // app start: threads created / memory filled (the slowest process)
	totalMS, pauseMS   float64 // keep-running checkpoint
	stallMS            float64 // largest gap in the main thread's / main process's progress lines
	cpuMS, waitMS      float64 // the supervisor during the keep-running checkpoint
	bytes              int64
	threads, processes int   // as the checkpoint counted them
	du                 int64 // of the keep-running generation
	exitMS             float64
	exitBytes          int64
	cold, warm         xRestore
}

// unsupportedError: this crrun refuses what the case needs.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

var (
	// "  pid 23325: CR: more than one process (…) not supported yet"
	nocrLineRE = regexp.MustCompile(`(?m)^\s*pid \d+: (.+)$`)
	// restores that refuse a tree image (one-process engine: "the image has
	// 4 processes; this crrun restores one")
	restoreRefusedRE = regexp.MustCompile(`restores one|not supported`)
	treeReadyRE      = regexp.MustCompile(`^READY (\d+) pid=(\d+) .*fill_ms=(\d+)`)
	threadReadyRE    = regexp.MustCompile(`^THREADHOG ready .*tasks=(\d+) .*create_ms=(\d+)`)
	treeVerifyRE     = regexp.MustCompile(`^VERIFY (\d+) (PASS|FAIL)`)
	treeProgressRE   = regexp.MustCompile(`^P (\d+) `)
)

func (c caseDef) appArgv(b *bench) []string {
	p := strconv.Itoa(b.progressMS)
	var argv []string
	if c.kind == kindThreads {
		argv = []string{b.threadhog, "-t", strconv.Itoa(c.threads), "-k", strconv.Itoa(threadKiB), "-p", p}
	} else {
		argv = []string{b.treehog, "-n", strconv.Itoa(c.procs), "-m", strconv.Itoa(c.mib), "-p", p}
	}
	if b.corrupt {
		argv = append(argv, "-c")
	}
	return argv
}

// mainProgress is the prefix of the progress lines of the main thread
// (threadhog) or the main process (treehog).
func (c caseDef) mainProgress() string {
	if c.kind == kindTree {
		return "P 0 "
	}
	return "P "
}

// runScenario runs one repetition of a threads or tree case and files the
// result, the error, or the refusal.
func (b *bench) runScenario(c caseDef, rep int) {
	r, err := b.runX(c, rep)
	var ue *unsupportedError
	switch {
	case errors.As(err, &ue):
		logf("  %s: not supported by this build: %s", c.name, ue.msg)
		b.unsupported[c.name] = ue.msg
		if r.totalMS > 0 { // the checkpoint worked, the restore was refused
			b.xresults[c.name] = append(b.xresults[c.name], r)
		}
		// The same crrun refuses the other tree cases alike: spare their fill.
		for _, d := range b.cases {
			if d.kind == c.kind && b.unsupported[d.name] == "" && len(b.xresults[d.name]) == 0 {
				b.unsupported[d.name] = ue.msg + " (seen in " + c.name + ")"
			}
		}
		return
	case err != nil:
		halt()
		b.errs = append(b.errs, fmt.Sprintf("%s rep %d: %v", c.name, rep, err))
		logf("  %s rep %d FAILED: %v", c.name, rep, err)
		return
	}
	b.xresults[c.name] = append(b.xresults[c.name], r)
	all := ""
	if c.kind == kindTree {
		all = fmt.Sprintf(" (all processes cold %.0f ms, warm %.0f ms)", r.cold.allMS, r.warm.allMS)
	}
	logf("  checkpoint total %.0f ms, pause %.0f ms, stall %.0f ms, %s; --exit total %.0f ms; restore first progress cold %.0f ms, warm %.0f ms%s",
		r.totalMS, r.pauseMS, r.stallMS, fmtSize(float64(r.bytes)), r.exitMS, r.cold.firstMS, r.warm.firstMS, all)
}

func (b *bench) runX(c caseDef, rep int) (xResult, error) {
	var r xResult
	tag := fmt.Sprintf("%s-r%d", c.name, rep)
	store := filepath.Join(b.ckpt, tag)
	if err := os.Mkdir(store, 0o755); err != nil {
		return r, err
	}
	defer os.RemoveAll(store)

	out := newLineLog()
	runErr := filepath.Join(b.work, tag+"-run.err")
	app, err := start("crrun run", append([]string{b.crrun, "--dir", store, "--"}, c.appArgv(b)...), b.env, runErr, out)
	if err != nil {
		return r, err
	}
	defer app.kill(5 * time.Second)
	if r.readyMS, err = b.waitReady(c, out); err != nil {
		return r, fmt.Errorf("%v (crrun: %s)", err, readTail(runErr))
	}
	time.Sleep(300 * time.Millisecond) // threads looping, progress flowing

	// 1. Checkpoint, the app keeps running.
	cpu0, wait0 := schedSum(app.pid)
	t0 := time.Now()
	res, err := b.checkpointX(c, app.pid, tag+"-checkpoint", runErr, false)
	t1 := time.Now()
	if err != nil {
		return r, err
	}
	cpu1, wait1 := schedSum(app.pid)
	r.cpuMS, r.waitMS = ms(cpu1-cpu0), ms(wait1-wait0)
	r.totalMS, r.pauseMS, r.bytes, r.threads, r.processes = float64(res.TotalMS), float64(res.PauseMS), res.Bytes, res.Threads, res.Processes
	b.checkCounts(c, rep, "checkpoint", res)
	if err := waitLineAfter(out, c.mainProgress(), t1, 10*time.Second); err != nil {
		return r, fmt.Errorf("no progress after the checkpoint: %v", err)
	}
	r.stallMS = maxGap(out.snapshot(), c.mainProgress(), t0, t1)
	r.du, _ = diskUsage(res.Dir)
	if err := b.verifyX(c, rep, "after the checkpoint (app kept running)", out, app); err != nil {
		return r, err
	}

	// 2. Checkpoint --exit: the image the restores use.
	res, err = b.checkpointX(c, app.pid, tag+"-checkpoint-exit", runErr, true)
	if err != nil {
		return r, fmt.Errorf("checkpoint --exit: %w", err)
	}
	r.exitMS, r.exitBytes = float64(res.TotalMS), res.Bytes
	b.checkCounts(c, rep, "checkpoint --exit", res)
	if !app.wait(b.timeout) {
		return r, fmt.Errorf("crrun did not exit within %v after checkpoint --exit", b.timeout)
	}
	if d := app.exitDesc(); d != "exit 75" {
		b.errs = append(b.errs, fmt.Sprintf("%s rep %d: crrun ended with %s after checkpoint --exit, want exit 75", c.name, rep, d))
	}

	// 3. Restores.
	for i, rr := range []*xRestore{&r.cold, &r.warm} {
		mode := [2]string{"cold", "warm"}[i]
		if err := b.restoreX(c, rep, mode, res.Dir, rr); err != nil {
			halt()
			var ue *unsupportedError
			if errors.As(err, &ue) {
				for _, x := range []*xRestore{&r.cold, &r.warm} {
					x.err, x.firstMS, x.allMS, x.tookMS = "not supported by this build", -1, -1, -1
				}
				return r, err
			}
			rr.err, rr.firstMS, rr.allMS, rr.tookMS = err.Error(), -1, -1, -1
			b.errs = append(b.errs, fmt.Sprintf("%s rep %d: restore (%s cache): %v", c.name, rep, mode, err))
			logf("  %s rep %d: restore (%s cache) FAILED: %v", c.name, rep, mode, err)
		}
	}
	return r, nil
}

// waitReady waits for the app's ready line(s) and returns its start time
// (thread creation, or the slowest process's fill).
func (b *bench) waitReady(c caseDef, out *lineLog) (float64, error) {
	if c.kind == kindThreads {
		l, _, err := out.waitFor("THREADHOG ready", 0, b.timeout)
		if err != nil {
			return 0, fmt.Errorf("threadhog under crrun: %v (output: %s)", err, out.tail(3))
		}
		m := threadReadyRE.FindStringSubmatch(l.text)
		if m == nil {
			return 0, fmt.Errorf("cannot parse %q", l.text)
		}
		if tasks, _ := strconv.Atoi(m[1]); tasks != c.threads+1 {
			return 0, fmt.Errorf("threadhog runs %d threads, want %d", tasks, c.threads+1)
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		return v, nil
	}
	seen := map[string]bool{}
	slowest := 0.0
	for from := 0; len(seen) < c.procs; {
		l, i, err := out.waitFor("READY ", from, b.timeout)
		if err != nil {
			return 0, fmt.Errorf("treehog under crrun: %d of %d processes ready: %v (output: %s)", len(seen), c.procs, err, out.tail(3))
		}
		from = i + 1
		if m := treeReadyRE.FindStringSubmatch(l.text); m != nil {
			seen[m[1]] = true
			v, _ := strconv.ParseFloat(m[3], 64)
			slowest = max(slowest, v)
		}
	}
	return slowest, nil
}

// checkpointX runs `crrun checkpoint --json [--exit] PID`. A refusal of a
// tree with the app's NOCR reasons is an *unsupportedError.
func (b *bench) checkpointX(c caseDef, pid int, tag, runErr string, exit bool) (ckptJSON, error) {
	var res ckptJSON
	argv := []string{b.crrun, "checkpoint", "--json"}
	if exit {
		argv = append(argv, "--exit")
	}
	cpOut := newLineLog()
	cpErr := filepath.Join(b.work, tag+".err")
	cp, err := start("crrun checkpoint", append(argv, strconv.Itoa(pid)), b.env, cpErr, cpOut)
	if err != nil {
		return res, err
	}
	if !cp.wait(b.timeout) {
		cp.kill(time.Second)
		return res, fmt.Errorf("crrun checkpoint: no answer within %v", b.timeout)
	}
	if d := cp.exitDesc(); d != "exit 0" {
		msg, _ := os.ReadFile(cpErr)
		if c.kind == kindTree && d == "exit 1" && strings.Contains(string(msg), "not checkpointable") {
			return res, &unsupportedError{"crrun checkpoint refused: " + nocrSummary(string(msg))}
		}
		return res, fmt.Errorf("crrun checkpoint: %s: %s; supervisor: %s", d, readTail(cpErr), readTail(runErr))
	}
	js, _, err := cpOut.waitFor("{", 0, 5*time.Second)
	if err != nil {
		return res, fmt.Errorf("crrun checkpoint --json: %v", err)
	}
	if err := json.Unmarshal([]byte(js.text), &res); err != nil {
		return res, fmt.Errorf("crrun checkpoint --json: %v: %q", err, js.text)
	}
	return res, nil
}

// nocrSummary folds the reasons of a refused checkpoint: the distinct ones
// (numbers aside), the first in full, with how many there were.
func nocrSummary(msg string) string {
	var first []string
	seen := map[string]bool{}
	n := 0
	for _, m := range nocrLineRE.FindAllStringSubmatch(msg, -1) {
		n++
		key := errNoiseRE.ReplaceAllString(m[1], "#")
		if !seen[key] {
			seen[key] = true
			first = append(first, m[1])
		}
	}
	if n == 0 {
		return strings.TrimSpace(strings.ReplaceAll(msg, "\n", " "))
	}
	s := strings.Join(first, "; ")
	if n > len(first) {
		s += fmt.Sprintf(" (%d reasons in all)", n)
	}
	return s
}

// checkCounts compares the threads and processes a checkpoint saved with
// what the app runs.
func (b *bench) checkCounts(c caseDef, rep int, what string, res ckptJSON) {
	wantT, wantP := c.threads+1, 1
	if c.kind == kindTree {
		wantT, wantP = c.procs, c.procs
	}
	if res.Threads != wantT || (res.Processes != 0 && res.Processes != wantP) {
		b.errs = append(b.errs, fmt.Sprintf("%s rep %d: %s saved %d thread(s) in %d process(es), the app runs %d in %d",
			c.name, rep, what, res.Threads, res.Processes, wantT, wantP))
	}
}

// maxGap is the largest gap between lines starting with prefix that overlaps
// [t0, t1].
func maxGap(lines []stamped, prefix string, t0, t1 time.Time) float64 {
	var prev time.Time
	gap := 0.0
	for _, l := range lines {
		if !strings.HasPrefix(l.text, prefix) {
			continue
		}
		if !prev.IsZero() && l.t.After(t0) && prev.Before(t1) {
			gap = max(gap, ms(l.t.Sub(prev)))
		}
		prev = l.t
	}
	return gap
}

// verifyX sends SIGUSR2 (through crrun, which forwards it to the app's main
// process) and collects the verdict: threadhog's VERIFY line, or one VERIFY
// line from every treehog process. One check per verification.
func (b *bench) verifyX(c caseDef, rep int, what string, out *lineLog, proc *child) error {
	from := len(out.snapshot())
	// threadhog gives up on silent threads after 10 s; a treehog process
	// checks its 256 MiB in well under a second.
	timeout := min(b.timeout, 2*time.Minute)
	proc.signal(syscall.SIGUSR2)
	n := b.checks[c.name]
	n[1]++
	defer func() { b.checks[c.name] = n }()
	var fails []string
	if c.kind == kindThreads {
		v, _, err := out.waitFor("VERIFY", from, timeout)
		if err != nil {
			return fmt.Errorf("%s: no verification result: %v (output: %s)", what, err, out.tail(3))
		}
		if !strings.HasPrefix(v.text, "VERIFY PASS") {
			fails = append(fails, v.text)
		}
	} else {
		seen := map[string]bool{}
		for len(seen) < c.procs {
			v, i, err := out.waitFor("VERIFY ", from, timeout)
			if err != nil {
				return fmt.Errorf("%s: verification results from %d of %d processes: %v", what, len(seen), c.procs, err)
			}
			from = i + 1
			if m := treeVerifyRE.FindStringSubmatch(v.text); m != nil && !seen[m[1]] {
				seen[m[1]] = true
				if m[2] != "PASS" {
					fails = append(fails, v.text)
				}
			}
		}
	}
	if len(fails) == 0 {
		n[0]++
		return nil
	}
	f := strings.Join(fails, "; ")
	b.failures = append(b.failures, fmt.Sprintf("%s rep %d, %s: %s", c.name, rep, what, f))
	logf("  !!! %s rep %d, %s: %s", c.name, rep, what, f)
	return nil
}

// restoreX restores gen, times it to the first progress line (and, for a
// tree, to the first line of every process), has the app verify itself, and
// ends it.
func (b *bench) restoreX(c caseDef, rep int, mode, gen string, rr *xRestore) error {
	rs, out, rsErr, t0, err := b.startRestore(c, rep, mode, gen, &rr.cachedPct)
	if err != nil {
		return err
	}
	defer rs.kill(5 * time.Second) // reaps; no-op once it exited
	p, i, err := out.waitFor("P ", 0, b.timeout)
	if err != nil {
		rs.kill(2 * time.Second)
		msg, _ := os.ReadFile(rsErr)
		if c.kind == kindTree && restoreRefusedRE.Match(msg) {
			return &unsupportedError{"crrun restore refused: " + readTail(rsErr)}
		}
		return fmt.Errorf("%v; crrun: %s", err, readTail(rsErr))
	}
	rr.firstMS, rr.allMS = ms(p.t.Sub(t0)), ms(p.t.Sub(t0))
	cpu, wait := schedSum(rs.pid)
	rr.cpuMS, rr.waitMS = ms(cpu), ms(wait)
	if c.kind == kindTree {
		seen := map[string]bool{}
		for from := i; len(seen) < c.procs; {
			l, j, err := out.waitFor("P ", from, b.timeout)
			if err != nil {
				return fmt.Errorf("progress from %d of %d restored processes: %v; crrun: %s", len(seen), c.procs, err, readTail(rsErr))
			}
			from = j + 1
			if m := treeProgressRE.FindStringSubmatch(l.text); m != nil {
				seen[m[1]] = true
			}
			rr.allMS = ms(l.t.Sub(t0))
		}
	}
	if err := b.verifyX(c, rep, "after restore ("+mode+" cache)", out, rs); err != nil {
		return err
	}
	rr.tookMS = logDuration(rsErr, restoreLogRE, 1)
	rs.kill(5 * time.Second)
	if d := rs.exitDesc(); d != "signal terminated" {
		b.errs = append(b.errs, fmt.Sprintf("%s rep %d: restored crrun (%s cache) ended with %s on SIGTERM, want signal terminated: %s",
			c.name, rep, mode, d, readTail(rsErr)))
	}
	return nil
}

// casesOf lists the selected cases of kind k, in order.
func (b *bench) casesOf(k caseKind) []caseDef {
	return slices.DeleteFunc(slices.Clone(b.cases), func(c caseDef) bool { return c.kind != k })
}
