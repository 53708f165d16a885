package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A Store is a directory of checkpoint generations (the user's --dir):
//
//	DIR/
//	  gen-000001/          a complete image (has MANIFEST.json)
//	  gen-000002/
//	  .gen-000003.tmp-81f2/  being written, or left by a crash: ignored
//	  latest -> gen-000002   advisory symlink, never trusted
//
// A generation directory appears only by an atomic rename of a fully
// written and synced temporary directory, so a crash never leaves a
// half-written gen-N. Readers still never trust a name: OpenNewest opens
// (and can verify) the generations from the newest down and takes the first
// that is complete and valid.
type Store struct {
	dir string
}

// LatestLink is the name of the advisory symlink to the newest generation a
// writer committed. Nothing in this package reads it; it is for people and
// scripts (crrun restore DIR/latest works, and still validates the image).
const LatestLink = "latest"

// StaleTempAge is how old an unlocked temporary directory must be before
// Prune removes it. The age covers the moment between a writer creating its
// directory and locking it.
var StaleTempAge = time.Minute

const genPrefix = "gen-"

// OpenStore returns the store in dir, creating the directory (mode 0700) if
// needed.
func OpenStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image: store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("image: creating store: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// GenerationName returns the directory name of generation seq: "gen-000042".
func GenerationName(seq uint64) string { return fmt.Sprintf("%s%06d", genPrefix, seq) }

// parseGenerationName returns the sequence number of a canonical
// generation name, so that "gen-42" and "gen-000042" cannot both count.
func parseGenerationName(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, genPrefix)
	if !ok || rest == "" || rest[0] == '+' || rest[0] == '-' {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || seq == 0 || GenerationName(seq) != name {
		return 0, false
	}
	return seq, true
}

// Generation is one gen-N directory of a store.
type Generation struct {
	Seq  uint64
	Name string // "gen-000042"
	Path string
	// Complete reports that MANIFEST.json exists. It says nothing about
	// validity: use Open (and Verify) for that.
	Complete bool
}

// scan lists the generations (by Seq) and the temporary entries (names
// starting with "."), and returns the highest sequence number in use by
// either.
func (s *Store) scan() (gens []Generation, temps []string, maxSeq uint64, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("image: listing store: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			if base, _, ok := strings.Cut(name[1:], ".tmp-"); ok {
				temps = append(temps, name)
				if seq, ok := parseGenerationName(base); ok {
					maxSeq = max(maxSeq, seq)
				}
			}
			continue
		}
		seq, ok := parseGenerationName(name)
		if !ok || !e.IsDir() {
			continue
		}
		maxSeq = max(maxSeq, seq)
		path := filepath.Join(s.dir, name)
		gens = append(gens, Generation{Seq: seq, Name: name, Path: path, Complete: fileExists(filepath.Join(path, ManifestFile))})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Seq < gens[j].Seq })
	return gens, temps, maxSeq, nil
}

// List returns the generations of the store, oldest first, complete or not.
// Temporary directories are not listed.
func (s *Store) List() ([]Generation, error) {
	gens, _, _, err := s.scan()
	return gens, err
}

// Create starts writing the next generation, numbered one above every
// generation and temporary directory in the store. If another writer
// commits that number first, Commit takes the next free one.
func (s *Store) Create() (*Writer, error) {
	_, _, maxSeq, err := s.scan()
	if err != nil {
		return nil, err
	}
	name := GenerationName(maxSeq + 1)
	return newWriter(s.dir, "."+name+".tmp-", filepath.Join(s.dir, name), s, targetNew)
}

// install renames a finished temporary directory to a free generation name.
func (s *Store) install(tmp, final string) (string, error) {
	const attempts = 100
	for range attempts {
		err := renameNoReplace(tmp, final)
		if err == nil {
			return final, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("image: putting the generation in place: %w", err)
		}
		_, _, maxSeq, serr := s.scan()
		if serr != nil {
			return "", serr
		}
		final = filepath.Join(s.dir, GenerationName(maxSeq+1))
	}
	return "", fmt.Errorf("image: putting the generation in place: %d names taken by concurrent writers in %s", attempts, s.dir)
}

// pointLatest points the latest symlink at name, atomically (symlink to a
// temporary name, rename over), unless it already points at a newer
// generation. Best effort: the link is advisory, an error is ignored.
func (s *Store) pointLatest(name string) {
	seq, _ := parseGenerationName(name)
	link := filepath.Join(s.dir, LatestLink)
	if cur, err := os.Readlink(link); err == nil {
		if curSeq, ok := parseGenerationName(cur); ok && curSeq > seq {
			return
		}
	}
	tmp := filepath.Join(s.dir, fmt.Sprintf(".%s.tmp-%d-%d", LatestLink, os.Getpid(), time.Now().UnixNano()))
	if err := os.Symlink(name, tmp); err != nil {
		return
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return
	}
	_ = syncDir(s.dir)
}

