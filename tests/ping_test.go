package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pingRangeMu serialises the tests that change the host's
// net.ipv4.ping_group_range.
var pingRangeMu sync.Mutex

const pingRangeFile = "/proc/sys/net/ipv4/ping_group_range"

// widenPingRange lets every group make ICMP ping sockets on the host's
// network for the rest of the test, and sets the old range back when it
// ends, failed or not. (This host's range is "1 0": nobody may.)
func widenPingRange(t *testing.T) {
	t.Helper()
	pingRangeMu.Lock()
	old, err := os.ReadFile(pingRangeFile)
	if err != nil {
		pingRangeMu.Unlock()
		t.Skipf("no %s: %v", pingRangeFile, err)
	}
	t.Cleanup(func() {
		defer pingRangeMu.Unlock()
		if err := os.WriteFile(pingRangeFile, old, 0); err != nil {
			t.Errorf("set %s back to %q: %v", pingRangeFile, strings.TrimSpace(string(old)), err)
		}
	})
	if err := os.WriteFile(pingRangeFile, []byte("0 2147483647\n"), 0); err != nil {
		t.Fatalf("widen %s: %v", pingRangeFile, err)
	}
}

// TestPingHost: the corpus's ping program with the host's range, which the
// test widens, on the host's network and with --net=private (whose
// namespace crrun's init gives the host's range), as root and as an
// ordinary user, checkpointed between echoes and restored with the same
// identifiers and sequence (tests/corpus/inet_ping.c).
func TestPingHost(t *testing.T) {
	requireCR(t)
	src := filepath.Join(repoRoot, "tests", "corpus", "inet_ping.c")
	bin := filepath.Join(workDir, "corpus-inet_ping_host") // where an ordinary user may run it
	buildMu.Lock()
	b, err := exec.Command("gcc", "-O1", "-g", "-Wall", "-DPING_HOST_NETWORK", "-I", filepath.Dir(src), "-o", bin, src).CombinedOutput()
	buildMu.Unlock()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	widenPingRange(t)
	for _, net := range []string{"host", "private"} {
		// private: the app's own namespace gets the host's range
		// (narrowed to an ordinary user's group) from crrun's init
		// (supervisor/netns.go); the program sets none itself.
		p := corpusProg{name: "inet_ping", kind: "ICMP ping sockets, the host's range", src: src}
		if net == "private" {
			p.flags = []string{"--net=private"}
		}
		t.Run(net+"/root", func(t *testing.T) {
			rt := runtimeDir(t)
			dir := t.TempDir()
			corpusRoundTrip(t, p, dir, func(args ...string) *exec.Cmd {
				cmd := exec.Command(crrunBin, args...)
				cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
				cmd.Dir = dir
				return cmd
			}, bin)
		})
		t.Run(net+"/user", func(t *testing.T) {
			dir, asNobody := nobodyEnv(t)
			corpusRoundTrip(t, p, dir, asNobody, bin)
		})
	}

	// The restore makes the socket again as the app's network's range
	// allows now: narrowed, it fails saying so (a restore never grants
	// what the network would not).
	t.Run("narrowed", func(t *testing.T) {
		rt := runtimeDir(t)
		dir := t.TempDir()
		crrun := func(args ...string) *exec.Cmd {
			cmd := exec.Command(crrunBin, args...)
			cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
			cmd.Dir = dir
			return cmd
		}
		store := filepath.Join(dir, "ck")
		cmd := crrun("--dir", store, "--", bin)
		out, errb, done := startCmd(t, cmd)
		if err := eventually(time.Minute, func() bool { return strings.Contains(errb.String(), "inet_ping: running") || crDone(done) }); err != nil || crDone(done) {
			t.Fatalf("never running: %v\nstdout:\n%s\nstderr:\n%s", err, out, errb)
		}
		if b, err := crrun("checkpoint", "--exit", strconv.Itoa(cmd.Process.Pid)).CombinedOutput(); err != nil {
			t.Fatalf("checkpoint --exit: %v\n%s", err, b)
		}
		<-done
		if err := os.WriteFile(pingRangeFile, []byte("1 0\n"), 0); err != nil {
			t.Fatal(err)
		}
		r := crrun("restore", store)
		b, err := r.CombinedOutput()
		if err == nil || !strings.Contains(string(b), "net.ipv4.ping_group_range of the app's network namespace does not include the restorer's group") {
			t.Fatalf("restore with no group allowed: %v, want a refusal naming ping_group_range\n%s", err, b)
		}
		t.Logf("restore refused: %s", b)
	})
}

// TestPacketHostNetwork: the corpus's packet program on the host's network
// (root): its sockets bound to the host's lo, whose index and name the
// restore checks, frames of private ethertypes only it sends.
func TestPacketHostNetwork(t *testing.T) {
	requireCR(t)
	var p corpusProg
	for _, c := range readCorpus(t) {
		if c.name == "packet_lo" {
			p = c
		}
	}
	if p.src == "" {
		t.Fatal("no tests/corpus/packet_lo.c")
	}
	p.flags = nil // the host's network
	bin := p.build(t)
	rt := runtimeDir(t)
	dir := t.TempDir()
	corpusRoundTrip(t, p, dir, func(args ...string) *exec.Cmd {
		cmd := exec.Command(crrunBin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		cmd.Dir = dir
		return cmd
	}, bin)
}
