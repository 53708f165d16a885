package ptrace

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBatches runs a batch in every thread of a frozen victim at once: each
// thread's gettid and getpid come back in order, an error stops a batch
// unless the entry says to go on, registers and masks are as before, a
// clone made by a batch is attached and reported, and the victim goes on.
func TestBatches(t *testing.T) {
	e := setup(t)
	v := e.start("threads", "3", "0")
	f, err := e.tr.FreezeProcess(v.pid, TraceClone)
	if err != nil {
		t.Fatal(err)
	}
	scratch, err := e.tr.MapScratch(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	code := scratch + 64
	if err := WriteMem(v.pid, code, BatchCode); err != nil {
		t.Fatal(err)
	}
	// Tables after the code; the page holds a few small ones.
	ops := []Op{{Nr: unix.SYS_GETTID}, {Nr: unix.SYS_GETPID},
		{Nr: unix.SYS_CLOSE, Args: [6]uint64{1 << 20}, Flags: OpGoOn}, // EBADF, go on
		{Nr: unix.SYS_GETPPID},
		{Nr: unix.SYS_CLOSE, Args: [6]uint64{1 << 20}}, // EBADF: stop
		{Nr: unix.SYS_GETPID}}
	var bs []*Batch
	before := map[int]Regs{}
	masks := map[int]Sigset{}
	table := code + 256
	for _, tid := range f.Threads {
		r, _ := e.tr.GetRegs(tid)
		before[tid] = r
		masks[tid], _ = e.tr.GetSigmask(tid)
		bs = append(bs, &Batch{Tid: tid, Code: code, Table: table, Ops: ops})
		table += uintptr(BatchSize(len(ops)))
	}
	if table > scratch+ScratchSize {
		t.Fatal("tables do not fit")
	}
	if err := e.tr.RunBatches(bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Ran != 5 || b.Ret[0] != int64(b.Tid) || b.Ret[1] != int64(v.pid) || b.Ret[3] <= 0 {
			t.Errorf("thread %d: ran %d, results %v", b.Tid, b.Ran, b.Ret)
		}
		if err := b.Err(2); !errors.Is(err, unix.EBADF) {
			t.Errorf("thread %d: entry 2: %v", b.Tid, err)
		}
		if b.Failed() != 2 {
			t.Errorf("thread %d: first failure %d", b.Tid, b.Failed())
		}
		if err := b.Err(5); err == nil || !strings.Contains(err.Error(), "not run") {
			t.Errorf("thread %d: entry 5: %v", b.Tid, err)
		}
		if r, _ := e.tr.GetRegs(b.Tid); r != before[b.Tid] {
			t.Errorf("thread %d: registers changed", b.Tid)
		}
		if m, _ := e.tr.GetSigmask(b.Tid); m != masks[b.Tid] {
			t.Errorf("thread %d: mask %#x, was %#x", b.Tid, uint64(m), uint64(masks[b.Tid]))
		}
		if st, _ := e.tr.Wait(b.Tid); st.Kind != StopInterrupt {
			t.Errorf("thread %d after the batch: %v", b.Tid, st)
		}
	}
	// A clone in a batch: the new thread is attached and stopped at its
	// first boundary stop; it is then ended by an injected exit.
	args := code + 2048
	ca := make([]byte, 88)
	le := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	copy(ca, le(unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD))
	if err := WriteMem(v.pid, args, ca); err != nil {
		t.Fatal(err)
	}
	cb := &Batch{Tid: v.pid, Code: code, Table: code + 2048 + 128, Ops: []Op{
		{Nr: unix.SYS_CLONE3, Args: [6]uint64{uint64(args), 88}, Flags: OpClone},
		{Nr: unix.SYS_CLONE3, Args: [6]uint64{uint64(args), 88}, Flags: OpClone}}}
	if err := e.tr.RunBatches([]*Batch{cb}); err != nil {
		t.Fatal(err)
	}
	if cb.Failed() != -1 || len(cb.Attached) != 2 || cb.Ret[0] != int64(cb.Attached[0]) || cb.Ret[1] != int64(cb.Attached[1]) {
		t.Fatalf("clones: ran %d %v, attached %v", cb.Ran, cb.Ret, cb.Attached)
	}
	for _, c := range cb.Attached {
		if st, _ := e.tr.Wait(c); st.Kind != StopInterrupt {
			t.Errorf("new thread %d: %v", c, st)
		}
		_, _ = e.tr.Inject(c, unix.SYS_EXIT, 0)
	}
	// Quiet clones: CLONE_PTRACE, no PTRACE_EVENT_CLONE stop; the new
	// threads are found by Translate (the same namespace here: the
	// identity), attached and stopped all the same, and the caller keeps
	// its TraceClone option.
	copy(ca, le(unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_PTRACE))
	if err := WriteMem(v.pid, args, ca); err != nil {
		t.Fatal(err)
	}
	qb := &Batch{Tid: v.pid, Code: code, Table: code + 2048 + 128, NewThreads: true, QuietClones: true,
		Translate: func(id int64) (int, error) { return int(id), nil }, Ops: cb.Ops}
	if err := e.tr.RunBatches([]*Batch{qb}); err != nil {
		t.Fatal(err)
	}
	if qb.Failed() != -1 || len(qb.Attached) != 2 || qb.Ret[0] != int64(qb.Attached[0]) || qb.Ret[1] != int64(qb.Attached[1]) {
		t.Fatalf("quiet clones: ran %d %v, attached %v", qb.Ran, qb.Ret, qb.Attached)
	}
	for _, c := range qb.Attached {
		if st, _ := e.tr.Wait(c); st.Kind != StopInterrupt {
			t.Errorf("new thread %d (quiet): %v", c, st)
		}
		_, _ = e.tr.Inject(c, unix.SYS_EXIT, 0)
	}
	if err := e.tr.Do(func() error {
		if o := e.tr.tracees[v.pid].opts; o&TraceClone == 0 {
			t.Errorf("the caller's options after quiet clones: %#x, TraceClone lost", o)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.tr.Thaw(f); err != nil {
		t.Fatal(err)
	}
	v.send("c\n")
	if l := v.line(); !strings.HasPrefix(l, "sum ") {
		t.Fatalf("victim after batches: %q", l)
	}
}

// TestBatchCodeSource assembles testdata/batch_amd64.S (when as and objcopy
// are installed) and checks that BatchCode is its machine code.
func TestBatchCodeSource(t *testing.T) {
	as, err1 := exec.LookPath("as")
	objcopy, err2 := exec.LookPath("objcopy")
	if err1 != nil || err2 != nil {
		t.Skip("as or objcopy not installed")
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "batch.o"), filepath.Join(dir, "batch.bin")
	if out, err := exec.Command(as, "-o", obj, "testdata/batch_amd64.S").CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", obj, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, BatchCode) {
		t.Fatalf("BatchCode differs from testdata/batch_amd64.S:\n% x\n% x", BatchCode, code)
	}
	if BatchCode[batchEnd] != 0xcc {
		t.Fatalf("batchEnd %#x is not the int3 after the tgkill", batchEnd)
	}
}
