package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Incremental generations (checkpoint/dirty.go, image/chain.go): the incr
// victim rewrites 5 % of its memory each round (by the CPU and by the
// kernel), drops pages and, with churn, maps and unmaps regions; every round
// it checks every page against the versions it keeps, so a stale page from
// a parent generation or a lost one is a FAIL.

const incrRounds, incrMiB = "30", "32"

// incrChain runs the victim with store, checkpoints it 3 times while it
// runs, then with --exit: four generations, each after the first
// incremental.
func incrChain(t *testing.T, store string, extra ...string) {
	t.Helper()
	incrChainMode(t, store, "churn", "", extra...)
}

// incrChainMode is incrChain with the victim's mode; with a marker, the
// victim forks or execs after the first checkpoint (a trigger file) and the
// second checkpoint waits for marker on its stderr.
func incrChainMode(t *testing.T, store, mode, marker string, extra ...string) {
	t.Helper()
	incrChainSized(t, store, incrMiB, mode, marker, extra...)
}

// incrChainSized is incrChainMode with the victim's MiB; it returns the
// crrun's stderr.
func incrChainSized(t *testing.T, store, mib, mode, marker string, extra ...string) string {
	t.Helper()
	bin := compileCR(t, "incr", false)
	trigger := filepath.Join(t.TempDir(), "trigger")
	a := start(t, opts{}, append(append([]string{"--dir", store}, extra...), "--", bin, incrRounds, mib, mode, trigger)...)
	crWaitStderr(t, a, "incr: round 1\n", time.Minute)
	for i := 0; i < 3; i++ {
		if i == 1 && marker != "" {
			if err := os.WriteFile(trigger, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			crWaitStderr(t, a, marker, time.Minute)
		}
		crCheckpoint(t, a, store, false)
		if mode == "small" {
			// Exactly what one round or a few change, whatever the
			// machine's speed: the next round, not a fixed time.
			crWaitStderr(t, a, fmt.Sprintf("incr: round %d\n", strings.Count(a.stderr.String(), "incr: round ")), time.Minute)
			continue
		}
		time.Sleep(250 * time.Millisecond)
	}
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("checkpoint --exit: crrun exited %d\n%s", code, a.stderr)
	}
	if strings.Contains(a.stdout.String(), "FAIL") {
		t.Fatalf("the app failed before the restore: %s", a.stdout)
	}
	if marker == "" {
		incrCheckManifests(t, store)
	}
	return a.stderr.String()
}

// incrExtents counts, per pid, the extents of generation gen that are its
// own and those it refers to in older generations.
func incrExtents(t *testing.T, store, gen string) (own, refs map[int]int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, gen, "pagemap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pm struct {
		Extents []struct {
			PID int    `json:"pid"`
			Gen string `json:"gen"`
		} `json:"extents"`
	}
	if err := json.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	own, refs = map[int]int{}, map[int]int{}
	for _, e := range pm.Extents {
		if e.Gen == "" {
			own[e.PID]++
		} else {
			refs[e.PID]++
		}
	}
	return own, refs
}

