package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Writer writes one image. It writes every file into a temporary
// directory next to the target (".<name>.tmp-<random>", which readers and
// stores ignore), and Commit makes the image appear under its final name
// atomically, complete and durable:
//
//  1. every file is created with O_EXCL, mode 0600, in a 0700 directory;
//  2. Commit fsyncs and closes every file, writes pagemap.json, then
//     MANIFEST.json — listing every file with size and CRC-32C — last, and
//     fsyncs both;
//  3. it fsyncs the temporary directory, renames it to the final name
//     (renameat2 RENAME_NOREPLACE), and fsyncs the parent directory.
//
// Nothing before Commit waits for the disk: an engine can let the program run
// again as soon as it has handed over the state, and then Commit.
//
// Any error is final: the Writer removes its temporary directory before
// returning the error (freeing the space at once when the disk is full), and
// every later call returns the same error. The previous image is never
// touched. Abort does the same on request; call it deferred, it does nothing
// after a successful Commit:
//
//	w, err := store.Create()
//	if err != nil { … }
//	defer w.Abort()
//	… w.AddPages(pid, vaddr, buf) … w.WriteProcess(p) … w.WriteMeta(m) …
//	dir, err := w.Commit()
//
// Methods may be called from several goroutines at once, except Commit and
// Abort, which must not run concurrently with the others. AddPages calls for
// different processes write different files and run in parallel.
type Writer struct {
	parent string // directory holding tmp and final
	tmp    string // the temporary directory
	final  string // the final directory (may change once for a store, see Commit)
	store  *Store // nil for an image written to an explicit directory
	target targetKind
	dirf   *os.File // tmp, open and flocked for the writer's life

	mu         sync.Mutex
	state      writerState
	err        error                  // the first error, returned by every call after it
	cleanupErr error                  // removing the temporary directory failed
	unsynced   []*os.File             // finished files Commit must fsync
	names      map[string]bool        // file names taken
	entries    []FileEntry            // finished files (not page files)
	pages      map[int]*pageFile      // page file per pid
	blobs      map[string]*BlobWriter // open blobs
	meta       *Meta
	procs      map[int]*Process // VMAs kept to check and merge extents
	features   map[string]bool
	chainable  bool                  // keep extents unmerged (SetChainable)
	parents    map[string]ParentFile // page files of other generations (AddParent)
	refs       []PageExtent          // extents in them (AddRef)

	compress Compression // how AddPages stores pages (SetCompression)
	noDirect bool        // page files only through the page cache (SetDirectIO)
	// directBytes counts the page file bytes written with O_DIRECT.
	directBytes atomic.Int64
	pipe        *pipeline // started with the first page file
	pipeStop    sync.Once

	written atomic.Int64 // page bytes written, for progress
}

// SetCompression sets how the pages of later AddPages calls are stored:
// CompressNone (the default: raw, readable by any crrun), CompressAuto or
// CompressZstd (see compress.go).
func (w *Writer) SetCompression(c Compression) {
	w.mu.Lock()
	w.compress = c
	w.mu.Unlock()
}

// BytesWritten is how many bytes of memory AddPages has written so far (for
// a progress display).
func (w *Writer) BytesWritten() int64 { return w.written.Load() }

type writerState int

const (
	writerOpen writerState = iota
	writerCommitting
	writerCommitted
	writerFailed
)

type targetKind int

const (
	targetNew      targetKind = iota // final does not exist
	targetEmptyDir                   // final is an empty directory, removed at commit
	targetReplace                    // final is an image, exchanged at commit
)

// errAborted is the error of calls after Abort.
var errAborted = errors.New("image writer aborted")

