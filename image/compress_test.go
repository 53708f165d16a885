package image

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kinds of page data the compression tests and benchmarks use.

// zeroData is untouched memory that was faulted in (calloc'd arrays).
func zeroData(n int) []byte { return make([]byte, n) }

// randomData is incompressible (encrypted or already compressed data).
func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// doublesData is an array of float64 as a numerical code holds them: a
// smooth field (a sum of sines, full-precision mantissas) interleaved with
// a grid of coordinates and counters (exact values, low entropy).
func doublesData(n int, seed uint64) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		k := float64(i/8) + float64(seed)
		var v float64
		switch (i / 8) % 4 {
		case 0, 1:
			v = math.Sin(k*0.001) + 0.5*math.Sin(k*0.0173)
		case 2:
			v = k * 0.25
		default:
			v = float64(int(k) % 1000)
		}
		binary.LittleEndian.PutUint64(b[i:], math.Float64bits(v))
	}
	return b
}

// memhogDoubles is what bench/memhog -d doubles holds.
func memhogDoubles(n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		k := i / 8
		var v float64
		switch k % 4 {
		case 0, 1:
			v = 1.0 / (1.0 + float64(k%100003)*0.37)
		case 2:
			v = float64(k) * 0.25
		default:
			v = float64(k % 1000)
		}
		binary.LittleEndian.PutUint64(b[i:], math.Float64bits(v))
	}
	return b
}

// compressedProcess has one anonymous mapping of size bytes at heapStart.
func compressedProcess(pid int, size uint64) *Process {
	p := sampleProcess(pid, 1)
	p.FDs = nil
	p.Memory = []VMA{{Start: heapStart, End: Hex(heapStart + size), Prot: ProtRead | ProtWrite, Kind: VMAAnon}}
	return p
}

