package procfs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// fakeProc writes files (relative path → content) under a temporary root and
// returns an FS reading it.
func fakeProc(t *testing.T, files map[string]string) FS {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return FS{Root: root}
}

func TestFakeMaps(t *testing.T) {
	p := fakeProc(t, map[string]string{"7/maps": "" +
		"559c8544f000-559c85451000 r-xp 00001000 fe:00 247278                     /usr/bin/my prog\n" +
		"55c829b31000-55c829b73000 rw-p 00000000 00:00 0                          [heap]\n" +
		"7f0000000000-7f0000001000 rw-s 00000000 00:01 1025                       /dev/zero (deleted)\n" +
		"7f0000001000-7f0000002000 rw-s 00000000 00:01 1026                       /memfd:a (deleted) (deleted)\n" +
		"7f0000002000-7f0000003000 ---p 00000000 00:00 0 \n" +
		"7f0000003000-7f0000004000 rw-p 00000000 00:00 0                          [anon:my name]\n" +
		"7ffd5f1c0000-7ffd5f1c4000 r--p 00000000 00:00 0                          [vvar]\n" +
		"7ffd5f1c4000-7ffd5f1c6000 r--p 00000000 00:00 0                          [vvar_vclock]\n" +
		"7ffd5f1c6000-7ffd5f1c8000 r-xp 00000000 00:00 0                          [vdso]\n" +
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n" +
		"\n",
	})
	maps, err := p.Maps(7)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{0x559c8544f000, 0x559c85451000, PermRead | PermExec, 0x1000, Dev{0xfe, 0}, 247278, "/usr/bin/my prog", false},
		{0x55c829b31000, 0x55c829b73000, PermRead | PermWrite, 0, Dev{}, 0, "[heap]", false},
		{0x7f0000000000, 0x7f0000001000, PermRead | PermWrite | PermShared, 0, Dev{0, 1}, 1025, "/dev/zero", true},
		{0x7f0000001000, 0x7f0000002000, PermRead | PermWrite | PermShared, 0, Dev{0, 1}, 1026, "/memfd:a (deleted)", true},
		{0x7f0000002000, 0x7f0000003000, 0, 0, Dev{}, 0, "", false},
		{0x7f0000003000, 0x7f0000004000, PermRead | PermWrite, 0, Dev{}, 0, "[anon:my name]", false},
		{0x7ffd5f1c0000, 0x7ffd5f1c4000, PermRead, 0, Dev{}, 0, "[vvar]", false},
		{0x7ffd5f1c4000, 0x7ffd5f1c6000, PermRead, 0, Dev{}, 0, "[vvar_vclock]", false},
		{0x7ffd5f1c6000, 0x7ffd5f1c8000, PermRead | PermExec, 0, Dev{}, 0, "[vdso]", false},
		{0xffffffffff600000, 0xffffffffff601000, PermExec, 0, Dev{}, 0, "[vsyscall]", false},
	}
	if !slices.Equal(maps, want) {
		t.Errorf("got\n%+v\nwant\n%+v", maps, want)
	}
	if !maps[1].IsPseudo() || maps[0].IsPseudo() || maps[4].IsPseudo() || !maps[4].IsAnonymous() || maps[2].IsAnonymous() {
		t.Error("IsPseudo/IsAnonymous")
	}
	if s := maps[2].Perms.String(); s != "rw-s" {
		t.Errorf("perms %q", s)
	}

	for _, bad := range []string{
		"559c8544f000 r-xp 00001000 fe:00 1 /x\n",
		"2000-1000 r-xp 00001000 fe:00 1 /x\n",
		"1000-2000 r-xq 00001000 fe:00 1 /x\n",
		"1000-2000 rwx 00001000 fe:00 1 /x\n",
		"1000-2000 r-xp 0000g000 fe:00 1 /x\n",
		"1000-2000 r-xp 00001000 fe00 1 /x\n",
		"1000-2000 r-xp 00001000 fe:00 -1 /x\n",
	} {
		p := fakeProc(t, map[string]string{"7/maps": "1000-2000 r-xp 0 00:00 0\n" + bad})
		_, err := p.Maps(7)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 2 || pe.Path != filepath.Join(p.Root, "7/maps") {
			t.Errorf("%q: %v, want a ParseError at line 2", bad, err)
		}
	}
	if _, err := p.Maps(8); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing process: %v", err)
	}
}