// pageFile is one process's page file, written sequentially by its
// writer goroutine (loop) from the blocks AddPages queues.
type pageFile struct {
	mu   sync.Mutex
	name string
	f    *os.File // nil once closed
	// direct is a second fd of the file opened with O_DIRECT (-1: none,
	// or given up): page-aligned batches are written through it, without
	// the copy into the page cache (directio.go).
	direct  int
	broken  bool  // a write failed: later blocks are dropped
	err     error // why
	size    int64
	crc     uint32 // of the whole file so far
	extents []PageExtent

	qmu      sync.Mutex  // orders the blocks of concurrent AddPages
	qclosed  bool        // queue closed (Commit, or the writer failed)
	queue    chan *block // to loop, in file order
	loopDone chan struct{}

	// wantPages: a page checksum file is made for this page file
	// (pagecrc.go), set at creation; sidecar: it is still whole (pf.mu);
	// pageCRCs holds one CRC-32C per page of the file so far.
	wantPages bool
	sidecar   bool
	pageCRCs  []uint32

	incompressible atomic.Int32 // blocks in a row that did not compress
	smallProbes    atomic.Int32 // small blocks seen while incompressible (pipeline.go)
	// CompressAuto (pipeline.go): samples in a row that did not halve,
	// blocks that skipped their sample since, and samples tried.
	sampleMisses atomic.Int32
	sampleSkips  atomic.Int32
	sampled      atomic.Int32
}

// CreateOptions are options for Create.
type CreateOptions struct {
	// Replace allows the target directory to be an existing crrun image
	// (it has a MANIFEST.json). Commit swaps the new image in atomically
	// (renameat2 RENAME_EXCHANGE) and then removes the old one; until
	// then the old image stays intact.
	Replace bool
}

// Create starts writing an image to the explicit directory dir, which must
// not exist, or be an empty directory, or (with opts.Replace) be an image.
// For checkpoints kept as generations use Store.Create.
func Create(dir string, opts *CreateOptions) (*Writer, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	final, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image: create %s: %w", dir, err)
	}
	parent, base := filepath.Split(final)
	if base == "" || base == "." || base == ".." {
		return nil, fmt.Errorf("image: create %s: not a usable directory name", dir)
	}
	target := targetNew
	if fi, err := os.Lstat(final); err == nil {
		switch {
		case !fi.IsDir():
			return nil, fmt.Errorf("image: create %s: exists and is not a directory", final)
		case isEmptyDir(final):
			target = targetEmptyDir
		case !fileExists(filepath.Join(final, ManifestFile)):
			return nil, fmt.Errorf("image: create %s: exists and is neither empty nor a crrun image (no %s); refusing to replace it", final, ManifestFile)
		case !opts.Replace:
			return nil, fmt.Errorf("image: create %s: an image already exists there (use the replace option to replace it)", final)
		default:
			target = targetReplace
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image: create: %w", err)
	}
	return newWriter(filepath.Clean(parent), "."+base+".tmp-", final, nil, target)
}

func newWriter(parent, tmpPrefix, final string, store *Store, target targetKind) (*Writer, error) {
	// os.MkdirTemp creates the directory exclusively, mode 0700.
	tmp, err := os.MkdirTemp(parent, tmpPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("image: creating temporary directory in %s: %w", parent, err)
	}
	dirf, err := os.Open(tmp)
	if err == nil {
		err = lockDir(dirf)
		if err != nil {
			dirf.Close()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("image: locking temporary directory %s: %w", tmp, err)
	}
	return &Writer{
		parent:   parent,
		tmp:      tmp,
		final:    final,
		store:    store,
		target:   target,
		dirf:     dirf,
		names:    make(map[string]bool),
		pages:    make(map[int]*pageFile),
		blobs:    make(map[string]*BlobWriter),
		procs:    make(map[int]*Process),
		features: make(map[string]bool),
	}, nil
}

// Dir returns the directory the image will have after Commit. For a store
// it can still change at Commit (see Store.Create).
func (w *Writer) Dir() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.final
}

// TempDir returns the temporary directory the image is being written into.
func (w *Writer) TempDir() string { return w.tmp }

