// Package timens reads and writes time namespace offsets and the clocks an
// app sees through them (docs/design.md, "Clocks"). No policy: the supervisor
// decides what to do when time namespaces are missing.
//
// Kernel facts (Linux 5.6+, verified on 6.18): a time namespace shifts
// CLOCK_MONOTONIC (and its _RAW/_COARSE forms) and CLOCK_BOOTTIME by fixed
// offsets, through the syscall and the vdso alike; CLOCK_REALTIME is the
// host's. unshare(CLONE_NEWTIME) creates one for the caller's *children*
// (/proc/PID/ns/time_for_children), with the caller's current offsets; the
// offsets (/proc/PID/timens_offsets, absolute: relative to the host's clocks,
// not to the parent namespace) may be written, with CAP_SYS_TIME in the
// namespace's owning user namespace, only until a process has entered it
// (EACCES after). A process enters it by fork, or by execve when it unshared
// it itself; vfork+exec works (a CLONE_VM child is allowed while it is a
// vfork child).
package timens

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// TestNoTimeNSEnv, set to 1, makes Available report false: the test suite
// uses it to exercise what crrun does on a kernel built without
// CONFIG_TIME_NS. Test-only; documented in docs/design.md.
const TestNoTimeNSEnv = "CRRUN_TEST_NO_TIME_NS"

// Available reports whether this kernel has time namespaces
// (CONFIG_TIME_NS: /proc/self/ns/time exists).
func Available() bool {
	if os.Getenv(TestNoTimeNSEnv) == "1" {
		return false
	}
	_, err := os.Lstat("/proc/self/ns/time")
	return err == nil
}

// Offsets are a time namespace's clock offsets.
type Offsets struct {
	Monotonic time.Duration
	Boottime  time.Duration
}

// Read returns the offsets of the time namespace pid's children get
// (/proc/PID/timens_offsets; pid 0 means the caller). For a process that has
// not unshared one, that is the namespace it is in.
func Read(pid int) (Offsets, error) {
	p := "/proc/self/timens_offsets"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/timens_offsets"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return Offsets{}, err
	}
	return parse(p, b)
}

func parse(path string, b []byte) (Offsets, error) {
	var o Offsets
	seen := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return o, fmt.Errorf("%s: bad line %q", path, line)
		}
		sec, err1 := strconv.ParseInt(string(f[1]), 10, 64)
		nsec, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil {
			return o, fmt.Errorf("%s: bad line %q", path, line)
		}
		d := time.Duration(sec)*time.Second + time.Duration(nsec)
		switch string(f[0]) {
		case "monotonic", "1": // the kernel prints names; accept the clock id too
			o.Monotonic = d
		case "boottime", "7":
			o.Boottime = d
		default:
			continue
		}
		seen++
	}
	if seen != 2 {
		return o, fmt.Errorf("%s: want the monotonic and boottime offsets, got %q", path, b)
	}
	return o, nil
}

// Format renders o the way /proc/PID/timens_offsets takes it: a clock name,
// seconds, and nanoseconds in [0, 1e9) (negative offsets have negative
// seconds).
func (o Offsets) Format() string {
	return "monotonic " + secNsec(o.Monotonic) + "\nboottime " + secNsec(o.Boottime) + "\n"
}

func secNsec(d time.Duration) string {
	sec, nsec := int64(d/time.Second), int64(d%time.Second)
	if nsec < 0 {
		sec, nsec = sec-1, nsec+int64(time.Second)
	}
	return strconv.FormatInt(sec, 10) + " " + strconv.FormatInt(nsec, 10)
}

// WriteSelf sets the offsets of the time namespace the caller's children
// will enter (the caller unshared it and nobody has entered it yet).
func WriteSelf(o Offsets) error {
	f, err := os.OpenFile("/proc/self/timens_offsets", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(o.Format())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Clocks are readings of CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME
// taken together, in nanoseconds.
type Clocks struct {
	Monotonic, Boottime, Realtime int64
}

// Now reads the caller's clocks (its own time namespace's view).
func Now() Clocks {
	return Clocks{Monotonic: gettime(unix.CLOCK_MONOTONIC), Boottime: gettime(unix.CLOCK_BOOTTIME),
		Realtime: gettime(unix.CLOCK_REALTIME)}
}

func gettime(id int32) int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(id, &ts)
	return ts.Nano()
}

// Host returns the host's own clocks (the initial time namespace's), from
// the caller's view and its namespace's offsets.
func Host() (Clocks, error) {
	c := Now()
	if !Available() {
		return c, nil
	}
	own, err := Read(0)
	if err != nil {
		return c, fmt.Errorf("crrun's own time namespace offsets: %w", err)
	}
	c.Monotonic -= int64(own.Monotonic)
	c.Boottime -= int64(own.Boottime)
	return c, nil
}

// Of returns the clocks as pid sees them: the host's plus the offsets of
// pid's time namespace.
func Of(pid int) (Clocks, error) {
	c, err := Host()
	if err != nil || !Available() {
		return c, err
	}
	o, err := Read(pid)
	if err != nil {
		return c, fmt.Errorf("time namespace offsets of pid %d: %w", pid, err)
	}
	c.Monotonic += int64(o.Monotonic)
	c.Boottime += int64(o.Boottime)
	return c, nil
}

// Continue returns the offsets that make a new namespace's clocks read saved
// now, given the host's clocks now: the app's clocks go on from where they
// were, whatever this host's uptime.
func Continue(saved, host Clocks) Offsets {
	return Offsets{Monotonic: time.Duration(saved.Monotonic - host.Monotonic),
		Boottime: time.Duration(saved.Boottime - host.Boottime)}
}
