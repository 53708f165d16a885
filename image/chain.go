package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Incremental generations (docs/image-format.md, "Incremental generations").
//
// A generation written by an incremental checkpoint stores only the pages
// that changed since an older generation of the same store (its parent);
// every unchanged page is an extent whose Gen names the generation whose page
// file holds it. The extents of a pid still describe all of its saved memory:
// a reader never walks a chain, it reads what the newest image lists. The
// manifest's Parents lists every page file of another generation the image
// needs, with the size and CRC-32C that generation's manifest gave it, so
// Verify checks them as it checks the image's own files, and a damaged or
// missing parent file makes the image invalid.

// FeatureIncremental is the required feature of an image with extents in
// another generation's page files (PageExtent.Gen, Manifest.Parents). An
// older crrun refuses it: it would look for those pages in the image itself.
const FeatureIncremental = "incremental"

// ParentFile is a page file of another generation of the same store that an
// image's extents refer to.
type ParentFile struct {
	Gen    string `json:"gen"`  // the generation's directory name, gen-%06d
	File   string `json:"file"` // a page file of it (pages-<pid>.bin)
	Size   int64  `json:"size"`
	CRC32C CRC32C `json:"crc32c"`
}

// key is how extents and readers name the file: "gen/file".
func (p ParentFile) key() string { return refKey(p.Gen, p.File) }

func refKey(gen, file string) string {
	if gen == "" {
		return file
	}
	return gen + "/" + file
}

// checkParents validates Manifest.Parents (parseManifest).
func checkParents(m *Manifest) error {
	if len(m.Parents) > 0 && !slices.Contains(m.Features, FeatureIncremental) {
		return fmt.Errorf("parents listed without the feature %q", FeatureIncremental)
	}
	seen := make(map[string]bool, len(m.Parents))
	for i, p := range m.Parents {
		seq, ok := parseGenerationName(p.Gen)
		if !ok || GenerationName(seq) != p.Gen {
			return fmt.Errorf("parents[%d]: %q is not a generation name", i, p.Gen)
		}
		if err := checkName(p.File); err != nil || !strings.HasPrefix(p.File, "pages-") {
			return fmt.Errorf("parents[%d]: %q is not a page file name", i, p.File)
		}
		if p.Size < 0 {
			return fmt.Errorf("parents[%d]: negative size %d", i, p.Size)
		}
		if seen[p.key()] {
			return fmt.Errorf("parents[%d]: %s listed twice", i, p.key())
		}
		seen[p.key()] = true
	}
	return nil
}

// Parents returns the page files of other generations the image needs.
func (r *Reader) Parents() []ParentFile { return r.manifest.Parents }

// genDir is the directory of generation gen ("" for the image itself): a
// sibling of the image in its store.
func (r *Reader) genDir(gen string) string {
	if gen == "" {
		return r.dir
	}
	return filepath.Join(filepath.Dir(r.dir), gen)
}

// ExtentPath returns the path of the file that holds extent e's bytes.
func (r *Reader) ExtentPath(e PageExtent) string { return filepath.Join(r.genDir(e.Gen), e.File) }

// OwnBytes is how many bytes of memory the image's own page files hold, and
// how many its extents take from other generations (by generation).
func (r *Reader) OwnBytes() (own uint64, byGen map[string]uint64) {
	byGen = map[string]uint64{}
	for _, list := range r.byPID {
		for _, e := range list {
			if e.Gen == "" {
				own += e.Length
			} else {
				byGen[e.Gen] += e.Length
			}
		}
	}
	return own, byGen
}

// verifyParents checks every parent page file the image needs: there, a
// regular file, of the size and CRC-32C recorded when the image was written.
// A failure names the generation and the file, and says which image needs it.
func (r *Reader) verifyParents(buf []byte) error {
	for _, p := range r.manifest.Parents {
		dir := r.genDir(p.Gen)
		bad := func(format string, args ...any) error {
			return newError(ErrImageCorrupt, dir, p.File, fmt.Sprintf("parent generation %s of %s: ", p.Gen, filepath.Base(r.dir))+fmt.Sprintf(format, args...), nil)
		}
		f, err := openRegular(dir, p.File)
		if err != nil {
			return bad("%v", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("image: %w", err)
		}
		if fi.Size() != p.Size {
			f.Close()
			return bad("%d bytes, %d when %s was written (deleted, truncated or replaced)", fi.Size(), p.Size, filepath.Base(r.dir))
		}
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
		var crc uint32
		for {
			n, err := f.Read(buf)
			crc = crc32cUpdate(crc, buf[:n])
			r.read.Add(int64(n))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return ioError("reading", filepath.Join(dir, p.File), err, "")
			}
		}
		f.Close()
		if crc != uint32(p.CRC32C) {
			return bad("checksum mismatch: expected crc32c %s (from %s of %s), got %s: every generation that needs this file is invalid", p.CRC32C, ManifestFile, filepath.Base(r.dir), formatCRC(crc))
		}
	}
	return nil
}

