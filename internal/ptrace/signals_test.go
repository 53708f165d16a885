package ptrace

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Pending signals of a stopped thread: its own queue and the shared one.
func TestPeekSiginfo(t *testing.T) {
	e := setup(t)
	v := e.start("signals") // blocks SIGUSR2 and SIGRTMIN, queued SIGRTMIN 4242 to itself
	rtmin, _ := strconv.Atoi(v.ready[2])
	if err := unix.Tgkill(v.pid, v.pid, unix.SIGUSR2); err != nil { // thread queue
		t.Fatal(err)
	}
	if err := unix.Kill(v.pid, unix.SIGUSR2); err != nil { // shared queue
		t.Fatal(err)
	}
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	own, err := e.tr.PeekSiginfo(v.pid, false)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := e.tr.PeekSiginfo(v.pid, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range own {
		t.Logf("thread queue: %v", &s)
	}
	for _, s := range shared {
		t.Logf("shared queue: %v value=%d", &s, s.Value())
	}
	const siTkill, siUser, siQueue = -6, 0, -1
	if len(own) != 1 || own[0].Signo() != unix.SIGUSR2 || own[0].Code() != siTkill || int(own[0].Pid()) != os.Getpid() {
		t.Errorf("thread queue: %v", own)
	}
	var sawRT, sawUSR2 bool
	for _, s := range shared {
		switch {
		case int(s.Signo()) == rtmin && s.Code() == siQueue && s.Value() == 4242 && int(s.Pid()) == v.pid:
			sawRT = true
		case s.Signo() == unix.SIGUSR2 && s.Code() == siUser && int(s.Pid()) == os.Getpid():
			sawUSR2 = true
		}
	}
	if !sawRT || !sawUSR2 || len(shared) != 2 {
		t.Errorf("shared queue: %d entries, SIGRTMIN seen %v, SIGUSR2 seen %v", len(shared), sawRT, sawUSR2)
	}
	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
}

// A signal the thread dequeued before it stopped (a signal-delivery-stop met by
// Interrupt) is put back in its queue with its siginfo, stays visible to
// PeekSiginfo, survives an injection, and reaches the handler after Detach.
// The injection leaves the program's SIGTRAP handler alone.
func TestSignalDeliveryStopRequeued(t *testing.T) {
	e := setup(t)
	v := e.start("signals")
	waitUntil(t, "the victim to block in read", func() bool { return blockedIn(v.pid) == unix.SYS_READ })
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	// Traced, the thread stops in a signal-delivery-stop on its own.
	if err := sigqueueTo(v.pid, unix.SIGUSR1, 99); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the signal-delivery-stop", func() bool { s, _ := threadState(v.pid); return s == 't' })
	maskBefore := Sigset(0)
	st, err := e.tr.Interrupt(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != StopInterrupt || len(st.Requeued) != 1 {
		t.Fatalf("Interrupt: %v, requeued %v", st.Stop, st.Requeued)
	}
	rq := st.Requeued[0]
	if rq.Signo() != unix.SIGUSR1 || rq.Code() != -1 || rq.Value() != 99 || int(rq.Pid()) != os.Getpid() {
		t.Fatalf("requeued %v value=%d", &rq, rq.Value())
	}
	if m, _ := e.tr.GetSigmask(v.pid); m.Has(unix.SIGUSR1) {
		t.Fatalf("SIGUSR1 left blocked: %#x", uint64(m))
	} else {
		maskBefore = m
	}
	shared, _ := e.tr.PeekSiginfo(v.pid, true)
	own, _ := e.tr.PeekSiginfo(v.pid, false)
	found := ""
	for _, s := range shared {
		if s == rq {
			found = "shared"
		}
	}
	for _, s := range own {
		if s == rq {
			found = "thread"
		}
	}
	// kill/sigqueue to a process use the shared queue; the requeue keeps it
	// there (Linux >= 5.13) with the same siginfo.
	if found != "shared" {
		t.Fatalf("requeued signal found in queue %q; shared %v, thread %v", found, shared, own)
	}

	if got, err := e.tr.Inject(v.pid, unix.SYS_GETPID); err != nil || got != int64(v.pid) {
		t.Fatalf("getpid: %d, %v", got, err)
	}
	if m, _ := e.tr.GetSigmask(v.pid); m != maskBefore {
		t.Fatalf("mask %#x after injection, want %#x", uint64(m), uint64(maskBefore))
	}
	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	v.send("p\n")
	want := fmt.Sprintf("usr1 n=1 code=-1 pid=%d value=99", os.Getpid())
	if l := v.line(); l != want {
		t.Fatalf("victim: %q, want %q", l, want)
	}
	v.send("t\n")
	if l := v.line(); l != "trap n=1" {
		t.Fatalf("victim after raise(SIGTRAP): %q (handler lost?)", l)
	}
}

// Detach with a signal sends it (tgkill) so it is not lost in an interrupt-stop.
func TestDetachWithSignal(t *testing.T) {
	e := setup(t)
	v := e.start("signals")
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Detach(v.pid, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	v.send("p\n")
	want := fmt.Sprintf("usr1 n=1 code=-6 pid=%d value=0", os.Getpid())
	if l := v.line(); l != want {
		t.Fatalf("victim: %q, want %q", l, want)
	}
}
