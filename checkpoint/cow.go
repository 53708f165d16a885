package checkpoint

import (
	"bytes"
	"slices"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
)

// Copy-on-write sharing between a parent and its forked child (issue 9):
// a child's private anonymous mapping that is the same mapping as its
// parent's (range, kind, protection, flags) and holds some of the very same
// pages is saved as image.VMA.Inherit: only its own pages, and the ranges
// where the parent has pages and it has none. Restore rebuilds the parent's
// memory before cloning the child, so the child inherits those pages
// copy-on-write instead of getting its own copies. "The same page": the
// same PFN in both pagemaps where the kernel shows PFNs (CAP_SYS_ADMIN);
// otherwise, for an ordinary user, a page mapped more than once in both
// (pagemap's exclusive bit clear) whose bytes are equal in both, which
// restores the same content either way.

// cowParent is what a dumper knows of its parent for that purpose.
type cowParent struct {
	looked bool
	p      *image.Process // nil: no parent to share with
	pm     *procfs.Pagemap
	mem    *ptrace.Mem           // the parent's memory, to compare pages when PFNs are hidden
	ents   []procfs.PagemapEntry // the parent's entries of the current mapping, copied
	a, b   []byte                // comparison buffers
}

// parent finds the saved parent of p (dumped before its children) and
// opens its pagemap, once.
func (d *dumper) parent(p *image.Process) *cowParent {
	c := &d.cow
	if c.looked {
		return c
	}
	c.looked = true
	for host, pp := range d.t.procs {
		if pp.PID != p.PPID || pp.Zombie != nil {
			continue
		}
		for _, v := range pp.Memory {
			if slices.Contains(v.Flags, "sl") {
				return c // a sealed mapping would survive in the child: the parent is restored the usual way
			}
		}
		pm, err := procfs.OpenPagemap(host)
		if err != nil {
			return c
		}
		c.p, c.pm, c.mem = pp, pm, ptrace.OpenMem(host)
	}
	return c
}

func (c *cowParent) close() {
	if c.pm != nil {
		c.pm.Close()
		c.pm = nil
		c.mem.Close()
	}
}

// inherited returns v's Inherit state and the ranges of its own pages to
// save, or nil when v shares nothing with the parent's same mapping.
func (d *dumper) inherited(p *image.Process, v *image.VMA, pm *procfs.Pagemap) (*image.Inherit, []procfs.PageRange, error) {
	if v.Shared || slices.Contains(v.Flags, "wf") || slices.Contains(v.Flags, "dc") || slices.Contains(v.Flags, "gu") {
		return nil, nil, nil // wiped or not inherited on fork; guard markers are restored per process
	}
	c := d.parent(p)
	if c.p == nil {
		return nil, nil, nil
	}
	var pv *image.VMA
	for i := range c.p.Memory {
		m := &c.p.Memory[i]
		if m.Start == v.Start && m.End == v.End {
			pv = m
			break
		}
	}
	if pv == nil || pv.Kind != v.Kind || pv.Shared || pv.Prot != v.Prot || !slices.Equal(pv.Flags, v.Flags) {
		return nil, nil, nil
	}
	start, end := uint64(v.Start), uint64(v.End)
	pents, err := c.pm.Entries(start, end)
	if err != nil {
		return nil, nil, err
	}
	c.ents = append(c.ents[:0], pents...)
	ents, err := pm.Entries(start, end)
	if err != nil {
		return nil, nil, err
	}
	page := pm.PageSize()
	has := func(e procfs.PagemapEntry) bool { return e.Present() || e.Swapped() }
	same, err := d.samePages(c, start, page, ents)
	if err != nil {
		return nil, nil, err
	}
	var own []procfs.PageRange
	inh := &image.Inherit{}
	shared := 0
	for i, e := range ents {
		a := start + uint64(i)*page
		pe := c.ents[i]
		switch {
		case same[i]:
			shared++
		case has(e):
			if n := len(own); n > 0 && own[n-1].End == a {
				own[n-1].End = a + page
			} else {
				own = append(own, procfs.PageRange{Start: a, End: a + page})
			}
		case has(pe):
			if n := len(inh.Zero); n > 0 && uint64(inh.Zero[n-1].End) == a {
				inh.Zero[n-1].End = image.Hex(a + page)
			} else {
				inh.Zero = append(inh.Zero, image.Span{Start: image.Hex(a), End: image.Hex(a + page)})
			}
		}
	}
	if shared == 0 {
		return nil, nil, nil
	}
	d.w.RequireFeature("cow")
	return inh, own, nil
}

// compareChunk bounds the bytes compared at once when PFNs are hidden.
const compareChunk = 1 << 20

// samePages says, per page of [start, …) with the child's entries ents and
// the parent's c.ents, whether the child holds the parent's page.
func (d *dumper) samePages(c *cowParent, start, page uint64, ents []procfs.PagemapEntry) ([]bool, error) {
	same := make([]bool, len(ents))
	hidden := true
	for i, e := range ents {
		pe := c.ents[i]
		if e.Present() && pe.Present() && (e.PFN() != 0 || pe.PFN() != 0) {
			hidden = false
			same[i] = e.PFN() == pe.PFN()
		}
	}
	if !hidden {
		return same, nil
	}
	// No PFNs: compare the bytes of pages both map more than once.
	cand := func(i int) bool {
		e, pe := ents[i], c.ents[i]
		return e.Present() && pe.Present() && !e.Exclusive() && !pe.Exclusive()
	}
	mem := ptrace.OpenMem(d.pid)
	defer mem.Close()
	for i := 0; i < len(ents); {
		if !cand(i) {
			i++
			continue
		}
		j := i
		for j < len(ents) && cand(j) && uint64(j-i)*page < compareChunk {
			j++
		}
		n := uint64(j-i) * page
		if uint64(cap(c.a)) < n {
			c.a, c.b = make([]byte, compareChunk), make([]byte, compareChunk)
		}
		a, b := c.a[:n], c.b[:n]
		at := uintptr(start + uint64(i)*page)
		if err := mem.ReadUnpinned(at, a); err != nil {
			return nil, err
		}
		if err := c.mem.ReadUnpinned(at, b); err != nil {
			return nil, err
		}
		for k := i; k < j; k++ {
			o := uint64(k-i) * page
			same[k] = bytes.Equal(a[o:o+page], b[o:o+page])
		}
		i = j
	}
	return same, nil
}