// writeMixed writes, with compression c, one process whose memory holds
// zero, numerical, random and mixed pages (some calls not a whole block,
// some concurrent, some with AddPagesAsync), and returns the memory.
func writeMixed(t *testing.T, dir string, c Compression) []byte {
	t.Helper()
	mem := slices.Concat(
		zeroData(3<<20),
		doublesData(5<<20, 1),
		randomData(2<<20+5*PageSize, 2),
		zeroData(7*PageSize),
		doublesData(11*PageSize, 3),
	)
	// Pages: zero pages inside a random block, a random page inside a zero block.
	copy(mem[9<<20+PageSize:], zeroData(2*PageSize))
	copy(mem[1<<20:], randomData(PageSize, 4))
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.SetCompression(c)
	// The first half in irregular pieces from one goroutine, the second
	// half in 2 MiB pieces from two goroutines at once (AddPagesAsync).
	half := len(mem) / 2 &^ (PageSize - 1)
	for off, n := 0, 3*PageSize; off < half; off += n {
		n = min(n*3, half-off)
		if err := w.AddPages(100, heapStart+uint64(off), mem[off:off+n]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var released sync.WaitGroup
	errs := make([]error, 2)
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := half + k*(2<<20); off < len(mem); off += 4 << 20 {
				n := min(2<<20, len(mem)-off)
				released.Add(1)
				if err := w.AddPagesAsync(100, heapStart+uint64(off), mem[off:off+n], released.Done); err != nil {
					errs[k] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	released.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	commitCompressed(t, w, uint64(len(mem)))
	return mem
}

// TestCompressedRoundTrip: zero, numerical, random and mixed memory written
// with zstd reads back byte for byte, whole and in pieces that start and
// end inside extents; every encoding is used; raw extents stay mappable.
func TestCompressedRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mem := writeMixed(t, dir, CompressZstd)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !slices.Contains(r.Manifest().Features, FeatureCompressedPages) {
		t.Errorf("features %v lack %q", r.Manifest().Features, FeatureCompressedPages)
	}
	if err := r.VerifyAll(); err != nil {
		t.Fatalf("VerifyAll: %v", err)
	}
	count := map[string]int{}
	var stored uint64
	for _, e := range r.Extents(100) {
		count[e.Encoding]++
		stored += e.FileSpan()
		m, err := r.MapExtent(e)
		if e.Encoding == EncodingRaw {
			if err != nil || !bytes.Equal(m, mem[uint64(e.Vaddr)-heapStart:e.End()-heapStart]) {
				t.Errorf("MapExtent of raw extent %+v: %v", e, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), "cannot be mapped") {
			t.Errorf("MapExtent of %s extent: %v, want an error", e.Encoding, err)
		}
	}
	t.Logf("extents by encoding %v; %d bytes of memory in %d bytes of file", count, len(mem), stored)
	if count[EncodingRaw] == 0 || count[EncodingZstdShuffle] == 0 || count[EncodingZero] == 0 {
		t.Errorf("extents by encoding %v: want every encoding", count)
	}
	if stored >= uint64(len(mem))*3/4 {
		t.Errorf("%d bytes stored for %d of memory: hardly compressed", stored, len(mem))
	}
	got := make([]byte, len(mem))
	for i := range got {
		got[i] = 0xee
	}
	if err := r.ReadPages(100, heapStart, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, mem) {
		t.Fatal("ReadPages of everything differs from the memory written")
	}
	for _, piece := range [][2]int{{PageSize, 3 * PageSize}, {(1 << 20) - PageSize, 2 * PageSize}, {3<<20 + 5*PageSize, 3 << 20}, {len(mem) - 9*PageSize, 9 * PageSize}} {
		b := make([]byte, piece[1])
		if err := r.ReadPages(100, heapStart+uint64(piece[0]), b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, mem[piece[0]:piece[0]+piece[1]]) {
			t.Errorf("ReadPages at +%#x, %d bytes differs", piece[0], piece[1])
		}
	}
}

// TestCompressNone: without compression the image is format 1 as before:
// raw extents only, merged, and no feature an older crrun lacks.
func TestCompressNone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mem := writeMixed(t, dir, CompressNone)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if f := r.Manifest().Features; len(f) != 0 {
		t.Errorf("features %v, want none", f)
	}
	ext := r.Extents(100)
	var n uint64
	for _, e := range ext {
		if e.Encoding != EncodingRaw || e.Stored != 0 || e.DataCRC32C != 0 {
			t.Errorf("extent %+v is not a plain raw one", e)
		}
		n += e.Length
	}
	// The first half was written by one goroutine: merged into one extent.
	if n != uint64(len(mem)) || len(ext) > 8 || ext[0].Length < uint64(len(mem)/2)-PageSize {
		t.Errorf("%d extents of %d bytes in all (first %d), want few, merged, %d in all", len(ext), n, ext[0].Length, len(mem))
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(mem))
	if err := r.ReadPages(100, heapStart, got); err != nil || !bytes.Equal(got, mem) {
		t.Fatalf("ReadPages: %v, equal %v", err, bytes.Equal(got, mem))
	}
}

// firstZstd returns the first zstd extent of pid 100.
func firstZstd(t *testing.T, dir string) PageExtent {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, e := range r.Extents(100) {
		if e.Encoding == EncodingZstdShuffle {
			return e
		}
	}
	t.Fatal("no zstd extent")
	return PageExtent{}
}

// TestCorruptCompressedExtent: a flipped bit in a compressed extent, and a
// crafted frame behind correct checksums (resealed), are errors naming
// the page file and the extent, from VerifyAll and from ReadPages (and
// the flipped bit from Verify).
func TestCorruptCompressedExtent(t *testing.T) {
	base := filepath.Join(t.TempDir(), "ckpt")
	writeMixed(t, base, CompressZstd)
	e := firstZstd(t, base)
	enc, _, err := zstdCodecs()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		words []string
	}{
		{"bit flip", func(t *testing.T, dir string) {
			flipBit(t, filepath.Join(dir, e.File), int64(e.Offset+e.Stored/2), 3)
		}, []string{"checksum mismatch in compressed pages of pid 100", "file offset"}},
		{"garbage frame, resealed", func(t *testing.T, dir string) {
			path := filepath.Join(dir, e.File)
			b, _ := os.ReadFile(path)
			copy(b[e.Offset:e.Offset+e.Stored], randomData(int(e.Stored+7)&^7, 9))
			os.WriteFile(path, b, 0o600)
			if err := Reseal(dir); err != nil {
				t.Fatal(err)
			}
		}, []string{"compressed pages of pid 100", "zstd"}},
		{"frame of other data, resealed", func(t *testing.T, dir string) {
			// A valid frame decompressing to fewer bytes than the extent.
			path := filepath.Join(dir, e.File)
			b, _ := os.ReadFile(path)
			frame := skippable(enc.EncodeAll(zeroData(PageSize), nil), e.Stored)
			copy(b[e.Offset:], frame)
			os.WriteFile(path, b, 0o600)
			if err := Reseal(dir); err != nil {
				t.Fatal(err)
			}
		}, []string{"compressed pages of pid 100", "decompresses to 4096 bytes"}},
		{"frame claiming 1 GiB, resealed", func(t *testing.T, dir string) {
			// A frame header announcing far more than the extent: refused
			// before anything that large is allocated.
			path := filepath.Join(dir, e.File)
			b, _ := os.ReadFile(path)
			// zstd frame: magic, descriptor (single segment, 4-byte content
			// size), content size 1 GiB, then a raw last block of 3 bytes.
			frame := skippable([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x40, 0x19, 0, 0, 'a', 'b', 'c'}, e.Stored)
			copy(b[e.Offset:], frame)
			os.WriteFile(path, b, 0o600)
			if err := Reseal(dir); err != nil {
				t.Fatal(err)
			}
		}, []string{"compressed pages of pid 100"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			copyDir(t, base, dir)
			c.edit(t, dir)
			r, err := Open(dir)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			if c.name == "bit flip" {
				// Damage: the cheap Verify restore runs finds it.
				wantImageError(t, r.Verify(), ErrImageCorrupt, e.File, c.words...)
			} else if err := r.Verify(); err != nil {
				t.Errorf("Verify of a crafted frame with right checksums: %v (only VerifyAll and ReadPages decompress)", err)
			}
			wantImageError(t, r.VerifyAll(), ErrImageCorrupt, e.File, c.words...)
			buf := make([]byte, e.Length)
			wantImageError(t, r.ReadPages(100, uint64(e.Vaddr), buf), ErrImageCorrupt, e.File, c.words...)
		})
	}
}

// skippable pads a zstd frame to n bytes with a skippable frame (which
// decoders ignore), so that it takes the extent's place exactly.
func skippable(frame []byte, n uint64) []byte {
	pad := int(n) - len(frame) - 8
	if pad < 0 {
		panic("extent too small for the crafted frame")
	}
	frame = append(frame, 0x50, 0x2a, 0x4d, 0x18)
	frame = binary.LittleEndian.AppendUint32(frame, uint32(pad))
	return append(frame, make([]byte, pad)...)
}

// editPagemap changes the extents of an image and reseals it.
func editPagemap(t *testing.T, dir string, edit func(*PageExtent)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, PagemapFile))
	if err != nil {
		t.Fatal(err)
	}
	var pm pagemap
	if err := json.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	for i := range pm.Extents {
		edit(&pm.Extents[i])
	}
	nb, _ := encodePagemap(pm.Extents)
	if err := os.WriteFile(filepath.Join(dir, PagemapFile), nb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reseal(dir); err != nil {
		t.Fatal(err)
	}
}

// TestShuffle8 checks the byte shuffle against its definition, for sizes
// with and without a tail of fewer than 8 words.
func TestShuffle8(t *testing.T) {
	for _, n := range []int{8, 64, 72, 4096, 4096 + 24, 1 << 20} {
		src := randomData(n, uint64(n))
		dst := make([]byte, n)
		shuffle8(dst, src)
		words := n / 8
		for i := range words {
			for k := range 8 {
				if dst[k*words+i] != src[8*i+k] {
					t.Fatalf("n=%d: byte %d of word %d is at the wrong place", n, k, i)
				}
			}
		}
		back := make([]byte, n)
		unshuffle8(back, dst)
		if !bytes.Equal(back, src) {
			t.Fatalf("n=%d: unshuffle8 does not undo shuffle8", n)
		}
	}
}

// TestPlainZstdExtent: the reader also takes a plain zstd frame (encoding
// "zstd", not shuffled), which the writer does not produce today.
func TestPlainZstdExtent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mem := writeMixed(t, dir, CompressZstd)
	e := firstZstd(t, dir)
	enc, _, err := zstdCodecs()
	if err != nil {
		t.Fatal(err)
	}
	data := mem[uint64(e.Vaddr)-heapStart : e.End()-heapStart]
	frame := enc.EncodeAll(data, nil)
	if uint64(len(frame))+8 > e.Stored {
		t.Skipf("the plain frame (%d bytes) does not fit the shuffled one's place (%d)", len(frame), e.Stored)
	}
	path := filepath.Join(dir, e.File)
	b, _ := os.ReadFile(path)
	copy(b[e.Offset:], skippable(frame, e.Stored))
	os.WriteFile(path, b, 0o600)
	editPagemap(t, dir, func(x *PageExtent) {
		if x.Vaddr == e.Vaddr {
			x.Encoding = EncodingZstd
		}
	})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(mem))
	if err := r.ReadPages(100, heapStart, got); err != nil || !bytes.Equal(got, mem) {
		t.Fatalf("ReadPages: %v, equal %v", err, bytes.Equal(got, mem))
	}
}

