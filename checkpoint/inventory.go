package checkpoint

import (
	"fmt"
	"os"

	"crrun/image"
	"crrun/inventory"
	"crrun/seccomp"
)

// observe takes the inventory of every live process (package inventory),
// once the tree is saved: the restore compares the restored tree with it.
// Values this crrun cannot restore refuse the checkpoint.
func (t *tree) observe(ft *frozenTree, procs []*image.Process) error {
	ns, err := inventory.NamespaceOf(t.req.Pid)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	var drop uint64
	for _, s := range t.req.DropSignals {
		drop |= 1 << (uint(s) - 1)
	}
	base, err := inventory.Baseline(os.Getpid())
	if err != nil {
		return fmt.Errorf("inventory of crrun itself: %w", err)
	}
	obs := inventory.NewTree(ns)
	var findings []seccomp.Finding
	for i, host := range ft.order {
		p := procs[i]
		if p.Zombie != nil {
			continue
		}
		skip := map[int]bool{}
		for _, fd := range p.FDs {
			if fd.Stdio != nil {
				skip[fd.FD] = true
			}
		}
		f, err := obs.Observe(inventory.Proc{Host: host, Skip: skip, DropPending: drop})
		if err != nil {
			return err
		}
		for k, v := range injectedFields(p) {
			f[k] = v
		}
		p.Inventory = f
		for _, r := range append(inventory.Refusals(f), inventory.InheritedRefusals(f, base)...) {
			findings = append(findings, seccomp.Finding{Pid: host, Kind: "inventory", Fd: -1, Reason: r})
		}
	}
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