// OpenNewest opens the newest generation that is complete and valid: it
// tries the generations from the newest down, skipping any without a
// manifest or that fail Open (and Verify, if verify is true). It returns
// the reasons the newer generations were skipped, for the log. If none is
// usable the error wraps ErrNoImage and those reasons.
func (s *Store) OpenNewest(verify bool) (*Reader, []error, error) {
	gens, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	var skipped []error
	for i := len(gens) - 1; i >= 0; i-- {
		r, err := Open(gens[i].Path)
		if err == nil && verify {
			if err = r.Verify(); err != nil {
				r.Close()
			}
		}
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		return r, skipped, nil
	}
	detail := "no generations"
	if len(gens) > 0 {
		detail = fmt.Sprintf("none of the %d generations is complete and valid", len(gens))
	}
	return nil, skipped, newError(ErrNoImage, s.dir, "", detail, errors.Join(skipped...))
}

// Prune keeps the newest keep generations that are complete and pass Open
// (page checksums are not verified: that would read every image), and
// removes every generation older than the oldest of them. Generations
// newer than that which fail Open are left for inspection. It also removes
// temporary directories that no live writer holds (older than StaleTempAge).
// If fewer than keep generations pass Open, no generation is removed. It
// returns the paths removed.
func (s *Store) Prune(keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("image: prune %s: keep must be at least 1, got %d", s.dir, keep)
	}
	gens, temps, _, err := s.scan()
	if err != nil {
		return nil, err
	}
	kept, oldest := 0, -1
	// The generations whose page files a kept one (or one newer than the
	// oldest kept) needs stay too: an incremental generation refers to its
	// parents' pages (chain.go).
	needed := map[string]bool{}
	for i := len(gens) - 1; i >= 0 && kept < keep; i-- {
		if !gens[i].Complete {
			continue
		}
		r, err := Open(gens[i].Path)
		if err != nil {
			continue
		}
		for _, g := range r.NeededGenerations() {
			needed[g] = true
		}
		r.Close()
		kept++
		oldest = i
	}
	var removed []string
	var errs []error
	if kept == keep {
		for _, g := range gens[:oldest] {
			if needed[g.Name] {
				continue
			}
			// Rename first so that no reader ever sees a half-deleted
			// gen-N; a failed removal leaves a temporary name that a later
			// Prune removes.
			tmp := filepath.Join(s.dir, fmt.Sprintf(".%s.tmp-deleting-%d", g.Name, time.Now().UnixNano()))
			if err := os.Rename(g.Path, tmp); err != nil {
				errs = append(errs, fmt.Errorf("image: prune: %w", err))
				continue
			}
			if err := os.RemoveAll(tmp); err != nil {
				errs = append(errs, fmt.Errorf("image: prune %s: %w", g.Path, err))
				continue
			}
			removed = append(removed, g.Path)
		}
	}
	for _, name := range temps {
		path := filepath.Join(s.dir, name)
		fi, err := os.Lstat(path)
		if err != nil || time.Since(fi.ModTime()) < StaleTempAge {
			continue
		}
		if fi.IsDir() && dirLocked(path) {
			continue // a live writer
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("image: prune: %w", err))
			continue
		}
		removed = append(removed, path)
	}
	if len(removed) > 0 {
		if err := syncDir(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("image: prune: syncing %s: %w", s.dir, err))
		}
	}
	return removed, errors.Join(errs...)
}

// IsImageDir reports whether path is an image directory (complete or not)
// rather than a store: what OpenPath opens as one image.
func IsImageDir(path string) bool {
	return fileExists(filepath.Join(path, ManifestFile)) || fileExists(filepath.Join(path, MetaFile))
}

// OpenPath opens what a user names on the command line: an image directory
// (it has a MANIFEST.json or an image.json), or else a store, whose newest
// complete and valid generation is opened (see Store.OpenNewest). With
// verify, the image's page checksums are verified too. skipped lists the
// generations passed over.
func OpenPath(path string, verify bool) (r *Reader, skipped []error, err error) {
	if !fileExists(filepath.Join(path, ManifestFile)) && !fileExists(filepath.Join(path, MetaFile)) {
		// Not an image, not even an incomplete one: a store.
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return (&Store{dir: path}).OpenNewest(verify)
		}
	}
	r, err = Open(path)
	if err != nil {
		return nil, nil, err
	}
	if verify {
		if err := r.Verify(); err != nil {
			r.Close()
			return nil, nil, err
		}
	}
	return r, nil, nil
}