// usable returns the error that stops new work, if any.
func (w *Writer) usable() error {
	switch w.state {
	case writerOpen:
		return nil
	case writerFailed:
		return w.err
	case writerCommitting:
		return fmt.Errorf("image: %s: writer is committing", w.tmp)
	default:
		return fmt.Errorf("image: %s: writer already committed", w.final)
	}
}

// fail makes err final: it records it, closes every file and removes the
// temporary directory. It returns the first error recorded.
func (w *Writer) fail(err error) error {
	w.mu.Lock()
	if w.state == writerFailed || w.state == writerCommitted {
		first := w.err
		w.mu.Unlock()
		if first == nil {
			return err
		}
		return first
	}
	w.state = writerFailed
	w.err = err
	pages := make([]*pageFile, 0, len(w.pages))
	for _, pf := range w.pages {
		pages = append(pages, pf)
	}
	blobs := make([]*BlobWriter, 0, len(w.blobs))
	for _, b := range w.blobs {
		blobs = append(blobs, b)
	}
	unsynced := w.unsynced
	w.unsynced = nil
	w.mu.Unlock()

	for _, f := range unsynced {
		f.Close()
	}
	for _, pf := range pages {
		pf.closeQueue() // the loops drop what is queued
	}
	w.stopPipeline()
	for _, pf := range pages {
		pf.mu.Lock() // waits for a write in progress
		if pf.f != nil {
			pf.f.Close()
			pf.f = nil
		}
		pf.closeDirect()
		pf.mu.Unlock()
	}
	for _, b := range blobs {
		b.mu.Lock()
		if b.f != nil {
			b.f.Close()
			b.f = nil
		}
		b.mu.Unlock()
	}
	if rerr := os.RemoveAll(w.tmp); rerr != nil {
		rmErr := fmt.Errorf("image: removing temporary directory %s: %w", w.tmp, rerr)
		err = errors.Join(err, rmErr)
		w.mu.Lock()
		w.err = err
		w.cleanupErr = rmErr
		w.mu.Unlock()
	}
	w.dirf.Close() // releases the flock
	return err
}

// Abort discards the image: it closes every file and removes the temporary
// directory. It does nothing after a successful Commit or after an error
// (which already removed it), so it can always be deferred. It returns an
// error only if the directory could not be removed.
func (w *Writer) Abort() error {
	w.mu.Lock()
	state := w.state
	w.mu.Unlock()
	if state == writerCommitted || state == writerFailed {
		return nil
	}
	w.fail(errAborted)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cleanupErr
}

// ioError wraps an I/O error so that the message names the file, and
// errors.Is still finds the errno (syscall.ENOSPC, …).
func ioError(op, path string, err error, context string) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if context != "" {
		context = " (" + context + ")"
	}
	return fmt.Errorf("image: %s %s%s: %w", op, path, context, err)
}

