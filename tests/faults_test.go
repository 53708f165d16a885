package tests

// Fault injection for checkpoint and restore: crrun killed in the middle of a
// checkpoint, a full disk, corrupt and incomplete images, files changed
// behind the image's back, pids that cannot be recreated, and `crrun
// inspect`. What must hold (README "The promise"): a checkpoint either
// completes or leaves the previous generation as it was, and is never used
// half-written; a restore either reproduces the app or fails before it runs,
// exit 125 (65 when the image itself is corrupt, incomplete or of an unknown
// version) with a one-line "crrun: ..." error naming the file or pid.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badImageRE matches the errors of an image that is bad in itself.
var badImageRE = regexp.MustCompile(`image corrupt|image incomplete|unsupported image version|no usable checkpoint image`)

// crRestoreFails runs `crrun restore args...` and checks that it fails
// before the app runs: exit 125, nothing on stdout, and a last stderr line
// "crrun: ..." matching want. It returns that line.
func crRestoreFails(t *testing.T, want *regexp.Regexp, args ...string) string {
	t.Helper()
	r := start(t, opts{}, append([]string{"restore"}, args...)...)
	code := r.wait(2 * time.Minute)
	stderr := r.stderr.String()
	line := crLastLine(stderr)
	wantCode := 125
	if badImageRE.MatchString(line) {
		wantCode = 65 // the image itself is bad (EX_DATAERR)
	}
	if code != wantCode {
		t.Fatalf("crrun restore %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, r.stdout, stderr)
	}
	if r.stdout.String() != "" {
		t.Errorf("the app ran (stdout %q) although the restore failed", r.stdout)
	}
	if !strings.HasPrefix(line, "crrun: ") || !want.MatchString(line) {
		t.Fatalf("last line of stderr is %q, want a one-line \"crrun: ...\" error matching %q\nstderr:\n%s", line, want, stderr)
	}
	t.Logf("refused: %s", line)
	return line
}

// crCopyDir copies the regular files of src into a new directory dst.
func crCopyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// crOneFile returns the single file of dir matching the glob pattern.
func crOneFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s in %s: %v (%v), want one file", pattern, dir, m, err)
	}
	return m[0]
}

func crFlipBit(t *testing.T, path string, at func(size int) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at(len(b))] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// crImageFor runs argv under `crrun --dir STORE`, takes a checkpoint with
// --exit once "<name>: <marker>" is on stderr plus delay, and returns the
// image, the store and the victim's stderr.
// (The counter images take 3 × crCounterIters: with one, a quick machine
// ended the loop during the status wait and the delay, and the checkpoint
// found no process left: seen in CI.)
func crImageFor(t *testing.T, name, marker string, delay time.Duration, argv ...string) (img, store, stderr string) {
	t.Helper()
	store = t.TempDir()
	a := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	crWaitStderr(t, a, name+": "+marker, time.Minute)
	pid := crVictimPid(t, a.stderr.String(), name, false)
	crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	time.Sleep(delay)
	img = crCheckpoint(t, a, store, true)
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("exit %d after checkpoint --exit, want %d\n%s", code, crExitCheckpointed, a.stderr)
	}
	return img, store, a.stderr.String()
}

// crStepLines checks that out holds the counter's 20 progress lines, each
// once, in order.
func crStepLines(t *testing.T, out string) {
	t.Helper()
	var steps []int
	for _, m := range regexp.MustCompile(`(?m)^step (\d+)/(\d+) `).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		steps = append(steps, n)
	}
	increasing := true
	for i := 1; i < len(steps); i++ {
		increasing = increasing && steps[i] > steps[i-1]
	}
	if len(steps) != 20 || !increasing {
		t.Fatalf("the joined output does not have the 20 progress lines once each, in order: %v\n%s", steps, out)
	}
}