// openRegular opens dir/name for reading as openFile does: a regular file
// only, never following a link, never blocking.
func openRegular(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name)
	if fi, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file but %s", describeType(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("not a regular file")
	}
	return f, nil
}

// SetChainable makes Commit keep the extents as the pipeline made them (one
// per 1 MiB block at most) instead of merging raw ones: a later incremental
// generation refers to whole extents of this one, so small extents let it
// refer to everything but the blocks that changed.
func (w *Writer) SetChainable() {
	w.mu.Lock()
	w.chainable = true
	w.mu.Unlock()
}

// AddParent declares a page file of another generation of the writer's store
// that AddRef extents refer to, with its size and CRC-32C from that
// generation's manifest (Reader.ParentFileOf).
func (w *Writer) AddParent(p ParentFile) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if w.store == nil {
		return w.failLocked(fmt.Errorf("image: %s: only a generation of a store can refer to another one", w.tmp))
	}
	if w.parents == nil {
		w.parents = map[string]ParentFile{}
	}
	if old, ok := w.parents[p.key()]; ok && old != p {
		return w.failLocked(fmt.Errorf("image: %s: parent file %s declared twice, differently", w.tmp, p.key()))
	}
	w.parents[p.key()] = p
	return nil
}

// AddRef adds an extent that lies in a page file of another generation (e.Gen,
// declared with AddParent): memory saved there, unchanged since.
func (w *Writer) AddRef(e PageExtent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if _, ok := w.parents[refKey(e.Gen, e.File)]; !ok || e.Gen == "" {
		return w.failLocked(fmt.Errorf("image: %s: extent of pid %d at %s refers to %s, not a declared parent file", w.tmp, e.PID, e.Vaddr, refKey(e.Gen, e.File)))
	}
	w.refs = append(w.refs, e)
	return nil
}

// failLocked is fail for a caller holding w.mu.
func (w *Writer) failLocked(err error) error {
	w.mu.Unlock()
	defer w.mu.Lock()
	return w.fail(err)
}

// ParentFileOf returns the ParentFile an incremental child of r records for
// the page file that holds extent e (which may itself be in an older
// generation).
func (r *Reader) ParentFileOf(e PageExtent) (ParentFile, bool) {
	if e.Gen != "" {
		for _, p := range r.manifest.Parents {
			if p.Gen == e.Gen && p.File == e.File {
				return p, true
			}
		}
		return ParentFile{}, false
	}
	f, ok := r.files[e.File]
	if !ok {
		return ParentFile{}, false
	}
	return ParentFile{Gen: filepath.Base(r.dir), File: e.File, Size: f.Size, CRC32C: f.CRC32C}, true
}

// NeededGenerations returns the names of the other generations whose page
// files the image needs.
func (r *Reader) NeededGenerations() []string {
	var out []string
	for _, p := range r.manifest.Parents {
		if !slices.Contains(out, p.Gen) {
			out = append(out, p.Gen)
		}
	}
	return out
}

// ChainDepth is how many generations the image's pages are spread over,
// itself included.
func (r *Reader) ChainDepth() int { return len(r.NeededGenerations()) + 1 }

