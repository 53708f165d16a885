package ptrace

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Minimal /proc readers this package needs for itself. The full parsers live in
// internal/procfs; these stay small so tracee control does not depend on them.

// readTgid returns the thread group (process) id of a thread.
func readTgid(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	return statusField(b, "Tgid:")
}

// readTracerPid returns the TracerPid of a thread (the tracer's tgid, 0 if none).
func readTracerPid(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	return statusField(b, "TracerPid:")
}

func statusField(status []byte, key string) (int, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, fmt.Errorf("no %q in /proc status", key)
}

// threadState returns the state letter of /proc/TID/stat (R, S, D, t, T, Z, X…).
// The comm field may hold spaces and parentheses, so the state is the first
// field after the last ')'.
func threadState(tid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("malformed /proc/%d/stat", tid)
	}
	return b[i+2], nil
}

// listTasks returns the thread ids in /proc/PID/task, sorted.
func listTasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	sort.Ints(tids)
	return tids, nil
}

// mappingRange finds the first mapping whose pathname field is name (such as
// "[vdso]") in /proc/TID/maps.
func mappingRange(tid int, name string) (lo, hi uintptr, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", tid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != name {
			continue
		}
		a, b, ok := strings.Cut(fields[0], "-")
		if !ok {
			return 0, 0, fmt.Errorf("malformed maps line %q", sc.Text())
		}
		l, err1 := strconv.ParseUint(a, 16, 64)
		h, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("malformed maps line %q", sc.Text())
		}
		return uintptr(l), uintptr(h), nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("no %s mapping in /proc/%d/maps", name, tid)
}

// executable reports whether addr lies in an executable mapping of tid's
// process (the x in /proc/TID/maps perms).
func executable(tid int, addr uintptr) (bool, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", tid))
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		a, b, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < lo || uint64(addr) >= hi {
			continue
		}
		return len(fields[1]) >= 3 && fields[1][2] == 'x', nil
	}
	return false, sc.Err()
}

// executableRanges lists tid's executable mappings ("x" in the perms of
// /proc/TID/maps) but [vsyscall] (execute-only, emulated), [vdso] first.
func executableRanges(tid int) ([][2]uintptr, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", tid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || len(fields[1]) < 3 || fields[1][0] != 'r' || fields[1][2] != 'x' {
			continue
		}
		if len(fields) >= 6 && fields[5] == "[vsyscall]" {
			continue
		}
		a, b, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		r := [2]uintptr{uintptr(lo), uintptr(hi)}
		if len(fields) >= 6 && fields[5] == "[vdso]" {
			out = append([][2]uintptr{r}, out...)
		} else {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}