// TestBadEncodings: the page index's new fields are checked at Open.
func TestBadEncodings(t *testing.T) {
	base := filepath.Join(t.TempDir(), "ckpt")
	writeMixed(t, base, CompressZstd)
	e := firstZstd(t, base)
	for _, c := range []struct {
		name string
		edit func(x *PageExtent)
		word string
	}{
		{"unknown encoding", func(x *PageExtent) { x.Encoding = "lz4" }, `unknown encoding "lz4"`},
		{"stored as long as the memory", func(x *PageExtent) { x.Stored = x.Length }, "want 0 < stored < length"},
		{"huge zstd extent", func(x *PageExtent) { x.Length = 1 << 40 }, "want 0 < stored < length"},
		{"raw with stored", func(x *PageExtent) { x.Encoding = EncodingRaw }, "a raw extent with stored"},
		{"zero with offset", func(x *PageExtent) { x.Encoding, x.Stored, x.DataCRC32C = EncodingZero, 0, 0 }, "a zero extent with offset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			copyDir(t, base, dir)
			editPagemap(t, dir, func(x *PageExtent) {
				if x.Vaddr == e.Vaddr {
					c.edit(x)
				}
			})
			_, err := Open(dir)
			if err == nil || !strings.Contains(err.Error(), c.word) {
				t.Fatalf("Open: %v, want an error containing %q", err, c.word)
			}
			t.Logf("as expected: %v", err)
		})
	}
}

