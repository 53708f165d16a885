package ptrace

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTracerThread(t *testing.T) {
	tr := New()
	defer tr.Close()
	var in int
	if err := tr.Do(func() error { in = unix.Gettid(); return nil }); err != nil {
		t.Fatal(err)
	}
	if in != tr.ThreadID() {
		t.Errorf("Do ran on thread %d, tracer thread is %d", in, tr.ThreadID())
	}
	if in == os.Getpid() {
		t.Errorf("tracer thread is the main thread")
	}
	// Methods called inside Do run inline instead of deadlocking.
	done := make(chan error, 1)
	go func() {
		done <- tr.Do(func() error {
			_ = tr.Tracees()
			_, err := tr.GetRegs(1)
			if !errors.Is(err, ErrNotTraced) {
				return fmt.Errorf("GetRegs of an untraced thread: %v, want ErrNotTraced", err)
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nested call from Do deadlocked")
	}

	tr2 := New()
	tid := tr2.ThreadID()
	if err := tr2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err == nil {
		t.Errorf("tracer thread %d still exists after Close", tid)
	}
	if err := tr2.Seize(1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Seize after Close: %v, want ErrClosed", err)
	}
	if err := tr2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSeizeInterruptDetachSingleThread(t *testing.T) {
	e := setup(t)
	v := e.start("spin")
	counter := v.hexField(2)
	read := func() uint64 { return readU64s(t, v.pid, counter, 1)[0] }

	if err := e.tr.Seize(v.pid, TraceClone|TraceFork); err != nil {
		t.Fatal(err)
	}
	st, err := e.tr.Interrupt(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != StopInterrupt {
		t.Fatalf("stop %v, want interrupt-stop", st.Stop)
	}
	if s := state(t, v.pid); s != 't' {
		t.Fatalf("state %c, want t (tracing stop)", s)
	}
	c1 := read()
	time.Sleep(50 * time.Millisecond)
	if c2 := read(); c1 != c2 {
		t.Fatalf("counter moved while stopped: %d -> %d", c1, c2)
	}
	// Interrupt of a stopped thread returns the same stop.
	if st2, err := e.tr.Interrupt(v.pid); err != nil || st2.Kind != StopInterrupt {
		t.Fatalf("second Interrupt: %v %v", st2.Stop, err)
	}
	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the counter to move after Detach", func() bool { return read() > c1 })
	if tp, _ := readTracerPid(v.pid); tp != 0 {
		t.Errorf("TracerPid %d after Detach", tp)
	}
	if s := state(t, v.pid); s == 't' || s == 'Z' {
		t.Errorf("state %c after Detach", s)
	}
	if len(e.tr.Tracees()) != 0 {
		t.Errorf("tracees left: %v", e.tr.Tracees())
	}
}

func TestFreezeEightThreads(t *testing.T) {
	e := setup(t)
	v := e.start("threads", "8", "0")
	counters := v.hexField(2)
	tasks, err := listTasks(v.pid)
	if err != nil || len(tasks) != 8 {
		t.Fatalf("victim has threads %v (%v), want 8", tasks, err)
	}

	f, err := e.tr.FreezeProcess(v.pid, TraceClone)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Threads, tasks) {
		t.Fatalf("frozen %v, tasks %v", f.Threads, tasks)
	}
	for _, tid := range f.Threads {
		if s := state(t, tid); s != 't' {
			t.Errorf("thread %d state %c, want t", tid, s)
		}
		if k := f.Stops[tid].Kind; k != StopInterrupt {
			t.Errorf("thread %d: %v", tid, f.Stops[tid].Stop)
		}
		if _, err := e.tr.GetRegs(tid); err != nil {
			t.Error(err)
		}
	}
	c1 := readU64s(t, v.pid, counters, 8)
	time.Sleep(100 * time.Millisecond)
	if c2 := readU64s(t, v.pid, counters, 8); !slices.Equal(c1, c2) {
		t.Fatalf("counters moved while frozen: %v -> %v", c1, c2)
	}

	if err := e.tr.Thaw(f); err != nil {
		t.Fatal(err)
	}
	for _, tid := range tasks {
		waitUntil(t, fmt.Sprintf("thread %d to leave the tracing stop", tid), func() bool {
			s, err := threadState(tid)
			return err == nil && s != 't'
		})
	}
	// Every worker runs again: each spinner's and sleeper's counter moves.
	waitUntil(t, "every worker counter to move", func() bool {
		c := readU64s(t, v.pid, counters, 8)
		for i := 1; i < 8; i++ {
			if i != 3 && c[i] == c1[i] { // thread 3 waits on a condvar
				return false
			}
		}
		return true
	})
	// The main thread was interrupted in read(2) on stdin: it still reads.
	v.send("c\n")
	if l := v.line(); !strings.HasPrefix(l, "sum ") {
		t.Fatalf("after thaw: %q", l)
	}
}

func TestFreezeWithThreadChurn(t *testing.T) {
	e := setup(t)
	v := e.start("threads", "4", "1")
	churned := v.hexField(3)
	last := readU64s(t, v.pid, churned, 1)[0]
	for round := 0; round < 5; round++ {
		f, err := e.tr.FreezeProcess(v.pid, TraceClone)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		tasks, err := listTasks(v.pid)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tasks, f.Threads) {
			t.Fatalf("round %d: frozen %v, tasks now %v", round, f.Threads, tasks)
		}
		for _, tid := range tasks {
			if s := state(t, tid); s != 't' {
				t.Fatalf("round %d: thread %d state %c", round, tid, s)
			}
		}
		c := readU64s(t, v.pid, churned, 1)[0]
		time.Sleep(20 * time.Millisecond)
		if c2 := readU64s(t, v.pid, churned, 1)[0]; c2 != c {
			t.Fatalf("round %d: churn moved while frozen", round)
		}
		var attached int
		for _, s := range f.Stops {
			attached += len(s.Attached)
		}
		t.Logf("round %d: %d threads frozen, %d auto-attached on the way, churned %d", round, len(f.Threads), attached, c)
		if err := e.tr.Thaw(f); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := len(e.tr.Tracees()); n != 0 {
			t.Fatalf("round %d: %d tracees left after thaw: %v", round, n, e.tr.Tracees())
		}
		waitUntil(t, "thread churn to go on", func() bool { return readU64s(t, v.pid, churned, 1)[0] > c })
		last = c
	}
	v.send("c\n")
	if l := v.line(); !strings.HasPrefix(l, "sum ") {
		t.Fatalf("victim: %q", l)
	}
	t.Logf("churned at least %d threads", last)
}

func TestFreezeZombieLeader(t *testing.T) {
	e := setup(t)
	v := e.start("zleader")
	counters := v.hexField(2)
	waitUntil(t, "the leader to become a zombie", func() bool {
		s, err := threadState(v.pid)
		return err == nil && s == 'Z'
	})
	f, err := e.tr.FreezeProcess(v.pid, TraceClone)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Zombies, []int{v.pid}) || len(f.Threads) != 2 {
		t.Fatalf("threads %v zombies %v, want 2 threads and the leader as zombie", f.Threads, f.Zombies)
	}
	// A zombie leader has no mm: read through a live thread.
	live := f.Threads[0]
	c1 := readU64s(t, live, counters, 3)
	time.Sleep(50 * time.Millisecond)
	if c2 := readU64s(t, live, counters, 3); !slices.Equal(c1, c2) {
		t.Fatalf("counters moved while frozen")
	}
	// Interrupt on a zombie leader that is not traced.
	if _, err := e.tr.Interrupt(v.pid); !errors.Is(err, ErrNotTraced) {
		t.Errorf("Interrupt(zombie leader): %v", err)
	}
	if err := e.tr.Thaw(f); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the threads to run again", func() bool {
		c := readU64s(t, live, counters, 3)
		return c[1] > c1[1] && c[2] > c1[2]
	})
}