// AddPages saves len(data) bytes of memory of process pid starting at vaddr.
// vaddr and len(data) must be multiples of PageSize. It does not copy data:
// it hands it to the writer's pipeline (checksum, compression, write; see
// pipeline.go) and returns once nothing reads data any more, so data may be
// reused as soon as AddPages returns; the writes themselves may still be
// under way. Calls may come from several goroutines; the calls for one pid
// are stored in the order they were made. Each call becomes one or more
// extents of the page index (raw ones that follow each other inside one
// mapping are merged at Commit); every extent must lie inside one of the
// mappings given to WriteProcess for pid, checked at Commit.
//
// Errors (ENOSPC, EIO…) name the page file and are final; one may be
// returned by a later call, or by Commit.
func (w *Writer) AddPages(pid int, vaddr uint64, data []byte) error {
	done := make(chan struct{})
	pf, err := w.addPages(pid, vaddr, data, func() { close(done) })
	<-done
	if err != nil || pf == nil {
		return err
	}
	pf.mu.Lock()
	err = pf.err
	pf.mu.Unlock()
	if err != nil {
		return w.fail(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.usable()
}

// AddPagesAsync is AddPages that takes data over: it returns as soon as
// data is queued (it waits only while the pipeline is full), and calls
// release, from another goroutine, once the Writer no longer reads data;
// until then the caller must not change it. release is called exactly once,
// also when AddPagesAsync returns an error (possibly before it returns).
// With several buffers in turn, the caller reads the next piece of memory
// while the pipeline compresses and writes the previous ones.
func (w *Writer) AddPagesAsync(pid int, vaddr uint64, data []byte, release func()) error {
	_, err := w.addPages(pid, vaddr, data, release)
	return err
}

func (w *Writer) addPages(pid int, vaddr uint64, data []byte, release func()) (*pageFile, error) {
	if len(data) == 0 {
		release()
		return nil, nil
	}
	if pid <= 0 || vaddr%PageSize != 0 || len(data)%PageSize != 0 || vaddr > maxUserAddr || uint64(len(data)) > maxUserAddr-vaddr {
		release()
		return nil, w.fail(fmt.Errorf("image: AddPages(pid %d, vaddr %#x, %d bytes): pid must be positive, address and length multiples of %d in user space",
			pid, vaddr, len(data), PageSize))
	}
	pf, err := w.pageFile(pid)
	if err != nil {
		release()
		return nil, err
	}
	g := &group{release: release}
	return pf, w.submit(pf, pid, vaddr, data, g)
}

// stopPipeline ends the workers once no page file takes blocks any more.
func (w *Writer) stopPipeline() {
	w.mu.Lock()
	p := w.pipe
	w.mu.Unlock()
	if p == nil {
		return
	}
	w.pipeStop.Do(func() { close(p.work) })
}

// drainPages waits until every queued block is written (Commit).
func (w *Writer) drainPages() {
	for _, pf := range w.pages {
		pf.closeQueue()
	}
	for _, pf := range w.pages {
		<-pf.loopDone
	}
	w.stopPipeline()
	if w.pipe != nil {
		w.pipe.wg.Wait()
	}
}

// pageFile returns pid's page file, creating it on first use.
func (w *Writer) pageFile(pid int) (*pageFile, error) {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	if pf := w.pages[pid]; pf != nil {
		w.mu.Unlock()
		return pf, nil
	}
	name := pageFileName(pid)
	f, err := w.createLocked(name)
	if err != nil {
		w.mu.Unlock()
		return nil, w.fail(err)
	}
	p := w.startPipeline()
	pf := &pageFile{name: name, f: f, direct: w.openDirect(name), queue: make(chan *block, maxInFlight()), loopDone: make(chan struct{}),
		wantPages: w.chainable, sidecar: w.chainable}
	w.pages[pid] = pf
	go w.loop(pf, p)
	w.mu.Unlock()
	return pf, nil
}

// createLocked creates a new file in the temporary directory. w.mu is held.
func (w *Writer) createLocked(name string) (*os.File, error) {
	if w.names[name] {
		return nil, fmt.Errorf("image: %s: file written twice", filepath.Join(w.tmp, name))
	}
	w.names[name] = true
	path := filepath.Join(w.tmp, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, ioError("creating", path, err, "")
	}
	return f, nil
}

// PageWriter returns an io.Writer that saves memory of pid starting at vaddr:
// each Write is an AddPages at the next address, so each must be a multiple
// of PageSize long.
func (w *Writer) PageWriter(pid int, vaddr uint64) io.Writer {
	return &pageWriter{w: w, pid: pid, vaddr: vaddr}
}

type pageWriter struct {
	w     *Writer
	pid   int
	vaddr uint64
}

func (pw *pageWriter) Write(p []byte) (int, error) {
	if err := pw.w.AddPages(pw.pid, pw.vaddr, p); err != nil {
		return 0, err
	}
	pw.vaddr += uint64(len(p))
	return len(p), nil
}

// WriteMeta writes image.json. It must be called once before Commit. If
// m.Created is zero the file gets the current time (m is not modified).
func (w *Writer) WriteMeta(m *Meta) error {
	mc := *m
	if mc.Created.IsZero() {
		mc.Created = time.Now()
	}
	if err := mc.Validate(); err != nil {
		return w.fail(fmt.Errorf("image: %s: %w", filepath.Join(w.tmp, MetaFile), err))
	}
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	w.meta = &mc
	w.mu.Unlock()
	return w.writeJSON(MetaFile, &mc, MaxMetaSize)
}

// WriteProcess writes proc-<pid>.json. It must be called once for every pid
// of Meta.Processes, and for no other.
func (w *Writer) WriteProcess(p *Process) error {
	name := procFileName(p.PID)
	if err := p.Validate(); err != nil {
		return w.fail(fmt.Errorf("image: %s: %w", filepath.Join(w.tmp, name), err))
	}
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	// Keep what Commit needs to check and merge page extents.
	w.procs[p.PID] = &Process{PID: p.PID, Memory: slices.Clone(p.Memory)}
	w.mu.Unlock()
	return w.writeJSON(name, p, MaxProcessSize)
}

// RequireFeature records that the image uses a feature readers must know
// (see KnownFeatures); older readers will refuse it with ErrImageVersion.
func (w *Writer) RequireFeature(name string) {
	w.mu.Lock()
	w.features[name] = true
	w.mu.Unlock()
}

// writeJSON writes v, indented, as the new file name.
func (w *Writer) writeJSON(name string, v any, limit int64) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return w.fail(fmt.Errorf("image: encoding %s: %w", name, err))
	}
	b = append(b, '\n')
	if int64(len(b)) > limit {
		return w.fail(fmt.Errorf("image: %s: %d bytes, over the limit of %d readers accept", filepath.Join(w.tmp, name), len(b), limit))
	}
	return w.writeFile(name, b)
}

