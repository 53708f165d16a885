package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// commitGen writes a sample generation.
func commitGen(t *testing.T, s *Store) string {
	t.Helper()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	writeSample(t, w)
	dir, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return dir
}

func genNames(t *testing.T, s *Store) []string {
	t.Helper()
	gens, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range gens {
		names = append(names, g.Name)
	}
	return names
}

func latestTarget(t *testing.T, s *Store) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(s.Dir(), LatestLink))
	if err != nil {
		t.Fatalf("latest link: %v", err)
	}
	return target
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGenerationNames(t *testing.T) {
	for name, want := range map[string]uint64{"gen-000001": 1, "gen-123456": 123456, "gen-1234567": 1234567} {
		if got, ok := parseGenerationName(name); !ok || got != want {
			t.Errorf("parseGenerationName(%q) = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"gen-1", "gen-0000001", "gen-000000", "gen--00001", "gen-+00001", "gen-00000x", "gen-", "latest", "gen-99999999999999999999"} {
		if _, ok := parseGenerationName(name); ok {
			t.Errorf("parseGenerationName(%q) accepted", name)
		}
	}
}

func TestStoreNewestSkipsHalfWritten(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.OpenNewest(false); !errors.Is(err, ErrNoImage) {
		t.Fatalf("OpenNewest on an empty store: %v", err)
	}
	g1 := commitGen(t, s)
	g2 := commitGen(t, s)
	if filepath.Base(g1) != "gen-000001" || filepath.Base(g2) != "gen-000002" {
		t.Fatalf("generations %s, %s", g1, g2)
	}
	if got := latestTarget(t, s); got != "gen-000002" {
		t.Errorf("latest -> %s, want gen-000002", got)
	}

	// A writer still at work (its temporary directory exists), a temporary
	// directory left by a crash, and a generation without a manifest.
	live, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if err := live.AddPages(100, heapStart, make([]byte, 4*PageSize)); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(s.Dir(), ".gen-000009.tmp-dead")
	copyDir(t, g2, dead)
	noManifest := filepath.Join(s.Dir(), "gen-000005")
	copyDir(t, g2, noManifest)
	os.Remove(filepath.Join(noManifest, ManifestFile))

	if got := genNames(t, s); !slices.Equal(got, []string{"gen-000001", "gen-000002", "gen-000005"}) {
		t.Errorf("List = %v", got)
	}
	r, skipped, err := s.OpenNewest(true)
	if err != nil {
		t.Fatalf("OpenNewest: %v", err)
	}
	if r.Dir() != g2 {
		t.Errorf("OpenNewest chose %s, want %s", r.Dir(), g2)
	}
	r.Close()
	if len(skipped) != 1 {
		t.Fatalf("skipped = %v, want gen-000005", skipped)
	}
	wantImageError(t, skipped[0], ErrImageIncomplete, ManifestFile, "gen-000005")

	// The next generation is numbered past everything in the store,
	// temporary directories included.
	g10 := commitGen(t, s)
	if filepath.Base(g10) != "gen-000010" {
		t.Errorf("next generation %s, want gen-000010", g10)
	}
	if got := latestTarget(t, s); got != "gen-000010" {
		t.Errorf("latest -> %s, want gen-000010", got)
	}

	// Corrupt page data in the newest: Open alone accepts it, Verify does
	// not, and OpenNewest(verify) falls back to the previous complete one.
	flipBit(t, filepath.Join(g10, "pages-100.bin"), 100, 3)
	r, _, err = s.OpenNewest(false)
	if err != nil || r.Dir() != g10 {
		t.Fatalf("OpenNewest(no verify) = %v, %v", r, err)
	}
	r.Close()
	r, skipped, err = s.OpenNewest(true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir() != g2 || len(skipped) != 2 || !errors.Is(skipped[0], ErrImageCorrupt) {
		t.Errorf("OpenNewest(verify) = %s, skipped %v; want %s after skipping gen-000010 and gen-000005", r.Dir(), skipped, g2)
	}
	r.Close()
	// The same through OpenPath, as `crrun restore DIR` would.
	r, _, err = OpenPath(s.Dir(), true)
	if err != nil || r.Dir() != g2 {
		t.Fatalf("OpenPath(store) = %v, %v", r, err)
	}
	r.Close()
	// Through the latest link: the link is followed but the image is still
	// validated.
	if _, _, err := OpenPath(filepath.Join(s.Dir(), LatestLink), true); !errors.Is(err, ErrImageCorrupt) {
		t.Errorf("OpenPath(latest) of a corrupt image: %v", err)
	}

	// The live writer can still commit.
	if err := live.WriteMeta(sampleMeta(100)); err != nil {
		t.Fatal(err)
	}
	p := sampleProcess(100, 1)
	p.FDs = nil
	if err := live.WriteProcess(p); err != nil {
		t.Fatal(err)
	}
	dir, err := live.Commit()
	if err != nil {
		t.Fatal(err)
	}
	// Its name, gen-000003, was free; it is older than gen-000010 by number.
	if filepath.Base(dir) != "gen-000003" {
		t.Errorf("live writer committed %s", dir)
	}
	if got := latestTarget(t, s); got != "gen-000010" {
		t.Errorf("latest -> %s, want it to stay at gen-000010", got)
	}

	// No usable generation at all.
	for _, g := range []string{g1, g2, dir} {
		flipBit(t, filepath.Join(g, MetaFile), 10, 0)
	}
	os.RemoveAll(g10)
	_, skipped, err = s.OpenNewest(true)
	if !errors.Is(err, ErrNoImage) || !errors.Is(err, ErrImageCorrupt) || len(skipped) != 4 {
		t.Errorf("OpenNewest with nothing valid: %v (skipped %d)", err, len(skipped))
	}
	t.Logf("as expected: %v", err)
}

func TestStoreCommitCollision(t *testing.T) {
	// Writers number their generation at Create, one past everything in the
	// store (temporary directories included); if the name is taken by the
	// time they commit — even by an empty directory, which a plain rename(2)
	// would silently replace — Commit takes the next free number.
	s := newStore(t)
	w1, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Abort()
	w2, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Abort()
	if filepath.Base(w1.Dir()) != "gen-000001" || filepath.Base(w2.Dir()) != "gen-000002" {
		t.Fatalf("writers chose %s and %s", w1.Dir(), w2.Dir())
	}
	writeSample(t, w1)
	writeSample(t, w2)
	if _, err := w2.Commit(); err != nil {
		t.Fatal(err)
	}
	squatter := filepath.Join(s.Dir(), "gen-000001")
	if err := os.Mkdir(squatter, 0o700); err != nil {
		t.Fatal(err)
	}
	d1, err := w1.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d1) != "gen-000003" || w1.Dir() != d1 {
		t.Errorf("w1 committed %s (Dir %s), want gen-000003", d1, w1.Dir())
	}
	if !isEmptyDir(squatter) {
		t.Error("the squatting empty directory was replaced")
	}
	if got := latestTarget(t, s); got != "gen-000003" {
		t.Errorf("latest -> %s", got)
	}
}

func TestPrune(t *testing.T) {
	s := newStore(t)
	var gens []string
	for range 5 {
		gens = append(gens, commitGen(t, s))
	}
	old := time.Now().Add(-2 * StaleTempAge)
	live, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if err := os.Chtimes(live.TempDir(), old, old); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.Dir(), ".gen-000099.tmp-dead")
	copyDir(t, gens[0], stale)
	os.Chtimes(stale, old, old)
	young := filepath.Join(s.Dir(), ".gen-000098.tmp-young")
	os.Mkdir(young, 0o700)

	if _, err := s.Prune(0); err == nil {
		t.Error("Prune(0) accepted")
	}
	removed, err := s.Prune(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	if got := genNames(t, s); !slices.Equal(got, []string{"gen-000004", "gen-000005"}) {
		t.Errorf("after Prune(2): %v", got)
	}
	if fileExists(stale) {
		t.Error("stale temporary directory not removed")
	}
	if !fileExists(live.TempDir()) {
		t.Error("a live writer's temporary directory was removed")
	}
	if !fileExists(young) {
		t.Error("a young temporary directory was removed")
	}
	if len(removed) != 4 {
		t.Errorf("removed %d entries, want 4", len(removed))
	}
	if got := latestTarget(t, s); got != "gen-000005" {
		t.Errorf("latest -> %s", got)
	}

	// A corrupt newest generation does not count: the newest valid one is
	// kept, the corrupt one is left for inspection, older ones go.
	flipBit(t, filepath.Join(gens[4], "proc-100.json"), 50, 2)
	if _, err := s.Prune(1); err != nil {
		t.Fatal(err)
	}
	if got := genNames(t, s); !slices.Equal(got, []string{"gen-000004", "gen-000005"}) {
		t.Errorf("after Prune(1) with a corrupt newest: %v", got)
	}
	// Fewer valid generations than keep: nothing is removed.
	if _, err := s.Prune(3); err != nil {
		t.Fatal(err)
	}
	if got := genNames(t, s); len(got) != 2 {
		t.Errorf("after Prune(3): %v", got)
	}
}

// TestDiskFull fills a small tmpfs: the error must name the file and say
// there is no space, the temporary directory must be gone and the previous
// generation intact.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs needs root (CI runs as root)")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	s, err := OpenStore(filepath.Join(mnt, "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	g1 := commitGen(t, s)

	checkIntact := func(t *testing.T) {
		t.Helper()
		if got := genNames(t, s); !slices.Equal(got, []string{"gen-000001"}) {
			t.Errorf("generations after the failure: %v", got)
		}
		if tmp := tempEntries(t, s.Dir()); len(tmp) != 0 {
			t.Errorf("temporary entries left: %v", tmp)
		}
		r, _, err := s.OpenNewest(true)
		if err != nil {
			t.Fatalf("previous generation no longer valid: %v", err)
		}
		if r.Dir() != g1 {
			t.Errorf("newest is %s, want %s", r.Dir(), g1)
		}
		r.Close()
		if got := latestTarget(t, s); got != "gen-000001" {
			t.Errorf("latest -> %s", got)
		}
	}

	t.Run("page data", func(t *testing.T) {
		w, err := s.Create()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		err = w.AddPages(100, heapStart, make([]byte, 2<<20))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("AddPages of 2 MiB into 1 MiB: %v, want ENOSPC", err)
		}
		for _, want := range []string{"pages-100.bin", "no space left on device", ".gen-000002.tmp-"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		t.Logf("as expected: %v", err)
		checkIntact(t)
		if _, cerr := w.Commit(); cerr != err {
			t.Errorf("Commit after the error: %v", cerr)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		w, err := s.Create()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		// Leave one page free, then write a process record of several pages.
		fill := int(st.Bavail)*int(st.Bsize) - PageSize
		if err := w.AddPages(100, heapStart, make([]byte, fill)); err != nil {
			t.Fatalf("AddPages(%d bytes, one page less than free): %v", fill, err)
		}
		p := sampleProcess(100, 1)
		p.Threads[0].XState = make([]byte, 64<<10)
		err = w.WriteProcess(p)
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "proc-100.json") {
			t.Fatalf("WriteProcess on a full disk: %v, want ENOSPC naming proc-100.json", err)
		}
		t.Logf("as expected: %v", err)
		checkIntact(t)
	})

	// Space was given back: the next checkpoint fits.
	if g := commitGen(t, s); filepath.Base(g) != "gen-000002" {
		t.Errorf("next generation %s", g)
	}
}

// TestStoreLock: the owner lock is exclusive between open file
// descriptions (two crruns), names its holder to the second, is not listed
// as a generation, and is free again once released.
func TestStoreLock(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock("crrun pid 1 on host h, running ./app")
	if err != nil || l.Unsupported != nil {
		t.Fatalf("Lock: %v %+v", err, l)
	}
	_, err = s.Lock("crrun pid 2")
	var inUse *StoreInUseError
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "in use by another crrun (crrun pid 1 on host h, running ./app)") {
		t.Fatalf("second Lock: %v, want a StoreInUseError naming the first", err)
	}
	if gens, err := s.List(); err != nil || len(gens) != 0 {
		t.Fatalf("List with only the lock file: %v %v", gens, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Lock("crrun pid 3")
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	defer l2.Close()
	if b, _ := os.ReadFile(filepath.Join(s.Dir(), OwnerFile)); string(b) != "crrun pid 3\n" {
		t.Errorf("owner file holds %q", b)
	}
}

// TestStoreLockReadOnly: a store this process may not write gives an
// Unsupported lock, not an error: resuming from an archive still works.
// As root, the store is a read-only bind mount in a mount namespace of the
// test's own thread (EROFS); as an ordinary user, a directory of mode 0500
// (EACCES).
func TestStoreLockReadOnly(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lock := func() error {
		l, err := s.Lock("crrun pid 1")
		if err != nil || l.Unsupported == nil {
			return fmt.Errorf("Lock of a read-only store: %v %+v, want an Unsupported lock", err, l)
		}
		return nil
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(s.Dir(), 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(s.Dir(), 0o700)
		if err := lock(); err != nil {
			t.Fatal(err)
		}
		return
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with its mount namespace
		dir := s.Dir()
		for _, step := range []func() error{
			func() error { return unix.Unshare(unix.CLONE_NEWNS) },
			func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
			func() error { return unix.Mount(dir, dir, "", unix.MS_BIND, "") },
			func() error { return unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "") },
			lock,
		} {
			if err := step(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
