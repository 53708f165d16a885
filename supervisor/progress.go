package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sys/unix"
)

// progressAfter is how long an operation runs before it gets a progress
// line ($CRRUN_PROGRESS_AFTER overrides it, for tests).
func progressAfter() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CRRUN_PROGRESS_AFTER")); err == nil && d >= 0 {
		return d
	}
	return time.Second
}

// stderrIsTerminal reports whether crrun's stderr is a terminal: progress
// lines are for people watching, never for log files.
func stderrIsTerminal() bool {
	_, err := unix.IoctlGetTermios(2, unix.TCGETS)
	return err == nil
}

// showProgress shows, on a terminal and once the operation has taken
// progressAfter, a progress line on stderr: what, bytes done of total, the
// rate and the time left; done is polled. The returned stop clears the line
// (call it before logging the result).
func showProgress(what string, total int64, done func() int64) (stop func()) {
	if total <= 0 || !stderrIsTerminal() {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-quit:
			return
		case <-time.After(progressAfter()):
		}
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("crrun: "+what),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionClearOnFinish(),
		)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			n := done()
			if n > total { // an estimate that fell short
				total = n
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(n)
			select {
			case <-quit:
				_ = bar.Clear()
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// residentBytes estimates what a checkpoint of procs writes: their resident
// memory (/proc/PID/statm).
func residentBytes(procs []Process) int64 {
	var n int64
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", p.Pid))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			n += pages * int64(os.Getpagesize())
		}
	}
	return n
}
