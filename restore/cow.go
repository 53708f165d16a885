package restore

import (
	"fmt"
	"sort"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Copy-on-write sharing between a parent and its forked children
// (checkpoint/cow.go). A process some child of which has mappings marked
// image.VMA.Inherit gets its memory rebuilt in createTree, before that
// child is cloned from it: the child then inherits those mappings with the
// parent's pages, copy-on-write, keeps them (buildMemory does not unmap
// them), drops with MADV_DONTNEED the ranges it had no pages in, and has
// only its own pages written.

// earlyMemory rebuilds r's memory now, before its children exist.
func (r *restorer) earlyMemory() error {
	if r.memDone {
		return nil
	}
	if err := r.buildMemory(); err != nil {
		return fmt.Errorf("pid %d: memory, before its children are cloned: %w", r.p.PID, err)
	}
	r.memDone = true
	return nil
}

// sharesWithChildren reports which processes have children inheriting
// their pages.
func (t *treeRestorer) sharesWithChildren() map[int]bool {
	out := map[int]bool{}
	for _, p := range t.procs {
		for i := range p.Memory {
			if p.Memory[i].Inherit != nil {
				out[p.PPID] = true
				break
			}
		}
	}
	return out
}

// inheritedSpans lists the ranges of r's mappings it inherits from its
// parent, sorted.
func (r *restorer) inheritedSpans() [][2]uint64 {
	var out [][2]uint64
	for i := range r.p.Memory {
		if v := &r.p.Memory[i]; v.Inherit != nil {
			out = append(out, [2]uint64{uint64(v.Start), uint64(v.End)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// subtract returns the parts of [lo, hi) outside the sorted spans.
func subtract(lo, hi uint64, spans [][2]uint64) [][2]uint64 {
	var out [][2]uint64
	for _, s := range spans {
		if s[1] <= lo || s[0] >= hi {
			continue
		}
		if s[0] > lo {
			out = append(out, [2]uint64{lo, s[0]})
		}
		lo = max(lo, s[1])
	}
	if lo < hi {
		out = append(out, [2]uint64{lo, hi})
	}
	return out
}

// inherit keeps the mapping v the process got from its parent, checked to
// be there, and returns the calls that empty the ranges where the child had
// no pages.
func (r *restorer) inherit(v *image.VMA) ([]call, error) {
	parent := r.t.by[r.p.PPID]
	if parent == nil || !parent.memDone {
		return nil, fmt.Errorf("inherits its parent's pages, but parent %d was not restored before it was cloned", r.p.PPID)
	}
	cur, err := r.currentMaps()
	if err != nil {
		return nil, err
	}
	covered := uint64(v.Start)
	for _, m := range cur {
		if m.Start <= covered && m.End > covered {
			covered = m.End
		}
	}
	if covered < uint64(v.End) {
		return nil, fmt.Errorf("the mapping inherited from parent %d is missing at %#x", r.p.PPID, covered)
	}
	var calls []call
	for _, z := range v.Inherit.Zero {
		calls = append(calls, sys("madvise(MADV_DONTNEED)", unix.SYS_MADVISE, uint64(z.Start), uint64(z.End-z.Start), unix.MADV_DONTNEED))
	}
	return calls, nil
}
