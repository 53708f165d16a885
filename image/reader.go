package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Reader is an open image. Open has checked the manifest (self-checksum,
// magic, version, features), that every listed file exists with its listed
// size, and every metadata file's checksum and content. Page data and blobs
// are checked only by Verify, which restore calls before anything runs.
//
// The metadata returned by the accessors is shared: treat it as read-only.
// A Reader is safe for concurrent use.
type Reader struct {
	dir      string
	manifest *Manifest
	files    map[string]FileEntry
	meta     *Meta
	procs    map[int]*Process
	order    []*Process
	byPID    map[int][]PageExtent    // sorted by Vaddr
	byFile   map[string][]PageExtent // sorted by Offset

	mu     sync.Mutex
	open   map[string]*os.File
	maps   map[string][]byte
	closed bool
	// sidecars: page checksum files read (pagecrc.go), by refKey; nil
	// for one tried and unusable.
	sidecars map[string][]uint32

	read atomic.Int64 // bytes read by Verify, ReadPages and MapExtent, for progress
}

// BytesRead is how many bytes Verify, ReadPages and MapExtent have read (or
// mapped) so far, for a progress display.
func (r *Reader) BytesRead() int64 { return r.read.Load() }

// VerifyBytes is how many bytes Verify reads: every page file and blob.
func (r *Reader) VerifyBytes() int64 {
	var n int64
	for _, f := range r.manifest.Files {
		if metadataLimit(f.Name) == 0 {
			n += f.Size
		}
	}
	for _, p := range r.manifest.Parents {
		n += p.Size
	}
	return n
}

// PageBytes is the size of all saved memory (what ReadPages reads).
func (r *Reader) PageBytes() int64 {
	var n int64
	for _, list := range r.byPID {
		for _, e := range list {
			n += int64(e.Length)
		}
	}
	return n
}

// Open opens the image in dir and validates everything but the page data
// and blobs (see Verify). Errors about the image are *Error wrapping
// ErrImageIncomplete (no manifest), ErrImageCorrupt or ErrImageVersion, and
// name the offending file; I/O errors are returned wrapped.
func Open(dir string) (*Reader, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("image: %s is not a directory", dir)
	}
	r := &Reader{dir: dir, open: make(map[string]*os.File), maps: make(map[string][]byte)}

	mb, err := r.readFile(ManifestFile, nil, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(dir, mb)
	if err != nil {
		return nil, err
	}
	r.manifest = m
	r.files = make(map[string]FileEntry, len(m.Files))
	dataFiles := make(map[string]int64)
	for _, f := range m.Files {
		r.files[f.Name] = f
		if err := r.checkPresent(f); err != nil {
			return nil, err
		}
		if metadataLimit(f.Name) == 0 {
			dataFiles[f.Name] = f.Size
		}
	}

	// image.json
	var meta Meta
	if err := r.readJSON(MetaFile, &meta); err != nil {
		return nil, err
	}
	if err := meta.Validate(); err != nil {
		return nil, r.corrupt(MetaFile, "%v", err)
	}
	r.meta = &meta

	// proc-<pid>.json, one per process and no other.
	r.procs = make(map[int]*Process, len(meta.Processes))
	for _, pid := range meta.Processes {
		name := procFileName(pid)
		if _, ok := r.files[name]; !ok {
			return nil, r.corrupt(name, "not listed in %s, but %s lists pid %d", ManifestFile, MetaFile, pid)
		}
		p := new(Process)
		if err := r.readJSON(name, p); err != nil {
			return nil, err
		}
		if p.PID != pid {
			return nil, r.corrupt(name, "holds pid %d, want %d", p.PID, pid)
		}
		if err := p.Validate(); err != nil {
			return nil, r.corrupt(name, "%v", err)
		}
		r.procs[pid] = p
		r.order = append(r.order, p)
	}
	for name := range r.files {
		if pid, ok := procFilePID(name); ok && r.procs[pid] == nil {
			return nil, r.corrupt(name, "pid %d is not in the processes of %s", pid, MetaFile)
		}
	}

	for _, p := range m.Parents {
		dataFiles[p.key()] = p.Size
	}

	// pagemap.json
	var pm pagemap
	if err := r.readJSON(PagemapFile, &pm); err != nil {
		return nil, err
	}
	byPID, byFile, issue := checkExtents(pm.Extents, r.procs, dataFiles)
	if issue != nil {
		return nil, r.corrupt(issue.file, "%s", issue.detail)
	}
	r.byPID, r.byFile = byPID, byFile
	return r, nil
}

func (r *Reader) corrupt(file, format string, args ...any) error {
	return newError(ErrImageCorrupt, r.dir, file, fmt.Sprintf(format, args...), nil)
}

// sizeMismatch describes a file whose size differs from the manifest's.
func (r *Reader) sizeMismatch(f FileEntry, size int64) error {
	if size < f.Size {
		return r.corrupt(f.Name, "truncated: %s says %d bytes, the file has %d", ManifestFile, f.Size, size)
	}
	return r.corrupt(f.Name, "%s says %d bytes, the file has %d (it grew)", ManifestFile, f.Size, size)
}

// checkPresent checks that a listed file is a regular file of the listed size.
func (r *Reader) checkPresent(f FileEntry) error {
	fi, err := os.Lstat(filepath.Join(r.dir, f.Name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r.corrupt(f.Name, "missing (listed in %s)", ManifestFile)
	case err != nil:
		return fmt.Errorf("image: %w", err)
	case !fi.Mode().IsRegular():
		return r.corrupt(f.Name, "not a regular file but %s", describeType(fi.Mode()))
	case fi.Size() != f.Size:
		return r.sizeMismatch(f, fi.Size())
	}
	return nil
}

// describeType names the type of a file that should be a regular file.
func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return fmt.Sprintf("of type %v", m.Type())
}

// openFile opens a file of the image for reading. Only a regular file is
// accepted: a symbolic link (which could point anywhere), a FIFO (whose open
// would wait for a writer forever), a device or a directory is an error
// naming the file. The open never blocks and never follows a link
// (O_NONBLOCK|O_NOFOLLOW|O_NOCTTY, then fstat), so a file swapped for
// another type between a check and the open is caught too.
func (r *Reader) openFile(name string) (*os.File, error) {
	path := filepath.Join(r.dir, name)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		// Not even opened: opening a device can have side effects.
		return nil, r.corrupt(name, "not a regular file but %s", describeType(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && name == ManifestFile:
		return nil, newError(ErrImageIncomplete, r.dir, name,
			"missing: the checkpoint was never completed (no commit marker)", nil)
	case errors.Is(err, fs.ErrNotExist):
		return nil, r.corrupt(name, "missing (listed in %s)", ManifestFile)
	case errors.Is(err, syscall.ELOOP):
		return nil, r.corrupt(name, "not a regular file but a symbolic link")
	default:
		return nil, fmt.Errorf("image: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, r.corrupt(name, "not a regular file but %s", describeType(fi.Mode()))
	}
	return f, nil
}

// readFile reads a whole metadata file, at most limit bytes, and checks it
// against its manifest entry (entry is nil for the manifest itself).
func (r *Reader) readFile(name string, entry *FileEntry, limit int64) ([]byte, error) {
	f, err := r.openFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, r.corrupt(name, "not a regular file but %s", describeType(fi.Mode()))
	}
	size := fi.Size()
	if size > limit {
		return nil, r.corrupt(name, "%d bytes exceeds the limit of %d", size, limit)
	}
	if entry != nil && size != entry.Size {
		return nil, r.sizeMismatch(*entry, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, r.corrupt(name, "truncated while being read (expected %d bytes)", size)
		}
		return nil, ioError("reading", filepath.Join(r.dir, name), err, "")
	}
	if entry != nil {
		if got := crc32c(b); got != uint32(entry.CRC32C) {
			return nil, r.corrupt(name, "checksum mismatch: expected crc32c %s (from %s), got %s", entry.CRC32C, ManifestFile, formatCRC(got))
		}
	}
	return b, nil
}

// readJSON reads, checks and decodes a listed metadata file.
func (r *Reader) readJSON(name string, v any) error {
	entry, ok := r.files[name]
	if !ok {
		return r.corrupt(name, "not listed in %s", ManifestFile)
	}
	b, err := r.readFile(name, &entry, metadataLimit(name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return r.corrupt(name, "invalid JSON: %v", err)
	}
	return nil
}

// Dir returns the image directory.
func (r *Reader) Dir() string { return r.dir }

// Path returns the path of a file of the image, for example a page file
// named by PageExtent.File, which restore may open or map itself.
func (r *Reader) Path(name string) string { return filepath.Join(r.dir, name) }

// Manifest returns the manifest.
func (r *Reader) Manifest() *Manifest { return r.manifest }

// Meta returns image.json.
func (r *Reader) Meta() *Meta { return r.meta }

// Processes returns every process, parents before children (the order of
// Meta.Processes).
func (r *Reader) Processes() []*Process { return r.order }

// Process returns the process with the given pid, or nil.
func (r *Reader) Process(pid int) *Process { return r.procs[pid] }

// Extents returns the saved page runs of pid, sorted by address.
func (r *Reader) Extents(pid int) []PageExtent { return r.byPID[pid] }

// ExtentsIn returns the saved page runs of pid inside [start, end), sorted by
// address. Every extent lies inside one mapping, so for a mapping's bounds
// this is exactly its saved pages.
func (r *Reader) ExtentsIn(pid int, start, end uint64) []PageExtent {
	list := r.byPID[pid]
	i := sort.Search(len(list), func(i int) bool { return uint64(list[i].Vaddr) >= start })
	j := i
	for j < len(list) && list[j].End() <= end {
		j++
	}
	return list[i:j:j]
}

// dataFileIn returns an open page file, opened once, of generation gen
// ("": the image's own; else a parent listed in the manifest, in the same
// store).
func (r *Reader) dataFileIn(gen, name string) (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("image: %s: reader is closed", r.dir)
	}
	key := refKey(gen, name)
	if f := r.open[key]; f != nil {
		return f, nil
	}
	var f *os.File
	var err error
	if gen == "" {
		f, err = r.openFile(name)
	} else if f, err = openRegular(r.genDir(gen), name); err != nil {
		err = newError(ErrImageCorrupt, r.genDir(gen), name, fmt.Sprintf("parent generation %s of %s: %v", gen, filepath.Base(r.dir), err), nil)
	}
	if err != nil {
		return nil, err
	}
	r.open[key] = f
	return f, nil
}

// ReadPages reads the saved memory of pid in [vaddr, vaddr+len(p)) into p.
// Every page of the range must have been saved; the range may span
// extents. Raw extents are read as they are, zero extents cleared, and zstd
// extents decompressed, several at once (one goroutine per CPU), each
// checked against its data checksum: a frame that does not decompress to
// exactly its extent's bytes is an *Error (ErrImageCorrupt) naming the
// file and extent. It does not verify the checksums of raw data (Verify
// does).
func (r *Reader) ReadPages(pid int, vaddr uint64, p []byte) error {
	end := vaddr + uint64(len(p))
	if end < vaddr {
		return fmt.Errorf("image: ReadPages(pid %d, %#x, %d bytes): range overflows", pid, vaddr, len(p))
	}
	list := r.byPID[pid]
	i := sort.Search(len(list), func(i int) bool { return list[i].End() > vaddr })
	var packed []extentPiece
	for cur := vaddr; cur < end; i++ {
		if i >= len(list) || uint64(list[i].Vaddr) > cur {
			return fmt.Errorf("image: %s: pid %d: memory at %#x is not saved in the image", r.dir, pid, cur)
		}
		e := list[i]
		n := min(end, e.End()) - cur
		dst := p[cur-vaddr : cur-vaddr+n]
		switch e.Encoding {
		case EncodingZero:
			clear(dst)
			r.read.Add(int64(n))
		case EncodingZstd, EncodingZstdShuffle:
			packed = append(packed, extentPiece{e: e, skip: cur - uint64(e.Vaddr), dst: dst})
		default:
			f, err := r.dataFileIn(e.Gen, e.File)
			if err != nil {
				return err
			}
			off := e.Offset + (cur - uint64(e.Vaddr))
			if _, err := f.ReadAt(dst, int64(off)); err != nil {
				if errors.Is(err, io.EOF) {
					return newError(ErrImageCorrupt, r.genDir(e.Gen), e.File, fmt.Sprintf("truncated: pages of pid %d at %#x (offset %d) are past the end of the file", pid, cur, off), nil)
				}
				return ioError("reading", r.ExtentPath(e), err, "")
			}
			r.read.Add(int64(n))
		}
		cur += n
	}
	return r.decodePieces(packed)
}

// extentPiece is the part of a zstd extent ReadPages wants: the extent's
// bytes from skip on, into dst.
type extentPiece struct {
	e    PageExtent
	skip uint64
	dst  []byte
}

// decodePieces decompresses zstd extents into their destinations, in
// parallel.
func (r *Reader) decodePieces(pieces []extentPiece) error {
	if len(pieces) == 0 {
		return nil
	}
	workers := min(len(pieces), runtime.GOMAXPROCS(0))
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stored, part, scratch []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pieces) || errs[k] != nil {
					return
				}
				pc := &pieces[i]
				stored = grow(stored, int(pc.e.Stored))
				whole := pc.dst
				if pc.skip != 0 || uint64(len(pc.dst)) != pc.e.Length {
					part = grow(part, int(pc.e.Length))
					whole = part
				}
				var err error
				if scratch, err = r.decodeExtent(pc.e, stored, whole, scratch); err != nil {
					errs[k] = err
					return
				}
				if &whole[0] != &pc.dst[0] {
					copy(pc.dst, whole[pc.skip:])
				}
				r.read.Add(int64(len(pc.dst)))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// grow returns b resized to n bytes, reallocated if too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// decodeExtent reads zstd extent e's frame into stored (e.Stored long) and
// decompresses it into dst (e.Length long), checking both checksums; it
// returns scratch (see decodeExtent) for the next call.
func (r *Reader) decodeExtent(e PageExtent, stored, dst, scratch []byte) ([]byte, error) {
	f, err := r.dataFileIn(e.Gen, e.File)
	if err != nil {
		return scratch, err
	}
	corrupt := func(format string, args ...any) error {
		return newError(ErrImageCorrupt, r.genDir(e.Gen), e.File, fmt.Sprintf(format, args...), nil)
	}
	if _, err := f.ReadAt(stored, int64(e.Offset)); err != nil {
		if errors.Is(err, io.EOF) {
			return scratch, corrupt("truncated: compressed pages of pid %d at %s (offset %d, %d bytes) are past the end of the file", e.PID, e.Vaddr, e.Offset, e.Stored)
		}
		return scratch, ioError("reading", r.ExtentPath(e), err, "")
	}
	if got := crc32c(stored); got != uint32(e.CRC32C) {
		return scratch, corrupt("checksum mismatch in compressed pages of pid %d at %s-%#x (file offset %d, %d bytes stored): expected crc32c %s (from %s), got %s",
			e.PID, e.Vaddr, e.End(), e.Offset, e.Stored, e.CRC32C, PagemapFile, formatCRC(got))
	}
	if scratch, err = decodeExtent(e.Encoding, stored, dst, scratch, uint32(e.DataCRC32C)); err != nil {
		return scratch, corrupt("%s-compressed pages of pid %d at %s-%#x (file offset %d, %d bytes stored): %v", e.Encoding, e.PID, e.Vaddr, e.End(), e.Offset, e.Stored, err)
	}
	return scratch, nil
}

// MapExtent returns the bytes of a raw extent, mapped read-only from its
// page file (the whole file is mapped once, MAP_SHARED, and unmapped by
// Close). A zstd or zero extent cannot be mapped: that is an error.
// The slice must not be used after Close. If the file were truncated behind
// the Reader's back, touching the slice would raise SIGBUS.
func (r *Reader) MapExtent(e PageExtent) ([]byte, error) {
	if e.Encoding != EncodingRaw {
		return nil, fmt.Errorf("image: %s: pages of pid %d at %s are stored %s, not raw: they cannot be mapped (ReadPages decodes them)", r.ExtentPath(e), e.PID, e.Vaddr, e.Encoding)
	}
	entry, ok := r.files[e.File]
	if e.Gen != "" {
		p, found := r.ParentFileOf(e)
		entry, ok = FileEntry{Name: e.File, Size: p.Size, CRC32C: p.CRC32C}, found
	}
	if !ok {
		return nil, fmt.Errorf("image: %s: no page file %q", r.dir, refKey(e.Gen, e.File))
	}
	if e.Offset > uint64(entry.Size) || e.Length > uint64(entry.Size)-e.Offset {
		return nil, fmt.Errorf("image: %s: extent at offset %d, length %d is outside the file (%d bytes)", r.ExtentPath(e), e.Offset, e.Length, entry.Size)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("image: %s: reader is closed", r.dir)
	}
	m, ok := r.maps[refKey(e.Gen, e.File)]
	if !ok {
		var f *os.File
		var err error
		if e.Gen == "" {
			f, err = r.openFile(e.File)
		} else if f, err = openRegular(r.genDir(e.Gen), e.File); err != nil {
			err = newError(ErrImageCorrupt, r.genDir(e.Gen), e.File, fmt.Sprintf("parent generation %s of %s: %v", e.Gen, filepath.Base(r.dir), err), nil)
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		if fi.Size() != entry.Size {
			return nil, r.sizeMismatch(entry, fi.Size())
		}
		if entry.Size > 0 {
			m, err = unix.Mmap(int(f.Fd()), 0, int(entry.Size), unix.PROT_READ, unix.MAP_SHARED)
			if err != nil {
				return nil, ioError("mapping", r.ExtentPath(e), os.NewSyscallError("mmap", err), "")
			}
		}
		r.maps[refKey(e.Gen, e.File)] = m
	}
	end := e.Offset + e.Length
	r.read.Add(int64(e.Length)) // the caller copies it next
	return m[e.Offset:end:end], nil
}

// Blob is an open blob of an image.
type Blob struct {
	*io.SectionReader
	f *os.File
}

// Close closes the blob.
func (b *Blob) Close() error { return b.f.Close() }

// OpenBlob opens the blob written with Writer.CreateBlob(name). Its checksum
// is checked by Verify, not while reading.
func (r *Reader) OpenBlob(name string) (*Blob, error) {
	file := blobFileName(name)
	entry, ok := r.files[file]
	if !ok {
		return nil, fmt.Errorf("image: %s: no blob %q in the image", r.dir, name)
	}
	f, err := r.openFile(file)
	if err != nil {
		return nil, err
	}
	return &Blob{SectionReader: io.NewSectionReader(f, 0, entry.Size), f: f}, nil
}

// verifyBufSize is the read size of Verify.
const verifyBufSize = 4 << 20

// Verify checks the checksum of every page file and blob (metadata was
// checked by Open): for a page file, each extent's CRC-32C from
// pagemap.json and the whole file's from the manifest. Restore calls it
// before running anything. A mismatch is an *Error wrapping
// ErrImageCorrupt that names the file and, for page data, the process,
// address range and file offset.
func (r *Reader) Verify() error { return r.verify(false) }

// VerifyAll is Verify that also decompresses every compressed extent (on
// every CPU) and checks it against its data checksum, as ReadPages does
// when it reads it: an image that passes VerifyAll reads back whole. A
// restore calls Verify and leaves these checks to ReadPages, which makes
// them anyway: a frame that passes its stored checksum yet decompresses
// wrong was crafted, not damaged.
func (r *Reader) VerifyAll() error { return r.verify(true) }

func (r *Reader) verify(decode bool) error {
	buf := make([]byte, verifyBufSize)
	for _, f := range r.manifest.Files {
		if metadataLimit(f.Name) != 0 {
			continue
		}
		if err := r.verifyFile(f, buf, decode); err != nil {
			return err
		}
	}
	if err := r.verifyParents(buf); err != nil {
		return err
	}
	if decode {
		return r.decodeRefs()
	}
	return nil
}

func (r *Reader) verifyFile(entry FileEntry, buf []byte, decode bool) error {
	f, err := r.openFile(entry.Name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if fi.Size() != entry.Size {
		return r.sizeMismatch(entry, fi.Size())
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)

	// hashRange returns the CRC of the next n bytes of the file.
	hashRange := func(n uint64) (uint32, error) {
		var crc uint32
		for n > 0 {
			chunk := buf[:min(uint64(len(buf)), n)]
			if _, err := io.ReadFull(f, chunk); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return 0, r.corrupt(entry.Name, "truncated while being verified (expected %d bytes)", entry.Size)
				}
				return 0, ioError("reading", r.Path(entry.Name), err, "")
			}
			crc = crc32cUpdate(crc, chunk)
			n -= uint64(len(chunk))
			r.read.Add(int64(len(chunk)))
		}
		return crc, nil
	}

	var whole uint32
	if extents := r.byFile[entry.Name]; len(extents) > 0 {
		// The extents tile the file (checked by Open), in offset order;
		// zero extents take no room. With decode, compressed ones are
		// decompressed, on the other CPUs, and checked against their
		// data checksum.
		dec := r.newVerifyDecoder(decode)
		defer dec.stop()
		for _, e := range extents {
			switch e.Encoding {
			case EncodingZero:
				continue
			case EncodingZstd, EncodingZstdShuffle:
				stored := dec.buffer(int(e.Stored))
				if _, err := io.ReadFull(f, stored); err != nil {
					if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
						return r.corrupt(entry.Name, "truncated while being verified (expected %d bytes)", entry.Size)
					}
					return ioError("reading", r.Path(entry.Name), err, "")
				}
				r.read.Add(int64(len(stored)))
				crc := crc32c(stored)
				if crc != uint32(e.CRC32C) {
					return r.corrupt(entry.Name, "checksum mismatch in compressed pages of pid %d at %s-%#x (file offset %d, %d bytes stored): expected crc32c %s (from %s), got %s",
						e.PID, e.Vaddr, e.End(), e.Offset, e.Stored, e.CRC32C, PagemapFile, formatCRC(crc))
				}
				whole = crc32cCombine(whole, crc, e.Stored)
				if err := dec.decode(e, stored); err != nil {
					return err
				}
				pad, err := hashRange(e.FileSpan() - e.Stored)
				if err != nil {
					return err
				}
				whole = crc32cCombine(whole, pad, e.FileSpan()-e.Stored)
			default:
				crc, err := hashRange(e.Length)
				if err != nil {
					return err
				}
				if crc != uint32(e.CRC32C) {
					return r.corrupt(entry.Name, "checksum mismatch in pages of pid %d at %s-%#x (file offset %d, %d bytes): expected crc32c %s (from %s), got %s",
						e.PID, e.Vaddr, e.End(), e.Offset, e.Length, e.CRC32C, PagemapFile, formatCRC(crc))
				}
				whole = crc32cCombine(whole, crc, e.Length)
			}
		}
		if err := dec.stop(); err != nil {
			return err
		}
	} else if whole, err = hashRange(uint64(entry.Size)); err != nil {
		return err
	}
	if whole != uint32(entry.CRC32C) {
		return r.corrupt(entry.Name, "checksum mismatch: expected crc32c %s (from %s), got %s", entry.CRC32C, ManifestFile, formatCRC(whole))
	}
	return nil
}

// verifyDecoder decompresses the zstd extents Verify reads, on worker
// goroutines, and keeps the first failure.
type verifyDecoder struct {
	r       *Reader
	workers int // 0: check the stored bytes only
	jobs    chan verifyJob
	free    chan []byte
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	stopped bool
}

type verifyJob struct {
	e      PageExtent
	stored []byte
}

func (r *Reader) newVerifyDecoder(decode bool) *verifyDecoder {
	n := runtime.GOMAXPROCS(0)
	if !decode {
		n = 0 // buffers only
	}
	d := &verifyDecoder{r: r, jobs: make(chan verifyJob, n), free: make(chan []byte, 2*max(n, 1))}
	for range 2 * max(n, 1) {
		d.free <- nil
	}
	d.workers = n
	for range n {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			var out, scratch []byte
			for j := range d.jobs {
				out = grow(out, int(j.e.Length))
				var err error
				if scratch, err = decodeExtent(j.e.Encoding, j.stored, out, scratch, uint32(j.e.DataCRC32C)); err != nil {
					d.mu.Lock()
					if d.err == nil {
						d.err = r.corrupt(j.e.File, "%s-compressed pages of pid %d at %s-%#x (file offset %d, %d bytes stored): %v", j.e.Encoding, j.e.PID, j.e.Vaddr, j.e.End(), j.e.Offset, j.e.Stored, err)
					}
					d.mu.Unlock()
				}
				d.free <- j.stored
			}
		}()
	}
	return d
}

// buffer returns a buffer of n bytes for the next frame (waiting while
// every buffer is being decoded).
func (d *verifyDecoder) buffer(n int) []byte { return grow(<-d.free, n) }

// decode queues a frame read into a buffer from buffer; it returns the
// first failure so far.
func (d *verifyDecoder) decode(e PageExtent, stored []byte) error {
	if d.workers == 0 {
		d.free <- stored
		return nil
	}
	d.jobs <- verifyJob{e: e, stored: stored}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// stop waits for the workers and returns the first failure.
func (d *verifyDecoder) stop() error {
	if !d.stopped {
		d.stopped = true
		close(d.jobs)
		d.wg.Wait()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Close releases the files and mappings of the Reader. Metadata stays
// usable; slices from MapExtent do not.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for name, f := range r.open {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("image: closing %s: %w", r.Path(name), err))
		}
	}
	for name, m := range r.maps {
		if m == nil {
			continue
		}
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("image: unmapping %s: %w", r.Path(name), err))
		}
	}
	r.open, r.maps = nil, nil
	return errors.Join(errs...)
}