// TestCRKillDuringCheckpoint: crrun SIGKILLed while it writes the second
// checkpoint of a 512 MiB app. The app dies with it, the half-written
// generation is never used: the store still restores (the first generation,
// or the second if it happened to be complete), and the app runs to PASS.
func TestCRKillDuringCheckpoint(t *testing.T) {
	requireCR(t)
	if testing.Short() {
		t.Skip("-short: writes 1 GiB of checkpoints")
	}
	b := compileCR(t, "counter", false)
	store := t.TempDir()
	a := start(t, opts{}, "--dir", store, "--", b, strconv.Itoa(3*crCounterIters), "512", t.TempDir())
	crWaitStderr(t, a, "counter: running", 2*time.Minute)
	pid := crVictimPid(t, a.stderr.String(), "counter", false)
	hostPid := crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	img1 := crCheckpoint(t, a, store, false)

	type result struct {
		code      int
		out, errs string
		err       error
	}
	killed := false
	var res result
	for attempt := 1; attempt <= 3 && !killed; attempt++ {
		done := make(chan result, 1)
		go func() {
			code, out, errs, err := crExec(a.runtime, 5*time.Minute, "checkpoint", strconv.Itoa(a.cmd.Process.Pid))
			done <- result{code, out, errs, err}
		}()
		// Wait for a temporary generation holding at least 64 MiB.
		var finished bool
		caught := eventually(2*time.Minute, func() bool {
			select {
			case res = <-done:
				finished = true
				return true
			default:
			}
			return crTempBytes(store) >= 64<<20
		})
		if finished {
			t.Logf("attempt %d: the checkpoint finished (exit %d, %s) before it could be caught half-written", attempt, res.code, strings.TrimSpace(res.out))
			if res.code != 0 {
				t.Fatalf("checkpoint failed: %v %s", res.err, res.errs)
			}
			continue
		}
		if caught != nil {
			t.Logf("attempt %d: no temporary generation with 64 MiB after 2 minutes: killing crrun anyway", attempt)
		} else {
			t.Logf("attempt %d: killing crrun with %d bytes in a temporary generation", attempt, crTempBytes(store))
		}
		a.cmd.Process.Kill()
		killed = true
		res = <-done
	}
	if !killed {
		t.Fatal("could not catch a checkpoint half-written in 3 attempts")
	}
	if code := a.wait(time.Minute); code != -int(syscall.SIGKILL) {
		t.Errorf("crrun exit %d, want death by SIGKILL", code)
	}
	crWaitGone(t, hostPid)
	if res.err != nil {
		t.Fatalf("the interrupted `crrun checkpoint` hung: %v", res.err)
	}
	if res.code == 0 {
		// The kill came after the commit: the generation must be complete.
		crImagePath(t, res.out, store)
	} else {
		t.Logf("interrupted crrun checkpoint: exit %d: %s", res.code, strings.TrimSpace(res.errs))
	}
	// Every gen-N is complete; temporaries may remain (the writer died).
	ents, _ := os.ReadDir(store)
	for _, e := range ents {
		if crGenName.MatchString(e.Name()) {
			if _, err := os.Stat(filepath.Join(store, e.Name(), "MANIFEST.json")); err != nil {
				t.Errorf("%s has no manifest: a half-written generation got a generation name", e.Name())
			}
		}
	}
	gens := crGenerations(t, store)
	if len(gens) == 0 || gens[0] != filepath.Base(img1) {
		t.Fatalf("the first generation %s is gone: %v", img1, gens)
	}
	t.Logf("store after the kill: generations %v, %d bytes in temporaries", gens, crTempBytes(store))

	r := start(t, opts{}, "restore", store)
	if code := r.wait(5 * time.Minute); code != 0 {
		t.Fatalf("crrun restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	out, ok := crMerge(a.stdout.String(), r.stdout.String())
	if !ok || !crPassed(out) {
		t.Fatalf("output before the kill and after the restore do not join:\nbefore:\n%s\nafter:\n%s", a.stdout, r.stdout)
	}
	crStepLines(t, out)
	if end := crVictimPid(t, a.stderr.String()+r.stderr.String(), "counter", true); end != pid {
		t.Errorf("restored pid %d, want %d", end, pid)
	}
}

// crTempBytes sums the sizes of the files in the store's temporary
// directories (names starting with ".").
func crTempBytes(store string) int64 {
	var n int64
	ents, _ := os.ReadDir(store)
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(store, e.Name()))
		for _, f := range files {
			if fi, err := f.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// TestCRDiskFull: the store on a 16 MiB tmpfs. A first checkpoint fits; the
// filesystem is then filled, and the next one fails with a clear error
// saying there is no space, leaves nothing behind, and the app keeps
// running. Once space is freed, checkpoints work again, and the first
// generation still restores.
func TestCRDiskFull(t *testing.T) {
	requireCR(t)
	mnt := t.TempDir()
	if err := syscall.Mount("crrun-test", mnt, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	store := filepath.Join(mnt, "store")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	b := compileCR(t, "counter", false)
	argv := []string{b, strconv.Itoa(2 * crCounterIters), "1", t.TempDir()} // a 1 MiB heap: ~5 MiB images
	code, ref, refErr := run(t, opts{}, append([]string{"--"}, argv...)...)
	if code != 0 || !crPassed(ref) {
		t.Fatalf("uninterrupted: exit %d\n%s\n%s", code, ref, refErr)
	}

	a := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	crWaitStderr(t, a, "counter: running", time.Minute)
	pid := crVictimPid(t, a.stderr.String(), "counter", false)
	hostPid := crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	img1 := crCheckpoint(t, a, store, false)

	// Fill the filesystem, leaving 256 KiB.
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(mnt, &sfs); err != nil {
		t.Fatal(err)
	}
	free := int64(sfs.Bavail) * sfs.Bsize
	junk := filepath.Join(mnt, "junk")
	if free > 256<<10 {
		if err := os.WriteFile(junk, make([]byte, free-256<<10), 0o600); err != nil {
			t.Fatalf("filling the tmpfs: %v", err)
		}
	}
	t.Logf("tmpfs: %d bytes were free after the first checkpoint", free)
	stepsBefore := strings.Count(a.stdout.String(), "step ")

	code, out, errs := crClient(t, a.runtime, 5*time.Minute, "checkpoint", strconv.Itoa(a.cmd.Process.Pid))
	if code == 0 {
		t.Fatalf("crrun checkpoint on a full disk succeeded: %s", out)
	}
	if code != 74 {
		t.Errorf("crrun checkpoint on a full disk: exit %d, want 74 (I/O failure)", code)
	}
	if out != "" {
		t.Errorf("failed crrun checkpoint printed %q on stdout", out)
	}
	if !regexp.MustCompile(`(?i)no space`).MatchString(errs) {
		t.Errorf("crrun checkpoint on a full disk: exit %d, stderr does not say there is no space:\n%s", code, errs)
	}
	t.Logf("full disk: exit %d: %s", code, strings.TrimSpace(errs))
	if gens := crGenerations(t, store); len(gens) != 1 || gens[0] != filepath.Base(img1) {
		t.Errorf("generations after the failed checkpoint: %v, want just %s", gens, filepath.Base(img1))
	}
	ents, _ := os.ReadDir(store)
	for _, e := range ents {
		// .owner is the store's owner lock (docs/image-format.md), the
		// app's crrun's for its life.
		if strings.HasPrefix(e.Name(), ".") && e.Name() != ".owner" {
			t.Errorf("the failed checkpoint left %s behind", e.Name())
		}
	}
	// The app runs on.
	if !processAlive(hostPid) || crExited(a) {
		t.Fatalf("the app died with the failed checkpoint\nstderr:\n%s", a.stderr)
	}
	if err := eventually(30*time.Second, func() bool { return strings.Count(a.stdout.String(), "step ") > stepsBefore }); err != nil {
		t.Fatalf("the app makes no progress after the failed checkpoint\nstdout:\n%s", a.stdout)
	}

	// Free the space: a checkpoint works again.
	os.Remove(junk)
	img2 := crCheckpoint(t, a, store, true)
	if img2 == img1 {
		t.Fatalf("the new checkpoint reused %s", img1)
	}
	if code := a.wait(time.Minute); code != crExitCheckpointed {
		t.Fatalf("exit %d, want %d", code, crExitCheckpointed)
	}
	crWaitGone(t, hostPid)

	// The first generation survived all this.
	r := start(t, opts{}, "restore", img1)
	if code := r.wait(2 * time.Minute); code != 0 {
		t.Fatalf("crrun restore %s: exit %d\nstdout:\n%s\nstderr:\n%s", img1, code, r.stdout, r.stderr)
	}
	if after := r.stdout.String(); !crPassed(after) || !strings.HasSuffix(ref, after) {
		t.Fatalf("restore of the first generation printed\n%s\nwant a suffix of\n%s", after, ref)
	}
}

// TestCRCorruptImage: damaged images are refused before anything runs, with
// exit 65 and an error naming the damaged file; a store whose newest
// generation is damaged restores the previous one.
func TestCRCorruptImage(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "counter", false)
	img, _, _ := crImageFor(t, "counter", "running", 300*time.Millisecond, b, strconv.Itoa(3*crCounterIters), "8", t.TempDir())
	pages := filepath.Base(crOneFile(t, img, "pages-*.bin"))
	proc := filepath.Base(crOneFile(t, img, "proc-*.json"))
	middle := func(n int) int { return n / 2 }

	for _, tc := range []struct {
		name, file string
		damage     func(t *testing.T, path string)
	}{
		{"truncated page file", pages, func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"bit flip in page file", pages, func(t *testing.T, p string) { crFlipBit(t, p, middle) }},
		{"bit flip at the end of page file", pages, func(t *testing.T, p string) { crFlipBit(t, p, func(n int) int { return n - 1 }) }},
		{"missing page file", pages, func(t *testing.T, p string) { os.Remove(p) }},
		{"bit flip in process metadata", proc, func(t *testing.T, p string) { crFlipBit(t, p, middle) }},
		{"bit flip in image.json", "image.json", func(t *testing.T, p string) { crFlipBit(t, p, middle) }},
		{"bit flip in pagemap.json", "pagemap.json", func(t *testing.T, p string) { crFlipBit(t, p, middle) }},
		{"bit flip in the manifest", "MANIFEST.json", func(t *testing.T, p string) { crFlipBit(t, p, middle) }},
		{"missing manifest", "MANIFEST.json", func(t *testing.T, p string) { os.Remove(p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "image")
			crCopyDir(t, img, dir)
			tc.damage(t, filepath.Join(dir, tc.file))
			crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(tc.file)), dir)
		})
	}

	t.Run("store with a damaged newest generation", func(t *testing.T) {
		store := t.TempDir()
		crCopyDir(t, img, filepath.Join(store, "gen-000001"))
		crCopyDir(t, img, filepath.Join(store, "gen-000002"))
		crFlipBit(t, filepath.Join(store, "gen-000002", pages), middle)
		r := start(t, opts{}, "restore", store)
		if code := r.wait(2 * time.Minute); code != 0 || !crPassed(r.stdout.String()) {
			t.Fatalf("restore of a store whose newest generation is damaged: exit %d, want 0 (from gen-000001)\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
	})
	t.Run("store with only a damaged generation", func(t *testing.T) {
		store := t.TempDir()
		crCopyDir(t, img, filepath.Join(store, "gen-000001"))
		crFlipBit(t, filepath.Join(store, "gen-000001", pages), middle)
		crRestoreFails(t, regexp.MustCompile(`.`), store)
	})
	t.Run("store with only a half-written generation", func(t *testing.T) {
		store := t.TempDir()
		crCopyDir(t, img, filepath.Join(store, ".gen-000001.tmp-123456"))
		crCopyDir(t, img, filepath.Join(store, "gen-000002"))
		os.Remove(filepath.Join(store, "gen-000002", "MANIFEST.json"))
		crRestoreFails(t, regexp.MustCompile(`.`), store)
	})
}

// TestCRChangedFiles: restore checks the identity of the executable and of
// mapped files. A changed or missing file is refused, naming it; put back
// exactly (content and mtime), the image restores again.
func TestCRChangedFiles(t *testing.T) {
	requireCR(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "counter")
	orig, err := os.ReadFile(compileCR(t, "counter", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	img, _, stderr := crImageFor(t, "counter", "running", 300*time.Millisecond, exe, strconv.Itoa(3*crCounterIters), "8", dir)
	m := regexp.MustCompile(`(?m)^counter: file=(.*)$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no file= line:\n%s", stderr)
	}
	data := m[1]

	// putBack rewrites path in place with its content and times.
	save := func(path string) func() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		return func() {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(b)
			f.Close()
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}
	}
	putBackData, putBackExe := save(data), save(exe)

	t.Run("mapped file changed", func(t *testing.T) {
		crFlipBit(t, data, func(n int) int { return n - 100 }) // a page the app never wrote
		defer putBackData()
		crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(data)), img)
	})
	t.Run("mapped file missing", func(t *testing.T) {
		if err := os.Rename(data, data+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(data+".away", data)
		crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(data)), img)
	})
	t.Run("executable rewritten", func(t *testing.T) {
		f, err := os.OpenFile(exe, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("different content"))
		f.Close()
		defer putBackExe()
		crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(exe)), img)
	})
	t.Run("files put back", func(t *testing.T) {
		r := start(t, opts{}, "restore", img)
		if code := r.wait(2 * time.Minute); code != 0 || !crPassed(r.stdout.String()) {
			t.Fatalf("with the files put back, restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
	})
	t.Run("executable replaced", func(t *testing.T) {
		other, err := os.ReadFile(compileCR(t, "blocked", false))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe+".new", other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			t.Fatal(err)
		}
		crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(exe)), img)
	})
}

var crCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// crDecodeJSON decodes keeping numbers exact (rlimits are 2^64-1).
func crDecodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding image metadata: %v", err)
	}
	return m
}

func crEncodeJSON(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// crRewriteImage writes a consistent copy of image src to dst, passing every
// file but the manifest through edit (which may rename it and change it),
// and writing a new MANIFEST.json with the new names, sizes and CRC-32Cs and
// its self-checksum as the last member (docs/image-format.md). It works on
// the documented format, not on crrun's Go API.
func crRewriteImage(t *testing.T, src, dst string, edit func(name string, data []byte) (string, []byte)) {
	t.Helper()
	mb, err := os.ReadFile(filepath.Join(src, "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	man := crDecodeJSON(t, mb)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var files []map[string]any
	for _, e := range ents {
		if e.Name() == "MANIFEST.json" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name, b := edit(e.Name(), b)
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, map[string]any{"name": name, "size": len(b), "crc32c": fmt.Sprintf("%08x", crc32.Checksum(b, crCastagnoli))})
	}
	slices.SortFunc(files, func(a, b map[string]any) int { return strings.Compare(a["name"].(string), b["name"].(string)) })
	man["files"] = files
	delete(man, "manifest_crc32c")
	out := crEncodeJSON(t, man)
	if !bytes.HasSuffix(out, []byte("\n}\n")) {
		t.Fatalf("unexpected manifest encoding: %q", out[len(out)-10:])
	}
	key := `"manifest_crc32c": "`
	out = append(out[:len(out)-3], []byte(",\n  "+key+"00000000\"\n}\n")...)
	at := bytes.Index(out, []byte(key)) + len(key)
	copy(out[at:], fmt.Sprintf("%08x", crc32.Checksum(out, crCastagnoli)))
	if err := os.WriteFile(filepath.Join(dst, "MANIFEST.json"), out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// crRepid returns an edit for crRewriteImage that gives the process with
// pid old the pid (and main thread tid, process group, session if they were
// old) new.
func crRepid(t *testing.T, old, new int) func(string, []byte) (string, []byte) {
	is := func(v any, n int) bool {
		num, ok := v.(json.Number)
		return ok && num.String() == strconv.Itoa(n)
	}
	newNum := json.Number(strconv.Itoa(new))
	procFile, pagesFile := fmt.Sprintf("proc-%d.json", old), fmt.Sprintf("pages-%d.bin", old)
	return func(name string, b []byte) (string, []byte) {
		switch name {
		case "image.json":
			m := crDecodeJSON(t, b)
			if is(m["root"], old) {
				m["root"] = newNum
			}
			if ps, ok := m["processes"].([]any); ok {
				for i := range ps {
					if is(ps[i], old) {
						ps[i] = newNum
					}
				}
			}
			return name, crEncodeJSON(t, m)
		case procFile:
			m := crDecodeJSON(t, b)
			for _, k := range []string{"pid", "pgid", "sid"} {
				if is(m[k], old) {
					m[k] = newNum
				}
			}
			if ths, ok := m["threads"].([]any); ok {
				for _, th := range ths {
					if th, ok := th.(map[string]any); ok && is(th["tid"], old) {
						th["tid"] = newNum
					}
				}
			}
			return fmt.Sprintf("proc-%d.json", new), crEncodeJSON(t, m)
		case "pagemap.json":
			m := crDecodeJSON(t, b)
			if exts, ok := m["extents"].([]any); ok {
				for _, e := range exts {
					if e, ok := e.(map[string]any); ok && is(e["pid"], old) {
						e["pid"] = newNum
						e["file"] = fmt.Sprintf("pages-%d.bin", new)
					}
				}
			}
			return name, crEncodeJSON(t, m)
		case pagesFile:
			return fmt.Sprintf("pages-%d.bin", new), b
		}
		return name, b
	}
}

// TestCRImpossiblePID: an image whose pid cannot be recreated is refused
// with exit 125 and an error naming the pid: pid 1 (crrun's init holds it in
// every restored namespace) and 5000000 (over the kernel's PID_MAX_LIMIT).
// The images are made by rewriting a real one consistently (checksums
// included); the same rewrite keeping the pid restores fine, which shows the
// rewrite alone breaks nothing.
//
// Two concurrent restores of one image: crrun gives each restore its own PID
// namespace, so both must recreate the same pid and run to PASS. The test
// also accepts the other clean outcome, one of them refused with exit 125
// and an error naming the pid, and never a hang, a FAIL, or a wrong pid.
func TestCRImpossiblePID(t *testing.T) {
	requireCR(t)
	b := compileCR(t, "blocked", false)
	img, _, stderr := crImageFor(t, "blocked", "sleeping", 100*time.Millisecond, b, "sleep", "3")
	pid := crVictimPid(t, stderr, "blocked", false)
	want := "blocked: sleep\nslept 3 s\nPASS\n"

	t.Run("same pid (rewrite sanity)", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "image")
		crRewriteImage(t, img, dst, crRepid(t, pid, pid))
		r := start(t, opts{}, "restore", dst)
		if code := r.wait(time.Minute); code != 0 || !strings.HasSuffix(want, r.stdout.String()) || !crPassed(r.stdout.String()) {
			t.Fatalf("restore of the rewritten image: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
	})
	for _, newPid := range []int{1, 5000000} {
		t.Run(fmt.Sprintf("pid %d", newPid), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "image")
			crRewriteImage(t, img, dst, crRepid(t, pid, newPid))
			crRestoreFails(t, regexp.MustCompile(`(?i)pid\D{0,40}\b`+strconv.Itoa(newPid)+`\b|\b`+strconv.Itoa(newPid)+`\b\D{0,40}pid`), dst)
		})
	}
	t.Run("concurrent restores", func(t *testing.T) {
		r1 := start(t, opts{}, "restore", img)
		r2 := start(t, opts{}, "restore", img)
		c1, c2 := r1.wait(time.Minute), r2.wait(time.Minute)
		ok := 0
		for i, r := range []*app{r1, r2} {
			code := []int{c1, c2}[i]
			switch {
			case code == 0:
				if out := r.stdout.String(); !crPassed(out) || !strings.HasSuffix(want, out) {
					t.Errorf("restore %d: stdout\n%s", i+1, out)
				}
				if end := crVictimPid(t, r.stderr.String(), "blocked", true); end != pid {
					t.Errorf("restore %d: pid %d, want %d", i+1, end, pid)
				}
				ok++
			case code == 125:
				line := crLastLine(r.stderr.String())
				if !strings.HasPrefix(line, "crrun: ") || !regexp.MustCompile(`(?i)pid`).MatchString(line) || r.stdout.String() != "" {
					t.Errorf("restore %d refused without a one-line error about the pid: %q\nstdout: %q", i+1, line, r.stdout)
				}
				t.Logf("restore %d refused: %s", i+1, line)
			default:
				t.Errorf("restore %d: exit %d\nstdout:\n%s\nstderr:\n%s", i+1, code, r.stdout, r.stderr)
			}
		}
		if ok == 0 {
			t.Errorf("neither concurrent restore ran")
		}
	})
}

// crJSONWalk collects, for every object key anywhere in v, the values under
// it (numbers as json.Number).
func crJSONWalk(v any, into map[string][]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			into[k] = append(into[k], val)
			crJSONWalk(val, into)
		}
	case []any:
		for _, val := range x {
			crJSONWalk(val, into)
		}
	}
}

func crHasValue(vals []any, want string) bool {
	for _, v := range vals {
		switch x := v.(type) {
		case json.Number:
			if x.String() == want {
				return true
			}
		case string:
			if x == want {
				return true
			}
		}
	}
	return false
}

// TestCRInspect: `crrun inspect` shows the processes, threads, memory map,
// fds, time and reason of an image, for people and as JSON.
func TestCRInspect(t *testing.T) {
	requireCR(t, "checkpoint", "inspect")
	dir := t.TempDir()
	counter := compileCR(t, "counter", false)
	threads := compileCR(t, "threads", false)
	cImg, _, cErr := crImageFor(t, "counter", "running", 200*time.Millisecond, counter, strconv.Itoa(3*crCounterIters), "8", dir)
	tImg, _, tErr := crImageFor(t, "threads", "running", 200*time.Millisecond, threads)
	data := regexp.MustCompile(`(?m)^counter: file=(.*)$`).FindStringSubmatch(cErr)
	tidLine := regexp.MustCompile(`(?m)^threads: tids=([\d,]+)$`).FindStringSubmatch(tErr)
	if data == nil || tidLine == nil {
		t.Fatalf("victim stderr lacks file= or tids=:\n%s\n%s", cErr, tErr)
	}
	rt := runtimeDir(t)
	word := func(s string) *regexp.Regexp {
		return regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(s) + `($|[^0-9A-Za-z])`)
	}

	for _, tc := range []struct {
		name, img, stderr, exe string
		tids                   []string
		strs                   []string // must appear in the text and as JSON string values
	}{
		{"counter", cImg, cErr, counter, nil, []string{data[1]}},
		{"threads", tImg, tErr, threads, strings.Split(tidLine[1], ","), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid := strconv.Itoa(crVictimPid(t, tc.stderr, tc.name, false))
			code, js, errs := crClient(t, rt, time.Minute, "inspect", "--json", tc.img)
			if code != 0 {
				t.Fatalf("crrun inspect --json: exit %d\n%s", code, errs)
			}
			dec := json.NewDecoder(strings.NewReader(js))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("crrun inspect --json does not parse: %v\n%s", err, js)
			}
			keys := map[string][]any{}
			crJSONWalk(v, keys)
			if !crHasValue(keys["pid"], pid) {
				t.Errorf("JSON: no \"pid\": %s", pid)
			}
			for _, tid := range append([]string{pid}, tc.tids...) {
				if !crHasValue(keys["tid"], tid) {
					t.Errorf("JSON: no thread with \"tid\": %s", tid)
				}
			}
			var created, reason string
			for _, c := range keys["created"] {
				if s, ok := c.(string); ok {
					if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
						created = s
					}
				}
			}
			for _, r := range keys["reason"] {
				if s, ok := r.(string); ok && s != "" {
					reason = s
				}
			}
			if created == "" || reason == "" {
				t.Errorf("JSON: no \"created\" time (%v) or \"reason\" (%v)", keys["created"], keys["reason"])
			}
			if len(keys["start"]) == 0 || len(keys["fd"]) < 3 {
				t.Errorf("JSON: no memory map (\"start\") or fewer than 3 fds (\"fd\": %v)", keys["fd"])
			}
			for _, s := range append(tc.strs, tc.exe) {
				if !crHasValue(keys["path"], s) {
					t.Errorf("JSON: no \"path\": %q", s)
				}
			}

			code, text, errs := crClient(t, rt, time.Minute, "inspect", tc.img)
			if code != 0 {
				t.Fatalf("crrun inspect: exit %d\n%s", code, errs)
			}
			for _, s := range append(append([]string{pid}, tc.tids...), tc.strs...) {
				if !word(s).MatchString(text) {
					t.Errorf("text: %q not shown", s)
				}
			}
			for _, s := range []string{tc.exe, "[stack]", "[heap]", reason} {
				if s != "" && !strings.Contains(text, s) {
					t.Errorf("text: %q not shown", s)
				}
			}
			if len(created) >= 10 && !strings.Contains(text, created[:10]) {
				t.Errorf("text: the date %s of the checkpoint not shown", created[:10])
			}
			// What a restore compares the CPU and the affinity with.
			if !regexp.MustCompile(`(?m)^  cpu       .+, \d+ feature flags$`).MatchString(text) ||
				!regexp.MustCompile(`(?m)^  affinity  [0-9,-]+, the environment's`).MatchString(text) {
				t.Errorf("text: the checkpoint's CPU or environment affinity not shown")
			}
			if t.Failed() {
				t.Logf("crrun inspect:\n%s", text)
			}
		})
	}
}
