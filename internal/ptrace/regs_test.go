package ptrace

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const ymmMarker = 0x1234567887654321

func TestRegsXstateSigmaskRseq(t *testing.T) {
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	if !bytes.Contains(cpuinfo, []byte(" avx ")) {
		t.Skip("no AVX on this CPU")
	}
	e := setup(t)
	v := e.start("ymm")
	avxOff, err := strconv.Atoi(v.ready[2])
	if err != nil {
		t.Fatal(err)
	}
	if avxOff != XstateAVX {
		t.Fatalf("CPUID says the AVX state is at %d, XstateAVX is %d", avxOff, XstateAVX)
	}
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	// Stop it once the pattern is loaded (r13 holds the marker).
	var regs Regs
	waitUntil(t, "the ymm pattern to be loaded", func() bool {
		if _, err := e.tr.Interrupt(v.pid); err != nil {
			t.Fatal(err)
		}
		if regs, err = e.tr.GetRegs(v.pid); err != nil {
			t.Fatal(err)
		}
		if regs.R13 == ymmMarker {
			return true
		}
		if err := e.tr.Cont(v.pid, 0); err != nil {
			t.Fatal(err)
		}
		return false
	})
	if regs.Fs_base == 0 {
		t.Errorf("fs_base is 0; glibc sets it for TLS")
	}

	x, err := e.tr.GetXstate(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NT_X86_XSTATE: %d bytes, XSTATE_BV %#x", len(x), binary.LittleEndian.Uint64(x[XstateHeader:]))
	if len(x) < XstateAVX+256 {
		t.Fatalf("xstate only %d bytes", len(x))
	}
	if bv := binary.LittleEndian.Uint64(x[XstateHeader:]); bv&XfeatureAVX == 0 {
		t.Fatalf("XSTATE_BV %#x lacks AVX", bv)
	}
	pattern := make([]byte, 512)
	for k := range pattern {
		pattern[k] = byte(k*7 + 3)
	}
	for i := range 16 {
		lo := x[XstateLegacyXMM+16*i : XstateLegacyXMM+16*i+16]
		hi := x[XstateAVX+16*i : XstateAVX+16*i+16]
		if !bytes.Equal(lo, pattern[32*i:32*i+16]) || !bytes.Equal(hi, pattern[32*i+16:32*i+32]) {
			t.Errorf("ymm%d = % x | % x, want % x", i, hi, lo, pattern[32*i:32*i+32])
		}
	}

	// SetXstate round trip: change the top of ymm15, read it back, restore.
	y := bytes.Clone(x)
	y[XstateAVX+16*15+15] ^= 0xff
	if err := e.tr.SetXstate(v.pid, y); err != nil {
		t.Fatal(err)
	}
	if got, err := e.tr.GetXstate(v.pid); err != nil || !bytes.Equal(got, y) {
		t.Fatalf("xstate after SetXstate differs (%v)", err)
	}
	if err := e.tr.SetXstate(v.pid, x); err != nil {
		t.Fatal(err)
	}
	// A buffer of another size is refused by the kernel.
	if err := e.tr.SetXstate(v.pid, x[:len(x)-64]); err == nil {
		t.Errorf("SetXstate with a short buffer succeeded")
	}

	// SetRegs round trip on a register the spin loop does not use.
	r := regs
	r.R14 = 0xdeadbeefcafe
	if err := e.tr.SetRegs(v.pid, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.tr.GetRegs(v.pid); got != r {
		t.Fatalf("regs after SetRegs: %+v, want %+v", got, r)
	}

	// The victim blocks SIGUSR2.
	m, err := e.tr.GetSigmask(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Has(unix.SIGUSR2) || m.Has(unix.SIGUSR1) {
		t.Fatalf("sigmask %#x: want SIGUSR2 and not SIGUSR1", uint64(m))
	}
	if err := e.tr.SetSigmask(v.pid, m.With(unix.SIGUSR1).With(unix.SIGKILL)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.tr.GetSigmask(v.pid); got != m.With(unix.SIGUSR1) {
		t.Fatalf("sigmask %#x after set, want %#x (SIGKILL dropped by the kernel)", uint64(got), uint64(m.With(unix.SIGUSR1)))
	}
	if err := e.tr.SetSigmask(v.pid, m); err != nil {
		t.Fatal(err)
	}

	// glibc 2.35+ registers rseq for every thread.
	rc, err := e.tr.GetRseqConfig(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rseq: %+v", rc)
	if rc.AbiPointer == 0 || rc.AbiSize < 20 || rc.Signature != 0x53053053 {
		t.Errorf("rseq configuration %+v", rc)
	}

	si, err := e.tr.GetSiginfo(v.pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("siginfo at an interrupt-stop: %v", &si)
	if si.Signo() != unix.SIGTRAP {
		t.Errorf("siginfo at interrupt-stop: %v", &si)
	}

	if err := e.tr.Detach(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	// Unharmed: it spins on (state R), and its registers are as restored.
	time.Sleep(20 * time.Millisecond)
	if s := state(t, v.pid); s != 'R' {
		t.Errorf("victim state %c after Detach", s)
	}
	if err := e.tr.Seize(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.tr.GetRegs(v.pid); got.R13 != ymmMarker || got.R14 != r.R14 {
		t.Errorf("after re-attach r13=%#x r14=%#x", got.R13, got.R14)
	}
	if got, _ := e.tr.GetXstate(v.pid); !bytes.Equal(got[XstateAVX:XstateAVX+256], x[XstateAVX:XstateAVX+256]) {
		t.Errorf("ymm state changed across detach")
	}
}

func TestNormalizeRestart(t *testing.T) {
	neg := func(n int64) uint64 { return uint64(n) }
	cases := []struct {
		orig, rax, rip uint64
		want           Restart
		wantRax        uint64
		wantRip        uint64
	}{
		{0, neg(-ERESTARTSYS), 0x1002, RestartSyscall, 0, 0x1000},
		{7, neg(-ERESTARTNOINTR), 0x1002, RestartSyscall, 7, 0x1000},
		{23, neg(-ERESTARTNOHAND), 0x1002, RestartSyscall, 23, 0x1000},
		{230, neg(-ERESTART_RESTARTBLOCK), 0x1002, RestartBlock, neg(-int64(unix.EINTR)), 0x1002},
		{0, 5, 0x1002, NotInterrupted, 5, 0x1002},
		{neg(-1), neg(-ERESTARTSYS), 0x1002, NotInterrupted, neg(-ERESTARTSYS), 0x1002},
	}
	for _, c := range cases {
		in := Regs{Orig_rax: c.orig, Rax: c.rax, Rip: c.rip}
		out, k := NormalizeRestart(in)
		if k != c.want || out.Rax != c.wantRax || out.Rip != c.wantRip {
			t.Errorf("%+v: got %v rax=%d rip=%#x", c, k, int64(out.Rax), out.Rip)
		}
		if k != NotInterrupted && out.Orig_rax != noSyscall {
			t.Errorf("%+v: orig_rax %d, want -1", c, int64(out.Orig_rax))
		}
		if k == NotInterrupted && out != in {
			t.Errorf("%+v: changed registers", c)
		}
	}
	if !strings.Contains(RestartBlock.String(), "block") {
		t.Errorf("String: %q", RestartBlock.String())
	}
}