// TestOldReaderRefusesCompressed: a crrun that does not know the feature
// refuses a compressed image by the feature's name.
func TestOldReaderRefusesCompressed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	writeMixed(t, dir, CompressZstd)
	saved := KnownFeatures
	KnownFeatures = slices.DeleteFunc(slices.Clone(saved), func(f string) bool { return f == FeatureCompressedPages })
	defer func() { KnownFeatures = saved }()
	_, err := Open(dir)
	if !errors.Is(err, ErrImageVersion) || !strings.Contains(err.Error(), `"compressed-pages"`) {
		t.Fatalf("Open by a reader without the feature: %v", err)
	}
	t.Logf("as expected: %v", err)
}

// FuzzDecodeExtent: whatever the stored bytes and lengths, decoding gives
// an error or exactly the extent's bytes, and never allocates beyond the
// extent.
func FuzzDecodeExtent(f *testing.F) {
	enc, _, err := zstdCodecs()
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range [][]byte{zeroData(PageSize), doublesData(4*PageSize, 1), randomData(PageSize, 1)} {
		f.Add(enc.EncodeAll(d, nil), uint32(len(d)), crc32c(d), false)
		sh := make([]byte, len(d))
		shuffle8(sh, d)
		f.Add(enc.EncodeAll(sh, nil), uint32(len(d)), crc32c(d), true)
	}
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x40, 0x19, 0, 0, 'a', 'b', 'c'}, uint32(PageSize), uint32(0), true)
	f.Fuzz(func(t *testing.T, stored []byte, length, crc uint32, shuffled bool) {
		if length == 0 || length > 1<<20 {
			length = PageSize
		}
		encoding := EncodingZstd
		if shuffled {
			encoding = EncodingZstdShuffle
		}
		dst := make([]byte, length)
		if _, err := decodeExtent(encoding, stored, dst, nil, crc); err == nil && crc32c(dst) != crc {
			t.Fatal("decoded without error but the checksum differs")
		}
	})
}