func TestFakeSmaps(t *testing.T) {
	p := fakeProc(t, map[string]string{"7/smaps": "" +
		"7ffd5f1a0000-7ffd5f1c1000 rw-p 00000000 00:00 0                          [stack]\n" +
		"Size:                132 kB\n" +
		"KernelPageSize:        4 kB\n" +
		"Rss:                  16 kB\n" +
		"Pss_Dirty:            12 kB\n" +
		"Anonymous:            16 kB\n" +
		"Swap:                  8 kB\n" +
		"NewField2030:          1 kB\n" +
		"THPeligible:           1\n" +
		"ProtectionKey:         0\n" +
		"VmFlags: rd wr mr mw me gd ac zz x1 \n" +
		"7f0000000000-7f0000001000 r--s 00000000 00:01 5                          /dev/zero (deleted)\n" +
		"Size:                  4 kB\n" +
		"VmFlags: rd sh mr ms\n",
	})
	sm, err := p.Smaps(7)
	if err != nil {
		t.Fatal(err)
	}
	if len(sm) != 2 {
		t.Fatalf("%d entries", len(sm))
	}
	s := sm[0]
	if s.Path != "[stack]" || s.Size != 132<<10 || s.KernelPageSize != 4096 || s.Rss != 16<<10 || s.PssDirty != 12<<10 ||
		s.Anonymous != 16<<10 || s.Swap != 8<<10 || !s.THPEligible || s.ProtectionKey != 0 {
		t.Errorf("stack: %+v", s)
	}
	for _, f := range []string{"rd", "wr", "gd", "zz", "x1"} {
		if !s.HasFlag(f) {
			t.Errorf("no flag %q in %s", f, s.VmFlags.String())
		}
	}
	if s.HasFlag("sh") || s.HasFlag("") || s.HasFlag("x2") {
		t.Error("spurious flag")
	}
	if got := s.VmFlags.String(); got != "ac gd me mr mw rd wr x1 zz" {
		t.Errorf("flags %q", got)
	}
	if !sm[1].HasFlag("sh") || sm[1].HasFlag("wr") || sm[1].Path != "/dev/zero" || !sm[1].Deleted {
		t.Errorf("shared: %+v %s", sm[1].Mapping, sm[1].VmFlags.String())
	}

	bad := fakeProc(t, map[string]string{"7/smaps": "Size: 4 kB\n"})
	if _, err := bad.Smaps(7); !errors.Is(err, ErrMalformed) {
		t.Errorf("field before header: %v", err)
	}
	bad = fakeProc(t, map[string]string{"7/smaps": "1000-2000 r--p 0 00:00 0\nRss: 4 MB\n"})
	if _, err := bad.Smaps(7); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad unit: %v", err)
	}
}

const fakeStatus = `Name:	 a\nb\\c 
Umask:	0027
State:	t (tracing stop)
Tgid:	100
Ngid:	0
Pid:	101
PPid:	1
TracerPid:	50
Uid:	1000	1001	1002	1003
Gid:	2000	2001	2002	2003
FDSize:	64
Groups:	4 24 27 
NStgid:	100	1
NSpid:	101	2
NSpgid:	100	1
NSsid:	100	1
Kthread:	0
VmPeak:	    3060 kB
VmSize:	    3060 kB
VmRSS:	    1700 kB
VmSwap:	       8 kB
CoreDumping:	0
THP_enabled:	1
Threads:	3
SigQ:	2/96364
SigPnd:	0000000000000100
ShdPnd:	0000000000000200
SigBlk:	0000000000010000
SigIgn:	0000000000001000
SigCgt:	0000000180000002
CapInh:	0000000000000000
CapPrm:	000001ffffffffff
CapEff:	000001fffeffffff
CapBnd:	000001ffffffffff
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	3
Speculation_Store_Bypass:	thread vulnerable
Cpus_allowed_list:	0-1
voluntary_ctxt_switches:	5
nonvoluntary_ctxt_switches:	6
`

