package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// A snapshot is a copy-on-write view of one frozen process's private memory:
// a child the process clones (an injected clone(2) without CLONE_VM) while
// the tree is frozen. The kernel gives the child the parent's page tables
// with every private page shared read-only, so whatever the app writes after
// the thaw goes to a fresh copy of the page in the app, and the child keeps
// the bytes of the freeze. The dump reads the pages from the child after the
// thaw (drain), then kills it and has the app reap it.
//
// The child never runs a user-mode instruction: it is cloned from a traced
// thread with PTRACE_O_TRACECLONE and an exit signal of 0 (a "clone"
// child), so the kernel attaches it to crrun's tracer and stops it before it
// returns from the clone; PTRACE_O_EXITKILL kills it should crrun die. It
// shares the app's fd table and fs (CLONE_FILES|CLONE_FS) so that it holds
// no extra reference on any open file (a pipe's write end kept open would
// delay the app's EOF), and with an exit signal of 0 its death sends the app
// no SIGCHLD, and wait(2) without __WALL/__WCLONE does not see it.
//
// What a snapshot cannot hold is read inside the pause, from the app:
// shared mappings (MAP_SHARED, shmem: the child maps the same object, which
// the app keeps changing), MADV_DONTFORK mappings (absent from the child)
// and MADV_WIPEONFORK ones (empty in the child).
type snapshot struct {
	parent int // host pid of the frozen process
	host   int // host pid of the child
	ns     int // its pid in the app's namespace (what the parent's wait4 takes)
	nspid  int // the parent's pid in the app's namespace (image page file)
	runs   []pageRun
}

// pageRun is a run of pages to save.
type pageRun struct {
	start, end uint64
	where      string // the mapping, for errors
	// pin: no other process maps any page of the mapping, so that
	// process_vm_readv's pins unshare nothing (pauseread.go).
	pin bool
}

// snapshotFlags are the clone flags of a snapshot child; the low byte, the
// exit signal, is 0.
const snapshotFlags = unix.CLONE_FILES | unix.CLONE_FS

// snapshotable says whether the pages of mapping m can be read from a
// snapshot child after the thaw.
func snapshotable(m *procfs.SmapsEntry) bool {
	return !m.Perms.Shared() && !m.VmFlags.Has("dc") && !m.VmFlags.Has("wf")
}

// takeSnapshot clones the frozen process d.pid (see snapshot). It returns
// nil, with the reason logged, when the clone fails (the app's own seccomp
// filter, RLIMIT_NPROC, pids.max…): the dump then reads the pages inside
// the pause, as before.
func (d *dumper) takeSnapshot(nspid int) *snapshot {
	before := d.tr.Tracees()
	t0 := time.Now()
	ns, err := d.tr.Inject(d.pid, unix.SYS_CLONE, snapshotFlags, 0, 0, 0, 0)
	slog.Debug("checkpoint: snapshot cloned", "pid", d.pid, "took", time.Since(t0))
	if err != nil {
		slog.Debug("checkpoint: no snapshot, pages are read in the pause", "pid", d.pid, "err", err)
		return nil
	}
	d.cloned = true // its private pages are shared with a child now: never pinned (pinnable)
	var host int
	for _, tid := range d.tr.Tracees() {
		if !slices.Contains(before, tid) {
			host = tid
		}
	}
	s := &snapshot{parent: d.pid, host: host, ns: int(ns), nspid: nspid}
	if host == 0 {
		// Not attached: cannot happen with PTRACE_O_TRACECLONE; if it does,
		// the child runs app code: end it at once (release reaps it).
		slog.Warn("checkpoint: snapshot child not attached to the tracer: killed", "pid", d.pid, "child", ns)
		if h := d.childByNs(int(ns)); h != 0 {
			_ = unix.Kill(h, unix.SIGKILL)
		} else {
			s.ns = 0 // nothing to reap that we could name
		}
		d.t.snaps = append(d.t.snaps, s)
		return nil
	}
	d.t.snaps = append(d.t.snaps, s)
	if _, err := d.tr.Interrupt(host); err != nil {
		slog.Debug("checkpoint: snapshot child did not stop: pages are read in the pause", "pid", d.pid, "err", err)
		return nil
	}
	if err := d.tr.SetOptions(host, ptrace.ExitKill); err != nil {
		slog.Debug("checkpoint: snapshot child: set EXITKILL: pages are read in the pause", "pid", d.pid, "err", err)
		return nil
	}
	return s
}

