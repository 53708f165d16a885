package tests

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestInetRefusalOutsidePeer: a connection to a listener of the test.
func TestInetRefusalOutsidePeer(t *testing.T) {
	t.Parallel()
	requireCR(t)
	requireRoot(t)
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
	a := start(t, opts{stdin: r}, "--", bin, port)
	r.Close()
	crWaitStderr(t, a, "inet_peer: running", 30*time.Second)
	out, err := a.crrunCmd("checkpoint", strconv.Itoa(a.cmd.Process.Pid))
	if err != nil {
		out += err.Error()
	}
	want := "CR: TCP connection 127.0.0.1:"
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, " -> 127.0.0.1:"+port+" with a peer outside the app not supported yet") {
		t.Fatalf("checkpoint: %v, want a refusal %q ... %q:\n%s", err, want, port, out)
	}
	// The app runs on, its connection untouched.
	w.Close()
	if code := a.wait(30 * time.Second); code != 0 {
		t.Fatalf("the app exited %d after the refusal\n%s", code, a.stderr)
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
	p := corpusProg{name: "inet_tcp_host", src: filepath.Join(repoRoot, "tests", "corpus", "inet_tcp_host.c")}
	bin := p.build(t)
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

// TestInetBacklogLeaveRunning: connections waiting in a listener are saved
// by taking them out of its queue, which only a checkpoint that ends the
// app may do: one that leaves it running is refused, and the app runs on
// with its queue untouched (tests/corpus/inet_backlog.c: the round trip).
func TestInetBacklogLeaveRunning(t *testing.T) {
	t.Parallel()
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	p := corpusProg{name: "inet_backlog", src: filepath.Join(repoRoot, "tests", "corpus", "inet_backlog.c")}
	bin := p.build(t)
	cmd := asNobody("--dir", filepath.Join(dir, "ck"), "--net=private", "--", bin)
	out, errb, done := startCmd(t, cmd)
	if err := eventually(30*time.Second, func() bool { return strings.Contains(errb.String(), "inet_backlog: running") || crDone(done) }); err != nil || crDone(done) {
		t.Fatalf("never running: %v\n%s", err, errb)
	}
	ck := asNobody("checkpoint", strconv.Itoa(cmd.Process.Pid))
	var ckOut bytes.Buffer
	ck.Stdout, ck.Stderr = &ckOut, &ckOut
	if err := ck.Run(); err == nil || ck.ProcessState.ExitCode() != 1 {
		t.Fatalf("checkpoint: %v, want exit 1\n%s", err, &ckOut)
	}
	want := "with 3 connections not accepted yet: a checkpoint that leaves the app running cannot save them"
	if !strings.Contains(ckOut.String(), want) {
		t.Errorf("the refusal lacks %q:\n%s", want, &ckOut)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("the app did not end\n%s", errb)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || !crPassed(out.String()) {
		t.Fatalf("the app after the refusal: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
}
