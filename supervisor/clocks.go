package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/timens"
	"github.com/crrun/crrun/restore"
)

// The app's clocks (docs/design.md, "Clocks"): the app runs in a time
// namespace of its own from launch, so that a restore can make its
// CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the values saved at the
// checkpoint, whichever host restores it. The downtime between checkpoint
// and restore is hidden from the app.

// launchTimeNS is the time namespace of a launch: crrun's own offsets
// (inherited by unshare), so the app sees the clocks crrun sees. Nil, with a
// warning, on a kernel without time namespaces.
func launchTimeNS() *timeNSConfig {
	if !timens.Available() {
		slog.Warn("clocks: this kernel has no time namespaces (CONFIG_TIME_NS): the app runs on the host's clocks, " +
			"and a restore on a host up for less time than the app's CLOCK_MONOTONIC or CLOCK_BOOTTIME will be refused")
		return nil
	}
	return &timeNSConfig{}
}

// checkClocks refuses, before anything is started, a restore that would
// move the app's clocks back: only possible without time namespaces.
func checkClocks(meta *image.Meta) error {
	saved := meta.Clocks
	if saved == nil {
		slog.Warn("clocks: the image has no record of the app's clocks (an older crrun): the app sees this host's clocks, " +
			"which may be behind the ones it saw")
		return nil
	}
	if timens.Available() {
		return nil
	}
	host := timens.Now()
	for _, c := range []struct {
		name        string
		saved, host int64
	}{{"CLOCK_MONOTONIC", saved.Monotonic, host.Monotonic}, {"CLOCK_BOOTTIME", saved.Boottime, host.Boottime}} {
		if c.host < c.saved {
			return &Error{Code: ExitInternal, Msg: fmt.Sprintf("restore: this kernel has no time namespaces (CONFIG_TIME_NS), "+
				"and the app's %s would go back by %v (it read %v at the checkpoint, this host reads %v): restore on a host "+
				"up for longer, or on a kernel with CONFIG_TIME_NS", c.name, dur(c.saved-c.host), dur(c.saved), dur(c.host))}
		}
	}
	slog.Warn(fmt.Sprintf("clocks: this kernel has no time namespaces (CONFIG_TIME_NS): the app's CLOCK_MONOTONIC jumps "+
		"forward by %v (the downtime and this host's longer uptime), as after a suspend", dur(host.Monotonic-saved.Monotonic)))
	return nil
}

// testClockSkewEnv is a test-only knob (docs/design.md, "Clocks"): a
// duration added to the host's clocks when a restore computes the offsets.
// A positive one leaves the app's clocks behind the saved values, which the
// restore's own check (verifyClocks) must refuse; a negative one makes them
// jump forward by it.
const testClockSkewEnv = "CRRUN_TEST_CLOCK_SKEW"

// restoreTimeNS computes, as late as possible before the init starts, the
// offsets that make the restored app's clocks read what they read at the
// checkpoint. Time spent from here on (the restore itself) is seen by the
// app, as a pause: its clocks never go back.
func restoreTimeNS(meta *image.Meta) (*timeNSConfig, error) {
	if !timens.Available() {
		return nil, nil // checkClocks warned or refused
	}
	if meta.Clocks == nil {
		return &timeNSConfig{}, nil
	}
	host, err := timens.Host()
	if err != nil {
		return nil, &Error{Code: ExitInternal, Msg: "restore: " + err.Error()}
	}
	if v := os.Getenv(testClockSkewEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, &Error{Code: ExitInternal, Msg: fmt.Sprintf("%s=%q: %v", testClockSkewEnv, v, err)}
		}
		slog.Warn(fmt.Sprintf("clocks: test knob %s=%v: the offsets are computed as if this host's clocks read %v more", testClockSkewEnv, d, d))
		host.Monotonic += int64(d)
		host.Boottime += int64(d)
	}
	saved := timens.Clocks{Monotonic: meta.Clocks.Monotonic, Boottime: meta.Clocks.Boottime}
	o := timens.Continue(saved, host)
	slog.Info(fmt.Sprintf("clocks: the app's CLOCK_MONOTONIC goes on from %v (this host's reads %v), the %v since the checkpoint hidden",
		dur(saved.Monotonic), dur(host.Monotonic), dur(host.Realtime-meta.Clocks.Realtime)))
	return &timeNSConfig{Set: true, Monotonic: int64(o.Monotonic), Boottime: int64(o.Boottime)}, nil
}

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }

// verifyClocks checks, before the restored tree runs, that every process of
// it reads clocks no lower than the image's (they are in the namespace the
// init made, with the offsets written): the restore's own check of the state
// it set, as the inventory's for the rest.
func verifyClocks(meta *image.Meta, res *restore.TreeResult) error {
	saved := meta.Clocks
	if saved == nil {
		return nil
	}
	for _, p := range res.Procs {
		c, err := timens.Of(p.Pid)
		if err != nil {
			return fmt.Errorf("clocks of the restored pid %d: %w", p.PID, err)
		}
		for _, v := range []struct {
			name      string
			saved, is int64
		}{{"CLOCK_MONOTONIC", saved.Monotonic, c.Monotonic}, {"CLOCK_BOOTTIME", saved.Boottime, c.Boottime}} {
			if v.is < v.saved {
				return fmt.Errorf("the restored pid %d reads %s %v, behind the checkpoint's %v: its clocks would go back",
					p.PID, v.name, dur(v.is), dur(v.saved))
			}
		}
	}
	return nil
}