func TestFakeStatus(t *testing.T) {
	p := fakeProc(t, map[string]string{"101/status": fakeStatus, "100/task/101/status": fakeStatus})
	for _, read := range []func() (*ProcStatus, error){
		func() (*ProcStatus, error) { return p.Status(101) },
		func() (*ProcStatus, error) { return p.TaskStatus(100, 101) },
	} {
		s, err := read()
		if err != nil {
			t.Fatal(err)
		}
		want := ProcStatus{
			Name: " a\nb\\c ", Umask: 0o027, State: 't', StateName: "tracing stop", Tgid: 100, Pid: 101, PPid: 1,
			TracerPid: 50, Uid: IDs{1000, 1001, 1002, 1003}, Gid: IDs{2000, 2001, 2002, 2003}, FDSize: 64,
			Groups: []uint32{4, 24, 27}, NStgid: []int{100, 1}, NSpid: []int{101, 2}, NSpgid: []int{100, 1},
			NSsid: []int{100, 1}, VmPeak: 3060 << 10, VmSize: 3060 << 10, VmRSS: 1700 << 10, VmSwap: 8 << 10,
			THPEnabled: true, Threads: 3, SigQ: SigQ{2, 96364}, SigPnd: 0x100, ShdPnd: 0x200, SigBlk: 0x10000,
			SigIgn: 0x1000, SigCgt: 0x180000002, CapPrm: 0x1ffffffffff, CapEff: 0x1fffeffffff,
			CapBnd: 0x1ffffffffff, NoNewPrivs: true, Seccomp: 2, SeccompFilters: 3, CpusAllowedList: "0-1",
			VoluntaryCtxtSwitches: 5, NonvoluntaryCtxtSwitches: 6,
		}
		if !reflect.DeepEqual(*s, want) {
			t.Errorf("got\n%+v\nwant\n%+v", *s, want)
		}
	}
	for _, bad := range []string{"Uid:\t1 2 3\n", "SigBlk:\txyz\n", "SigQ:\t12\n", "VmRSS:\t12 MB\n", "Pid:\t1\nNoNewPrivs:\t2\n", "garbage\n", "Name:\tx\n"} {
		p := fakeProc(t, map[string]string{"1/status": bad})
		if _, err := p.Status(1); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestFakeFdinfo(t *testing.T) {
	p := fakeProc(t, map[string]string{
		"1/fdinfo/3": "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n" +
			"tfd:        4 events:       19 data:             1234  pos:0 ino:40e sdev:10\n" +
			"tfd:        5 events: 8000001c data: ffffffffffffffff  pos:12 ino:9e7e sdev:800013\n",
		"1/fdinfo/4": "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\neventfd-count:               1f\neventfd-id: 2\neventfd-semaphore: 1\n",
		"1/fdinfo/5": "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nclockid: 0\nticks: 3\nsettime flags: 03\n" +
			"it_value: (9, 949668392)\nit_interval: (1, 500)\n",
		"1/fdinfo/6": "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nsigmask:\t0000000000004200\n",
		"1/fdinfo/7": "pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1038\n" +
			"inotify wd:a ino:3c4a3 sdev:fe00000 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000\n" +
			"inotify wd:1 ino:2 sdev:3 mask:fff ignored_mask:0\n",
		"1/fdinfo/8": "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nfanotify flags:10 event-flags:8000\n" +
			"fanotify ino:3c4a3 sdev:fe00000 mflags:0 mask:20 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000\n" +
			"fanotify mnt_id:1c mflags:0 mask:8 ignored_mask:0\n",
		"1/fdinfo/9":  "pos:\t0\nflags:\t02000002\nmnt_id:\t4\nino:\t13365\nPid:\t13364\nNSpid:\t13364\t5\n",
		"1/fdinfo/10": "pos:\t7\nflags:\t0100002\nmnt_id:\t27\nino:\t99\nlock:\t1: POSIX  ADVISORY  WRITE 1234 fe:00:99 0 EOF\nlock:\t2: OFDLCK ADVISORY  READ  -1 fe:00:99 0 9\n",
		"1/fdinfo/11": "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t9846\nSqMask:\t0x3\nSqHead:\t0\nPollList:\n",
		"1/fdinfo/12": "pos:\t0\nmnt_id:\t17\n",
		"1/fdinfo/13": "pos:\t0\nflags:\t02\ntfd: 4 events: 19\n",
		"1/fdinfo/14": "pos:\t0\nflags:\t09\n",
	})
	get := func(fd int) *ProcFdinfo {
		t.Helper()
		fi, err := p.Fdinfo(1, fd)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	ep := get(3)
	if ep.Flags != 0o2000002 || ep.MntID != 17 || ep.Ino != 1038 || len(ep.Epoll) != 2 {
		t.Fatalf("epoll: %+v", ep)
	}
	if want := (EpollTarget{Fd: 4, Events: 0x19, Data: 0x1234, Ino: 0x40e, Sdev: Dev{0, 0x10}}); ep.Epoll[0] != want {
		t.Errorf("tfd 4: %+v, want %+v", ep.Epoll[0], want)
	}
	if want := (EpollTarget{Fd: 5, Events: 0x8000001c, Data: 1<<64 - 1, Pos: 12, Ino: 0x9e7e, Sdev: Dev{8, 0x13}}); ep.Epoll[1] != want {
		t.Errorf("tfd 5: %+v, want %+v", ep.Epoll[1], want)
	}
	if e := get(4).Eventfd; e == nil || *e != (EventfdInfo{Count: 0x1f, ID: 2, Semaphore: true}) {
		t.Errorf("eventfd: %+v", e)
	}
	if tf := get(5).Timerfd; tf == nil || *tf != (TimerfdInfo{ClockID: 0, Ticks: 3, SettimeFlags: 3, Value: Timespec{9, 949668392}, Interval: Timespec{1, 500}}) {
		t.Errorf("timerfd: %+v", tf)
	}
	if sf := get(6).Signalfd; sf == nil || sf.Sigmask != 0x4200 {
		t.Errorf("signalfd: %+v", sf)
	}
	in := get(7).Inotify
	if len(in) != 2 || in[0].WD != 10 || in[0].Ino != 0x3c4a3 || in[0].Sdev != (Dev{254, 0}) || in[0].Mask != 0x300 ||
		in[0].Handle.Type != 1 || len(in[0].Handle.Bytes) != 8 || in[0].Handle.Bytes[0] != 0xa3 || in[1].Handle.Bytes != nil {
		t.Errorf("inotify: %+v", in)
	}
	fa := get(8).Fanotify
	if fa == nil || fa.Flags != 0x10 || fa.EventFlags != 0x8000 || len(fa.Marks) != 2 || fa.Marks[0].Ino != 0x3c4a3 ||
		fa.Marks[0].Mask != 0x20 || fa.Marks[1].MntID != 0x1c || fa.Marks[1].Mask != 8 {
		t.Errorf("fanotify: %+v", fa)
	}
	if pf := get(9).Pidfd; pf == nil || pf.Pid != 13364 || !slices.Equal(pf.NSpid, []int{13364, 5}) {
		t.Errorf("pidfd: %+v", pf)
	}
	locks := get(10).Locks
	if len(locks) != 2 || locks[0].Class != "POSIX" || locks[0].Access != "WRITE" || locks[0].Pid != 1234 ||
		locks[1].Class != "OFDLCK" || locks[1].Pid != -1 || locks[1].Raw != "2: OFDLCK ADVISORY  READ  -1 fe:00:99 0 9" {
		t.Errorf("locks: %+v", locks)
	}
	if x := get(11).Extra; x["SqMask"] != "0x3" || x["PollList"] != "" || len(x) != 3 {
		t.Errorf("io_uring extras: %v", x)
	}
	for _, fd := range []int{12, 13, 14} {
		if _, err := p.Fdinfo(1, fd); !errors.Is(err, ErrMalformed) {
			t.Errorf("fdinfo %d: %v, want ErrMalformed", fd, err)
		}
	}
}

func TestFakeMisc(t *testing.T) {
	auxv := make([]byte, 0, 64)
	for _, v := range []uint64{6, 4096, 9, 0x401000, 0, 0, 0, 0} {
		auxv = binary.LittleEndian.AppendUint64(auxv, v)
	}
	p := fakeProc(t, map[string]string{
		"1/auxv":                "" + string(auxv),
		"2/auxv":                "short",
		"1/personality":         "00040000\n",
		"2/personality":         "zz\n",
		"1/timers":              "ID: 1\nsignal: 12/0000000000000000\nnotify: signal/pid.100\nClockID: 0\nID: 0\nsignal: 14/00007fffdeadbeef\nnotify: thread/tid.101\nClockID: 1\n",
		"2/timers":              "signal: 12/0\n",
		"1/task/1/children":     "5 3 ",
		"1/task/2/children":     "4\n",
		"1/task/9/children":     "",
		"1/comm":                "a) b\n\n",
		"1/cmdline":             "prog\x00-x\x00\x00y\x00",
		"2/cmdline":             "overwritten title",
		"1/environ":             "A=1\x00B=\x00",
		"1/net/unix":            "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 11 /run/my sock\n0000000000000000: 00000002 00000000 00000000 0002 01 12 @abstract\n0000000000000000: 00000003 00000000 00000000 0005 03 13\n",
		"1/net/tcp":             "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21 1 0000000095ba9db3 100 0 0 10 0\n",
		"1/net/netlink":         "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n0000000091538dae 0   0          00000000 0        0        0     2        0        31\n",
		"1/net/packet":          "sk       RefCnt Type Proto  Iface R Rmem   User   Inode\n0000000000000000 3      3    0003   0     1 0      0      41\n",
		"1/ns/ignored-by-fake":  "",
		"3/net/unix":            "Num RefCount Protocol Flags Type St Inode Path\n0: 2 0 0 1 1 notanumber\n",
		"1/fd/ignored-by-fake":  "",
		"1/task/1/stat":         "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"1/task/2/stat":         "2 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"1/task/9/ignored-task": "",
	})
	if a, err := p.Auxv(1); err != nil || !slices.Equal(a, []AuxvEntry{{6, 4096}, {9, 0x401000}}) {
		t.Errorf("auxv %v %v", a, err)
	}
	if _, err := p.Auxv(2); !errors.Is(err, ErrMalformed) {
		t.Errorf("short auxv: %v", err)
	}
	if v, err := p.Personality(1); err != nil || v != 0x40000 {
		t.Errorf("personality %#x %v", v, err)
	}
	if _, err := p.Personality(2); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad personality: %v", err)
	}
	tm, err := p.Timers(1)
	want := []Timer{
		{ID: 1, Signal: 12, Notify: "signal", NotifyKind: "pid", NotifyPid: 100, ClockID: 0},
		{ID: 0, Signal: 14, SigValue: 0x7fffdeadbeef, Notify: "thread", NotifyKind: "tid", NotifyPid: 101, ClockID: 1},
	}
	if err != nil || !slices.Equal(tm, want) {
		t.Errorf("timers %+v %v", tm, err)
	}
	if _, err := p.Timers(2); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad timers: %v", err)
	}
	if tids, err := p.Tasks(1); err != nil || !slices.Equal(tids, []int{1, 2, 9}) {
		t.Errorf("tasks %v %v", tids, err)
	}
	if kids, err := p.Children(1); err != nil || !slices.Equal(kids, []int{3, 4, 5}) {
		t.Errorf("children %v %v", kids, err)
	}
	if c, err := p.Comm(1); err != nil || c != "a) b\n" {
		t.Errorf("comm %q %v", c, err)
	}
	if a, err := p.Cmdline(1); err != nil || !slices.Equal(a, []string{"prog", "-x", "", "y"}) {
		t.Errorf("cmdline %q %v", a, err)
	}
	if a, err := p.Cmdline(2); err != nil || !slices.Equal(a, []string{"overwritten title"}) {
		t.Errorf("cmdline %q %v", a, err)
	}
	if e, err := p.Environ(1); err != nil || !slices.Equal(e, []string{"A=1", "B="}) {
		t.Errorf("environ %q %v", e, err)
	}
	socks, err := p.Sockets(1)
	if err != nil {
		t.Fatal(err)
	}
	wantSocks := map[uint64]Socket{
		11: {Inode: 11, Family: FamilyUnix, Table: "unix", Type: 1, State: 1, Path: "/run/my sock"},
		12: {Inode: 12, Family: FamilyUnix, Table: "unix", Type: 2, State: 1, Path: "@abstract"},
		13: {Inode: 13, Family: FamilyUnix, Table: "unix", Type: 5, State: 3},
		21: {Inode: 21, Family: FamilyInet, Table: "tcp", State: 0xa},
		31: {Inode: 31, Family: FamilyNetlink, Table: "netlink"},
		41: {Inode: 41, Family: FamilyPacket, Table: "packet"},
	}
	if len(socks) != len(wantSocks) {
		t.Errorf("sockets %+v", socks)
	}
	for ino, w := range wantSocks {
		if socks[ino] != w {
			t.Errorf("socket %d: %+v, want %+v", ino, socks[ino], w)
		}
		if fam, err := p.SocketFamily(1, ino); err != nil || fam != w.Family {
			t.Errorf("SocketFamily(%d) = %v %v", ino, fam, err)
		}
	}
	if _, err := p.Sockets(3); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad unix table: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		target string
		kind   Kind
		ino    uint64
		path   string
		del    bool
	}{
		{"socket:[9840]", KindSocket, 9840, "", false},
		{"pipe:[9848]", KindPipe, 9848, "", false},
		{"net:[4026531833]", KindNamespace, 4026531833, "", false},
		{"pidfd:[77]", KindPidfd, 77, "", false},
		{"anon_inode:[eventpoll]", KindEventpoll, 0, "", false},
		{"anon_inode:[eventfd]", KindEventfd, 0, "", false},
		{"anon_inode:[timerfd]", KindTimerfd, 0, "", false},
		{"anon_inode:[signalfd]", KindSignalfd, 0, "", false},
		{"anon_inode:inotify", KindInotify, 0, "", false},
		{"anon_inode:[fanotify]", KindFanotify, 0, "", false},
		{"anon_inode:[io_uring]", KindIoUring, 0, "", false},
		{"anon_inode:bpf-map", KindBpf, 0, "", false},
		{"anon_inode:bpf-prog", KindBpf, 0, "", false},
		{"anon_inode:bpf_link", KindBpf, 0, "", false},
		{"anon_inode:[userfaultfd]", KindUserfaultfd, 0, "", false},
		{"anon_inode:[perf_event]", KindPerfEvent, 0, "", false},
		{"anon_inode:[pidfd]", KindPidfd, 0, "", false},
		{"anon_inode:kvm-vm", KindAnonInode, 0, "", false},
		{"/memfd:my mem (deleted)", KindMemfd, 0, "/memfd:my mem", true},
		{"/secretmem (deleted)", KindSecretmem, 0, "/secretmem", true},
		{"/tmp/x (deleted)", KindFile, 0, "/tmp/x", true},
		{"/memfd:not deleted", KindFile, 0, "/memfd:not deleted", false},
		{"/dev/null", KindFile, 0, "/dev/null", false}, // refined by stat
		{"socket:[x]", KindUnknown, 0, "", false},
		{"weird", KindUnknown, 0, "", false},
		{"foo:[12]", KindUnknown, 0, "", false},
	} {
		e := FdEntry{Target: c.target}
		classifyTarget(&e)
		if e.Kind != c.kind || e.Inode != c.ino || e.Path != c.path || e.Deleted != c.del {
			t.Errorf("%q: %+v", c.target, e)
		}
	}
	if KindEventpoll.String() != "epoll" || Kind(99).String() != "Kind(99)" {
		t.Error("Kind.String")
	}
	for proto, fam := range map[string]Family{
		"TCP": FamilyInet, "TCPv6": FamilyInet6, "UDP": FamilyInet, "UDPv6": FamilyInet6, "UDPLITEv6": FamilyInet6,
		"RAW": FamilyInet, "RAWv6": FamilyInet6, "PING": FamilyInet, "MPTCP": FamilyInet, "UNIX": FamilyUnix,
		"UNIX-STREAM": FamilyUnix, "NETLINK": FamilyNetlink, "PACKET": FamilyPacket, "AF_VSOCK": FamilyVsock,
		"XDP": FamilyXDP, "CAN_RAW": FamilyCAN, "": FamilyUnknown, "???": FamilyUnknown,
	} {
		if got := familyFromProto(proto); got != fam {
			t.Errorf("%q: %v, want %v", proto, got, fam)
		}
	}
	if FamilyInet6.String() != "AF_INET6" || Family(200).String() != "AF(200)" {
		t.Error("Family.String")
	}
}

