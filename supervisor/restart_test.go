package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

func TestRestartPolicy(t *testing.T) {
	for _, c := range []struct {
		on   RestartOn
		exit Exit
		want bool
	}{
		{RestartCrash, Exit{Signal: unix.SIGSEGV}, true},
		{RestartCrash, Exit{Signal: unix.SIGKILL}, true},
		{RestartCrash, Exit{Signal: unix.SIGTERM}, false},
		{RestartCrash, Exit{Code: 1}, false},
		{RestartCrash, Exit{}, false},
		{RestartNonzero, Exit{Code: 1}, true},
		{RestartNonzero, Exit{Signal: unix.SIGPIPE}, false},
		{RestartNonzero, Exit{}, false},
		{RestartAny, Exit{Signal: unix.SIGPIPE}, true},
		{RestartAny, Exit{}, false},
	} {
		if got := (RestartPolicy{Max: 1, On: c.on}).failed(c.exit); got != c.want {
			t.Errorf("%s after %s: %v, want %v", c.on, describeExit(c.exit), got, c.want)
		}
	}
	s := &Supervisor{cfg: Config{Restart: RestartPolicy{Max: 3, On: RestartCrash}}}
	if s.restartWanted(Exit{Signal: unix.SIGSEGV}) {
		t.Error("a main process that ended before the restored checkpoint is not restarted after")
	}
	s.mainDiedHere = true
	if !s.restartWanted(Exit{Signal: unix.SIGABRT}) {
		t.Error("SIGABRT from the app itself is a crash")
	}
	s.noteForwarded(unix.SIGABRT)
	if s.restartWanted(Exit{Signal: unix.SIGABRT}) {
		t.Error("a SIGABRT crrun passed on from the user is not a crash to restart after")
	}
	if s.restartWanted(Exit{Signal: unix.SIGKILL, byCrrun: true}) {
		t.Error("an app crrun ended on purpose is not restarted")
	}
	p := RestartPolicy{Delay: time.Second}
	if p.delay(1) != time.Second || p.delay(3) != 4*time.Second || p.delay(40) != MaxRestartDelay {
		t.Errorf("delays %v %v %v", p.delay(1), p.delay(3), p.delay(40))
	}
}

func TestExitCodes(t *testing.T) {
	dir := "/store"
	for _, c := range []struct {
		err  error
		want int
	}{
		{&checkpoint.NotCheckpointableError{}, ExitNotCheckpointable},
		{fmt.Errorf("image: write: %w", unix.ENOSPC), ExitIOError},
		{fmt.Errorf("x: %w", &fs.PathError{Op: "open", Path: "/store/.gen-000001.tmp-1/pages", Err: unix.EACCES}), ExitIOError},
		{fmt.Errorf("x: %w", &fs.PathError{Op: "open", Path: "/proc/1/maps", Err: unix.ENOENT}), ExitNotCheckpointable},
		{errors.New("the app's main process has exited"), ExitNotCheckpointable},
	} {
		if got := checkpointExitCode(c.err, dir); got != c.want {
			t.Errorf("%v: %d, want %d", c.err, got, c.want)
		}
	}
	if got := imageExitCode(fmt.Errorf("x: %w", image.ErrImageCorrupt)); got != ExitBadImage {
		t.Errorf("corrupt image: %d", got)
	}
	if got := imageExitCode(errors.New("other")); got != ExitInternal {
		t.Errorf("other: %d", got)
	}
}
