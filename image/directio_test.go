package image

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

// Page files written direct (O_DIRECT), through the page cache, and mixed
// (sources not page-aligned go buffered, at their offsets) read back the
// same memory, compressed or not.
func TestDirectIO(t *testing.T) {
	mem := slices.Concat(zeroData(1<<20), doublesData(3<<20, 1), randomData(2<<20+3*PageSize, 2))
	// The same bytes starting 8 bytes into a page: no iovec of them is
	// aligned, so every batch goes through the page cache.
	shifted := make([]byte, len(mem)+PageSize)[8 : 8+len(mem)]
	copy(shifted, mem)
	for _, tc := range []struct {
		name       string
		direct     bool
		src        []byte
		comp       Compression
		wantDirect bool
	}{
		{"direct", true, mem, CompressNone, true},
		{"direct-zstd", true, mem, CompressZstd, true},
		{"buffered", false, mem, CompressNone, false},
		{"unaligned", true, shifted, CompressNone, false},
		{"unaligned-zstd", true, shifted, CompressZstd, true}, // compressed blocks are aligned in their own buffers
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			w, err := Create(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			w.SetCompression(tc.comp)
			w.SetDirectIO(tc.direct)
			for off := 0; off < len(tc.src); off += 1<<20 + PageSize {
				n := min(1<<20+PageSize, len(tc.src)-off)
				if err := w.AddPages(100, heapStart+uint64(off), tc.src[off:off+n]); err != nil {
					t.Fatal(err)
				}
			}
			commitCompressed(t, w, uint64(len(mem)))
			if d := w.DirectBytes(); (d > 0) != tc.wantDirect {
				if d == 0 && tc.wantDirect {
					t.Skipf("the file system of %s takes no direct writes here", dir)
				}
				t.Fatalf("%d bytes written direct, want some: %v", d, tc.wantDirect)
			}
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.VerifyAll(); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(mem))
			if err := r.ReadPages(100, heapStart, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mem) {
				t.Fatal("the pages read back differ from those written")
			}
		})
	}
}
