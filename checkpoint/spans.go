package checkpoint

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// spans times the steps of one part of a checkpoint for the debug log
// (`--log-level debug`): one line per part, each step's duration, so a
// profile of the app's pause needs no rebuild.
type spans struct {
	what string
	pid  int
	t0   time.Time
	last time.Time
	b    strings.Builder
}

func newSpans(what string, pid int) *spans {
	now := time.Now()
	return &spans{what: what, pid: pid, t0: now, last: now}
}

// mark ends the step called name.
func (s *spans) mark(name string) {
	if !slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	now := time.Now()
	if s.b.Len() > 0 {
		s.b.WriteByte(' ')
	}
	s.b.WriteString(name)
	s.b.WriteByte('=')
	s.b.WriteString(now.Sub(s.last).Round(10 * time.Microsecond).String())
	s.last = now
}

// done logs the steps.
func (s *spans) done() {
	if s.b.Len() > 0 {
		slog.Debug("checkpoint: spans "+s.what, "pid", s.pid, "total", time.Since(s.t0).Round(10*time.Microsecond), "steps", s.b.String())
	}
}
