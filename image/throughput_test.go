package image

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const (
	bigSize  = 256 << 20 // page data written by TestBigPages
	bigChunk = 16 << 20  // one AddPages call, like one process_vm_readv batch
)

func gibps(n int64, d time.Duration) string {
	return fmt.Sprintf("%.2f GiB/s", float64(n)/(1<<30)/d.Seconds())
}

// bigProcess has one anonymous mapping large enough for TestBigPages.
func bigProcess(pid int) *Process {
	p := sampleProcess(pid, 1)
	p.FDs = nil
	p.Memory = []VMA{{Start: heapStart, End: heapStart + bigSize, Prot: ProtRead | ProtWrite, Kind: VMAAnon}}
	return p
}

// TestBigPages streams 256 MiB of page data through AddPages in 16 MiB
// buffers, commits, verifies and reads it back, and logs the throughput next
// to a plain write+fsync of the same data to the same filesystem.
func TestBigPages(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping 256 MiB write in -short mode")
	}
	parent := t.TempDir()
	bufs := [2][]byte{pagePattern(1, 0, bigChunk, 1), pagePattern(1, 0, bigChunk, 2)}

	// Baseline: what the disk does with the same writes.
	raw := filepath.Join(parent, "raw.bin")
	f, err := os.OpenFile(raw, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range bigSize / bigChunk {
		if _, err := f.Write(bufs[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	rawTime := time.Since(start)
	f.Close()
	os.Remove(raw)

	dir := filepath.Join(parent, "img")
	start = time.Now()
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for i := range bigSize / bigChunk {
		if err := w.AddPages(100, uint64(heapStart+i*bigChunk), bufs[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	addTime := time.Since(start)
	if err := w.WriteProcess(bigProcess(100)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMeta(sampleMeta(100)); err != nil {
		t.Fatal(err)
	}
	commitStart := time.Now()
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	commitTime := time.Since(commitStart)
	total := time.Since(start)

	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if e := r.Extents(100); len(e) != 1 || e[0].Length != bigSize {
		t.Errorf("extents = %+v, want one 256 MiB extent", e)
	}
	start = time.Now()
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	verifyTime := time.Since(start)

	start = time.Now()
	buf := make([]byte, bigChunk)
	for i := range bigSize / bigChunk {
		if err := r.ReadPages(100, uint64(heapStart+i*bigChunk), buf); err != nil {
			t.Fatal(err)
		}
		if i < 2 && string(buf) != string(bufs[i%2]) {
			t.Fatalf("chunk %d read back wrong", i)
		}
	}
	readTime := time.Since(start)

	t.Logf("256 MiB of pages in 16 MiB AddPages calls: AddPages %s (%v), Commit incl. fsync %v, total %s; "+
		"plain write+fsync of the same data %s (%v); Verify %s; ReadPages %s (page cache warm)",
		gibps(bigSize, addTime), addTime.Round(time.Millisecond), commitTime.Round(time.Millisecond), gibps(bigSize, total),
		gibps(bigSize, rawTime), rawTime.Round(time.Millisecond), gibps(bigSize, verifyTime), gibps(bigSize, readTime))
}

// BenchmarkAddPages measures AddPages alone (page cache speed, no fsync).
func BenchmarkAddPages(b *testing.B) {
	buf := pagePattern(1, 0, bigChunk, 1)
	w, err := Create(filepath.Join(b.TempDir(), "img"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Abort()
	b.SetBytes(bigChunk)
	vaddr := uint64(heapStart)
	for b.Loop() {
		if err := w.AddPages(100, vaddr, buf); err != nil {
			b.Fatal(err)
		}
		vaddr += bigChunk
	}
}
