package procfs

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSelf reads the test process itself.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	st, err := Stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != pid || st.PPid != os.Getppid() || st.NumThreads < 1 || st.StartCode == 0 {
		t.Errorf("stat: %+v", st)
	}
	s, err := Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pid != pid || s.Tgid != pid || s.PPid != os.Getppid() || s.Uid.Effective != uint32(os.Geteuid()) {
		t.Errorf("status: %+v", s)
	}
	comm, err := Comm(pid)
	if err != nil || comm != s.Name || comm != st.Comm {
		t.Errorf("comm %q (%v), status %q, stat %q", comm, err, s.Name, st.Comm)
	}
	maps, err := Maps(pid)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, m := range maps {
		seen[m.Path] = true
		if i > 0 && maps[i-1].End > m.Start {
			t.Errorf("overlapping or unsorted mappings %+v %+v", maps[i-1], m)
		}
	}
	for _, want := range []string{"[stack]", "[vdso]", "[vvar]"} {
		if !seen[want] {
			t.Errorf("no %s mapping", want)
		}
	}
	exe, err := Exe(pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe.Path != self || !seen[self] {
		t.Errorf("exe %q, os.Executable %q", exe.Path, self)
	}
	args, err := Cmdline(pid)
	if err != nil || !slices.Equal(args, os.Args) {
		t.Errorf("cmdline %q, os.Args %q (%v)", args, os.Args, err)
	}
	tids, err := Tasks(pid)
	if err != nil || !slices.Contains(tids, pid) {
		t.Errorf("tasks %v %v", tids, err)
	}
	auxv, err := Auxv(pid)
	if err != nil || len(auxv) == 0 {
		t.Errorf("auxv %v %v", auxv, err)
	}
	ns, err := Namespaces(pid)
	if err != nil {
		t.Fatal(err)
	}
	var nst unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &nst); err != nil {
		t.Fatal(err)
	}
	if ns["net"] != nst.Ino {
		t.Errorf("net namespace %d, stat says %d", ns["net"], nst.Ino)
	}
	cwd, _ := os.Getwd()
	if d, err := Cwd(pid); err != nil || d != cwd {
		t.Errorf("cwd %q %v, want %q", d, err, cwd)
	}
}

// TestGoHelper checks what every Go program has: the runtime poller's epoll
// instance and eventfd, and threads.
func TestGoHelper(t *testing.T) {
	h := startHelper(t, "go")
	fds, err := Fds(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	var epfd int
	kinds := map[Kind]int{}
	byNum := map[int]FdEntry{}
	for _, e := range fds {
		kinds[e.Kind]++
		byNum[e.Num] = e
		if e.Kind == KindEventpoll {
			epfd = e.Num
		}
	}
	// Inherited fds vary with the environment (Go 1.26 also keeps cgroup files
	// open), so only the runtime's own and the helper's are checked.
	if kinds[KindEventpoll] != 1 || kinds[KindEventfd] != 1 || kinds[KindSocket] < 3 {
		t.Errorf("fd kinds %v in %+v", kinds, fds)
	}
	for _, key := range []string{"piper", "pipew"} {
		if e := byNum[int(h.num(t, key))]; e.Kind != KindPipe {
			t.Errorf("%s: %+v", key, e)
		}
	}
	if e := byNum[int(h.num(t, "unix"))]; e.Family != FamilyUnix || e.SocketProto != "UNIX" {
		t.Errorf("unix dgram socket: %+v", e)
	}
	if e := byNum[int(h.num(t, "tcp"))]; e.Family != FamilyInet || e.SocketProto != "TCP" {
		t.Errorf("tcp socket: %+v", e)
	}
	fi, err := Fdinfo(h.pid, epfd)
	if err != nil {
		t.Fatal(err)
	}
	var watched []int
	for _, tg := range fi.Epoll {
		watched = append(watched, tg.Fd)
	}
	for _, key := range []string{"piper", "pipew"} {
		if !slices.Contains(watched, int(h.num(t, key))) {
			t.Errorf("epoll watches %v, not the %s fd", watched, key)
		}
	}
	s, err := Status(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	tids, err := Tasks(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Threads < 2 || len(tids) != s.Threads {
		t.Errorf("threads %d, tasks %v", s.Threads, tids)
	}
	for _, tid := range tids {
		ts, err := TaskStatus(h.pid, tid)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Pid != tid || ts.Tgid != h.pid {
			t.Errorf("task %d: pid %d tgid %d", tid, ts.Pid, ts.Tgid)
		}
	}
}

// TestVanished checks that a process that is gone reads as fs.ErrNotExist, both
// when the /proc entry is missing (ENOENT) and when a file opened before the
// process was reaped is read after (ESRCH).
func TestVanished(t *testing.T) {
	h := startHelper(t, "idle")
	stat := FS{}.pidPath(h.pid, "stat")
	fd, err := unix.Open(stat, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	h.cmd.Process.Kill()
	h.cmd.Wait()

	var buf [512]byte
	_, err = unix.Read(fd, buf[:])
	if err != unix.ESRCH {
		t.Fatalf("read of a reaped process's stat: %v, want ESRCH", err)
	}
	perr := pathErr("read", stat, err)
	if !errors.Is(perr, fs.ErrNotExist) || !errors.Is(perr, syscall.ESRCH) {
		t.Errorf("%v should match fs.ErrNotExist and ESRCH", perr)
	}

	for name, read := range map[string]func() error{
		"Stat":       func() error { _, err := Stat(h.pid); return err },
		"Status":     func() error { _, err := Status(h.pid); return err },
		"Maps":       func() error { _, err := Maps(h.pid); return err },
		"Fds":        func() error { _, err := Fds(h.pid); return err },
		"Fdinfo":     func() error { _, err := Fdinfo(h.pid, 0); return err },
		"Exe":        func() error { _, err := Exe(h.pid); return err },
		"Namespaces": func() error { _, err := Namespaces(h.pid); return err },
		"Pagemap":    func() error { _, err := OpenPagemap(h.pid); return err },
		"Children":   func() error { _, err := Children(h.pid); return err },
	} {
		err := read()
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
			t.Errorf("%s of a vanished process: %v, want a *fs.PathError matching fs.ErrNotExist", name, err)
		}
	}
}

// checkScanMatchesPread compares, for every mapping, the PAGEMAP_SCAN path of
// Ranges with the pread path, and shows what [vsyscall] gives. The process must
// be idle: the test process itself touches new pages between the two reads.
func checkScanMatchesPread(t *testing.T, pid int, maps []Mapping) {
	t.Helper()
	scan, err := OpenPagemap(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer scan.Close()
	pread, err := OpenPagemap(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	pread.noScan = true
	for i := range maps {
		m := &maps[i]
		a, errA := scan.PageRanges(m, nil)
		b, errB := pread.PageRanges(m, nil)
		if m.Path == "[vsyscall]" {
			if errA == nil || errB == nil {
				t.Errorf("[vsyscall] is above the user address space, yet: %v %v", errA, errB)
			}
			continue
		}
		if errA != nil || errB != nil {
			t.Fatalf("%+v: %v / %v", m, errA, errB)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%#x-%#x %s: PAGEMAP_SCAN %x, pread %x", m.Start, m.End, m.Path, a, b)
		}
	}
	if scan.noScan {
		t.Log("PAGEMAP_SCAN not supported here: only the pread path was tested")
	}
}
