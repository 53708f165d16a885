package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChild writes a generation of pid 100 and 101 (the sample processes)
// whose heap at heapStart+off..+n is new (seed) and whose other pages are
// referred to in parent: the newest memory is returned as want.
func writeChild(t *testing.T, s *Store, parent string, off uint64, n int, seed byte) (dir string, want map[int][]byte) {
	t.Helper()
	pr, err := Open(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.SetChainable()
	want = map[int][]byte{}
	for _, pid := range []int{100, 101} {
		lo, hi := uint64(heapStart)+off, uint64(heapStart)+off+uint64(n)
		for _, e := range pr.Extents(pid) {
			if e.End() <= lo || uint64(e.Vaddr) >= hi {
				pf, ok := pr.ParentFileOf(e)
				if !ok {
					t.Fatalf("no parent file for %+v", e)
				}
				if err := w.AddParent(pf); err != nil {
					t.Fatal(err)
				}
				e.Gen, e.File = pf.Gen, pf.File
				if err := w.AddRef(e); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// Overlaps the new range: written anew, the new pages in it.
			b := make([]byte, e.Length)
			if err := pr.ReadPages(pid, uint64(e.Vaddr), b); err != nil {
				t.Fatal(err)
			}
			for a := max(lo, uint64(e.Vaddr)); a < min(hi, e.End()); a++ {
				b[a-uint64(e.Vaddr)] ^= seed
			}
			if err := w.AddPages(pid, uint64(e.Vaddr), b); err != nil {
				t.Fatal(err)
			}
		}
		want[pid] = make([]byte, heapEnd-heapStart)
		if err := w.WriteProcess(sampleProcess(pid, 1+(pid-100)*99)); err != nil {
			t.Fatal(err)
		}
		b, err := w.CreateBlob("deleted-" + map[int]string{100: "100", 101: "101"}[pid] + "-3")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(bytes.Repeat([]byte("scratch!"), 1024))
		b.Close()
	}
	if err := w.WriteMeta(sampleMeta(100, 101)); err != nil {
		t.Fatal(err)
	}
	dir, err = w.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return dir, want
}

// TestChain writes a full generation and two incremental ones, reads the
// newest back, then damages the first one's page file: the children that
// need it fail Verify naming it, OpenNewest falls back past them, and Prune
// keeps what a kept generation needs.
func TestChain(t *testing.T) {
	s := newStore(t)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.SetChainable()
	saved := writeSample(t, w)
	g1, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := writeChild(t, s, g1, 4*PageSize, 2*PageSize, 0x55)
	g3, _ := writeChild(t, s, g2, 64*PageSize, PageSize, 0x33)
	r, err := Open(g3)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyAll(); err != nil {
		t.Fatal(err)
	}
	if got := r.NeededGenerations(); len(got) != 2 {
		t.Errorf("gen 3 needs %v, want gen 1 and 2", got)
	}
	if !strings.Contains(strings.Join(r.Manifest().Features, ","), FeatureIncremental) {
		t.Errorf("features %v lack %s", r.Manifest().Features, FeatureIncremental)
	}
	// The memory: gen 1's, with both rewrites.
	for _, pid := range []int{100, 101} {
		for vaddr, data := range saved[pid] {
			got := make([]byte, len(data))
			if err := r.ReadPages(pid, vaddr, got); err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(data)
			for i := range want {
				a := vaddr + uint64(i)
				if a >= heapStart+4*PageSize && a < heapStart+6*PageSize {
					want[i] ^= 0x55
				}
				if a >= heapStart+64*PageSize && a < heapStart+65*PageSize {
					want[i] ^= 0x33
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("pid %d at %#x: the chain reads other bytes", pid, vaddr)
			}
		}
	}
	own, byGen := r.OwnBytes()
	if own == 0 || byGen[filepath.Base(g1)] == 0 {
		t.Errorf("own %d, from others %v", own, byGen)
	}
	r.Close()

	// Prune(1) keeps gen 1 and 2: gen 3 needs them.
	if removed, err := s.Prune(1); err != nil || len(removed) != 0 {
		t.Fatalf("Prune(1) removed %v (%v), want nothing", removed, err)
	}

	// Damage gen 1's page file of pid 100.
	flipBit(t, filepath.Join(g1, "pages-100.bin"), 5, 2)
	for _, g := range []string{g2, g3} {
		r, err := Open(g)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Verify()
		r.Close()
		wantImageError(t, err, ErrImageCorrupt, "pages-100.bin", "gen-000001", "parent generation", filepath.Base(g))
	}
	if _, _, err := s.OpenNewest(true); !errors.Is(err, ErrNoImage) {
		t.Fatalf("OpenNewest: %v, want ErrNoImage (every generation needs the damaged file)", err)
	}
	// A parent removed behind the store's back: the child names it.
	os.RemoveAll(g1)
	r, err = Open(g3)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Verify()
	r.Close()
	wantImageError(t, err, ErrImageCorrupt, "pages-100.bin", "gen-000001")
}

// TestChainOldReader: an incremental image requires its feature.
func TestChainManifestChecks(t *testing.T) {
	m := &Manifest{Features: nil, Parents: []ParentFile{{Gen: "gen-000001", File: "pages-1.bin"}}}
	if err := checkParents(m); err == nil {
		t.Error("parents without the feature accepted")
	}
	for _, bad := range []ParentFile{{Gen: "..", File: "pages-1.bin"}, {Gen: "gen-1", File: "pages-1.bin"}, {Gen: "gen-000001", File: "../x"}, {Gen: "gen-000001", File: "MANIFEST.json"}} {
		m := &Manifest{Features: []string{FeatureIncremental}, Parents: []ParentFile{bad}}
		if err := checkParents(m); err == nil {
			t.Errorf("parent %+v accepted", bad)
		}
	}
}

// TestRefPart: a part of a raw extent has the part's offset and checksum.
func TestRefPart(t *testing.T) {
	s := newStore(t)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.SetChainable()
	saved := writeSample(t, w)
	g1, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(g1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e := r.ExtentsIn(100, heapStart+64*PageSize, heapStart+80*PageSize)[0]
	part, err := r.RefPart(e, uint64(e.Vaddr)+2*PageSize, 3*PageSize, make([]byte, PageSize))
	if err != nil {
		t.Fatal(err)
	}
	want := saved[100][heapStart+64*PageSize][2*PageSize : 5*PageSize]
	if part.Gen != filepath.Base(g1) || part.Offset != e.Offset+2*PageSize || uint32(part.CRC32C) != crc32c(want) {
		t.Errorf("part %+v of %+v: want offset %d, crc %08x", part, e, e.Offset+2*PageSize, crc32c(want))
	}
	if _, err := r.RefPart(e, uint64(e.Vaddr)+15*PageSize, 2*PageSize, nil); err == nil {
		t.Error("a part past the extent's end accepted")
	}

	// The checksum came from the page checksum file (pagecrc.go); a
	// damaged, short or missing one is not used: the part is read, with
	// the same result.
	side := filepath.Join(g1, "pagecrc-100.bin")
	if r.pageCRCs(mustParent(t, r, e)) == nil {
		t.Fatalf("%s is missing or does not check out", side)
	}
	orig, err := os.ReadFile(side)
	if err != nil {
		t.Fatal(err)
	}
	refPart := func(what string) PageExtent {
		t.Helper()
		r, err := Open(g1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p, err := r.RefPart(e, uint64(e.Vaddr)+2*PageSize, 3*PageSize, make([]byte, PageSize))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return p
	}
	flipBit(t, side, int64(4*(part.Offset/PageSize)+1), 3) // a checksum the part folds
	if got := refPart("damaged page checksums"); got != part {
		t.Errorf("damaged page checksum file: part %+v, want %+v", got, part)
	}
	// Like every file of the image, it is listed in the manifest: Verify
	// finds the damage, and a missing one fails Open.
	if r, err := Open(g1); err != nil {
		t.Fatal(err)
	} else {
		wantImageError(t, r.Verify(), ErrImageCorrupt, "pagecrc-100.bin")
		r.Close()
	}
	os.Remove(side)
	if _, err := Open(g1); err == nil || !strings.Contains(err.Error(), "pagecrc-100.bin") {
		t.Errorf("Open with the page checksum file missing: %v", err)
	}
	os.WriteFile(side, orig, 0o600)
	// A page file damaged after its commit, its checksum file intact: the
	// part's checksum is of the bytes as saved, so the child that refers
	// to them finds the damage when it reads them.
	flipBit(t, filepath.Join(g1, "pages-100.bin"), int64(part.Offset)+PageSize+9, 1)
	if got := refPart("damaged page file"); got != part {
		t.Errorf("part of a page file damaged since: %+v, want the checksum as saved %+v", got, part)
	}
}

func mustParent(t *testing.T, r *Reader, e PageExtent) ParentFile {
	t.Helper()
	pf, ok := r.ParentFileOf(e)
	if !ok {
		t.Fatalf("no page file for %+v", e)
	}
	return pf
}

// TestPageCRCs: a chainable generation's page checksum files fold to their
// page files' checksums, for raw, compressed (padded frames) and zero
// extents alike; an image not chainable has none.
func TestPageCRCs(t *testing.T) {
	combine := func(a, b uint32) uint32 { return crc32cCombine(a, b, PageSize) }
	for _, x := range []uint32{0, 1, 0xdeadbeef, 0xffffffff, 0x80000000} {
		if combinePage(x, 0x1234567) != combine(x, 0x1234567) {
			t.Fatalf("combinePage(%08x) differs from crc32cCombine", x)
		}
	}
	mem := append(append(append(zeroData(1<<20), gridData(1<<20)...), randomData(1<<20, 3)...), memhogDoubles(1<<20)...)
	for _, chainable := range []bool{true, false} {
		s := newStore(t)
		w, err := s.Create()
		if err != nil {
			t.Fatal(err)
		}
		w.SetCompression(CompressAuto)
		if chainable {
			w.SetChainable()
		}
		if err := w.AddPages(100, heapStart, mem); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteProcess(compressedProcess(100, uint64(len(mem)))); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMeta(sampleMeta(100)); err != nil {
			t.Fatal(err)
		}
		g, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(g)
		if err != nil {
			t.Fatal(err)
		}
		encs := map[string]bool{}
		for _, e := range r.Extents(100) {
			encs[e.Encoding] = true
		}
		if !encs[EncodingRaw] || !encs[EncodingZstdShuffle] || !encs[EncodingZero] {
			t.Errorf("encodings %v: want raw, compressed and zero extents", encs)
		}
		pf, ok := r.ParentFileOf(r.Extents(100)[0])
		if !ok {
			t.Fatal("no page file")
		}
		if got := r.pageCRCs(pf) != nil; got != chainable {
			t.Errorf("chainable %v: page checksums usable %v", chainable, got)
		}
		if err := r.VerifyAll(); err != nil {
			t.Errorf("chainable %v: %v", chainable, err)
		}
		r.Close()
	}
}