// writeFile writes a whole new file and records it (Commit fsyncs it).
func (w *Writer) writeFile(name string, b []byte) error {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	f, err := w.createLocked(name)
	w.mu.Unlock()
	if err != nil {
		return w.fail(err)
	}
	path := filepath.Join(w.tmp, name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return w.fail(ioError("writing", path, err, ""))
	}
	return w.finished(f, FileEntry{Name: name, Size: int64(len(b)), CRC32C: CRC32C(crc32c(b))})
}

// finished records a completely written file. It stays open until Commit
// fsyncs it: no call before Commit waits for the disk.
func (w *Writer) finished(f *os.File, e FileEntry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		f.Close()
		return err
	}
	w.entries = append(w.entries, e)
	w.unsynced = append(w.unsynced, f)
	return nil
}

// A BlobWriter writes one blob: an opaque file of the image (the content of
// a deleted file, of a memfd, of shared memory…) referred to by name from
// the metadata. Close it before Commit.
type BlobWriter struct {
	w    *Writer
	name string // blob name
	path string

	mu   sync.Mutex
	f    *os.File // nil once closed
	size int64
	crc  uint32
}

// CreateBlob starts a blob. The name is what FD.Blob and VMA.Blob refer to;
// it is stored as "blob-<name>" and must be made of [A-Za-z0-9._-].
func (w *Writer) CreateBlob(name string) (*BlobWriter, error) {
	if err := checkName(name); err != nil {
		return nil, w.fail(fmt.Errorf("image: blob: %w", err))
	}
	file := blobFileName(name)
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	f, err := w.createLocked(file)
	if err != nil {
		w.mu.Unlock()
		return nil, w.fail(err)
	}
	b := &BlobWriter{w: w, name: name, path: filepath.Join(w.tmp, file), f: f}
	w.blobs[name] = b
	w.mu.Unlock()
	return b, nil
}