// BenchmarkCodec measures zstd's speed on the kinds of memory a checkpoint
// meets, one goroutine per CPU (b.RunParallel), in bytes of memory:
//
//	go test -run '^$' -bench Codec -benchtime 256x ./image/
func BenchmarkCodec(b *testing.B) {
	enc, _, err := zstdCodecs()
	if err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name string
		data []byte
	}{
		{"zero", zeroData(BlockSize)},
		{"doubles", doublesData(BlockSize, 1)},
		{"memhog-doubles", memhogDoubles(BlockSize)},
		{"random", randomData(BlockSize, 1)},
	}
	for _, k := range kinds {
		sh := make([]byte, len(k.data))
		shuffle8(sh, k.data)
		frame := encodePlanes(enc, sh, nil)
		b.Run("compress/"+k.name, func(b *testing.B) {
			b.SetBytes(int64(len(k.data)))
			b.ReportMetric(float64(len(frame))/float64(len(k.data)), "ratio")
			defer cpuRate(b, len(k.data))()
			b.RunParallel(func(pb *testing.PB) {
				p := &pipeline{}
				pf := &pageFile{}
				for pb.Next() {
					blk := &block{pf: pf, src: k.data, comp: CompressZstd}
					blk.process(p)
					if blk.out != nil {
						bp := blk.out[:0]
						p.putOut(&bp)
					}
				}
			})
		})
		if !worthCompressing(len(frame), len(k.data)) {
			continue
		}
		b.Run("decompress/"+k.name, func(b *testing.B) {
			b.SetBytes(int64(len(k.data)))
			crc := crc32c(k.data)
			defer cpuRate(b, len(k.data))()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, len(k.data))
				var scratch []byte
				for pb.Next() {
					var err error
					if scratch, err = decodeExtent(EncodingZstdShuffle, frame, dst, scratch, crc); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// cpuRate reports, when the returned function runs, the benchmark's
// bytes per second of CPU time of the whole process (user + system): on a
// shared machine a benchmark's wall time says more about the neighbours.
func cpuRate(b *testing.B, size int) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	return func() {
		if d := cpu() - c0; d > 0 {
			b.ReportMetric(float64(size)*float64(b.N)/d.Seconds()/1e6, "MB/cpu-s")
		}
	}
}

// TestPipelineThroughput logs what the writer does with 256 MiB of each
// kind of memory, Create to Commit (fdatasync included), with and without
// compression. Run with -v; skipped in -short mode.
func TestPipelineThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping 1.5 GiB of writes in -short mode")
	}
	const size = 256 << 20
	kinds := []struct {
		name string
		data []byte
	}{
		{"doubles", doublesData(32<<20, 1)},
		{"random", randomData(32<<20, 1)},
		{"zero", zeroData(32 << 20)},
	}
	for _, k := range kinds {
		for _, c := range []Compression{CompressNone, CompressZstd} {
			dir := filepath.Join(t.TempDir(), "ckpt")
			start := time.Now()
			w, err := Create(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.SetCompression(c)
			for off := 0; off < size; off += len(k.data) {
				if err := w.AddPages(100, heapStart+uint64(off), k.data); err != nil {
					t.Fatal(err)
				}
			}
			added := time.Since(start)
			commitCompressed(t, w, size)
			total := time.Since(start)
			fi, _ := os.Stat(filepath.Join(dir, pageFileName(100)))
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 32<<20)
			start = time.Now()
			for off := 0; off < size; off += len(buf) {
				if err := r.ReadPages(100, heapStart+uint64(off), buf); err != nil {
					t.Fatal(err)
				}
			}
			read := time.Since(start)
			r.Close()
			t.Logf("%-8s %-5s AddPages %s, durable %s, ReadPages (cached) %s, file %.1f%% of memory",
				k.name, c, gibps(size, added), gibps(size, total), gibps(size, read), 100*float64(fi.Size())/size)
			os.RemoveAll(dir)
		}
	}
}

// gridData is an array of grid coordinates (k/4 as doubles): compresses
// to a few percent.
func gridData(n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], math.Float64bits(float64(i/8)*0.25))
	}
	return b
}

// TestCompressAuto: auto stores zero blocks as zero extents, compresses
// blocks whose sample halves (a grid), and stores the rest raw (memhog's
// doubles, random data); everything reads back.
func TestCompressAuto(t *testing.T) {
	mem := slices.Concat(zeroData(2<<20), gridData(2<<20), memhogDoubles(2<<20), randomData(1<<20, 5))
	dir := filepath.Join(t.TempDir(), "ckpt")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.SetCompression(CompressAuto)
	if err := w.AddPages(100, heapStart, mem); err != nil {
		t.Fatal(err)
	}
	commitCompressed(t, w, uint64(len(mem)))
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	enc := func(off int) string {
		for _, e := range r.Extents(100) {
			if uint64(e.Vaddr) <= heapStart+uint64(off) && heapStart+uint64(off) < e.End() {
				return e.Encoding
			}
		}
		return "missing"
	}
	for _, c := range []struct {
		off  int
		want string
	}{{0, EncodingZero}, {2 << 20, EncodingZstdShuffle}, {4 << 20, EncodingRaw}, {6 << 20, EncodingRaw}} {
		if got := enc(c.off); got != c.want {
			t.Errorf("block at +%#x stored %q, want %q", c.off, got, c.want)
		}
	}
	if err := r.VerifyAll(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(mem))
	if err := r.ReadPages(100, heapStart, got); err != nil || !bytes.Equal(got, mem) {
		t.Fatalf("ReadPages: %v, equal %v", err, bytes.Equal(got, mem))
	}
}

