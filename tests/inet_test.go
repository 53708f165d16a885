package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/internal/nfhold"
)

// TCP connections crrun refuses, with their reasons: the user is told to
// use --net=private when both ends are in the app on the host's network
// (TCP_REPAIR needs CAP_NET_ADMIN there); a peer outside the app is refused
// whoever asks. The corpus (inet_*.c) has what is saved.

// TestInetRefusalHostNetUser: an ordinary user, the host's network, a
// connection inside the app.
func TestInetRefusalHostNetUser(t *testing.T) {
	t.Parallel()
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	bin := compileC(t, "inet_peer", false)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := asNobody("--dir", filepath.Join(dir, "ck"), "--", bin)
	cmd.Stdin = r
	_, errb, done := startCmd(t, cmd)
	r.Close()
	if err := eventually(30*time.Second, func() bool { return strings.Contains(errb.String(), "inet_peer: running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\n%s", err, errb)
	}
	ck := asNobody("checkpoint", "--exit", strconv.Itoa(cmd.Process.Pid))
	var out bytes.Buffer
	ck.Stdout, ck.Stderr = &out, &out
	if err := ck.Run(); err == nil || ck.ProcessState.ExitCode() != 1 {
		t.Fatalf("checkpoint: %v, want exit 1\n%s", err, &out)
	}
	for _, want := range []string{"CR: established TCP connection 127.0.0.1:", "inside the app: restoring it needs TCP_REPAIR", "run the app with --net=private"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the refusal lacks %q:\n%s", want, &out)
		}
	}
}

// TestInetRefusalOutsidePeerUser: a connection to a listener of the test,
// for an ordinary user: holding its peer's traffic needs root.
func TestInetRefusalOutsidePeerUser(t *testing.T) {
	t.Parallel()
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	bin := compileC(t, "inet_peer", false)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := asNobody("--dir", filepath.Join(dir, "ck"), "--", bin, port)
	cmd.Stdin = r
	_, errb, done := startCmd(t, cmd)
	r.Close()
	if err := eventually(30*time.Second, func() bool { return strings.Contains(errb.String(), "inet_peer: running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\n%s", err, errb)
	}
	ck := asNobody("checkpoint", strconv.Itoa(cmd.Process.Pid))
	var out bytes.Buffer
	ck.Stdout, ck.Stderr = &out, &out
	if err := ck.Run(); err == nil || ck.ProcessState.ExitCode() != 1 {
		t.Fatalf("checkpoint: %v, want exit 1\n%s", err, &out)
	}
	want := " -> 127.0.0.1:" + port + " with a peer outside the app: holding its peer's traffic while it is saved needs root"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("the refusal lacks %q:\n%s", want, &out)
	}
	// The app runs on, its connection untouched.
	w.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the app did not end\n%s", errb)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the app exited %d after the refusal\n%s", code, errb)
	}
}

