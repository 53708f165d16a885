package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2025, 11, 26, 17, 30, 0, 123456789, time.UTC)

// Addresses of the sample processes' mappings.
const (
	textStart  = 0x400000
	heapStart  = 0x1000000
	heapEnd    = 0x1100000 // 1 MiB heap
	stackStart = 0x7ffffff00000
	stackEnd   = 0x7ffffff21000
)

func sampleMeta(pids ...int) *Meta {
	return &Meta{
		Created:      testTime,
		Reason:       "SIGUSR1 from pid 4242",
		Trigger:      TriggerSignal,
		CrrunVersion: "crrun test",
		Argv:         []string{"./app", "--steps", "100"},
		Hostname:     "node17",
		Kernel:       Kernel{Release: "6.18.0-test", Machine: "x86_64"},
		VDSO:         VDSO{Size: 8192, SHA256: strings.Repeat("ab", 32)},
		Root:         pids[0],
		Processes:    pids,
	}
}

func sampleProcess(pid, ppid int) *Process {
	handlers := make([]SigAction, 64)
	for i := range handlers {
		handlers[i] = SigAction{Signal: i + 1}
	}
	handlers[9] = SigAction{Signal: 10, Handler: 0x401234, Flags: 0x14000000, Restorer: 0x7f0000001000, Mask: 1 << 9}
	exe := FileIdentity{Path: "/usr/bin/app", Dev: MakeDev(254, 1), Inode: 1234567, Size: 65536, Mtime: testTime, Mode: 0o100755}
	return &Process{
		PID: pid, PPID: ppid, PGID: pid, SID: pid,
		NSPID: []int{pid + 50000, pid},
		Comm:  "app",
		Exe:   exe,
		Cwd:   "/home/user/run",
		Umask: 0o022,
		Creds: Credentials{UID: 1000, EUID: 1000, SUID: 1000, FSUID: 1000, GID: 1000, EGID: 1000, SGID: 1000, FSGID: 1000,
			Groups: []uint32{1000, 27}, CapBounding: 0x1ffffffffff},
		Rlimits:     []Rlimit{{Resource: 7, Name: "RLIMIT_NOFILE", Cur: 1024, Max: 1 << 20}, {Resource: 3, Name: "RLIMIT_STACK", Cur: 8 << 20, Max: ^uint64(0)}},
		Itimers:     Itimers{Real: Itimer{IntervalNS: 1e9, ValueNS: 5e8}},
		SigHandlers: handlers,
		MM: MM{StartCode: textStart, EndCode: textStart + 0x1000, StartBrk: heapStart, Brk: heapEnd,
			StartStack: stackEnd - 0x100, Auxv: []Hex{6, 4096, 0, 0}},
		Memory: []VMA{
			{Start: textStart, End: textStart + 0x1000, Prot: ProtRead | ProtExec, Kind: VMAFile, Path: exe.Path, File: &exe, Flags: []string{"rd", "ex", "mr", "mw", "me"}},
			{Start: heapStart, End: heapEnd, Prot: ProtRead | ProtWrite, Kind: VMAHeap, Path: "[heap]"},
			{Start: stackStart, End: stackEnd, Prot: ProtRead | ProtWrite, Kind: VMAStack, Path: "[stack]", Flags: []string{"gd"}},
		},
		FDs: []FD{
			{FD: 0, Kind: FDDevice, Path: "/dev/null", Flags: 0o100000, File: &FileIdentity{Path: "/dev/null", Dev: MakeDev(0, 5), Inode: 4, Mtime: testTime}},
			{FD: 3, Kind: FDFile, Path: "/tmp/scratch (deleted)", Flags: 0o102002, Cloexec: true, Pos: 8192, OFD: 1,
				File: &FileIdentity{Path: "/tmp/scratch", Dev: MakeDev(254, 1), Inode: 99, Size: 8192, Mtime: testTime, Deleted: true}, Blob: "deleted-" + strconv.Itoa(pid) + "-3"},
			{FD: 4, Kind: FDEpoll, Path: "anon_inode:[eventpoll]", Flags: 0o2000002, Cloexec: true,
				Epoll: &Epoll{Targets: []EpollTarget{{FD: 5, Events: 0x19, Data: 5, Inode: 15}}}},
			{FD: 5, Kind: FDEventfd, Path: "anon_inode:[eventfd]", Flags: 0o2004002, Cloexec: true, Eventfd: &Eventfd{Count: 3}},
		},
		Threads: []Thread{
			{TID: pid, Comm: "app", Regs: Regs{Rip: textStart + 0x10, Rsp: stackEnd - 0x200, OrigRax: ^Hex(0), FsBase: 0x7f0000002000, Cs: 0x33, Ss: 0x2b, Eflags: 0x246},
				XState: bytes.Repeat([]byte{0xa5, 0x5a}, 1344), SigMask: 1 << 9, ClearTID: 0x7f0000002010,
				RobustList: RobustList{Head: 0x7f0000002020, Len: 24}, Rseq: &Rseq{Addr: 0x7f0000002100, Len: 32, Sig: 0x53053053},
				SigAltStack: SigAltStack{Flags: 2}},
			{TID: pid + 1, Regs: Regs{Rip: textStart + 0x20}, XState: []byte{1, 2, 3},
				Pending: []SigInfo{{Signo: 10, Code: -6, Raw: make([]byte, 128)}}},
		},
	}
}

