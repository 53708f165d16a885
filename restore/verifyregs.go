package restore

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"

	"golang.org/x/sys/unix"
)

// verifyRegs reads back every restored thread's general registers
// (PTRACE_GETREGS, in the stop the restore left it in) and compares them
// with what the image says each was set to (threads.go: the image's,
// orig_rax -1): a register the kernel did not take as set would have the
// thread resume elsewhere, or with another value, than it was saved.
// Segment selectors are the kernel's (it forces them on SETREGS), and the
// flags only those a user may change; the rest is compared bit for bit.
func (r *restorer) verifyRegs() []inventory.Mismatch {
	var bad []inventory.Mismatch
	for _, th := range r.p.Threads {
		tid, ok := r.tids[th.TID]
		if !ok {
			continue
		}
		got, err := r.tr.GetRegs(tid)
		if err != nil {
			bad = append(bad, inventory.Mismatch{PID: r.p.PID, Field: fmt.Sprintf("thread %d regs", th.TID), Kind: "registers",
				Saved: "set", Restored: fmt.Sprintf("unreadable: %v", err)})
			continue
		}
		bad = append(bad, r.verifyXstate(th.TID, tid, th.XState)...)
		want := th.Regs.Ptrace()
		want.Orig_rax = ^uint64(0) // what the restore set (threads.go)
		g := image.RegsFromPtrace((*unix.PtraceRegs)(&got))
		w := image.RegsFromPtrace(&want)
		gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
		for i := range gv.NumField() {
			name := gv.Type().Field(i).Tag.Get("json")
			a, b := uint64(wv.Field(i).Interface().(image.Hex)), uint64(gv.Field(i).Interface().(image.Hex))
			switch name {
			case "cs", "ss", "ds", "es", "fs", "gs":
				continue // selectors: the kernel's own for a 64-bit thread
			case "eflags":
				a, b = a&userFlags, b&userFlags
			}
			if a != b {
				bad = append(bad, inventory.Mismatch{PID: r.p.PID, Field: fmt.Sprintf("thread %d register %s", th.TID, name), Kind: "registers",
					Saved: fmt.Sprintf("%#x", a), Restored: fmt.Sprintf("%#x", b)})
			}
		}
	}
	return bad
}

// userFlags are the RFLAGS bits a thread can change itself (the kernel's
// FLAG_MASK for SETREGS: CF PF AF ZF SF TF DF OF NT AC), the others are
// the kernel's.
const userFlags = 1<<0 | 1<<2 | 1<<4 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11 | 1<<14 | 1<<18

// xstateFields are the parts of the XSAVE area (standard format, as
// PTRACE_GETREGSET gives it) the verifier compares: the x87 control and
// status words, MXCSR, the x87/MMX registers, xmm0-15 and the upper halves
// of ymm0-15. The kernel fills a component in its initial state with its
// initial values, so these bytes are the thread's values whether or not
// XSTATE_BV lists the component; not compared: the tag word, the last
// instruction and operand pointers (AMD saves them only with an exception
// pending) and the reserved bytes.
var xstateFields = []struct {
	name     string
	from, to int
}{
	{"fcw", 0, 2}, {"fsw", 2, 4}, {"mxcsr", 24, 28}, {"st0-7", 32, ptrace.XstateLegacyXMM},
	{"xmm0-15", ptrace.XstateLegacyXMM, ptrace.XstateLegacyXMM + 256}, {"ymm0-15 upper", ptrace.XstateAVX, ptrace.XstateAVX + 256},
}

// verifyXstate compares thread tid's (host tid host) extended state with
// the saved one (xstateFields).
func (r *restorer) verifyXstate(tid, host int, saved []byte) []inventory.Mismatch {
	if len(saved) == 0 {
		return nil // not saved: the restore left the fresh state (older images)
	}
	got, err := r.tr.GetXstate(host)
	if err != nil {
		return []inventory.Mismatch{{PID: r.p.PID, Field: fmt.Sprintf("thread %d xstate", tid), Kind: "registers", Saved: "set", Restored: fmt.Sprintf("unreadable: %v", err)}}
	}
	var bad []inventory.Mismatch
	for _, f := range xstateFields {
		if f.to > len(saved) || f.to > len(got) {
			continue
		}
		if a, b := saved[f.from:f.to], got[f.from:f.to]; !bytes.Equal(a, b) {
			bad = append(bad, inventory.Mismatch{PID: r.p.PID, Field: fmt.Sprintf("thread %d xstate %s", tid, f.name), Kind: "registers",
				Saved: fmt.Sprintf("%x", a), Restored: fmt.Sprintf("%x", b)})
		}
	}
	return bad
}