// childByNs finds the host pid of d.pid's child whose pid in the app's
// namespace is ns (0: none).
func (d *dumper) childByNs(ns int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.pid))
	for _, e := range tasks {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", d.pid, e.Name()))
		for _, k := range strings.Fields(string(kids)) {
			h, _ := strconv.Atoi(k)
			if n, err := d.ns(h); err == nil && n == ns {
				return h
			}
		}
	}
	return 0
}

// drain reads every snapshot's pages into the image (the app runs). The
// pages are read a buffer-full at a time (up to chunk bytes, several runs)
// and handed to the image writer; the addresses just read are dropped from
// the child (an injected madvise(MADV_DONTNEED): the app's page is then its
// own again, and its next write to it reuses it instead of copying it — on
// this VM a fresh page costs 30-60 µs) by another goroutine while the next
// buffer is read. Dropped in line, the madvise took 1–30 ms per 8 MiB
// buffer (an injection into the child and the unmapping), a fifth of the
// reading's time: the reader waited for it, and the disk for the reader.
func (t *tree) drain() error {
	pool := t.buffers()
	for _, s := range t.snaps {
		if len(s.runs) == 0 {
			continue
		}
		mem := ptrace.OpenMem(s.host)
		err := t.drainOne(s, mem, pool)
		mem.Close()
		if err != nil {
			return err
		}
		s.runs = nil
		t0 := time.Now()
		t.release(s) // free its copy-on-write pages as soon as possible
		slog.Debug("checkpoint: snapshot released", "pid", s.parent, "took", time.Since(t0))
	}
	return nil
}

func (t *tree) drainOne(s *snapshot, mem *ptrace.Mem, pool chan []byte) error {
	type piece struct {
		addr     uint64
		off, len uint64
		where    string
	}
	sp := newSpans("drain", s.parent)
	defer sp.done()
	var pieces []piece
	var used uint64
	buf := <-pool
	defer func() {
		if buf != nil {
			pool <- buf
		}
	}()
	// The dropper: ranges already read, in order, madvised away on the
	// tracer's thread while the reader goes on. Bounded: a reader far
	// ahead waits for it. Done before the child is released.
	drops := make(chan [2]uint64, 64)
	dropped := make(chan struct{})
	go func() {
		defer close(dropped)
		for r := range drops {
			if _, err := t.tr.Inject(s.host, unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); err != nil {
				slog.Debug("checkpoint: drop drained pages from the snapshot", "pid", s.parent, "err", err)
			}
		}
	}()
	defer func() {
		close(drops)
		<-dropped
	}()
	flush := func() error {
		if len(pieces) == 0 {
			return nil
		}
		sp.mark("read")
		// One madvise per mapping (never across one: the kernel's own
		// mappings between them refuse it).
		for i := 0; i < len(pieces); {
			j := i + 1
			for j < len(pieces) && pieces[j].where == pieces[i].where {
				j++
			}
			drops <- [2]uint64{pieces[i].addr, pieces[j-1].addr + pieces[j-1].len}
			i = j
		}
		sp.mark("drop")
		// The buffer goes back to the pool once the writer is done with
		// every piece of it; the next pieces are read into another.
		full, left := buf, int32(len(pieces))
		buf = nil
		giveBack := func() {
			if atomic.AddInt32(&left, -1) == 0 {
				pool <- full
			}
		}
		for i, p := range pieces {
			if err := t.w.AddPagesAsync(s.nspid, p.addr, full[p.off:p.off+p.len], giveBack); err != nil {
				for range pieces[i+1:] {
					giveBack() // the pieces never handed over
				}
				return err
			}
			t.memBytes += p.len
		}
		buf = <-pool
		pieces, used = pieces[:0], 0
		sp.mark("write")
		return nil
	}
	for _, r := range s.runs {
		for a := r.start; a < r.end; {
			if used == uint64(len(buf)) {
				if err := flush(); err != nil {
					return err
				}
			}
			n := min(r.end-a, uint64(len(buf))-used)
			if err := mem.ReadUnpinned(uintptr(a), buf[used:used+n]); err != nil {
				return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: s.parent, Kind: "unreadable_mapping", Fd: -1,
					Reason: fmt.Sprintf("CR: %s: pages present at %#x+%d cannot be read (%v): not supported yet", r.where, a, n, err)}}}
			}
			pieces = append(pieces, piece{addr: a, off: used, len: n, where: r.where})
			used += n
			a += n
		}
	}
	return flush()
}

