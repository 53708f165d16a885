package supervisor

import (
	"slices"
	"sync"
	"time"

	"github.com/crrun/crrun/seccomp"
)

// Taint is one NOCR event: who made which syscall, and why that makes the app
// not checkpointable.
type Taint struct {
	Reason  string        `json:"reason"`
	Kind    string        `json:"kind"`
	Scope   seccomp.Scope `json:"-"`
	Pid     int           `json:"pid"`   // host pid (thread group)
	NsPid   int           `json:"nspid"` // pid inside the app's namespace
	Tid     int           `json:"tid"`
	Comm    string        `json:"comm"`
	Syscall string        `json:"syscall"`
	Detail  string        `json:"detail,omitempty"` // Decision.Detail: a socket's family
	Fds     []int         `json:"fds,omitempty"`    // the fds the call was to create (lowest free ones when it trapped)
	Time    time.Time     `json:"time"`
	Denied  bool          `json:"denied,omitempty"` // --on-nocr=deny failed the call
}

type taintKey struct {
	pid    int
	reason string
}

// Ledger records the first taint per process and reason, in arrival order.
type Ledger struct {
	mu     sync.Mutex
	byKey  map[taintKey]*Taint
	events []*Taint
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{byKey: map[taintKey]*Taint{}} }

// maxFds bounds the fds remembered per taint (the latest calls' ones).
const maxFds = 64

// Add records t and reports whether it is the first of its process and reason.
// A later call of the same process and reason adds the fds it creates to the
// first record (status matches a finding's fd against them).
func (l *Ledger) Add(t *Taint) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := taintKey{t.Pid, t.Reason}
	if old, ok := l.byKey[k]; ok {
		if len(t.Fds) > 0 {
			// A new slice: snapshots share the old one.
			fds := append(slices.DeleteFunc(slices.Clone(old.Fds), func(fd int) bool { return slices.Contains(t.Fds, fd) }), t.Fds...)
			if len(fds) > maxFds {
				fds = fds[len(fds)-maxFds:]
			}
			old.Fds = fds
		}
		return false
	}
	l.byKey[k] = t
	l.events = append(l.events, t)
	return true
}

// Snapshot returns the recorded taints of the processes in alive (all of them
// if alive is nil), forgetting those of processes that are gone — except
// SysV ones: the objects live in the IPC namespace, not in the process, and
// the taint lasts while /proc/sysvipc shows them (seccomp.SysVHeld).
func (l *Ledger) Snapshot(alive map[int]bool) []Taint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Taint
	kept := l.events[:0]
	for _, t := range l.events {
		if alive != nil && !alive[t.Pid] && t.Scope != seccomp.SysVDecided {
			delete(l.byKey, taintKey{t.Pid, t.Reason})
			continue
		}
		kept = append(kept, t)
		out = append(out, *t)
	}
	l.events = kept
	return out
}
