package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestCRC32CCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<16)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, cut := range []int{0, 1, 7, 4096, 30000, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := crc32cCombine(crc32c(a), crc32c(b), uint64(len(b)))
		if want := crc32c(data); got != want {
			t.Errorf("combine at %d = %08x, want %08x", cut, got, want)
		}
	}
}

func TestJSONValueTypes(t *testing.T) {
	type all struct {
		H Hex
		O Octal
		C CRC32C
		P Prot
		D Dev
	}
	in := all{H: 0x7ffd1234, O: 0o2100002, C: 0xdeadbeef, P: ProtRead | ProtExec, D: MakeDev(259, 70000)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"H":"0x7ffd1234","O":"02100002","C":"deadbeef","P":"r-x","D":"259:70000"}`
	if string(b) != want {
		t.Errorf("marshal = %s, want %s", b, want)
	}
	var out all
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("unmarshal = %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range []string{`{"H":"7f"}`, `{"H":"0xzz"}`, `{"O":"17"}`, `{"C":"123"}`, `{"C":12345678}`, `{"P":"rwz"}`, `{"P":"rw"}`, `{"D":"1"}`, `{"D":"a:b"}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("unmarshal %s: no error", bad)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "ckpt")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	saved := writeSample(t, w)
	got, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got != dir {
		t.Errorf("Commit returned %s, want %s", got, dir)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if tmp := tempEntries(t, parent); len(tmp) != 0 {
		t.Errorf("temporary entries left in %s: %v", parent, tmp)
	}

	// Permissions: directory 0700, files 0600, every file in the manifest.
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("image directory mode %v, want 0700", fi.Mode().Perm())
	}

	r, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	listed := map[string]bool{ManifestFile: true}
	for _, f := range r.Manifest().Files {
		listed[f.Name] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		if !listed[e.Name()] {
			t.Errorf("%s is not listed in the manifest", e.Name())
		}
		delete(listed, e.Name())
	}
	if len(listed) != 0 {
		t.Errorf("listed but absent: %v", listed)
	}

	if err := r.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	m := r.Manifest()
	if m.Format != FormatVersion || m.Reason != "SIGUSR1 from pid 4242" || m.Trigger != TriggerSignal || m.CrrunVersion != "crrun test" || !m.Created.Equal(testTime) {
		t.Errorf("manifest = %+v", m)
	}
	if !reflect.DeepEqual(r.Meta(), sampleMeta(100, 101)) {
		t.Errorf("meta differs:\n got %+v\nwant %+v", r.Meta(), sampleMeta(100, 101))
	}
	if len(r.Processes()) != 2 || r.Processes()[0].PID != 100 {
		t.Fatalf("Processes() = %v", r.Processes())
	}
	for _, pid := range []int{100, 101} {
		want := sampleProcess(pid, 1+(pid-100)*99)
		if p := r.Process(pid); !reflect.DeepEqual(p, want) {
			gj, _ := json.MarshalIndent(p, "", " ")
			wj, _ := json.MarshalIndent(want, "", " ")
			t.Errorf("process %d differs:\n got %s\nwant %s", pid, gj, wj)
		}

		// Consecutive AddPages inside the heap are merged.
		ext := r.Extents(pid)
		if len(ext) != 4 {
			t.Errorf("pid %d: %d extents, want 4 (text, merged heap, heap tail, stack): %+v", pid, len(ext), ext)
		}
		heap := r.ExtentsIn(pid, heapStart, heapEnd)
		if len(heap) != 2 || heap[0].Length != 13*PageSize || heap[1].Length != 16*PageSize {
			t.Errorf("pid %d heap extents = %+v", pid, heap)
		}

		for vaddr, data := range saved[pid] {
			buf := make([]byte, len(data))
			if err := r.ReadPages(pid, vaddr, buf); err != nil {
				t.Fatalf("ReadPages(%d, %#x): %v", pid, vaddr, err)
			}
			if !bytes.Equal(buf, data) {
				t.Errorf("ReadPages(%d, %#x): content differs", pid, vaddr)
			}
		}
		// A range spanning three AddPages calls.
		buf := make([]byte, 13*PageSize)
		if err := r.ReadPages(pid, heapStart, buf); err != nil {
			t.Fatal(err)
		}
		want13 := slices.Concat(saved[pid][heapStart], saved[pid][heapStart+4*PageSize], saved[pid][heapStart+12*PageSize])
		if !bytes.Equal(buf, want13) {
			t.Errorf("ReadPages across extents: content differs")
		}
		mapped, err := r.MapExtent(heap[0])
		if err != nil {
			t.Fatalf("MapExtent: %v", err)
		}
		if !bytes.Equal(mapped, want13) {
			t.Errorf("MapExtent: content differs")
		}
		// A page that was never saved.
		err = r.ReadPages(pid, heapStart+13*PageSize, make([]byte, PageSize))
		if err == nil || !strings.Contains(err.Error(), "not saved") {
			t.Errorf("ReadPages of an unsaved page: %v", err)
		}

		blob, err := r.OpenBlob(fmt.Sprintf("deleted-%d-3", pid))
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(blob)
		blob.Close()
		if err != nil || !bytes.Equal(content, bytes.Repeat([]byte("scratch!"), 1024)) {
			t.Errorf("blob content wrong: %v", err)
		}
	}
}

