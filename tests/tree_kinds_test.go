package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTreeKinds: one of each kind of state the tree engine saves (zombies,
// sessions, groups, socketpair bytes, memfd with seals mapped by two
// processes, shared anonymous memory, timerfd in epoll, signalfd, eventfd,
// POSIX timers with their ids, a FIFO's buffered bytes, shared offsets,
// O_NONBLOCK), checkpointed at a random moment; the victim checks each.
func TestTreeKinds(t *testing.T) {
	t.Parallel()
	for _, exit := range []bool{true, false} {
		t.Run(map[bool]string{true: "exit", false: "kill"}[exit], func(t *testing.T) {
			treeRoundTrip(t, treeVictim{
				name: "kinds",
				argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "kinds"), dir} },
				lo:   50 * time.Millisecond, hi: 2500 * time.Millisecond, exitMode: exit, minProcs: 5,
			})
		})
	}
}

// TestTreeUnprivileged: a tree run, checkpointed and restored by an ordinary
// user (nobody): the kinds victim behind a shell pipeline, so that children
// with executables other than the main process's get theirs back
// (PR_SET_MM_MAP with exe_fd, allowed by the user namespace's
// CAP_CHECKPOINT_RESTORE). Without inotify, whose watched paths only root can
// resolve.
func TestTreeUnprivileged(t *testing.T) {
	t.Parallel()
	dir, asNobody := nobodyEnv(t)
	kinds := treeCompile(t, "kinds")
	if data, err := os.ReadFile(kinds); err != nil || os.WriteFile(filepath.Join(dir, "kinds"), data, 0o755) != nil {
		t.Fatalf("copy the victim: %v", err)
	}
	ck := filepath.Join(dir, "ck")
	app := asNobody("--dir", ck, "--", "sh", "-c", "KINDS_NO_INOTIFY=1 ./kinds . | cat; echo exits ${PIPESTATUS:-done}")
	var appOut, appErr syncBuffer
	app.Stdout, app.Stderr = &appOut, &appErr
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Wait(); close(done) }()
	t.Cleanup(func() { app.Process.Kill(); <-done })
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "kinds: running") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	time.Sleep(time.Second)
	if out, err := asNobody("checkpoint", "--exit").CombinedOutput(); err != nil {
		t.Fatalf("checkpoint as nobody: %v\n%s\n%s", err, out, appErr.String())
	}
	<-done
	if app.ProcessState.ExitCode() != 75 {
		t.Fatalf("checkpoint --exit: crrun exited %v\n%s", app.ProcessState, appErr.String())
	}
	res := asNobody("restore", ck)
	var rOut, rErr syncBuffer
	res.Stdout, res.Stderr = &rOut, &rErr
	if err := res.Run(); err != nil {
		t.Fatalf("restore as nobody: %v\n%s", err, rErr.String())
	}
	if got := appOut.String() + rOut.String(); got != "PASS\nexits done\n" {
		t.Fatalf("output %q\nstderr:\n%s%s", got, appErr.String(), rErr.String())
	}
	if !strings.Contains(rErr.String(), "processes=") {
		t.Fatalf("restore did not say what it restored:\n%s", rErr.String())
	}
}

// TestTreeUnixSockets: listening sockets (a path and an abstract name),
// connections accepted from them with bytes in flight (one listener closed
// after its accept), a bound datagram socket; names and peers checked after
// the restore, and the listener still accepts.
func TestTreeUnixSockets(t *testing.T) {
	t.Parallel()
	treeRoundTrip(t, treeVictim{
		name: "usock",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "usock"), dir} },
		lo:   100 * time.Millisecond, hi: 2000 * time.Millisecond, exitMode: true, minProcs: 2,
	})
}
