package seccomp

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// sysvFiles maps a SysV kind to its /proc/sysvipc table, the column naming
// the object, and the columns that may tie a row to the app: pids (creator,
// last attach/detach, last send/receive) and times (creation or change,
// last operation).
var sysvFiles = map[string]struct {
	file, id string
	pids     []string
	times    []string
}{
	// A segment's creator is the process that called shmget (a trap
	// caller, kept in pids even once gone): no need to guess by time.
	"sysv_shm": {"shm", "shmid", []string{"cpid", "lpid"}, nil},
	"sysv_sem": {"sem", "semid", nil, []string{"ctime", "otime"}},
	"sysv_msg": {"msg", "msqid", []string{"lspid", "lrpid"}, []string{"ctime", "stime", "rtime"}},
}

// SysVHeld decides a SysV taint from what exists. The app shares the
// host's IPC namespace, so its objects are rows of /proc/sysvipc/shm, sem or
// msg (pids there are in the reader's, the supervisor's, namespace). A row is
// the app's when its creator or last user is a process of the app or one
// that made a trapped call of the kind (pids): a segment's cpid is the
// caller of shmget. Semaphore sets and message queues carry no creator pid
// (a queue only its last sender and receiver): such a row may be the app's,
// and is kept, when it was created, changed or used at or after since (the
// app's first call of the kind), as it cannot be told apart from another
// program's. held is false when no such row exists: the
// state the call made is gone (a segment created, attached, removed and
// detached at once, as Open MPI's start-up probe does). what names the first
// row kept; an unreadable table keeps the taint.
func SysVHeld(kind string, since time.Time, pids map[int]bool) (what string, held bool) {
	spec, ok := sysvFiles[kind]
	if !ok {
		return "", true
	}
	path := "/proc/sysvipc/" + spec.file
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("%s unreadable: %v", path, err), true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return path + " has no header", true
	}
	col := map[string]int{}
	for i, name := range strings.Fields(sc.Text()) {
		col[name] = i
	}
	field := func(row []string, name string) (int64, bool) {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return 0, false
		}
		v, err := strconv.ParseInt(row[i], 10, 64)
		return v, err == nil
	}
	// Whole seconds in the table; one second of slack for the clocks.
	t0 := since.Unix() - 1
	for sc.Scan() {
		row := strings.Fields(sc.Text())
		id, _ := field(row, spec.id)
		for _, c := range spec.pids {
			if pid, ok := field(row, c); ok && pid > 0 && pids[int(pid)] {
				return fmt.Sprintf("%s %d, %s %d (host pid) of the app", spec.id, id, c, pid), true
			}
		}
		for _, c := range spec.times {
			if t, ok := field(row, c); ok && t >= t0 {
				return fmt.Sprintf("%s %d, %s %s: since the app's first call, cannot be told apart from the app's",
					spec.id, id, c, time.Unix(t, 0).UTC().Format(time.RFC3339)), true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Sprintf("%s: %v", path, err), true
	}
	return "", false
}