func TestOpenPathAndReplace(t *testing.T) {
	dir := goodImage(t)
	r, skipped, err := OpenPath(dir, true)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("OpenPath(image): %v %v", err, skipped)
	}
	r.Close()

	// Without Replace an existing image is refused, with it replaced.
	if _, err := Create(dir, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create over an image: %v", err)
	}
	w, err := Create(dir, &CreateOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddPages(7, heapStart, pagePattern(7, heapStart, PageSize, 1)); err != nil {
		t.Fatal(err)
	}
	p := sampleProcess(7, 1)
	p.FDs = nil
	if err := w.WriteProcess(p); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMeta(sampleMeta(7)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit (replace): %v", err)
	}
	r, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Meta().Processes; !slices.Equal(got, []int{7}) {
		t.Errorf("after replace, processes = %v", got)
	}
	if tmp := tempEntries(t, filepath.Dir(dir)); len(tmp) != 0 {
		t.Errorf("temporary entries left: %v", tmp)
	}

	// A directory that is neither empty nor an image is never replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "thesis.tex"), []byte("x"), 0o600)
	if _, err := Create(other, &CreateOptions{Replace: true}); err == nil {
		t.Error("Create over a non-image directory succeeded")
	}
	// An empty directory is fine.
	empty := t.TempDir()
	w, err = Create(empty, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeSample(t, w)
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit into an empty directory: %v", err)
	}
}