// pagePattern fills a buffer with bytes that depend on pid, address and a seed.
func pagePattern(pid int, vaddr uint64, n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		a := vaddr + uint64(i)
		b[i] = byte(a>>3) ^ byte(a>>13) ^ byte(pid) ^ seed
	}
	return b
}

// writeSample writes a two-process image with pages and a blob and returns
// the pages each process was given, keyed by pid, then address.
func writeSample(t *testing.T, w *Writer) map[int]map[uint64][]byte {
	t.Helper()
	saved := map[int]map[uint64][]byte{}
	add := func(pid int, vaddr uint64, n int) {
		t.Helper()
		data := pagePattern(pid, vaddr, n, 7)
		if err := w.AddPages(pid, vaddr, data); err != nil {
			t.Fatalf("AddPages: %v", err)
		}
		if saved[pid] == nil {
			saved[pid] = map[uint64][]byte{}
		}
		saved[pid][vaddr] = data
	}
	for _, pid := range []int{100, 101} {
		add(pid, textStart, PageSize)
		// Three consecutive calls in the heap (merged into one extent), a
		// hole, then one more.
		add(pid, heapStart, 4*PageSize)
		add(pid, heapStart+4*PageSize, 8*PageSize)
		add(pid, heapStart+12*PageSize, PageSize)
		add(pid, heapStart+64*PageSize, 16*PageSize)
		add(pid, stackEnd-2*PageSize, 2*PageSize)
		b, err := w.CreateBlob("deleted-" + strconv.Itoa(pid) + "-3")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(bytes.Repeat([]byte("scratch!"), 1024)); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteProcess(sampleProcess(pid, 1+(pid-100)*99)); err != nil {
			t.Fatalf("WriteProcess: %v", err)
		}
	}
	if err := w.WriteMeta(sampleMeta(100, 101)); err != nil {
		t.Fatalf("WriteMeta: %v", err)
	}
	return saved
}

// goodImage writes a sample image to a new directory and returns its path.
func goodImage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ckpt")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeSample(t, w)
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return dir
}

// wantImageError checks that err is an *Error wrapping sentinel whose
// message names file and contains every one of words.
func wantImageError(t *testing.T, err, sentinel error, file string, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v naming %s", sentinel, file)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("error %q is not an *image.Error", err)
	}
	if ie.File != file {
		t.Errorf("error %q blames file %q, want %q", err, ie.File, file)
	}
	msg := err.Error()
	for _, w := range append([]string{file}, words...) {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	t.Logf("as expected: %v", err)
}

func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 1 << bit
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tempEntries lists the names starting with "." in dir.
func tempEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}