func TestParseNumbers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"ff", 255, true}, {"0xFF", 255, true}, {"ffffffffffffffff", 1<<64 - 1, true},
		{"0000000000000000000001", 1, true}, {"10000000000000000", 0, false}, {"", 0, false}, {"0x", 0, false}, {"g", 0, false},
	} {
		if v, ok := parseHex([]byte(c.in)); v != c.want || ok != c.ok {
			t.Errorf("parseHex(%q) = %d %v", c.in, v, ok)
		}
	}
	if _, ok := parseDec([]byte("18446744073709551616")); ok {
		t.Error("parseDec overflow")
	}
	if v, ok := parseDec([]byte("18446744073709551615")); !ok || v != 1<<64-1 {
		t.Error("parseDec max")
	}
	if v, ok := parseInt([]byte("-9223372036854775808")); !ok || v != -1<<63 {
		t.Error("parseInt min")
	}
	if _, ok := parseInt([]byte("9223372036854775808")); ok {
		t.Error("parseInt overflow")
	}
	if _, ok := parseInt([]byte("-")); ok {
		t.Error("parseInt sign only")
	}
	if v, ok := parseOct([]byte("02000002")); !ok || v != 0o2000002 {
		t.Error("parseOct")
	}
	if _, ok := parseOct([]byte("8")); ok {
		t.Error("parseOct 8")
	}
	if d := DevFromKernel(0x800013); d != (Dev{8, 0x13}) || d.String() != "8:19" {
		t.Errorf("DevFromKernel %v", d)
	}
}

