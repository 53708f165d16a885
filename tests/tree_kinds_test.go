package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
				lo:   50 * time.Millisecond, hi: 2000 * time.Millisecond, exitMode: exit, minProcs: 5,
			})
		})
	}
}

// TestTreeUnprivileged: a tree run, checkpointed and restored by an ordinary
// user (nobody): the kinds victim behind a shell pipeline, so that children
// with executables other than the main process's get theirs back
// (PR_SET_MM_MAP with exe_fd, allowed by the user namespace's
// CAP_CHECKPOINT_RESTORE), and inotify watches found by the paths the
// supervisor saw given to inotify_add_watch (open_by_handle_at is root's).
func TestTreeUnprivileged(t *testing.T) {
	t.Parallel()
	dir, asNobody := nobodyEnv(t)
	kinds := treeCompile(t, "kinds")
	if data, err := os.ReadFile(kinds); err != nil || os.WriteFile(filepath.Join(dir, "kinds"), data, 0o755) != nil {
		t.Fatalf("copy the victim: %v", err)
	}
	// The victim's files (and the directory it watches with inotify) are in
	// a directory of their own: the checkpoint store, created by the first
	// checkpoint, must not show up as an event the app never read.
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o777); err != nil || os.Chmod(work, 0o777) != nil {
		t.Fatalf("mkdir %s: %v", work, err)
	}
	got, rErr := nobodyRoundTrip(t, asNobody, filepath.Join(dir, "ck"), "kinds: running", time.Second,
		"sh", "-c", "./kinds work | cat; echo exits ${PIPESTATUS:-done}")
	if got != "PASS\nexits done\n" {
		t.Fatalf("output %q\nrestore's stderr:\n%s", got, rErr)
	}
	if !strings.Contains(rErr, "processes=") {
		t.Fatalf("restore did not say what it restored:\n%s", rErr)
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

// TestTreeChain: a shell pipeline checkpointed, ended and restored, then the
// restored tree checkpointed, ended and restored again (a restored tree must
// be as checkpointable as a launched one): the three runs' outputs make up
// an uninterrupted run's.
func TestTreeChain(t *testing.T) {
	t.Parallel()
	bash := treeNeed(t, "bash", "gzip", "zcat", "sort", "uniq", "tee", "awk", "sha256sum", "cmp")
	requireCR(t)
	argv := func(dir string) []string {
		return []string{"--", bash, treeFile("pipeline.sh"), treeCompile(t, "producer"), dir}
	}
	refDir := t.TempDir()
	ra := start(t, opts{dir: refDir}, argv(refDir)...)
	if code := ra.wait(treeTimeout); code != 0 || !crPassed(ra.stdout.String()) {
		t.Fatalf("uninterrupted run: exit %d\n%s\n%s", code, ra.stdout, ra.stderr)
	}
	ref := ra.stdout.String()

	store, dir := t.TempDir(), t.TempDir()
	a := start(t, opts{dir: dir}, append([]string{"--dir", store}, argv(dir)...)...)
	crWaitStderr(t, a, "pipeline: running", 20*time.Second)
	treeWaitProcs(t, a, 6, 10*time.Second)
	time.Sleep(400 * time.Millisecond)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("crrun exited %d, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	r1 := start(t, opts{dir: dir}, "restore", store)
	crWaitStderr(t, r1, "restored", 20*time.Second)
	treeWaitProcs(t, r1, 4, 10*time.Second)
	time.Sleep(600 * time.Millisecond)
	crCheckpoint(t, r1, store, true)
	if code := r1.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("the restored crrun exited %d after its checkpoint, want %d\n%s", code, crExitCheckpointed, r1.stderr)
	}
	if g := crGenerations(t, store); len(g) < 2 {
		t.Fatalf("generations %v, want 2", g)
	}
	r2 := start(t, opts{dir: dir}, "restore", store)
	if code := r2.wait(time.Minute); code != 0 {
		t.Fatalf("second restore: exit %d\n%s", code, r2.stderr)
	}
	crCheckJoin(t, ref, a.stdout.String()+r1.stdout.String(), r2.stdout.String(), true)
}

// TestTreeMainThreadExited: a process whose main thread called pthread_exit
// while another runs on is refused with that reason (its leader is a zombie,
// but the process is not), and runs on undisturbed.
func TestTreeMainThreadExited(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireCR(t)
	a := start(t, opts{}, "--", treeCompile(t, "pexit"))
	crWaitStderr(t, a, "pexit: running", 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	code, out, errs := crClient(t, a.runtime, time.Minute, "checkpoint", strconv.Itoa(a.cmd.Process.Pid))
	if code != 1 || !strings.Contains(errs, "pthread_exit") {
		t.Fatalf("checkpoint: exit %d, want 1 naming pthread_exit\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if code := a.wait(20 * time.Second); code != 0 || a.stdout.String() != "PASS\n" {
		t.Fatalf("after the refusal: exit %d, output %q", code, a.stdout.String())
	}
}

// TestTreeVfork: children in the vfork state (sharing their parent's memory
// until they exec) when the checkpoint lands: it waits and retries, then
// saves the tree.
func TestTreeVfork(t *testing.T) {
	t.Parallel()
	treeRoundTrip(t, treeVictim{
		name: "vfork",
		argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "vfork")} },
		lo:   100 * time.Millisecond, hi: 2000 * time.Millisecond, exitMode: true, minProcs: 1,
	})
}

// TestTreePtyFlood: output piling up in a pty of the app's (a child writes
// to its slave faster than the parent reads the master). The bytes in flight
// cannot be saved: the checkpoint retries for 3 s and either lands in
// a quiet moment (then restores exactly) or refuses naming the pty — and the
// app runs on with every byte (a refusal must lose nothing).
func TestTreePtyFlood(t *testing.T) {
	t.Parallel()
	for _, exit := range []bool{true, false} {
		t.Run(map[bool]string{true: "exit", false: "kill"}[exit], func(t *testing.T) {
			treeRoundTrip(t, treeVictim{
				name: "ptyflood",
				argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "ptyflood")} },
				lo:   100 * time.Millisecond, hi: 1500 * time.Millisecond, exitMode: exit, minProcs: 2,
				refusal: regexp.MustCompile(`CR: pty /dev/pts/\d+ has bytes in flight`),
			})
		})
	}
}