func TestCorruption(t *testing.T) {
	t.Run("truncated page file", func(t *testing.T) {
		dir := goodImage(t)
		path := filepath.Join(dir, "pages-100.bin")
		fi, _ := os.Stat(path)
		if err := os.Truncate(path, fi.Size()-PageSize); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, "pages-100.bin", "truncated", fmt.Sprint(fi.Size()))
	})
	t.Run("bit flip in page file", func(t *testing.T) {
		dir := goodImage(t)
		// Offset 3 pages in: inside the merged heap extent (after 1 text page).
		flipBit(t, filepath.Join(dir, "pages-101.bin"), 3*PageSize+17, 4)
		r, err := Open(dir)
		if err != nil {
			t.Fatalf("Open (page data is only checked by Verify): %v", err)
		}
		defer r.Close()
		wantImageError(t, r.Verify(), ErrImageCorrupt, "pages-101.bin", "checksum mismatch", "pid 101", "0x1000000", "expected crc32c")
	})
	t.Run("bit flip in blob", func(t *testing.T) {
		dir := goodImage(t)
		flipBit(t, filepath.Join(dir, "blob-deleted-100-3"), 5, 0)
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wantImageError(t, r.Verify(), ErrImageCorrupt, "blob-deleted-100-3", "checksum mismatch")
	})
	for _, file := range []string{MetaFile, "proc-101.json", PagemapFile} {
		t.Run("bit flip in "+file, func(t *testing.T) {
			dir := goodImage(t)
			flipBit(t, filepath.Join(dir, file), 40, 1)
			_, err := Open(dir)
			wantImageError(t, err, ErrImageCorrupt, file, "checksum mismatch")
		})
	}
	t.Run("every bit flip in the manifest", func(t *testing.T) {
		dir := goodImage(t)
		b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseManifest(dir, b); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			for bit := range 8 {
				c := slices.Clone(b)
				c[i] ^= 1 << bit
				_, err := parseManifest(dir, c)
				if !errors.Is(err, ErrImageCorrupt) {
					t.Fatalf("flip of bit %d of byte %d (%q): got %v, want ErrImageCorrupt", bit, i, b[i], err)
				}
			}
		}
		flipBit(t, filepath.Join(dir, ManifestFile), 100, 2)
		_, err = Open(dir)
		wantImageError(t, err, ErrImageCorrupt, ManifestFile, "checksum mismatch")
	})
	t.Run("missing manifest", func(t *testing.T) {
		dir := goodImage(t)
		os.Remove(filepath.Join(dir, ManifestFile))
		_, err := Open(dir)
		wantImageError(t, err, ErrImageIncomplete, ManifestFile, "missing")
	})
	t.Run("missing page file", func(t *testing.T) {
		dir := goodImage(t)
		os.Remove(filepath.Join(dir, "pages-100.bin"))
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, "pages-100.bin", "missing")
	})
	t.Run("symlink instead of file", func(t *testing.T) {
		dir := goodImage(t)
		path := filepath.Join(dir, "proc-100.json")
		os.Rename(path, path+".real")
		os.Symlink("proc-100.json.real", path)
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, "proc-100.json", "not a regular file")
	})
	t.Run("unknown version", func(t *testing.T) {
		dir := goodImage(t)
		rewriteManifest(t, dir, func(m *Manifest) { m.Format = 99 })
		_, err := Open(dir)
		wantImageError(t, err, ErrImageVersion, ManifestFile, "unknown format version 99")
	})
	t.Run("unknown required feature", func(t *testing.T) {
		dir := goodImage(t)
		rewriteManifest(t, dir, func(m *Manifest) { m.Features = []string{"timerfd"} })
		_, err := Open(dir)
		wantImageError(t, err, ErrImageVersion, ManifestFile, `"timerfd"`)
	})
	t.Run("bad magic", func(t *testing.T) {
		dir := goodImage(t)
		rewriteManifest(t, dir, func(m *Manifest) { m.Magic = "criu" })
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, ManifestFile, "bad magic")
	})
	t.Run("manifest path traversal", func(t *testing.T) {
		dir := goodImage(t)
		rewriteManifest(t, dir, func(m *Manifest) { m.Files = append(m.Files, FileEntry{Name: "../../etc/passwd", Size: 1}) })
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, ManifestFile, "etc/passwd")
	})
	t.Run("oversized metadata", func(t *testing.T) {
		dir := goodImage(t)
		rewriteManifest(t, dir, func(m *Manifest) {
			for i := range m.Files {
				if m.Files[i].Name == MetaFile {
					m.Files[i].Size = MaxMetaSize + 1
				}
			}
		})
		_, err := Open(dir)
		wantImageError(t, err, ErrImageCorrupt, ManifestFile, "over the limit")
	})
}

