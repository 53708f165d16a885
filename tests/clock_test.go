package tests

// The app's clocks across a checkpoint (docs/design.md, "Clocks"): the
// corpus program tests/corpus/clock.c samples CLOCK_MONOTONIC and
// CLOCK_BOOTTIME through the vdso and the syscall and arms a timerfd, a
// POSIX timer, a nanosleep and an absolute clock_nanosleep before the
// checkpoint; it fails if a clock goes back or a timer fires early or late.
//
// A host with a shorter uptime is simulated without any knob in crrun: the
// first life runs under `unshare --time --monotonic 3600 --boottime 3600`
// (crrun and the app see clocks an hour ahead of this host's, as on a host
// up for an hour longer), the restore runs on the host's own clocks. Without
// the app's time namespace its clocks would go back by an hour.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clockLife is one run of the clock program (or its restore) under crrun.
type clockLife struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
}

func clockStart(t *testing.T, cmd *exec.Cmd) *clockLife {
	t.Helper()
	l := &clockLife{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			cmd.Process.Kill()
			<-l.done
		}
	})
	return l
}

func (l *clockLife) wait(t *testing.T, what string) int {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(2 * time.Minute):
		l.cmd.Process.Kill()
		<-l.done
		t.Fatalf("%s did not end within 2 min\nstderr:\n%s", what, l.stderr)
	}
	return l.cmd.ProcessState.ExitCode()
}

// clockEnv is what a clock test needs: a crrun command maker (root or
// nobody, in a runtime dir of its own) and a store.
type clockEnv struct {
	crrun func(args ...string) *exec.Cmd
	store string
	bin   string
}