// releaseAll ends every snapshot child left (every exit path of Dump; after
// the thaw).
func (t *tree) releaseAll() {
	for _, s := range t.snaps {
		t.release(s)
	}
	t.snaps = nil
}

// release kills snapshot s's child and has its parent reap it: with an exit
// signal of 0 nothing else would (the app's wait without __WALL does not see
// it, and its death reported to crrun's tracer leaves it a zombie of the
// app). The reap is one wait4(child, __WALL) injected into one thread of the
// parent, interrupted for that alone.
func (t *tree) release(s *snapshot) {
	if s.host == 0 && s.ns == 0 {
		return
	}
	if s.host != 0 {
		if err := t.tr.Kill(s.host); err != nil && !errors.Is(err, ptrace.ErrVanished) {
			slog.Warn("checkpoint: end the snapshot child", "pid", s.parent, "child", s.host, "err", err)
		}
	}
	if err := t.reap(s.parent, s.ns); err != nil {
		slog.Warn("checkpoint: reap the snapshot child", "pid", s.parent, "child", s.ns, "err", err)
	}
	s.host, s.ns = 0, 0
}

// reap injects wait4(child, NULL, __WALL, NULL) into a thread of pid, which
// runs: it is seized and interrupted for the call, then let go. A parent
// gone meanwhile is fine (the child was reparented to crrun's init, which
// reaps it); ECHILD too (the app reaped it itself, with __WALL).
func (t *tree) reap(pid, child int) error {
	tids := []int{pid}
	if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil {
		for _, e := range tasks {
			if n, err := strconv.Atoi(e.Name()); err == nil && n != pid {
				tids = append(tids, n)
			}
		}
	} else {
		return nil // gone
	}
	var last error
	for _, tid := range tids {
		err := t.tr.Do(func() error {
			if err := t.tr.Seize(tid, freezeOptions); err != nil {
				return err
			}
			defer t.tr.Detach(tid, 0) //nolint:errcheck // the thread runs on either way
			if _, err := t.tr.Interrupt(tid); err != nil {
				return err
			}
			const wall = 0x40000000 // __WALL
			_, err := t.tr.Inject(tid, unix.SYS_WAIT4, uint64(child), 0, wall, 0)
			if errors.Is(err, unix.ECHILD) {
				return nil
			}
			return err
		})
		if err == nil {
			return nil
		}
		last = err
	}
	if st, err := procfs.Stat(pid); err != nil || st.State == 'Z' || st.State == 'X' {
		return nil
	}
	return last
}

// snapshotSummary is for the debug log.
func (t *tree) snapshotSummary() string {
	var b strings.Builder
	for _, s := range t.snaps {
		var n uint64
		for _, r := range s.runs {
			n += r.end - r.start
		}
		fmt.Fprintf(&b, "%d:%dKiB ", s.parent, n>>10)
	}
	return strings.TrimSpace(b.String())
}