func TestGroupStop(t *testing.T) {
	e := setup(t)
	v := e.start("spin")
	counter := v.hexField(2)
	if err := unix.Kill(v.pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "job-control stop", func() bool { s, _ := threadState(v.pid); return s == 'T' })
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	st, err := e.tr.Interrupt(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != StopGroup || st.Signal != unix.SIGSTOP {
		t.Fatalf("stop %v, want group-stop SIGSTOP", st.Stop)
	}
	if pid, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || pid != int64(v.pid) {
		t.Fatalf("inject getpid from group-stop: %d, %v", pid, err)
	}
	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	// Still stopped by job control after Detach; SIGCONT resumes it.
	waitUntil(t, "job-control stop after Detach", func() bool { s, _ := threadState(v.pid); return s == 'T' })
	c := readU64s(t, v.pid, counter, 1)[0]
	if err := unix.Kill(v.pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the counter to move after SIGCONT", func() bool { return readU64s(t, v.pid, counter, 1)[0] > c })
}

func TestErrors(t *testing.T) {
	e := setup(t)

	// A thread that does not exist.
	dead := e.start("read")
	dead.stdin.Close()
	if l := dead.line(); l != "got 0:" {
		t.Fatalf("victim: %q", l)
	}
	_ = dead.wait()
	err := e.tr.Seize(dead.pid, 0)
	var pe *Error
	if !errors.As(err, &pe) || pe.Op != "PTRACE_SEIZE" || pe.Tid != dead.pid {
		t.Fatalf("Seize of a dead pid: %#v", err)
	}
	if !errors.Is(err, unix.ESRCH) || !errors.Is(err, ErrVanished) ||
		!strings.Contains(err.Error(), fmt.Sprintf("thread %d vanished", dead.pid)) {
		t.Errorf("Seize of a dead pid: %v", err)
	}

	v := e.start("read")
	if _, err := e.tr.GetRegs(v.pid); !errors.Is(err, ErrNotTraced) {
		t.Errorf("GetRegs untraced: %v", err)
	}
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Seize(v.pid, 0); !errors.Is(err, ErrAlreadyTraced) {
		t.Errorf("second Seize: %v", err)
	}
	if _, err := e.tr.GetRegs(v.pid); !errors.Is(err, ErrNotStopped) {
		t.Errorf("GetRegs of a running tracee: %v", err)
	}
	if _, err := e.tr.GetXstate(v.pid); !errors.As(err, &pe) || pe.Op != "PTRACE_GETREGSET NT_X86_XSTATE" {
		t.Errorf("GetXstate of a running tracee: %v", err)
	}
	if _, err := e.tr.Inject(v.pid, unix.SYS_GETPID); !errors.Is(err, ErrNotStopped) {
		t.Errorf("Inject into a running tracee: %v", err)
	}

	// The tracee exits: Interrupt finds its exit status instead of a stop. A
	// traced thread stays a zombie until its tracer waits for it.
	v.stdin.Close()
	if l := v.line(); l != "got 0:" {
		t.Fatalf("victim: %q", l)
	}
	waitUntil(t, "the victim to exit", func() bool { s, _ := threadState(v.pid); return s == 'Z' })
	_, err = e.tr.Interrupt(v.pid)
	var ee *ExitError
	if !errors.Is(err, ErrVanished) || !errors.As(err, &ee) || !ee.Status.Exited() || ee.Status.ExitStatus() != 0 {
		t.Fatalf("Interrupt of an exiting tracee: %v", err)
	}
	t.Logf("exit seen as: %v", err)
	if len(e.tr.Tracees()) != 0 {
		t.Errorf("exited tracee still listed: %v", e.tr.Tracees())
	}
}

// mainThreadTracer is started while the test binary's main goroutine is still
// locked to the main thread (package initialisation), to exercise the
// hand-over in serve: the tracer thread must never be the main thread.
var mainThreadTracer *Tracer

func init() {
	if unix.Gettid() != unix.Getpid() {
		return
	}
	mainThreadTracer = alloc()
	ready := make(chan int, 1)
	mainThreadTracer.serve(ready) // returns after handing over
	mainThreadTracer.tid = <-ready
}

func TestTracerNotOnMainThread(t *testing.T) {
	if mainThreadTracer == nil {
		t.Skip("package initialisation did not run on the main thread")
	}
	tr := mainThreadTracer // shared by -count runs: not closed
	if tr.ThreadID() == os.Getpid() {
		t.Fatal("tracer thread is the main thread")
	}
	var in int
	if err := tr.Do(func() error { in = unix.Gettid(); return nil }); err != nil || in != tr.ThreadID() {
		t.Fatalf("Do ran on %d (%v), tracer thread %d", in, err, tr.ThreadID())
	}
}