func newClockEnv(t *testing.T, nobody bool) clockEnv {
	t.Helper()
	requireCR(t)
	bin := corpusBin(t, "clock")
	if nobody {
		dir, asNobody := nobodyEnv(t)
		return clockEnv{crrun: asNobody, store: filepath.Join(dir, "ck"), bin: bin}
	}
	rt, dir := runtimeDir(t), t.TempDir()
	return clockEnv{crrun: func(args ...string) *exec.Cmd {
		cmd := exec.Command(crrunBin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		cmd.Dir = dir
		return cmd
	}, store: filepath.Join(dir, "ck"), bin: bin}
}

// firstLife runs the clock program (CLOCK_HIDDEN_MIN_MS=hiddenMin) with a
// checkpoint --exit 300 ms after it is running, before its timers are due;
// wrap prefixes the crrun command (unshare…), env is added to crrun's.
func (e clockEnv) firstLife(t *testing.T, hiddenMin string, wrap []string, env ...string) *clockLife {
	t.Helper()
	cmd := e.crrun("--dir", e.store, "--", e.bin)
	if len(wrap) > 0 {
		cmd.Args = append(append(append([]string{}, wrap...), cmd.Path), cmd.Args[1:]...)
		p, err := exec.LookPath(wrap[0])
		if err != nil {
			t.Skipf("%s: %v", wrap[0], err)
		}
		cmd.Path = p
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(append(cmd.Env, "CLOCK_HIDDEN_MIN_MS="+hiddenMin), env...)
	l := clockStart(t, cmd)
	if err := eventually(time.Minute, func() bool { return strings.Contains(l.stderr.String(), "clock: running") || crDone(l.done) }); err != nil || crDone(l.done) {
		t.Fatalf("never running: %v\nstdout:\n%s\nstderr:\n%s", err, l.stdout, l.stderr)
	}
	time.Sleep(300 * time.Millisecond)
	ck := e.crrun("checkpoint", "--exit")
	if out, err := ck.CombinedOutput(); err != nil {
		t.Fatalf("checkpoint --exit: %v\n%s\napp stderr:\n%s", err, out, l.stderr)
	}
	if code := l.wait(t, "the checkpointed app"); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after checkpoint --exit, want %d\nstderr:\n%s", code, crExitCheckpointed, l.stderr)
	}
	if crPassed(l.stdout.String()) {
		t.Fatalf("the app ended before the checkpoint:\n%s", l.stderr)
	}
	return l
}

func (e clockEnv) restore(t *testing.T, env ...string) *clockLife {
	t.Helper()
	cmd := e.crrun("restore", e.store)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	l := clockStart(t, cmd)
	l.wait(t, "the restore")
	return l
}

func (l *clockLife) mustPass(t *testing.T, what string) {
	t.Helper()
	if code := l.cmd.ProcessState.ExitCode(); code != 0 || !crPassed(l.stdout.String()) {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, code, l.stdout, l.stderr)
	}
	t.Logf("%s: %s", what, grepLines(l.stderr.String(), "biggest step"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// clockImage reads the clocks the newest image of store recorded.
func clockImage(t *testing.T, store string) (mono, boot int64, timeNS bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, "latest", "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Clocks *struct {
			Monotonic int64 `json:"monotonic_ns"`
			Boottime  int64 `json:"boottime_ns"`
			TimeNS    bool  `json:"time_ns"`
		} `json:"clocks"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Clocks == nil {
		t.Fatalf("image.json: no clocks (%v)", err)
	}
	return m.Clocks.Monotonic, m.Clocks.Boottime, m.Clocks.TimeNS
}

// requireUnshareTime skips where util-linux's unshare cannot make a time
// namespace with offsets (root, CONFIG_TIME_NS, util-linux 2.36+).
func requireUnshareTime(t *testing.T) []string {
	t.Helper()
	requireRoot(t)
	wrap := []string{"unshare", "--time", "--monotonic", "3600", "--boottime", "3600", "--"}
	out, err := exec.Command(wrap[0], append(wrap[1:], "cat", "/proc/self/timens_offsets")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3600") {
		t.Skipf("cannot simulate a host up for an hour longer (unshare --time --monotonic 3600): %v %s", err, out)
	}
	return wrap
}

// The downtime between checkpoint and restore is hidden: across the restore
// the wall clock moves by the 4 s downtime (and the pause and the restore),
// the app's CLOCK_MONOTONIC by at least 3 s less; timers armed before the
// checkpoint fire on time by the app's clock.
func TestClockDowntimeHidden(t *testing.T) {
	for _, nobody := range []bool{false, true} {
		name := map[bool]string{false: "root", true: "user"}[nobody]
		t.Run(name, func(t *testing.T) {
			e := newClockEnv(t, nobody)
			e.firstLife(t, "3000", nil)
			time.Sleep(4 * time.Second)
			r := e.restore(t)
			r.mustPass(t, "restore 4 s later")
			if !strings.Contains(r.stderr.String(), "clocks: the app's CLOCK_MONOTONIC goes on from") {
				t.Errorf("the restore did not say how it set the app's clocks:\n%s", r.stderr)
			}
			if _, _, tns := clockImage(t, e.store); !tns {
				t.Errorf("image.json: the app was not in a time namespace of crrun's")
			}
		})
	}
}

// A requeued job lands on a host up for an hour less than the one it was
// checkpointed on: its clocks go on, they do not go back by an hour.
func TestClockShorterUptime(t *testing.T) {
	wrap := requireUnshareTime(t)
	e := newClockEnv(t, false)
	e.firstLife(t, "0", wrap)
	mono, boot, _ := clockImage(t, e.store)
	var up float64
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		b = []byte(strings.Fields(string(b))[0])
		json.Unmarshal(b, &up)
	}
	if time.Duration(mono) < time.Hour || time.Duration(boot) < time.Hour {
		t.Fatalf("the first life's clocks were not an hour ahead: monotonic %v boottime %v", time.Duration(mono), time.Duration(boot))
	}
	t.Logf("saved monotonic %v, this host's uptime %.0f s", time.Duration(mono), up)
	e.restore(t).mustPass(t, "restore on the host an hour behind")
}

// Without time namespaces (simulated with the test-only knob
// CRRUN_TEST_NO_TIME_NS=1): a restore that would move the app's clocks back
// is refused with the reason, and one that moves them forward says so.
func TestClockNoTimeNS(t *testing.T) {
	const knob = "CRRUN_TEST_NO_TIME_NS=1"
	t.Run("refuse", func(t *testing.T) {
		wrap := requireUnshareTime(t)
		e := newClockEnv(t, false)
		e.firstLife(t, "0", wrap)
		r := e.restore(t, knob)
		if code := r.cmd.ProcessState.ExitCode(); code != 125 ||
			!strings.Contains(r.stderr.String(), "no time namespaces (CONFIG_TIME_NS), and the app's CLOCK_MONOTONIC would go back by") {
			t.Fatalf("restore without time namespaces: exit %d, want 125 naming the clock\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
		if r.stdout.String() != "" {
			t.Errorf("the refused restore ran the app: %q", r.stdout)
		}
		e.restore(t).mustPass(t, "the same image restored with time namespaces")
	})
	t.Run("forward", func(t *testing.T) {
		e := newClockEnv(t, false)
		l := e.firstLife(t, "0", nil, knob)
		if !strings.Contains(l.stderr.String(), "clocks: this kernel has no time namespaces") {
			t.Errorf("the launch did not say it runs without a time namespace:\n%s", l.stderr)
		}
		if _, _, tns := clockImage(t, e.store); tns {
			t.Errorf("image.json says the app had a time namespace")
		}
		r := e.restore(t, knob)
		r.mustPass(t, "restore without time namespaces")
		if !strings.Contains(r.stderr.String(), "CLOCK_MONOTONIC jumps forward by") {
			t.Errorf("the restore did not say the clocks jump forward:\n%s", r.stderr)
		}
	})
}

// The restore checks the clocks it set before the app runs: offsets broken
// on purpose (the test-only knob CRRUN_TEST_CLOCK_SKEW=30s computes them as
// if this host's clocks read 30 s more, leaving the app's 30 s behind) are
// refused, the tree killed before it ran.
func TestClockVerified(t *testing.T) {
	e := newClockEnv(t, false)
	e.firstLife(t, "0", nil)
	r := e.restore(t, "CRRUN_TEST_CLOCK_SKEW=30s")
	if code := r.cmd.ProcessState.ExitCode(); code != 125 ||
		!strings.Contains(r.stderr.String(), "reads CLOCK_MONOTONIC") || !strings.Contains(r.stderr.String(), "its clocks would go back") {
		t.Fatalf("restore with broken offsets: exit %d, want 125 naming the clock\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if r.stdout.String() != "" {
		t.Errorf("the refused restore ran the app: %q", r.stdout)
	}
	e.restore(t).mustPass(t, "the same image restored without the knob")
}