// commitCompressed finishes an image of pid 100 holding size bytes of heap.
func commitCompressed(t testing.TB, w *Writer, size uint64) {
	t.Helper()
	if err := w.WriteProcess(compressedProcess(100, size)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMeta(sampleMeta(100)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestCompressSmallBlocks: blocks too small to sample (the scattered runs an
// incremental checkpoint saves) are stored raw without a try once the
// stream has been incompressible, but one in smallProbeEvery is still
// tried, so compressible data that follows is compressed again.
func TestCompressSmallBlocks(t *testing.T) {
	const n, size = 64, 8 << 10
	var mem [][]byte
	for i := range n {
		mem = append(mem, randomData(size, uint64(i)))
	}
	for range n {
		mem = append(mem, gridData(size))
	}
	raw, compressed, _ := autoBlocks(t, mem, size, n, "random")
	// The first probe comes within smallProbeEvery blocks (two workers may
	// each store one more raw before the stream is reset).
	if raw > smallProbeEvery+2 || compressed < n-smallProbeEvery-2 {
		t.Errorf("compressible small blocks after random ones: %d raw, %d compressed", raw, compressed)
	}
}

// autoBlocks writes each block of mem (size bytes) as an extent of its own
// with CompressAuto, checks that the first n are stored raw (first names
// them), reads every block back, and returns how the others were stored
// and how many samples the page file tried.
func autoBlocks(t *testing.T, mem [][]byte, size, n int, first string) (raw, compressed int, sampled int32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ckpt")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.SetCompression(CompressAuto)
	addr := func(i int) uint64 { return heapStart + uint64(i)*2*uint64(size) } // a hole between: one extent each
	for i, b := range mem {
		if err := w.AddPages(100, addr(i), b); err != nil {
			t.Fatal(err)
		}
	}
	pf := w.pages[100]
	commitCompressed(t, w, uint64(2*len(mem)*size)) // one mapping over all of them
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, e := range r.Extents(100) {
		i := int((uint64(e.Vaddr) - heapStart) / uint64(2*size))
		switch {
		case i < n && e.Encoding != EncodingRaw:
			t.Errorf("%s block %d stored %q", first, i, e.Encoding)
		case i >= n && e.Encoding == EncodingRaw:
			raw++
		case i >= n:
			compressed++
		}
	}
	for i, b := range mem {
		got := make([]byte, size)
		if err := r.ReadPages(100, addr(i), got); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("block %d: ReadPages: %v, equal %v", i, err, bytes.Equal(got, b))
		}
	}
	return raw, compressed, pf.sampled.Load()
}

// TestCompressAutoSkipsSamples: with auto, a stream of blocks whose
// samples shrink but do not halve (memhog's doubles) stops paying a sample
// for every block: after autoMissesToSkip misses, one block in
// autoProbeEvery is sampled. Blocks that compress well after them are
// found at the next probe, and everything reads back.
func TestCompressAutoSkipsSamples(t *testing.T) {
	const n = 48
	var mem [][]byte
	for range n {
		mem = append(mem, memhogDoubles(BlockSize))
	}
	for range n {
		mem = append(mem, gridData(BlockSize))
	}
	raw, compressed, sampled := autoBlocks(t, mem, BlockSize, n, "doubles")
	// Workers run in parallel: each may sample (or skip) one block more
	// than a sequential count says.
	slack := runtime.GOMAXPROCS(0) + 1
	if most := int32(autoMissesToSkip + n/autoProbeEvery + autoProbeEvery + n + slack); sampled > most {
		t.Errorf("%d samples tried for %d blocks, want at most %d", sampled, 2*n, most)
	}
	if raw > autoProbeEvery+slack {
		t.Errorf("compressible blocks after the doubles: %d raw, %d compressed; want at most %d raw", raw, compressed, autoProbeEvery+slack)
	}
}