// decodeRefs decompresses every compressed extent the image takes from a
// parent (VerifyAll), checking it against its data checksum.
func (r *Reader) decodeRefs() error {
	var stored, dst, scratch []byte
	for _, list := range r.byPID {
		for _, e := range list {
			if e.Gen == "" || (e.Encoding != EncodingZstd && e.Encoding != EncodingZstdShuffle) {
				continue
			}
			stored, dst = grow(stored, int(e.Stored)), grow(dst, int(e.Length))
			var err error
			if scratch, err = r.decodeExtent(e, stored, dst, scratch); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkParentsOwned is CheckOwner's part for the parent generations: their
// directories and the page files the image needs.
func (r *Reader) checkParentsOwned(uid int) error {
	for _, g := range r.NeededGenerations() {
		if err := checkOwned(r.genDir(g), uid); err != nil {
			return err
		}
	}
	for _, p := range r.manifest.Parents {
		if err := checkOwned(filepath.Join(r.genDir(p.Gen), p.File), uid); err != nil {
			return err
		}
	}
	return nil
}

// StoreDir returns the directory of the store the writer writes a
// generation of ("" for an image written with Create).
func (w *Writer) StoreDir() string {
	if w.store == nil {
		return ""
	}
	return w.parent
}

// PageFilesPresent checks, cheaply (lstat), that every page file the image
// holds or needs is there with its recorded size: what a checkpoint checks
// before it refers to the image (a full Verify would read it all). Damage
// that keeps the size is found by Verify at restore.
func (r *Reader) PageFilesPresent() error {
	check := func(dir, name string, size int64) error {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Size() != size {
			return newError(ErrImageCorrupt, dir, name, fmt.Sprintf("%d bytes (%s), %d recorded", fi.Size(), describeType(fi.Mode()), size), nil)
		}
		return nil
	}
	for _, f := range r.manifest.Files {
		if strings.HasPrefix(f.Name, "pages-") {
			if err := check(r.dir, f.Name, f.Size); err != nil {
				return err
			}
		}
	}
	for _, p := range r.manifest.Parents {
		if err := check(r.genDir(p.Gen), p.File, p.Size); err != nil {
			return err
		}
	}
	return nil
}

// RefPart returns the extent a child generation records for the part
// [vaddr, vaddr+length) of r's raw or zero extent e (page-aligned, inside
// it): in the same file, at the part's offset, with the part's CRC-32C,
// read from the file (a raw part) — for a child that refers to the pages of
// e it did not write. Gen and File name where the bytes are (ParentFileOf).
func (r *Reader) RefPart(e PageExtent, vaddr, length uint64, buf []byte) (PageExtent, error) {
	if vaddr%PageSize != 0 || length%PageSize != 0 || length == 0 || vaddr < uint64(e.Vaddr) || vaddr+length > e.End() {
		return PageExtent{}, fmt.Errorf("image: part %#x+%d of the extent at %s+%d", vaddr, length, e.Vaddr, e.Length)
	}
	pf, ok := r.ParentFileOf(e)
	if !ok {
		return PageExtent{}, fmt.Errorf("image: %s: no page file %s", r.dir, refKey(e.Gen, e.File))
	}
	part := PageExtent{PID: e.PID, Vaddr: Hex(vaddr), Length: length, File: pf.File, Gen: pf.Gen, Encoding: e.Encoding}
	switch e.Encoding {
	case EncodingZero:
		return part, nil
	case EncodingRaw:
	default:
		return PageExtent{}, fmt.Errorf("image: the extent at %s is stored %s: only raw and zero extents can be referred to in part", e.Vaddr, e.Encoding)
	}
	part.Offset = e.Offset + (vaddr - uint64(e.Vaddr))
	if crcs := r.pageCRCs(pf); crcs != nil && part.Offset%PageSize == 0 && (part.Offset+length)/PageSize <= uint64(len(crcs)) {
		// From the page checksums (pagecrc.go): nothing to read.
		part.CRC32C = CRC32C(foldPages(crcs[part.Offset/PageSize : (part.Offset+length)/PageSize]))
		return part, nil
	}
	f, err := r.dataFileIn(e.Gen, e.File)
	if err != nil {
		return PageExtent{}, err
	}
	var crc uint32
	for done := uint64(0); done < length; {
		n := min(uint64(len(buf)), length-done)
		if _, err := f.ReadAt(buf[:n], int64(part.Offset+done)); err != nil {
			return PageExtent{}, ioError("reading", r.ExtentPath(e), err, "")
		}
		crc = crc32cUpdate(crc, buf[:n])
		done += n
	}
	part.CRC32C = CRC32C(crc)
	return part, nil
}

// GenerationSeq returns the number of a canonical generation name.
func GenerationSeq(name string) (uint64, bool) {
	seq, ok := parseGenerationName(name)
	if !ok || GenerationName(seq) != name {
		return 0, false
	}
	return seq, true
}
