package supervisor

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for _, s := range []string{"warn", "deny", "kill"} {
		if p, err := ParsePolicy(s); err != nil || string(p) != s {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("maybe"); err == nil {
		t.Error("maybe accepted")
	}
}

func TestLedgerFirstPerProcessAndReason(t *testing.T) {
	l := NewLedger()
	a := &Taint{Pid: 10, Reason: "CR: x", Time: time.Now()}
	if !l.Add(a) || l.Add(&Taint{Pid: 10, Reason: "CR: x"}) {
		t.Fatal("want only the first taint of a process and reason recorded")
	}
	if !l.Add(&Taint{Pid: 11, Reason: "CR: x"}) || !l.Add(&Taint{Pid: 10, Reason: "CR: y"}) {
		t.Fatal("other process or reason must be recorded")
	}
	if got := l.Snapshot(map[int]bool{10: true}); len(got) != 2 {
		t.Fatalf("snapshot of pid 10: %d taints", len(got))
	}
	// pid 11 is gone: forgotten, and a new pid 11 records again
	if !l.Add(&Taint{Pid: 11, Reason: "CR: x"}) {
		t.Fatal("taints of a dead process must be forgotten")
	}
}

func TestRuntimeDirChecks(t *testing.T) {
	d := t.TempDir()
	t.Setenv("CRRUN_RUNTIME_DIR", "")
	t.Setenv("XDG_RUNTIME_DIR", d)
	if got := RuntimeDir(""); got != filepath.Join(d, "crrun") {
		t.Errorf("RuntimeDir = %s", got)
	}
	if RuntimeDir("/x") != "/x" {
		t.Error("override ignored")
	}
	open := filepath.Join(d, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if err := ensureRuntimeDir(open); err == nil {
		t.Error("a world-writable runtime dir was accepted")
	}
	if err := ensureRuntimeDir(filepath.Join(d, "new")); err != nil {
		t.Error(err)
	}
}

// Two supervisors running at once give their apps different first pids, a
// thousand apart when they were started one after the other; the base stays
// within [firstAppPid, pidMax-appPidRoom).
func TestAppPidBase(t *testing.T) {
	if got := appPidBase(5, 1000); got != firstAppPid {
		t.Errorf("appPidBase(5, 1000) = %d, want %d (no room: the fixed base)", got, firstAppPid)
	}
	for _, max := range []int{32768, 4194304} {
		seen := map[int]int{}
		for h := 2; h < 32768; h++ {
			b := appPidBase(h, max)
			if b < firstAppPid || b >= max-appPidRoom {
				t.Fatalf("appPidBase(%d, %d) = %d: out of range", h, max, b)
			}
			if o, ok := seen[b]; ok && max > 32768 {
				t.Fatalf("appPidBase(%d) = appPidBase(%d) = %d", h, o, b)
			}
			seen[b] = h
			if d := b - appPidBase(h-1, max); d > -1000 && d < 1000 {
				t.Fatalf("pid_max %d: bases of host pids %d and %d are %d apart", max, h-1, h, d)
			}
		}
	}
}

// TestPidBaseCandidates: the bases a launch moves to when its own is taken
// lie at least 400 pids from every base the supervisors started beside it
// (host pids 10 either side) take by themselves, and within the range.
func TestPidBaseCandidates(t *testing.T) {
	for _, max := range []int{32768, 4194304, 99999} {
		for h := 300; h < 40000; h += 997 {
			cands := pidBaseCandidates(h, max, appPidBase(h, max))
			if len(cands) < 2 {
				t.Fatalf("pid_max %d, host pid %d: %v", max, h, cands)
			}
			for _, b := range cands[1:] {
				if b < firstAppPid || b >= max-appPidRoom {
					t.Fatalf("pid_max %d, host pid %d: candidate %d out of range", max, h, b)
				}
				for o := h - 10; o <= h+10; o++ {
					if d := b - appPidBase(o, max); d > -400 && d < 400 {
						t.Fatalf("pid_max %d, host pid %d: candidate %d is %d from host pid %d's base", max, h, b, d, o)
					}
				}
			}
		}
	}
}