// Write appends to the blob. Errors name the file and are final for the
// whole Writer.
func (b *BlobWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.f == nil {
		b.mu.Unlock()
		b.w.mu.Lock()
		defer b.w.mu.Unlock()
		if err := b.w.usable(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("image: %s: write after Close", b.path)
	}
	n, err := b.f.Write(p)
	b.size += int64(n)
	b.crc = crc32cUpdate(b.crc, p[:n])
	b.mu.Unlock()
	if err != nil {
		return n, b.w.fail(ioError("writing", b.path, err, ""))
	}
	return n, nil
}

// Close finishes the blob (Commit fsyncs it).
func (b *BlobWriter) Close() error {
	b.mu.Lock()
	f := b.f
	b.f = nil
	b.mu.Unlock()
	if f == nil {
		return nil
	}
	b.w.mu.Lock()
	delete(b.w.blobs, b.name)
	b.w.mu.Unlock()
	return b.w.finished(f, FileEntry{Name: blobFileName(b.name), Size: b.size, CRC32C: CRC32C(b.crc)})
}

// Commit finishes the image and puts it in place (see Writer for the
// protocol). It returns the final directory. On error the temporary
// directory is removed and any previous image is left as it was.
func (w *Writer) Commit() (string, error) {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return "", err
	}
	w.state = writerCommitting
	w.mu.Unlock()

	if err := w.finish(); err != nil {
		return "", w.fail(err)
	}
	dir, err := w.install()
	if err != nil {
		return "", w.fail(err)
	}
	w.mu.Lock()
	w.state = writerCommitted
	w.final = dir
	w.mu.Unlock()
	w.dirf.Close()

	// The image is in place. Everything below is durability of the rename
	// and convenience; an error is reported but the image stays.
	if err := syncDir(w.parent); err != nil {
		return dir, fmt.Errorf("image: %s is in place but syncing its parent directory failed: %w", dir, err)
	}
	if w.target == targetReplace {
		// After the exchange the old image sits at the temporary name.
		if err := os.RemoveAll(w.tmp); err != nil {
			return dir, fmt.Errorf("image: %s replaced, but removing the old image (now %s) failed: %w", dir, w.tmp, err)
		}
	}
	if w.store != nil {
		w.store.pointLatest(filepath.Base(dir))
	}
	return dir, nil
}

