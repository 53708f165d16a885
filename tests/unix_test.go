package tests

// Unix sockets at the app's edge (issue 10 item 4): a socket connected to a
// socket outside the app is refused with a reason naming the peer (its
// address and a process holding it) — by status and checkpoint alike —
// and the app runs on; crrun's own stdio being a unix socket is crrun's,
// not the app's, and does not stop a checkpoint.

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnixPeerOutside: the app connects to a listener of the test's own.
func TestUnixPeerOutside(t *testing.T) {
	t.Parallel()
	requireCR(t)
	if err := os.MkdirAll(workDir+"/unix", 0o755); err != nil {
		t.Fatal(err)
	}
	bin := compileC(t, "unix/outside", false)
	name := fmt.Sprintf("@crrun-outside-%d", os.Getpid())
	ln, err := net.Listen("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 4)
		if _, err := c.Read(b); err == nil && string(b) == "ping" {
			c.Write([]byte("pong"))
		}
		time.Sleep(time.Second)
	}()
	a := start(t, opts{}, "--", bin, name)
	crWaitStderr(t, a, "outside: running", 30*time.Second)
	st := crStatus(t, a, 30*time.Second)
	want := fmt.Sprintf("unix socket connected to %q (socket ", name)
	holder := fmt.Sprintf("held by pid %d (", os.Getpid())
	if st.Checkpointable || !strings.Contains(st.reasons(), want) || !strings.Contains(st.reasons(), holder) {
		t.Fatalf("status: checkpointable %v, want a refusal naming %s… %s:\n%s", st.Checkpointable, want, holder, st.reasons())
	}
	code, out, errs := crClient(t, a.runtime, time.Minute, "checkpoint", strconv.Itoa(a.cmd.Process.Pid))
	if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, holder) {
		t.Fatalf("checkpoint: exit %d, want 1 naming the peer\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if code := a.wait(time.Minute); code != 0 || a.stdout.String() != "PASS\n" {
		t.Fatalf("after the refusal: exit %d, stdout %q\nstderr:\n%s", code, a.stdout, a.stderr)
	}
}

// TestUnixStdioSocket: crrun's stdout is one end of a socketpair (the
// other, the test's, is outside the app); the app's fd 1 on it is crrun's
// stdio: status says checkpointable, the checkpoint goes ahead, and the
// restored app writes to the restorer's stdout.
func TestUnixStdioSocket(t *testing.T) {
	t.Parallel()
	requireCR(t)
	if err := os.MkdirAll(workDir+"/unix", 0o755); err != nil {
		t.Fatal(err)
	}
	bin := corpusBin(t, "unix_backlog")
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "test end"), os.NewFile(uintptr(fds[1]), "crrun's stdout")
	defer mine.Close()
	store, dir := t.TempDir(), t.TempDir()
	a := start(t, opts{stdout: theirs, dir: dir}, "--dir", store, "--", bin)
	theirs.Close()
	crWaitStderr(t, a, "unix_backlog: running", 30*time.Second)
	if st := crStatus(t, a, 30*time.Second); !st.Checkpointable {
		t.Fatalf("status refuses an app whose stdout is crrun's socket:\n%s", st.reasons())
	}
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	r := start(t, opts{dir: dir}, "restore", store)
	if code := r.wait(time.Minute); code != 0 || r.stdout.String() != "PASS\n" {
		t.Fatalf("restore: exit %d, stdout %q\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}
