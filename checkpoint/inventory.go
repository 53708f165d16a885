package checkpoint

import (
	"fmt"
	"os"
	"runtime"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/inventory"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// The inventory of every live process (package inventory) is taken while
// the tree is frozen: the restore compares the restored tree with it, and
// values this crrun cannot restore refuse the checkpoint. Each process is
// observed on other goroutines as soon as it is saved (its injections are
// over and its scratch page gone), while the tracer saves the next one: in
// a tree of 16 the observations took 17 ms after the last process, most
// of the tree's own time in the pause. dump waits for all of them before
// the steps that work on the whole tree; should one of those change the
// app (tree.mutated: semop adjustments, a stream socket's queue read and
// sent again, connections accepted), the tree is observed again after it,
// as before.

// earlyObservation is the inventory taken process by process during the
// dump.
type earlyObservation struct {
	a      *inventory.Async
	which  []int // indexes in ft.order of the processes observed
	fields []inventory.Fields
	err    error
}

// startObserving prepares the observation of ft's live processes (nil when
// there is none: observe then does all of it).
func (t *tree) startObserving(ft *frozenTree) *earlyObservation {
	live := ft.live() // the main process may be gone (image.Meta.MainExit)
	if len(live) == 0 {
		return nil
	}
	ns, err := inventory.NamespaceOf(live[0])
	if err != nil {
		return nil
	}
	return &earlyObservation{a: inventory.NewTree(ns).Async(runtime.GOMAXPROCS(0))}
}

// add starts observing process i of ft.order (host pid host, saved as p).
func (e *earlyObservation) add(t *tree, i, host int, p *image.Process) {
	if e == nil {
		return
	}
	e.which = append(e.which, i)
	e.a.Start(t.inventoryProc(host, p))
}

// wait ends every observation started.
func (e *earlyObservation) wait() {
	if e != nil && e.fields == nil && e.err == nil {
		e.fields, e.err = e.a.Wait()
	}
}

// inventoryProc is what the inventory observes of process host, saved as p.
func (t *tree) inventoryProc(host int, p *image.Process) inventory.Proc {
	var drop uint64
	for _, s := range t.req.DropSignals {
		drop |= 1 << (uint(s) - 1)
	}
	return inventory.Proc{Host: host, Skip: inventory.StdioFDs(p), DropPending: drop, Smaps: t.smaps[host]}
}

// observe completes the inventory: the observations taken during the dump
// (early), or, when there are none or the app was changed since, new ones
// of every live process, in parallel (their inodes numbered as one
// observation after the other in image order would: the image does not
// depend on which finished first).
func (t *tree) observe(ft *frozenTree, procs []*image.Process, early *earlyObservation) error {
	live := ft.live()
	if len(live) == 0 {
		return nil
	}
	// A restored process inherits from crrun's init what the restore does
	// not set (in a user namespace: the namespace's full bounding set, not
	// the supervisor's).
	basePid := t.req.Init
	if basePid == 0 {
		basePid = os.Getpid()
	}
	sp := newSpans("inventory", 0)
	defer sp.done()
	base, err := inventory.Baseline(basePid)
	if err != nil {
		return fmt.Errorf("inventory of crrun's init %d: %w", basePid, err)
	}
	sp.mark("baseline")
	var all []inventory.Fields
	var which []int
	if early != nil && !t.mutated && early.err == nil && len(early.which) == len(live) {
		all, which = early.fields, early.which
	} else {
		ns, err := inventory.NamespaceOf(live[0])
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		var in []inventory.Proc
		for i, host := range ft.order {
			if p := procs[i]; p.Zombie == nil {
				in = append(in, t.inventoryProc(host, p))
				which = append(which, i)
			}
		}
		if all, err = inventory.NewTree(ns).ObserveAll(in, runtime.GOMAXPROCS(0)); err != nil {
			return err
		}
	}
	sp.mark("observe")
	var findings []seccomp.Finding
	for j, i := range which {
		p, host, f := procs[i], ft.order[i], all[j]
		for k, v := range injectedFields(p) {
			f[k] = v
		}
		pendingFields(f, p)
		connFields(f, p)
		p.Inventory = f
		for _, r := range append(inventory.Refusals(f), inventory.InheritedRefusals(f, base)...) {
			findings = append(findings, seccomp.Finding{Pid: host, Kind: "inventory", Fd: -1, Reason: r})
		}
	}
	sp.mark("fields+refusals")
	if len(findings) > 0 {
		return &NotCheckpointableError{Findings: findings}
	}
	return nil
}

// injectedFields are the inventory fields the dumper read by injection.
func injectedFields(p *image.Process) inventory.Fields {
	f := inventory.Fields{}
	for _, sa := range p.SigHandlers {
		if sa.Handler == 0 && sa.Flags == 0 && sa.Mask == 0 && sa.Restorer == 0 {
			continue // SIG_DFL: the status sets say so
		}
		k, v := inventory.SigactionField(sa.Signal, uint64(sa.Handler), uint64(sa.Flags), uint64(sa.Restorer), uint64(sa.Mask))
		f[k] = v
	}
	for _, fd := range p.FDs {
		if c := fd.Socket; c != nil && c.PeerCred != nil && fd.Stdio == nil {
			k, v := inventory.PeerCredField(fd.FD, c.PeerCred.Pid, c.PeerCred.Uid, c.PeerCred.Gid)
			f[k] = v
		}
	}
	k, v := inventory.PrctlField("pdeathsig", p.ParentDeathSignal)
	f[k] = v
	sub := 0
	if p.ChildSubreaper {
		sub = 1
	}
	k, v = inventory.PrctlField("child_subreaper", sub)
	f[k] = v
	return f
}

// pendingFields sets the pending-signal fields from what the image holds:
// timers run on while the app is frozen, so /proc's pending sets, read after
// the dump, may show signals a timer sent after the dump read the queues
// (the restored timer sends those again, at its time). The signals armed
// timers send are recorded too: the restore's own timers may add them.
func pendingFields(f inventory.Fields, p *image.Process) {
	mask := func(l []image.SigInfo) string {
		var m uint64
		for _, si := range l {
			if si.Signo > 0 && si.Signo <= 64 {
				m |= 1 << (si.Signo - 1)
			}
		}
		return fmt.Sprintf("%016x", m)
	}
	f["status ShdPnd"] = mask(p.SharedPending)
	for _, th := range p.Threads {
		f[fmt.Sprintf("thread %d SigPnd", th.TID)] = mask(th.Pending)
	}
	var timers uint64
	for sig, it := range map[unix.Signal]image.Itimer{unix.SIGALRM: p.Itimers.Real, unix.SIGVTALRM: p.Itimers.Virtual, unix.SIGPROF: p.Itimers.Prof} {
		if it.ValueNS != 0 || it.IntervalNS != 0 {
			timers |= 1 << (sig - 1)
		}
	}
	for _, pt := range p.PosixTimers {
		if pt.Notify&1 == 0 && pt.Signal > 0 && pt.Signal <= 64 { // not SIGEV_NONE
			timers |= 1 << (pt.Signal - 1)
		}
	}
	f[inventory.TimerSignals] = fmt.Sprintf("%x", timers)
}