// rewriteManifest edits a manifest and writes it back with a valid
// self-checksum, as a newer (or hostile) writer would.
func rewriteManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	nb, err := encodeManifest(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nb, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWriterErrors(t *testing.T) {
	newW := func(t *testing.T) (*Writer, string) {
		parent := t.TempDir()
		w, err := Create(filepath.Join(parent, "img"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return w, parent
	}
	gone := func(t *testing.T, parent string) {
		t.Helper()
		if tmp := tempEntries(t, parent); len(tmp) != 0 {
			t.Errorf("temporary directory left behind: %v", tmp)
		}
		if fileExists(filepath.Join(parent, "img")) {
			t.Errorf("image appeared despite the error")
		}
	}
	t.Run("unaligned pages", func(t *testing.T) {
		w, parent := newW(t)
		err := w.AddPages(100, heapStart+1, make([]byte, PageSize))
		if err == nil || !strings.Contains(err.Error(), "multiples of 4096") {
			t.Fatalf("AddPages unaligned: %v", err)
		}
		gone(t, parent)
		// The error is final.
		if err2 := w.AddPages(100, heapStart, make([]byte, PageSize)); err2 != err {
			t.Errorf("later call returned %v, want the first error", err2)
		}
		if _, err2 := w.Commit(); err2 != err {
			t.Errorf("Commit returned %v, want the first error", err2)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after failure: %v", err)
		}
	})
	t.Run("no meta", func(t *testing.T) {
		w, parent := newW(t)
		_, err := w.Commit()
		if err == nil || !strings.Contains(err.Error(), "WriteMeta") {
			t.Fatalf("Commit without meta: %v", err)
		}
		gone(t, parent)
	})
	t.Run("pages outside mappings", func(t *testing.T) {
		w, parent := newW(t)
		writeSample(t, w)
		if err := w.AddPages(100, heapEnd, make([]byte, PageSize)); err != nil {
			t.Fatal(err)
		}
		_, err := w.Commit()
		if err == nil || !strings.Contains(err.Error(), "not inside one memory mapping") {
			t.Fatalf("Commit with stray pages: %v", err)
		}
		gone(t, parent)
	})
	t.Run("process not in meta", func(t *testing.T) {
		w, parent := newW(t)
		writeSample(t, w)
		if err := w.WriteProcess(sampleProcess(102, 100)); err != nil {
			t.Fatal(err)
		}
		_, err := w.Commit()
		if err == nil || !strings.Contains(err.Error(), "process 102") {
			t.Fatalf("Commit with an extra process: %v", err)
		}
		gone(t, parent)
	})
	t.Run("process written twice", func(t *testing.T) {
		w, parent := newW(t)
		writeSample(t, w)
		err := w.WriteProcess(sampleProcess(100, 1))
		if err == nil || !strings.Contains(err.Error(), "proc-100.json: file written twice") {
			t.Fatalf("second WriteProcess: %v", err)
		}
		gone(t, parent)
	})
	t.Run("invalid process", func(t *testing.T) {
		w, parent := newW(t)
		p := sampleProcess(100, 1)
		p.Memory[1].Start = p.Memory[0].Start // overlap
		err := w.WriteProcess(p)
		if err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Fatalf("WriteProcess with overlapping mappings: %v", err)
		}
		gone(t, parent)
	})
	t.Run("abort", func(t *testing.T) {
		w, parent := newW(t)
		writeSample(t, w)
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		gone(t, parent)
		if err := w.AddPages(100, heapStart, make([]byte, PageSize)); !errors.Is(err, errAborted) {
			t.Errorf("AddPages after Abort: %v", err)
		}
	})
}

func TestConcurrentAddPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "img")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	pids := []int{100, 101, 102, 103}
	var wg sync.WaitGroup
	for _, pid := range pids {
		wg.Go(func() {
			for i := range 64 {
				vaddr := uint64(heapStart + i*4*PageSize)
				if err := w.AddPages(pid, vaddr, pagePattern(pid, vaddr, 4*PageSize, 3)); err != nil {
					t.Error(err)
					return
				}
			}
			p := sampleProcess(pid, 1)
			p.FDs = nil
			if err := w.WriteProcess(p); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := w.WriteMeta(sampleMeta(pids...)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if e := r.Extents(pid); len(e) != 1 || e[0].Length != 256*PageSize {
			t.Errorf("pid %d: extents %+v, want one merged 1 MiB extent", pid, e)
		}
		buf := make([]byte, 256*PageSize)
		if err := r.ReadPages(pid, heapStart, buf); err != nil || !bytes.Equal(buf, pagePattern(pid, heapStart, len(buf), 3)) {
			t.Errorf("pid %d: pages read back wrong (%v)", pid, err)
		}
	}
}

func TestPageWriterAndRegs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "img")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := pagePattern(100, heapStart, 3*PageSize, 9)
	pw := w.PageWriter(100, heapStart)
	if _, err := pw.Write(data[:PageSize]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(pw, bytes.NewReader(data[PageSize:])); err != nil {
		t.Fatal(err)
	}
	p := sampleProcess(100, 1)
	p.FDs = nil
	p.Threads[0].Regs = RegsFromPtrace(&unixRegsSample)
	if err := w.WriteProcess(p); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMeta(sampleMeta(100)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, len(data))
	if err := r.ReadPages(100, heapStart, buf); err != nil || !bytes.Equal(buf, data) {
		t.Errorf("PageWriter data read back wrong: %v", err)
	}
	if got := r.Process(100).Threads[0].Regs.Ptrace(); got != unixRegsSample {
		t.Errorf("registers after a round trip: %+v, want %+v", got, unixRegsSample)
	}
}

// crc32cCombine must agree with hashing the whole data for lengths past
// 512 MiB, where a table wrapped at 32 entries went wrong.
func TestCRC32CCombineLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 600 MiB")
	}
	a := []byte("prefix bytes")
	b := make([]byte, 600<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	want := crc32.Update(crc32.Checksum(a, tab), tab, b)
	if got := crc32cCombine(crc32.Checksum(a, tab), crc32.Checksum(b, tab), uint64(len(b))); got != want {
		t.Fatalf("combine over %d bytes: %08x, want %08x", len(b), got, want)
	}
}
