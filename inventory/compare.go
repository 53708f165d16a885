package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// Mismatch is one field whose restored value differs from the saved one.
type Mismatch struct {
	PID      int    // in the app's namespace
	Field    string // "status Uid", "fd 3 flags", "map 7f00-7f10 vmflags"
	Kind     string // the Kind the field belongs to
	Saved    string // "" with Missing: the restored process has it, the image not
	Restored string
	// Missing: the field exists on one side only.
	Missing bool
}

func (m Mismatch) String() string {
	show := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("pid %d: %s (%s): saved %s, restored %s", m.PID, m.Field, m.Kind, show(m.Saved), show(m.Restored))
}

// Compare lists the fields of a restored process that differ from the saved
// observation, sorted by field name.
func Compare(pid int, saved, restored Fields) []Mismatch {
	var out []Mismatch
	for k, v := range saved {
		r, ok := restored[k]
		if !ok || r != v {
			out = append(out, Mismatch{PID: pid, Field: k, Kind: KindOf(k).Name, Saved: v, Restored: r, Missing: !ok})
		}
	}
	for k, r := range restored {
		if _, ok := saved[k]; !ok {
			out = append(out, Mismatch{PID: pid, Field: k, Kind: KindOf(k).Name, Restored: r, Missing: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// Error is a restore refused by the verifier.
type Error struct {
	Mismatches []Mismatch
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the restored app differs from its image in %d field(s); it was killed before it ran:", len(e.Mismatches))
	for i, m := range e.Mismatches {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Mismatches)-i)
			break
		}
		b.WriteString("\n  " + m.String())
	}
	return b.String()
}