// TestInetOutsidePeer: a server of the app with a client outside it (the
// test's, on the host's loopback), streaming both ways while the app is
// checkpointed (leaving it running), then checkpointed with --exit and
// restored a moment later: the client sees every byte echoed, in order,
// and no RST or FIN, its traffic held by the firewall meanwhile (the
// rules gone after the restore).
func TestInetOutsidePeer(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
	if err := nfhold.Probe(); err != nil {
		t.Skipf("the kernel's firewall (nf_tables) is unavailable here, crrun cannot hold an outside peer's traffic: %v", err)
	}
	bin := compileC(t, "inet_echo", false)
	store := filepath.Join(t.TempDir(), "ck")
	a := start(t, opts{}, "--dir", store, "--", bin)
	crWaitStderr(t, a, "inet_echo: port=", 30*time.Second)
	m := regexp.MustCompile(`inet_echo: port=(\d+)`).FindStringSubmatch(a.stderr.String())
	if m == nil {
		t.Fatalf("no port:\n%s", a.stderr)
	}
	conn, err := net.Dial("tcp4", "127.0.0.1:"+m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	crWaitStderr(t, a, "inet_echo: running", 30*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the app's stdout:\n%s", a.stdout)
		}
	})
	const total = 1 << 20
	gen := func(i int) byte { return byte(i*7 + i/251) }
	// The client sends up to allowed bytes: a third before the
	// checkpoints, two thirds once the app is gone (into its held
	// traffic), the rest once the restore has started.
	var allowed atomic.Int64
	allowed.Store(total / 3)
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for off := 0; off < total; off += len(buf) {
			for int64(off) >= allowed.Load() {
				time.Sleep(time.Millisecond)
			}
			for i := range buf {
				buf[i] = gen(off + i)
			}
			if _, err := conn.Write(buf); err != nil {
				werr <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		werr <- conn.(*net.TCPConn).CloseWrite()
	}()
	rerr := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		got := 0
		for {
			n, err := conn.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] != gen(got+i) {
					rerr <- fmt.Errorf("byte %d echoed differs", got+i)
					return
				}
			}
			got += n
			if err != nil {
				if got == total && err.Error() == "EOF" {
					rerr <- nil
				} else {
					rerr <- fmt.Errorf("after %d of %d bytes echoed: %v", got, total, err)
				}
				return
			}
		}
	}()
	time.Sleep(150 * time.Millisecond)
	crCheckpoint(t, a, store, false)
	time.Sleep(150 * time.Millisecond)
	if crDone(a.done) {
		t.Fatalf("the app ended after a checkpoint that leaves it running\nstdout:\n%s\nstderr:\n%s", a.stdout, a.stderr)
	}
	crCheckpoint(t, a, store, true)
	if code := a.wait(30 * time.Second); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d after checkpoint --exit, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	tags, err := nfhold.Tags()
	if err != nil || !slices.ContainsFunc(tags, func(s string) bool { return strings.HasPrefix(s, "image ") }) {
		t.Errorf("after checkpoint --exit: held %q (%v), want the image's rules", tags, err)
	}
	allowed.Store(2 * total / 3)
	time.Sleep(300 * time.Millisecond) // the client sends on meanwhile
	r := start(t, opts{}, "restore", store)
	allowed.Store(total)
	select {
	case err := <-rerr:
		if err != nil {
			t.Fatalf("the client: %v\nrestore stderr:\n%s", err, r.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the client did not get its bytes back within 60 s\nrestore stderr:\n%s", r.stderr)
	}
	if err := <-werr; err != nil {
		t.Fatalf("the client's writes: %v", err)
	}
	if code := r.wait(30 * time.Second); code != 0 || !strings.Contains(r.stdout.String(), fmt.Sprintf("PASS %d", total)) {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if tags, err := nfhold.Tags(); err != nil || slices.ContainsFunc(tags, func(s string) bool { return strings.HasPrefix(s, "image ") }) {
		t.Errorf("after the restore: held %q (%v), want no image's rules", tags, err)
	}
}

// TestInetTCPLeaveRunning: a checkpoint that leaves the app running in the
// middle of a transfer inside the app (repair mode on and off around the
// dump, no FIN or RST): the app finishes its transfer intact, and so does
// a restore of the image once it has ended.
func TestInetTCPLeaveRunning(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
	bin := corpusBin(t, "inet_tcp_host")
	store := filepath.Join(t.TempDir(), "ck")
	a := start(t, opts{}, "--dir", store, "--", bin)
	crWaitStderr(t, a, "inet_tcp_host: running", 30*time.Second)
	time.Sleep(400 * time.Millisecond)
	crCheckpoint(t, a, store, false)
	if code := a.wait(time.Minute); code != 0 || !crPassed(a.stdout.String()) {
		t.Fatalf("the app after the checkpoint: exit %d\nstdout:\n%s\nstderr:\n%s", code, a.stdout, a.stderr)
	}
	r := start(t, opts{}, "restore", store)
	if code := r.wait(time.Minute); code != 0 || !crPassed(r.stdout.String()) {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}

// TestInetPortTaken: the restore of a listener whose port something else
// holds now fails, naming the port.
func TestInetPortTaken(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
	bin := compileC(t, "inet_peer", false)
	store := filepath.Join(t.TempDir(), "ck")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a := start(t, opts{stdin: r}, "--dir", store, "--", bin)
	r.Close()
	crWaitStderr(t, a, "inet_peer: running", 30*time.Second)
	m := regexp.MustCompile(`inet_peer: port=(\d+)`).FindStringSubmatch(a.stderr.String())
	if m == nil {
		t.Fatalf("no port:\n%s", a.stderr)
	}
	crCheckpoint(t, a, store, true)
	a.wait(30 * time.Second)
	// The app's connection closed in repair mode, without FIN or RST: no
	// end of it is left in TIME_WAIT (or any state) on the port.
	port, _ := strconv.Atoi(m[1])
	if b, err := os.ReadFile("/proc/net/tcp"); err == nil {
		hex := fmt.Sprintf(":%04X ", port)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, hex) {
				t.Errorf("the checkpointed connection left a socket behind:\n%s", line)
			}
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:"+m[1])
	if err != nil {
		t.Fatalf("the port of the checkpointed listener is not free: %v", err)
	}
	defer ln.Close()
	res := start(t, opts{}, "restore", store)
	want := "TCP port 127.0.0.1:" + m[1] + " is taken on this host"
	if code := res.wait(time.Minute); code != 125 || !strings.Contains(res.stderr.String(), want) {
		t.Fatalf("restore: exit %d, want 125 and %q\n%s", code, want, res.stderr)
	}
}

// TestNetPrivateUnixSockets: unix sockets are judged and saved through
// sock_diag, which answers about one network namespace: under
// --net=private crrun asks through its init's socket there. An ordinary
// user's round trip of the unix corpus program, in the app's namespace.
func TestNetPrivateUnixSockets(t *testing.T) {
	t.Parallel()
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	p := corpusProg{name: "unix_rebind", src: filepath.Join(repoRoot, "tests", "corpus", "unix_rebind.c"), flags: []string{"--net=private"}}
	corpusRoundTrip(t, p, dir, asNobody, p.build(t))
}

// An empty UDP datagram a checkpoint's peek walk returned is invisible to
// every later walk (the kernel skips peeked empty datagrams): a second
// checkpoint while it is still queued must refuse, naming why, not drop
// it. The first checkpoint's image holds it.
func TestInetUDPEmptyDatagramTwice(t *testing.T) {
	requireCR(t)
	b := compileC(t, "udp_empty", false)
	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", b)
	crWaitStderr(t, a, "udp_empty: running", time.Minute)
	crCheckpoint(t, a, store, false)
	code, out, errs := crClient(t, a.runtime, time.Minute, "checkpoint", strconv.Itoa(a.cmd.Process.Pid))
	if code == 0 || !strings.Contains(errs, "an empty datagram peeked before") {
		t.Fatalf("second checkpoint: exit %d, want a refusal naming the empty datagram\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if code := a.wait(time.Minute); code != 0 || !strings.Contains(a.stdout.String(), "PASS") {
		t.Fatalf("the app after the refusal: exit %d, stdout %q", code, a.stdout)
	}
	r := start(t, opts{}, "restore", store)
	if code := r.wait(time.Minute); code != 0 || !strings.Contains(r.stdout.String(), "PASS") {
		t.Fatalf("restore of the first checkpoint: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}

// TestInetBacklogLeaveRunning: connections waiting in a listener are saved
// by taking them out of its queue, which only a checkpoint that ends the
// app may do: one that leaves it running is refused, and the app runs on
// with its queue untouched (tests/corpus/inet_backlog.c: the round trip).
// `crrun status` says the same before: not checkpointable, but with --exit.
func TestInetBacklogLeaveRunning(t *testing.T) {
	t.Parallel()
	want := "with 3 connections not accepted yet: a checkpoint that leaves the app running cannot save them"
	nobodyRefusal(t, "inet_backlog", []string{"--net=private"}, want, func(asNobody func(args ...string) *exec.Cmd, pid string) {
		stOut, err := asNobody("status", "--json", pid).Output()
		var st Status
		if err == nil {
			err = json.Unmarshal(stOut, &st)
		}
		if err != nil {
			t.Fatalf("status: %v\n%s", err, stOut)
		}
		if st.Checkpointable || !st.ExitOK || len(st.Reasons) != 1 || !st.Reasons[0].KeepRunning || !strings.Contains(st.Reasons[0].Reason, want) {
			t.Errorf("status: checkpointable %v, with --exit %v, want false and true with one keep-running reason %q:\n%s", st.Checkpointable, st.ExitOK, want, stOut)
		}
	})
}

// TestInetMovedRetried: bytes in flight between the two ends of a
// connection inside the app while they are saved (a busy machine's
// loopback delivers them late) make crrun checkpoint again by itself; the
// test-only knob CRRUN_TEST_MOVED_CONNS=N makes the first N checks see
// them. Two: the third try is saved and its restore is exact. More than
// crrun tries: refused with the reason, and the app runs on to PASS.
func TestInetMovedRetried(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
	bin := corpusBin(t, "inet_tcp_fork")
	t.Run("retried", func(t *testing.T) {
		store := filepath.Join(t.TempDir(), "ck")
		a := start(t, opts{env: []string{checkpoint.TestMovedConnsEnv + "=2"}}, "--dir", store, "--net=private", "--", bin)
		crWaitStderr(t, a, "inet_tcp_fork: running", 30*time.Second)
		time.Sleep(300 * time.Millisecond)
		crCheckpoint(t, a, store, true)
		if code := a.wait(time.Minute); code != crExitCheckpointed {
			t.Fatalf("crrun exited %d after checkpoint --exit\n%s", code, a.stderr)
		}
		if n := strings.Count(a.stderr.String(), "checkpointing again"); n != 2 {
			t.Fatalf("checkpointed again %d times, want 2:\n%s", n, a.stderr)
		}
		r := start(t, opts{}, "restore", store)
		if code := r.wait(time.Minute); code != 0 || !crPassed(r.stdout.String()) {
			t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		store := filepath.Join(t.TempDir(), "ck")
		a := start(t, opts{env: []string{checkpoint.TestMovedConnsEnv + "=100"}}, "--dir", store, "--net=private", "--", bin)
		crWaitStderr(t, a, "inet_tcp_fork: running", 30*time.Second)
		code, out, errs := crClient(t, a.runtime, time.Minute, "checkpoint", "--exit", strconv.Itoa(a.cmd.Process.Pid))
		if code != 1 || !strings.Contains(errs, "bytes moved between its ends while they were saved") {
			t.Fatalf("checkpoint: exit %d, want 1 and the reason\nstdout: %s\nstderr: %s", code, out, errs)
		}
		if code := a.wait(time.Minute); code != 0 || !crPassed(a.stdout.String()) {
			t.Fatalf("the app after the refusal: exit %d\nstdout:\n%s\nstderr:\n%s", code, a.stdout, a.stderr)
		}
	})
}