// incrCheckManifests checks that gen-000002 on are incremental: they need
// another generation's page files.
func incrCheckManifests(t *testing.T, store string) {
	t.Helper()
	for _, g := range []string{"gen-000002", "gen-000003", "gen-000004"} {
		b, err := os.ReadFile(filepath.Join(store, g, "MANIFEST.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Features []string `json:"features"`
			Parents  []struct {
				Gen  string `json:"gen"`
				File string `json:"file"`
			} `json:"parents"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Parents) == 0 || !strings.Contains(strings.Join(m.Features, " "), "incremental") {
			t.Fatalf("%s is not incremental: features %v, parents %v", g, m.Features, m.Parents)
		}
	}
}

// incrRestore restores the store and wants PASS; it returns the restore's
// stderr.
func incrRestore(t *testing.T, store string) string {
	t.Helper()
	r := start(t, opts{}, "restore", store)
	if code := r.wait(2 * time.Minute); code != 0 || !crPassed(r.stdout.String()) {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	return r.stderr.String()
}

// TestIncrementalChain: periodic checkpoints of an app that rewrites a
// slice of its memory, maps new memory and unmaps and drops old memory
// between them; restored from the newest of a 4 long chain, every page is
// the one it wrote (the app checks). --keep 2 (the default) keeps the
// generations the newest needs.
func TestIncrementalChain(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	incrChain(t, store)
	gens := crGenerations(t, store)
	if len(gens) != 4 {
		t.Errorf("store has %v: the kept generations need all four", gens)
	}
	// inspect shows the chain, newest first, with what each one holds.
	if code, out, errs := run(t, opts{}, "inspect", filepath.Join(store, "gen-000004")); code != 0 ||
		!strings.Contains(out, "chain     incremental: memory in 4 generations") || !strings.Contains(out, "gen-000001: ") {
		t.Errorf("inspect: exit %d\n%s\n%s", code, out, errs)
	}
	errs := incrRestore(t, store)
	if !strings.Contains(errs, "gen-000004") {
		t.Errorf("restore did not take the newest generation:\n%s", errs)
	}
}

// TestIncrementalScattered: rounds that rewrite scattered pages, some 3
// apart (the unchanged pages between them are saved anew with them), some
// 23 apart (the unchanged stretches are referred to as parts of the
// parent's extents; --compress=none): restored from the newest of the chain, every page is
// the one it wrote, and the parts were referred to.
func TestIncrementalScattered(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	// Parts are of raw extents (a compressed one is referred to whole or
	// saved anew whole).
	incrChainMode(t, store, "scatter", "", "--compress=none")
	for _, g := range []string{"gen-000002", "gen-000003"} {
		if _, refs := incrExtents(t, store, g); len(refs) != 1 || maxCount(refs) < 100 {
			t.Errorf("%s refers to %v extents of older generations (per pid), want 100 or more parts for the one process", g, refs)
		}
	}
	incrRestore(t, store)
}

// TestIncrementalReadInPause: a big process that changed little since the
// last checkpoint has its changed pages read in the pause, not from a
// snapshot child (whose clone would copy the page tables of all its
// memory: checkpoint/memory.go, readCheaper); restored from the chain,
// every page is the one it wrote.
func TestIncrementalReadInPause(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	errs := incrChainSized(t, store, "512", "small", "", "--log-level", "debug")
	// Of the two incremental checkpoints that leave it running (--exit
	// never clones), the second at least: the first may come after more
	// rounds than the pool holds (the full one before it takes longer).
	if !strings.Contains(errs, "private pages read in the pause") {
		t.Errorf("no incremental checkpoint read the changed pages in the pause:\n%s", errs)
	}
	incrRestore(t, store)
}

// TestIncrementalSmallNotTracked: a process of a MiB is not tracked
// (checkpoint.armMin: setting the tracking up costs more of the pause
// than its pages): its next checkpoint is full, and the chain restores.
func TestIncrementalSmallNotTracked(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	bin := compileCR(t, "incr", false)
	a := start(t, opts{}, "--dir", store, "--log-level", "debug", "--", bin, incrRounds, "1", "churn")
	crWaitStderr(t, a, "incr: round 1\n", time.Minute)
	crCheckpoint(t, a, store, false)
	time.Sleep(250 * time.Millisecond)
	crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("checkpoint --exit: crrun exited %d\n%s", code, a.stderr)
	}
	if !strings.Contains(a.stderr.String(), "no dirty tracking for a small process") {
		t.Errorf("the small process was tracked:\n%s", a.stderr)
	}
	if _, refs := incrExtents(t, store, "gen-000002"); len(refs) != 0 {
		t.Errorf("gen-000002 refers to older generations for %v: a small process is saved in full", refs)
	}
	incrRestore(t, store)
}

func maxCount(m map[int]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}

// TestIncrementalKeep1: --keep 1 never removes what the newest needs.
func TestIncrementalKeep1(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	incrChain(t, store, "--keep", "1")
	incrRestore(t, store)
}

// TestIncrementalCorruptParent: a damaged page file of gen-000002 makes it
// and every generation that needs it invalid: --resume=auto (a restore of
// the store) names the generation and file and falls back to gen-000001.
func TestIncrementalCorruptParent(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	incrChain(t, store)
	files, _ := filepath.Glob(filepath.Join(store, "gen-000002", "pages-*.bin"))
	if len(files) == 0 {
		t.Fatal("gen-000002 has no page file")
	}
	f, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], 100)
	b[0] ^= 0x10
	f.WriteAt(b[:], 100)
	f.Close()
	errs := incrRestore(t, store)
	for _, want := range []string{"gen-000002/" + filepath.Base(files[0]), "parent generation gen-000002 of gen-000004", "restoring " + filepath.Join(store, "gen-000001")} {
		if !strings.Contains(errs, want) {
			t.Errorf("restore's log does not say %q:\n%s", want, errs)
		}
	}
}

// TestIncrementalForkExec: a process forked since the last checkpoint is
// not tracked (saved in full, or as inherited from its parent), one that
// exec'd has a new mm (saved in full, then tracked again); restored from
// the chain, both processes of the fork check their memory, and the exec'd
// one its own.
func TestIncrementalForkExec(t *testing.T) {
	requireCR(t)
	for _, tc := range []struct{ mode, marker string }{{"fork", "incr: forked 0\n"}, {"exec", "incr: exec'd image ready\n"}} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			store := t.TempDir()
			incrChainMode(t, store, tc.mode, tc.marker)
			// gen-000002: the forked child, or the exec'd process, is
			// saved in full (nothing tracked it); gen-000003 refers to
			// gen-000002 for it (armed again).
			_, refs2 := incrExtents(t, store, "gen-000002")
			_, refs3 := incrExtents(t, store, "gen-000003")
			for pid := range refs3 {
				if tc.mode == "exec" && refs2[pid] > 0 || tc.mode == "fork" && len(refs2) != 1 {
					t.Errorf("gen-000002 refers to older generations for %v: after the %s, it should save in full", refs2, tc.mode)
				}
			}
			// (The forked child's memory still shared with its parent is
			// saved as inherited, checkpoint/cow.go, not referred to.)
			if len(refs3) != 1 {
				t.Errorf("gen-000003 refers to older generations for pids %v, want 1 process", refs3)
			}
			incrRestore(t, store)
		})
	}
}

// TestIncrementalNobody: the tracking works for an ordinary user
// (UFFD_USER_MODE_ONLY, vm.unprivileged_userfaultfd=0).
func TestIncrementalNobody(t *testing.T) {
	dir, asNobody := nobodyEnv(t)
	bin := filepath.Join(dir, "incr")
	if data, err := os.ReadFile(compileCR(t, "incr", false)); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("copy incr: %v", err)
	}
	ck := filepath.Join(dir, "ck")
	app := asNobody("--dir", ck, "--", bin, incrRounds, incrMiB, "churn")
	appOut, appErr, done := startCmd(t, app)
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "incr: round 1\n") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	for _, args := range [][]string{{"checkpoint"}, {"checkpoint"}, {"checkpoint"}, {"checkpoint", "--exit"}} {
		if out, err := asNobody(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v as nobody: %v\n%s\n%s", args, err, out, appErr.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	<-done
	if app.ProcessState.ExitCode() != 75 {
		t.Fatalf("checkpoint --exit: crrun exited %v\n%s", app.ProcessState, appErr.String())
	}
	incrCheckManifests(t, ck)
	res := asNobody("restore", ck)
	var rOut, rErr syncBuffer
	res.Stdout, res.Stderr = &rOut, &rErr
	if err := res.Run(); err != nil {
		t.Fatalf("restore as nobody: %v\n%s", err, rErr.String())
	}
	if got := appOut.String() + rOut.String(); !strings.HasSuffix(got, "PASS\n") {
		t.Fatalf("output: %s\n%s", got, rErr.String())
	}
}

// keptOnly says whether the generations in dir are the newest keep ones and
// older ones those need (incremental generations refer to them), nothing
// else.
func keptOnly(t *testing.T, dir string, keep int) bool {
	t.Helper()
	gens, _ := filepath.Glob(filepath.Join(dir, "gen-*"))
	if len(gens) < keep {
		return false
	}
	needed := map[string]bool{}
	for _, g := range gens[len(gens)-keep:] {
		b, err := os.ReadFile(filepath.Join(g, "MANIFEST.json"))
		if err != nil {
			return false
		}
		var m struct {
			Parents []struct {
				Gen string `json:"gen"`
			} `json:"parents"`
		}
		if json.Unmarshal(b, &m) != nil {
			return false
		}
		for _, p := range m.Parents {
			needed[p.Gen] = true
		}
	}
	for _, g := range gens[:len(gens)-keep] {
		if !needed[filepath.Base(g)] {
			return false
		}
	}
	return true
}
