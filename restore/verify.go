package restore

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"

	"golang.org/x/sys/unix"
)

// verify reads every restored process back the way the checkpoint read the
// original (package inventory) and refuses any difference, before any
// process of the tree runs an instruction of its own: on error the tree is
// killed by tree()'s cleanup.
func (t *treeRestorer) verify() error {
	t0 := time.Now()
	for _, p := range t.procs {
		if p.Zombie == nil && p.Inventory == nil {
			slog.Warn("restore: the image has no inventory (written by an older crrun): the restored tree is not verified")
			return nil
		}
	}
	// Recreated deleted files are unlinked first: the app must see them
	// deleted, as they were.
	for _, f := range t.cleanup {
		f()
	}
	t.cleanup = nil
	if err := breakForTest(t); err != nil {
		return err
	}
	ns, err := inventory.NamespaceOf(t.firstLive().pid)
	if err != nil {
		return err
	}
	obs := inventory.NewTree(ns)
	var bad []inventory.Mismatch
	n, fields := 0, 0
	for _, p := range t.procs {
		if p.Zombie != nil {
			continue
		}
		r := t.by[p.PID]
		f, err := obs.Observe(inventory.Proc{Host: r.pid, Skip: inventory.StdioFDs(p), ExcludeStart: t.scratch, ExcludeEnd: t.scratch + scratchSize})
		if err != nil {
			return err
		}
		if err := r.readBack(f); err != nil {
			return fmt.Errorf("pid %d: %w", p.PID, err)
		}
		bad = append(bad, inventory.Compare(p.PID, r.expectAffinity(verifyExpect(p, p.Inventory)), f)...)
		bad = append(bad, r.verifyRegs()...)
		n++
		fields += len(f)
	}
	slog.Debug("restore: verified", "processes", n, "fields", fields, "mismatches", len(bad), "took", time.Since(t0))
	if len(bad) > 0 {
		return &inventory.Error{Mismatches: bad}
	}
	return nil
}

// TestBreakEnv names a test-only knob: CRRUN_TEST_BREAK_RESTORE=rlimit
// changes one field of the restored main process (its RLIMIT_NOFILE soft
// limit, lowered by one) just before the verification, which must then
// refuse the restore; =regs changes a register of its main thread (r15). Tests use it to see the verifier work end to end.
const TestBreakEnv = "CRRUN_TEST_BREAK_RESTORE"

func breakForTest(t *treeRestorer) error {
	switch v := os.Getenv(TestBreakEnv); v {
	case "":
		return nil
	case "rlimit":
		var lim unix.Rlimit
		first := t.firstLive().pid // the main process, unless it had exited
		if err := unix.Prlimit(first, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
			return err
		}
		lim.Cur--
		slog.Warn("restore: " + TestBreakEnv + "=rlimit: lowering RLIMIT_NOFILE of the main process by one, for a test")
		return unix.Prlimit(first, unix.RLIMIT_NOFILE, &lim, nil)
	case "regs":
		r := t.firstLive()
		regs, err := r.tr.GetRegs(r.pid)
		if err != nil {
			return err
		}
		regs.R15++
		slog.Warn("restore: " + TestBreakEnv + "=regs: changing r15 of the main thread, for a test")
		return r.tr.SetRegs(r.pid, regs)
	case "sysv":
		return nil // the supervisor's (supervisor/ipcns.go: verifyIPC)
	case "semundo":
		return nil // semundo.go's: the read-back of the undo lists
	default:
		return fmt.Errorf("%s=%q: unknown (known: rlimit, regs, sysv, semundo)", TestBreakEnv, v)
	}
}

// readBack adds the inventory fields only the process itself can tell, by
// injection (the checkpoint's dumper read the original's the same way):
// each caught or ignored signal's disposition, the parent-death signal,
// child-subreaper.
func (r *restorer) readBack(f inventory.Fields) error {
	var caught uint64
	for _, k := range []string{"status SigCgt", "status SigIgn"} {
		v, err := strconv.ParseUint(f[k], 16, 64)
		if err != nil {
			return fmt.Errorf("%s %q: %w", k, f[k], err)
		}
		caught |= v
	}
	r.reset()
	buf, err := r.put(make([]byte, 32))
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	for sig := 1; sig <= 64; sig++ {
		if caught&(1<<(sig-1)) == 0 {
			continue
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("rt_sigaction(%d)", sig), unix.SYS_RT_SIGACTION, uint64(sig), 0, buf, 8); err != nil {
			return err
		}
		b := make([]byte, 32)
		if err := ptrace.ReadMem(r.pid, uintptr(buf), b); err != nil {
			return err
		}
		k, v := inventory.SigactionField(sig, le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:]))
		f[k] = v
	}
	for _, g := range []struct {
		name string
		op   uint64
	}{{"pdeathsig", unix.PR_GET_PDEATHSIG}, {"child_subreaper", unix.PR_GET_CHILD_SUBREAPER}} {
		if _, err := r.inj(r.pid, "prctl("+g.name+")", unix.SYS_PRCTL, g.op, buf); err != nil {
			return err
		}
		b := make([]byte, 4)
		if err := ptrace.ReadMem(r.pid, uintptr(buf), b); err != nil {
			return err
		}
		v := int(int32(le.Uint32(b)))
		if g.name == "child_subreaper" && v != 0 {
			v = 1
		}
		k, val := inventory.PrctlField(g.name, v)
		f[k] = val
	}
	for _, fd := range r.p.FDs {
		if fd.Socket == nil || fd.Socket.PeerCred == nil || fd.Stdio != nil {
			continue
		}
		if err := ptrace.WriteMem(r.pid, uintptr(buf+16), le.AppendUint32(nil, 12)); err != nil {
			return err
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("getsockopt(%d, SO_PEERCRED)", fd.FD), unix.SYS_GETSOCKOPT, uint64(fd.FD), unix.SOL_SOCKET, unix.SO_PEERCRED, buf, buf+16); err != nil {
			return err
		}
		b := make([]byte, 12)
		if err := ptrace.ReadMem(r.pid, uintptr(buf), b); err != nil {
			return err
		}
		k, v := inventory.PeerCredField(fd.FD, int(int32(le.Uint32(b))), le.Uint32(b[4:]), le.Uint32(b[8:]))
		f[k] = v
	}
	return nil
}

// firstLive is the first live process of the image, restored: the main
// process, or the first orphan when it had exited.
func (t *treeRestorer) firstLive() *restorer {
	for _, p := range t.procs {
		if p.Zombie == nil {
			return t.by[p.PID]
		}
	}
	return t.root
}