func TestPageRangesSynthetic(t *testing.T) {
	const P, S, F = PagemapPresent, PagemapSwapped, PagemapFile
	// Build a pagemap file: the fake FS makes /1/pagemap a regular file whose
	// offset = vaddr/4096*8, so a mapping at 0 reads from the start.
	ents := []PagemapEntry{P, P | F, S, 0, P | F, P | F, P, P, 0, S | F}
	raw := make([]byte, 0, 8*len(ents))
	for _, e := range ents {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(e))
	}
	p := fakeProc(t, map[string]string{"1/pagemap": string(raw)})
	pm, err := p.OpenPagemap(1)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	ps := pm.PageSize()
	end := uint64(len(ents)) * ps
	priv := Mapping{Start: 0, End: end, Perms: PermRead | PermWrite}
	got, err := pm.PageRanges(&priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []PageRange{{0, ps}, {2 * ps, 3 * ps}, {6 * ps, 8 * ps}}
	if !slices.Equal(got, want) {
		t.Errorf("private: %v, want %v", got, want)
	}
	shared := Mapping{Start: 0, End: end, Perms: PermRead | PermShared}
	got, err = pm.PageRanges(&shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []PageRange{{0, 3 * ps}, {4 * ps, 8 * ps}, {9 * ps, 10 * ps}}
	if !slices.Equal(got, want) {
		t.Errorf("shared: %v, want %v", got, want)
	}
	if _, err := pm.Entries(1, ps); err == nil {
		t.Error("unaligned range accepted")
	}
	if _, err := pm.Entries(0, end+ps); err == nil {
		t.Error("read past the end accepted")
	}
	e := PagemapEntry(P | PagemapExclusive | 0x1234)
	if !e.Present() || !e.Exclusive() || e.PFN() != 0x1234 || e.SwapType() != 0 {
		t.Errorf("entry %#x", uint64(e))
	}
	sw := PagemapEntry(S | 3 | 77<<5)
	if sw.SwapType() != 3 || sw.SwapOffset() != 77 || sw.PFN() != 0 {
		t.Errorf("swap entry %#x", uint64(sw))
	}
}
