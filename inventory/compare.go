package inventory

import (
	"fmt"
	"sort"
	"strconv"
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
	timerSigs, _ := strconv.ParseUint(saved[TimerSignals], 16, 64)
	for k, v := range saved {
		if strings.HasPrefix(k, "meta ") {
			continue
		}
		r, ok := restored[k]
		if ok && isPending(k) && pendingOK(v, r, timerSigs) {
			continue
		}
		if !ok || r != v {
			out = append(out, Mismatch{PID: pid, Field: k, Kind: KindOf(k).Name, Saved: v, Restored: r, Missing: !ok})
		}
	}
	for k, r := range restored {
		if strings.HasPrefix(k, "meta ") {
			continue
		}
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

// TimerSignals is the saved field (hex mask) of the signals the process's
// armed timers send (itimers, POSIX timers): the restored timers run while
// the restore finishes, so the restored pending sets may hold these signals
// on top of the saved ones.
const TimerSignals = "meta timer signals"

func isPending(k string) bool {
	return k == "status ShdPnd" || (strings.HasPrefix(k, "thread ") && strings.HasSuffix(k, " SigPnd"))
}

// pendingOK: every saved pending signal is pending again, and any other one
// is a timer's.
func pendingOK(saved, restored string, timerSigs uint64) bool {
	s, err1 := strconv.ParseUint(saved, 16, 64)
	r, err2 := strconv.ParseUint(restored, 16, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return s&^r == 0 && (r&^s)&^timerSigs == 0
}
