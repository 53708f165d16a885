package procfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const page = 4096

// victimComm has blanks, parentheses and a fake stat field layout: stat's comm
// must be cut at the last ')'. PR_SET_NAME keeps 15 bytes.
const victimComm = "v) (x y) R 1 2"

// TestVictim starts one C victim with a bit of everything and checks each reader
// against what the victim reports it made.
func TestVictim(t *testing.T) {
	bin := buildVictim(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "mapped")
	if err := os.WriteFile(file, bytes.Repeat([]byte{'A'}, 8*page), 0o600); err != nil {
		t.Fatal(err)
	}
	watched := filepath.Join(dir, "watched")
	if err := os.Mkdir(watched, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, victimComm, file, watched)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CRRUN_VICTIM=1")
	// As a subreaper, the test inherits the victim's children when the victim
	// dies, and can reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	v := start(t, cmd)
	pid := v.pid
	t.Cleanup(func() {
		v.cmd.Process.Kill()
		v.cmd.Wait()
		// The children got SIGKILL from PR_SET_PDEATHSIG and are ours now.
		for _, k := range []string{"child", "threadchild"} {
			if c, err := strconv.Atoi(v.info[k]); err == nil && c > 0 {
				syscall.Kill(c, syscall.SIGKILL)
				if _, err := unix.Wait4(c, nil, 0, nil); err != nil {
					t.Errorf("reaping %s %d: %v", k, c, err)
				}
			}
		}
	})

	maps, err := Maps(pid)
	if err != nil {
		t.Fatal(err)
	}
	find := func(t *testing.T, start uint64) *Mapping {
		t.Helper()
		for i := range maps {
			if maps[i].Start == start {
				return &maps[i]
			}
		}
		t.Fatalf("no mapping at %#x", start)
		return nil
	}
	pm, err := OpenPagemap(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()

	t.Run("Maps", func(t *testing.T) {
		names := map[string]bool{}
		for _, m := range maps {
			names[m.Path] = true
		}
		for _, want := range []string{"[heap]", "[stack]", "[vdso]", "[vvar]", bin, file} {
			if !names[want] {
				t.Errorf("no mapping named %q", want)
			}
		}
		sh := find(t, v.num(t, "shared"))
		if !sh.Perms.Shared() || !sh.Perms.Write() || sh.Perms.String() != "rw-s" || sh.Size() != 16*page {
			t.Errorf("shared mapping: %+v", sh)
		}
		if sh.Path != "/dev/zero" || !sh.Deleted || sh.Inode == 0 {
			t.Errorf("shared anonymous memory should be \"/dev/zero (deleted)\": %+v", sh)
		}
		pr := find(t, v.num(t, "private"))
		var st unix.Stat_t
		if err := unix.Stat(file, &st); err != nil {
			t.Fatal(err)
		}
		if pr.Path != file || pr.Deleted || !pr.Perms.Private() || pr.Inode != st.Ino || pr.Dev != DevFromStat(st.Dev) {
			t.Errorf("private file mapping: %+v, file ino %d dev %v", pr, st.Ino, DevFromStat(st.Dev))
		}
		mf := find(t, v.num(t, "memfdmap"))
		if mf.Path != "/memfd:crrun test" || !mf.Deleted {
			t.Errorf("memfd mapping: %+v", mf)
		}
		sp := find(t, v.num(t, "sparse"))
		if sp.Size() != 1<<30 || !sp.IsAnonymous() || sp.Path != "" {
			t.Errorf("sparse mapping: %+v", sp)
		}
	})

	t.Run("Smaps", func(t *testing.T) {
		sm, err := Smaps(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(sm) != len(maps) {
			t.Fatalf("%d smaps entries, %d maps", len(sm), len(maps))
		}
		sparse := v.num(t, "sparse")
		for i := range sm {
			e := &sm[i]
			if e.Mapping != maps[i] {
				t.Errorf("smaps header %+v != maps %+v", e.Mapping, maps[i])
			}
			if e.Size != e.End-e.Start {
				t.Errorf("%#x: Size %d", e.Start, e.Size)
			}
			if e.Perms.Read() != e.HasFlag("rd") || e.Perms.Write() != e.HasFlag("wr") || e.Perms.Shared() != e.HasFlag("sh") {
				t.Errorf("%#x: perms %v vs VmFlags %v", e.Start, e.Perms, e.VmFlags.String())
			}
			switch {
			case e.Path == "[stack]" && !e.HasFlag("gd"):
				t.Errorf("stack without gd: %s", e.VmFlags.String())
			case e.Start == sparse:
				if !e.HasFlag("nr") || !e.HasFlag("nh") || e.HasFlag("hg") {
					t.Errorf("sparse VmFlags %s, want nr and nh", e.VmFlags.String())
				}
				if e.Rss != 3*page || e.Anonymous != 3*page {
					t.Errorf("sparse Rss %d Anonymous %d, want 3 pages", e.Rss, e.Anonymous)
				}
			}
		}
	})

	t.Run("PagemapSparse", func(t *testing.T) {
		m := find(t, v.num(t, "sparse"))
		got, err := pm.PageRanges(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := m.Start
		want := []PageRange{
			{s, s + page},
			{s + 300<<20 + 3*page, s + 300<<20 + 4*page},
			{m.End - page, m.End},
		}
		if !slices.Equal(got, want) {
			t.Errorf("sparse ranges %x, want %x", got, want)
		}
		ents, err := pm.Entries(s, s+2*page)
		if err != nil {
			t.Fatal(err)
		}
		// The victim forked after touching the page, so its children share it
		// copy-on-write: present, anonymous, and not exclusively mapped.
		if e := ents[0]; !e.Present() || e.FileOrSharedAnon() || e.Exclusive() || e.Swapped() {
			t.Errorf("touched private anonymous page: %#x", uint64(e))
		}
		if ents[1] != 0 {
			t.Errorf("untouched page: %#x", uint64(ents[1]))
		}
	})

	t.Run("PagemapPrivateFile", func(t *testing.T) {
		m := find(t, v.num(t, "private"))
		ents, err := pm.Entries(m.Start, m.End)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ents {
			written := i == 2 || i == 5
			// Every page was read; the written ones are private copies.
			if !e.Present() || e.FileOrSharedAnon() == written {
				t.Errorf("page %d (written %v): %#x", i, written, uint64(e))
			}
		}
		got, err := pm.PageRanges(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []PageRange{{m.Start + 2*page, m.Start + 3*page}, {m.Start + 5*page, m.Start + 6*page}}
		if !slices.Equal(got, want) {
			t.Errorf("private file ranges %x, want %x (only the written pages)", got, want)
		}
	})

	t.Run("PagemapShared", func(t *testing.T) {
		m := find(t, v.num(t, "shared"))
		got, err := pm.PageRanges(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []PageRange{{m.Start, m.Start + page}, {m.Start + 5*page, m.Start + 6*page}}
		if !slices.Equal(got, want) {
			t.Errorf("shared ranges %x, want %x", got, want)
		}
		ents, err := pm.Entries(m.Start, m.Start+page)
		if err != nil {
			t.Fatal(err)
		}
		if !ents[0].Present() || !ents[0].FileOrSharedAnon() {
			t.Errorf("shared anonymous page: %#x, want present and bit 61", uint64(ents[0]))
		}
		// Appending keeps earlier ranges separate.
		two, err := pm.PageRanges(m, got)
		if err != nil {
			t.Fatal(err)
		}
		if len(two) != 4 {
			t.Errorf("appended ranges %x", two)
		}
	})

	t.Run("PagemapScanMatchesPread", func(t *testing.T) {
		checkScanMatchesPread(t, pid, maps)
	})

	t.Run("Stat", func(t *testing.T) {
		st, err := Stat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pid != pid || st.Comm != victimComm || st.PPid != os.Getpid() {
			t.Errorf("pid %d comm %q ppid %d", st.Pid, st.Comm, st.PPid)
		}
		if st.State != 'S' || st.NumThreads != 2 || st.ExitSignal != int(syscall.SIGCHLD) {
			t.Errorf("state %c threads %d exit signal %d", st.State, st.NumThreads, st.ExitSignal)
		}
		if st.Pgrp != syscall.Getpgrp() {
			t.Errorf("pgrp %d, want %d", st.Pgrp, syscall.Getpgrp())
		}
		if !(st.StartCode < st.EndCode && st.StartData < st.EndData && st.EndData <= st.StartBrk &&
			st.ArgStart < st.ArgEnd && st.EnvStart < st.EnvEnd && st.StartStack > st.StartBrk) {
			t.Errorf("mm fields: %+v", st)
		}
		self, err := Stat(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if st.StartTime < self.StartTime || st.Session != self.Session {
			t.Errorf("starttime %d (ours %d) session %d (ours %d)", st.StartTime, self.StartTime, st.Session, self.Session)
		}
		tid := int(v.num(t, "thread"))
		ts, err := TaskStat(pid, tid)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Pid != tid || ts.Comm != victimComm {
			t.Errorf("thread stat: pid %d comm %q", ts.Pid, ts.Comm)
		}
	})

	t.Run("Status", func(t *testing.T) {
		s, err := Status(pid)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != victimComm || s.Tgid != pid || s.Pid != pid || s.PPid != os.Getpid() || s.TracerPid != 0 {
			t.Errorf("status ids: %+v", s)
		}
		uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
		if s.Uid != (IDs{uid, uid, uid, uid}) || s.Gid != (IDs{gid, gid, gid, gid}) {
			t.Errorf("uid %v gid %v", s.Uid, s.Gid)
		}
		if s.Threads != 2 || !slices.Equal(s.NSpid, []int{pid}) || !slices.Equal(s.NStgid, []int{pid}) {
			t.Errorf("threads %d NSpid %v NStgid %v", s.Threads, s.NSpid, s.NStgid)
		}
		bit := func(sig syscall.Signal) uint64 { return 1 << (sig - 1) }
		if s.SigCgt&bit(syscall.SIGUSR1) == 0 || s.SigIgn&bit(syscall.SIGPIPE) == 0 || s.SigBlk&bit(syscall.SIGUSR2) == 0 {
			t.Errorf("SigCgt %#x SigIgn %#x SigBlk %#x", s.SigCgt, s.SigIgn, s.SigBlk)
		}
		if s.State != 'S' || s.StateName != "sleeping" || s.VmRSS == 0 || s.VmSize < 1<<30 || s.Seccomp != 0 || s.NoNewPrivs {
			t.Errorf("state %c %q VmRSS %d VmSize %d seccomp %d nnp %v", s.State, s.StateName, s.VmRSS, s.VmSize, s.Seccomp, s.NoNewPrivs)
		}
		if s.SigQ.Limit == 0 || s.Umask != uint32(syscall.Umask(0o22)) {
			t.Errorf("SigQ %+v umask %o", s.SigQ, s.Umask)
		}
		// A seccomp notification gives a TID: /proc/TID/status leads to the Tgid.
		tid := int(v.num(t, "thread"))
		for _, read := range []func() (*ProcStatus, error){
			func() (*ProcStatus, error) { return Status(tid) },
			func() (*ProcStatus, error) { return TaskStatus(pid, tid) },
		} {
			ts, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if ts.Pid != tid || ts.Tgid != pid || ts.SigBlk&bit(syscall.SIGUSR2) == 0 {
				t.Errorf("thread status: pid %d tgid %d SigBlk %#x", ts.Pid, ts.Tgid, ts.SigBlk)
			}
		}
	})

	t.Run("Fds", func(t *testing.T) {
		fds, err := Fds(pid)
		if err != nil {
			t.Fatal(err)
		}
		byNum := map[int]FdEntry{}
		for i, e := range fds {
			if i > 0 && fds[i-1].Num >= e.Num {
				t.Errorf("fds not sorted: %d after %d", e.Num, fds[i-1].Num)
			}
			byNum[e.Num] = e
		}
		get := func(key string) FdEntry {
			t.Helper()
			n := int(v.num(t, key))
			e, ok := byNum[n]
			if !ok {
				t.Fatalf("fd %d (%s) not listed", n, key)
			}
			// Fd on its own agrees with Fds.
			one, err := Fd(pid, n)
			if err != nil {
				t.Fatal(err)
			}
			if one != e {
				t.Errorf("Fd(%d) = %+v, Fds has %+v", n, one, e)
			}
			return e
		}
		kinds := map[string]Kind{
			"epoll": KindEventpoll, "eventfd": KindEventfd, "timerfd": KindTimerfd,
			"signalfd": KindSignalfd, "inotify": KindInotify, "unix": KindSocket,
			"tcp": KindSocket, "udp": KindSocket, "deleted": KindFile, "memfd": KindMemfd,
			"devnull": KindDevice, "dir": KindDir, "pipe": KindPipe, "pidfd": KindPidfd,
		}
		for key, want := range kinds {
			if e := get(key); e.Kind != want {
				t.Errorf("%s: fd %d %q is %v, want %v", key, e.Num, e.Target, e.Kind, want)
			}
		}
		if n := int64(v.num(t, "iouring")); n >= 0 {
			if e := get("iouring"); e.Kind != KindIoUring {
				t.Errorf("io_uring fd: %+v", e)
			}
		}
		if e := get("deleted"); !e.Deleted || e.Path != filepath.Join(watched, "deleted file") || e.Nlink != 0 || e.Size != 5 {
			t.Errorf("deleted file: %+v", e)
		}
		if e := get("memfd"); e.MemfdName() != "crrun test" || !e.Deleted || e.Size != 2*page || e.FsType != unix.TMPFS_MAGIC {
			t.Errorf("memfd: %+v", e)
		}
		if e := get("devnull"); e.Rdev != (Dev{1, 3}) || !e.IsCharDevice() || e.Path != "/dev/null" {
			t.Errorf("/dev/null: %+v", e)
		}
		if e := get("dir"); e.Path != watched {
			t.Errorf("dir: %+v", e)
		}
		if e := get("pipe"); e.Inode == 0 || e.Target != "pipe:["+itoa(e.Inode)+"]" {
			t.Errorf("pipe: %+v", e)
		}
		for key, want := range map[string]Family{"unix": FamilyUnix, "tcp": FamilyInet, "udp": FamilyInet} {
			if e := get(key); e.Family != want || e.Inode == 0 {
				t.Errorf("%s socket: %+v, want %v", key, e, want)
			}
		}
		if e := get("unix"); e.SocketProto != "UNIX-STREAM" || e.Family.String() != "AF_UNIX" {
			t.Errorf("unix socket proto %q family %v", e.SocketProto, e.Family)
		}
		if int64(v.num(t, "tcp6")) >= 0 {
			if e := get("tcp6"); e.Family != FamilyInet6 || e.Family.String() != "AF_INET6" {
				t.Errorf("tcp6 socket: %+v", e)
			}
		}
	})

	t.Run("SocketFamily", func(t *testing.T) {
		socks, err := Sockets(pid)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]Family{"unix": FamilyUnix, "tcp": FamilyInet, "udp": FamilyInet, "tcp6": FamilyInet6} {
			if int64(v.num(t, key)) < 0 {
				continue
			}
			e, err := Fd(pid, int(v.num(t, key)))
			if err != nil {
				t.Fatal(err)
			}
			fam, err := SocketFamily(pid, e.Inode)
			if err != nil {
				t.Fatal(err)
			}
			if fam != want {
				t.Errorf("%s: SocketFamily = %v, want %v", key, fam, want)
			}
			s, inTable := socks[e.Inode]
			switch key {
			case "unix":
				if !inTable || s.Family != FamilyUnix || s.Type != syscall.SOCK_STREAM || s.Table != "unix" {
					t.Errorf("unix socket in table: %v %+v", inTable, s)
				}
			case "udp":
				if !inTable || s.Table != "udp" {
					t.Errorf("bound udp socket in table: %v %+v", inTable, s)
				}
			default: // never bound: in no table, found through the fd
				if inTable {
					t.Errorf("%s socket unexpectedly in table %+v", key, s)
				}
			}
		}
		if fam, err := SocketFamily(pid, 1<<40); err != nil || fam != FamilyUnknown || fam.String() != "unknown" {
			t.Errorf("unknown inode: %v %v", fam, err)
		}
	})

	t.Run("Fdinfo", func(t *testing.T) {
		fdinfo := func(key string) *ProcFdinfo {
			t.Helper()
			fi, err := Fdinfo(pid, int(v.num(t, key)))
			if err != nil {
				t.Fatal(err)
			}
			return fi
		}
		if fi := fdinfo("eventfd"); fi.Eventfd == nil || fi.Eventfd.Count != 5 || fi.Eventfd.Semaphore {
			t.Errorf("eventfd: %+v", fi.Eventfd)
		}
		efd, tfd := int(v.num(t, "eventfd")), int(v.num(t, "timerfd"))
		ep := fdinfo("epoll")
		if ep.Flags&unix.O_CLOEXEC == 0 || len(ep.Epoll) != 2 {
			t.Fatalf("epoll: flags %o targets %+v", ep.Flags, ep.Epoll)
		}
		slices.SortFunc(ep.Epoll, func(a, b EpollTarget) int { return a.Fd - b.Fd })
		e0, e1 := ep.Epoll[0], ep.Epoll[1]
		if e0.Fd != efd || e0.Data != 0x1234 || e0.Events&unix.EPOLLIN == 0 || e0.Events&unix.EPOLLET != 0 {
			t.Errorf("epoll target 0: %+v", e0)
		}
		if e1.Fd != tfd || e1.Data != 7 || e1.Events&unix.EPOLLOUT == 0 || e1.Events&unix.EPOLLET == 0 {
			t.Errorf("epoll target 1: %+v", e1)
		}
		if e0.Ino == 0 || e0.Ino != fdinfo("eventfd").Ino {
			t.Errorf("epoll target inode %d", e0.Ino)
		}
		tf := fdinfo("timerfd").Timerfd
		if tf == nil || tf.ClockID != unix.CLOCK_MONOTONIC || tf.Interval != (Timespec{1, 0}) ||
			tf.Value.Sec == 0 || tf.Value.Sec > 100 || tf.Ticks != 0 || tf.SettimeFlags != 0 {
			t.Errorf("timerfd: %+v", tf)
		}
		sf := fdinfo("signalfd").Signalfd
		if want := uint64(1<<(syscall.SIGUSR1-1) | 1<<(syscall.SIGTERM-1)); sf == nil || sf.Sigmask != want {
			t.Errorf("signalfd: %+v, want mask %#x", sf, want)
		}
		in := fdinfo("inotify").Inotify
		var st unix.Stat_t
		if err := unix.Stat(watched, &st); err != nil {
			t.Fatal(err)
		}
		if len(in) != 1 || in[0].Ino != st.Ino || in[0].Mask&(unix.IN_CREATE|unix.IN_DELETE) != unix.IN_CREATE|unix.IN_DELETE || in[0].WD != 1 {
			t.Errorf("inotify: %+v, dir inode %d", in, st.Ino)
		}
		if len(in) == 1 && in[0].Sdev != DevFromStat(st.Dev) {
			t.Errorf("inotify sdev %v, dir dev %v", in[0].Sdev, DevFromStat(st.Dev))
		}
		if fi := fdinfo("deleted"); fi.Pos != 5 || fi.Flags&unix.O_ACCMODE != unix.O_RDWR {
			t.Errorf("deleted file: pos %d flags %o", fi.Pos, fi.Flags)
		}
		if fi := fdinfo("pidfd"); fi.Pidfd == nil || fi.Pidfd.Pid != int(v.num(t, "child")) {
			t.Errorf("pidfd: %+v", fi.Pidfd)
		}
	})

	t.Run("Timers", func(t *testing.T) {
		tm, err := Timers(pid)
		if err != nil {
			t.Fatal(err)
		}
		want := Timer{ID: 0, Signal: int(syscall.SIGUSR2), SigValue: 0x42, Notify: "signal", NotifyKind: "pid", NotifyPid: pid, ClockID: unix.CLOCK_MONOTONIC}
		if len(tm) != 1 || tm[0] != want {
			t.Errorf("timers %+v, want %+v", tm, want)
		}
	})

	t.Run("Tasks", func(t *testing.T) {
		tids, err := Tasks(pid)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{pid, int(v.num(t, "thread"))}; !slices.Equal(tids, want) {
			t.Errorf("tasks %v, want %v", tids, want)
		}
		kids, err := Children(pid)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{int(v.num(t, "child")), int(v.num(t, "threadchild"))}
		slices.Sort(want)
		if !slices.Equal(kids, want) {
			t.Errorf("children %v, want %v (one forked by each thread)", kids, want)
		}
	})

	t.Run("Misc", func(t *testing.T) {
		if c, err := Comm(pid); err != nil || c != victimComm {
			t.Errorf("comm %q %v", c, err)
		}
		if c, err := TaskComm(pid, int(v.num(t, "thread"))); err != nil || c != victimComm {
			t.Errorf("thread comm %q %v", c, err)
		}
		const addrNoRandomize = 0x0040000
		if p, err := Personality(pid); err != nil || p&addrNoRandomize == 0 {
			t.Errorf("personality %#x %v", p, err)
		}
		if d, err := Cwd(pid); err != nil || d != dir {
			t.Errorf("cwd %q %v, want %q", d, err, dir)
		}
		if r, err := RootDir(pid); err != nil || r != "/" {
			t.Errorf("root %q %v", r, err)
		}
		args, err := Cmdline(pid)
		if err != nil || !slices.Equal(args, []string{bin, victimComm, file, watched}) {
			t.Errorf("cmdline %q %v", args, err)
		}
		env, err := Environ(pid)
		if err != nil || !slices.Contains(env, "CRRUN_VICTIM=1") {
			t.Errorf("environ has no CRRUN_VICTIM=1 (%d entries, %v)", len(env), err)
		}
		exe, err := Exe(pid)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(bin, &st); err != nil {
			t.Fatal(err)
		}
		if exe.Path != bin || exe.Deleted || exe.Inode != st.Ino || exe.Size != st.Size || exe.Dev != DevFromStat(st.Dev) ||
			exe.Mtime.UnixNano() != st.Mtim.Nano() {
			t.Errorf("exe %+v, stat ino %d size %d", exe, st.Ino, st.Size)
		}
		auxv, err := Auxv(pid)
		if err != nil {
			t.Fatal(err)
		}
		found := map[uint64]uint64{}
		for _, a := range auxv {
			found[a.Type] = a.Value
		}
		const atPagesz, atEntry, atExecfn = 6, 9, 31
		if found[atPagesz] != page || found[atEntry] == 0 || found[atExecfn] == 0 {
			t.Errorf("auxv %v", auxv)
		}
		ns, err := Namespaces(pid)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := Namespaces(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "user", "uts"} {
			if ns[name] == 0 || ns[name] != mine[name] {
				t.Errorf("namespace %s: victim %d, test %d", name, ns[name], mine[name])
			}
		}
	})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