// finish closes the page files and writes the page index and the manifest.
func (w *Writer) finish() error {
	// No other call runs now (Commit's contract), so w's fields are stable.
	// First the pipeline writes out what AddPages queued.
	w.drainPages()
	for _, pf := range w.pages {
		pf.mu.Lock()
		err := pf.err
		pf.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if w.meta == nil {
		return fmt.Errorf("image: %s: %s was never written (call WriteMeta before Commit)", w.tmp, MetaFile)
	}
	for name := range w.blobs {
		return fmt.Errorf("image: %s: blob %q was not closed before Commit", w.tmp, name)
	}
	for _, pid := range w.meta.Processes {
		if w.procs[pid] == nil {
			return fmt.Errorf("image: %s: %s lists pid %d but WriteProcess was never called for it", w.tmp, MetaFile, pid)
		}
	}
	if len(w.procs) != len(w.meta.Processes) {
		for pid := range w.procs {
			if !slices.Contains(w.meta.Processes, pid) {
				return fmt.Errorf("image: %s: process %d was written but is not in %s processes", w.tmp, pid, MetaFile)
			}
		}
	}

	// Sync and close the files written so far (the first fsync on most
	// filesystems commits the journal with all of them, page data included).
	for len(w.unsynced) > 0 {
		f := w.unsynced[0]
		if err := f.Sync(); err != nil {
			return ioError("syncing", f.Name(), err, "")
		}
		w.unsynced = w.unsynced[1:]
		if err := f.Close(); err != nil {
			return ioError("closing", f.Name(), err, "")
		}
	}

	// Sync and close the page files; merge their extents.
	pids := make([]int, 0, len(w.pages))
	for pid := range w.pages {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	if err := w.syncPageFiles(pids); err != nil {
		return err
	}
	var extents []PageExtent
	dataFiles := make(map[string]int64)
	for _, pid := range pids {
		pf := w.pages[pid]
		p := w.procs[pid]
		if p == nil {
			return fmt.Errorf("image: %s: pages were saved for pid %d, which has no process record", w.tmp, pid)
		}
		if w.chainable {
			extents = append(extents, pf.extents...)
		} else {
			extents = append(extents, mergeExtents(pf.extents, p)...)
		}
		w.entries = append(w.entries, FileEntry{Name: pf.name, Size: pf.size, CRC32C: CRC32C(pf.crc)})
		dataFiles[pf.name] = pf.size
		if err := w.writePageCRCs(pf); err != nil {
			return err
		}
	}
	for _, e := range w.entries {
		if metadataLimit(e.Name) == 0 {
			dataFiles[e.Name] = e.Size
		}
	}
	for _, e := range w.refs {
		if w.procs[e.PID] == nil {
			return fmt.Errorf("image: %s: pages were referred to for pid %d, which has no process record", w.tmp, e.PID)
		}
		extents = append(extents, e)
	}
	var parents []ParentFile
	for _, e := range w.refs {
		p := w.parents[refKey(e.Gen, e.File)]
		if !slices.Contains(parents, p) {
			parents = append(parents, p)
			dataFiles[p.key()] = p.Size
		}
	}
	slices.SortFunc(parents, func(a, b ParentFile) int { return strings.Compare(a.key(), b.key()) })
	if len(parents) > 0 {
		w.features[FeatureIncremental] = true
	}
	for _, e := range extents {
		if e.Encoding != EncodingRaw && e.Encoding != EncodingZero || e.Encoding == EncodingZero && e.Gen == "" {
			w.features[FeatureCompressedPages] = true
			break
		}
	}
	if _, _, issue := checkExtents(extents, w.procs, dataFiles); issue != nil {
		return fmt.Errorf("image: %s: %s", filepath.Join(w.tmp, issue.file), issue.detail)
	}
	slices.SortFunc(extents, func(a, b PageExtent) int {
		if a.PID != b.PID {
			return a.PID - b.PID
		}
		return cmpUint(uint64(a.Vaddr), uint64(b.Vaddr))
	})
	pm, err := encodePagemap(extents)
	if err != nil {
		return err
	}
	if int64(len(pm)) > MaxPagemapSize {
		return fmt.Errorf("image: %s: %d bytes, over the limit of %d readers accept (%d extents)", filepath.Join(w.tmp, PagemapFile), len(pm), MaxPagemapSize, len(extents))
	}
	if err := w.writeFileNoFail(PagemapFile, pm); err != nil {
		return err
	}

	// The manifest, last.
	features := make([]string, 0, len(w.features))
	for f := range w.features {
		features = append(features, f)
	}
	sort.Strings(features)
	files := slices.Clone(w.entries)
	slices.SortFunc(files, func(a, b FileEntry) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	m := &Manifest{
		Magic:        Magic,
		Format:       FormatVersion,
		Features:     features,
		Arch:         Arch,
		PageSize:     PageSize,
		Created:      w.meta.Created,
		Reason:       w.meta.Reason,
		Trigger:      w.meta.Trigger,
		CrrunVersion: w.meta.CrrunVersion,
		Files:        files,
		Parents:      parents,
	}
	mb, err := encodeManifest(m)
	if err != nil {
		return err
	}
	if len(mb) > MaxManifestSize || len(files) > MaxFiles {
		return fmt.Errorf("image: %s: %d files, %d bytes, over the limits (%d files, %d bytes) readers accept", filepath.Join(w.tmp, ManifestFile), len(files), len(mb), MaxFiles, MaxManifestSize)
	}
	if err := w.writeFileNoFail(ManifestFile, mb); err != nil {
		return err
	}
	if err := w.dirf.Sync(); err != nil {
		return ioError("syncing directory", w.tmp, err, "")
	}
	return nil
}

// syncPageFiles fdatasyncs and closes the page files, several at once
// (a tree's files go to the disk's queue together).
func (w *Writer) syncPageFiles(pids []int) error {
	errs := make([]error, len(pids))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, pid := range pids {
		pf := w.pages[pid]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pf.mu.Lock()
			defer pf.mu.Unlock()
			path := filepath.Join(w.tmp, pf.name)
			if pf.f == nil {
				errs[i] = fmt.Errorf("image: %s: closed", path)
				return
			}
			pf.closeDirect() // its writes are the inode's: the fdatasync below covers them
			if err := fdatasync(pf.f); err != nil {
				errs[i] = ioError("syncing", path, err, "")
				return
			}
			if err := pf.f.Close(); err != nil {
				errs[i] = ioError("closing", path, err, "")
			}
			pf.f = nil
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeFileNoFail is writeFile for Commit: errors are returned, not
// recorded (Commit records them).
func (w *Writer) writeFileNoFail(name string, b []byte) error {
	f, err := w.createLocked(name)
	if err != nil {
		return err
	}
	path := filepath.Join(w.tmp, name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return ioError("writing", path, err, "")
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ioError("syncing", path, err, "")
	}
	if err := f.Close(); err != nil {
		return ioError("closing", path, err, "")
	}
	w.entries = append(w.entries, FileEntry{Name: name, Size: int64(len(b)), CRC32C: CRC32C(crc32c(b))})
	return nil
}

// install renames the finished temporary directory to its final name.
func (w *Writer) install() (string, error) {
	switch {
	case w.store != nil:
		return w.store.install(w.tmp, w.final)
	case w.target == targetEmptyDir:
		// rmdir fails if something appeared in the directory meanwhile.
		if err := os.Remove(w.final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("image: replacing empty directory %s: %w", w.final, err)
		}
	case w.target == targetReplace:
		if !fileExists(filepath.Join(w.final, ManifestFile)) {
			return "", fmt.Errorf("image: %s is no longer a crrun image; refusing to replace it", w.final)
		}
		if err := renameExchange(w.tmp, w.final); err != nil {
			return "", fmt.Errorf("image: putting the image in place: %w", err)
		}
		return w.final, nil
	}
	if err := renameNoReplace(w.tmp, w.final); err != nil {
		return "", fmt.Errorf("image: putting the image in place: %w", err)
	}
	return w.final, nil
}

// mergeExtents joins extents that follow each other both in memory and in
// the file and lie in the same mapping of p; their CRCs are combined.
// Extents are in file order.
func mergeExtents(list []PageExtent, p *Process) []PageExtent {
	out := make([]PageExtent, 0, len(list))
	for _, e := range list {
		if n := len(out); n > 0 {
			last := &out[n-1]
			zeros := last.Encoding == EncodingZero && e.Encoding == EncodingZero
			raws := last.Encoding == EncodingRaw && e.Encoding == EncodingRaw && last.Offset+last.Length == e.Offset
			if last.End() == uint64(e.Vaddr) && (zeros || raws) {
				if v := p.findVMA(uint64(last.Vaddr)); v != nil && e.End() <= uint64(v.End) {
					last.CRC32C = CRC32C(crc32cCombine(uint32(last.CRC32C), uint32(e.CRC32C), e.Length))
					last.Length += e.Length
					continue
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// pagemap is the content of pagemap.json.
type pagemap struct {
	Extents []PageExtent `json:"extents"`
}

// encodePagemap writes the page index with one extent per line, which stays
// readable for people at hundreds of thousands of extents.
func encodePagemap(extents []PageExtent) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("{\n  \"extents\": [")
	for i := range extents {
		b, err := json.Marshal(&extents[i])
		if err != nil {
			return nil, fmt.Errorf("image: encoding %s: %w", PagemapFile, err)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		buf.Write(b)
	}
	if len(extents) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("]\n}\n")
	return buf.Bytes(), nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func isEmptyDir(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return err == io.EOF && len(names) == 0
}
