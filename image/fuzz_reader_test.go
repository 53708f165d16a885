package image_test

import (
	"errors"
	"io"
	"testing"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/imagefuzz"
)

// FuzzReader opens structure-aware mutations of a real small image (see
// crrun/internal/imagefuzz) and uses everything a restore would: Open,
// Verify, every process's extents by address and within every mapping,
// their pages (read and mapped), and every blob an fd names. Whatever the
// image says, the reader returns an error or sane values, never panics.
//
//	go test -run '^$' -fuzz FuzzReader -fuzztime 60s ./image/
func FuzzReader(f *testing.F) {
	imagefuzz.Fuzz(f, "testdata/seed-image", [][]byte{
		{0, 0, 3, 0, 0}, {1, 0, 9, 5, 1}, {2, 0, 40, 0, 14}, {3, 1, 2, 2, 3}, {4, 0, 7, 7, 0},
		{5, 0, 12, 4, 2}, {3, 0, 200, 1, 17}, {4, 2, 0, 2, 2}, {1, 0, 20, 8, 0}, {0, 0, 30, 9, 3},
	}, func(t *testing.T, r *image.Reader, _ []byte) { UseImage(t, r) })
}

// UseImage reads everything of an open image that a restore reads.
// VerifyAll, not Verify: only the first promises that every extent reads
// back (Verify leaves compressed frames to ReadPages).
func UseImage(t *testing.T, r *image.Reader) {
	verr := r.VerifyAll()
	var ie *image.Error
	if verr != nil && !errors.As(verr, &ie) {
		t.Fatalf("Verify: %v is not an *image.Error", verr)
	}
	if r.Process(r.Meta().Root) == nil {
		t.Fatalf("root %d has no process", r.Meta().Root)
	}
	buf := make([]byte, 1<<20)
	for _, p := range r.Processes() {
		for _, e := range r.Extents(p.PID) {
			n := min(e.Length, uint64(len(buf)))
			if err := r.ReadPages(p.PID, uint64(e.Vaddr), buf[:n]); err != nil && verr == nil {
				t.Fatalf("ReadPages of a saved extent %+v: %v", e, err)
			}
			if m, err := r.MapExtent(e); err == nil && uint64(len(m)) != e.Length {
				t.Fatalf("MapExtent(%+v) gave %d bytes", e, len(m))
			}
		}
		for _, v := range p.Memory {
			for _, e := range r.ExtentsIn(p.PID, uint64(v.Start), uint64(v.End)) {
				if uint64(e.Vaddr) < uint64(v.Start) || e.End() > uint64(v.End) {
					t.Fatalf("ExtentsIn(%s-%s) gave %+v", v.Start, v.End, e)
				}
			}
			if v.Blob != "" {
				readBlob(r, v.Blob)
			}
		}
		for _, f := range p.FDs {
			for _, name := range []string{f.Blob, pipeData(f), sockData(f)} {
				if name != "" {
					readBlob(r, name)
				}
			}
		}
	}
}

func pipeData(f image.FD) string {
	if f.Pipe != nil {
		return f.Pipe.Data
	}
	return ""
}

func sockData(f image.FD) string {
	if f.Socket != nil {
		return f.Socket.Data
	}
	return ""
}

func readBlob(r *image.Reader, name string) {
	b, err := r.OpenBlob(name)
	if err != nil {
		return
	}
	defer b.Close()
	io.Copy(io.Discard, io.LimitReader(b, 1<<20))
}
